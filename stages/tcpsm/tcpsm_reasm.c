/* tcpsm reassembly glue: each side's byte stream goes into a struct reasm
 * (reasm.h) taken lazily from a per-instance array when its first payload
 * arrives; the chunk pool behind them is capped by conf tcp.buf_pool.
 * f->s[x].buf holds the bytes side x *receives* (mOS: MOS_SIDE_CLI's buffer
 * is what the client reads). Everything here runs on the instance's thread:
 * buffers are released when tx has retired the flow and tcpsm has taken it
 * back (tcpsm.c), never by another thread. Flow-log numbers do not depend on
 * buffers (tcpsm_sm.c tracks sequence space itself), so buffers may be off.
 * Also here: the check of the pool against the flow table (a pool that
 * cannot give every side a chunk is refused), what a dry pool reclaims and
 * from whom (README.md, "Reassembly memory"), the control word's requests
 * applied to a side's buffer (the state machine decides when, tcpsm_sm.c)
 * and freeing a flow with its buffers. Below: the flow table (reclaim and
 * buffer queues, pool) and reasm.c.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta-types.h"

#include "reasm.h"
#include "tcpsm-int.h"

void tcpsm_reasm_apply(struct tcpsm_flow *f, uint32_t ctl, unsigned s)
{
	struct reasm *r = f->s[s].buf;
	if (!r)
		return;
	int off = (ctl & (TCPSM_CTL_STOP(s) | TCPSM_CTL_BUFOFF(s))) != 0;
	int reader = (ctl & TCPSM_CTL_READER(s)) && !off;
	if (r->reader != reader) {
		reasm_set_reader(r, reader);
		f->edge_dirty |= (uint8_t)(1u << s);
	}
	if (ctl & TCPSM_CTL_POLSET(s))
		reasm_set_policy(r, (ctl & TCPSM_CTL_POLLAST(s)) ? REASM_OVERLAP_LAST : REASM_OVERLAP_FIRST);
	else
		reasm_set_policy(r, tcpsm_overlap_of(f->ti, f, s)); /* the receiver's (tcpsm_accept.c) */
	if (off && r->size != 0) {
		reasm_resize(r, 0);
		f->edge_dirty |= (uint8_t)(1u << s);
	}
	if (!off && (ctl & TCPSM_CTL_RESIZE(s))) {
		/* The size was stored before the bit (tcpsm_flow_want_size); ctl
		 * was loaded with acquire (tcpsm_flow_ctl). */
		uint32_t sz = __atomic_load_n(&f->want_size[s], __ATOMIC_RELAXED);
		if (sz)
			reasm_resize(r, sz);
		tcpsm_flow_ctl_clear(f, TCPSM_CTL_RESIZE(s));
		f->edge_dirty |= (uint8_t)(1u << s);
	}
}

_Static_assert(sizeof(struct mp_edge) == sizeof(struct reasm_edge) &&
                   __builtin_offsetof(struct mp_edge, back) == __builtin_offsetof(struct reasm_edge, back) &&
                   __builtin_offsetof(struct mp_edge, ahead) == __builtin_offsetof(struct reasm_edge, ahead) &&
                   __builtin_offsetof(struct mp_edge, serial) == __builtin_offsetof(struct reasm_edge, serial) &&
                   __builtin_offsetof(struct mp_edge, flags) == __builtin_offsetof(struct reasm_edge, flags),
               "mp_meta.edge[] is reasm's edge");
_Static_assert(MP_EDGE_VALID == REASM_EDGE_VALID && MP_EDGE_SLID == REASM_EDGE_SLID, "edge flags");

struct tcpsm_rbufs {
	struct reasm_pool *pool;
	struct reasm *arr;
	struct reasm **stk;
	unsigned n, n_free;
	uint32_t size;
	uint32_t total;   /* chunks in the pool */
	uint32_t backoff; /* dry inserts that skip the walk of open flows */
	/* tcp.buf_history = no: the sides written since the readers last
	 * released, oldest first, to give their chunks back as soon as the
	 * readers are past them (tcpsm_reasm_trim_recent): a ring. */
	unsigned wq_h, wq_t;
	/* Descriptors, not flows: a descriptor is never freed while the
	 * instance lives, and a trim of one that went to another side since
	 * (or back to the stack: size 0) gives back only what no reader of
	 * it may read. */
	struct reasm *wq[1024];
};

void tcpsm_flow_prefetch_release(const struct tcpsm_flow *f, const struct mp_meta *md)
{
	const struct tcpsm_inst *ti = f->ti;
	rte_prefetch0(&ti->rel[md->flow_idx - ti->slot_base]);
}

void tcpsm_flow_release(struct tcpsm_flow *f, const struct mp_meta *md)
{
	/* Release: the callbacks' reads of the flow's chunks come before
	 * tcpsm, acquiring it, gives them back (reclaim_open()). */
	struct tcpsm_inst *ti = f->ti;
	atomic_store_explicit(&ti->rel[f->slot - ti->slot_base], md->pkt.fpkt, memory_order_release);
	/* The instance's setting (fixed before the lcores start), not the
	 * descriptor's: tcpsm may be re-laying this side now. */
	int nohist = ti->p.buf_nohist != 0;
	for (unsigned s = 0; s < 2; s++) {
		const struct mp_edge *e = &md->edge[s];
		/* No buffer as of md (tcpsm may be making one now): nothing to
		 * release. Without history the edge itself (the next packet's
		 * window starts there); else the window start, only where it
		 * moved on md: every packet of a followed flow is released (app
		 * or bypass), so an earlier one released the same start. */
		if (!(e->flags & REASM_EDGE_VALID))
			continue;
		struct reasm *r = tcpsm_flow_buf(f, s);
		if (r && nohist)
			reasm_release(r, e->end);
		else if (r && (e->flags & REASM_EDGE_SLID))
			reasm_release(r, e->end - e->back);
	}
}

void tcpsm_reasm_edges(struct tcpsm_flow *f, struct mp_meta *md)
{
	/* Every mbuf of the flow passes here once: its number for the release. */
	md->pkt.fpkt = ++f->npkt;
	for (unsigned s = 0; s < 2; s++) {
		struct mp_edge *e = &f->s[s].edge;
		struct reasm *r = f->s[s].buf;
		/* Without history the window start moves at every packet of the
		 * flow, to the edge of the one before (reasm_edge()). */
		if ((f->edge_dirty & (1u << s)) || (r && r->nohist && (r->lh != r->lh_pub || e->back))) {
			/* Both copies from registers (reasm_edge()). */
			if (r) {
				reasm_edge(r, (struct reasm_edge *)(void *)e,
				           (struct reasm_edge *)(void *)&md->edge[s]);
			} else {
				memset(e, 0, sizeof(*e));
				memset(&md->edge[s], 0, sizeof(md->edge[s]));
			}
		} else {
			md->edge[s] = *e;
		}
		/* "Moved on this packet" holds for this packet only. */
		e->flags &= ~REASM_EDGE_SLID;
	}
	f->edge_dirty = 0;
}

/* Sizes below 1 MiB in K, else in M, rounded up (what to set). */
static const char *fmt_size(uint64_t b, char *buf, size_t len)
{
	if (b < (1u << 20))
		snprintf(buf, len, "%lluK", (unsigned long long)((b + 1023) >> 10));
	else
		snprintf(buf, len, "%lluM", (unsigned long long)((b + (1u << 20) - 1) >> 20));
	return buf;
}

int tcpsm_buf_check(const struct tcpsm_params *p, uint64_t *bytes, char *msg, size_t len)
{
	*bytes = 0;
	if (p->buf_size == 0)
		return 0;
	uint32_t chunk = reasm_chunk_for(p->buf_size + reasm_slack(p->buf_size));
	uint64_t elem = reasm_chunk_bytes(chunk);
	uint32_t per_side = reasm_side_min_chunks(p->buf_size, chunk);
	uint64_t need = 2ULL * p->flows * per_side;
	if (p->buf_pool == 0) {
		*bytes = need * elem;
		return 0;
	}
	uint64_t have = p->buf_pool / elem;
	if (have >= need) {
		*bytes = p->buf_pool;
		return 0;
	}
	char a[32], b[32], w[32];
	snprintf(msg, len,
	         "[tcp] buf_pool = %s holds %llu reassembly chunks of %llu bytes, fewer than the %llu that [tcp] "
	         "flows = %u needs (2 sides x %u chunk%s for buf_size = %s), so a full flow table could not buffer "
	         "every side: set buf_pool to at least %s (or 0: sized for flows), flows to at most %llu, or "
	         "buf_size = 0 (reassembly off)",
	         fmt_size(p->buf_pool, a, sizeof(a)), (unsigned long long)have, (unsigned long long)elem,
	         (unsigned long long)need, p->flows, per_side, per_side > 1 ? "s (data and slot map)" : "",
	         fmt_size(p->buf_size, w, sizeof(w)), fmt_size(need * elem, b, sizeof(b)),
	         (unsigned long long)(have / (2ULL * per_side)));
	return -EINVAL;
}

uint64_t tcpsm_buf_pool_need(unsigned flows, uint64_t buf_size)
{
	/* What buf_pool = 0 sizes: one formula, tcpsm_buf_check()'s. */
	struct tcpsm_params p = {.flows = flows, .buf_size = buf_size};
	uint64_t bytes;
	tcpsm_buf_check(&p, &bytes, NULL, 0);
	return bytes;
}

int tcpsm_reasm_setup(struct tcpsm_inst *ti)
{
	struct tcpsm_rbufs *rb;
	uint32_t free_c, total_c;
	uint64_t fails, bytes;
	char msg[512];

	if (tcpsm_buf_check(&ti->p, &bytes, msg, sizeof(msg)) < 0)
		return -EINVAL;
	if (bytes == 0)
		return 0;
	if (!(rb = calloc(1, sizeof(*rb))))
		return -ENOMEM;
	rb->size = (uint32_t)ti->p.buf_size;
	/* Chunks whose slot map reaches the window and the slack for readers
	 * that lag behind tcpsm (reasm.h, "Readers that lag"); as many as
	 * tcpsm_buf_check() found ([tcp] buf_pool, or sized for the table). */
	rb->pool = reasm_pool_create(bytes, reasm_chunk_for(ti->p.buf_size + reasm_slack(ti->p.buf_size)));
	if (!rb->pool) {
		int e = errno;
		free(rb);
		return -e;
	}
	reasm_pool_stats(rb->pool, &free_c, &total_c, &fails);
	rb->total = total_c;
	if (ti->p.buf_nohist)
		reasm_pool_set_nohist(rb->pool, 1);
	/* A descriptor for both sides of every flow object: also those ended
	 * and not yet retired, which keep theirs until tx retires them. Only
	 * the ones in use are ever touched. */
	uint64_t n = 2ULL * tcpsm_pool_size(&ti->p);
	rb->n = rb->n_free = (unsigned)n;
	rb->arr = calloc(n, sizeof(*rb->arr));
	rb->stk = calloc(n, sizeof(*rb->stk));
	if (!rb->arr || !rb->stk) {
		free(rb->arr);
		free(rb->stk);
		reasm_pool_destroy(rb->pool);
		free(rb);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++)
		rb->stk[i] = &rb->arr[n - 1 - i];
	ti->reasm = rb;
	return 0;
}

void tcpsm_reasm_teardown(struct tcpsm_inst *ti)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	if (!rb)
		return;
	/* Sides still holding chunks are the caller's bug; the pool goes anyway. */
	reasm_pool_destroy(rb->pool);
	free(rb->arr);
	free(rb->stk);
	free(rb);
	ti->reasm = NULL;
}

/* Takes back the chunks of closed flow c's idle sides; c leaves the reclaim
 * queue once neither side holds anything. @return chunks given back. */
static uint32_t reclaim_flow(struct tcpsm_inst *ti, struct tcpsm_flow *c)
{
	uint32_t got = 0;
	int busy = 0;
	for (int i = 0; i < 2; i++) {
		/* Once tx has handed back the MP_CTRL_ENDED that followed the
		 * CONN_END packet (end_seen, set on this lcore) no callback of the
		 * flow reads again (nothing is delivered after CONN_END, app.c). */
		int k = c->s[i].buf ? reasm_reclaim(c->s[i].buf, c->end_seen) : 0;
		if (k < 0)
			busy = 1;
		else
			got += (uint32_t)k;
	}
	if (!busy)
		tcpsm_rq_del(ti, c);
	return got;
}

/* The chunk pool is dry: closed flows (TIME_WAIT, after RST) keep their
 * chunks until they are retired, though their readers have consumed all
 * they will ever read. Take back the chunks of the oldest closed flows whose
 * sides are idle (reclaimq, in closing order), looking at no more than 512
 * per call; a flow leaves the queue once both sides hold nothing.
 * @return chunks given back. */
static uint32_t reclaim_closed(struct tcpsm_inst *ti, const struct tcpsm_flow *self)
{
	uint32_t got = 0;
	unsigned looked = 0;
	struct tcpsm_flow *c, *next;
	for (c = TAILQ_FIRST(&ti->reclaimq); c && looked < 512 && got < 256; c = next) {
		next = TAILQ_NEXT(c, rq);
		looked++;
		if (c == self)
			continue;
		got += reclaim_flow(ti, c);
	}
	if (got)
		tcpsm_ctr(ti, TCPSM_C_BUF_RECLAIMED, got);
	return got;
}

void tcpsm_reasm_trim_recent(struct tcpsm_inst *ti)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	if (!rb || !ti->p.buf_nohist)
		return;
	uint64_t n = 0;
	while (rb->wq_h != rb->wq_t) {
		struct reasm *r = rb->wq[rb->wq_h % RTE_DIM(rb->wq)];
		int t = reasm_trim(r);
		if (t < 0)
			break; /* its reader is not past it yet, nor past those after it */
		n += (uint64_t)t;
		rb->wq_h++;
	}
	if (n)
		tcpsm_ctr(ti, TCPSM_C_BUF_TRIMMED, n);
}

/* Closed flows whose MP_CTRL_ENDED tx has handed back (so the app is done
 * with them) give their chunks back at once, while those chunks are still in
 * cache: waiting for the pool to run dry, as reclaim_closed() does, first
 * walks every fresh page of a large pool (page faults, cache misses). Looks
 * at the oldest 16 per call; a flow whose reader has not consumed all stays. */
void tcpsm_reasm_reclaim_ended(struct tcpsm_inst *ti)
{
	uint32_t got = 0;
	unsigned looked = 0;
	struct tcpsm_flow *c, *next;
	if (!ti->p.buf_free_at_end)
		return; /* kept until the pool runs dry (reclaim_closed()) */
	for (c = TAILQ_FIRST(&ti->reclaimq); c && looked < 16; c = next) {
		next = TAILQ_NEXT(c, rq);
		looked++;
		if (!c->end_seen)
			continue;
		got += reclaim_flow(ti, c);
	}
	if (got)
		tcpsm_ctr(ti, TCPSM_C_BUF_ENDED_RECLAIMED, got);
}

/* Reclaim from open flows (README.md, "Reassembly memory"). */
#define RECLAIM_LOOK 64     /* flows one pass looks at */
#define RECLAIM_BATCH 16    /* chunks a walk tries to get back at once */
#define RECLAIM_BACKOFF 256 /* dry inserts without a walk after one got nothing */

static uint32_t side_chunks(const struct tcpsm_side *s)
{
	return s->buf ? reasm_chunks(s->buf) : 0;
}

/* The pool ran dry for side rside of open flow self, and closed flows gave
 * nothing back. Walk the open flows holding chunks (ti->bufq), least
 * recently active first, at most RECLAIM_LOOK per pass, until
 * RECLAIM_BATCH chunks came back:
 *  1. idle sides (the reader read everything delivered, nothing held, no
 *     gap or resize pending) give all their chunks back: nothing is lost,
 *     their next bytes take chunks again. A flow still holding chunks that
 *     was active since it was queued goes to the tail (CLOCK's second
 *     chance), so that the queue's head stays the least recently active.
 *  2. if self's side holds less than its fair share (the pool's chunks over
 *     the sides that have buffers, a fraction), sides holding more than the
 *     share and inactive since queued drop the bytes they hold out of order, and give
 *     their chunks back: a stale flow's held bytes go before an active
 *     flow's new ones (counted: buf_chunks_reclaimed_held,
 *     buf_held_bytes_dropped); one victim flow per walk. A side at its share takes nobody's bytes
 *     (buf_share_full): it loses its own new bytes, as the pool's fair
 *     share.
 * A walk that got nothing makes the next RECLAIM_BACKOFF dry inserts skip
 * it: a pool held by unreclaimable sides must not cost each packet a walk.
 * @return chunks given back. */
/* No callback of f is running or waiting: the reader released f's newest
 * mbuf (tcpsm_flow_release()), so nothing reads its buffers as of an
 * earlier one. */
static int flow_quiet(const struct tcpsm_inst *ti, const struct tcpsm_flow *f)
{
	return atomic_load_explicit(&ti->rel[f->slot - ti->slot_base], memory_order_acquire) == f->npkt;
}

static uint32_t reclaim_open(struct tcpsm_inst *ti, struct tcpsm_flow *self, unsigned rside)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	struct tcpsm_flow *h, *next;
	uint32_t got = 0, held_got = 0;
	uint64_t dropped = 0;
	unsigned looked = 0;

	if (rb->backoff) {
		rb->backoff--;
		return 0;
	}
	for (h = TAILQ_FIRST(&ti->bufq); h && looked < RECLAIM_LOOK && got < RECLAIM_BATCH; h = next) {
		next = TAILQ_NEXT(h, bq);
		looked++;
		if (h == self)
			continue;
		int quiet = flow_quiet(ti, h);
		for (int i = 0; i < 2; i++) {
			int k = h->s[i].buf ? reasm_reclaim(h->s[i].buf, quiet) : 0;
			if (k > 0)
				got += (uint32_t)k;
		}
		if (!side_chunks(&h->s[0]) && !side_chunks(&h->s[1]))
			tcpsm_bq_del(ti, h); /* back on the queue with its next chunk */
		else if (h->last_ts > h->bq_ts)
			tcpsm_bq_requeue(ti, h);
	}
	if (got)
		tcpsm_ctr(ti, TCPSM_C_BUF_RECLAIMED_IDLE, got);
	if (got < RECLAIM_BATCH) {
		/* Fair share: the pool's chunks over the sides that have
		 * buffers, compared exactly (n over share: n * sides > total). */
		uint64_t in_use = rb->n - rb->n_free, total = rb->total;
		if ((uint64_t)side_chunks(&self->s[rside]) * in_use >= total) {
			tcpsm_ctr(ti, TCPSM_C_BUF_SHARE_FULL, 1);
		} else {
			looked = 0;
			/* Bytes are lost here: one victim flow at a time. */
			for (h = TAILQ_FIRST(&ti->bufq); h && looked < RECLAIM_LOOK && !held_got; h = next) {
				next = TAILQ_NEXT(h, bq);
				looked++;
				if (h == self)
					continue;
				if (h->last_ts > h->bq_ts) {
					tcpsm_bq_requeue(ti, h);
					continue;
				}
				for (int i = 0; i < 2; i++) {
					uint64_t d;
					int k;
					if ((uint64_t)side_chunks(&h->s[i]) * in_use > total &&
					    (k = reasm_reclaim_held(h->s[i].buf, flow_quiet(ti, h), &d)) > 0) {
						held_got += (uint32_t)k;
						dropped += d;
					}
				}
				if (!side_chunks(&h->s[0]) && !side_chunks(&h->s[1]))
					tcpsm_bq_del(ti, h);
			}
			if (held_got) {
				tcpsm_ctr(ti, TCPSM_C_BUF_RECLAIMED_HELD, held_got);
				tcpsm_ctr(ti, TCPSM_C_BUF_HELD_DROPPED, dropped);
			}
		}
	}
	if (!got && !held_got)
		rb->backoff = RECLAIM_BACKOFF;
	return got + held_got;
}

uint32_t tcpsm_reasm_data(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, uint32_t seq, const uint8_t *p,
                          unsigned len, unsigned cap, uint32_t *ev)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	struct tcpsm_side *rcv = &f->s[rside], *snd = &f->s[rside ^ 1];
	struct reasm *r = rcv->buf;
	struct reasm_result res;

	if (!rb || !len)
		return 0;
	if (r && r->seq0 != snd->base_seq) {
		/* The sender restarted its sequence space (new ISN before any
		 * acknowledgment): nothing readable was in the old one. */
		reasm_fini(r);
		rb->stk[rb->n_free++] = r;
		/* Release/relaxed stores: the app stage loads the pointer
		 * (tcpsm_flow_buf) while tcpsm changes it. */
		__atomic_store_n(&rcv->buf, NULL, __ATOMIC_RELAXED);
		r = NULL;
		f->edge_dirty |= (uint8_t)(1u << rside);
	}
	if (!r) {
		if (!rb->n_free) {
			/* Cannot happen: a descriptor per side of every flow object. */
			tcpsm_ctr(ti, TCPSM_C_BUF_POOL_EXHAUSTED, 1);
			return 0;
		}
		r = rb->stk[--rb->n_free];
		if (reasm_init(r, rb->pool, snd->base_seq, rb->size, tcpsm_overlap_of(ti, f, rside)) < 0) {
			rb->stk[rb->n_free++] = r;
			return 0;
		}
		/* Release: the app stage reads the pointer (tcpsm_flow_buf,
		 * acquire) for a callback of an earlier packet of the flow, on
		 * another lcore, and must see the side initialised. */
		__atomic_store_n(&rcv->buf, r, __ATOMIC_RELEASE);
		tcpsm_reasm_apply(f, tcpsm_flow_ctl(f), rside); /* reader mode etc. from the app */
	}
	f->edge_dirty |= (uint8_t)(1u << rside);
	if (reasm_insert(r, seq, p, len, cap, &res) < 0)
		return 0;
	if (ti->p.buf_nohist && (rb->wq_t == rb->wq_h || rb->wq[(rb->wq_t - 1) % RTE_DIM(rb->wq)] != r)) {
		if (rb->wq_t - rb->wq_h == RTE_DIM(rb->wq))
			rb->wq_h++; /* the oldest waits for its side's next insert (free_behind) */
		rb->wq[rb->wq_t++ % RTE_DIM(rb->wq)] = r;
	}
	if ((res.flags & REASM_F_NOMEM) && (reclaim_closed(ti, f) || (!f->closed && reclaim_open(ti, f, rside)))) {
		/* Chunks came back from flows that only wait out TIME_WAIT, or
		 * from idle or stale open ones: store what did not fit (bytes
		 * already stored count as old). */
		struct reasm_result again;
		if (reasm_insert(r, seq, p, len, cap, &again) == 0) {
			again.delivered += res.delivered;
			again.missed += res.missed;
			res = again;
		}
	}
	if (res.flags & REASM_F_DIFF) {
		tcpsm_ctr(ti, TCPSM_C_REASM_INCONSISTENT, res.diff);
		*ev |= MP_ON_ERROR;
	}
	if (res.flags & REASM_F_FULL) {
		tcpsm_ctr(ti, TCPSM_C_BUF_FULL_BYTES, res.missed);
		*ev |= MP_ON_ERROR;
	}
	if (res.flags & REASM_F_NOMEM) {
		tcpsm_ctr(ti, TCPSM_C_BUF_POOL_EXHAUSTED, 1);
		*ev |= MP_ON_ERROR;
	}
	if (!f->in_bq && !f->closed && (side_chunks(&f->s[0]) || side_chunks(&f->s[1])))
		tcpsm_bq_add(ti, f);
	return res.flags;
}

void tcpsm_reasm_release(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	for (int i = 0; i < 2; i++) {
		struct reasm *r = f->s[i].buf;
		if (!r)
			continue;
		reasm_fini(r);
		if (rb)
			rb->stk[rb->n_free++] = r;
		__atomic_store_n(&f->s[i].buf, NULL, __ATOMIC_RELAXED);
		f->edge_dirty |= (uint8_t)(1u << i);
	}
}

void tcpsm_flow_free(struct tcpsm_flow *f)
{
	struct tcpsm_inst *ti = f->ti;
	tcpsm_reasm_release(ti, f);
	tcpsm_flowtab_put(ti, f);
}
