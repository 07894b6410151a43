/* events: decides, per packet, whether the app stage needs it.
 *
 * Output slot 0 is the app stage, slot 1 the bypass to tx. Without an
 * application (pl->app NULL: the `mospipe` command) everything bypasses.
 *
 * On a flow's first packet here, events asks the app stage which sockets of
 * the context that will own the flow (app instance mp_dest(.., n_app))
 * follow it (mp_app_flow_start: their syn filters) and writes what they
 * asked for into the flow's control word (tcpsm.h). Later packets go to the
 * app stage when
 *   (a) a wanted built-in bit fired (mp_app_flow_want: the app's masks), or
 *   (b) the flow still has packets in the app stage (in flight, below):
 *       bypassing would let this one overtake them, or
 *   (c) some raw socket exists (it sees every packet).
 * A flow's control mbufs follow the flow's path: to the app stage when
 * sockets follow the flow, else straight to tx. MP_CTRL_ENDED (no event
 * bits) comes right behind the packet that raised CONN_END, so it reaches
 * tx, which hands it back to tcpsm, only after the app has handled that
 * packet; MP_CTRL_RETIRE (CONN_END callbacks, release) is the flow's last
 * mbuf, so the instance's entry for the slot is cleared as it passes.
 * Orphans and packets of no flow go to the app stage only when raw sockets
 * or orphan registrations exist. Where a burst's bypassed packets take time
 * past an app instance's earliest timer, that instance gets an MP_CTRL_TIME
 * mbuf after the burst's packets for it (time_marks): timers fire in packet
 * time however few packets the app stage gets.
 *
 * State: struct ev_priv (si->priv, made by events_init, freed by
 * events_fini), with a table of struct ev_flow by flow slot
 * (mp_meta.flow_idx): every slot of every tcpsm instance, since any of them
 * may send this instance a flow; a flow's packets all reach one events
 * instance, which alone reads and writes its entry.
 *
 * In flight = sent - done, two single-writer counters: `sent` here (the
 * packets of the flow this instance sent to the app stage; plain, only
 * this lcore touches it) and `done` in the app's entry (packets the app
 * stage has passed on, stored with release after they left it). events
 * loads done with acquire (mp_app_flow_done): equal counts mean every packet
 * sent to the app has left it, so one sent to tx now cannot overtake any.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "pipeline.h"
#include "stage.h"
#include "tcpsm.h"

#define MP_CTR_STAGE ev
#define MP_CTR_PREFIX EV_
#define MP_CTR_DEF "events_counters.def"
#include "counters-gen.h"

struct ev_flow {
	uint32_t sent; /* packets of the flow sent to the app stage */
	uint8_t state; /* enum ev_flow_state */
	uint8_t ended; /* a packet or control mbuf of it carried CONN_END */
	uint8_t pad_[2];
};

enum ev_flow_state {
	EVF_UNSEEN = 0, /* no packet of the slot's flow seen yet */
	EVF_NONE,       /* no socket follows the flow */
	EVF_FOLLOW,     /* some socket follows it (app state by slot) */
};

struct ev_priv {
	struct mp_api *a; /* pl->app, NULL without an application */
	uint32_t n_slots;
	struct ev_flow *fl; /* [n_slots] */
	/* Per app instance: the deadline (mp_app_due) an MP_CTRL_TIME mbuf
	 * was last sent for, so that one is sent per deadline. */
	uint64_t marked[MP_MAX_INST];
};

/* Packet time for the app's timers, once per burst: first and last are the
 * times of the burst's first and last bypassed packets. Each app instance
 * this one reaches whose earliest timer is due by last and has not had a
 * mark for that deadline gets an MP_CTRL_TIME mbuf at last (at first when it
 * has no time yet, deadline 0: timers set at setup count from the first
 * packet), after the burst's packets for the app: behind
 * everything sent to it before, so the timer fires after their events (those
 * of them later than the deadline move the app's time on themselves, and
 * fire it before their events; the mark then finds nothing due). The
 * deadline read is the app lcore's, which moves on only once it took the
 * mark. Without an mbuf, the next burst tries again. */
static void time_marks(struct mp_stage_inst *si, struct ev_priv *ep, const struct mp_app_route *rt, uint64_t first,
                       uint64_t last, struct rte_mbuf **to_app, unsigned *na)
{
	unsigned j0 = 0, j1 = rt->n_appi;
	if (si->fanout_index) { /* a lane: the one app instance it feeds */
		j0 = si->idx % rt->n_appi;
		j1 = j0 + 1;
	}
	for (unsigned j = j0; j < j1; j++) {
		uint64_t due = mp_app_due(ep->a, j);
		if (due == UINT64_MAX || due > last || due == ep->marked[j])
			continue;
		struct rte_mbuf *m = rte_pktmbuf_alloc(si->pl->pool);
		if (!m) {
			mp_ctr_add(si, EV_TIME_NOMBUF, 1);
			continue;
		}
		struct mp_meta *md = mp_meta(m);
		mp_meta_reset(md);
		md->kind = MP_PKT_CTRL;
		md->ctrl.type = MP_CTRL_TIME;
		md->ts_ns = due ? last : first;
		md->hash = j; /* mp_dest(.., n_appi) == j */
		to_app[(*na)++] = m;
		ep->marked[j] = due;
		mp_ctr_add(si, EV_TIME_MARKS, 1);
	}
}

/* The flow's first packet here: asks the app who follows it and passes the
 * answer to tcpsm through the flow's control word. */
static uint8_t flow_start(struct mp_stage_inst *si, struct mp_api *a, const struct mp_app_route *rt, struct rte_mbuf *m,
                          struct mp_meta *md)
{
	struct mp_app_follow fw;
	unsigned j = mp_dest(si, md, rt->n_appi); /* the app instance this packet goes to */
	int follow = mp_app_flow_start(a, j, md->flow_idx, m, &fw);
	for (unsigned sd = 0; sd < 2; sd++)
		if (fw.want[sd])
			tcpsm_flow_want_size(md->flow, sd, fw.want[sd]);
	if (fw.ctl_clear)
		tcpsm_flow_ctl_clear(md->flow, fw.ctl_clear);
	if (fw.ctl_set)
		tcpsm_flow_ctl_set(md->flow, fw.ctl_set); /* release: after the sizes */
	mp_ctr_add(si, follow ? EV_FLOWS : EV_UNFOLLOWED, 1);
	return follow ? EVF_FOLLOW : EVF_NONE;
}

/* MOS_ON_CONN_NEW_DATA batching (opt-in, MOSPIPE_NEWDATA_BATCH=1): of the
 * packets of one flow and receiving side in a burst, only the last keeps its
 * NEW_DATA bit, so the application peeks all their bytes in one callback
 * (mOS delivered new data per batch too). Callbacks then see the last
 * packet only, and NEW_DATA may come after other events of the earlier
 * packets: hence not the default. Flows not yet seen here are left alone
 * (their first packet decides who follows them). */
static void batch_new_data(struct mp_stage_inst *si, const struct ev_priv *ep, struct rte_mbuf **b, unsigned n)
{
	struct {
		uint32_t slot;
		unsigned rside;
	} seen[256];
	unsigned ns = 0, merged = 0;
	for (unsigned i = n; i-- > 0;) {
		struct mp_meta *md = mp_meta(b[i]);
		if (md->kind != MP_PKT_DATA || !md->flow || !(md->ev[MP_HOOK_RCV] & MP_ON_CONN_NEW_DATA))
			continue;
		if (ep->fl[md->flow_idx].state != EVF_FOLLOW)
			continue;
		unsigned rs = (md->side & 1u) ^ 1u, k;
		for (k = 0; k < ns; k++)
			if (seen[k].slot == md->flow_idx && seen[k].rside == rs)
				break;
		if (k < ns) {
			md->ev[MP_HOOK_RCV] &= ~(uint32_t)MP_ON_CONN_NEW_DATA;
			merged++;
		} else {
			seen[ns].slot = md->flow_idx;
			seen[ns++].rside = rs;
		}
	}
	if (merged)
		mp_ctr_add(si, EV_BATCHED, merged);
}

static unsigned events_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct ev_priv *ep = si->priv;
	struct mp_api *a = ep->a;
	struct mp_app_route rt;
	struct rte_mbuf *b[256], *to_app[256 + MP_MAX_INST], *to_tx[256];
	unsigned n, na = 0, nt = 0;
	uint64_t bypass_first = 0, bypass_last = 0; /* times of the burst's bypassed packets */

	if (!mp_app_route(a, &rt)) {
		n = mp_in_burst(si, b, pl->conf->burst);
		if (n) {
			mp_ctr_add(si, EV_BYPASSED, n);
			mp_out_send(si, 1, b, n);
		}
		return n;
	}
	n = mp_in_burst(si, b, pl->conf->burst);
	if (rt.batch_newdata && n > 1)
		batch_new_data(si, ep, b, n);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		struct mp_meta *md = mp_meta(m);
		int app = 0;
		/* This packet (or control mbuf) carries the flow's CONN_END. */
		int end_now = ((md->ev[0] | md->ev[1]) & MP_ON_CONN_END) != 0;

		if (i + 1 < n)
			rte_prefetch0(mp_meta(b[i + 1]));
		if (!md->flow) {
			app = md->kind == MP_PKT_DATA && (rt.any_raw || rt.any_orphan);
		} else if (md->kind == MP_PKT_CTRL) {
			/* ENDED and RETIRE follow the flow's path (behind its
			 * packets in the app stage, when it has one). */
			struct ev_flow *ef = &ep->fl[md->flow_idx];
			app = ef->state == EVF_FOLLOW;
			if (end_now)
				ef->ended = 1;
			if (md->ctrl.type == MP_CTRL_RETIRE) {
				ef->state = EVF_UNSEEN;
				ef->sent = 0;
				ef->ended = 0;
			}
		} else {
			struct ev_flow *ef = &ep->fl[md->flow_idx];
			if (ef->state == EVF_UNSEEN)
				ef->state = flow_start(si, a, &rt, m, md);
			if (ef->state == EVF_FOLLOW) {
				/* With MOS_ON_ORPHAN registered, the packet that ends a
				 * followed flow goes to the app (which then holds the
				 * flow gone) and so does every one after it: orphans
				 * there (app.c, dispatch_raw). Before it the flow's
				 * packets are no orphans, and bypass as usual. */
				if (mp_app_flow_want(a, md->flow_idx, md) || rt.any_raw ||
				    (rt.any_orphan && (ef->ended || end_now)) ||
				    ef->sent != mp_app_flow_done(a, md->flow_idx)) {
					ef->sent++;
					app = 1;
				} else {
					/* Bypass: no packet of the flow is in the app stage
					 * (done acquired above) and this one has no callback,
					 * so the readers are past its window starts. */
					tcpsm_flow_release(md->flow, md);
				}
				ef->ended |= (uint8_t)end_now;
			} else {
				app = rt.any_raw;
			}
		}
		if (app) {
			to_app[na++] = m;
		} else {
			to_tx[nt] = m;
			if (!nt++)
				bypass_first = md->ts_ns;
			bypass_last = md->ts_ns;
		}
	}
	if (nt)
		time_marks(si, ep, &rt, bypass_first, bypass_last, to_app, &na);
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

static int events_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct ev_priv *ep = calloc(1, sizeof(*ep));
	if (!ep) {
		fprintf(stderr, "mospipe: events.%u: no memory for its state\n", si->idx);
		return -ENOMEM;
	}
	si->priv = ep;
	ep->a = pl->app;
	for (unsigned j = 0; j < MP_MAX_INST; j++)
		ep->marked[j] = UINT64_MAX;
	if (!ep->a)
		return 0; /* no application: everything bypasses, no per-flow state */
	uint64_t n = (uint64_t)tcpsm_flow_slots(pl->conf) * pl->n_inst[MP_ST_TCPSM];
	ep->fl = n ? calloc(n, sizeof(*ep->fl)) : NULL;
	if (n && !ep->fl) {
		fprintf(stderr,
		        "mospipe: events.%u: no memory for the state of %" PRIu64 " flow slots (%" PRIu64
		        " MiB): lower [tcp] flows\n",
		        si->idx, n, n * sizeof(*ep->fl) >> 20);
		return -ENOMEM;
	}
	ep->n_slots = (uint32_t)n;
	return 0;
}

static void events_fini(struct mp_stage_inst *si)
{
	struct ev_priv *ep = si->priv;
	if (!ep)
		return;
	free(ep->fl);
	free(ep);
	si->priv = NULL;
}

const struct mp_stage_type mp_stage_events = {
    .id = MP_ST_EVENTS,
    .ctrs = ev_ctrs,
    .n_ctrs = RTE_DIM(ev_ctrs),
    .init = events_init,
    .poll = events_poll,
    .fini = events_fini,
};
