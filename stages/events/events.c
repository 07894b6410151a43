/* events: decides, per packet, whether the app stage needs it.
 *
 * Output slot 0 is the app stage, slot 1 the bypass to tx. Without an
 * application (pl->app NULL: the `mospipe` command) everything bypasses.
 *
 * On a flow's first packet here the passive stream sockets of the context
 * that will own the flow (app instance hash % n_app) evaluate their syn
 * filters; if any follows the flow it gets a struct mp_flowapp from the free
 * ring (no allocation per packet) with the union of those sockets' masks,
 * else f->app points to the shared "none" entry. Later packets go to the app
 * stage when
 *   (a) a wanted built-in bit fired: (ev[SND] & mask[SND][sender]) |
 *       (ev[RCV] & mask[RCV][receiver]), or
 *   (b) the flow still has packets in the app stage (inflight): bypassing
 *       would let this one overtake them, or
 *   (c) some raw socket exists (it sees every packet).
 * A flow's MP_CTRL_RETIRE mbuf goes to the app stage when the flow has app
 * state (CONN_END callbacks, release), else straight to tx. Orphans and
 * packets of no flow go to the app stage only when raw sockets or orphan
 * registrations exist.
 *
 * Memory order: mask[] is written by the app lcore and read here with
 * relaxed loads; a stale mask only delays a registration by a packet, and
 * (b) keeps packets in order. inflight: events adds with relaxed order
 * before the enqueue (the ring's release publishes it with the packet), the
 * app subtracts with release after sending the packet on; the acquire load
 * here then sees the packet as gone only after it left the app stage.
 */
#include <rte_ring.h>

#include "app.h"
#include "bpf.h"
#include "evset.h"
#include "passthru.h"
#include "pipeline.h"
#include "stage.h"
#include "tcpsm_app.h"

enum ev_ctr {
	EV_CTR_BASE_ = MP_CC_N - 1,
#define MP_CTR(id, name, help) EV_##id,
#include "events_counters.def"
#undef MP_CTR
};

static const struct mp_ctr_desc ev_ctrs[] = {
#define MP_CTR(id, name, help) {name, help, 0},
#include "events_counters.def"
#undef MP_CTR
};

/* Attaches app state to a flow at its first packet here. */
static struct mp_flowapp *attach(struct mp_stage_inst *si, struct mp_api *a, struct rte_mbuf *m, struct mp_meta *md,
                                 struct tcpsm_flow *f)
{
	unsigned j = mp_dest(si, md, a->n_appi); /* the app instance this packet goes to */
	struct mp_appi *ai = a->appi[j];
	struct mp_ctx *c = ai->ctx;
	uint32_t follow = 0, mask[2][2] = {{0, 0}, {0, 0}};
	uint32_t ctl = 0;
	int buf_on[2] = {0, 0}, n = 0;
	uint32_t want[2] = {0, 0};

	for (unsigned k = 0; k < c->n_psock && n < MP_API_FOLLOW; k++) {
		const struct mp_psock *ps = &c->psock[k];
		if (ps->kind != MP_SK_STREAM || __atomic_load_n(&ps->closed, __ATOMIC_RELAXED))
			continue;
		if (ps->syn_filter && !mp_bpf_match(ps->syn_filter, m))
			continue;
		follow |= 1u << k;
		n++;
		const struct evs_set *s = __atomic_load_n(&ai->pset[k], __ATOMIC_ACQUIRE);
		for (int h = 0; h < 2; h++)
			for (int sd = 0; sd < 2; sd++)
				mask[h][sd] |= evs_set_mask(s, (unsigned)h, (unsigned)sd);
		for (int sd = 0; sd < 2; sd++) {
			if (ps->bufsz[sd] != 0)
				buf_on[sd] = 1;
			if (ps->bufsz[sd] > 0 && (uint32_t)ps->bufsz[sd] > want[sd])
				want[sd] = (uint32_t)ps->bufsz[sd];
			if (ps->overlap[sd] >= 0 && !(ctl & TCPSM_CTL_POLSET(sd)))
				ctl |= TCPSM_CTL_POLSET(sd) | (ps->overlap[sd] ? TCPSM_CTL_POLLAST(sd) : 0);
		}
	}
	if (!follow) {
		tcpsm_app_ctl_clear(f, TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1));
		mp_ctr_add(si, EV_UNFOLLOWED, 1);
		return &a->none;
	}
	struct mp_flowapp *fa;
	if (rte_ring_mc_dequeue(a->fa_free, (void **)&fa) != 0) {
		tcpsm_app_ctl_clear(f, TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1));
		mp_ctr_add(si, EV_NO_FLOWAPP, 1);
		return &a->none;
	}
	fa->flow = f;
	fa->appi = (uint16_t)j;
	fa->n = 0;
	fa->attached = 0;
	fa->dirty = 0;
	fa->follow = follow;
	memcpy(fa->mask, mask, sizeof(mask));
	fa->inflight = 0;
	for (int sd = 0; sd < 2; sd++) {
		fa->want_size[sd] = want[sd];
		if (!buf_on[sd])
			ctl |= TCPSM_CTL_BUFOFF(sd);
		else if (want[sd] && want[sd] != a->conf->buf_size)
			ctl |= TCPSM_CTL_RESIZE(sd);
	}
	if (ctl)
		tcpsm_app_ctl_set(f, ctl);
	mp_ctr_add(si, EV_FLOWS, 1);
	return fa;
}

/* MOS_ON_CONN_NEW_DATA batching (opt-in, MOSPIPE_NEWDATA_BATCH=1): of the
 * packets of one flow and receiving side in a burst, only the last keeps its
 * NEW_DATA bit, so the application peeks all their bytes in one callback
 * (mOS delivered new data per batch too). Callbacks then see the last
 * packet only, and NEW_DATA may come after other events of the earlier
 * packets: hence not the default. */
static void batch_new_data(struct mp_stage_inst *si, struct mp_api *a, struct rte_mbuf **b, unsigned n)
{
	struct {
		const void *fa;
		unsigned rside;
	} seen[256];
	unsigned ns = 0, merged = 0;
	for (unsigned i = n; i-- > 0;) {
		struct mp_meta *md = mp_meta(b[i]);
		const struct tcpsm_flow *f = md->flow;
		if (md->kind != MP_PKT_DATA || !f || !(md->ev[MP_HOOK_RCV] & MOS_ON_CONN_NEW_DATA))
			continue;
		const void *fa = f->app;
		if (!fa || fa == &a->none)
			continue;
		unsigned rs = (md->side & 1u) ^ 1u, k;
		for (k = 0; k < ns; k++)
			if (seen[k].fa == fa && seen[k].rside == rs)
				break;
		if (k < ns) {
			md->ev[MP_HOOK_RCV] &= ~(uint32_t)MOS_ON_CONN_NEW_DATA;
			merged++;
		} else {
			seen[ns].fa = fa;
			seen[ns++].rside = rs;
		}
	}
	if (merged)
		mp_ctr_add(si, EV_BATCHED, merged);
}

static unsigned events_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct mp_api *a = pl->app;
	struct rte_mbuf *b[256], *to_app[256], *to_tx[256];
	struct mp_flowapp *cnt[256];
	unsigned n, na = 0, nt = 0, nc = 0;

	if (!a || !a->started) {
		n = mp_in_burst(si, b, pl->conf->burst);
		if (n) {
			mp_ctr_add(si, EV_BYPASSED, n);
			mp_out_send(si, 1, b, n);
		}
		return n;
	}
	n = mp_in_burst(si, b, pl->conf->burst);
	if (a->batch_newdata && n > 1)
		batch_new_data(si, a, b, n);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		struct mp_meta *md = mp_meta(m);
		struct tcpsm_flow *f = md->flow;
		int app = 0;

		if (i + 1 < n)
			rte_prefetch0(mp_meta(b[i + 1]));
		if (!f) {
			app = md->kind == MP_PKT_DATA && (a->any_raw || a->any_orphan);
		} else if (md->kind == MP_PKT_CTRL) {
			/* The flow's last mbuf follows the flow's path. */
			app = f->app && f->app != &a->none;
		} else {
			struct mp_flowapp *fa = f->app;
			if (!fa)
				f->app = fa = attach(si, a, m, md, f);
			if (fa != &a->none) {
				unsigned s = md->side & 1;
				uint32_t want =
				    (md->ev[MP_HOOK_SND] & __atomic_load_n(&fa->mask[0][s], __ATOMIC_RELAXED)) |
				    (md->ev[MP_HOOK_RCV] & __atomic_load_n(&fa->mask[1][s ^ 1], __ATOMIC_RELAXED));
				if (want || a->any_raw || __atomic_load_n(&fa->inflight, __ATOMIC_ACQUIRE)) {
					__atomic_fetch_add(&fa->inflight, 1, __ATOMIC_RELAXED);
					cnt[nc++] = fa;
					app = 1;
				}
			} else {
				app = a->any_raw;
			}
		}
		if (app)
			to_app[na++] = m;
		else
			to_tx[nt++] = m;
	}
	(void)cnt;
	if (na) {
		mp_ctr_add(si, EV_TO_APP, na);
		mp_out_send(si, 0, to_app, na);
	}
	if (nt) {
		mp_ctr_add(si, EV_BYPASSED, nt);
		mp_out_send(si, 1, to_tx, nt);
	}
	return n;
}

const struct mp_stage_type mp_stage_events = {
    .name = "events",
    .id = MP_ST_EVENTS,
    .ctrs = ev_ctrs,
    .n_ctrs = RTE_DIM(ev_ctrs),
    .poll = events_poll,
};
