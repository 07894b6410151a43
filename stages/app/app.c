/* app: runs the application's filters and callbacks (DESIGN.md §1, §4).
 *
 * Per packet, for its context (instance j serves context j % num_cores):
 *  - packets of a followed flow: on the flow's first packet here, take
 *    references on the passive sockets' sets (the flow's active sockets);
 *    then for each socket, walk MOS_HK_SND with side = sender, then
 *    MOS_HK_RCV with side = receiver (evs_run), bits masked by what the set
 *    wants and by MOS_STOP_MON;
 *  - the flow's MP_CTRL_RETIRE mbuf: the same walk (it carries CONN_END when
 *    the flow ended without a packet), then the sockets' sets are put back
 *    and the flow's entry (by slot) is cleared;
 *  - packets of no flow / orphans: MOS_ON_ORPHAN at MOS_NULL on stream
 *    sockets whose orphan filter matches; raw sockets get MOS_ON_PKT_IN at
 *    MOS_NULL for every packet their filter matches. A followed flow's
 *    packets after its CONN_END are orphans too: mOS destroys the stream at
 *    CONN_END, so what comes after it (data behind a RST, a retransmission
 *    in TIME_WAIT) belongs to no connection.
 * User timers fire in packet time, after the packet that moved time past
 * their deadline; when the events stage bypasses the packets that do, it
 * sends an MP_CTRL_TIME mbuf in their place (events.c), freed here. Packets then go to tx, followed by what callbacks injected.
 * Without an application everything passes through.
 *
 * State: the instance's struct mp_appi (si->priv, made by app_init and
 * registered in the API state pl->app, freed by app_fini); the per-flow
 * table mp_api.fa, by flow slot (app-types.h for who writes it when).
 * mp_app_flow_start() is the one question the events stage asks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "bpf.h"
#include "evset.h"
#include "passthru.h"
#include "pipeline.h"
#include "rx.h"
#include "stage.h"
#include "tcpsm.h"

_Static_assert((int)MP_CUR_HK_SND == (int)EVS_HK_SND && (int)MP_CUR_HK_RCV == (int)EVS_HK_RCV &&
                   (int)MP_CUR_HK_NULL == (int)EVS_HK_NULL,
               "mp_appi.cur_hook uses evset's hook indexes");
_Static_assert((int)MP_HOOK_SND == (int)EVS_HK_SND && (int)MP_HOOK_RCV == (int)EVS_HK_RCV,
               "mp_meta.ev[] is indexed by evset's hooks");

#define MP_CTR_STAGE app
#define MP_CTR_PREFIX APP_
#define MP_CTR_DEF "app_counters.def"
#include "counters-gen.h"

/* Recomputes fa->mask from its sockets' sets and stop bits; tells tcpsm to
 * stop holding bytes for a side nobody tracks any more. */
static void update_mask(const struct mp_api *a, struct mp_flowapp *fa, struct tcpsm_flow *f)
{
	uint32_t m[2][2] = {{0, 0}, {0, 0}};
	uint8_t stopped_all = 3;
	const struct mp_fsock *socks = mp_fa_socks(a, fa);
	for (unsigned i = 0; i < fa->n; i++) {
		const struct mp_fsock *fs = &socks[i];
		stopped_all &= fs->stopped;
		for (unsigned h = 0; h < 2; h++)
			for (unsigned sd = 0; sd < 2; sd++)
				if (!(fs->stopped & (1u << sd)))
					m[h][sd] |= evs_set_mask(fs->set, h, sd);
	}
	for (unsigned h = 0; h < 2; h++)
		for (unsigned sd = 0; sd < 2; sd++)
			__atomic_store_n(&fa->mask[h][sd], m[h][sd], __ATOMIC_RELAXED);
	/* tcpsm stops holding bytes for a side nobody tracks any more. */
	uint32_t stop = 0;
	for (unsigned sd = 0; sd < 2; sd++)
		if (stopped_all & (1u << sd))
			stop |= TCPSM_CTL_STOP(sd);
	if (stop)
		tcpsm_flow_ctl_set(f, stop);
	fa->dirty = 0;
}

int mp_app_flow_start(struct mp_api *a, unsigned j, uint32_t slot, struct rte_mbuf *m, struct mp_app_follow *out)
{
	struct mp_appi *ai = a->appi[j];
	struct mp_ctx *c = ai->ctx;
	struct mp_flowapp *fa = &a->fa[slot];
	struct mp_fsock *socks = mp_fa_socks(a, fa);
	uint32_t mask[2][2] = {{0, 0}, {0, 0}};
	uint32_t ctl = 0;
	int buf_on[2] = {0, 0};
	unsigned n = 0;
	uint32_t want[2] = {0, 0};
	/* Acquire: the sockets published so far (mp_app_sync_socks), their
	 * filters and sets in place. */
	unsigned live = __atomic_load_n(&c->n_live, __ATOMIC_ACQUIRE);

	for (unsigned k = 0; k < live && n < a->n_follow; k++) {
		const struct mp_psock *ps = &c->psock[k];
		if (ps->kind != MP_SK_STREAM || __atomic_load_n(&ps->closed, __ATOMIC_RELAXED))
			continue;
		/* Written by app instance j from callbacks (do_register in
		 * api.c): pointer with acquire, replaced sets stay readable.
		 * NULL: made by another instance's callback, j has not built
		 * its set yet (it follows the flows that start after). */
		const struct evs_set *s = __atomic_load_n(&ai->pset[k], __ATOMIC_ACQUIRE);
		if (!s)
			continue;
		if (ps->syn_filter && !mp_bpf_match(ps->syn_filter, m))
			continue;
		socks[n++].psock = (uint16_t)k;
		for (int h = 0; h < 2; h++)
			for (int sd = 0; sd < 2; sd++)
				mask[h][sd] |= evs_set_mask(s, (unsigned)h, (unsigned)sd);
		for (int sd = 0; sd < 2; sd++) {
			if (ps->bufsz[sd] != 0)
				buf_on[sd] = 1;
			if (ps->bufsz[sd] > 0 && (uint32_t)ps->bufsz[sd] > want[sd])
				want[sd] = (uint32_t)ps->bufsz[sd];
			if (ps->overlap[sd] >= 0 && ps->overlap[sd] != MOS_OVERLAP_POLICY_TARGET &&
			    !(ctl & TCPSM_CTL_POLSET(sd)))
				ctl |= TCPSM_CTL_POLSET(sd) | (ps->overlap[sd] ? TCPSM_CTL_POLLAST(sd) : 0);
		}
	}
	memset(out, 0, sizeof(*out));
	if (!n) {
		/* Nobody reads this flow's bytes: tcpsm may let them go. */
		out->ctl_clear = TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1);
		return 0;
	}
	fa->idx = slot;
	fa->appi = (uint16_t)j;
	fa->n = 0;
	fa->attached = 0;
	fa->dirty = 0;
	fa->reset = MP_RESET_NONE;
	fa->ended = 0;
	fa->nf = n;
	for (int h = 0; h < 2; h++)
		for (int sd = 0; sd < 2; sd++)
			__atomic_store_n(&fa->mask[h][sd], mask[h][sd], __ATOMIC_RELAXED);
	for (int sd = 0; sd < 2; sd++) {
		fa->want_size[sd] = want[sd];
		if (!buf_on[sd]) {
			ctl |= TCPSM_CTL_BUFOFF(sd);
			continue;
		}
		/* Reader mode, in case no socket could peek at start (one made
		 * from a callback since): from this packet on. */
		ctl |= TCPSM_CTL_READER(sd);
		if (want[sd] && want[sd] != a->conf->buf_size) {
			out->want[sd] = want[sd];
			ctl |= TCPSM_CTL_RESIZE(sd);
		}
	}
	fa->used = 1;
	out->ctl_set = ctl;
	return 1;
}

static void attach_socks(struct mp_appi *ai, struct mp_flowapp *fa, struct tcpsm_flow *f)
{
	struct mp_fsock *socks = mp_fa_socks(ai->api, fa);
	for (unsigned i = 0; i < fa->nf; i++) {
		struct mp_fsock *fs = &socks[i];
		fs->stopped = 0;
		fs->closed = 0;
		fs->uctx = NULL;
		fs->cur[0] = fs->cur[1] = 0;
		fs->outrun[0] = fs->outrun[1] = 0;
		fs->outrun_now = 0;
		fs->set = evs_set_get(ai->pset[fs->psock]);
	}
	fa->n = (uint8_t)fa->nf;
	fa->attached = 1;
	update_mask(ai->api, fa, f);
}

/* The flow's retire mbuf: nothing of it comes after. Clears its entry for
 * the next flow of the slot (tx retires the flow only after this). */
static void release(struct mp_stage_inst *si, struct mp_appi *ai, struct mp_flowapp *fa)
{
	struct mp_fsock *socks = mp_fa_socks(ai->api, fa);
	for (unsigned i = 0; i < fa->n; i++) {
		evs_set_put(ai->evs, socks[i].set);
		socks[i].set = NULL;
	}
	fa->n = 0;
	fa->attached = 0;
	fa->used = 0;
	fa->nf = 0;
	for (int h = 0; h < 2; h++)
		for (int sd = 0; sd < 2; sd++)
			__atomic_store_n(&fa->mask[h][sd], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fa->done, 0, __ATOMIC_RELAXED);
	mp_ctr_add(si, APP_FLOWS_RELEASED, 1);
}

/* Walks one set at one hook. The set is referenced during the walk: a
 * callback may move the socket to another set. */
static void walk(struct mp_appi *ai, struct evs_set *s, unsigned h, unsigned side, uint64_t bits, int sock)
{
	struct evs_dispatch d = {.mctx = &ai->ctx->pub, .sock = sock};
	evs_set_get(s);
	ai->cur_hook = (int)h;
	ai->cur_side = (int)side;
	ai->cur_d = &d;
	evs_run(s, h, side, bits, &d);
	ai->cur_d = NULL;
	evs_set_put(ai->evs, s);
	mp_ctr_add(ai->si, APP_CALLBACKS, d.n_cbs);
	mp_ctr_add(ai->si, APP_FILTERS, d.n_filters);
}

static void dispatch_flow(struct mp_appi *ai, struct mp_meta *md, struct mp_flowapp *fa)
{
	unsigned side = md->side & 1;
	if (!fa->attached)
		attach_socks(ai, fa, md->flow);
	if (fa->ended)
		return; /* after CONN_END the flow is gone for the application (mOS destroys it) */
	ai->cur_fa = fa;
	/* mOS's buffer outrun: where the receiver's window start H moved on
	 * this packet past what a socket had read, MOS_ON_ERROR for that
	 * socket at MOS_HK_RCV (reason MOS_ERR_OUTRUN), once per packet that
	 * takes more of its unread bytes away. */
	const struct mp_edge *re = &md->edge[side ^ 1];
	int slid =
	    md->kind == MP_PKT_DATA && (re->flags & (MP_EDGE_VALID | MP_EDGE_SLID)) == (MP_EDGE_VALID | MP_EDGE_SLID);
	uint64_t rh = re->end - re->back;
	struct mp_fsock *socks = mp_fa_socks(ai->api, fa);
	for (unsigned i = 0; i < fa->n; i++) {
		struct mp_fsock *fs = &socks[i];
		int sock = mp_api_sock_id(ai->api, fa, i);
		ai->cur_slot = (int)i;
		fs->outrun_now = 0;
		if (slid && rh > fs->cur[side ^ 1] && rh > fs->outrun[side ^ 1]) {
			fs->outrun[side ^ 1] = rh;
			fs->outrun_now = 1;
			mp_ctr_add(ai->si, APP_OUTRUNS, 1);
		}
		for (unsigned h = 0; h < 2; h++) {
			unsigned sd = h == 0 ? side : side ^ 1;
			if (fs->closed || (fs->stopped & (1u << sd)))
				continue;
			uint64_t ev = md->ev[h] | (h == 1 && fs->outrun_now ? MOS_ON_ERROR : 0);
			uint64_t bits = ev & evs_set_mask(fs->set, h, sd);
			if (bits)
				walk(ai, fs->set, h, sd, bits, sock);
		}
		fs->outrun_now = 0;
	}
	if (fa->reset == MP_RESET_ASKED) {
		/* mtcp_reset_conn: the RSTs leave after this packet. As in mOS the
		 * flow is still followed (a sender that ignores the RSTs is still
		 * seen); it ends by tcpsm's rules (the endpoints' RSTs, timeout). */
		fa->reset = MP_RESET_DONE;
		if (md->kind == MP_PKT_DATA && mp_api_reset_send(ai) < 0)
			mp_ctr_add(ai->si, APP_INJECT_NOMBUF, 1);
	}
	ai->cur_fa = NULL;
	if ((md->ev[0] | md->ev[1]) & MOS_ON_CONN_END)
		fa->ended = 1;
	if (fa->dirty)
		update_mask(ai->api, fa, md->flow);
}

/* orphan: no flow, or its CONN_END has passed (mOS destroyed the stream then:
 * its later packets belong to no connection). */
static void dispatch_raw(struct mp_appi *ai, struct rte_mbuf *m, int orphan)
{
	struct mp_ctx *c = ai->ctx;
	unsigned live = __atomic_load_n(&c->n_live, __ATOMIC_ACQUIRE);
	for (unsigned k = 0; k < live; k++) {
		const struct mp_psock *ps = &c->psock[k];
		struct evs_set *s = ai->pset[k];
		if (ps->closed || !s)
			continue;
		if (ps->kind == MP_SK_RAW) {
			if (!evs_set_mask(s, EVS_HK_NULL, 0) || (ps->raw_filter && !mp_bpf_match(ps->raw_filter, m)))
				continue;
			mp_ctr_add(ai->si, APP_RAW, 1);
			walk(ai, s, EVS_HK_NULL, 0, MOS_ON_PKT_IN | (orphan ? MOS_ON_ORPHAN : 0), (int)k);
		} else if (orphan && ps->kind == MP_SK_STREAM) {
			if (!(evs_set_mask(s, EVS_HK_NULL, 0) & MOS_ON_ORPHAN) ||
			    (ps->orphan_filter && !mp_bpf_match(ps->orphan_filter, m)))
				continue;
			mp_ctr_add(ai->si, APP_ORPHANS, 1);
			walk(ai, s, EVS_HK_NULL, 0, MOS_ON_ORPHAN, (int)k);
		}
	}
}

void mp_app_sync_socks(struct mp_appi *ai)
{
	struct mp_ctx *c = ai->ctx;
	struct mp_api *a = ai->api;
	if (!c || (!ai->n_pending && mp_ctx_nsock(c) == ai->n_built))
		return;
	pthread_mutex_lock(&a->sock_lock);
	unsigned made = c->n_psock;
	for (unsigned k = ai->n_built; k < made; k++) {
		struct mp_psock *ps = &c->psock[k];
		if (!ai->pset[k]) /* another instance's: an empty set here */
			__atomic_store_n(&ai->pset[k], evs_set_get(evs_empty(ai->evs)), __ATOMIC_RELEASE);
		if (ps->made_by == ai->idx + 1 && !ps->ready) {
			/* Made by a callback here, which returned: its filters and
			 * registrations (this instance's set) are in place. */
			ps->ready = 1;
			ai->n_pending--;
			if (ps->kind == MP_SK_RAW)
				__atomic_store_n(&a->any_raw, 1, __ATOMIC_RELAXED);
			else if (evs_set_mask_any(ai->pset[k], EVS_HK_NULL))
				__atomic_store_n(&a->any_orphan, 1, __ATOMIC_RELAXED);
		}
	}
	ai->n_built = made;
	/* Publish the ready prefix (a socket another instance is still setting
	 * up holds back those after it until its maker syncs). */
	unsigned live = c->n_live;
	while (live < made && c->psock[live].ready)
		live++;
	if (live != c->n_live) {
		__atomic_store_n(&c->n_live, live, __ATOMIC_RELEASE);
		mp_ctr_add(ai->si, APP_SOCKS_PUBLISHED, 1);
	}
	pthread_mutex_unlock(&a->sock_lock);
}

void mp_app_publish_due(struct mp_appi *ai)
{
	uint64_t due = UINT64_MAX;
	if (ai->n_timers && !ai->now_ns)
		due = 0;
	else
		for (unsigned k = 0; k < ai->n_timers; k++)
			if (ai->timer[k].when_ns < due)
				due = ai->timer[k].when_ns;
	if (__atomic_load_n(&ai->due_ns, __ATOMIC_RELAXED) != due)
		__atomic_store_n(&ai->due_ns, due, __ATOMIC_RELAXED);
}

void mp_app_timers(struct mp_appi *ai, uint64_t now)
{
	unsigned fired = 0;
	for (;;) {
		/* The earliest due timer first: timers fire in their time order,
		 * each at its own time (mtcp_cb_get_ts and a re-arm from the
		 * callback count from its deadline, not from the mbuf that
		 * moved time past it: no drift when it fires late). */
		unsigned i = ai->n_timers;
		for (unsigned k = 0; k < ai->n_timers; k++)
			if (ai->timer[k].when_ns <= now &&
			    (i == ai->n_timers || ai->timer[k].when_ns < ai->timer[i].when_ns))
				i = k;
		if (i == ai->n_timers)
			break;
		fired++;
		struct mp_timer t = ai->timer[i];
		ai->timer[i] = ai->timer[--ai->n_timers];
		ai->cur_hook = MP_CUR_HK_NULL;
		ai->cur_side = 0;
		/* A timer has no packet and no flow: mtcp_getlastpkt gives ENODATA
		 * (not the packet that moved time), flow calls EBADF. */
		struct rte_mbuf *m = ai->cur_m;
		struct mp_meta *md = ai->cur_md;
		struct mp_flowapp *fa = ai->cur_fa;
		ai->cur_m = NULL;
		ai->cur_md = NULL;
		ai->cur_fa = NULL;
		uint64_t was = ai->now_ns;
		ai->now_ns = t.when_ns < was ? t.when_ns : was;
		t.cb(&t.ctx->pub, t.id, MOS_NULL, MOS_ON_TIMEOUT, NULL);
		ai->now_ns = was;
		ai->cur_m = m;
		ai->cur_md = md;
		ai->cur_fa = fa;
		mp_ctr_add(ai->si, APP_TIMERS, 1);
	}
	if (fired)
		mp_app_publish_due(ai);
}

static unsigned app_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct mp_api *a = pl->app;
	/* mp_out_send takes at most 256 mbufs per call (its fan-out groups). */
	struct rte_mbuf *b[256], *out[256];
	struct mp_flowapp *done[256];
	unsigned n, no = 0, nd = 0;

	if (!a || !a->started)
		return mp_passthru_poll(si, 0);
	struct mp_appi *ai = si->priv;
	mp_app_sync_socks(ai); /* sockets other instances' callbacks made */
	n = mp_in_burst(si, b, pl->conf->burst);
	if (!n) {
		if (ai->live && ai->n_timers && ai->now_ns) {
			/* An idle link: live time passes without packets (the TSC),
			 * and timers fire on it (mOS's midstat prints from one). */
			uint64_t now = mp_live_ns(pl, rte_rdtsc());
			if (now > ai->now_ns) {
				ai->now_ns = now;
				mp_api_tl = ai;
				ai->in_cb = 1;
				mp_app_timers(ai, now);
				ai->in_cb = 0;
				mp_api_tl = NULL;
				mp_app_sync_socks(ai);
			}
		}
		return 0;
	}
	mp_api_tl = ai;
	/* Each packet's flow entry and sockets are likely cache misses at
	 * scale (one line each per flow, spread over the flow slots): ask for
	 * them a few packets ahead, the metadata that names them before. */
	for (unsigned i = 0; i < n && i < 4; i++)
		rte_prefetch0(mp_meta(b[i]));
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		if (i + 4 < n)
			rte_prefetch0(mp_meta(b[i + 4]));
		if (i + 2 < n) {
			const struct mp_meta *pm = mp_meta(b[i + 2]);
			if (pm->flow) {
				const struct mp_flowapp *pfa = &a->fa[pm->flow_idx];
				rte_prefetch0(pfa);
				rte_prefetch0(mp_fa_socks(a, pfa));
				tcpsm_flow_prefetch_release(pm->flow, pm);
			}
		}
		if (i + 1 < n) {
			/* The application's own state for the flow, as its first
			 * socket holds it (mtcp_set_uctx): what a callback reads. */
			const struct mp_meta *pm = mp_meta(b[i + 1]);
			if (pm->flow) {
				const struct mp_flowapp *pfa = &a->fa[pm->flow_idx];
				if (pfa->n)
					rte_prefetch0(mp_fa_socks(a, pfa)->uctx);
			}
		}
		struct mp_meta *md = mp_meta(m);
		struct tcpsm_flow *f = md->flow;
		struct mp_flowapp *fa = f ? &a->fa[md->flow_idx] : NULL;

		if (no + 1 + MP_API_MAX_INJECT > RTE_DIM(out)) {
			mp_out_send(si, 0, out, no);
			no = 0;
		}

		uint64_t t = md->ts_ns;
		if (md->kind == MP_PKT_CTRL && md->ctrl.type == MP_CTRL_RETIRE && f &&
		    tcpsm_flow_end_reason(f) == TCPSM_END_OPEN)
			/* The end of input ends this flow: every packet has been
			 * read, so time has reached the input's last packet. Only
			 * the retire mbuf: tcpsm wrote the end reason before
			 * sending it, and writes nothing after; an ENDED mbuf
			 * comes while tcpsm may still end the flow (TSan). */
			t = RTE_MAX(t, rx_time(pl));
		if (t > ai->now_ns) {
			if (!ai->now_ns) {
				/* Timers set at setup count from the first packet. */
				for (unsigned k = 0; k < ai->n_timers; k++)
					ai->timer[k].when_ns += t;
				ai->now_ns = t;
				mp_app_publish_due(ai);
			}
			ai->now_ns = t;
			/* Timers due by this mbuf's time fire before its events:
			 * they came first in packet time (and pending ones fire
			 * before the CONN_ENDs of the end of input). */
			if (ai->n_timers) {
				ai->in_cb = 1;
				mp_app_timers(ai, ai->now_ns);
				ai->in_cb = 0;
			}
		}
		if (md->kind == MP_PKT_CTRL && md->ctrl.type == MP_CTRL_TIME) {
			/* Only time (events.c): its timers fired above. */
			mp_ctr_add(si, APP_TIME_MARKS, 1);
			rte_pktmbuf_free(m);
			continue;
		}
		ai->cur_m = m;
		ai->cur_md = md;
		ai->n_inject = 0;
		ai->in_cb = 1;
		/* Ended before this packet: gone for the application. */
		int gone = fa && fa->used && fa->ended;
		if (fa && fa->used) {
			mp_ctr_add(si, APP_DISPATCHED, 1);
			dispatch_flow(ai, md, fa);
			/* Every callback for md returned: the readers are past the
			 * window starts of md's edges. */
			tcpsm_flow_release(f, md);
			if (md->kind == MP_PKT_CTRL) {
				if (md->ctrl.type == MP_CTRL_RETIRE)
					release(si, ai, fa);
			} else {
				done[nd++] = fa;
			}
		}
		if (md->kind == MP_PKT_DATA && (a->any_raw || ((!f || gone) && a->any_orphan)))
			dispatch_raw(ai, m, !f || gone);
		out[no++] = m;
		if (ai->n_inject) {
			for (unsigned k = 0; k < ai->n_inject; k++)
				out[no++] = ai->inject[k];
			mp_ctr_add(si, APP_INJECTED, ai->n_inject);
			ai->n_inject = 0;
		}
		if (ai->n_timers)
			mp_app_timers(ai, ai->now_ns); /* set by this mbuf's callbacks, already due */
		ai->in_cb = 0;
		ai->cur_m = NULL;
		ai->cur_md = NULL;
	}
	mp_api_tl = NULL;
	mp_app_sync_socks(ai); /* sockets this burst's callbacks made */
	mp_out_send(si, 0, out, no);
	/* Single writer (this instance owns the flows); release: the events
	 * stage that reads the count (acquire) then knows these packets left. */
	for (unsigned i = 0; i < nd; i++)
		__atomic_store_n(&done[i]->done, done[i]->done + 1, __ATOMIC_RELEASE);
	return n;
}

/* End of input, everything upstream through: timers due by the input's last
 * packet time fire (their time came); later ones never will. */
static int app_drain(struct mp_stage_inst *si)
{
	struct mp_appi *ai = si->priv;
	if (!ai || !ai->api->started || !ai->n_timers || !ai->now_ns)
		return 0;
	uint64_t last = rx_time(si->pl);
	if (last > ai->now_ns)
		ai->now_ns = last;
	mp_api_tl = ai;
	ai->in_cb = 1;
	mp_app_timers(ai, ai->now_ns);
	ai->in_cb = 0;
	mp_api_tl = NULL;
	return 0;
}

static int app_init(struct mp_stage_inst *si)
{
	struct mp_api *a = si->pl->app;
	struct mp_appi *ai;
	struct evs_conf ec = {.reg = &mp_api_reg, .max_sets = 1u << 20};

	if (!a)
		return 0; /* no application (the mospipe command): pass-through */
	ai = calloc(1, sizeof(*ai));
	if (!ai || !(ai->pset = calloc(a->n_sockets, sizeof(*ai->pset))) ||
	    !(ai->timer = calloc(a->n_timers_max, sizeof(*ai->timer))) || !(ai->evs = evs_create(&ec))) {
		fprintf(
		    stderr,
		    "mospipe: app.%u: no memory for its state (%zu bytes, %u timers) and event-set table: lower [api] "
		    "timers\n",
		    si->idx, sizeof(*ai), a->n_timers_max);
		if (ai) {
			free(ai->pset);
			free(ai->timer);
		}
		free(ai);
		return -ENOMEM;
	}
	ai->api = a;
	ai->idx = si->idx;
	ai->si = si;
	ai->due_ns = UINT64_MAX; /* no timer */
	for (unsigned i = 0; i < si->pl->n_ports; i++)
		if (si->pl->port[i].kind != MP_PORT_PCAP)
			ai->live = 1;
	a->appi[si->idx] = ai; /* main thread, before packets flow */
	si->priv = ai;
	return 0;
}

static void app_fini(struct mp_stage_inst *si)
{
	struct mp_appi *ai = si->priv;
	if (!ai)
		return;
	ai->api->appi[ai->idx] = NULL;
	evs_destroy(ai->evs);
	free(ai->pset);
	free(ai->timer);
	free(ai);
	si->priv = NULL;
}

const struct mp_stage_type mp_stage_app = {
    .id = MP_ST_APP,
    .ctrs = app_ctrs,
    .n_ctrs = RTE_DIM(app_ctrs),
    .init = app_init,
    .poll = app_poll,
    .drain = app_drain,
    .fini = app_fini,
};
