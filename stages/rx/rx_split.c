/* One capture file read by n rx instances: the walk (see rx_split.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include <rte_prefetch.h>

#include "hash.h"
#include "rx_split.h"
#include "stage-types.h"

/* Records that can start in one block: a record is at least its 16-byte
 * header. */
#define RXS_MAX_REC (RXS_BLOCK / 16 + 1)
/* How far ahead of its own next record an instance asks for the lines. */
#define RXS_AHEAD 4

struct rxs_slot {
	_Atomic uint64_t ready; /* k + 1 once block k is walked into this slot */
	_Atomic uint32_t done;  /* instances that have read their lists of it */
	uint8_t last;           /* the walk ended in it: the file's end, or damage */
	uint8_t bad;            /* ... at damage */
	uint8_t walker;         /* the instance that walked it */
	uint64_t end;           /* where the next block's first record starts */
	uint32_t n[MP_MAX_INST];
	uint32_t *off[MP_MAX_INST]; /* each instance's records: offsets from the block's first byte */
};

struct rxs {
	const struct mp_pcapfile *f;
	unsigned n;
	int dlt;
	uint64_t first; /* the first record's offset */
	/* The scan's index (rxs_create), and under the try-lock, where the
	 * walk is in it: entry ii is the record at ipos. */
	const struct mp_pcapidx *idx;
	uint64_t ii, ipos;
	_Atomic uint64_t walked; /* blocks walked so far (the next to walk) */
	_Atomic int walking;     /* an instance is walking (a try-lock: nobody waits on it) */
	uint32_t *mem;
	struct rxs_slot slot[RXS_SLOTS];
};

struct rxs *rxs_create(const struct mp_pcapfile *f, unsigned n, int dlt, const struct mp_pcapidx *idx)
{
	if (n == 0 || n > MP_MAX_INST)
		return NULL;
	struct rxs *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	/* Untouched until used: a list is as long as the records a block
	 * holds for its instance. */
	s->mem = calloc((size_t)RXS_SLOTS * n * RXS_MAX_REC, sizeof(*s->mem));
	if (!s->mem) {
		free(s);
		return NULL;
	}
	s->f = f;
	s->n = n;
	s->dlt = dlt;
	s->first = f->pos;
	if (idx && idx->n && idx->dlt == dlt && f->pos == 24) {
		s->idx = idx;
		s->ipos = s->first;
	}
	for (unsigned k = 0; k < RXS_SLOTS; k++)
		for (unsigned j = 0; j < n; j++)
			s->slot[k].off[j] = s->mem + ((size_t)k * n + j) * RXS_MAX_REC;
	return s;
}

void rxs_free(struct rxs *s)
{
	if (!s)
		return;
	free(s->mem);
	free(s);
}

/* Walks block k, the next one, into its slot, for instance idx (under the
 * try-lock). @return 1 when walked, 0 when the walk has ended before it,
 * RXS_FULL when the slot's last block is still being read. */
static int walk_locked(struct rxs *s, uint64_t k, unsigned idx)
{
	struct rxs_slot *sl = &s->slot[k % RXS_SLOTS];
	uint64_t pos = s->first;
	if (k > 0) {
		/* Stable: its slot is walked again only after block k. */
		const struct rxs_slot *pv = &s->slot[(k - 1) % RXS_SLOTS];
		if (pv->last)
			return 0;
		pos = pv->end;
	}
	if (atomic_load_explicit(&sl->ready, memory_order_relaxed) != 0 &&
	    atomic_load_explicit(&sl->done, memory_order_acquire) != s->n)
		return RXS_FULL;
	/* A cursor of the walk's own, for mp_pcapfile_at and the prefetch. */
	struct mp_pcapfile cur = *s->f;
	cur.pos = pos;
	cur.pref = 0;
	uint64_t base = k * RXS_BLOCK, lim = base + RXS_BLOCK;
	for (unsigned j = 0; j < s->n; j++)
		sl->n[j] = 0;
	sl->last = sl->bad = 0;
	if (s->idx && s->ii < s->idx->n && s->ipos == cur.pos) {
		/* Records the scan checked and hashed: sorted from its sizes
		 * and hashes, a sequential read of the index, none of the file. */
		const struct mp_pcapidx_rec *e = s->idx->rec;
		uint64_t i = s->ii, pos = cur.pos, ni = s->idx->n;
		for (; pos < lim && i < ni; pos += e[i].len, i++) {
			unsigned j = e[i].hash % s->n;
			sl->off[j][sl->n[j]++] = (uint32_t)(pos - base);
		}
		s->ii = i;
		s->ipos = pos;
		cur.pos = pos;
	}
	while (cur.pos < lim) {
		/* The walk is a chain of dependent reads: ask for the lines ahead
		 * all at once. */
		mp_pcapfile_prefetch(&cur);
		struct mp_pcaprec r;
		int x = mp_pcapfile_at(&cur, cur.pos, &r);
		if (x <= 0) {
			sl->last = 1;
			sl->bad = x < 0;
			break;
		}
		unsigned j = mp_addr_hash_raw(r.data, r.caplen, s->dlt) % s->n;
		sl->off[j][sl->n[j]++] = (uint32_t)(cur.pos - base);
		cur.pos = r.next;
	}
	sl->end = cur.pos;
	sl->walker = (uint8_t)idx;
	atomic_store_explicit(&sl->done, 0, memory_order_relaxed);
	/* Release: the lists, counts and end before the block is seen walked. */
	atomic_store_explicit(&sl->ready, k + 1, memory_order_release);
	atomic_store_explicit(&s->walked, k + 1, memory_order_release);
	return 1;
}

/* Walks the next block if no other instance is walking. Whoever is free
 * walks: the instances take turns by how fast they read, not by rank, so
 * neither waits while the other is busy with its pipeline. @return 1 when
 * a block was walked, RXS_WAIT when another instance walks, RXS_FULL when
 * a lagging instance still reads the slot, 0 when the walk has ended. */
static int walk_next(struct rxs *s, unsigned idx)
{
	if (atomic_exchange_explicit(&s->walking, 1, memory_order_acquire))
		return RXS_WAIT;
	uint64_t k = atomic_load_explicit(&s->walked, memory_order_acquire);
	int w = walk_locked(s, k, idx);
	atomic_store_explicit(&s->walking, 0, memory_order_release);
	return w;
}

int rxs_peek(struct rxs *s, unsigned idx, struct rxs_cur *c, struct mp_pcaprec *r)
{
	for (;;) {
		struct rxs_slot *sl = &s->slot[c->blk % RXS_SLOTS];
		if (atomic_load_explicit(&sl->ready, memory_order_acquire) != c->blk + 1) {
			/* Every block before it is walked (this instance read
			 * them): it is the next to walk. */
			int w = walk_next(s, idx);
			if (w == 1)
				continue;
			return w == RXS_FULL ? RXS_FULL : RXS_WAIT;
		}
		if (c->i < sl->n[idx]) {
			const uint8_t *blk = s->f->map + c->blk * RXS_BLOCK;
			if (c->i + RXS_AHEAD < sl->n[idx]) {
				const uint8_t *q = blk + sl->off[idx][c->i + RXS_AHEAD];
				rte_prefetch0(q);
				rte_prefetch0(q + 64);
			}
			/* Checked by the walk: the same record, read again. */
			return mp_pcapfile_at(s->f, (uint64_t)(blk - s->f->map) + sl->off[idx][c->i], r) > 0 ? RXS_OK
			                                                                                     : RXS_BAD;
		}
		if (sl->last)
			return sl->bad ? RXS_BAD : RXS_END;
		/* Release: done reading the lists before their walker reuses them. */
		atomic_fetch_add_explicit(&sl->done, 1, memory_order_release);
		c->blk++;
		c->i = 0;
	}
}

void rxs_help(struct rxs *s, unsigned idx)
{
	(void)walk_next(s, idx);
}

int rxs_ended_by(const struct rxs *s, unsigned idx, const struct rxs_cur *c)
{
	return s->slot[c->blk % RXS_SLOTS].walker == idx;
}
