/* tcpsm's internal header: what the tcpsm_*.c files share (and tcpsm's unit
 * tests), included by no other stage. The per-packet logic (tcpsm_process)
 * runs on plain memory so that it can be tested without EAL.
 *
 * Layers (README.md): calls and includes only go down.
 *   tcpsm.c         stage glue: rings, control mbufs, feedback, init
 *   tcpsm_sm.c      state machines, the control word applied, instances
 *   tcpsm_reasm.c   reassembly glue        tcpsm_timer.c   timers
 *   tcpsm_flowtab.c private table, flow pool, every list, flow accessors
 *   tcpsm_flowlog.c names, flow-log records and writer      reasm.c
 *
 * Threading: an instance is used by one thread (its lcore). Flow objects of
 * an instance created with an rte_mempool go back to it from the call_rcu
 * thread too (tcpsm.c), which the mempool's multi-producer puts allow.
 */
#ifndef TCPSM_INT_H
#define TCPSM_INT_H

#include <rte_hash_crc.h>
#include <rte_prefetch.h>

#include "meta-types.h"

#include <stddef.h>
#include <stdint.h>

#include "reasm-types.h"
#include "tcpsm-types.h"
#include "tcpsm.h"

struct mp_conf;
struct mp_pipeline;

/* ---- instances (tcpsm_sm.c) ----------------------------------------------- */

/* Fills p from a parsed pipeline.conf (tcpsm_flowtab.c). */
void tcpsm_params_from_conf(struct tcpsm_params *p, const struct mp_conf *c);

/* Flow objects an instance with params p has (and so its slots): its
 * active flows plus those ended but not yet retired (tcpsm_flowtab.c). */
unsigned tcpsm_pool_size(const struct tcpsm_params *p);

/* Creates an instance with room for tcpsm_pool_size(p) flow objects, touched
 * only as flows are made (no EAL needed; any thread may give a flow back
 * with tcpsm_flowtab_put). ctr: TCPSM_C_N counters, or NULL
 * for private ones. ct: RCU table to publish flows in, or NULL. Flow slots
 * are numbered from idx * tcpsm_pool_size(p).
 * @return the instance, or NULL with errno set (ENOMEM, EINVAL). */
struct tcpsm_inst *tcpsm_inst_create(const struct tcpsm_params *p, unsigned idx, uint64_t *ctr, struct mp_conntable *ct,
                                     tcpsm_end_fn on_end, void *end_arg);

/* Frees the instance. Every flow must have ended and been freed (or the pool
 * is about to be freed by the caller); flows still in the table are ended
 * without calling on_end. */
void tcpsm_inst_destroy(struct tcpsm_inst *ti);

/* tcpsm_process's answer when the packet raised CONN_END for a flow that
 * holds reassembly buffers: the stage glue sends MP_CTRL_ENDED right behind
 * the packet when a reader may peek the buffers, and once tx has handed it
 * back (end_seen) they may go back: at once with [tcp] buf_free_at_end
 * (tcpsm_reasm_reclaim_ended), else when the chunk pool runs dry
 * (reclaim_closed); without a reader end_seen is set at once. */
#define TCPSM_P_ENDED 1

/* Runs one packet through the two emulated stacks: sender first (SND hook),
 * then receiver (RCV hook). Fills md->flow, md->flow_idx, md->side, md->ev[],
 * md->st[]; may end other flows (tuple reuse, eviction) through on_end before
 * returning. payload: the pay_cap captured payload bytes (may be NULL when
 * pay_cap is 0). Control mbufs and packets that are not monitored TCP are
 * left untouched. @return 0, TCPSM_P_ENDED (above), or -ENOSPC when a new
 * flow was refused (the packet passes as an orphan). */
int tcpsm_process(struct tcpsm_inst *ti, struct mp_meta *md, const uint8_t *payload);

/* @return the flow with md's tuple, or NULL. */
struct tcpsm_flow *tcpsm_lookup(struct tcpsm_inst *ti, const struct mp_meta *md);

/* ---- the receiver's model (tcpsm_accept.c) ---------------------------------- */

/* What the receiver of a segment does with it (tcpsm_accept.c's header). */
enum tcpsm_verdict {
	TCPSM_V_TAKE = 0, /* processed; the first `take` payload bytes are data */
	TCPSM_V_OLD,      /* wholly left of its window: a retransmission it ignores */
	TCPSM_V_DROP,     /* refused whole: neither emulated stack moves */
};

struct tcpsm_acc {
	uint8_t verdict; /* enum tcpsm_verdict */
	uint8_t err;     /* enum tcpsm_err: why refused (in whole or part), 0 when not */
	uint8_t fin;     /* its FIN is taken */
	uint8_t rst;     /* it resets the connection (an RST taken; Windows: a SYN at RCV.NXT) */
	uint32_t take;   /* payload bytes taken, from the first */
};

/* Each side's policy from [policy] / tcp.policy, once cli_is_a is set. */
void tcpsm_accept_init(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* Decides what the receiver of md (sent by side) does with it, before the
 * emulated stacks run; counts refusals. May note a refused SYN. */
void tcpsm_accept(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                  struct tcpsm_acc *a);
/* After the stacks ran on a taken segment: the receiver's model moves on
 * (RCV.NXT, held ranges, TS.Recent, FIN, reset) and the sender's (window,
 * SACK edge, timestamps on its SYN). @return 1 when the receiver took
 * bytes it did not have (MOS_ON_CONN_NEW_DATA). */
int tcpsm_accept_commit(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                        const struct tcpsm_acc *a);
/* The urgent pointer of md, then the take payload bytes (cap of them
 * captured) into the buffer of what rside receives, less the urgent byte
 * when tcp.urgent = remove. Sets MP_ON_ERROR in *ev for an ambiguity.
 * @return enum tcpsm_err of what went wrong or was ambiguous, 0 when none. */
unsigned tcpsm_accept_stream(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, const struct mp_meta *md,
                             const uint8_t *payload, uint32_t take, uint32_t cap, uint32_t *ev);

/* The overlap policy (enum reasm_overlap) of the buffer of what side
 * receives: tcp.overlap, or with "target" that of the side's stack. Inline:
 * tcpsm_reasm.c needs it and sits below tcpsm_accept.c. */
static inline unsigned tcpsm_overlap_of(const struct tcpsm_inst *ti, const struct tcpsm_flow *f, unsigned side)
{
	if (ti->p.overlap != MP_OVERLAP_TARGET)
		return ti->p.overlap; /* FIRST and LAST have reasm's values */
	return f->s[side].rcv.policy == MP_POLICY_WINDOWS ? REASM_OVERLAP_BSD : REASM_OVERLAP_LINUX;
}

/* ---- timers (tcpsm_timer.c) ----------------------------------------------- */

/* Ends flows whose timer expired at packet time now_ns (idle, SYN and
 * TIME_WAIT timeouts), at most max of them. @return how many ended. */
unsigned tcpsm_expire(struct tcpsm_inst *ti, uint64_t now_ns, unsigned max);

/* End of input: ends at most max flows still in the table (end "open",
 * or their close reason when already closed). @return how many ended. */
unsigned tcpsm_end_all(struct tcpsm_inst *ti, unsigned max);

/* 1 when f's timer (half-open, idle or TIME_WAIT/after-RST) has run out at
 * packet time ts; tcpsm_flow_expire ends it as expiry would. */
int tcpsm_flow_expired(const struct tcpsm_inst *ti, const struct tcpsm_flow *f, uint64_t ts);
void tcpsm_flow_expire(struct tcpsm_inst *ti, struct tcpsm_flow *f);

/* ---- names and records (tcpsm_flowlog.c) ---------------------------------- */

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

/* The same for the pipeline's record log (runtime/reclog.h: its writer
 * thread calls it with a struct tcpsm_flowrec). */
int tcpsm_flowrec_line(const void *rec, char *line, unsigned len);
/* A record that can go first when the log falls behind: a flow evicted
 * from a full table, or one that ended without a byte either way and
 * without a FIN or RST exchange (what floods leave). @return 1 or 0. */
int tcpsm_flowrec_sheddable(const struct tcpsm_flowrec *r);

/* ---- counters, stores readers see, prefetch -------------------------------- */

static inline void tcpsm_ctr(struct tcpsm_inst *ti, unsigned id, uint64_t n)
{
	/* Single writer; readers want untorn values only (see mp_ctr_add). */
	uint64_t *p = &ti->ctr[id];
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* A field the connection table's readers load (relaxed) while tcpsm runs:
 * stored with a relaxed atomic store (a plain mov on x86), so that the
 * concurrent read is not a data race in C11 terms (nor for TSan). */
#define TCPSM_WR(lv, v) __atomic_store_n(&(lv), (v), __ATOMIC_RELAXED)

/* The private table's hash of a packet's flow: classify's symmetric hash of
 * the same 5-tuple (md->hash), re-mixed by one CRC step so that its low bits
 * do not repeat the bits that chose this tcpsm instance (hash % n). Cheaper
 * than hashing the key again, and known before the key is built, which lets
 * the poll loop prefetch a burst's table slots and flows ahead of use. */
static inline uint32_t tcpsm_md_hash(const struct mp_meta *md)
{
	return rte_hash_crc_4byte(md->hash, 0x5bd1e995u);
}

/* Slots of one 4 KiB page of the table. */
#define TCPSM_TAB_PG_SLOTS (4096u / sizeof(struct tcpsm_slot))

/* Whether slot i's page was ever written: one that was not holds no flow
 * and is not to be read. The table is a fresh anonymous mapping: a read
 * would map the kernel's zero page there, and the insert's write that
 * follows would be a copy-on-write, which flushes the TLB of every CPU
 * running the process (an IPI per page: 2,048 of them for a default
 * table, 3.7% of a replicated mospipe -r). Huge pages instead cost the
 * start-up their clearing (8 MB for 40 flows, +10 ms on the sample). */
static inline int tcpsm_tab_pg_used(const struct tcpsm_inst *ti, uint32_t i)
{
	uint32_t pg = i / TCPSM_TAB_PG_SLOTS;
	return (int)(ti->tab_pg[pg >> 6] >> (pg & 63)) & 1;
}

/* Prefetch steps for a packet a few places ahead in the burst: its table
 * slot first (@return it: the later steps take it, the hash is computed
 * once), then (once that line has arrived) the flow it points to, then
 * (with buffers) its sides' reassembly descriptors. */
static inline const struct tcpsm_slot *tcpsm_prefetch_slot(const struct tcpsm_inst *ti, const struct mp_meta *md)
{
	const struct tcpsm_slot *s = &ti->tab[tcpsm_md_hash(md) & ti->mask];
	rte_prefetch0(s);
	return s;
}

static inline void tcpsm_prefetch_flow(const struct tcpsm_inst *ti, const struct tcpsm_slot *s)
{
	/* All of it: a data packet reads both sides (the sender's sequence
	 * state and sent intervals, the receiver's rcv and edge: lines 3-13),
	 * the key across lines 1-2 and the flags and times in line 2. The
	 * first two lines alone left the rest to demand misses: at 192K
	 * flows, tcpsm 625 -> 379 cycles/packet with all 15, 14 more with
	 * the flows in cache (medians of 4 alternated runs of two builds,
	 * bench/README.md "Memory floor"). The first two lines (key, flags,
	 * times: read first) into L1, the other thirteen into L2: fifteen L1
	 * prefetches per packet waited on the core's fill buffers, 334 -> 314
	 * cycles/packet (5 alternated runs each, 192K flows; 1K flows the
	 * same). */
	if (tcpsm_tab_pg_used(ti, (uint32_t)(s - ti->tab)) && s->f) {
		rte_prefetch0(s->f);
		rte_prefetch0((const char *)s->f + RTE_CACHE_LINE_SIZE);
		for (size_t k = 2 * RTE_CACHE_LINE_SIZE; k < sizeof(*s->f); k += RTE_CACHE_LINE_SIZE)
			rte_prefetch1((const char *)s->f + k);
	}
}

/* With buffers, a step after tcpsm_prefetch_flow: each side's reassembly
 * descriptor (struct reasm, 744 bytes in 12 lines, apart from the flow),
 * whose first five lines every data packet touches: the edge and window
 * (lines 0-2: tcpsm_reasm_apply for both sides, reasm_insert, reasm_edge)
 * and the totals (lines 3-4, finish() after each insert). One lcore,
 * hs_search on the 3 M-frame peers pcap: 5.46 -> 4.95 s, replicated
 * pipelines 3.21 -> 2.77 s with lines 0-2 (medians of 7 and 5,
 * alternated; bench/README.md); lines 3-4 instead of the inline slots
 * (which no side with the readers' slack uses: its slots are a map
 * chunk): tcpsm 1,130-1,160 -> 900-960 cycles/packet, hs_search 1.60 ->
 * 1.38-1.48 s without history (4 alternated, twice), 2.72 -> 2.65 s with. */
static inline void tcpsm_prefetch_bufs(const struct tcpsm_inst *ti, const struct tcpsm_slot *s)
{
	/* The slot's page first, as every read of the table: reading it
	 * unwritten mapped the zero page there, and the insert that followed
	 * copied it, a TLB flush on every CPU (3,960 of them in a replicated
	 * hs_search run: 4% of its CPU time in IPIs). */
	if (!tcpsm_tab_pg_used(ti, (uint32_t)(s - ti->tab)))
		return;
	const struct tcpsm_flow *f = s->f;
	if (!f)
		return;
	for (unsigned x = 0; x < 2; x++) {
		const struct reasm *r = f->s[x].buf;
		if (r) {
			rte_prefetch0(r);
			rte_prefetch0((const char *)r + RTE_CACHE_LINE_SIZE);
			rte_prefetch0((const char *)r + 2 * RTE_CACHE_LINE_SIZE);
			rte_prefetch0((const char *)r + 3 * RTE_CACHE_LINE_SIZE);
			rte_prefetch0((const char *)r + 4 * RTE_CACHE_LINE_SIZE);
		}
	}
}

/* ---- flow table (tcpsm_flowtab.c): table, pool and every list -------------- */

/* The table, the flow pool (slots numbered from idx * pool size) and the
 * lists of a new instance. @return 0 or -ENOMEM (the caller frees with
 * tcpsm_flowtab_fini). */
int tcpsm_flowtab_init(struct tcpsm_inst *ti);
void tcpsm_flowtab_fini(struct tcpsm_inst *ti);

struct tcpsm_flow *tcpsm_table_find(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash);
struct tcpsm_flow *tcpsm_flow_new(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash, uint64_t ts);
/* Links a new flow into the RCU connection table, once its roles are set:
 * readers must never see a flow whose client/server are not known yet. */
void tcpsm_flow_publish(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* Takes f out of the tables and lists and hands it to on_end (or, without
 * one, back to the pool with whatever buffers it holds: instance teardown). */
void tcpsm_flow_end(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned reason);
/* Notes whether more than a quarter of the pool's slack (objects beyond
 * flows) is held by flows in retirement (ti->pool_low). Once per burst. */
void tcpsm_pool_watch(struct tcpsm_inst *ti);
/* Gives a flow object back to the pool (its buffers must be released). */
void tcpsm_flowtab_put(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* Puts f at the tail of timer list `list` (enum tcpsm_list), deadline
 * counted from ts. */
void tcpsm_list_set(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned list, uint64_t ts);
/* The reclaim queue: closed flows that may hold buffer chunks, oldest first
 * (tcpsm_reasm.c walks it with TAILQ_FIRST/NEXT over ti->reclaimq). */
void tcpsm_rq_add(struct tcpsm_inst *ti, struct tcpsm_flow *f);
void tcpsm_rq_del(struct tcpsm_inst *ti, struct tcpsm_flow *f);
/* The buffer queue (ti->bufq): open flows holding chunks. add queues at the
 * tail (no-op when queued), requeue moves to the tail; both note bq_ts. A
 * flow leaves it when it closes (tcpsm_rq_add) or ends. */
void tcpsm_bq_add(struct tcpsm_inst *ti, struct tcpsm_flow *f);
void tcpsm_bq_del(struct tcpsm_inst *ti, struct tcpsm_flow *f);
void tcpsm_bq_requeue(struct tcpsm_inst *ti, struct tcpsm_flow *f);

/* RCU table callbacks (runtime/conntable.h). */
void tcpsm_conn_snap(const struct cds_lfht_node *node, struct mp_conn_snap *out);
int tcpsm_conn_match(const struct cds_lfht_node *node, const void *key);

/* ---- reassembly glue (tcpsm_reasm.c) -------------------------------------- */

/* Checks the reassembly memory of params p: a pool of buf_pool bytes must
 * give every side of a full table (2 x flows) the chunks it needs to buffer
 * (reasm_side_min_chunks). buf_pool 0 sizes the pool for exactly that.
 * @return 0 with *bytes = the pool's cap (0 when reassembly is off), or
 *   -EINVAL with msg saying what to set (one line, no newline). */
int tcpsm_buf_check(const struct tcpsm_params *p, uint64_t *bytes, char *msg, size_t len);
/* @return -EINVAL when tcpsm_buf_check() refuses p (the caller prints it). */
int tcpsm_reasm_setup(struct tcpsm_inst *ti);
void tcpsm_reasm_teardown(struct tcpsm_inst *ti);
/* Stores len payload bytes at seq in the buffer of what rside receives.
 * @return the struct reasm_result flags (REASM_F_*), 0 when not stored. */
uint32_t tcpsm_reasm_data(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, uint32_t seq, const uint8_t *p,
                          unsigned len, unsigned cap, uint32_t *ev);
/* Applies control word ctl to side's buffer, if it has one (tcpsm's thread). */
void tcpsm_reasm_apply(struct tcpsm_flow *f, uint32_t ctl, unsigned side);
/* Writes both sides' stream edges into md (after the options were read:
 * they share the space), for the readers of md's callbacks. */
void tcpsm_reasm_edges(struct tcpsm_flow *f, struct mp_meta *md);
/* Gives a flow's buffers back (instance thread, after the flow is retired). */
void tcpsm_reasm_release(struct tcpsm_inst *ti, struct tcpsm_flow *f);
void tcpsm_reasm_reclaim_ended(struct tcpsm_inst *ti);
/* tcp.buf_history = no: the sides written lately whose readers are past
 * them give their chunks back (reasm_trim). Once per burst. */
void tcpsm_reasm_trim_recent(struct tcpsm_inst *ti);
/* Gives an ended flow back to its pool, with its reassembly buffers. */
void tcpsm_flow_free(struct tcpsm_flow *f);

#endif
