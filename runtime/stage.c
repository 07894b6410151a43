/* Hand-off between stage instances: sending a burst to the next stage's
 * rings (fanned out by flow hash or by instance index), what a full ring
 * refused (packets freed and counted, control mbufs held back and retried
 * first, so that a flow's end never overtakes its packets), the retry of
 * what is held, handing control mbufs back on the feedback edge, and the
 * end of a stage's input. The inline helpers every stage's poll uses
 * (mp_in_burst, mp_out_room, mp_dest, mp_fb_take, counters) are in stage.h;
 * these are the parts too big to inline.
 *
 * Threading: everything here runs on the lcore of the instance it is given
 * (the only producer of its output rings and the only writer of its hold).
 */
#include <string.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "stage.h"
#include "tsan.h"

/* Retries held control mbufs in order. @return 1 when the hold is empty. */
static int flush_hold(struct mp_stage_inst *si, unsigned slot)
{
	struct mp_out *o = &si->out[slot];
	unsigned k = 0, n = si->n_hold[slot];
	while (k < n) {
		struct rte_mbuf *m = si->hold[slot][k];
		struct rte_ring *r = o->r[mp_dest(si, mp_meta(m), o->n)];
		/* tsan.h: the release comes after the last read of m here. */
		MP_TSAN_RELEASE(m);
		if (rte_ring_sp_enqueue(r, m) != 0)
			break;
		k++;
	}
	if (k) {
		memmove(si->hold[slot], si->hold[slot] + k, (n - k) * sizeof(si->hold[slot][0]));
		si->n_hold[slot] = n - k;
	}
	return si->n_hold[slot] == 0;
}

int mp_out_held(struct mp_stage_inst *si)
{
	int left = 0;
	for (unsigned s = 0; s < MP_MAX_OUT; s++)
		if (si->n_hold[s] && !flush_hold(si, s))
			left = 1;
	return left;
}

/* Refused mbufs: packets are freed and counted; control mbufs are held. */
static void refuse(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n)
{
	unsigned dropped = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mp_meta(b[i])->kind == MP_PKT_CTRL) {
			if (si->n_hold[slot] < MP_HOLD) {
				si->hold[slot][si->n_hold[slot]++] = b[i];
				continue;
			}
			mp_ctr_add(si, MP_CC_CTRL_LOST, 1);
			rte_pktmbuf_free(b[i]);
			continue;
		}
		b[dropped++] = b[i];
	}
	if (dropped)
		mp_refused(si, b, dropped);
}

/* Packets of one call grouped by destination: at most this many per group.
 * mp_out_send cuts a longer burst into parts of this size, in order, so a
 * flow's packets still reach their ring in order (tcpsm hands on up to 512
 * mbufs at once: a burst and the control mbufs it raised). */
#define MP_OUT_GROUP 256

static unsigned send_some(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n)
{
	struct mp_out *o = &si->out[slot];
	unsigned sent;

	if (unlikely(si->n_hold[slot]) && !flush_hold(si, slot)) {
		/* Keep control mbufs ahead of what follows them. */
		refuse(si, slot, b, n);
		return 0;
	}
	if (n == 0)
		return 0;
	/* MP_TSAN_RELEASE: to the stage that dequeues it (tsan.h), after the
	 * last read of its metadata here (what a full ring refuses was never
	 * handed over). */
	if (o->n == 1 || si->fanout_index) {
		for (unsigned i = 0; i < n; i++)
			MP_TSAN_RELEASE(b[i]);
		sent = rte_ring_sp_enqueue_burst(o->r[o->n == 1 ? 0 : si->idx % o->n], (void **)b, n, NULL);
		if (unlikely(sent < n))
			refuse(si, slot, b + sent, n - sent);
	} else {
		/* Group by destination, keeping each group's packet order. */
		struct rte_mbuf *grp[MP_MAX_INST][MP_OUT_GROUP];
		RTE_ASSERT(n <= MP_OUT_GROUP);
		unsigned cnt[MP_MAX_INST] = {0};
		for (unsigned i = 0; i < n; i++) {
			unsigned d = mp_dest(si, mp_meta(b[i]), o->n);
			grp[d][cnt[d]++] = b[i];
		}
		for (unsigned i = 0; i < n; i++)
			MP_TSAN_RELEASE(b[i]);
		sent = 0;
		for (unsigned d = 0; d < o->n; d++) {
			if (!cnt[d])
				continue;
			unsigned k = rte_ring_sp_enqueue_burst(o->r[d], (void **)grp[d], cnt[d], NULL);
			if (unlikely(k < cnt[d]))
				refuse(si, slot, grp[d] + k, cnt[d] - k);
			sent += k;
		}
	}
	mp_ctr_add(si, MP_CC_OUT, sent);
	return sent;
}

unsigned mp_out_send(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n)
{
	unsigned sent = 0;
	/* Part by part, in order: a part that finds control mbufs still held
	 * (a full ring) is refused whole, so nothing overtakes them. */
	while (n > MP_OUT_GROUP) {
		sent += send_some(si, slot, b, MP_OUT_GROUP);
		b += MP_OUT_GROUP;
		n -= MP_OUT_GROUP;
	}
	return sent + send_some(si, slot, b, n);
}

unsigned mp_fb_send(struct mp_stage_inst *si, struct rte_mbuf **b, unsigned n)
{
	struct mp_out *o = &si->fb;
	unsigned sent = 0;
	for (unsigned i = 0; i < n; i++) {
		/* One at a time: a flow hands back one or two mbufs in its life. */
		struct rte_ring *r = likely(o->n) ? o->r[mp_dest(si, mp_meta(b[i]), o->n)] : NULL;
		MP_TSAN_RELEASE(b[i]); /* to the owner's mp_fb_take (tsan.h), after the last read here */
		if (likely(r) && rte_ring_sp_enqueue(r, b[i]) == 0) {
			sent++;
			continue;
		}
		rte_pktmbuf_free(b[i]);
		mp_ctr_add(si, MP_CC_CTRL_LOST, 1);
	}
	return sent;
}

void mp_stage_input_ended(struct mp_stage_inst *si)
{
	/* Read by try_finish (pipeline.c) on this same lcore. */
	si->draining = 1;
}
