/* mospipe extensions to the mOS API: what a monitoring tool needs beyond
 * mOS's functions. Optional for applications; midstat uses them.
 *
 * Every function returns 0 on success or -1 with errno set; none may be
 * called before mtcp_init(). */
#ifndef MOSPIPE_EXT_H
#define MOSPIPE_EXT_H

#include <stdint.h>

#include "mos_api.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_pipeline;
struct mp_conntable;
struct mp_conn_snap;

/* The running pipeline (counters, health) and its RCU connection table. The
 * table may be walked from any thread registered with liburcu-qsbr
 * (rcu_register_thread) — see runtime/conntable.h for the contract.
 * @return NULL with errno EPERM before mtcp_init(). */
struct mp_pipeline *mospipe_pipeline(void);
struct mp_conntable *mospipe_conntable(void);

/* A snapshot of the flow of the socket a callback runs for, and how it ended
 * when called from MOS_ON_CONN_END ("fin", "rst", "timeout", "evicted",
 * "open"; NULL while open).
 * @return 0, or -1 with errno EBADF (no flow behind sock) or EPERM (not in a
 * callback). */
int mospipe_flow_snap(mctx_t mctx, int sock, struct mp_conn_snap *out, const char **end, uint64_t missed[2],
                      uint64_t rexmit_bytes[2]);

/* Offline pacing for tools that print on packet time: rx delivers no packet
 * whose time is later than `ns` until the gate moves (0 opens it fully).
 * Live inputs ignore it. @return 0. */
int mospipe_gate(uint64_t ns);

/* 1 when the pipeline holds no packet (everything received has left tx) and
 * rx is waiting at the gate or finished; 0 otherwise. */
int mospipe_quiet(void);

/* 1 when the input has ended and the pipeline drained. */
int mospipe_finished(void);

/* Packet time rx last delivered (ns), and the next packet's time waiting at
 * the gate (0 when none). */
uint64_t mospipe_time(void);
uint64_t mospipe_gate_next(void);

#ifdef __cplusplus
}
#endif

#endif
