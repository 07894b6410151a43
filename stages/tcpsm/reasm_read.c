/* The reassembly buffer's readers (see reasm.h for the model and the
 * concurrency contract, reasm.c for the layout): the bitmap runs both sides
 * use, fragment lists, releases, peeks and spans at an edge, and the
 * single-cursor reader of unit tests and tools. What the writer stores, and
 * the edges it hands readers (reasm_edge), are in reasm.c. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/types.h>

#include "asan.h"
#include "reasm-int.h"

/* ---- bitmap runs --------------------------------------------------------- */

/* Length of the run of bytes starting at a (< lim) that are all present
 * (*have = 1) or all absent (*have = 0), capped at lim. d is `delivered` as
 * the caller sees it (writer: its own; reader: the value it acquired): a
 * lazy chunk holds the bytes below it. */
uint64_t reasm_run_len(const struct reasm *r, uint64_t a, uint64_t lim, uint64_t d, int *have)
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
/* Not checked by ASan: by design it may read a chunk the writer is giving
 * back to the pool (then poisoned) and throws the result away (see above). */
static MP_NO_ASAN int frag_scan(const struct reasm *r, uint64_t from, uint64_t lim, uint64_t d, struct frag_acc *a,
                                int check)
{
	const struct reasm_pool *p = r->pool;
	_Atomic uint64_t *sl = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	uint32_t ns = r->nslots; /* changes only while nothing is stored (reasm_resize()) */
	uint32_t cap = sl == r->inl ? REASM_INLINE_SLOTS : p->elem / (uint32_t)sizeof(uint64_t);
	if (!sl)
		return 0; /* nothing stored */
	if (ns > cap)
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

/* ---- reader -------------------------------------------------------------- */

void reasm_release(struct reasm *r, uint64_t off)
{
	/* Relaxed load: one reader lcore at a time stores it (reasm.h). */
	if (off > atomic_load_explicit(&r->consumed, memory_order_relaxed))
		/* Release: every copy below off is complete before the writer,
		 * acquiring it, gives the chunks back or refills them. */
		atomic_store_explicit(&r->consumed, off, memory_order_release);
}

/* Copies k bytes at o that are known present (bitmap or edge). @return the
 * bytes copied: fewer when a chunk is gone (a concurrent reset). */
static uint64_t copy_out(const struct reasm *r, uint64_t o, uint64_t k, uint8_t *buf)
{
	const struct reasm_pool *p = r->pool;
	uint64_t x = o;
	while (x < o + k) {
		uint64_t n = x / p->d;
		uint64_t cend = (n + 1) * p->d;
		uint64_t e = cend < o + k ? cend : o + k;
		uint32_t id = slot_get(r, n);
		if (id == NONE_ID || id >= p->n)
			break;
		/* Plain copy: these bytes were written before the packet whose
		 * edge bounds this read left tcpsm (the ring hand-off orders
		 * them), and are not written again while readers may read them
		 * (reasm.h, "Concurrency"). */
		memcpy(buf + (x - o), chunk_data(p, id) + x % p->d, e - x);
		x = e;
	}
	return x - o;
}

/* Copies the present run at o (len bytes at most) or measures the gap there.
 * @return bytes copied, or -gap. lim is the end of what may be read; d the
 * reader's edge (lazy chunks hold their bytes below it). */
static int64_t read_at(const struct reasm *r, uint64_t o, uint64_t lim, uint64_t d, uint8_t *buf, size_t len)
{
	int have = 0;
	uint64_t k = r->nslots && r->pool ? reasm_run_len(r, o, lim, d, &have) : lim - o;
	if (!have)
		return -(int64_t)k;
	if (k > len)
		k = len;
	return (int64_t)copy_out(r, o, k, buf);
}

static ssize_t clip_gap(int64_t got)
{
	errno = ENODATA;
	return got < -(int64_t)SSIZE_MAX ? -(ssize_t)SSIZE_MAX : (ssize_t)got;
}

ssize_t reasm_span_at(const struct reasm *r, const struct reasm_edge *e, uint64_t *cur, const uint8_t *sp[2],
                      size_t sl[2], size_t len)
{
	if (!sp || !sl || len == 0 || !cur || !e) {
		errno = EINVAL;
		return -1;
	}
	sl[0] = sl[1] = 0;
	uint64_t end = e->end, h = end - e->back, c = *cur;
	if (c < h) {
		*cur = h;
		return clip_gap(-(int64_t)(h - c));
	}
	if (c >= end || !(e->flags & REASM_EDGE_VALID))
		return 0;
	int have = 0;
	uint64_t k = r->nslots && r->pool ? reasm_run_len(r, c, end, end, &have) : end - c;
	if (!have) {
		*cur = c + k;
		return clip_gap(-(int64_t)k);
	}
	if (k > len)
		k = len;
	/* At most two chunks' worth: the caller loops for more. */
	const struct reasm_pool *p = r->pool;
	uint64_t x = c, got = 0;
	for (int i = 0; i < 2 && x < c + k; i++) {
		uint64_t n = x / p->d, cend = (n + 1) * p->d;
		uint64_t e2 = cend < c + k ? cend : c + k;
		uint32_t id = slot_get(r, n);
		if (id == NONE_ID || id >= p->n)
			break;
		/* The chunk stays with this reader until its release (after the
		 * callback), so the pointer is good until then (reasm.h). */
		sp[i] = chunk_data(p, id) + x % p->d;
		sl[i] = e2 - x;
		got += e2 - x;
		x = e2;
	}
	*cur = c + got;
	return (ssize_t)got;
}

ssize_t reasm_peek_at(const struct reasm *r, const struct reasm_edge *e, uint64_t *cur, void *buf, size_t len)
{
	if (!buf || len == 0 || !cur || !e) {
		errno = EINVAL;
		return -1;
	}
	uint64_t end = e->end, h = end - e->back, c = *cur;
	if (c < h) {
		/* Out of the window as of this packet: the reader lagged. */
		*cur = h;
		return clip_gap(-(int64_t)(h - c));
	}
	if (c >= end || !(e->flags & REASM_EDGE_VALID))
		return 0;
	int64_t got = read_at(r, c, end, end, buf, len);
	*cur = c + (got < 0 ? (uint64_t)-got : (uint64_t)got);
	if (got < 0)
		return clip_gap(got);
	return (ssize_t)got;
}

/* The held runs (above the edge) as of e, into out (at most max): the
 * bitmap's runs in [end, end + ahead) without what the stores logged after
 * e's serial added. @return the runs, or -1 when the log no longer reaches
 * back to e (the reader lags more than REASM_LOG_N hole-filling stores:
 * inexact, reported as nothing held). */
static int held_at(const struct reasm *r, const struct reasm_edge *e, struct reasm_frag *out, unsigned max)
{
	struct reasm_frag tmp[2 * 64];
	struct frag_acc a;
	if (!e->ahead || !r->pool || !r->nslots)
		return 0;
	for (int tries = 0; tries < 4; tries++) {
		memset(&a, 0, sizeof(a));
		a.out = tmp;
		a.max = 64;
		uint32_t g1 = atomic_load_explicit(&r->gen, memory_order_acquire);
		if (g1 & 1)
			continue;
		if (frag_scan(r, e->end, e->end + e->ahead, e->end, &a, 1) < 0)
			continue;
		if (a.open)
			tmp[a.n++] = (struct reasm_frag){.off = a.s, .len = (uint32_t)(a.e - a.s)};
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->gen, memory_order_relaxed) != g1)
			continue;
		unsigned n = a.n;
		/* Leave out what was stored after e (the log, newest REASM_LOG_N). */
		uint32_t now = atomic_load_explicit(&r->serial, memory_order_acquire);
		if (now - e->serial > REASM_LOG_N)
			return -1;
		for (uint32_t sn = e->serial; sn != now; sn++) {
			unsigned li = sn % REASM_LOG_N;
			uint64_t la = atomic_load_explicit(&r->log_off[li], memory_order_relaxed);
			uint64_t lb = atomic_load_explicit(&r->log_end[li], memory_order_relaxed);
			for (unsigned i = 0; i < n; i++) {
				uint64_t s = tmp[i].off, t = s + tmp[i].len;
				if (lb <= s || la >= t)
					continue;
				if (la > s && lb < t && n < sizeof(tmp) / sizeof(tmp[0]) - 1) {
					memmove(&tmp[i + 2], &tmp[i + 1], (n - i - 1) * sizeof(tmp[0]));
					tmp[i + 1] = (struct reasm_frag){.off = lb, .len = (uint32_t)(t - lb)};
					tmp[i].len = (uint32_t)(la - s);
					n++;
					i++;
				} else if (la > s) {
					tmp[i].len = (uint32_t)(la - s);
				} else if (lb < t) {
					tmp[i].off = lb;
					tmp[i].len = (uint32_t)(t - lb);
				} else {
					memmove(&tmp[i], &tmp[i + 1], (n - i - 1) * sizeof(tmp[0]));
					n--;
					i--;
				}
			}
		}
		/* The entries read were whole if the writer has not lapped them. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->serial, memory_order_relaxed) - e->serial > REASM_LOG_N)
			return -1;
		if (n > max)
			n = max;
		memcpy(out, tmp, n * sizeof(tmp[0]));
		return (int)n;
	}
	return -1;
}

ssize_t reasm_ppeek_at(const struct reasm *r, const struct reasm_edge *e, void *buf, size_t len, uint64_t off)
{
	if (!buf || len == 0 || !e) {
		errno = EINVAL;
		return -1;
	}
	uint64_t end = e->end, h = end - e->back;
	if (!(e->flags & REASM_EDGE_VALID) || off < h) {
		errno = ERANGE; /* out of the window as of this packet */
		return -1;
	}
	if (off < end) {
		int64_t got = read_at(r, off, end, end, buf, len);
		return got < 0 ? clip_gap(got) : (ssize_t)got;
	}
	if (off >= end + e->ahead)
		return 0;
	struct reasm_frag fr[64];
	int n = held_at(r, e, fr, 64);
	for (int i = 0; i < n; i++) {
		if (off >= fr[i].off + fr[i].len)
			continue;
		if (off < fr[i].off)
			return clip_gap(-(int64_t)(fr[i].off - off));
		uint64_t k = fr[i].off + fr[i].len - off;
		if (k > len)
			k = len;
		uint64_t got = copy_out(r, off, k, buf);
		return got ? (ssize_t)got : clip_gap(-(int64_t)k);
	}
	return clip_gap(-(int64_t)(end + e->ahead - off));
}

unsigned reasm_frags_at(const struct reasm *r, const struct reasm_edge *e, struct reasm_frag *out, unsigned max)
{
	if (!out || max == 0 || !r->pool || !e || !(e->flags & REASM_EDGE_VALID))
		return 0;
	uint64_t end = e->end, h = end - e->back;
	struct frag_acc a;
	int ok = 0;
	for (int tries = 0; tries < 4 && !ok; tries++) {
		memset(&a, 0, sizeof(a));
		a.out = out;
		a.max = max;
		uint32_t g1 = atomic_load_explicit(&r->gen, memory_order_acquire);
		if (g1 & 1)
			continue;
		if (r->nslots && frag_scan(r, h, end, end, &a, 1) < 0)
			continue;
		atomic_thread_fence(memory_order_acquire);
		ok = atomic_load_explicit(&r->gen, memory_order_relaxed) == g1;
	}
	if (!ok)
		return 0;
	if (a.open && !a.stop) {
		/* The in-order run may continue into the held ones only across a
		 * missing byte: close it here. */
		out[a.n++] = (struct reasm_frag){.off = a.s, .len = (uint32_t)(a.e - a.s)};
	}
	unsigned n = a.n;
	if (n < max) {
		int k = held_at(r, e, out + n, max - n);
		/* A held run that touches the last in-order one (only seen by a
		 * reader racing the writer with a live edge) is one run. */
		if (k > 0 && n && out[n - 1].off + out[n - 1].len == out[n].off) {
			out[n - 1].len += out[n].len;
			memmove(&out[n], &out[n + 1], (size_t)(k - 1) * sizeof(out[0]));
			k--;
		}
		if (k > 0)
			n += (unsigned)k;
	}
	return n;
}

/* ---- the single-cursor reader (unit tests, tools without an event) ------ */

/* The writer's state now as an edge, the cursor at `consumed`. */
static void live_edge(const struct reasm *r, struct reasm_edge *e)
{
	uint64_t c = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	uint64_t d = atomic_load_explicit(&r->delivered, memory_order_acquire);
	e->end = d;
	e->back = (uint32_t)(d > c ? d - c : 0);
	uint64_t hi = atomic_load_explicit(&r->hi_pub, memory_order_relaxed);
	e->ahead = (uint32_t)(hi > d ? hi - d : 0);
	e->serial = atomic_load_explicit(&r->serial, memory_order_acquire);
	e->flags = REASM_EDGE_VALID;
}

ssize_t reasm_peek(struct reasm *r, void *buf, size_t len)
{
	struct reasm_edge e;
	live_edge(r, &e);
	uint64_t c = atomic_load_explicit(&r->consumed, memory_order_relaxed);
	ssize_t n = reasm_peek_at(r, &e, &c, buf, len);
	reasm_release(r, c);
	return n;
}

ssize_t reasm_ppeek(const struct reasm *r, void *buf, size_t len, uint64_t off)
{
	struct reasm_edge e;
	live_edge(r, &e);
	return reasm_ppeek_at(r, &e, buf, len, off);
}

unsigned reasm_frags(const struct reasm *r, struct reasm_frag *out, unsigned max)
{
	struct reasm_edge e;
	live_edge(r, &e);
	return reasm_frags_at(r, &e, out, max);
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
	out->seq0 = r->seq0; /* written at reasm_init, before the buffer was published */
}
