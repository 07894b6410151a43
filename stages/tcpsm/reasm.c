/* Per-side TCP reassembly buffer (see reasm.h for the model and the
 * concurrency contract).
 *
 * Layout: stream offset o lives in chunk number n = o / D (D = data bytes per
 * chunk) at slot n % nslots. A slot word is (low 32 bits of n) << 32 | chunk
 * id, so a slot still holding an older chunk number reads as "no data". Each
 * chunk has D data bytes followed by a D-bit bitmap: bit set = byte present.
 * With nslots = ceil(size / D) + 1, the window [consumed, consumed + size)
 * never needs two chunk numbers in one slot, so retagging a slot only ever
 * drops bytes the reader has consumed.
 *
 * Below `delivered` a bit never changes until its slot is retagged, which is
 * what lets the reader scan the bitmap while the writer sets other bits of the
 * same word (hence relaxed atomics on bitmap words: no torn words, no order
 * needed beyond the release/acquire on `delivered`).
 *
 * Lazy bitmaps: the top bit of a slot word (SLOT_V) says the chunk's bitmap
 * is valid. An in-order segment (at the edge, nothing held) written into a
 * chunk from its first byte leaves the bitmap alone (SLOT_V clear): such a
 * chunk holds exactly the bytes from its start up to `delivered`, nothing
 * above. Clearing a 512-byte bitmap that is always cache-cold (every flow
 * cycles through its window's chunks) was half of reasm_insert's time. Any
 * other write into the chunk, and any gap declared while it is tagged, first
 * gives it a real bitmap (materialize()), so the rule never has to describe a
 * hole; the reader reads a lazy chunk with the same rule and its own view of
 * `delivered`.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "reasm.h"

#define NONE_ID UINT32_MAX
#define NO_JUMP UINT64_MAX
#define DEFAULT_CHUNK 4096u

struct reasm_pool {
	uint8_t *mem;
	uint32_t *stack; /* free chunk ids; writer-only, so no atomics */
	uint32_t n, nfree;
	uint32_t d;    /* data bytes per chunk */
	uint32_t elem; /* d + d / 8 */
	uint64_t fail;
};

/* ---- pool ---------------------------------------------------------------- */

struct reasm_pool *reasm_pool_create(uint64_t cap_bytes, uint32_t chunk)
{
	if (chunk == 0)
		chunk = DEFAULT_CHUNK;
	if (chunk < 64 || chunk > (1u << 20) || (chunk & (chunk - 1))) {
		errno = EINVAL;
		return NULL;
	}
	uint32_t elem = chunk + chunk / 8;
	uint64_t n = cap_bytes / elem;
	if (n == 0 || n >= NONE_ID) {
		errno = EINVAL;
		return NULL;
	}
	struct reasm_pool *p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	/* aligned_alloc wants a multiple of the alignment (C11 7.22.3.1). */
	p->mem = aligned_alloc(64, ((size_t)n * elem + 63) & ~(size_t)63);
	p->stack = malloc(n * sizeof(*p->stack));
	if (!p->mem || !p->stack)
		goto nomem;
	p->n = p->nfree = (uint32_t)n;
	p->d = chunk;
	p->elem = elem;
	/* Pop order is ascending ids: neighbouring flows get neighbouring memory. */
	for (uint32_t i = 0; i < n; i++)
		p->stack[i] = (uint32_t)n - 1 - i;
	return p;
nomem:
	if (p) {
		free(p->mem);
		free(p->stack);
	}
	free(p);
	errno = ENOMEM;
	return NULL;
}

void reasm_pool_destroy(struct reasm_pool *p)
{
	if (!p)
		return;
	free(p->mem);
	free(p->stack);
	free(p);
}

static uint64_t max_size_for(uint32_t d)
{
	uint64_t slots = (uint64_t)(d + d / 8) / sizeof(uint64_t);
	return (slots - 1) * d;
}

uint64_t reasm_pool_max_size(const struct reasm_pool *p)
{
	return p ? max_size_for(p->d) : 0;
}

uint32_t reasm_chunk_for(uint64_t size)
{
	uint32_t d = DEFAULT_CHUNK;
	while (d < (1u << 20) && max_size_for(d) < size)
		d <<= 1;
	return d;
}

void reasm_pool_stats(const struct reasm_pool *p, uint32_t *free_chunks, uint32_t *total_chunks, uint64_t *alloc_fail)
{
	if (free_chunks)
		*free_chunks = p ? p->nfree : 0;
	if (total_chunks)
		*total_chunks = p ? p->n : 0;
	if (alloc_fail)
		*alloc_fail = p ? p->fail : 0;
}

static uint32_t pool_get(struct reasm_pool *p)
{
	if (p->nfree == 0) {
		p->fail++;
		return NONE_ID;
	}
	return p->stack[--p->nfree];
}

static void pool_put(struct reasm_pool *p, uint32_t id)
{
	p->stack[p->nfree++] = id;
}

static inline uint8_t *chunk_data(const struct reasm_pool *p, uint32_t id)
{
	return p->mem + (size_t)id * p->elem;
}

static inline _Atomic uint64_t *chunk_bits(const struct reasm_pool *p, uint32_t id)
{
	return (_Atomic uint64_t *)(void *)(p->mem + (size_t)id * p->elem + p->d);
}

/* ---- slots --------------------------------------------------------------- */

#define SLOT_V (1ull << 63)  /* the chunk's bitmap is valid (see the file comment) */
#define TAG_MASK 0x7fffffffu /* chunk number bits kept in a slot word */

static inline uint64_t slot_word(uint64_t n, uint32_t id, int valid)
{
	return ((uint64_t)((uint32_t)n & TAG_MASK) << 32) | id | (valid ? SLOT_V : 0);
}

/* The slot word w holds chunk number n. */
static inline int slot_is(uint64_t w, uint64_t n)
{
	return (uint32_t)w != NONE_ID && (uint32_t)(w >> 32 & TAG_MASK) == ((uint32_t)n & TAG_MASK);
}

/* Chunk id holding chunk number n, or NONE_ID. Used by both threads: acquire
 * pairs with the writer's release in slot_take(), so a reader that sees the
 * new tag also sees the bitmap cleared for it. */
static uint32_t slot_get(const struct reasm *r, uint64_t n)
{
	_Atomic uint64_t *s = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	if (!s || r->nslots == 0)
		return NONE_ID;
	uint64_t w = atomic_load_explicit(&s[n % r->nslots], memory_order_acquire);
	return slot_is(w, n) ? (uint32_t)w : NONE_ID;
}

/* The slot word for chunk number n (acquire, as slot_get()) into *w.
 * @return 0 when no chunk holds n. */
static int slot_get_w(const struct reasm *r, uint64_t n, uint64_t *w)
{
	_Atomic uint64_t *s = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	if (!s || r->nslots == 0)
		return 0;
	*w = atomic_load_explicit(&s[n % r->nslots], memory_order_acquire);
	return slot_is(*w, n);
}

static void clear_bits(const struct reasm_pool *p, uint32_t id)
{
	_Atomic uint64_t *b = chunk_bits(p, id);
	for (uint32_t i = 0; i < p->d / 64; i++)
		atomic_store_explicit(&b[i], 0, memory_order_relaxed);
}

/* Writer: the chunk for chunk number n, taking or retagging its slot. Only
 * called for n inside the window, so the slot's previous chunk number holds
 * consumed bytes only (see the file comment). */
static void materialize(struct reasm *r, _Atomic uint64_t *e, uint64_t n, uint32_t id);

/* lazy: the caller writes in order from the chunk's first byte with nothing
 * held, so a new tag may skip the bitmap (SLOT_V clear); *valid tells the
 * caller whether it must set bits. Without lazy the chunk always comes back
 * with a valid bitmap. */
#define LAZY_KEEP 1 /* an already lazy chunk may stay lazy */
#define LAZY_NEW 2  /* a new tag may be lazy (written from the chunk's first byte) */

static uint32_t slot_take(struct reasm *r, uint64_t n, struct reasm_result *res, int lazy, int *valid)
{
	struct reasm_pool *p = r->pool;
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (!s) {
		uint32_t m = pool_get(p);
		if (m == NONE_ID)
			goto nomem;
		r->map_id = m;
		s = (_Atomic uint64_t *)(void *)chunk_data(p, m);
		for (uint32_t i = 0; i < r->nslots; i++)
			atomic_store_explicit(&s[i], slot_word(0, NONE_ID, 0), memory_order_relaxed);
		/* Release: the reader must see the initialised entries. */
		atomic_store_explicit(&r->slots, s, memory_order_release);
	}
	_Atomic uint64_t *e = &s[n % r->nslots];
	uint64_t w = atomic_load_explicit(e, memory_order_relaxed);
	uint32_t id = (uint32_t)w;
	if (slot_is(w, n)) {
		if (!(w & SLOT_V) && !(lazy & LAZY_KEEP)) {
			materialize(r, e, n, id);
			w |= SLOT_V;
		}
		*valid = (w & SLOT_V) != 0;
		return id;
	}
	if (id == NONE_ID) {
		id = pool_get(p);
		if (id == NONE_ID)
			goto nomem;
	}
	*valid = !(lazy & LAZY_NEW);
	if (lazy & LAZY_NEW) {
		/* Release: a reader matching the tag sees a lazy chunk, whose
		 * bytes it reads only below the delivered it acquired. */
		atomic_store_explicit(e, slot_word(n, id, 0), memory_order_release);
		return id;
	}
	clear_bits(p, id);
	/* Release: bitmap cleared before the reader can match the new tag. */
	atomic_store_explicit(e, slot_word(n, id, 1), memory_order_release);
	/* Orders the new tag before the bits store_range() sets next, so that
	 * reasm_frags(), which re-reads the slot after reading bits (acquire
	 * fence), notices a retag whose bits it may have seen. */
	atomic_thread_fence(memory_order_release);
	return id;
nomem:
	if (res && !(res->flags & REASM_F_NOMEM)) {
		res->flags |= REASM_F_NOMEM;
		r->tot.nomem_events++;
	}
	return NONE_ID;
}

static inline uint64_t w_delivered(const struct reasm *r);

/* Writer: gives the lazy chunk in slot e (chunk number n, id) a real bitmap:
 * its bytes from the chunk start up to delivered, then marks it valid
 * (release: a reader that sees SLOT_V sees the bits). */
static void materialize(struct reasm *r, _Atomic uint64_t *e, uint64_t n, uint32_t id)
{
	const struct reasm_pool *p = r->pool;
	_Atomic uint64_t *b = chunk_bits(p, id);
	uint64_t cs = n * p->d, d = w_delivered(r);
	uint64_t k = d > cs ? (d - cs < p->d ? d - cs : p->d) : 0;
	for (uint32_t i = 0; i < p->d / 64; i++) {
		uint64_t v = (uint64_t)i * 64 + 64 <= k ? ~0ull : ((uint64_t)i * 64 < k ? (1ull << (k % 64)) - 1 : 0);
		atomic_store_explicit(&b[i], v, memory_order_relaxed);
	}
	atomic_store_explicit(e, slot_word(n, id, 1), memory_order_release);
	atomic_thread_fence(memory_order_release); /* as in slot_take() */
}

/* Writer: every lazy chunk gets a real bitmap. Called before the edge moves
 * over bytes that may be missing (a lazy chunk cannot describe a hole). */
static void materialize_all(struct reasm *r)
{
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (!s)
		return;
	uint64_t base = w_delivered(r) / r->pool->d;
	for (uint32_t i = 0; i < r->nslots; i++) {
		uint64_t w = atomic_load_explicit(&s[i], memory_order_relaxed);
		if ((uint32_t)w == NONE_ID || (w & SLOT_V))
			continue;
		/* The full chunk number: the one nearest the edge with this tag. */
		uint32_t delta = ((uint32_t)(w >> 32 & TAG_MASK) - (uint32_t)base) & TAG_MASK;
		uint64_t n = delta & 0x40000000u ? base - (TAG_MASK + 1u - delta) : base + delta;
		materialize(r, &s[i], n, (uint32_t)w);
	}
}

/* Gives every chunk back and starts an empty window of `size` bytes. Writer
 * only, and only when the reader has nothing left to read (consumed ==
 * delivered), so it touches nothing the reader may be looking at. */
static void reset_buffer(struct reasm *r, uint32_t size)
{
	/* Seqlock for reasm_frags(): odd while chunks go back to the pool and
	 * the slots are re-laid; the fence orders the odd value before them. */
	uint32_t g = atomic_load_explicit(&r->gen, memory_order_relaxed);
	atomic_store_explicit(&r->gen, g + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (s && r->pool) {
		for (uint32_t i = 0; i < r->nslots; i++) {
			uint32_t id = (uint32_t)atomic_load_explicit(&s[i], memory_order_relaxed);
			if (id != NONE_ID)
				pool_put(r->pool, id);
		}
		if (r->map_id != NONE_ID)
			pool_put(r->pool, r->map_id);
	}
	r->map_id = NONE_ID;
	r->size = size;
	r->nslots = size ? (uint32_t)((size + (uint64_t)r->pool->d - 1) / r->pool->d + 1) : 0;
	r->held = 0;
	s = NULL;
	if (r->nslots && r->nslots <= REASM_INLINE_SLOTS) {
		s = r->inl;
		for (uint32_t i = 0; i < REASM_INLINE_SLOTS; i++)
			atomic_store_explicit(&s[i], slot_word(0, NONE_ID, 0), memory_order_relaxed);
	}
	atomic_store_explicit(&r->slots, s, memory_order_release);
	atomic_store_explicit(&r->size_pub, size, memory_order_relaxed);
	atomic_store_explicit(&r->gen, g + 2, memory_order_release);
}

/* ---- bitmap runs --------------------------------------------------------- */

/* Length of the run of bytes starting at a (< lim) that are all present
 * (*have = 1) or all absent (*have = 0), capped at lim. d is `delivered` as
 * the caller sees it (writer: its own; reader: the value it acquired): a
 * lazy chunk holds the bytes below it. */
static uint64_t run_len(const struct reasm *r, uint64_t a, uint64_t lim, uint64_t d, int *have)
{
	const struct reasm_pool *p = r->pool;
	uint64_t o = a;
	int want = -1;
	while (o < lim) {
		uint64_t n = o / p->d;
		uint64_t cend = (n + 1) * p->d;
		uint64_t end = cend < lim ? cend : lim;
		uint64_t w = 0;
		uint32_t id = slot_get_w(r, n, &w) ? (uint32_t)w : NONE_ID;
		if (id == NONE_ID) {
			if (want == 1)
				break;
			want = 0;
			o = end;
			continue;
		}
		if (!(w & SLOT_V)) {
			/* Lazy chunk: present from its start up to d. */
			int h = o < d;
			uint64_t e = h ? (d < end ? d : end) : end;
			if (want >= 0 && want != h)
				break;
			want = h;
			o = e;
			if (e < end)
				break;
			continue;
		}
		_Atomic uint64_t *b = chunk_bits(p, id);
		while (o < end) {
			uint32_t i = (uint32_t)(o % p->d);
			uint64_t w = atomic_load_explicit(&b[i / 64], memory_order_relaxed) >> (i % 64);
			if (want < 0)
				want = (int)(w & 1);
			uint64_t diff = want ? ~w : w;
			unsigned room = 64 - i % 64;
			if (room < 64)
				diff &= (1ull << room) - 1;
			unsigned k = diff ? (unsigned)__builtin_ctzll(diff) : room;
			o += k;
			if (k < room)
				goto done;
		}
	}
done:
	*have = want == 1;
	return (o < lim ? o : lim) - a;
}

/* Set bits in [a, b): present bytes. */
static uint64_t count_present(const struct reasm *r, uint64_t a, uint64_t b)
{
	uint64_t c = 0, d = w_delivered(r);
	while (a < b) {
		int have;
		uint64_t k = run_len(r, a, b, d, &have);
		if (have)
			c += k;
		a += k;
	}
	return c;
}

/* ---- writer -------------------------------------------------------------- */

static inline uint64_t w_delivered(const struct reasm *r)
{
	return atomic_load_explicit(&r->delivered, memory_order_relaxed);
}

/* The writer's view of the reader. Acquire pairs with the reader's release in
 * reasm_peek(): once the writer sees an offset consumed, the reader's copy of
 * those bytes is complete, so their slots may be retagged and refilled. */
static inline uint64_t w_consumed(const struct reasm *r)
{
	if (!r->reader)
		return w_delivered(r);
	return atomic_load_explicit(&r->consumed, memory_order_acquire);
}

static void publish(struct reasm *r, uint64_t d)
{
	/* Release: the bytes and bitmap bits below d are written before the
	 * reader, acquiring delivered, reads them. */
	atomic_store_explicit(&r->delivered, d, memory_order_release);
	if (!r->reader)
		atomic_store_explicit(&r->consumed, d, memory_order_relaxed);
}

static void enter_jump(struct reasm *r, uint64_t from, uint64_t to, int full, struct reasm_result *res)
{
	if (!r->jumping) {
		r->jumping = 1;
		r->jump_full = (uint8_t)full;
		/* Release, and before delivered moves: a reader that sees the new
		 * edge also sees where the gap starts. */
		atomic_store_explicit(&r->jump_from, from, memory_order_release);
		if (full)
			r->tot.full_events++;
	}
	if (r->jump_full)
		res->flags |= REASM_F_FULL;
	res->flags |= REASM_F_MISSED;
	res->missed += to - from;
	publish(r, to);
}

/* Moves the edge to `to`: present bytes are delivered, absent ones missed.
 * With a reader the edge can pass the window only as a gap (jump). */
static void advance_to(struct reasm *r, uint64_t to, struct reasm_result *res)
{
	uint64_t d = w_delivered(r);
	if (to <= d)
		return;
	materialize_all(r);
	if (r->jumping || r->size == 0) {
		res->missed += to - d;
		res->flags |= REASM_F_MISSED;
		if (r->jumping && r->jump_full)
			res->flags |= REASM_F_FULL;
		publish(r, to);
		return;
	}
	uint64_t c = w_consumed(r);
	uint64_t w = c + r->size;
	int full = c < d; /* the reader is behind, not just a far segment */
	uint64_t lim = to < w ? to : w;
	uint64_t have = lim > d ? count_present(r, d, lim) : 0;
	if (lim > d) {
		res->delivered += (uint32_t)have;
		r->held -= have;
		if (lim - d > have) {
			res->missed += lim - d - have;
			res->flags |= REASM_F_MISSED;
		}
		d = lim;
	}
	if (to > d) {
		if (r->reader) {
			publish(r, d);
			enter_jump(r, d, to, full, res);
			return;
		}
		/* No reader: the window slides, nothing beyond it was stored. */
		res->missed += to - d;
		res->flags |= REASM_F_MISSED;
		if (to - d > r->size)
			reset_buffer(r, r->size); /* drop stale chunks */
		d = to;
	}
	publish(r, d);
}

/* Extends the edge over present bytes starting at it. */
static void advance_contig(struct reasm *r, struct reasm_result *res)
{
	uint64_t d = w_delivered(r);
	uint64_t w = w_consumed(r) + r->size;
	uint64_t start = d;
	while (d < w) {
		int have;
		uint64_t k = run_len(r, d, w, d, &have);
		if (!have)
			break;
		d += k;
	}
	if (d > start) {
		res->delivered += (uint32_t)(d - start);
		r->held -= d - start;
		publish(r, d);
	}
}

/* Compares [a, b) with the stored copy where one is present.
 * @return bytes that differ; *cmp gets bytes compared. */
static uint32_t compare_stored(const struct reasm *r, uint64_t a, uint64_t b, const uint8_t *src, uint64_t *cmp)
{
	const struct reasm_pool *p = r->pool;
	uint32_t diff = 0;
	uint64_t o = a, d = w_delivered(r);
	while (o < b) {
		int have;
		uint64_t k = run_len(r, o, b, d, &have);
		if (have) {
			/* A present run lies in one or more chunks; walk them. */
			for (uint64_t x = o; x < o + k;) {
				uint64_t n = x / p->d;
				uint64_t cend = (n + 1) * p->d;
				uint64_t e = cend < o + k ? cend : o + k;
				const uint8_t *st = chunk_data(p, slot_get(r, n)) + x % p->d;
				const uint8_t *nw = src + (x - a);
				if (memcmp(st, nw, e - x) != 0)
					for (uint64_t i = 0; i < e - x; i++)
						diff += st[i] != nw[i];
				x = e;
			}
			*cmp += k;
		}
		o += k;
	}
	return diff;
}

/* Stores [a, b) (a >= delivered, b <= window end) from src. Counts new bytes
 * as held and already-present ones as old (comparing them). */
static void store_range(struct reasm *r, uint64_t a, uint64_t b, const uint8_t *src, struct reasm_result *res)
{
	struct reasm_pool *p = r->pool;
	uint64_t o = a;
	while (o < b) {
		uint64_t n = o / p->d;
		uint64_t cend = (n + 1) * p->d;
		uint64_t e = cend < b ? cend : b;
		int valid;
		uint32_t id = slot_take(r, n, res, 0, &valid);
		if (id == NONE_ID) {
			o = e; /* not stored: stays a hole, missed when passed */
			continue;
		}
		uint8_t *dst = chunk_data(p, id);
		_Atomic uint64_t *bits = chunk_bits(p, id);
		while (o < e) {
			uint32_t i = (uint32_t)(o % p->d);
			uint32_t lo = i % 64;
			uint64_t span = 64 - lo < e - o ? 64 - lo : e - o;
			uint64_t mask = (span == 64 ? ~0ull : ((1ull << span) - 1)) << lo;
			uint64_t w = atomic_load_explicit(&bits[i / 64], memory_order_relaxed);
			uint64_t old = w & mask;
			const uint8_t *s = src + (o - a);
			if (old == 0) {
				memcpy(dst + i, s, span);
			} else {
				for (uint32_t j = 0; j < span; j++) {
					if (!(old >> (lo + j) & 1)) {
						dst[i + j] = s[j];
					} else if (dst[i + j] != s[j]) {
						res->diff++;
						/* Held bytes are not readable yet, so LAST may replace them. */
						if (r->policy == REASM_OVERLAP_LAST)
							dst[i + j] = s[j];
					}
				}
			}
			uint32_t nold = (uint32_t)__builtin_popcountll(old);
			res->old += nold;
			res->held += (uint32_t)span - nold;
			r->held += span - nold;
			/* Relaxed: single writer; the reader only looks at bits below
			 * delivered, ordered by the release on delivered. */
			atomic_store_explicit(&bits[i / 64], w | mask, memory_order_relaxed);
			o += span;
		}
	}
}

/* Stores [a, b) at the edge (a == delivered, nothing held, b within the
 * window) and delivers it: one copy per chunk, lazy bitmaps where the chunk
 * is new from its first byte or already lazy. Stops early when the pool is
 * dry. @return the end of what was stored and delivered. */
static uint64_t store_inorder(struct reasm *r, uint64_t a, uint64_t b, const uint8_t *src, struct reasm_result *res)
{
	struct reasm_pool *p = r->pool;
	uint64_t o = a;
	while (o < b) {
		uint64_t n = o / p->d;
		uint64_t cs = n * p->d;
		uint64_t e = cs + p->d < b ? cs + p->d : b;
		int valid;
		uint32_t id = slot_take(r, n, res, o == cs ? LAZY_NEW | LAZY_KEEP : LAZY_KEEP, &valid);
		if (id == NONE_ID)
			break;
		uint32_t i = (uint32_t)(o - cs);
		memcpy(chunk_data(p, id) + i, src + (o - a), e - o);
		if (valid) {
			/* A chunk with a real bitmap: set the bits (all clear above
			 * the edge, since nothing is held). */
			_Atomic uint64_t *bits = chunk_bits(p, id);
			uint32_t j = i, end = (uint32_t)(e - cs);
			while (j < end) {
				uint32_t lo = j % 64, span = 64 - lo < end - j ? 64 - lo : end - j;
				uint64_t mask = (span == 64 ? ~0ull : ((1ull << span) - 1)) << lo;
				uint64_t w = atomic_load_explicit(&bits[j / 64], memory_order_relaxed);
				atomic_store_explicit(&bits[j / 64], w | mask, memory_order_relaxed);
				j += span;
			}
		}
		o = e;
	}
	if (o > a) {
		res->delivered += (uint32_t)(o - a);
		publish(r, o);
	}
	return o;
}

/* Applies a pending jump end or resize once the reader has caught up. */
static void sync_writer(struct reasm *r)
{
	if (!r->jumping && !r->want_pending)
		return;
	if (w_consumed(r) != w_delivered(r))
		return;
	if (r->jumping) {
		r->jumping = 0;
		atomic_store_explicit(&r->jump_from, NO_JUMP, memory_order_release);
		reset_buffer(r, r->size);
	}
	if (r->want_pending) {
		r->want_pending = 0;
		reset_buffer(r, r->want_size);
	}
}

int reasm_reclaim(struct reasm *r)
{
	if (!r->pool)
		return 0;
	if (r->jumping || r->want_pending || r->held)
		return -1;
	if (w_consumed(r) != w_delivered(r))
		return -1; /* the reader still has bytes to read */
	uint32_t n = r->map_id != NONE_ID;
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	for (uint32_t i = 0; s && i < r->nslots; i++)
		n += (uint32_t)atomic_load_explicit(&s[i], memory_order_relaxed) != NONE_ID;
	if (n)
		reset_buffer(r, r->size); /* same window, no chunk */
	return (int)n;
}

static void finish(struct reasm *r, struct reasm_result *res)
{
	r->tot.delivered += res->delivered;
	r->tot.missed += res->missed;
	r->tot.overlap_bytes += res->old;
	r->tot.diff_bytes += res->diff;
	r->tot.flags |= res->flags;
	atomic_store_explicit(&r->missed_pub, r->tot.missed, memory_order_relaxed);
	atomic_store_explicit(&r->held_pub, r->held, memory_order_relaxed);
}

/* Stream offset of seq, placed within +/- 2^31 of the edge; may be negative. */
static int64_t seq_off(const struct reasm *r, uint32_t seq)
{
	uint64_t d = w_delivered(r);
	uint32_t edge = r->seq0 + (uint32_t)d;
	return (int64_t)d + (int32_t)(seq - edge);
}

int reasm_init(struct reasm *r, struct reasm_pool *pool, uint32_t seq0, uint32_t size, unsigned policy)
{
	if (policy > REASM_OVERLAP_LAST || (size && !pool))
		return -EINVAL;
	if (size && size > reasm_pool_max_size(pool))
		return -E2BIG;
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->seq0 = seq0;
	r->policy = (uint8_t)policy;
	r->map_id = NONE_ID;
	atomic_store_explicit(&r->jump_from, NO_JUMP, memory_order_relaxed);
	if (pool) {
		reset_buffer(r, size);
	} else {
		atomic_store_explicit(&r->slots, NULL, memory_order_relaxed);
		r->size = 0;
	}
	return 0;
}

void reasm_fini(struct reasm *r)
{
	if (r->pool)
		reset_buffer(r, 0);
}

void reasm_set_reader(struct reasm *r, int on)
{
	r->reader = on != 0;
	if (!r->reader) {
		atomic_store_explicit(&r->consumed, w_delivered(r), memory_order_relaxed);
		sync_writer(r);
	}
}

int reasm_set_policy(struct reasm *r, unsigned policy)
{
	if (policy > REASM_OVERLAP_LAST)
		return -EINVAL;
	r->policy = (uint8_t)policy;
	return 0;
}

int reasm_resize(struct reasm *r, uint32_t size)
{
	if (!r->pool)
		return -EINVAL;
	if (size > reasm_pool_max_size(r->pool))
		return -E2BIG;
	r->want_size = size;
	r->want_pending = 1;
	sync_writer(r);
	return r->want_pending ? -EAGAIN : 0;
}

/* Buffering off: state only, one tracked out-of-order range. */
static void insert_off(struct reasm *r, int64_t s, int64_t e, struct reasm_result *res)
{
	uint64_t d = w_delivered(r);
	if (s < (int64_t)d) {
		res->old += (uint32_t)(((int64_t)d < e ? (int64_t)d : e) - s);
		s = (int64_t)d;
	}
	if (e <= s)
		return;
	uint64_t us = (uint64_t)s, ue = (uint64_t)e;
	if (r->ooo_e > r->ooo_s) {
		uint64_t is = us > r->ooo_s ? us : r->ooo_s;
		uint64_t ie = ue < r->ooo_e ? ue : r->ooo_e;
		if (ie > is)
			res->old += (uint32_t)(ie - is);
	}
	if (us == d) {
		uint64_t nd = ue;
		if (r->ooo_e > r->ooo_s && r->ooo_s <= nd) {
			if (r->ooo_e > nd)
				nd = r->ooo_e;
			r->ooo_s = r->ooo_e = 0;
		}
		res->delivered += (uint32_t)(nd - d);
		r->held = 0;
		publish(r, nd);
		return;
	}
	/* Disjoint ranges are merged into their hull: filling the space
	 * between them is then counted as old, which it usually is (a loss the
	 * monitor did see the first copy of). */
	res->flags |= REASM_F_OOO;
	r->tot.ooo_segs++;
	if (r->ooo_e <= r->ooo_s) {
		r->ooo_s = us;
		r->ooo_e = ue;
	} else {
		r->ooo_s = us < r->ooo_s ? us : r->ooo_s;
		r->ooo_e = ue > r->ooo_e ? ue : r->ooo_e;
	}
	res->held = (uint32_t)(ue - us) - res->old;
	r->held = r->ooo_e - r->ooo_s;
}

int reasm_insert(struct reasm *r, uint32_t seq, const void *data, uint32_t len, uint32_t captured_len,
                 struct reasm_result *res)
{
	struct reasm_result tmp;
	if (!res)
		res = &tmp;
	memset(res, 0, sizeof(*res));
	if (captured_len > len || (captured_len && !data))
		return -EINVAL;
	if (len == 0)
		return 0;
	sync_writer(r);

	const uint8_t *src = data;
	int64_t s = seq_off(r, seq), e = s + len;
	int64_t ce = s + captured_len;
	if (s < 0) {
		/* Before the first data byte: sequence space already passed. */
		uint64_t cut = e < 0 ? len : (uint64_t)-s;
		res->old += (uint32_t)cut;
		src += cut < captured_len ? cut : captured_len;
		s = 0;
		if (ce < 0)
			ce = 0;
	}
	uint64_t held0 = r->held;
	if (e > 0 && (uint64_t)e > r->hi)
		r->hi = (uint64_t)e;

	if (r->size == 0) {
		insert_off(r, s, e, res);
		goto out;
	}

	uint64_t d = w_delivered(r);
	uint64_t us = (uint64_t)s, ue = (uint64_t)(e > 0 ? e : 0), uce = (uint64_t)ce;
	/* Bytes below the edge: old; compare those whose copy is still stored. */
	if (us < d && ue > us) {
		uint64_t oe = ue < d ? ue : d;
		uint64_t cmp_end = uce < oe ? uce : oe;
		uint64_t cmp = 0;
		res->old += (uint32_t)(oe - us);
		if (cmp_end > us && !r->jumping)
			res->diff += compare_stored(r, us, cmp_end, src, &cmp);
		src += (oe - us < uce - us ? oe - us : (uce > us ? uce - us : 0));
		us = oe;
		if (uce < us)
			uce = us;
	}
	if (ue <= us)
		goto out;
	if (us > d) {
		res->flags |= REASM_F_OOO;
		r->tot.ooo_segs++;
	}
	if (r->jumping) {
		/* Nothing is stored until the reader has passed the gap. */
		if (us == d)
			advance_to(r, ue, res);
		goto out;
	}
	if (us == d && r->held == 0 && uce > us && uce <= w_consumed(r) + r->size) {
		/* The common case: in order, nothing held, fits the window. */
		uint64_t k = store_inorder(r, us, uce, src, res);
		src += k - us;
		us = k;
		if (us >= uce)
			goto tail;
	}
	for (;;) {
		uint64_t w = w_consumed(r) + r->size;
		uint64_t top = uce < w ? uce : w;
		if (top > us) {
			store_range(r, us, top, src, res);
			src += top - us;
			us = top;
		}
		advance_contig(r, res);
		if (us >= uce)
			break;
		if (us < w_consumed(r) + r->size)
			continue; /* the window moved: room for more */
		/* Captured bytes beyond the window. */
		if (r->reader) {
			/* Window full with unconsumed bytes (or a hole at its
			 * front): the edge moves to the window end (holes missed)
			 * and the rest becomes a gap the reader will be told of. */
			advance_to(r, ue, res);
			goto out;
		}
		/* No reader: slide just enough, never past our own next byte. */
		uint64_t need = uce - r->size;
		advance_to(r, need < us ? need : us, res);
	}
tail:
	/* Uncaptured tail of a segment that is now in order: a known hole. */
	if (ue > uce && w_delivered(r) >= uce)
		advance_to(r, ue, res);
out:
	if (r->size && r->held > held0)
		res->held = (uint32_t)(r->held - held0);
	else if (r->size)
		res->held = 0;
	if (len && res->old == len) {
		res->flags |= REASM_F_REXMIT;
		r->tot.rexmit_bytes += len;
	}
	if (res->diff)
		res->flags |= REASM_F_DIFF;
	finish(r, res);
	return 0;
}

static int skip_off(struct reasm *r, int64_t to, struct reasm_result *res)
{
	struct reasm_result tmp;
	if (!res)
		res = &tmp;
	memset(res, 0, sizeof(*res));
	sync_writer(r);
	if (to > 0 && (uint64_t)to > w_delivered(r)) {
		if (r->size == 0) {
			uint64_t end = (uint64_t)to, gap = end - w_delivered(r);
			if (r->ooo_e > r->ooo_s && r->ooo_s <= end) {
				/* The held range is passed whole: it is contiguous data. */
				res->delivered += (uint32_t)(r->ooo_e - r->ooo_s);
				gap -= (end < r->ooo_e ? end : r->ooo_e) - r->ooo_s;
				end = end > r->ooo_e ? end : r->ooo_e;
				r->ooo_s = r->ooo_e = 0;
				r->held = 0;
			}
			if (gap)
				res->flags |= REASM_F_MISSED;
			res->missed += gap;
			publish(r, end);
		} else {
			advance_to(r, (uint64_t)to, res);
			if (!r->jumping)
				advance_contig(r, res);
		}
		if ((uint64_t)to > r->hi)
			r->hi = (uint64_t)to;
	}
	finish(r, res);
	return 0;
}

int reasm_skip_to(struct reasm *r, uint32_t seq, struct reasm_result *res)
{
	return skip_off(r, seq_off(r, seq), res);
}

int reasm_close(struct reasm *r, struct reasm_result *res)
{
	r->closed = 1;
	return skip_off(r, (int64_t)r->hi, res);
}

uint32_t reasm_next_seq(const struct reasm *r)
{
	return r->seq0 + (uint32_t)w_delivered(r);
}

const struct reasm_totals *reasm_totals(const struct reasm *r)
{
	return &r->tot;
}

/* ---- reader -------------------------------------------------------------- */

/* Copies the present run at o (len bytes at most) or measures the gap there.
 * @return bytes copied, or -gap. lim is the end of what may be read. */
static int64_t read_at(const struct reasm *r, uint64_t o, uint64_t lim, uint64_t d, uint8_t *buf, size_t len)
{
	int have = 0;
	uint64_t k = r->nslots ? run_len(r, o, lim, d, &have) : lim - o;
	if (!have)
		return -(int64_t)k;
	if (k > len)
		k = len;
	const struct reasm_pool *p = r->pool;
	for (uint64_t x = o; x < o + k;) {
		uint64_t n = x / p->d;
		uint64_t cend = (n + 1) * p->d;
		uint64_t e = cend < o + k ? cend : o + k;
		/* Plain copy: these bytes were written before the release of
		 * delivered we acquired, and are never written again while we
		 * have not consumed them. */
		memcpy(buf + (x - o), chunk_data(p, slot_get(r, n)) + x % p->d, e - x);
		x = e;
	}
	return (int64_t)k;
}

ssize_t reasm_peek(struct reasm *r, void *buf, size_t len)
{
	if (!buf || len == 0) {
		errno = EINVAL;
		return -1;
	}
	/* Relaxed: the reader is the only writer of consumed. */
	uint64_t c = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	/* Acquire: pairs with the writer's release, so every byte, bitmap bit
	 * and slot below d is visible. */
	uint64_t d = atomic_load_explicit(&r->delivered, memory_order_acquire);
	if (c >= d)
		return 0;
	uint64_t j = atomic_load_explicit(&r->jump_from, memory_order_acquire);
	uint64_t lim = j < d ? (j > c ? j : c) : d;
	int64_t got = lim > c ? read_at(r, c, lim, d, buf, len) : -(int64_t)(d - c);
	uint64_t adv = got < 0 ? (uint64_t)-got : (uint64_t)got;
	/* Release: our copy is finished before the writer may reuse the space. */
	atomic_store_explicit(&r->consumed, c + adv, memory_order_release);
	if (got < 0) {
		errno = ENODATA;
		return got < -(int64_t)SSIZE_MAX ? -(ssize_t)SSIZE_MAX : (ssize_t)got;
	}
	return (ssize_t)got;
}

ssize_t reasm_ppeek(const struct reasm *r, void *buf, size_t len, uint64_t off)
{
	if (!buf || len == 0) {
		errno = EINVAL;
		return -1;
	}
	uint64_t c = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	uint64_t d = atomic_load_explicit(&r->delivered, memory_order_acquire); /* as in peek */
	if (off < c) {
		errno = ERANGE;
		return -1;
	}
	if (off >= d)
		return 0;
	uint64_t j = atomic_load_explicit(&r->jump_from, memory_order_acquire);
	int64_t got;
	if (j < d && off >= j)
		got = -(int64_t)(d - off);
	else
		got = read_at(r, off, j < d ? j : d, d, buf, len);
	if (got < 0)
		errno = ENODATA;
	return (ssize_t)got;
}

void reasm_info(const struct reasm *r, struct reasm_info *out)
{
	/* Relaxed throughout: a display snapshot, fields may be from slightly
	 * different moments. */
	out->delivered = atomic_load_explicit(&r->delivered, memory_order_relaxed);
	out->consumed = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	out->missed = atomic_load_explicit(&r->missed_pub, memory_order_relaxed);
	out->held = atomic_load_explicit(&r->held_pub, memory_order_relaxed);
	out->size = atomic_load_explicit(&r->size_pub, memory_order_relaxed);
	out->pad_ = 0;
}

/* ---- fragments ----------------------------------------------------------- */

struct frag_acc {
	struct reasm_frag *out;
	unsigned n, max;
	int open, stop;
	uint64_t s, e;
};

static void frag_present(struct frag_acc *a, uint64_t o, uint64_t k)
{
	if (a->open && a->e == o) {
		a->e += k;
		return;
	}
	if (a->open) {
		a->out[a->n++] = (struct reasm_frag){.off = a->s, .len = (uint32_t)(a->e - a->s)};
		if (a->n == a->max) {
			a->open = 0;
			a->stop = 1;
			return;
		}
	}
	a->open = 1;
	a->s = o;
	a->e = o + k;
}

/* Scans [from, lim) for present runs into a. Every slot index and chunk id
 * is bounds-checked, so a stale slot array or size read during a concurrent
 * reset_buffer() stays within the struct and the pool's memory. With check,
 * each slot word is read again after its bits (acquire fence, paired with
 * the release fence in slot_take()): a retag seen there aborts the scan.
 * @return 0, or -1 when the view was inconsistent (retry). */
static int frag_scan(const struct reasm *r, uint32_t size, uint64_t from, uint64_t lim, uint64_t d, struct frag_acc *a,
                     int check)
{
	const struct reasm_pool *p = r->pool;
	_Atomic uint64_t *sl = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	uint32_t ns = (uint32_t)(((uint64_t)size + p->d - 1) / p->d + 1);
	uint32_t cap = sl == r->inl ? REASM_INLINE_SLOTS : p->elem / (uint32_t)sizeof(uint64_t);
	if (!sl || ns > cap)
		return -1;
	uint64_t o = from;
	while (o < lim && !a->stop) {
		uint64_t cn = o / p->d;
		uint64_t cend = (cn + 1) * p->d < lim ? (cn + 1) * p->d : lim;
		_Atomic uint64_t *e = &sl[cn % ns];
		uint64_t w = atomic_load_explicit(e, memory_order_acquire);
		uint32_t id = (uint32_t)w;
		if (!slot_is(w, cn)) {
			o = cend;
			continue;
		}
		if (id >= p->n)
			return -1;
		_Atomic uint64_t *b = chunk_bits(p, id);
		if (!(w & SLOT_V)) {
			/* Lazy chunk: its bytes below d, nothing above. */
			if (o < d)
				frag_present(a, o, (d < cend ? d : cend) - o);
			o = cend;
		}
		while (o < cend && !a->stop) {
			uint32_t i = (uint32_t)(o % p->d);
			uint64_t bits = atomic_load_explicit(&b[i / 64], memory_order_relaxed) >> (i % 64);
			uint64_t span = 64 - i % 64 < cend - o ? 64 - i % 64 : cend - o;
			while (span && !a->stop) {
				int have = (int)(bits & 1);
				uint64_t x = have ? ~bits : bits;
				uint64_t k = x ? (uint64_t)__builtin_ctzll(x) : 64;
				if (k > span)
					k = span;
				if (have)
					frag_present(a, o, k);
				o += k;
				span -= k;
				bits = k < 64 ? bits >> k : 0;
			}
		}
		if (check) {
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(e, memory_order_relaxed) != w)
				return -1;
		}
	}
	return 0;
}

unsigned reasm_frags(const struct reasm *r, struct reasm_frag *out, unsigned max)
{
	if (!out || max == 0 || !r->pool)
		return 0;
	uint64_t c = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	/* Acquire, as in peek: everything below d is visible and stable. */
	uint64_t d = atomic_load_explicit(&r->delivered, memory_order_acquire);
	uint64_t j = atomic_load_explicit(&r->jump_from, memory_order_acquire);
	/* End of what can be read in order; with a gap pending nothing is held. */
	uint64_t rend = j < d ? (j > c ? j : c) : d;
	struct frag_acc a;
	for (int tries = 0; tries < 4; tries++) {
		memset(&a, 0, sizeof(a));
		a.out = out;
		a.max = max;
		uint32_t g1 = atomic_load_explicit(&r->gen, memory_order_acquire);
		if (g1 & 1)
			continue;
		uint32_t size = atomic_load_explicit(&r->size_pub, memory_order_relaxed);
		if (size == 0)
			return 0;
		uint64_t lim = j < d ? rend : c + size;
		if (frag_scan(r, size, c, lim, d, &a, 1) < 0)
			continue;
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->gen, memory_order_relaxed) != g1)
			continue;
		goto done;
	}
	/* The buffer kept changing under us: only what ppeek guarantees, the
	 * delivered bytes not yet consumed (stable while we do not consume). */
	memset(&a, 0, sizeof(a));
	a.out = out;
	a.max = max;
	if (rend <= c || frag_scan(r, atomic_load_explicit(&r->size_pub, memory_order_relaxed), c, rend, d, &a, 0) < 0)
		return 0;
done:
	if (a.open)
		out[a.n++] = (struct reasm_frag){.off = a.s, .len = (uint32_t)(a.e - a.s)};
	return a.n;
}
