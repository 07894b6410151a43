/* Helpers every stage uses: counters, taking a burst from the input rings and
 * handing packets to the next stage with per-flow fan-out, the feedback edge
 * (handing control mbufs back to the flow's owner, taking them back), and
 * telling the runtime that a stage's input ended. The inline ones are here;
 * mp_out_send, mp_out_held, mp_fb_send and mp_stage_input_ended are in
 * stage.c. */
#ifndef MP_STAGE_H
#define MP_STAGE_H

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "conf-types.h"
#include "meta.h"
#include "pipeline-types.h"
#include "stage-types.h"
#include "tsan.h"

/* Counters have a single writer (the lcore running the instance) and are read
 * concurrently by report/telemetry threads: relaxed atomics are enough since a
 * reader only needs an untorn, eventually-current value of each counter. */
static inline void mp_ctr_add(struct mp_stage_inst *si, unsigned id, uint64_t n)
{
	uint64_t *p = &si->ctr[id];
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t mp_ctr_get(const struct mp_stage_inst *si, unsigned id)
{
	return __atomic_load_n(&si->ctr[id], __ATOMIC_RELAXED);
}

/* Retries the control mbufs a full ring refused earlier (held, in order).
 * @return 1 while some are still held. */
int mp_out_held(struct mp_stage_inst *si);

/* Room in the output rings: the fewest free slots of any ring this instance
 * feeds, since with fan-out a whole burst may go to one ring. */
static inline unsigned mp_out_room(struct mp_stage_inst *si)
{
	unsigned room = UINT32_MAX;
	/* Held control mbufs go first: until they are out, there is no room,
	 * so the stage takes no input rather than drop packets behind them. */
	if (unlikely(si->n_hold[0] | si->n_hold[1]) && mp_out_held(si))
		return 0;
	for (unsigned s = 0; s < MP_MAX_OUT; s++)
		for (unsigned i = 0; i < si->out[s].n; i++) {
			unsigned f = rte_ring_free_count(si->out[s].r[i]);
			if (f < room)
				room = f;
		}
	return room;
}

/* Every poll's burst array holds this many mbufs (the largest [pipeline]
 * burst): mp_in_burst may return up to this many. */
#define MP_BURST_CAP 256

/* Dequeues into b[got..max) round-robin over the input rings, so that no
 * upstream instance is starved. @return the new count. */
static inline unsigned mp_in_take(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned got, unsigned max)
{
	for (unsigned k = 0; k < si->n_in && got < max; k++) {
		unsigned i = si->in_next;
		si->in_next = (i + 1 == si->n_in) ? 0 : i + 1;
		got += rte_ring_sc_dequeue_burst(si->in[i], (void **)(b + got), max - got, NULL);
	}
	return got;
}

/* @return 1 when an input ring holds something. */
static inline int mp_in_waiting(const struct mp_stage_inst *si)
{
	for (unsigned k = 0; k < si->n_in; k++)
		if (!rte_ring_empty(si->in[k]))
			return 1;
	return 0;
}

/* Takes at most max packets from the input rings, filling the burst
 * round-robin over them, and never more than the output rings can take:
 * a stage that cannot pass packets on leaves them upstream (back-pressure),
 * so packets are dropped at the door (rx, counted as the port's missed
 * packets) rather than after work was spent on them.
 *
 * Control mbufs come on top: max counts packets, and when a full burst
 * held control mbufs and more is waiting, more mbufs are taken until max
 * packets are in (b holds MP_BURST_CAP). tcpsm sends
 * them on top of the packets of its burst (MP_CTRL_ENDED, MP_CTRL_RETIRE);
 * if the stages after it took a burst per poll, what it added would stay
 * in their rings, which then never empty on one lcore, and every packet
 * would wait there until it is cold (measured: 1.5x the run time of a
 * reassembling app, every stage at 1.5-2.9x its cycles per packet). The
 * kinds are looked at only when more is waiting: a stage that passes
 * packets on untouched (events without an application) reads no metadata
 * while its rings keep up.
 *
 * Counts what it took in MP_CC_IN. @return the number taken. */
static inline unsigned mp_in_burst(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned max)
{
	unsigned room = mp_out_room(si), got;
	if (room < max)
		max = room;
	got = mp_in_take(si, b, 0, max);
	for (unsigned i = 0; i < got; i++)
		MP_TSAN_ACQUIRE(b[i]); /* from mp_out_send on the upstream lcore */
	if (unlikely(got == max) && got && mp_in_waiting(si)) {
		/* Control mbufs do not count against max: take more until max
		 * packets are in, nothing is left, or the array or the room
		 * downstream is full. */
		unsigned lim = RTE_MIN((unsigned)MP_BURST_CAP, room), pkts = 0, seen = 0;
		while (got < lim) {
			for (; seen < got; seen++)
				pkts += mp_meta(b[seen])->kind != MP_PKT_CTRL;
			if (pkts >= max)
				break;
			unsigned more = mp_in_take(si, b, got, RTE_MIN(got + (max - pkts), lim));
			if (more == got)
				break;
			for (unsigned i = got; i < more; i++)
				MP_TSAN_ACQUIRE(b[i]);
			got = more;
		}
	}
	if (got)
		mp_ctr_add(si, MP_CC_IN, got);
	return got;
}

/* The downstream instance (of n) a packet goes to: by flow hash, so that all
 * packets of a flow meet in one instance whatever instance they come from;
 * or, with [pipeline] fanout = index, the instance of the same number
 * (replicated pipelines over inputs that already keep each flow on one rx
 * instance). Stages that pick an instance themselves (events choosing the
 * app instance that owns a flow) use it too. */
static inline unsigned mp_dest(const struct mp_stage_inst *si, const struct mp_meta *md, unsigned n)
{
	return si->fanout_index ? si->idx % n : md->hash % n;
}

/* Frees what a ring refused and counts it under ring_full. */
static inline void mp_refused(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned n)
{
	/* One by one: a rebuilt datagram takes the fragments it holds along
	 * (mp_pkt_free), and they count too, so that conservation holds. */
	unsigned freed = 0;
	for (unsigned i = 0; i < n; i++)
		freed += mp_pkt_free(b[i]);
	mp_ctr_add(si, MP_CC_RING_FULL, freed);
}

/* Hands n mbufs (any n) to output slot `slot`; with several downstream
 * instances each packet goes to instance mp_dest(), so all packets of a flow
 * take one ring and keep their order. What a full ring refuses is freed and
 * counted (packets) or held (control mbufs). @return the number enqueued. */
unsigned mp_out_send(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n);

/* Hands n control mbufs back on the instance's feedback edge (tx -> tcpsm),
 * each to the instance that owns its flow: mp_dest() over the instances the
 * edge reaches, the rule that brought the flow's packets to that owner. The
 * rings are sized so that they never refuse (pipeline.c, rings_create); if
 * one ever did, the mbuf is freed and counted under ctrl_lost.
 * @return the number handed back. */
unsigned mp_fb_send(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned n);

/* Takes at most max mbufs handed back to this instance on its feedback
 * input, round-robin over the rings. Not counted in MP_CC_IN (feedback is
 * not input: the stage counts what it takes back by kind). @return the
 * number taken. */
static inline unsigned mp_fb_take(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned max)
{
	unsigned got = 0;
	for (unsigned k = 0; k < si->n_fb_in && got < max; k++) {
		unsigned i = si->fb_next;
		si->fb_next = (i + 1 == si->n_fb_in) ? 0 : i + 1;
		got += rte_ring_sc_dequeue_burst(si->fb_in[i], (void **)(b + got), max - got, NULL);
	}
	for (unsigned i = 0; i < got; i++)
		MP_TSAN_ACQUIRE(b[i]); /* from mp_fb_send on the lcore that handed it back */
	return got;
}

/* For a stage with no upstream (rx): its input has ended, or it was told
 * to stop, and it will send nothing more. The runtime then treats the
 * instance as finished (stage-types.h, poll; runtime/README.md, the shutdown
 * protocol). Idempotent; on the instance's lcore. */
void mp_stage_input_ended(struct mp_stage_inst *si);

/* Frees a packet on purpose and counts it under the stage's drop counter id. */
static inline void mp_drop(struct mp_stage_inst *si, unsigned id, struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
	mp_ctr_add(si, id, 1);
}

/* Packet time of a live packet, from the TSC. */
static inline uint64_t mp_live_ns(const struct mp_pipeline *pl, uint64_t tsc)
{
	return pl->base_ns + (uint64_t)((double)(tsc - pl->base_tsc) * 1e9 / (double)pl->tsc_hz);
}

#endif
