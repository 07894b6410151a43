/* mospipe's extensions to the mOS API (include/mospipe_ext.h): access to the
 * pipeline and its RCU connection table (a pipeline service) for monitoring
 * tools, a snapshot of the flow behind a callback's socket, and the offline
 * packet-time gate and input time, which are rx's state (asked through
 * stages/rx/rx.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>

#include "app.h"
#include "conntable.h"
#include "mospipe_ext.h"
#include "pipeline.h"
#include "rx.h"
#include "stage.h"
#include "tcpsm.h"

struct mp_pipeline *mospipe_pipeline(void)
{
	if (!mp_api_cur) {
		errno = EPERM;
		return NULL;
	}
	return mp_api_cur->pl;
}

struct mp_conntable *mospipe_conntable(void)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	if (pl && !pl->conntable)
		errno = ENOENT;
	return pl ? pl->conntable : NULL;
}

int mospipe_flow_snap(mctx_t mctx, int sock, struct mp_conn_snap *out, const char **end, uint64_t missed[2],
                      uint64_t rexmit_bytes[2])
{
	struct mp_appi *ai = mp_api_tl;
	(void)mctx;
	if (!ai || !out) {
		errno = EPERM;
		return -1;
	}
	if (!mp_api_active(ai, sock))
		return -1;
	const struct tcpsm_flow *f = mp_api_cur_flow(ai);
	if (!f) {
		errno = EBADF;
		return -1;
	}
	tcpsm_flow_snap(f, out);
	if (end) {
		unsigned why = tcpsm_flow_end_reason(f);
		*end = why != TCPSM_END_NONE ? tcpsm_end_name(why) : NULL;
	}
	for (unsigned s = 0; s < 2; s++) {
		if (missed)
			missed[s] = tcpsm_flow_missed(f, s);
		if (rexmit_bytes)
			rexmit_bytes[s] = tcpsm_flow_rexmit_bytes(f, s);
	}
	return 0;
}

int mospipe_gate(uint64_t ns)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	if (!pl)
		return -1;
	/* Release (rx.h): whatever the caller read before moving the gate
	 * happened before rx delivers the packets it now lets through. */
	rx_gate_set(pl, ns);
	return 0;
}

uint64_t mospipe_gate_next(void)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	return pl ? rx_gate_next(pl) : 0;
}

uint64_t mospipe_time(void)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	return pl ? rx_time(pl) : 0;
}

int mospipe_finished(void)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	if (!pl)
		return 0;
	for (unsigned i = 0; i < pl->n_inst[MP_ST_TX]; i++)
		if (!__atomic_load_n(&pl->inst[MP_ST_TX][i]->done, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

/* Nothing in any ring or hold, every packet received has left, and every rx
 * instance waits at the gate (or has ended its input). The feedback rings
 * are not looked at: they carry no packet, only flows' control mbufs on
 * their way back to tcpsm, and after tcpsm finished they stay there until
 * its fini. */
static int quiet_once(struct mp_pipeline *pl)
{
	if (!rx_gate_waiting(pl))
		return 0;
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			const struct mp_stage_inst *si = pl->inst[s][i];
			for (unsigned k = 0; k < si->n_in; k++)
				if (!rte_ring_empty(si->in[k]))
					return 0;
			for (unsigned k = 0; k < MP_MAX_OUT; k++)
				if (__atomic_load_n(&si->n_hold[k], __ATOMIC_RELAXED))
					return 0;
		}
	struct mp_totals t;
	mp_totals(pl, &t);
	return t.rx + t.injected == t.tx + t.drops + rx_gate_held(pl);
}

int mospipe_quiet(void)
{
	struct mp_pipeline *pl = mospipe_pipeline();
	if (!pl || !quiet_once(pl))
		return 0;
	/* A stage may hold a burst it has taken but not yet passed on (a control
	 * mbuf is not in the totals): look again once every lcore has made a
	 * whole pass over its instances since (a fixed 1 ms sleep here cost
	 * midstat -r 1.2 ms per table interval: 20 ms of samples/sample.pcap's
	 * 0.21 s). */
	mp_lcores_pass(pl);
	return quiet_once(pl);
}
