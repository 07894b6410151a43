/* tcpsm reassembly glue: each side's byte stream goes into a struct reasm
 * (reasm.h) taken lazily from a per-instance array when its first payload
 * arrives; the chunk pool behind them is capped by conf tcp.buf_pool.
 * f->s[x].buf holds the bytes side x *receives* (mOS: MOS_SIDE_CLI's buffer
 * is what the client reads). Everything here runs on the instance's thread:
 * buffers are released when tx has retired the flow and tcpsm has taken it
 * back (tcpsm.c), never by another thread. Flow-log numbers do not depend on
 * buffers (tcpsm_sm.c tracks sequence space itself), so buffers may be off.
 */
#include <errno.h>
#include <stdlib.h>

#include "reasm.h"
#include "tcpsm.h"
#include "tcpsm_app.h"

struct tcpsm_rbufs {
	struct reasm_pool *pool;
	struct reasm *arr;
	struct reasm **stk;
	unsigned n, n_free;
	uint32_t size;
	unsigned policy;
};

int tcpsm_reasm_setup(struct tcpsm_inst *ti)
{
	struct tcpsm_rbufs *rb;
	uint32_t free_c, total_c;
	uint64_t fails;

	if (ti->p.buf_size == 0 || ti->p.buf_pool == 0)
		return 0;
	if (!(rb = calloc(1, sizeof(*rb))))
		return -ENOMEM;
	rb->size = (uint32_t)ti->p.buf_size;
	rb->policy = ti->p.overlap;
	rb->pool = reasm_pool_create(ti->p.buf_pool, reasm_chunk_for(ti->p.buf_size));
	if (!rb->pool) {
		int e = errno;
		free(rb);
		return -e;
	}
	reasm_pool_stats(rb->pool, &free_c, &total_c, &fails);
	/* A side with bytes holds at least one chunk: more sides than chunks
	 * could never all buffer. */
	uint64_t n = 2ULL * ti->p.flows;
	if (n > total_c)
		n = total_c;
	rb->n = rb->n_free = (unsigned)n;
	rb->arr = calloc(n ? n : 1, sizeof(*rb->arr));
	rb->stk = calloc(n ? n : 1, sizeof(*rb->stk));
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
		int k = c->s[i].buf ? reasm_reclaim(c->s[i].buf) : 0;
		if (k < 0)
			busy = 1;
		else
			got += (uint32_t)k;
	}
	if (!busy) {
		TAILQ_REMOVE(&ti->reclaimq, c, rq);
		c->in_rq = 0;
	}
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

/* Closed flows whose CONN_END packet tx has seen (so the app is done with
 * them) give their chunks back at once, while those chunks are still in
 * cache: waiting for the pool to run dry, as reclaim_closed() does, first
 * walks every fresh page of a large pool (page faults, cache misses). Looks
 * at the oldest 16 per call; a flow whose reader has not consumed all stays. */
void tcpsm_reasm_reclaim_ended(struct tcpsm_inst *ti)
{
	uint32_t got = 0;
	unsigned looked = 0;
	struct tcpsm_flow *c, *next;
	for (c = TAILQ_FIRST(&ti->reclaimq); c && looked < 16; c = next) {
		next = TAILQ_NEXT(c, rq);
		looked++;
		if (!__atomic_load_n(&c->end_seen, __ATOMIC_ACQUIRE))
			continue;
		got += reclaim_flow(ti, c);
	}
	if (got)
		tcpsm_ctr(ti, TCPSM_C_BUF_ENDED_RECLAIMED, got);
}

void tcpsm_reasm_data(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, uint32_t seq, const uint8_t *p,
                      unsigned len, unsigned cap, uint32_t *ev)
{
	struct tcpsm_rbufs *rb = ti->reasm;
	struct tcpsm_side *rcv = &f->s[rside], *snd = &f->s[rside ^ 1];
	struct reasm *r = rcv->buf;
	struct reasm_result res;

	if (!rb || !len)
		return;
	if (r && r->seq0 != snd->base_seq) {
		/* The sender restarted its sequence space (new ISN before any
		 * acknowledgment): nothing readable was in the old one. */
		reasm_fini(r);
		rb->stk[rb->n_free++] = r;
		rcv->buf = r = NULL;
	}
	if (!r) {
		if (!rb->n_free) {
			tcpsm_ctr(ti, TCPSM_C_BUF_POOL_EXHAUSTED, 1);
			return;
		}
		r = rb->stk[--rb->n_free];
		if (reasm_init(r, rb->pool, snd->base_seq, rb->size, rb->policy) < 0) {
			rb->stk[rb->n_free++] = r;
			return;
		}
		rcv->buf = r;
		tcpsm_app_buf_created(f, rside); /* reader mode etc. from the app */
	}
	if (reasm_insert(r, seq, p, len, cap, &res) < 0)
		return;
	if ((res.flags & REASM_F_NOMEM) && reclaim_closed(ti, f)) {
		/* Chunks came back from flows that only wait out TIME_WAIT:
		 * store what did not fit (bytes already stored count as old). */
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
		f->s[i].buf = NULL;
	}
}
