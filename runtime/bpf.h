/* BPF filters in full libpcap syntax (see bpf.c for why libpcap's own
 * interpreter runs them rather than rte_bpf). Used by the [input] filter key
 * (classify) and by mtcp_bind_monitor_filter.
 * Concurrency: compile/free on a control thread; mp_bpf_match may be called
 * concurrently from any number of lcores on the same filter (read-only). */
#ifndef MP_BPF_H
#define MP_BPF_H

#include <stddef.h>
#include <stdint.h>

struct rte_mbuf;
struct mp_bpf;

/* Compiles `expr` for link type `dlt` (DLT_EN10MB for Ethernet ports).
 * @return the filter, or NULL with errno EINVAL (bad expression: err says
 * what libpcap objected to) or ENOMEM/ENOTSUP (could not load). */
struct mp_bpf *mp_bpf_compile(const char *expr, int dlt, char *err, size_t errlen);

/* Same, but err gets libpcap's own message only, for callers that word the
 * rest of it themselves. */
struct mp_bpf *mp_bpf_compile_pcap(const char *expr, int dlt, char *err, size_t errlen);

/* @return 1 when the packet matches, 0 when not. */
int mp_bpf_match(const struct mp_bpf *f, struct rte_mbuf *m);

/* Same, over plain bytes. @return 1 when they match, 0 when not. */
int mp_bpf_match_bytes(const struct mp_bpf *f, const uint8_t *d, uint32_t caplen, uint32_t wirelen);

/* The expression it was compiled from. */
const char *mp_bpf_expr(const struct mp_bpf *f);

void mp_bpf_free(struct mp_bpf *f);

#endif
