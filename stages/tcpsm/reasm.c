/* Per-side TCP reassembly buffer (see reasm.h for the model and the
 * concurrency contract).
 *
 * Layout: stream offset o lives in chunk number n = o / D (D = data bytes per
 * chunk) at slot n % nslots. A slot word is (low 32 bits of n) << 32 | chunk
 * id, so a slot still holding an older chunk number reads as "no data". Each
 * chunk has D data bytes followed by a D-bit bitmap: bit set = byte present.
 * The writer stores only chunk numbers in [base / D, base / D + nslots),
 * base being the oldest byte a reader may still read (w_base()), so a slot
 * is retagged (or its chunk given back: free_behind()) only when its chunk
 * lies wholly behind every reader.
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
#include <sys/mman.h>

#include "asan.h"
#include "reasm-int.h"

#define NO_JUMP UINT64_MAX
#define DEFAULT_CHUNK 4096u

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
	/* The cap is address space, not memory: pages are touched as chunks
	 * are first used, and with MAP_NORESERVE a cap sized for a full flow
	 * table (tcpsm_reasm.c) is not refused by the kernel's overcommit
	 * heuristics for memory that may never be used. Page-aligned, so
	 * chunks are 64-byte aligned as before. */
	p->mem_len = (size_t)n * elem;
	p->mem = mmap(NULL, p->mem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->mem == MAP_FAILED)
		p->mem = NULL;
	p->stack = malloc(n * sizeof(*p->stack));
	if (!p->mem || !p->stack)
		goto nomem;
	p->n = p->nfree = (uint32_t)n;
	p->d = chunk;
	p->elem = elem;
	/* Pop order is ascending ids: neighbouring flows get neighbouring memory. */
	for (uint32_t i = 0; i < n; i++)
		p->stack[i] = (uint32_t)n - 1 - i;
	MP_ASAN_POISON(p->mem, (size_t)n * elem);
	return p;
nomem:
	if (p) {
		if (p->mem)
			munmap(p->mem, p->mem_len);
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
	MP_ASAN_UNPOISON(p->mem, (size_t)p->n * p->elem);
	munmap(p->mem, p->mem_len);
	free(p->stack);
	free(p);
}

/* Slots one map chunk holds: the most a side can have. */
static uint32_t pool_slots(const struct reasm_pool *p)
{
	return (p->d + p->d / 8) / (uint32_t)sizeof(uint64_t);
}

/* Slots of a side with a window of size bytes: they reach (nslots - 1)
 * chunks beyond the oldest byte a reader may still read: the window plus
 * the slack for readers that lag (reasm.h, "Readers that lag"), at most a
 * map chunk's worth. Chunks are taken as bytes land and given back as
 * readers pass them (free_behind()), so the slack costs memory only while
 * readers lag, and the slot words (8 bytes a chunk) once per side. */
static uint32_t slots_for(const struct reasm_pool *p, uint64_t size)
{
	uint64_t n = (size + reasm_slack(size) + p->d - 1) / p->d + 1, max = pool_slots(p);
	return (uint32_t)(n < max ? n : max);
}

/* No chunk is held (slot words all empty, no map chunk). */
static int buf_empty(const struct reasm *r)
{
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (r->map_id != NONE_ID)
		return 0;
	for (uint32_t i = 0; s && i < r->nslots; i++)
		if ((uint32_t)atomic_load_explicit(&s[i], memory_order_relaxed) != NONE_ID)
			return 0;
	return 1;
}

/* The largest window: the slots' reach; what it leaves is the slack for
 * readers that lag (tcpsm asks for a chunk size whose reach is twice its
 * window: reasm_chunk_for()). */
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

uint32_t reasm_chunk_bytes(uint32_t chunk)
{
	if (chunk == 0)
		chunk = DEFAULT_CHUNK;
	return chunk + chunk / 8;
}

uint32_t reasm_side_min_chunks(uint64_t size, uint32_t chunk)
{
	if (size == 0)
		return 0;
	if (chunk == 0)
		chunk = DEFAULT_CHUNK;
	/* As slots_for(): the window, the slack for lagging readers, one more. */
	uint64_t nslots = (size + reasm_slack(size) + chunk - 1) / chunk + 1;
	return nslots > REASM_INLINE_SLOTS ? 2 : 1;
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

const void *reasm_pool_chunk(const struct reasm_pool *p, uint32_t id)
{
	return p && id < p->n ? p->mem + (size_t)id * p->elem : NULL;
}

static uint32_t pool_get(struct reasm_pool *p)
{
	if (p->nfree == 0) {
		p->fail++;
		return NONE_ID;
	}
	uint32_t id = p->stack[--p->nfree];
	MP_ASAN_UNPOISON(p->mem + (size_t)id * p->elem, p->elem);
	return id;
}

/* A free chunk is poisoned in ASan builds (runtime/asan.h): a read or write
 * of it before pool_get hands it out again is reported. */
static void pool_put(struct reasm_pool *p, uint32_t id)
{
	MP_ASAN_POISON(p->mem + (size_t)id * p->elem, p->elem);
	p->stack[p->nfree++] = id;
}

/* ---- slots --------------------------------------------------------------- */

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
		r->nchunks++;
		r->map_id = m;
		s = (_Atomic uint64_t *)(void *)chunk_data(p, m);
		/* All ones is an empty slot (its chunk id is NONE_ID). A plain
		 * fill: no reader can see this map before the release below. */
		memset((void *)s, 0xff, (size_t)r->nslots * sizeof(*s));
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
		r->nchunks++;
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

/* `delivered` as the writer sees it (its own stores). */
static inline uint64_t w_delivered(const struct reasm *r)
{
	return atomic_load_explicit(&r->delivered, memory_order_relaxed);
}

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
	r->nchunks = 0;
	r->map_id = NONE_ID;
	r->size = size;
	r->nslots = size ? slots_for(r->pool, size) : 0;
	r->held = 0;
	r->nrun = 0;
	r->hi_held = 0;
	r->fb = w_delivered(r) / r->pool->d;
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

/* Set bits in [a, b): present bytes. */
static uint64_t count_present(const struct reasm *r, uint64_t a, uint64_t b)
{
	uint64_t c = 0, d = w_delivered(r);
	while (a < b) {
		int have;
		uint64_t k = reasm_run_len(r, a, b, d, &have);
		if (have)
			c += k;
		a += k;
	}
	return c;
}

/* ---- writer -------------------------------------------------------------- */

/* The oldest byte a reader may still read: what the readers released
 * (reasm_release(), `consumed`), never above the logical window start;
 * without a reader, the edge. Acquire pairs with the reader's release:
 * once the writer sees an offset released, every copy of the bytes below it
 * is complete, so their chunks may go back to the pool or be refilled. */
static inline uint64_t w_base(const struct reasm *r)
{
	if (!r->reader)
		return w_delivered(r);
	uint64_t rel = atomic_load_explicit(&r->consumed, memory_order_acquire);
	return rel < r->lh ? rel : r->lh;
}

/* End of what the slots hold without refilling a chunk a reader may read:
 * chunk numbers [base / D, base / D + nslots). */
static inline uint64_t w_phys_end(const struct reasm *r)
{
	uint64_t d = r->pool->d;
	return (w_base(r) / d + r->nslots) * d;
}

/* End of the window: the logical one (the edge plus the size, the same at
 * any reader lag), cut by the physical one when readers lag more than the
 * slack. */
static inline uint64_t w_end(const struct reasm *r)
{
	uint64_t l = w_delivered(r) + r->size, p = w_phys_end(r);
	return l < p ? l : p;
}

/* Gives back the chunks wholly below the oldest byte a reader may read. */
static void free_behind(struct reasm *r)
{
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (!s || !r->nslots)
		return;
	uint64_t n0 = w_base(r) / r->pool->d;
	if (n0 <= r->fb)
		return;
	uint64_t from = n0 - r->fb > r->nslots ? n0 - r->nslots : r->fb;
	for (uint64_t n = from; n < n0; n++) {
		_Atomic uint64_t *e = &s[n % r->nslots];
		uint64_t w = atomic_load_explicit(e, memory_order_relaxed);
		uint32_t id = (uint32_t)w;
		if (id == NONE_ID)
			continue;
		/* The slot's chunk number, as in materialize_all(): behind every
		 * reader when below n0. */
		uint32_t delta = ((uint32_t)(w >> 32 & TAG_MASK) - (uint32_t)n0) & TAG_MASK;
		if (!(delta & 0x40000000u))
			continue; /* holds n0 or later */
		pool_put(r->pool, id);
		r->nchunks--;
		/* Relaxed: readers never look a chunk number below n0 up. */
		atomic_store_explicit(e, slot_word(0, NONE_ID, 0), memory_order_relaxed);
	}
	r->fb = n0;
}

void reasm_pool_set_nohist(struct reasm_pool *p, int on)
{
	p->nohist = (uint8_t)(on != 0);
}

int reasm_trim(struct reasm *r)
{
	if (!r->nohist || r->size == 0)
		return 0;
	uint64_t d = w_delivered(r), base = w_base(r);
	if (base < d)
		return -1;
	free_behind(r);
	_Atomic uint64_t *s = atomic_load_explicit(&r->slots, memory_order_relaxed);
	if (!s || r->held || r->jumping)
		return 0;
	int got = 0;
	uint64_t n = d / r->pool->d;
	_Atomic uint64_t *e = &s[n % r->nslots];
	uint64_t w = atomic_load_explicit(e, memory_order_relaxed);
	if (d % r->pool->d && slot_is(w, n)) {
		/* Everything below the edge is released and nothing is held
		 * above it: the edge's chunk holds no byte anyone may read. */
		pool_put(r->pool, (uint32_t)w);
		r->nchunks--;
		atomic_store_explicit(e, slot_word(0, NONE_ID, 0), memory_order_relaxed);
		got = 1;
	}
	if (r->map_id != NONE_ID && r->nchunks == 1) {
		/* Only the slot map left: it goes too. The next bytes take a
		 * map from the top of the pool, in cache (a fill of the map's
		 * lines there), instead of reading a map line no cache holds.
		 * No reader reads the slots now: all is released, and what
		 * later packets' edges let them read is nothing until tcpsm
		 * stores again, under a new map published before their edges
		 * leave (slot_take()). */
		atomic_store_explicit(&r->slots, NULL, memory_order_release);
		pool_put(r->pool, r->map_id);
		r->map_id = NONE_ID;
		r->nchunks = 0;
	}
	return got;
}

/* Moves the logical window start: never more than `size` below the edge,
 * and up to the edge to make room for bytes up to x (mOS pushes its window
 * head over delivered bytes the same way). */
static void update_lh(struct reasm *r, uint64_t x)
{
	uint64_t d = w_delivered(r), t = d > r->size ? d - r->size : 0;
	if (x > r->size && x - r->size > t)
		t = x - r->size < d ? x - r->size : d;
	if (t > r->lh)
		r->lh = t;
}

/* Logs a store into [a, b) above the edge (reasm_edge_types, "serial"). */
static void log_store(struct reasm *r, uint64_t a, uint64_t b)
{
	uint32_t sn = atomic_load_explicit(&r->serial, memory_order_relaxed);
	unsigned i = sn % REASM_LOG_N;
	atomic_store_explicit(&r->log_off[i], a, memory_order_relaxed);
	atomic_store_explicit(&r->log_end[i], b, memory_order_relaxed);
	/* Release: a reader that sees serial sn + 1 sees the entry. */
	atomic_store_explicit(&r->serial, sn + 1, memory_order_release);
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
	uint64_t w = w_end(r);
	int full = r->reader && w < d + r->size; /* readers lag beyond the slack */
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
		if (full) {
			/* The slots cannot take bytes here before the readers move
			 * on: a gap until they passed it (sync_writer()). */
			publish(r, d);
			enter_jump(r, d, to, full, res);
			return;
		}
		/* The window slides; nothing beyond it was stored, and the chunks
		 * readers have passed go back (free_behind()). */
		res->missed += to - d;
		res->flags |= REASM_F_MISSED;
		d = to;
	}
	publish(r, d);
}

/* Extends the edge over present bytes starting at it. */
static void advance_contig(struct reasm *r, struct reasm_result *res)
{
	uint64_t d = w_delivered(r);
	uint64_t w = w_end(r);
	uint64_t start = d;
	while (d < w) {
		int have;
		uint64_t k = reasm_run_len(r, d, w, d, &have);
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
		uint64_t k = reasm_run_len(r, o, b, d, &have);
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

/* Runs of bytes a store changes (filled holes, replaced bytes), merged
 * when adjacent; past the last entry the rest joins it (log entries are
 * few: REASM_LOG_N in all). */
#define STORE_RUNS 4
struct store_runs {
	unsigned n;
	uint64_t s[STORE_RUNS], e[STORE_RUNS];
};

static void chg_add(struct store_runs *c, uint64_t s, uint64_t e)
{
	if (c->n && c->e[c->n - 1] == s)
		c->e[c->n - 1] = e;
	else if (c->n == STORE_RUNS)
		c->e[c->n - 1] = e; /* wider than the change: readers see less, never more */
	else {
		c->s[c->n] = s;
		c->e[c->n++] = e;
	}
}

/* Adds the runs of word mask chg (bit k: byte base + k) to c. */
static void chg_add_mask(struct store_runs *c, uint64_t base, uint64_t chg)
{
	while (chg) {
		unsigned lo = (unsigned)__builtin_ctzll(chg);
		uint64_t rest = ~(chg >> lo);
		unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - lo;
		chg_add(c, base + lo, base + lo + len);
		chg = len + lo >= 64 ? 0 : chg & ~(((1ull << len) - 1) << lo);
	}
}

/* Stores [a, b) (a >= delivered, b <= window end) from src. Counts new bytes
 * as held and already-present ones as old (comparing them); a present byte
 * that differs is replaced when its offset is at or above win_from (the
 * overlap policy's verdict, runs_win_from()).
 *
 * Above the edge the store is logged (log_store(), for readers of earlier
 * packets: reasm_frags_at(), reasm_ppeek_at()), but only the bytes it
 * changes: a retransmission of bytes already held changes nothing a reader
 * of an earlier packet could see, and logging it would hide them from that
 * reader, by how far tcpsm has run ahead of it (the burst and the mapping:
 * DESIGN.md §3). So: first the new bytes are copied under clear bits
 * (invisible) and what changes is noted; then it is logged; then the bits
 * are set and the replaced bytes written, which readers may see. */
static void store_range(struct reasm *r, uint64_t a, uint64_t b, const uint8_t *src, struct reasm_result *res,
                        uint64_t win_from)
{
	struct reasm_pool *p = r->pool;
	uint64_t o = a;
	int logged = a > w_delivered(r) || r->held;
	struct store_runs chg = {0};
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
			uint64_t old = w & mask, rep = 0;
			const uint8_t *s = src + (o - a);
			if (old == 0) {
				memcpy(dst + i, s, span);
			} else {
				for (uint32_t j = 0; j < span; j++) {
					if (!(old >> (lo + j) & 1)) {
						dst[i + j] = s[j];
					} else if (dst[i + j] != s[j]) {
						res->diff++;
						/* Held bytes are not readable yet, so the
						 * policy may replace them (below, once
						 * logged). */
						if (o + j >= win_from)
							rep |= 1ull << (lo + j);
					}
				}
			}
			if (logged)
				chg_add_mask(&chg, o - lo, (mask & ~old) | rep);
			uint32_t nold = (uint32_t)__builtin_popcountll(old);
			res->old += nold;
			res->held += (uint32_t)span - nold;
			r->held += span - nold;
			o += span;
		}
	}
	if (logged) {
		/* Fills space above the edge: readers of earlier packets must not
		 * see it (reasm_frags_at()). */
		for (unsigned k = 0; k < chg.n; k++)
			log_store(r, chg.s[k], chg.e[k]);
		if (!r->held || b > r->hi_held)
			r->hi_held = b;
	}
	for (o = a; o < b;) {
		uint64_t n = o / p->d;
		uint64_t cend = (n + 1) * p->d;
		uint64_t e = cend < b ? cend : b;
		uint32_t id = slot_get(r, n);
		if (id == NONE_ID) {
			o = e;
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
			const uint8_t *s = src + (o - a);
			/* The replacements the policy decided (present bytes that
			 * differ, at or above win_from). */
			for (uint64_t old = w & mask; old;) {
				unsigned j = (unsigned)__builtin_ctzll(old) - lo;
				old &= old - 1;
				if (o + j >= win_from && dst[i + j] != s[j])
					dst[i + j] = s[j];
			}
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
		/* A new chunk is lazy (its bitmap not kept: it holds the bytes
		 * below the edge) from its first byte; with no history also
		 * from the edge when every reader has released it: the bytes
		 * before it in the chunk are no reader's, whatever its lag. */
		int lazy = o == cs || (r->nohist && o <= w_base(r));
		uint32_t id = slot_take(r, n, res, lazy ? LAZY_NEW | LAZY_KEEP : LAZY_KEEP, &valid);
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
	if (r->nslots)
		free_behind(r);
	if (!r->jumping)
		return;
	/* Nothing was stored from jump_from on (readers find those bytes
	 * missing): once the readers moved on enough for the slots to reach
	 * past the edge, bytes are stored again. */
	if (w_phys_end(r) <= w_delivered(r))
		return;
	r->jumping = 0;
	atomic_store_explicit(&r->jump_from, NO_JUMP, memory_order_release);
	free_behind(r);
}

int reasm_reclaim(struct reasm *r, int reader_done)
{
	if (!r->pool)
		return 0;
	if (r->held || (r->reader && !reader_done))
		return -1; /* a callback may still read the window */
	if (r->jumping) {
		/* A gap the reader has not reached yet: it never will once the
		 * side is closed and its reader done (nothing is delivered after
		 * CONN_END); an open side waits for it. */
		if (!(r->closed && reader_done))
			return -1;
		r->jumping = 0;
		atomic_store_explicit(&r->jump_from, NO_JUMP, memory_order_release);
	}
	uint32_t n = r->nchunks;
	if (n) {
		/* The window's bytes go with the chunks: it starts at the edge
		 * from the next packet on (a reader still behind it learns of a
		 * gap). Idle by then: nothing reads as of an earlier packet. */
		if (r->reader && !r->closed)
			r->lh = w_delivered(r);
		reset_buffer(r, r->size); /* same window size, no chunk */
	}
	return (int)n;
}

int reasm_reclaim_held(struct reasm *r, int reader_done, uint64_t *dropped)
{
	*dropped = 0;
	if (!r->pool)
		return 0;
	if (r->jumping || !r->held)
		return -1;
	/* A reader may lag: a callback for an earlier packet may read held bytes
	 * as of its edge (ppeek, FRAGINFO), or hold spans into them. Only a side
	 * nobody reads, or whose reader is done with every packet so far,
	 * gives them up (tcpsm_reasm.c, reclaim_open()). */
	if (r->reader && !reader_done)
		return -1;
	uint32_t n = r->nchunks;
	*dropped = r->held;
	if (n) {
		/* As a resize does: held bytes become holes again (missed when
		 * the stream passes them, or stored again if re-sent). */
		if (r->reader)
			r->lh = w_delivered(r); /* as reasm_reclaim() */
		reset_buffer(r, r->size);
		r->tot.flags |= REASM_F_NOMEM;
		atomic_store_explicit(&r->held_pub, 0, memory_order_relaxed);
	}
	return (int)n;
}

uint32_t reasm_chunks(const struct reasm *r)
{
	return r->nchunks;
}

static void finish(struct reasm *r, struct reasm_result *res)
{
	r->tot.delivered += res->delivered;
	r->tot.missed += res->missed;
	r->tot.overlap_bytes += res->old;
	r->tot.diff_bytes += res->diff;
	r->tot.flags |= res->flags;
	update_lh(r, 0);
	atomic_store_explicit(&r->missed_pub, r->tot.missed, memory_order_relaxed);
	atomic_store_explicit(&r->held_pub, r->held, memory_order_relaxed);
	atomic_store_explicit(&r->hi_pub, r->held ? r->hi_held : 0, memory_order_relaxed);
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
	if (policy > REASM_OVERLAP_BSD || (size && !pool))
		return -EINVAL;
	if (size && size > reasm_pool_max_size(pool))
		return -E2BIG;
	memset(r, 0, sizeof(*r));
	r->pool = pool;
	r->seq0 = seq0;
	r->policy = (uint8_t)policy;
	r->map_id = NONE_ID;
	r->nohist = pool ? pool->nohist : 0; /* fixed for the side's life (readers need not read it) */
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
	if (policy > REASM_OVERLAP_BSD)
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
	if (size == r->size)
		return 0;
	if (size == 0 || r->size == 0) {
		/* Buffering off (or back on): readers do not read a side whose
		 * buffer the control word turned off (tcpsm.h), so the chunks
		 * may go at once. */
		r->jumping = 0;
		atomic_store_explicit(&r->jump_from, NO_JUMP, memory_order_release);
		reset_buffer(r, size);
		r->lh = w_delivered(r);
		return 0;
	}
	if (slots_for(r->pool, size) != r->nslots && buf_empty(r)) {
		/* Nothing stored (a resize before the side's first bytes, the
		 * usual one): lay the slots out for the new size. */
		reset_buffer(r, size);
		update_lh(r, 0);
		return 0;
	}
	/* Bytes are stored: the slots stay (readers may be reading them);
	 * only the window changes, a smaller one moving its start up at once.
	 * A larger one than the slots were laid out for eats into the slack. */
	r->size = size;
	atomic_store_explicit(&r->size_pub, size, memory_order_relaxed);
	update_lh(r, 0);
	return 0;
}

/* ---- held runs (policies LINUX and BSD) ------------------------------------
 *
 * The target's out-of-order queue keeps segments, not bytes: which copy of
 * an overlapped byte the reader gets depends on where each segment started.
 * run[] remembers the held segments (coalesced as Linux coalesces them) by
 * start; the bytes themselves are in the chunks as always. With the runs
 * before a new segment N in the target's order (they start before N, or at
 * its start and win the tie), N's copy is the reader's from the end of the
 * furthest of them on: a byte there is replaced, a byte before it kept. */

/* Drops the runs now below the edge. @return the first offset of [s, e)
 * whose byte is N's under the policy (e or beyond: none). */
static uint64_t runs_win_from(struct reasm *r, uint64_t s, uint64_t e)
{
	if (r->policy == REASM_OVERLAP_FIRST)
		return UINT64_MAX;
	if (r->policy == REASM_OVERLAP_LAST)
		return 0;
	uint64_t d = w_delivered(r), m = s;
	unsigned k = 0;
	for (unsigned i = 0; i < r->nrun; i++) {
		struct reasm_run x = r->run[i];
		if (x.e <= d)
			continue;
		r->run[k++] = x;
		/* At the same start Linux replaces a shorter run by a longer one
		 * (tcp_data_queue_ofo: "skb covers skb1"); BSD keeps the first. */
		int before = x.s < s || (x.s == s && (r->policy == REASM_OVERLAP_BSD || x.e >= e));
		if (before && x.e > m)
			m = x.e;
	}
	r->nrun = (uint8_t)k;
	return m;
}

/* Records held segment [s, e) whose bytes are its own from m on. */
static void runs_add(struct reasm *r, uint64_t s, uint64_t e, uint64_t m, struct reasm_result *res)
{
	if (m >= e)
		return; /* all of it was already there: Linux drops such a segment */
	unsigned k = 0, at;
	/* Runs it covers are gone from the target's queue (its "merge_right"). */
	for (unsigned i = 0; i < r->nrun; i++)
		if (!(r->run[i].s >= s && r->run[i].e <= e))
			r->run[k++] = r->run[i];
	r->nrun = (uint8_t)k;
	if (r->policy == REASM_OVERLAP_LINUX)
		for (unsigned i = 0; i < k; i++)
			if (r->run[i].e == s && r->run[i].s < s) {
				/* tcp_ooo_try_coalesce(): it joins the run it continues. */
				r->run[i].e = e;
				return;
			}
	if (k == REASM_RUNS) {
		/* Full: the two runs furthest from the edge become one. */
		struct reasm_run *a = &r->run[k - 2], *b = &r->run[k - 1];
		if (b->e > a->e)
			a->e = b->e;
		r->nrun = (uint8_t)--k;
		res->flags |= REASM_F_RUNS;
	}
	for (at = k; at > 0 && r->run[at - 1].s > s; at--)
		r->run[at] = r->run[at - 1];
	r->run[at] = (struct reasm_run){.s = s, .e = e};
	r->nrun = (uint8_t)(k + 1);
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

	/* data may be NULL when nothing was captured; src is moved by captured
	 * amounts only (0 then), and moving NULL even by 0 is undefined. */
	static const uint8_t none[1];
	const uint8_t *src = data ? data : none;
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
	uint64_t held0 = r->held, hi0 = r->hi;
	if (e > 0 && (uint64_t)e > r->hi)
		r->hi = (uint64_t)e;

	if (r->size == 0) {
		insert_off(r, s, e, res);
		goto out;
	}

	uint64_t d = w_delivered(r);
	uint64_t us = (uint64_t)s, ue = (uint64_t)(e > 0 ? e : 0), uce = (uint64_t)ce;
	uint64_t run_s = us; /* where the segment starts, for the overlap policy */
	/* Bytes below the edge: old; compare those whose copy is still stored. */
	if (us < d && ue > us) {
		uint64_t oe = ue < d ? ue : d;
		uint64_t cmp_end = uce < oe ? uce : oe;
		uint64_t cmp = 0;
		res->old += (uint32_t)(oe - us);
		/* Only bytes still in the window are compared: whether older ones
		 * are still stored depends on how far readers lag. */
		uint64_t cmp_start = us > r->lh ? us : r->lh;
		if (cmp_end > cmp_start && !r->jumping)
			res->diff += compare_stored(r, cmp_start, cmp_end, src + (cmp_start - us), &cmp);
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
	/* Not one byte next to anything seen: a segment far ahead. */
	int far = us > hi0;
	uint64_t win_from = r->held || us > d ? runs_win_from(r, run_s, ue) : run_s;
	if (us == d && r->held == 0 && uce > us && uce <= w_end(r)) {
		/* The common case: in order, nothing held, fits the window. */
		uint64_t k = store_inorder(r, us, uce, src, res);
		src += k - us;
		us = k;
		if (us >= uce)
			goto tail;
	}
	for (;;) {
		uint64_t w = w_end(r);
		uint64_t top = uce < w ? uce : w;
		if (top > us) {
			update_lh(r, top);
			store_range(r, us, top, src, res, win_from);
			src += top - us;
			us = top;
		}
		advance_contig(r, res);
		if (us >= uce)
			break;
		if (us < w_end(r))
			continue; /* the window moved: room for more */
		/* Captured bytes beyond the window. */
		if (far) {
			/* Far ahead of the stream, maybe where the receiver's window
			 * (larger than this buffer) lets a segment be queued: the
			 * edge stays, so that the bytes before it, still to come,
			 * are monitored; these are not stored (a hole when the stream
			 * gets there). Moving the edge would let one segment blind
			 * the box to everything up to it. */
			res->flags |= REASM_F_BEYOND;
			r->hi = hi0 > us ? hi0 : us;
			goto runs;
		}
		if (us < w_delivered(r) + r->size) {
			/* The window has room, the slots not: readers lag more than
			 * the slack (reasm.h). Counted; in order, the edge moves over
			 * the bytes as a gap the readers are told of; held, they are
			 * not stored. */
			r->tot.lag_overflows++;
			if (us == w_delivered(r))
				advance_to(r, ue, res);
			else
				res->flags |= REASM_F_FULL;
			goto out;
		}
		/* Captured bytes beyond the window (a hole at its front): slide
		 * just enough, never past our own next byte; the hole is missed. */
		uint64_t need = uce - r->size;
		advance_to(r, need < us ? need : us, res);
	}
tail:
	/* Uncaptured tail of a segment that is now in order: a known hole. */
	if (ue > uce && w_delivered(r) >= uce)
		advance_to(r, ue, res);
runs:
	if (r->policy >= REASM_OVERLAP_LINUX && !r->jumping && ue > w_delivered(r))
		runs_add(r, run_s, ue, win_from, res);
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

/* ---- edges --------------------------------------------------------------- */

void reasm_edge(struct reasm *r, struct reasm_edge *e, struct reasm_edge *copy)
{
	uint64_t d = w_delivered(r);
	struct reasm_edge v = {
	    .end = d,
	    .back = (uint32_t)(d > r->lh ? d - r->lh : 0),
	    .ahead = (uint32_t)(r->held && r->hi_held > d ? r->hi_held - d : 0),
	    .serial = atomic_load_explicit(&r->serial, memory_order_relaxed),
	    .flags = REASM_EDGE_VALID | (r->lh != r->lh_pub ? REASM_EDGE_SLID : 0),
	};
	r->lh_pub = r->lh;
	if (r->nohist && d > r->lh)
		r->lh = d; /* the next packet's window starts at this one's edge */
	*e = v;
	if (copy)
		*copy = v;
}
