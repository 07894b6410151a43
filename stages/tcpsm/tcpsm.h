/* tcpsm: the TCP flow-management stage. This header is the stage's internal
 * API; the per-packet logic (tcpsm_process) runs on plain memory so that it
 * can be tested without EAL.
 *
 * Threading: an instance is used by one thread (its lcore); only
 * tcpsm_flow_free may run elsewhere, and only for an instance created with an
 * rte_mempool (multi-producer safe puts).
 */
#ifndef TCPSM_H
#define TCPSM_H

#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include "meta-types.h"

#include <stddef.h>
#include <stdint.h>

#include "tcpsm-types.h"

struct mp_conf;
struct mp_pipeline;

/* Fills p from a parsed pipeline.conf. */
void tcpsm_params_from_conf(struct tcpsm_params *p, const struct mp_conf *c);

/* Creates an instance. mp: pool of struct tcpsm_flow elements (at least
 * p->flows plus what may be in retirement), or NULL for a private array of
 * p->flows + p->flows / 4 flows (no EAL needed; frees must then happen on
 * the owning thread). ctr: TCPSM_C_N counters, or NULL for private ones.
 * ct: RCU table to publish flows in, or NULL.
 * @return the instance, or NULL with errno set (ENOMEM, EINVAL). */
struct tcpsm_inst *tcpsm_inst_create(const struct tcpsm_params *p, unsigned idx, struct rte_mempool *mp, uint64_t *ctr,
                                     struct mp_conntable *ct, tcpsm_end_fn on_end, void *end_arg);

/* Frees the instance. Every flow must have ended and been freed (or the pool
 * is about to be freed by the caller); flows still in the table are ended
 * without calling on_end. */
void tcpsm_inst_destroy(struct tcpsm_inst *ti);

/* Runs one packet through the two emulated stacks: sender first (SND hook),
 * then receiver (RCV hook). Fills md->flow, md->side, md->ev[], md->st[];
 * may end other flows (tuple reuse, eviction) through on_end before
 * returning. payload: the pay_cap captured payload bytes (may be NULL when
 * pay_cap is 0). Control mbufs and packets that are not monitored TCP are
 * left untouched. @return 0, or -ENOSPC when a new flow was refused (the
 * packet passes as an orphan). */
int tcpsm_process(struct tcpsm_inst *ti, struct mp_meta *md, const uint8_t *payload);

/* Ends flows whose timer expired at packet time now_ns (idle, SYN and
 * TIME_WAIT timeouts), at most max of them. @return how many ended. */
unsigned tcpsm_expire(struct tcpsm_inst *ti, uint64_t now_ns, unsigned max);

/* End of input: ends at most max flows still in the table (end "open",
 * or their close reason when already closed). @return how many ended. */
unsigned tcpsm_end_all(struct tcpsm_inst *ti, unsigned max);

/* @return the flow with md's tuple, or NULL. */
struct tcpsm_flow *tcpsm_lookup(struct tcpsm_inst *ti, const struct mp_meta *md);

/* Gives an ended flow back to its pool (and its reassembly buffers). */
void tcpsm_flow_free(struct tcpsm_flow *f);

/* Snapshot and key comparison for the RCU connection table. */
struct mp_conn_snap;
void tcpsm_conn_snap(const struct cds_lfht_node *node, struct mp_conn_snap *out);
int tcpsm_conn_match(const struct cds_lfht_node *node, const void *key);

/* @return "CLOSED", "SYN_SENT", ... ("?" when out of range). */
const char *tcpsm_state_name(unsigned st);
/* @return "fin", "rst", "timeout", "evicted", "open" ("?" otherwise). */
const char *tcpsm_end_name(unsigned end);

/* Payload bytes of side's range (first to highest byte, each once) and the
 * ones never captured. */
static inline uint64_t tcpsm_side_bytes(const struct tcpsm_side *s)
{
	return s->sent.high;
}
static inline uint64_t tcpsm_side_missed(const struct tcpsm_side *s)
{
	uint64_t miss = s->sent.high - s->sent.seen + s->uncap;
	return s->sent.high >= s->sent.seen ? miss : 0;
}

void tcpsm_flowrec_fill(struct tcpsm_flowrec *r, const struct tcpsm_flow *f);
/* Formats r as one JSON line with '\n'. @return its length (truncated to
 * len - 1 like snprintf). */
int tcpsm_flowrec_format(const struct tcpsm_flowrec *r, char *buf, size_t len);

/* The RCU connection table of a running pipeline (NULL before tcpsm's init):
 * for midstat and other readers; see runtime/conntable.h for how to read it. */
struct mp_conntable *tcpsm_conntable(struct mp_pipeline *pl);

/* ---- flow log writer (EAL: rte_ring) -------------------------------------- */
struct tcpsm_flowlog;
/* Opens path ("-" = stdout) and starts the writer thread.
 * @return the log, or NULL after printing why. */
struct tcpsm_flowlog *tcpsm_flowlog_start(const char *path, unsigned ring_slots);
/* Queues a record (any thread, lock-free). @return 0, or -ENOBUFS when full. */
int tcpsm_flowlog_push(struct tcpsm_flowlog *fl, const struct tcpsm_flowrec *r);
/* Writes what is queued, flushes, stops the thread and frees the log. */
void tcpsm_flowlog_stop(struct tcpsm_flowlog *fl);

/* ---- internal, shared by tcpsm_*.c ---------------------------------------- */
static inline void tcpsm_ctr(struct tcpsm_inst *ti, unsigned id, uint64_t n)
{
	/* Single writer; readers want untorn values only (see mp_ctr_add). */
	uint64_t *p = &ti->ctr[id];
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

struct tcpsm_flow *tcpsm_flow_new(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash, uint64_t ts);
/* Links a new flow into the RCU connection table, once its roles are set:
 * readers must never see a flow whose client/server are not known yet. */
void tcpsm_flow_publish(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* A field the connection table's readers load (relaxed) while tcpsm runs:
 * stored with a relaxed atomic store (a plain mov on x86), so that the
 * concurrent read is not a data race in C11 terms (nor for TSan). */
#define TCPSM_WR(lv, v) __atomic_store_n(&(lv), (v), __ATOMIC_RELAXED)
void tcpsm_flow_end(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned reason);
struct tcpsm_flow *tcpsm_table_find(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash);
uint32_t tcpsm_key_hash(const struct tcpsm_key *k);

/* The private table's hash of a packet's flow: classify's symmetric hash of
 * the same 5-tuple (md->hash), re-mixed by one CRC step so that its low bits
 * do not repeat the bits that chose this tcpsm instance (hash % n). Cheaper
 * than hashing the key again, and known before the key is built, which lets
 * the poll loop prefetch a burst's table slots and flows ahead of use. */
static inline uint32_t tcpsm_md_hash(const struct mp_meta *md)
{
	return rte_hash_crc_4byte(md->hash, 0x5bd1e995u);
}

/* Prefetch steps for a packet a few places ahead in the burst: its table
 * slot first, then (once that line has arrived) the flow it points to. */
static inline void tcpsm_prefetch_slot(const struct tcpsm_inst *ti, const struct mp_meta *md)
{
	rte_prefetch0(&ti->tab[tcpsm_md_hash(md) & ti->mask]);
}

static inline void tcpsm_prefetch_flow(const struct tcpsm_inst *ti, const struct mp_meta *md)
{
	const struct tcpsm_slot *s = &ti->tab[tcpsm_md_hash(md) & ti->mask];
	if (s->f) {
		rte_prefetch0(s->f);
		rte_prefetch0((const char *)s->f + RTE_CACHE_LINE_SIZE);
	}
}
void tcpsm_list_set(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned list, uint64_t ts);
/* tcpsm_timer.c: 1 when f's timer (half-open, idle or TIME_WAIT/after-RST)
 * has run out at packet time ts; tcpsm_flow_expire ends it as expiry would. */
int tcpsm_flow_expired(const struct tcpsm_inst *ti, const struct tcpsm_flow *f, uint64_t ts);
void tcpsm_flow_expire(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* tcpsm_reasm.c */
int tcpsm_reasm_setup(struct tcpsm_inst *ti);
void tcpsm_reasm_teardown(struct tcpsm_inst *ti);
void tcpsm_reasm_data(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, uint32_t seq, const uint8_t *p,
                      unsigned len, unsigned cap, uint32_t *ev);
/* Gives a flow's buffers back (instance thread, after the flow is retired). */
void tcpsm_reasm_release(struct tcpsm_inst *ti, struct tcpsm_flow *f);
void tcpsm_reasm_reclaim_ended(struct tcpsm_inst *ti);

#endif
