/* The input side of the runtime as the pipeline's build, run and destroy
 * (pipeline.c) see it: the ports mp_eal_setup() resolved (runtime/input.c)
 * are handed to a pipeline once it has a mempool, and the main thread's CPU
 * affinity changes while it runs an lcore. The functions meant for
 * applications (mp_eal_setup, mp_eal_cleanup, mp_ctrl_cpuset) are in
 * pipeline.h. Main thread only.
 */
#ifndef MP_INPUT_H
#define MP_INPUT_H

#include "pipeline-types.h"

/* Takes over what mp_eal_setup() resolved into pl->port[]: the ethdevs
 * (configured on pl->pool and started), then capture files rx reads itself,
 * then generator parts (one per rx instance); pairs them for inline mode and
 * looks up the rx timestamp field. @return 0, or -errno after printing what
 * is wrong (the ports set up so far are closed by mp_input_ports_close). */
int mp_input_ports_setup(struct mp_pipeline *pl);

/* MP_PORT_IFACE p: frames its interface received so far by the kernel's
 * count (/sys/class/net/IF/statistics rx_packets + rx_dropped, of the
 * caller's network namespace; rx_packets alone for an AF_XDP port). @return 0, or -errno when unreadable. */
int mp_port_kernel_rx(const struct mp_port *p, uint64_t *frames);
/* Fills key with len bytes (rounded down to even) of the symmetric RSS key
 * that ports read by replicated pipelines are given (0x6d5a repeated: the
 * Toeplitz hash of a flow's two directions is the same). @return the length. */
unsigned mp_rss_sym_key(uint8_t *key, unsigned len);

/* Whether the mbuf pool must be made whole at start (an AF_XDP port
 * registers its memory with the kernel once), not filled as used. */
int mp_input_pool_whole(void);

/* Stops and closes pl's ports: ethdevs, mapped files, generators. */
void mp_input_ports_close(struct mp_pipeline *pl);

/* Closes what mp_eal_setup() resolved that no pipeline took over. */
void mp_input_forget(void);
/* The flow hash's seed mp_eal_setup() drew and set for the scans of capture
 * files that replicated pipelines read (their records hashed by it), once:
 * the pipeline then keeps it; 0 when none was drawn. */
uint64_t mp_input_hash_seed(void);

/* Pins the calling thread to the main lcore's CPUs while it polls, when it
 * is the main lcore and the control CPU set is in use. @return 1 when it
 * pinned (then mp_main_unpin puts it back on the control set), else 0. */
int mp_main_pin(void);
void mp_main_unpin(void);

#endif
