/* tcpsm timers on packet time. A flow sits on one of four lists (half-open,
 * established, closed, unconfirmed mid-stream); every list has one timeout, and a flow moves to the
 * tail when the time its deadline counts from changes, so each list stays
 * ordered by deadline and expiry only pops heads: O(1) per packet and per
 * expired flow, no per-flow timer objects. Expiry runs once per burst with
 * the newest packet time (tcpsm_expire). Packet times that go backwards
 * (several inputs) only delay an expiry by that skew. A packet of a flow
 * whose deadline has passed at that packet's time ends the flow first
 * (tcpsm_flow_expired), so the result does not depend on where burst
 * boundaries fall: a straggler 16 s after an RST, or a packet after the
 * idle timeout, starts a new flow even when it arrives in the same burst.
 * The lists themselves belong to the flow table (tcpsm_list_set); this layer
 * only reads their heads and ends flows through it. */
#include "tcpsm-int.h"

static uint64_t list_timeout(const struct tcpsm_inst *ti, unsigned l)
{
	switch (l) {
	case TCPSM_L_HALF: return ti->p.syn_ns;
	case TCPSM_L_EST:
	case TCPSM_L_UNCONF: return ti->p.idle_ns;
	default: return ti->p.tw_ns;
	}
}

int tcpsm_flow_expired(const struct tcpsm_inst *ti, const struct tcpsm_flow *f, uint64_t ts)
{
	return f->list < TCPSM_L_N && f->list_ts + list_timeout(ti, f->list) <= ts;
}

void tcpsm_flow_expire(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	tcpsm_flow_end(ti, f, f->list == TCPSM_L_CLOSED ? f->end : TCPSM_END_TIMEOUT);
}

unsigned tcpsm_expire(struct tcpsm_inst *ti, uint64_t now_ns, unsigned max)
{
	unsigned n = 0;
	if (now_ns > ti->now_ns)
		ti->now_ns = now_ns;
	for (unsigned l = 0; l < TCPSM_L_N; l++) {
		uint64_t to = list_timeout(ti, l);
		struct tcpsm_flow *f;
		while (n < max && (f = TAILQ_FIRST(&ti->lists[l])) && f->list_ts + to <= now_ns) {
			tcpsm_flow_expire(ti, f);
			n++;
		}
	}
	return n;
}

unsigned tcpsm_end_all(struct tcpsm_inst *ti, unsigned max)
{
	unsigned n = 0;
	/* Closed flows first: they ended earlier. */
	static const unsigned order[TCPSM_L_N] = {TCPSM_L_CLOSED, TCPSM_L_HALF, TCPSM_L_UNCONF, TCPSM_L_EST};
	for (unsigned k = 0; k < TCPSM_L_N; k++) {
		unsigned l = order[k];
		struct tcpsm_flow *f;
		while (n < max && (f = TAILQ_FIRST(&ti->lists[l]))) {
			tcpsm_flow_end(ti, f, l == TCPSM_L_CLOSED ? f->end : TCPSM_END_OPEN);
			n++;
		}
	}
	return n;
}
