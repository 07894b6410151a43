/* tcpsm stage: the EAL glue around the per-packet logic (tcpsm_sm.c).
 *
 * Per burst: take back what tx handed back (the feedback input), run each
 * packet through tcpsm_process, then expire timers with the burst's newest
 * packet time.
 *
 * The flow's control mbufs, and the feedback edge tx -> tcpsm that brings
 * them back (runtime/pipeline.c, feedback[]):
 *  - MP_CTRL_ENDED, right behind the packet that raised CONN_END for a flow
 *    holding reassembly buffers a reader may peek (flow_ended below): once
 *    it is back, every CONN_END callback has returned (it followed that
 *    packet through the app stage), so the buffers may go back (end_seen):
 *    at once with [tcp] buf_free_at_end (tcpsm_reasm_reclaim_ended), else
 *    when the chunk pool runs dry (reclaim_closed, tcpsm_reasm.c);
 *  - MP_CTRL_RETIRE, every flow's last mbuf (FIN/RST close after TIME_WAIT,
 *    timeout, eviction, tuple reuse, end of input; hash of its packets):
 *    once it is back nothing in the pipeline refers to the flow; tcpsm gives
 *    back its reassembly buffers on its own lcore and frees it after an RCU
 *    grace period (call_rcu), so connection-table readers never see freed
 *    memory.
 * Both come back to this instance (the flow's owner: tx picks it by the rule
 * that brought the flow's packets here) on rings that cannot refuse them;
 * tcpsm takes them first in each poll, in drain and, for what came back
 * after it finished (the feedback edge is not part of the shutdown order),
 * in fini.
 *
 * Pipeline services it uses (declared in mp_stage_tcpsm.svc, made by the
 * runtime): the RCU connection table its instances publish flows in and the
 * record log its flow-log records go to.
 *
 * The top layer of the stage (README.md, "Layers"): calls the state machine,
 * timers, reassembly glue, flow table and flow log; nothing calls up here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#include "asan.h"
#include "conntable.h"
#include "pipeline.h"
#include "reclog.h"
#include "rx.h"
#include "stage.h"
#include "tcpsm-int.h"
#include "tsan.h"

/* The descriptors; the ids are in tcpsm-types.h. */
#define MP_CTR_STAGE tcpsm
#define MP_CTR_DEF "tcpsm_counters.def"
#define MP_CTR_DESCS_ONLY
#include "counters-gen.h"

#define TCPSM_OUT 512
#define TCPSM_PEND 1024
#define TCPSM_TAKE 256 /* feedback mbufs taken back per call */

struct tcpsm_priv {
	struct tcpsm_inst *ti;
	struct mp_stage_inst *si;
	struct mp_reclog *log; /* the pipeline's flow log, NULL when off */
	int live;              /* some port is live: time also passes without packets */
	uint64_t next_live_tsc;
	unsigned n_out;
	struct rte_mbuf *out[TCPSM_OUT];
	/* Flows whose control mbuf could not be allocated yet. */
	unsigned n_pend;
	struct tcpsm_flow *pend[TCPSM_PEND];
	uint32_t pend_ev[TCPSM_PEND];
	uint8_t scratch[65536]; /* payload of a multi-segment mbuf */
};

static void flush_out(struct tcpsm_priv *tp)
{
	if (tp->n_out)
		mp_out_send(tp->si, 0, tp->out, tp->n_out);
	tp->n_out = 0;
}

static void emit(struct tcpsm_priv *tp, struct rte_mbuf *m)
{
	if (tp->n_out == TCPSM_OUT)
		flush_out(tp);
	tp->out[tp->n_out++] = m;
}

/* @return 0, or -ENOBUFS when no mbuf was available. */
static int emit_ctrl(struct tcpsm_priv *tp, struct tcpsm_flow *f, uint32_t ev)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(tp->si->pl->pool);
	if (unlikely(!m))
		return -ENOBUFS;
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	md->kind = MP_PKT_CTRL;
	md->ts_ns = tp->ti->now_ns > f->last_ts ? tp->ti->now_ns : f->last_ts;
	md->hash = f->pkt_hash;
	md->flow = f;
	md->flow_idx = f->slot;
	md->ctrl.type = MP_CTRL_RETIRE;
	md->ev[MP_HOOK_SND] = md->ev[MP_HOOK_RCV] = ev;
	for (int h = 0; h < MP_HOOK_N; h++) {
		md->st[h][0] = f->s[0].state;
		md->st[h][1] = f->s[1].state;
	}
	tcpsm_reasm_edges(f, md); /* the streams as the flow ends */
	emit(tp, m);
	return 0;
}

/* For right behind the packet pmd that raised CONN_END for a flow holding
 * buffers: MP_CTRL_ENDED, routed like the flow's retire mbuf (same hash,
 * flow and slot), so tx hands it back once the app stage has passed the
 * packet. Made before the packet is emitted (which may hand it on at once).
 * Without an mbuf the buffers simply wait for the flow's retirement (or for
 * reclaim_closed when the chunk pool runs dry). @return the mbuf or NULL. */
static struct rte_mbuf *make_ended(struct tcpsm_priv *tp, const struct mp_meta *pmd)
{
	struct tcpsm_flow *f = pmd->flow;
	struct rte_mbuf *m = rte_pktmbuf_alloc(tp->si->pl->pool);
	if (unlikely(!m)) {
		tcpsm_ctr(tp->ti, TCPSM_C_ENDED_NOMBUF, 1);
		return NULL;
	}
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	md->kind = MP_PKT_CTRL;
	md->ctrl.type = MP_CTRL_ENDED;
	md->ts_ns = pmd->ts_ns;
	md->hash = f->pkt_hash;
	md->flow = pmd->flow;
	md->flow_idx = pmd->flow_idx;
	md->side = pmd->side;
	memcpy(md->st, pmd->st, sizeof(md->st)); /* no event bits: nothing to deliver */
	/* Its own number (every mbuf of a flow has one: the reader's release
	 * of it says every callback before it returned) and the streams. */
	tcpsm_reasm_edges(f, md);
	return m;
}

/* The packet md closed a flow holding buffers (TCPSM_P_ENDED). Its buffers
 * may go back once nothing can read them any more. With a reader on some
 * side (the control word's READER bits: a stream socket may peek; the bits
 * stay set until events has seen that no socket follows the flow), that is
 * once every CONN_END callback has returned: MP_CTRL_ENDED goes behind the
 * packet. Without one, no callback can read them and they may go back now:
 * no extra mbuf (one per connection through stages that take a burst per
 * poll keeps their rings full, and every packet then waits there until it
 * is cold: classify at 2.5x, tx at 5x their cycles per packet on 1 lcore).
 * @return the ENDED mbuf to send behind the packet, or NULL. */
static struct rte_mbuf *flow_ended(struct tcpsm_priv *tp, const struct mp_meta *md)
{
	struct tcpsm_flow *f = md->flow;
	if (!(tcpsm_flow_ctl(f) & (TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1)))) {
		f->end_seen = 1;
		return NULL;
	}
	return make_ended(tp, md);
}

static void on_end(struct tcpsm_inst *ti, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	struct tcpsm_priv *tp = arg;
	if (tp->log) {
		struct tcpsm_flowrec rec;
		tcpsm_flowrec_fill(&rec, f);
		/* Under a flood the writer falls behind: the flood's records
		 * (evicted, empty) go first, so that real ones find room. */
		if (tcpsm_flowrec_sheddable(&rec) && mp_reclog_behind(tp->log))
			tcpsm_ctr(ti, TCPSM_C_FLOWLOG_SHED, 1);
		else if (mp_reclog_push(tp->log, &rec) < 0)
			tcpsm_ctr(ti, TCPSM_C_FLOWLOG_LOST, 1);
	}
	if (emit_ctrl(tp, f, ev) == 0)
		return;
	tcpsm_ctr(ti, TCPSM_C_CTRL_NOMBUF, 1);
	if (tp->n_pend < TCPSM_PEND) {
		tp->pend[tp->n_pend] = f;
		tp->pend_ev[tp->n_pend++] = ev;
	}
	/* else: the flow is never retired; its memory returns with the pool. */
}

static void retry_pending(struct tcpsm_priv *tp)
{
	unsigned k = 0;
	while (k < tp->n_pend && emit_ctrl(tp, tp->pend[k], tp->pend_ev[k]) == 0)
		k++;
	if (k) {
		memmove(tp->pend, tp->pend + k, (tp->n_pend - k) * sizeof(tp->pend[0]));
		memmove(tp->pend_ev, tp->pend_ev + k, (tp->n_pend - k) * sizeof(tp->pend_ev[0]));
		tp->n_pend -= k;
	}
}

static void free_rcu(struct rcu_head *h)
{
	struct tcpsm_flow *f = caa_container_of(h, struct tcpsm_flow, rcu);
	/* tsan.h: after tcpsm's last use (call_rcu) and after every reader. */
	MP_TSAN_ACQUIRE(f);
	MP_TSAN_RCU_GP_DONE();
	struct tcpsm_inst *ti = f->ti; /* read before the release: tcpsm may reuse f at once */
	MP_TSAN_RELEASE(f);            /* to tcpsm's next pool_get of this flow */
	tcpsm_flowtab_put(ti, f);
	MP_TSAN_CB_DONE();
}

static void defer_free(struct tcpsm_flow *f)
{
	MP_TSAN_RELEASE(f);
	call_rcu(&f->rcu, free_rcu);
}

/* What tx handed back (the feedback input), at most TCPSM_TAKE mbufs.
 * in_fini: after every lcore stopped and rcu_barrier(): flows go straight
 * back to the pool (no reader can hold them any more).
 * @return the number taken. */
static unsigned take_back(struct tcpsm_priv *tp, int in_fini)
{
	struct mp_stage_inst *si = tp->si;
	struct rte_mbuf *b[TCPSM_TAKE];
	unsigned n = mp_fb_take(si, b, TCPSM_TAKE), retired = 0, ended = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct mp_meta *md = mp_meta(b[i]);
		struct tcpsm_flow *f = md->flow;
		if (unlikely(md->kind != MP_PKT_CTRL || !f || f->ti != tp->ti)) {
			/* Not a control mbuf of a flow of this instance: a routing
			 * bug (the rule of mp_fb_send). Leave the flow alone. */
			tcpsm_ctr(tp->ti, TCPSM_C_FB_FOREIGN, 1);
			continue;
		}
		if (md->ctrl.type == MP_CTRL_ENDED) {
			/* Read on this lcore by tcpsm_reasm_reclaim_ended(). */
			f->end_seen = 1;
			ended++;
		} else if (md->ctrl.type == MP_CTRL_RETIRE) {
			tcpsm_reasm_release(tp->ti, f);
			/* Readers of the connection table may still hold it; a
			 * flow never published (a flood's, tcpsm_pool_watch) has
			 * none, nor has any flow once every lcore stopped. */
			if (in_fini || !f->published)
				tcpsm_flowtab_put(tp->ti, f);
			else
				defer_free(f);
			retired++;
		} else {
			tcpsm_ctr(tp->ti, TCPSM_C_FB_FOREIGN, 1);
		}
	}
	if (n)
		rte_pktmbuf_free_bulk(b, n);
	if (retired)
		tcpsm_ctr(tp->ti, TCPSM_C_TOOK_RETIRE, retired);
	if (ended)
		tcpsm_ctr(tp->ti, TCPSM_C_TOOK_ENDED, ended);
	return n;
}

static const uint8_t *payload_of(struct tcpsm_priv *tp, struct rte_mbuf *m, const struct mp_meta *md)
{
	if (!md->pay_cap)
		return NULL;
	if ((uint32_t)md->pay_off + md->pay_cap <= rte_pktmbuf_data_len(m))
		return rte_pktmbuf_mtod_offset(m, const uint8_t *, md->pay_off);
	return rte_pktmbuf_read(m, md->pay_off, md->pay_cap, tp->scratch);
}

/* With buffers, the next packet's payload, which its copy into the stream
 * reads: the lines rx and classify never touched (headers only), in a
 * capture's mapping or a port's mbuf, a miss each. A packet ahead is
 * enough once the copy's destination is in cache (buf_history = no):
 * hs_search 1.69 -> 1.52 s, tcpsm 1,240 -> 1,090 cycles/packet (replicated
 * pipelines, 4 alternated runs; 2 and 4 ahead did less). */
static inline void prefetch_payload(struct rte_mbuf *m)
{
	const struct mp_meta *md = mp_meta(m);
	if (md->pay_cap && (uint32_t)md->pay_off + md->pay_cap <= rte_pktmbuf_data_len(m)) {
		const char *q = rte_pktmbuf_mtod_offset(m, const char *, md->pay_off);
		for (uint32_t k = 0; k < md->pay_cap; k += RTE_CACHE_LINE_SIZE)
			rte_prefetch0(q + k);
	}
}

static unsigned tcpsm_poll(struct mp_stage_inst *si)
{
	struct tcpsm_priv *tp = si->priv;
	struct rte_mbuf *b[256];
	unsigned n;

	take_back(tp, 0);
	tcpsm_pool_watch(tp->ti);
	tcpsm_reasm_reclaim_ended(tp->ti);
	tcpsm_reasm_trim_recent(tp->ti);
	if (unlikely(tp->n_pend)) {
		retry_pending(tp);
		flush_out(tp);
	}
	/* A packet may leave with two more mbufs: two retire mbufs when it
	 * opens a flow (its own flow had expired, and an older one was evicted
	 * for the new flow), or one ENDED when it closes one. Take at most a
	 * third of the room downstream and give timers only what is left, so
	 * back-pressure never has to drop. */
	unsigned room = mp_out_room(si);
	n = mp_in_burst(si, b, RTE_MIN(si->pl->conf->burst, room / 3));
	/* Prefetch over the burst in steps (metadata, table slot, flow, its
	 * reassembly descriptors): each packet's flow is a likely cache miss at
	 * scale, so ask for it early. */
	const struct tcpsm_slot *slot[RTE_DIM(b)];
	for (unsigned i = 0; i < n && i < 8; i++)
		rte_prefetch0(mp_meta(b[i]));
	for (unsigned i = 0; i < n && i < 4; i++)
		slot[i] = tcpsm_prefetch_slot(tp->ti, mp_meta(b[i]));
	for (unsigned i = 0; i < n && i < 2; i++)
		tcpsm_prefetch_flow(tp->ti, slot[i]);
	for (unsigned i = 0; i < n; i++) {
		struct mp_meta *md = mp_meta(b[i]);
		if (i + 8 < n)
			rte_prefetch0(mp_meta(b[i + 8]));
		if (i + 4 < n)
			slot[i + 4] = tcpsm_prefetch_slot(tp->ti, mp_meta(b[i + 4]));
		if (i + 2 < n)
			tcpsm_prefetch_flow(tp->ti, slot[i + 2]);
		if (tp->ti->reasm && i + 1 < n) {
			tcpsm_prefetch_bufs(tp->ti, slot[i + 1]);
			prefetch_payload(b[i + 1]);
		}
		struct rte_mbuf *ended = NULL;
		if (likely(md->kind == MP_PKT_DATA) &&
		    unlikely(tcpsm_process(tp->ti, md, payload_of(tp, b[i], md)) == TCPSM_P_ENDED))
			ended = flow_ended(tp, md);
		emit(tp, b[i]);
		if (unlikely(ended != NULL))
			emit(tp, ended);
	}
	unsigned left = room > 3 * n ? room - 3 * n : 0;
	if (n) {
		if (left)
			tcpsm_expire(tp->ti, tp->ti->now_ns, RTE_MIN((unsigned)TCPSM_OUT / 2, left));
	} else if (tp->live && room >= 3) {
		/* Idle (no input although there is room downstream): time passes
		 * without packets. Not when held back by a full ring: packets are
		 * waiting and their own times move the clock; the live clock may
		 * be far from a generator's packet time, and expiring on it then
		 * ended flows (TIME_WAIT) early whenever a ring filled up. */
		uint64_t now = rte_rdtsc();
		if (now >= tp->next_live_tsc) {
			tp->next_live_tsc = now + si->pl->tsc_hz / 100;
			tcpsm_expire(tp->ti, mp_live_ns(si->pl, now), RTE_MIN((unsigned)TCPSM_OUT / 2, room));
		}
	}
	flush_out(tp);
	return n;
}

static int tcpsm_drain(struct mp_stage_inst *si)
{
	struct tcpsm_priv *tp = si->priv;
	take_back(tp, 0);
	if (tp->n_pend)
		retry_pending(tp);
	/* End of input (every packet is through): flows whose deadline passed
	 * by the input's last packet time time out first, as on one instance;
	 * an instance's own clock stops at its own last packet. rx is done
	 * (drain runs once classify is done, read with acquire, and classify
	 * finished after rx), so its time is final. */
	unsigned k = tcpsm_expire(tp->ti, rx_time(si->pl), si->pl->conf->burst);
	k += tcpsm_end_all(tp->ti, si->pl->conf->burst - k);
	flush_out(tp);
	return k > 0 || tp->n_pend > 0;
}

static int tcpsm_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct mp_conf *c = pl->conf;
	struct tcpsm_params p;
	struct tcpsm_priv *tp;

	tp = rte_zmalloc("tcpsm_priv", sizeof(*tp), RTE_CACHE_LINE_SIZE);
	if (!tp) {
		fprintf(stderr, "mospipe: tcpsm.%u: no memory for its state (%zu bytes): raise EAL -m\n", si->idx,
		        sizeof(*tp));
		return -ENOMEM;
	}
	si->priv = tp;
	tp->si = si;
	tp->log = pl->flowlog;
	tcpsm_params_from_conf(&p, c);
	for (unsigned i = 0; i < pl->n_ports; i++) {
		unsigned k = pl->port[i].kind;
		if (k != MP_PORT_PCAP)
			tp->live = 1;
		/* [tcp] prefault = auto: a live box's ports (interfaces, DPDK
		 * ports) write the flow state at start-up; captures and the
		 * generator keep it lazy (their start-up counts, their memory
		 * follows their flows). */
		if (c->prefault == MP_AUTO && (k == MP_PORT_IFACE || k == MP_PORT_ETHDEV))
			p.prefault = 1;
	}
	uint64_t buf_bytes;
	char why[512];
	if (tcpsm_buf_check(&p, &buf_bytes, why, sizeof(why)) < 0) {
		fprintf(stderr, "mospipe: %s\n", why);
		return -EINVAL;
	}
	tp->ti = tcpsm_inst_create(&p, si->idx, si->ctr + MP_CC_N, pl->conntable, on_end, tp);
	if (!tp->ti) {
		fprintf(stderr,
		        "mospipe: tcpsm.%u: cannot create the flow table (%u flows of %zu bytes) or reassembly pool "
		        "(%s): check [tcp] flows, buf_size, buf_pool\n",
		        si->idx, tcpsm_pool_size(&p), sizeof(struct tcpsm_flow), strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

static void tcpsm_fini(struct mp_stage_inst *si)
{
	struct tcpsm_priv *tp = si->priv;

	if (!tp)
		return;
	/* Frees queued with call_rcu put flows back into the free ring. */
	rcu_barrier();
	MP_TSAN_BARRIER_DONE();
	rcu_register_thread();
	/* What tx handed back after this instance finished. */
	if (tp->ti)
		while (take_back(tp, 1))
			;
	/* Flows still open (never drained): out of the tables, no record. */
	tcpsm_inst_destroy(tp->ti);
	rcu_unregister_thread();
	rte_free(tp);
	si->priv = NULL;
}

int tcpsm_set_new_flow_ctl(struct mp_pipeline *pl, uint32_t bits)
{
	if (!pl->n_inst[MP_ST_TCPSM])
		return -ENODEV;
	/* Main thread, before the lcores start (their launch orders it). */
	for (unsigned i = 0; i < pl->n_inst[MP_ST_TCPSM]; i++) {
		struct tcpsm_priv *tp = pl->inst[MP_ST_TCPSM][i]->priv;
		if (tp && tp->ti)
			tp->ti->new_ctl = bits;
	}
	return 0;
}

/* The pipeline services tcpsm uses (runtime/pipeline-types.h). */
static const struct mp_stage_svc tcpsm_svc = {
    .conn_snap = tcpsm_conn_snap,
    .conn_match = tcpsm_conn_match,
    .log_rec_size = sizeof(struct tcpsm_flowrec),
    .log_format = tcpsm_flowrec_line,
};

const struct mp_stage_type mp_stage_tcpsm = {
    .id = MP_ST_TCPSM,
    .ctrs = tcpsm_ctrs,
    .n_ctrs = RTE_DIM(tcpsm_ctrs),
    .svc = &tcpsm_svc,
    .init = tcpsm_init,
    .poll = tcpsm_poll,
    .drain = tcpsm_drain,
    .fini = tcpsm_fini,
};
