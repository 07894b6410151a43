/* Helpers every stage uses: counters, taking a burst from the input rings and
 * handing packets to the next stage with per-flow fan-out. */
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

/* Room in the output rings: the fewest free slots of any ring this instance
 * feeds, since with fan-out a whole burst may go to one ring. */
int mp_out_held(struct mp_stage_inst *si);

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

/* Takes at most max mbufs from the input rings, filling the burst round-robin
 * over them so that no upstream instance is starved, and never more than the
 * output rings can take: a stage that cannot pass packets on leaves them
 * upstream (back-pressure), so packets are dropped at the door (rx, counted
 * as the port's missed packets) rather than after work was spent on them.
 * Counts them in MP_CC_IN. @return the number taken. */
static inline unsigned mp_in_burst(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned max)
{
	unsigned room = mp_out_room(si), got = 0;
	if (room < max)
		max = room;
	for (unsigned k = 0; k < si->n_in && got < max; k++) {
		unsigned i = si->in_next;
		si->in_next = (i + 1 == si->n_in) ? 0 : i + 1;
		got += rte_ring_sc_dequeue_burst(si->in[i], (void **)(b + got), max - got, NULL);
	}
	for (unsigned i = 0; i < got; i++)
		MP_TSAN_ACQUIRE(b[i]); /* from mp_out_send on the upstream lcore */
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
	rte_pktmbuf_free_bulk(b, n);
	mp_ctr_add(si, MP_CC_RING_FULL, n);
}

/* Hands n mbufs to output slot `slot`; with several downstream instances each
 * packet goes to instance hash % n, so all packets of a flow take one ring and
 * keep their order. What a full ring refuses is freed and counted.
 * @return the number enqueued. */
unsigned mp_out_send(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n);

/* Retries held control mbufs. @return 1 while some are still held. */
int mp_out_held(struct mp_stage_inst *si);

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
