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
 *    and the state returns to the free ring;
 *  - packets of no flow / orphans: MOS_ON_ORPHAN at MOS_NULL on stream
 *    sockets whose orphan filter matches; raw sockets get MOS_ON_PKT_IN at
 *    MOS_NULL for every packet their filter matches.
 * User timers fire in packet time, after the packet that moved time past
 * their deadline. Packets then go to tx, followed by what callbacks injected.
 * Without an application everything passes through.
 */
#include <rte_ring.h>

#include "app.h"
#include "bpf.h"
#include "evset.h"
#include "passthru.h"
#include "pipeline.h"
#include "stage.h"
#include "tcpsm_app.h"

enum app_ctr {
	APP_CTR_BASE_ = MP_CC_N - 1,
#define MP_CTR(id, name, help) APP_##id,
#include "app_counters.def"
#undef MP_CTR
};

static const struct mp_ctr_desc app_ctrs[] = {
#define MP_CTR(id, name, help) {name, help, 0},
#include "app_counters.def"
#undef MP_CTR
};

void mp_app_update_mask(struct mp_flowapp *fa)
{
	uint32_t m[2][2] = {{0, 0}, {0, 0}};
	uint8_t stopped_all = 3;
	for (unsigned i = 0; i < fa->n; i++) {
		const struct mp_fsock *fs = &fa->s[i];
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
		tcpsm_app_ctl_set(fa->flow, stop);
	fa->dirty = 0;
}

static void attach_socks(struct mp_appi *ai, struct mp_flowapp *fa)
{
	unsigned n = 0;
	for (unsigned k = 0; k < MP_API_MAX_PASSIVE && n < MP_API_FOLLOW; k++) {
		if (!(fa->follow & (1u << k)))
			continue;
		struct mp_fsock *fs = &fa->s[n++];
		fs->psock = (uint8_t)k;
		fs->stopped = 0;
		fs->closed = 0;
		fs->uctx = NULL;
		fs->set = evs_set_get(ai->pset[k]);
	}
	fa->n = (uint8_t)n;
	fa->attached = 1;
	mp_app_update_mask(fa);
}

static void release(struct mp_stage_inst *si, struct mp_appi *ai, struct mp_flowapp *fa)
{
	for (unsigned i = 0; i < fa->n; i++) {
		evs_set_put(ai->evs, fa->s[i].set);
		fa->s[i].set = NULL;
	}
	fa->n = 0;
	fa->attached = 0;
	((struct tcpsm_flow *)fa->flow)->app = NULL;
	fa->flow = NULL;
	rte_ring_mp_enqueue(mp_api_g.fa_free, fa);
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

static void dispatch_flow(struct mp_appi *ai, struct rte_mbuf *m, struct mp_meta *md, struct mp_flowapp *fa)
{
	unsigned side = md->side & 1;
	if (!fa->attached)
		attach_socks(ai, fa);
	ai->cur_fa = fa;
	for (unsigned i = 0; i < fa->n; i++) {
		struct mp_fsock *fs = &fa->s[i];
		int sock = mp_api_sock_id(fa, i);
		ai->cur_slot = (int)i;
		for (unsigned h = 0; h < 2; h++) {
			unsigned sd = h == 0 ? side : side ^ 1;
			if (fs->closed || (fs->stopped & (1u << sd)))
				continue;
			uint64_t bits = md->ev[h] & evs_set_mask(fs->set, h, sd);
			if (bits)
				walk(ai, fs->set, h, sd, bits, sock);
		}
	}
	if (fa->pad_[0] == 1) {
		/* mtcp_reset_conn: the flow ends for the application now. */
		fa->pad_[0] = 2;
		for (unsigned i = 0; i < fa->n; i++) {
			struct mp_fsock *fs = &fa->s[i];
			ai->cur_slot = (int)i;
			for (unsigned h = 0; h < 2; h++) {
				unsigned sd = h == 0 ? side : side ^ 1;
				uint64_t bits = MOS_ON_CONN_END & evs_set_mask(fs->set, h, sd);
				if (!fs->closed && !(fs->stopped & (1u << sd)) && bits &&
				    !(md->ev[h] & MOS_ON_CONN_END))
					walk(ai, fs->set, h, sd, bits, mp_api_sock_id(fa, i));
			}
			fs->stopped = 3;
		}
		fa->dirty = 1;
	}
	ai->cur_fa = NULL;
	(void)m;
	if (fa->dirty)
		mp_app_update_mask(fa);
}

static void dispatch_raw(struct mp_appi *ai, struct rte_mbuf *m, struct mp_meta *md)
{
	struct mp_ctx *c = ai->ctx;
	int orphan = md->flow == NULL;
	for (unsigned k = 0; k < c->n_psock; k++) {
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

void mp_app_timers(struct mp_appi *ai, uint64_t now)
{
	for (unsigned i = 0; i < ai->n_timers;) {
		struct mp_timer t = ai->timer[i];
		if (t.when_ns > now) {
			i++;
			continue;
		}
		ai->timer[i] = ai->timer[--ai->n_timers];
		ai->cur_hook = 2;
		ai->cur_side = 0;
		t.cb(&t.ctx->pub, t.id, MOS_NULL, MOS_ON_TIMEOUT, NULL);
		mp_ctr_add(ai->si, APP_TIMERS, 1);
		i = 0; /* a callback may have re-armed or added timers */
	}
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
	struct mp_appi *ai = a->appi[si->idx];
	n = mp_in_burst(si, b, pl->conf->burst);
	if (!n)
		return 0;
	mp_api_tl = ai;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		struct mp_meta *md = mp_meta(m);
		struct tcpsm_flow *f = md->flow;
		struct mp_flowapp *fa = f ? f->app : NULL;

		if (no + 1 + MP_API_MAX_INJECT > RTE_DIM(out)) {
			mp_out_send(si, 0, out, no);
			no = 0;
		}

		if (md->ts_ns > ai->now_ns) {
			if (!ai->now_ns)
				/* Timers set at setup count from the first packet. */
				for (unsigned k = 0; k < ai->n_timers; k++)
					ai->timer[k].when_ns += md->ts_ns;
			ai->now_ns = md->ts_ns;
		}
		ai->cur_m = m;
		ai->cur_md = md;
		ai->n_inject = 0;
		ai->in_cb = 1;
		if (fa && fa != &a->none) {
			mp_ctr_add(si, APP_DISPATCHED, 1);
			dispatch_flow(ai, m, md, fa);
			if (md->kind == MP_PKT_CTRL) {
				if (md->ctrl.type == MP_CTRL_RETIRE)
					release(si, ai, fa);
			} else {
				done[nd++] = fa;
			}
		}
		if (md->kind == MP_PKT_DATA && (a->any_raw || (!f && a->any_orphan)))
			dispatch_raw(ai, m, md);
		out[no++] = m;
		if (ai->n_inject) {
			for (unsigned k = 0; k < ai->n_inject; k++)
				out[no++] = ai->inject[k];
			mp_ctr_add(si, APP_INJECTED, ai->n_inject);
			ai->n_inject = 0;
		}
		if (ai->n_timers)
			mp_app_timers(ai, ai->now_ns);
		ai->in_cb = 0;
		ai->cur_m = NULL;
		ai->cur_md = NULL;
	}
	mp_api_tl = NULL;
	mp_out_send(si, 0, out, no);
	for (unsigned i = 0; i < nd; i++)
		__atomic_fetch_sub(&done[i]->inflight, 1, __ATOMIC_RELEASE);
	return n;
}

const struct mp_stage_type mp_stage_app = {
    .name = "app",
    .id = MP_ST_APP,
    .ctrs = app_ctrs,
    .n_ctrs = RTE_DIM(app_ctrs),
    .poll = app_poll,
};
