/* tcpsm stage: the EAL glue around the per-packet logic (tcpsm_sm.c).
 *
 * Per burst: take back flows tx has retired, run each packet through
 * tcpsm_process, then expire timers with the burst's newest packet time.
 * Every flow that ends (FIN/RST close after TIME_WAIT, timeout, eviction,
 * tuple reuse, end of input) gets one control mbuf (MP_CTRL_RETIRE, hash of
 * its packets) placed after its last packet; tx hands it back through
 * pl->flow_retire, tcpsm gives back its reassembly buffers on its own lcore
 * and frees the flow after an RCU grace period (call_rcu), so midstat readers
 * walking the connection table never see freed memory.
 *
 * Shared by all instances (pl->stage_shared[MP_ST_TCPSM], created by instance
 * 0's init, freed by the last instance's fini): the RCU connection table and
 * the flow log writer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#include "conntable.h"
#include "pipeline.h"
#include "stage.h"
#include "tcpsm.h"
#include "tsan.h"

static const struct mp_ctr_desc tcpsm_ctrs[] = {
#define MP_CTR(id, name, help) {name, help, 0},
#include "tcpsm_counters.def"
#undef MP_CTR
};

struct tcpsm_shared {
	struct mp_conntable *ct;
	struct tcpsm_flowlog *log;
	unsigned refs;
};

#define TCPSM_OUT 512
#define TCPSM_PEND 1024

struct tcpsm_priv {
	struct tcpsm_inst *ti;
	struct mp_stage_inst *si;
	struct tcpsm_shared *sh;
	struct rte_mempool *fpool;
	struct rte_ring *retired; /* MP enqueue by tx lcores, SC dequeue here */
	int live;                 /* some port is live: time also passes without packets */
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
	md->ctrl.type = MP_CTRL_RETIRE;
	md->ev[MP_HOOK_SND] = md->ev[MP_HOOK_RCV] = ev;
	for (int h = 0; h < MP_HOOK_N; h++) {
		md->st[h][0] = f->s[0].state;
		md->st[h][1] = f->s[1].state;
	}
	emit(tp, m);
	return 0;
}

static void on_end(struct tcpsm_inst *ti, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	struct tcpsm_priv *tp = arg;
	if (tp->sh->log) {
		struct tcpsm_flowrec rec;
		tcpsm_flowrec_fill(&rec, f);
		if (tcpsm_flowlog_push(tp->sh->log, &rec) < 0)
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
	MP_TSAN_RELEASE(f); /* to tcpsm's next pool_get of this flow */
	rte_mempool_put(f->ti->mp, f);
	MP_TSAN_CB_DONE();
}

static void defer_free(struct tcpsm_flow *f)
{
	MP_TSAN_RELEASE(f);
	call_rcu(&f->rcu, free_rcu);
}

/* pl->flow_retire: tx (any lcore) is done with the flow. */
static void tcpsm_flow_retire(struct mp_pipeline *pl, void *flow)
{
	struct tcpsm_flow *f = flow;
	struct tcpsm_priv *tp = f->ti->end_arg;
	(void)pl;
	/* The ring is as large as the pool, so it cannot be full; if it ever
	 * were, free without giving the buffers back (they return with the
	 * buffer pool at exit). */
	MP_TSAN_RELEASE(f);
	if (unlikely(rte_ring_mp_enqueue(tp->retired, f) != 0))
		defer_free(f);
}

/* pl->flow_ended: tx (any lcore) passed the packet that raised the flow's
 * CONN_END, so the app's callbacks for it have returned. */
static void tcpsm_flow_ended(struct mp_pipeline *pl, void *flow)
{
	struct tcpsm_flow *f = flow;
	(void)pl;
	__atomic_store_n(&f->end_seen, 1, __ATOMIC_RELEASE);
}

static void take_back_retired(struct tcpsm_priv *tp)
{
	void *fs[64];
	unsigned n = rte_ring_sc_dequeue_burst(tp->retired, fs, RTE_DIM(fs), NULL);
	for (unsigned i = 0; i < n; i++) {
		struct tcpsm_flow *f = fs[i];
		MP_TSAN_ACQUIRE(f); /* from tx's lcore */
		tcpsm_reasm_release(tp->ti, f);
		/* Readers of the connection table may still hold it. */
		defer_free(f);
	}
}

static const uint8_t *payload_of(struct tcpsm_priv *tp, struct rte_mbuf *m, const struct mp_meta *md)
{
	if (!md->pay_cap)
		return NULL;
	if ((uint32_t)md->pay_off + md->pay_cap <= rte_pktmbuf_data_len(m))
		return rte_pktmbuf_mtod_offset(m, const uint8_t *, md->pay_off);
	return rte_pktmbuf_read(m, md->pay_off, md->pay_cap, tp->scratch);
}

static unsigned tcpsm_poll(struct mp_stage_inst *si)
{
	struct tcpsm_priv *tp = si->priv;
	struct rte_mbuf *b[256];
	unsigned n;

	take_back_retired(tp);
	tcpsm_reasm_reclaim_ended(tp->ti);
	if (unlikely(tp->n_pend)) {
		retry_pending(tp);
		flush_out(tp);
	}
	/* A packet may leave with up to two retire mbufs (its own flow had
	 * expired, and an older one was evicted for the new flow): take at most
	 * a third of the room downstream and give timers only what is left, so
	 * back-pressure never has to drop. */
	unsigned room = mp_out_room(si);
	n = mp_in_burst(si, b, RTE_MIN(si->pl->conf->burst, room / 3));
	/* Three-step prefetch over the burst (metadata, table slot, flow): each
	 * packet's flow is a likely cache miss at scale, so ask for it early. */
	for (unsigned i = 0; i < n && i < 8; i++)
		rte_prefetch0(mp_meta(b[i]));
	for (unsigned i = 0; i < n && i < 4; i++)
		tcpsm_prefetch_slot(tp->ti, mp_meta(b[i]));
	for (unsigned i = 0; i < n; i++) {
		struct mp_meta *md = mp_meta(b[i]);
		if (i + 8 < n)
			rte_prefetch0(mp_meta(b[i + 8]));
		if (i + 4 < n)
			tcpsm_prefetch_slot(tp->ti, mp_meta(b[i + 4]));
		if (i + 2 < n)
			tcpsm_prefetch_flow(tp->ti, mp_meta(b[i + 2]));
		if (likely(md->kind == MP_PKT_DATA))
			tcpsm_process(tp->ti, md, payload_of(tp, b[i], md));
		emit(tp, b[i]);
	}
	unsigned left = room > 3 * n ? room - 3 * n : 0;
	if (n && left)
		tcpsm_expire(tp->ti, tp->ti->now_ns, RTE_MIN((unsigned)TCPSM_OUT / 2, left));
	else if (tp->live) {
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
	take_back_retired(tp);
	if (tp->n_pend)
		retry_pending(tp);
	/* End of input (every packet is through): flows whose deadline passed
	 * by the input's last packet time time out first, as on one instance;
	 * an instance's own clock stops at its own last packet. */
	unsigned k = tcpsm_expire(tp->ti, __atomic_load_n(&si->pl->last_ts, __ATOMIC_RELAXED), si->pl->conf->burst);
	k += tcpsm_end_all(tp->ti, si->pl->conf->burst - k);
	flush_out(tp);
	return k > 0 || tp->n_pend > 0;
}

static int tcpsm_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct mp_conf *c = pl->conf;
	struct tcpsm_params p;
	char name[RTE_MEMPOOL_NAMESIZE];
	struct tcpsm_shared *sh = pl->stage_shared[MP_ST_TCPSM];
	struct tcpsm_priv *tp;

	if (!sh) {
		sh = rte_zmalloc("tcpsm_shared", sizeof(*sh), 0);
		if (!sh)
			return -ENOMEM;
		/* Size the RCU table for the configured capacity (one bucket per
		 * 4 flows at the cap): cds_lfht's lazy auto-resize only grows when
		 * its split count crosses a power of two at 8 nodes per bucket,
		 * so a table started small spent 80% of tcpsm's cycles walking
		 * chains of cache-cold flows under connection churn (200K short
		 * connections: 2.9 s from 1024 buckets, 0.72 s from 65536). */
		unsigned long buckets = (unsigned long)c->flows * pl->n_inst[MP_ST_TCPSM] / 4;
		sh->ct = mp_conntable_create(buckets < 1024 ? 1024 : buckets, tcpsm_conn_snap, tcpsm_conn_match);
		if (!sh->ct) {
			fprintf(stderr, "mospipe: tcpsm: cannot create the connection table\n");
			rte_free(sh);
			return -ENOMEM;
		}
		if (*c->flow_log && !(sh->log = tcpsm_flowlog_start(c->flow_log, 65536))) {
			mp_conntable_destroy(sh->ct);
			rte_free(sh);
			return -EIO;
		}
		pl->stage_shared[MP_ST_TCPSM] = sh;
		pl->flow_retire = tcpsm_flow_retire;
		pl->flow_ended = tcpsm_flow_ended;
	}
	sh->refs++;

	tp = rte_zmalloc("tcpsm_priv", sizeof(*tp), RTE_CACHE_LINE_SIZE);
	if (!tp)
		return -ENOMEM;
	si->priv = tp;
	tp->si = si;
	tp->sh = sh;
	for (unsigned i = 0; i < pl->n_ports; i++)
		if (pl->port[i].kind != MP_PORT_PCAP)
			tp->live = 1;

	tcpsm_params_from_conf(&p, c);
	/* Room for the table's flows plus those ended but not yet retired. */
	unsigned nflows = p.flows + p.flows / 16 + 256;
	snprintf(name, sizeof(name), "tcpsm_fl%u", si->idx);
	if (!mp_tsan_pool_ops()) {
		tp->fpool = rte_mempool_create(name, nflows, sizeof(struct tcpsm_flow), 0, 0, NULL, NULL, NULL, NULL,
		                               (int)rte_socket_id(), 0);
	} else if ((tp->fpool = rte_mempool_create_empty(name, nflows, sizeof(struct tcpsm_flow), 0, 0,
	                                                 (int)rte_socket_id(), 0))) {
		/* TSan build: the annotating driver (runtime/tsan.h). */
		if (rte_mempool_set_ops_byname(tp->fpool, mp_tsan_pool_ops(), NULL) != 0 ||
		    rte_mempool_populate_default(tp->fpool) < 0) {
			rte_mempool_free(tp->fpool);
			tp->fpool = NULL;
		}
	}
	if (!tp->fpool) {
		fprintf(stderr,
		        "mospipe: tcpsm.%u: cannot allocate %u flows of %zu bytes: %s (lower [tcp] flows or raise "
		        "EAL -m)\n",
		        si->idx, nflows, sizeof(struct tcpsm_flow), rte_strerror(rte_errno));
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), "tcpsm_ret%u", si->idx);
	tp->retired = rte_ring_create(name, rte_align32pow2(nflows + 1), (int)rte_socket_id(), RING_F_SC_DEQ);
	if (!tp->retired) {
		fprintf(stderr, "mospipe: tcpsm.%u: cannot create its retire ring: %s\n", si->idx,
		        rte_strerror(rte_errno));
		return -ENOMEM;
	}
	tp->ti = tcpsm_inst_create(&p, si->idx, tp->fpool, si->ctr + MP_CC_N, sh->ct, on_end, tp);
	if (!tp->ti) {
		fprintf(stderr,
		        "mospipe: tcpsm.%u: cannot create the flow table or reassembly pool (%s): check [tcp] "
		        "flows, buf_size, buf_pool\n",
		        si->idx, strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

static void tcpsm_fini(struct mp_stage_inst *si)
{
	struct tcpsm_priv *tp = si->priv;
	struct mp_pipeline *pl = si->pl;
	struct tcpsm_shared *sh = pl->stage_shared[MP_ST_TCPSM];

	if (tp) {
		/* Frees queued with call_rcu put flows back into fpool. */
		rcu_barrier();
		MP_TSAN_BARRIER_DONE();
		rcu_register_thread();
		if (tp->retired) {
			void *f;
			while (rte_ring_sc_dequeue(tp->retired, &f) == 0) {
				MP_TSAN_ACQUIRE(f);
				tcpsm_reasm_release(tp->ti, f);
				rte_mempool_put(tp->fpool, f);
			}
		}
		/* Flows still open (never drained): out of the tables, no record. */
		tcpsm_inst_destroy(tp->ti);
		rcu_unregister_thread();
		rte_ring_free(tp->retired);
		rte_mempool_free(tp->fpool);
		rte_free(tp);
		si->priv = NULL;
	}
	if (sh && --sh->refs == 0) {
		tcpsm_flowlog_stop(sh->log);
		mp_conntable_destroy(sh->ct);
		rte_free(sh);
		pl->stage_shared[MP_ST_TCPSM] = NULL;
		pl->flow_retire = NULL;
		pl->flow_ended = NULL;
	}
}

struct mp_conntable *tcpsm_conntable(struct mp_pipeline *pl)
{
	struct tcpsm_shared *sh = pl->stage_shared[MP_ST_TCPSM];
	return sh ? sh->ct : NULL;
}

const struct mp_stage_type mp_stage_tcpsm = {
    .name = "tcpsm",
    .id = MP_ST_TCPSM,
    .ctrs = tcpsm_ctrs,
    .n_ctrs = RTE_DIM(tcpsm_ctrs),
    .init = tcpsm_init,
    .poll = tcpsm_poll,
    .drain = tcpsm_drain,
    .fini = tcpsm_fini,
};
