/* Unit tests of the per-side TCP reassembly buffer (stages/tcpsm/reasm.c, reasm_read.c):
 * ordering, overlaps under both policies, gaps reported to the reader, wrap
 * around 2^32, full windows, pools running dry, buffering off, snaplen holes,
 * resizing, and a two-thread stream checked byte by byte.
 * No EAL: reasm is plain C. REASM_STRESS_MB sets the two-thread volume.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "reasm.h"

/* Byte at stream offset o of the test pattern: not periodic in any small
 * power of two, so a byte delivered at the wrong place is noticed. */
static inline uint8_t pat(uint64_t o)
{
	return (uint8_t)(o * 7 + (o >> 9) * 13 + (o >> 17));
}

static void fill(uint8_t *b, uint64_t off, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		b[i] = pat(off + i);
}

/* Inserts pattern bytes [off, off + n) of a stream whose offset 0 is seq0. */
static struct reasm_result put(struct reasm *r, uint32_t seq0, uint64_t off, uint32_t n)
{
	uint8_t b[4096];
	struct reasm_result res;
	ck_assert_uint_le(n, sizeof(b));
	fill(b, off, n);
	ck_assert_int_eq(reasm_insert(r, seq0 + (uint32_t)off, b, n, n, &res), 0);
	return res;
}

static void expect_data(struct reasm *r, uint64_t off, uint32_t n)
{
	uint8_t b[4096];
	ck_assert_int_eq(reasm_peek(r, b, n), (ssize_t)n);
	for (uint32_t i = 0; i < n; i++)
		ck_assert_uint_eq(b[i], pat(off + i));
}

static void expect_gap(struct reasm *r, uint64_t n)
{
	uint8_t b[16];
	errno = 0;
	ck_assert_int_eq(reasm_peek(r, b, sizeof(b)), -(ssize_t)n);
	ck_assert_int_eq(errno, ENODATA);
}

START_TEST(in_order)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	ck_assert_int_eq(reasm_init(&r, p, 1000, 1024, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	uint8_t b[8];
	ck_assert_int_eq(reasm_peek(&r, b, sizeof(b)), 0);
	struct reasm_result res = put(&r, 1000, 0, 100);
	ck_assert_uint_eq(res.delivered, 100);
	ck_assert_uint_eq(res.held, 0);
	ck_assert_uint_eq(res.flags, 0);
	put(&r, 1000, 100, 150);
	ck_assert_uint_eq(reasm_next_seq(&r), 1250);
	expect_data(&r, 0, 200);
	expect_data(&r, 200, 50);
	ck_assert_int_eq(reasm_peek(&r, b, sizeof(b)), 0);
	struct reasm_info in;
	reasm_info(&r, &in);
	ck_assert_uint_eq(in.delivered, 250);
	ck_assert_uint_eq(in.consumed, 250);
	ck_assert_uint_eq(reasm_totals(&r)->delivered, 250);
	reasm_fini(&r);
	uint32_t fr, tot;
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	reasm_pool_destroy(p);
}
END_TEST

/* reasm_reclaim: a side whose delivered bytes were all read gives its chunks
 * back and keeps working; one with unread or held bytes keeps them. */
START_TEST(reclaim_idle_side)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	uint32_t fr, tot;
	ck_assert_int_eq(reasm_init(&r, p, 1000, 4096, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	put(&r, 1000, 0, 3000);
	ck_assert_int_eq(reasm_reclaim(&r, 0), -1); /* a callback may still read */
	expect_data(&r, 0, 2000);
	ck_assert_int_eq(reasm_reclaim(&r, 0), -1);
	expect_data(&r, 2000, 1000);
	put(&r, 1000, 3500, 100); /* held out of order */
	ck_assert_int_eq(reasm_reclaim(&r, 1), -1);
	put(&r, 1000, 3000, 500); /* fills the hole: 600 more to read */
	expect_data(&r, 3000, 600);
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_lt(fr, tot);
	ck_assert_int_gt(reasm_reclaim(&r, 1), 0);
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	ck_assert_int_eq(reasm_reclaim(&r, 1), 0); /* nothing left */
	/* Later data is stored and read as before, from where it was. */
	put(&r, 1000, 3600, 700);
	ck_assert_uint_eq(reasm_next_seq(&r), 1000 + 4300);
	expect_data(&r, 3600, 700);
	reasm_fini(&r);
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(out_of_order)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 5, 1024, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	struct reasm_result res = put(&r, 5, 200, 100);
	ck_assert(res.flags & REASM_F_OOO);
	ck_assert_uint_eq(res.held, 100);
	ck_assert_uint_eq(res.delivered, 0);
	res = put(&r, 5, 100, 100);
	ck_assert_uint_eq(res.held, 100);
	uint8_t b[8];
	ck_assert_int_eq(reasm_peek(&r, b, sizeof(b)), 0);
	res = put(&r, 5, 0, 100);
	ck_assert_uint_eq(res.delivered, 300);
	ck_assert_uint_eq(res.held, 0);
	ck_assert_uint_eq(reasm_totals(&r)->ooo_segs, 2);
	struct reasm_info in;
	reasm_info(&r, &in);
	ck_assert_uint_eq(in.held, 0);
	expect_data(&r, 0, 300);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* A 40-byte segment "A" held at 100, then "B" overlapping it at 120..180. */
static void overlap_case(unsigned policy, uint8_t expect_at_130)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 1024, policy);
	reasm_set_reader(&r, 1);
	uint8_t a[40], bb[60], out[200];
	memset(a, 'A', sizeof(a));
	memset(bb, 'B', sizeof(bb));
	struct reasm_result res;
	reasm_insert(&r, 100, a, 40, 40, &res);
	reasm_insert(&r, 120, bb, 60, 60, &res);
	ck_assert_uint_eq(res.old, 20);
	ck_assert_uint_eq(res.diff, 20);
	ck_assert_uint_eq(res.held, 40);
	ck_assert(res.flags & REASM_F_DIFF);
	ck_assert(!(res.flags & REASM_F_REXMIT));
	/* An exact, identical overlap: old, no difference, a retransmission. */
	reasm_insert(&r, 160, bb, 20, 20, &res);
	ck_assert_uint_eq(res.old, 20);
	ck_assert_uint_eq(res.diff, 0);
	ck_assert(res.flags & REASM_F_REXMIT);
	uint8_t z[100];
	memset(z, 'Z', sizeof(z));
	reasm_insert(&r, 0, z, 100, 100, &res);
	ck_assert_uint_eq(res.delivered, 180);
	ck_assert_int_eq(reasm_peek(&r, out, sizeof(out)), 180);
	ck_assert_uint_eq(out[110], 'A');
	ck_assert_uint_eq(out[130], expect_at_130);
	ck_assert_uint_eq(out[170], 'B');
	ck_assert_uint_eq(reasm_totals(&r)->diff_bytes, 20);
	ck_assert_uint_eq(reasm_totals(&r)->rexmit_bytes, 20);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}

START_TEST(overlap_first)
{
	overlap_case(REASM_OVERLAP_FIRST, 'A');
}
END_TEST

START_TEST(overlap_last)
{
	overlap_case(REASM_OVERLAP_LAST, 'B');
}
END_TEST

START_TEST(overlap_linux_bsd_first_start)
{
	/* A starts first: its bytes stay for both targets. */
	overlap_case(REASM_OVERLAP_LINUX, 'A');
	overlap_case(REASM_OVERLAP_BSD, 'A');
}
END_TEST

/* Segments (offset, bytes) held beyond a hole at [0, 4), then "AAAA" fills
 * it: @return what the reader gets. */
static const char *ooo(unsigned policy, const char *const *segs, unsigned n)
{
	static char out[64];
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 1024, policy);
	reasm_set_reader(&r, 1);
	for (unsigned i = 0; i < n; i++) {
		const char *s = segs[i];
		uint32_t off = (uint32_t)(s[0] - '0');
		reasm_insert(&r, off, s + 2, (uint32_t)strlen(s + 2), (uint32_t)strlen(s + 2), NULL);
	}
	reasm_insert(&r, 0, "AAAA", 4, 4, NULL);
	ssize_t k = reasm_peek(&r, out, sizeof(out) - 1);
	out[k > 0 ? k : 0] = 0;
	reasm_fini(&r);
	reasm_pool_destroy(p);
	return out;
}

/* What a Linux receiver's application read for each (tests/evasion/ cases
 * ov_*, the truth these expectations come from), and what BSD/Windows
 * (Snort's stream5 model), first and last make of the same segments. */
START_TEST(overlap_targets)
{
	const char *same_start[] = {"4 BB", "4 XXXX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, same_start, 2), "AAAAXXXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_BSD, same_start, 2), "AAAABBXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_FIRST, same_start, 2), "AAAABBXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_LAST, same_start, 2), "AAAAXXXX");
	const char *same_start_shorter[] = {"4 BBBB", "4 XX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, same_start_shorter, 2), "AAAABBBB");
	const char *head[] = {"6 CCCC", "4 XXXX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, head, 2), "AAAAXXXXCC");
	ck_assert_str_eq(ooo(REASM_OVERLAP_BSD, head, 2), "AAAAXXXXCC");
	ck_assert_str_eq(ooo(REASM_OVERLAP_FIRST, head, 2), "AAAAXXCCCC");
	const char *tail[] = {"4 BBBB", "6 XXXX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, tail, 2), "AAAABBBBXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_LAST, tail, 2), "AAAABBXXXX");
	const char *coalesced[] = {"4 BB", "6 CC", "5 XX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, coalesced, 3), "AAAABBCC");
	ck_assert_str_eq(ooo(REASM_OVERLAP_BSD, coalesced, 3), "AAAABBXC");
	const char *covered[] = {"6 CCCC", "4 BBBBDD"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, covered, 2), "AAAABBBBDD");
	ck_assert_str_eq(ooo(REASM_OVERLAP_FIRST, covered, 2), "AAAABBCCCC");
	const char *inside[] = {"4 BBBBBB", "6 CC"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, inside, 2), "AAAABBBBBB");
	/* The in-order segment starts before every held run: it wins. */
	const char *inorder[] = {"4 BBBB", "0 AAAAXXXX"};
	ck_assert_str_eq(ooo(REASM_OVERLAP_LINUX, inorder, 2), "AAAAXXXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_BSD, inorder, 2), "AAAAXXXX");
	ck_assert_str_eq(ooo(REASM_OVERLAP_FIRST, inorder, 2), "AAAABBBB");
}
END_TEST

/* More held runs than the list holds: the furthest merge, flagged. */
START_TEST(overlap_runs_full)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	struct reasm_result res;
	uint32_t any = 0;
	reasm_init(&r, p, 0, 1024, REASM_OVERLAP_LINUX);
	reasm_set_reader(&r, 1);
	for (uint32_t i = 0; i < REASM_RUNS + 2; i++) {
		res = put(&r, 0, 10 + i * 20, 5);
		any |= res.flags;
	}
	ck_assert(any & REASM_F_RUNS);
	ck_assert_uint_le(r.nrun, REASM_RUNS);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* A segment far beyond the window and everything seen does not move the
 * edge (one segment must not blind the box to the bytes before it); its
 * bytes are not kept. Contiguous data past the window still does. */
START_TEST(far_segment)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 256, REASM_OVERLAP_LINUX);
	reasm_set_reader(&r, 1);
	put(&r, 0, 100, 100);
	struct reasm_result res = put(&r, 0, 1000, 100);
	ck_assert(res.flags & REASM_F_BEYOND);
	ck_assert_uint_eq(res.missed, 0);
	ck_assert_uint_eq(reasm_next_seq(&r), 0);
	res = put(&r, 0, 0, 100);
	ck_assert_uint_eq(res.delivered, 200);
	expect_data(&r, 0, 200);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* Retransmission of delivered bytes: compared while still stored, never
 * changed under either policy (the reader may be reading them). */
START_TEST(rexmit_delivered)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	for (unsigned pol = 0; pol < 2; pol++) {
		struct reasm r;
		reasm_init(&r, p, 77, 512, pol);
		reasm_set_reader(&r, pol); /* with and without a reader */
		put(&r, 77, 0, 100);
		uint8_t x[30];
		fill(x, 20, 30);
		x[5] ^= 1;
		x[6] ^= 1;
		struct reasm_result res;
		reasm_insert(&r, 77 + 20, x, 30, 30, &res);
		ck_assert(res.flags & REASM_F_REXMIT);
		ck_assert(res.flags & REASM_F_DIFF);
		ck_assert_uint_eq(res.old, 30);
		ck_assert_uint_eq(res.diff, 2);
		/* Partly old, partly new. */
		res = put(&r, 77, 90, 20);
		ck_assert_uint_eq(res.old, 10);
		ck_assert_uint_eq(res.delivered, 10);
		ck_assert(!(res.flags & REASM_F_REXMIT));
		if (pol)
			expect_data(&r, 0, 110);
		reasm_fini(&r);
	}
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(gaps)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 1024, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	put(&r, 0, 0, 10);
	put(&r, 0, 20, 10);
	put(&r, 0, 40, 10);
	struct reasm_result res;
	reasm_skip_to(&r, 20, &res);
	ck_assert_uint_eq(res.missed, 10);
	ck_assert_uint_eq(res.delivered, 10);
	ck_assert(res.flags & REASM_F_MISSED);
	ck_assert_uint_eq(reasm_next_seq(&r), 30);
	reasm_close(&r, &res);
	ck_assert_uint_eq(res.missed, 10);
	ck_assert_uint_eq(reasm_next_seq(&r), 50);
	expect_data(&r, 0, 10);
	expect_gap(&r, 10);
	expect_data(&r, 20, 10);
	expect_gap(&r, 10);
	expect_data(&r, 40, 10);
	ck_assert_uint_eq(reasm_totals(&r)->missed, 20);
	/* A gap at the front of a full window: the stream moves on. */
	struct reasm r2;
	reasm_init(&r2, p, 0, 256, REASM_OVERLAP_FIRST);
	put(&r2, 0, 100, 100);
	/* Contiguous data on past the window: it slides just enough for it,
	 * giving up the front of the hole (a segment far from anything seen
	 * would not move it: far_segment). */
	res = put(&r2, 0, 200, 100);
	ck_assert_uint_eq(res.missed, 44);
	ck_assert(res.flags & REASM_F_MISSED);
	ck_assert(!(res.flags & REASM_F_FULL));
	reasm_fini(&r);
	reasm_fini(&r2);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(wrap_around)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	uint32_t seq0 = 0xFFFFFF00u;
	reasm_init(&r, p, seq0, 2048, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	/* 0..1000 in 100-byte segments, pairs swapped, across 2^32. */
	for (uint64_t o = 0; o < 1000; o += 200) {
		put(&r, seq0, o + 100, 100);
		put(&r, seq0, o, 100);
	}
	ck_assert_uint_eq(reasm_next_seq(&r), seq0 + 1000u);
	ck_assert_uint_eq(reasm_next_seq(&r), 1000u - 0x100u);
	expect_data(&r, 0, 1000);
	/* A retransmission from before the wrap is recognised as old. */
	struct reasm_result res = put(&r, seq0, 200, 100);
	ck_assert(res.flags & REASM_F_REXMIT);
	/* And one before seq0 (e.g. SYN space) too. */
	uint8_t b[10] = {0};
	reasm_insert(&r, seq0 - 10, b, 10, 10, &res);
	ck_assert(res.flags & REASM_F_REXMIT);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* Lazy bitmaps (reasm.c): in-order bytes written from a chunk's start leave
 * its bitmap alone. Every way out of that state must keep the exact view:
 * out-of-order bytes into the same chunk, a retransmission compared against
 * it, a hole declared over it, fragments and ppeek of its bytes, a chunk
 * reused from the pool with a stale bitmap. */
START_TEST(lazy_chunks)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	for (int reader = 0; reader < 2; reader++) {
		struct reasm r;
		struct reasm_frag f[8];
		struct reasm_result res;
		ck_assert_int_eq(reasm_init(&r, p, 5000, 1024, REASM_OVERLAP_FIRST), 0);
		reasm_set_reader(&r, reader);
		/* Dirty the pool: a chunk with every bit set goes back, so the
		 * next lazy chunk may carry that stale bitmap. */
		struct reasm junk;
		reasm_init(&junk, p, 0, 1024, REASM_OVERLAP_FIRST);
		put(&junk, 0, 300, 256); /* held: bitmap written, never delivered */
		reasm_fini(&junk);
		res = put(&r, 5000, 0, 100); /* lazy chunk 0: [0, 100) */
		ck_assert_uint_eq(res.delivered, 100);
		if (reader)
			ck_assert_uint_eq(reasm_frags(&r, f, 8), 1);
		/* Out of order into the same chunk: [150, 200) held, [100, 150) absent. */
		res = put(&r, 5000, 150, 50);
		ck_assert_uint_eq(res.held, 50);
		ck_assert_uint_eq(res.delivered, 0);
		if (reader) {
			ck_assert_uint_eq(reasm_frags(&r, f, 8), 2);
			ck_assert_uint_eq(f[0].off, 0);
			ck_assert_uint_eq(f[0].len, 100);
			ck_assert_uint_eq(f[1].off, 150);
			ck_assert_uint_eq(f[1].len, 50);
		}
		/* A retransmission of lazily stored bytes, two of them changed. */
		uint8_t x[40];
		fill(x, 30, 40);
		x[3] ^= 0x55;
		x[9] ^= 0x55;
		reasm_insert(&r, 5000 + 30, x, 40, 40, &res);
		ck_assert_uint_eq(res.old, 40);
		ck_assert_uint_eq(res.diff, 2);
		res = put(&r, 5000, 100, 50); /* fills the hole: [0, 200) in order */
		ck_assert_uint_eq(res.delivered, 100);
		/* In order again, through chunks 0..2 (lazy from their start). */
		res = put(&r, 5000, 200, 500);
		ck_assert_uint_eq(res.delivered, 500);
		if (reader) {
			ck_assert_uint_eq(reasm_frags(&r, f, 8), 1);
			ck_assert_uint_eq(f[0].len, 700);
			char b[64];
			ck_assert_int_eq(reasm_ppeek(&r, b, 64, 600), 64);
			for (int i = 0; i < 64; i++)
				ck_assert_uint_eq((uint8_t)b[i], pat(600 + (uint64_t)i));
			expect_data(&r, 0, 700);
		}
		/* A hole over a lazy chunk: skip to 800, then data from 800. */
		ck_assert_int_eq(reasm_skip_to(&r, 5000 + 800, &res), 0);
		ck_assert_uint_eq(res.missed, 100);
		res = put(&r, 5000, 800, 200);
		ck_assert_uint_eq(res.delivered, 200);
		/* A retransmission over the hole and the bytes around it: only the
		 * stored ones are compared (none differ). */
		if (!reader) {
			uint8_t y[300];
			fill(y, 650, 300);
			reasm_insert(&r, 5000 + 650, y, 300, 300, &res);
			ck_assert_uint_eq(res.old, 300);
			ck_assert_uint_eq(res.diff, 0);
		} else {
			expect_gap(&r, 100);
			expect_data(&r, 800, 200);
		}
		const struct reasm_totals *t = reasm_totals(&r);
		ck_assert_uint_eq(t->missed, 100);
		ck_assert_uint_eq(t->delivered, 900);
		reasm_fini(&r);
	}
	uint32_t fr, tot;
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	reasm_pool_destroy(p);
}
END_TEST

/* A reader that lags more than the slack (the slots of a 256-byte window
 * reach as far as a map chunk of this pool allows, 36 chunks of 256 from the
 * chunk of its release point; the slack would be 1 MiB): the window slides
 * whatever the reader does, the slots do not. */
START_TEST(buffer_full)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 256, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	put(&r, 0, 0, 200);
	expect_data(&r, 0, 50); /* released up to 50 */
	struct reasm_result res;
	uint64_t o = 200;
	const uint64_t reach = 36 * 256;
	for (; o + 100 <= reach; o += 100) {
		res = put(&r, 0, (uint32_t)o, 100);
		ck_assert_uint_eq(res.flags & REASM_F_FULL, 0);
	}
	res = put(&r, 0, (uint32_t)o, 400); /* past the slots' reach */
	ck_assert(res.flags & REASM_F_FULL);
	ck_assert_uint_eq(reasm_totals(&r)->lag_overflows, 1);
	ck_assert_uint_eq(reasm_totals(&r)->full_events, 1);
	/* Nothing a reader may still read was overwritten. */
	for (uint64_t x = 50; x < reach; x += 1000)
		expect_data(&r, x, (uint32_t)(reach - x < 1000 ? reach - x : 1000));
	expect_gap(&r, (uint32_t)(o + 400 - reach));
	/* Once the reader passed the gap, bytes are stored again. */
	res = put(&r, 0, (uint32_t)(o + 400), 100);
	ck_assert_uint_eq(res.delivered, 100);
	ck_assert_uint_eq(res.flags, 0);
	expect_data(&r, o + 400, 100);
	ck_assert_uint_eq(reasm_totals(&r)->missed, o + 400 - reach);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(no_reader_slides)
{
	struct reasm_pool *p = reasm_pool_create(64 * 1024, 64);
	struct reasm r;
	reasm_init(&r, p, 123456, 300, REASM_OVERLAP_FIRST);
	uint64_t o = 0;
	unsigned i = 0;
	while (o < (64ull << 20)) {
		uint32_t n = 1 + (i * 37) % 150; /* a pair fits the window */
		if (i % 5 == 0) {                /* a pair out of order */
			put(&r, 123456, o + n, n);
			put(&r, 123456, o, n);
			o += 2 * n;
		} else {
			put(&r, 123456, o, n);
			o += n;
		}
		i++;
	}
	const struct reasm_totals *t = reasm_totals(&r);
	ck_assert_uint_eq(t->delivered, o);
	ck_assert_uint_eq(t->missed, 0);
	ck_assert_uint_eq(t->full_events, 0);
	ck_assert_uint_eq(reasm_next_seq(&r), 123456u + (uint32_t)o);
	uint32_t fr, tot;
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_ge(tot - fr, 1);
	ck_assert_uint_le(tot - fr, 300 / 64 + 3); /* data slots + map chunk */
	reasm_fini(&r);
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(pool_exhaustion)
{
	/* Room for 3 chunks of 64 (+8 bitmap). */
	struct reasm_pool *p = reasm_pool_create(3 * 72, 64);
	ck_assert_ptr_nonnull(p);
	struct reasm a, b;
	reasm_init(&a, p, 0, 128, REASM_OVERLAP_FIRST); /* 3 slots: inline */
	reasm_init(&b, p, 0, 128, REASM_OVERLAP_FIRST);
	reasm_set_reader(&b, 1);
	struct reasm_result res = put(&a, 0, 0, 150); /* takes all 3 */
	ck_assert_uint_eq(res.delivered, 150);
	ck_assert_uint_eq(res.flags & REASM_F_NOMEM, 0);
	res = put(&b, 0, 0, 100);
	ck_assert(res.flags & REASM_F_NOMEM);
	ck_assert_uint_eq(res.delivered, 0);
	ck_assert_uint_eq(reasm_totals(&b)->nomem_events, 1);
	reasm_close(&b, &res);
	ck_assert_uint_eq(res.missed, 100);
	expect_gap(&b, 100);
	uint64_t fails;
	reasm_pool_stats(p, NULL, NULL, &fails);
	ck_assert_uint_ge(fails, 1);
	reasm_fini(&a); /* chunks back: b can store again */
	res = put(&b, 0, 100, 50);
	ck_assert_uint_eq(res.flags, 0);
	ck_assert_uint_eq(res.delivered, 50);
	expect_data(&b, 100, 50);
	reasm_fini(&b);
	reasm_pool_destroy(p);
	/* A map chunk the pool cannot give. */
	p = reasm_pool_create(1 * 288, 256); /* a 4000-byte window needs 32 slots: a map chunk */
	ck_assert_int_eq(reasm_init(&a, p, 0, 4000, REASM_OVERLAP_FIRST), 0);
	res = put(&a, 0, 0, 10);
	ck_assert(res.flags & REASM_F_NOMEM);
	reasm_fini(&a);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(buffering_off)
{
	struct reasm r;
	ck_assert_int_eq(reasm_init(&r, NULL, 0, 0, REASM_OVERLAP_FIRST), 0);
	struct reasm_result res = put(&r, 0, 0, 100);
	ck_assert_uint_eq(res.delivered, 100);
	res = put(&r, 0, 50, 50);
	ck_assert(res.flags & REASM_F_REXMIT);
	ck_assert_uint_eq(res.old, 50);
	res = put(&r, 0, 200, 100);
	ck_assert(res.flags & REASM_F_OOO);
	ck_assert_uint_eq(res.held, 100);
	res = put(&r, 0, 250, 100); /* overlaps the held range */
	ck_assert_uint_eq(res.old, 50);
	ck_assert_uint_eq(res.held, 50);
	res = put(&r, 0, 100, 100);
	ck_assert_uint_eq(res.delivered, 250);
	ck_assert_uint_eq(reasm_next_seq(&r), 350);
	res = put(&r, 0, 400, 10);
	reasm_close(&r, &res);
	ck_assert_uint_eq(res.missed, 50);
	ck_assert_uint_eq(reasm_totals(&r)->rexmit_bytes, 50);
	ck_assert_uint_eq(reasm_totals(&r)->overlap_bytes, 100);
	ck_assert_int_eq(reasm_resize(&r, 100), -EINVAL); /* no pool */
	reasm_fini(&r);
}
END_TEST

START_TEST(snaplen_holes)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 9, 1024, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	uint8_t b[100];
	fill(b, 0, 100);
	struct reasm_result res;
	ck_assert_int_eq(reasm_insert(&r, 9, b, 100, 101, &res), -EINVAL);
	reasm_insert(&r, 9, b, 100, 60, &res);
	ck_assert_uint_eq(res.delivered, 60);
	ck_assert_uint_eq(res.missed, 40);
	ck_assert(res.flags & REASM_F_MISSED);
	put(&r, 9, 100, 20);
	expect_data(&r, 0, 60);
	expect_gap(&r, 40);
	expect_data(&r, 100, 20);
	/* Header-only capture: nothing captured at all. */
	reasm_insert(&r, 9 + 120, NULL, 30, 0, &res);
	ck_assert_uint_eq(res.missed, 30);
	expect_gap(&r, 30);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* reasm_frags(): the readable run plus every held out-of-order run, exact
 * offsets and lengths; one run once the holes are filled. */
static void expect_frag(const struct reasm_frag *f, uint64_t off, uint32_t len)
{
	ck_assert_uint_eq(f->off, off);
	ck_assert_uint_eq(f->len, len);
}

START_TEST(frags)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	struct reasm_frag f[8];
	ck_assert_int_eq(reasm_init(&r, p, 7000, 1024, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 0);
	put(&r, 7000, 0, 100);
	ck_assert(put(&r, 7000, 200, 50).flags & REASM_F_OOO);
	ck_assert(put(&r, 7000, 500, 100).flags & REASM_F_OOO); /* crosses chunk 1 -> 2 */
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 3);
	expect_frag(&f[0], 0, 100);
	expect_frag(&f[1], 200, 50);
	expect_frag(&f[2], 500, 100);
	/* Room for two: the first two. */
	ck_assert_uint_eq(reasm_frags(&r, f, 2), 2);
	expect_frag(&f[1], 200, 50);
	ck_assert_uint_eq(reasm_frags(&r, NULL, 0), 0);
	/* The reader consumes part of the readable run. */
	expect_data(&r, 0, 40);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 3);
	expect_frag(&f[0], 40, 60);
	/* A run adjacent to a held one merges with it. */
	put(&r, 7000, 250, 50);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 3);
	expect_frag(&f[1], 200, 100);
	/* Only held runs (nothing readable): they are still reported. */
	expect_data(&r, 40, 60);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 2);
	expect_frag(&f[0], 200, 100);
	expect_frag(&f[1], 500, 100);
	/* Holes filled: one run. */
	put(&r, 7000, 100, 100);
	put(&r, 7000, 300, 200);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 1);
	expect_frag(&f[0], 100, 500);
	/* All consumed: none. */
	expect_data(&r, 100, 500);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 0);
	/* The window counts from the edge, whatever the reader has read: a
	 * segment within it is held. */
	put(&r, 7000, 600, 1024);
	put(&r, 7000, 1700, 10);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 2);
	expect_frag(&f[0], 600, 1024);
	expect_frag(&f[1], 1700, 10);
	reasm_fini(&r);
	/* Buffering off: nothing stored, no runs. */
	ck_assert_int_eq(reasm_init(&r, NULL, 1, 0, REASM_OVERLAP_FIRST), 0);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 0);
	reasm_pool_destroy(p);
}
END_TEST

/* The held runs as of an earlier packet's edge (what MOS_FRAGINFO and
 * mtcp_ppeek in its callback see, DESIGN.md §3) leave out exactly the
 * bytes stored after it: a retransmission of bytes already held changes
 * nothing and hides nothing, however far the writer has run ahead of the
 * reader (the burst and the mapping decide that, and must not show). */
START_TEST(frags_as_of_edge)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	struct reasm_frag f[8];
	struct reasm_edge e1, e2;
	uint8_t b[64];
	ck_assert_int_eq(reasm_init(&r, p, 7000, 4096, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	put(&r, 7000, 0, 100);
	put(&r, 7000, 200, 50);
	reasm_edge(&r, &e1, NULL);
	ck_assert_uint_eq(reasm_frags_at(&r, &e1, f, 8), 2);
	expect_frag(&f[1], 200, 50);
	/* The same bytes again, several times: as of e1 they are still held. */
	for (int k = 0; k < 20; k++)
		put(&r, 7000, 200, 50);
	ck_assert_uint_eq(reasm_frags_at(&r, &e1, f, 8), 2);
	expect_frag(&f[0], 0, 100);
	expect_frag(&f[1], 200, 50);
	ck_assert_int_eq(reasm_ppeek_at(&r, &e1, b, sizeof(b), 200), 50);
	ck_assert_uint_eq(b[0], pat(200));
	/* New bytes next to them are left out as of e1, seen as of e2. */
	put(&r, 7000, 250, 50);
	ck_assert_uint_eq(reasm_frags_at(&r, &e1, f, 8), 2);
	expect_frag(&f[1], 200, 50);
	reasm_edge(&r, &e2, NULL);
	ck_assert_uint_eq(reasm_frags_at(&r, &e2, f, 8), 2);
	expect_frag(&f[1], 200, 100);
	/* A segment that overlaps held bytes and fills a hole before them: only
	 * the hole's bytes are new to e1 and e2. */
	put(&r, 7000, 180, 80);
	ck_assert_uint_eq(reasm_frags_at(&r, &e1, f, 8), 2);
	expect_frag(&f[1], 200, 50);
	ck_assert_uint_eq(reasm_frags_at(&r, &e2, f, 8), 2);
	expect_frag(&f[1], 200, 100);
	errno = 0;
	ck_assert_int_eq(reasm_ppeek_at(&r, &e2, b, sizeof(b), 190), -10); /* a gap as of e2 */
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_uint_eq(reasm_frags(&r, f, 8), 2); /* now: one held run */
	expect_frag(&f[1], 180, 120);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* tcp.buf_history = no (reasm_pool_set_nohist): the window as of a packet
 * is exactly the bytes that packet delivered; once its reader released it
 * (the edge's end), reasm_trim() gives back every chunk, the edge's own
 * too, and the next bytes land in a chunk from the pool's top. */
START_TEST(nohist_window_and_trim)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	reasm_pool_set_nohist(p, 1);
	uint32_t free0, total, free1;
	uint64_t fails;
	reasm_pool_stats(p, &free0, &total, &fails);
	struct reasm r;
	struct reasm_edge e1, e2, e3;
	uint8_t b[512];
	ck_assert_int_eq(reasm_init(&r, p, 5000, 1024, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	put(&r, 5000, 0, 100);
	reasm_edge(&r, &e1, NULL);
	ck_assert_uint_eq(e1.end, 100);
	ck_assert_uint_eq(e1.back, 100);
	uint64_t cur = 0;
	ck_assert_int_eq(reasm_peek_at(&r, &e1, &cur, b, sizeof(b)), 100);
	ck_assert_uint_eq(b[99], pat(99));
	/* The next packet's window starts at this one's edge. */
	put(&r, 5000, 100, 300); /* across the chunk boundary at 256 */
	reasm_edge(&r, &e2, NULL);
	ck_assert_uint_eq(e2.end, 400);
	ck_assert_uint_eq(e2.back, 300);
	ck_assert(e2.flags & REASM_EDGE_SLID);
	errno = 0;
	ck_assert_int_eq(reasm_ppeek_at(&r, &e2, b, 10, 50), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(reasm_peek_at(&r, &e2, &cur, b, sizeof(b)), 300);
	ck_assert_uint_eq(b[0], pat(100));
	ck_assert_uint_eq(b[299], pat(399));
	/* Nothing goes back before the reader released. */
	ck_assert_int_eq(reasm_trim(&r), -1);
	reasm_pool_stats(p, &free1, &total, &fails);
	ck_assert_uint_lt(free1, free0 - 1);
	/* Released: both data chunks back (the map stays with the side). */
	reasm_release(&r, e2.end);
	ck_assert_int_eq(reasm_trim(&r), 1);
	reasm_pool_stats(p, &free1, &total, &fails);
	uint32_t map = free0 - free1;
	ck_assert_uint_le(map, 1);
	/* The next bytes, from the edge in a chunk of their own. */
	put(&r, 5000, 400, 100);
	reasm_edge(&r, &e3, NULL);
	ck_assert_uint_eq(e3.back, 100);
	ck_assert_int_eq(reasm_peek_at(&r, &e3, &cur, b, sizeof(b)), 100);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(b[i], pat(400 + (uint64_t)i));
	/* A retransmission of bytes given back: old, nothing to compare. */
	struct reasm_result res = put(&r, 5000, 350, 50);
	ck_assert_uint_eq(res.old, 50);
	ck_assert(res.flags & REASM_F_REXMIT);
	ck_assert(!(res.flags & REASM_F_DIFF));
	reasm_fini(&r);
	reasm_pool_stats(p, &free1, &total, &fails);
	ck_assert_uint_eq(free1, free0);
	reasm_pool_destroy(p);
}
END_TEST

/* The case that made a chunk taken at the edge lazy only once the readers
 * released the edge: snaplen-cut segments (30 of 300 bytes captured), the
 * second one starting inside a chunk its predecessor's hole reaches into.
 * A reader still at the first packet must read 30 bytes and a 270-byte
 * gap, however far the writer has gone: with the chunk made lazy at the
 * window start alone, it read 44 bytes of whatever the chunk held before
 * (timestamp.pcap against tcpflow, streamdump on two lcores). */
START_TEST(nohist_lagging_reader)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	reasm_pool_set_nohist(p, 1);
	struct reasm r;
	struct reasm_edge e1, e2;
	struct reasm_result res;
	uint8_t b[512];
	/* Chunks that held other bytes before (what the pool hands out after
	 * a while): fill some and give them back. */
	ck_assert_int_eq(reasm_init(&r, p, 0, 1024, REASM_OVERLAP_FIRST), 0);
	memset(b, 0xee, sizeof(b));
	for (int k = 0; k < 4; k++)
		ck_assert_int_eq(reasm_insert(&r, (uint32_t)k * 256, b, 256, 256, &res), 0);
	reasm_fini(&r);
	ck_assert_int_eq(reasm_init(&r, p, 0, 1024, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	fill(b, 0, 300);
	ck_assert_int_eq(reasm_insert(&r, 0, b, 300, 30, &res), 0);
	reasm_edge(&r, &e1, NULL);
	fill(b, 300, 300);
	ck_assert_int_eq(reasm_insert(&r, 300, b, 300, 30, &res), 0);
	reasm_edge(&r, &e2, NULL);
	/* The reader, as of the first packet. */
	uint64_t cur = 0;
	ck_assert_int_eq(reasm_peek_at(&r, &e1, &cur, b, sizeof(b)), 30);
	ck_assert_uint_eq(b[29], pat(29));
	errno = 0;
	ck_assert_int_eq(reasm_peek_at(&r, &e1, &cur, b, sizeof(b)), -270);
	ck_assert_int_eq(errno, ENODATA);
	reasm_release(&r, e1.end);
	ck_assert_int_eq(reasm_peek_at(&r, &e2, &cur, b, sizeof(b)), 30);
	ck_assert_uint_eq(b[0], pat(300));
	errno = 0;
	ck_assert_int_eq(reasm_peek_at(&r, &e2, &cur, b, sizeof(b)), -270);
	ck_assert_int_eq(errno, ENODATA);
	reasm_release(&r, e2.end);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* Bytes held out of order keep their chunk through a trim, and are
 * delivered whole once the hole before them is filled. */
START_TEST(nohist_held_bytes_stay)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	ck_assert_ptr_nonnull(p);
	reasm_pool_set_nohist(p, 1);
	struct reasm r;
	struct reasm_edge e;
	uint8_t b[512];
	ck_assert_int_eq(reasm_init(&r, p, 0, 1024, REASM_OVERLAP_FIRST), 0);
	reasm_set_reader(&r, 1);
	put(&r, 0, 0, 100);
	reasm_edge(&r, &e, NULL);
	reasm_release(&r, e.end);
	ck_assert_int_eq(reasm_trim(&r), 1);
	put(&r, 0, 150, 50); /* held: the edge's chunk holds it */
	reasm_edge(&r, &e, NULL);
	reasm_release(&r, e.end);
	ck_assert_int_eq(reasm_trim(&r), 0);
	put(&r, 0, 100, 50);
	reasm_edge(&r, &e, NULL);
	ck_assert_uint_eq(e.end, 200);
	ck_assert_uint_eq(e.back, 100);
	uint64_t cur = 100;
	ck_assert_int_eq(reasm_peek_at(&r, &e, &cur, b, sizeof(b)), 100);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(b[i], pat(100 + (uint64_t)i));
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(ppeek_offsets)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	reasm_init(&r, p, 0, 1024, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	put(&r, 0, 0, 100);
	uint8_t b[16];
	put(&r, 0, 130, 20);
	struct reasm_result res;
	reasm_skip_to(&r, 130, &res);
	ck_assert_int_eq(reasm_ppeek(&r, b, 10, 95), 5);
	ck_assert_uint_eq(b[0], pat(95));
	errno = 0;
	ck_assert_int_eq(reasm_ppeek(&r, b, 10, 110), -20);
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_int_eq(reasm_ppeek(&r, b, 16, 140), 10);
	ck_assert_uint_eq(b[9], pat(149));
	ck_assert_int_eq(reasm_ppeek(&r, b, 16, 150), 0);
	/* ppeek does not consume. */
	expect_data(&r, 0, 16);
	errno = 0;
	ck_assert_int_eq(reasm_ppeek(&r, b, 16, 3), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(reasm_ppeek(&r, NULL, 16, 20), -1);
	ck_assert_int_eq(errno, EINVAL);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

START_TEST(resize)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	uint32_t fr, tot;
	reasm_init(&r, p, 0, 128, REASM_OVERLAP_FIRST);
	reasm_set_reader(&r, 1);
	ck_assert_int_eq(reasm_resize(&r, UINT32_MAX), -E2BIG);
	ck_assert_int_eq(reasm_resize(&r, 1000), 0); /* nothing stored: slots laid out again */
	put(&r, 0, 0, 100);
	expect_data(&r, 0, 100);
	put(&r, 0, 100, 900); /* fits */
	struct reasm_info in;
	reasm_info(&r, &in);
	ck_assert_uint_eq(in.size, 1000);
	ck_assert_uint_eq(reasm_totals(&r)->missed, 0);
	expect_data(&r, 100, 900);
	ck_assert_int_eq(reasm_resize(&r, 64), 0); /* down */
	struct reasm_result res = put(&r, 0, 1000, 100);
	ck_assert_uint_eq(res.flags & REASM_F_MISSED, 0); /* in order: the window slides */
	expect_data(&r, 1000, 100);
	/* Disable: chunks go back, state continues. */
	ck_assert_int_eq(reasm_resize(&r, 0), 0);
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	res = put(&r, 0, 1100, 50);
	ck_assert_uint_eq(res.delivered, 50);
	res = put(&r, 0, 1100, 50);
	ck_assert(res.flags & REASM_F_REXMIT);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

/* ---- two threads --------------------------------------------------------- */

#define SEQ0 0xF0000000u /* the stream wraps 2^32 after 256 MB */

struct stream {
	struct reasm r;
	uint64_t total;
	_Atomic int done;
	uint64_t r_data, r_gap, r_bad;
};

static void *writer(void *arg)
{
	struct stream *s = arg;
	uint8_t b[1500];
	uint64_t o = 0;
	unsigned i = 0;
	while (o < s->total) {
		uint32_t n = 1 + (i * 7919u) % 1460;
		if (o + n > s->total)
			n = (uint32_t)(s->total - o);
		/* Mostly give the reader time; every 64th burst push regardless,
		 * so that full windows and gaps happen too. */
		if ((i >> 6) % 8 != 0) {
			struct reasm_info in;
			for (;;) {
				reasm_info(&s->r, &in);
				if (in.delivered - in.consumed + 2 * 1500 <= in.size)
					break;
				sched_yield();
			}
		}
		fill(b, o, n);
		if (i % 11 == 3 && o + 2 * n <= s->total) {
			uint8_t b2[1500];
			fill(b2, o + n, n);
			reasm_insert(&s->r, SEQ0 + (uint32_t)(o + n), b2, n, n, NULL);
			reasm_insert(&s->r, SEQ0 + (uint32_t)o, b, n, n, NULL);
			reasm_insert(&s->r, SEQ0 + (uint32_t)(o + n), b2, n, n, NULL); /* rexmit */
			o += 2 * n;
		} else {
			reasm_insert(&s->r, SEQ0 + (uint32_t)o, b, n, n, NULL);
			o += n;
		}
		i++;
	}
	reasm_close(&s->r, NULL);
	atomic_store(&s->done, 1);
	return NULL;
}

static void *reader(void *arg)
{
	struct stream *s = arg;
	uint8_t b[3000];
	uint64_t off = 0;
	unsigned i = 0;
	for (;;) {
		size_t want = 1 + (i++ * 2654435761u) % sizeof(b);
		if (i % 8 == 0) {
			/* Fragments while the writer runs: ordered, disjoint, not
			 * adjacent, inside the window from our offset. */
			struct reasm_frag f[16];
			unsigned nf = reasm_frags(&s->r, f, 16);
			uint64_t prev = off;
			for (unsigned k = 0; k < nf; k++) {
				if (f[k].len == 0 || f[k].off < prev || (k && f[k].off == prev) ||
				    f[k].off + f[k].len > off + 36 * 256)
					s->r_bad++;
				prev = f[k].off + f[k].len;
			}
		}
		ssize_t n = reasm_peek(&s->r, b, want);
		if (n > 0) {
			for (ssize_t k = 0; k < n; k++)
				if (b[k] != pat(off + (uint64_t)k))
					s->r_bad++;
			off += (uint64_t)n;
			s->r_data += (uint64_t)n;
		} else if (n < 0) {
			if (errno != ENODATA)
				s->r_bad++;
			off += (uint64_t)-n;
			s->r_gap += (uint64_t)-n;
		} else if (atomic_load(&s->done)) {
			if (reasm_peek(&s->r, b, sizeof(b)) == 0)
				break;
			continue;
		} else {
			sched_yield();
		}
	}
	return NULL;
}

START_TEST(two_threads)
{
	const char *mb = getenv("REASM_STRESS_MB");
	struct stream *s = calloc(1, sizeof(*s));
	s->total = (mb ? strtoull(mb, NULL, 0) : 256) << 20;
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	reasm_init(&s->r, p, SEQ0, 8192, REASM_OVERLAP_FIRST);
	reasm_set_reader(&s->r, 1);
	pthread_t tw, tr;
	pthread_create(&tr, NULL, reader, s);
	pthread_create(&tw, NULL, writer, s);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	const struct reasm_totals *t = reasm_totals(&s->r);
	ck_assert_uint_eq(s->r_bad, 0);
	ck_assert_uint_eq(s->r_data + s->r_gap, s->total);
	ck_assert_uint_eq(s->r_data, t->delivered);
	ck_assert_uint_eq(s->r_gap, t->missed);
	ck_assert_uint_gt(s->r_data, s->total / 2);
	ck_assert_uint_gt(t->rexmit_bytes, 0);
	reasm_fini(&s->r);
	uint32_t fr, tot;
	reasm_pool_stats(p, &fr, &tot, NULL);
	ck_assert_uint_eq(fr, tot);
	reasm_pool_destroy(p);
	free(s);
}
END_TEST

START_TEST(bad_args)
{
	ck_assert_ptr_null(reasm_pool_create(1 << 20, 100));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(reasm_pool_create(10, 64));
	struct reasm_pool *p = reasm_pool_create(1 << 20, 0);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	ck_assert_int_eq(reasm_init(&r, NULL, 0, 100, 0), -EINVAL);
	ck_assert_int_eq(reasm_init(&r, p, 0, 100, 7), -EINVAL);
	ck_assert_int_eq(reasm_init(&r, p, 0, (uint32_t)reasm_pool_max_size(p) + 1, 0), -E2BIG);
	ck_assert_uint_ge(reasm_pool_max_size(p), 1 << 20);
	reasm_pool_destroy(p);
	p = reasm_pool_create(1 << 20, reasm_chunk_for(64 << 20));
	ck_assert_uint_ge(reasm_pool_max_size(p), 64 << 20);
	reasm_pool_destroy(p);
}
END_TEST

/* Found by tests/fuzz/fuzz_tcpsm (inputs kept in tests/fuzz/regress/tcpsm):
 * a segment starting before the first data byte, or below the edge, with
 * nothing captured (data NULL) did pointer arithmetic on NULL, undefined
 * behaviour that clang's UBSan stops at (the fuzz build; gcc's does not
 * check NULL + 0, so here it is the results that are pinned). It is old
 * sequence space, nothing more. */
START_TEST(nothing_captured_before_start)
{
	struct reasm_pool *p = reasm_pool_create(1 << 20, 256);
	struct reasm r;
	struct reasm_result res;
	ck_assert_int_eq(reasm_init(&r, p, 1000, 4096, 0), 0);
	ck_assert_int_eq(reasm_insert(&r, 990, NULL, 20, 0, &res), 0);
	ck_assert_uint_eq(res.old, 10);
	ck_assert_int_eq(reasm_insert(&r, 980, NULL, 5, 0, &res), 0);
	ck_assert_uint_eq(res.old, 5);
	/* below the edge too (the second finding) */
	ck_assert_int_eq(reasm_insert(&r, 1000, "0123456789", 10, 10, &res), 0);
	ck_assert_int_eq(reasm_insert(&r, 1000, NULL, 12, 0, &res), 0);
	ck_assert_uint_eq(res.old, 10);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reasm");
	TCase *t = tcase_create("reasm");
	tcase_set_timeout(t, 600);
	tcase_add_test(t, in_order);
	tcase_add_test(t, reclaim_idle_side);
	tcase_add_test(t, lazy_chunks);
	tcase_add_test(t, out_of_order);
	tcase_add_test(t, overlap_first);
	tcase_add_test(t, overlap_last);
	tcase_add_test(t, rexmit_delivered);
	tcase_add_test(t, gaps);
	tcase_add_test(t, wrap_around);
	tcase_add_test(t, buffer_full);
	tcase_add_test(t, no_reader_slides);
	tcase_add_test(t, pool_exhaustion);
	tcase_add_test(t, buffering_off);
	tcase_add_test(t, snaplen_holes);
	tcase_add_test(t, ppeek_offsets);
	tcase_add_test(t, frags);
	tcase_add_test(t, frags_as_of_edge);
	tcase_add_test(t, resize);
	tcase_add_test(t, overlap_linux_bsd_first_start);
	tcase_add_test(t, overlap_targets);
	tcase_add_test(t, overlap_runs_full);
	tcase_add_test(t, far_segment);
	tcase_add_test(t, bad_args);
	tcase_add_test(t, nothing_captured_before_start);
	tcase_add_test(t, nohist_window_and_trim);
	tcase_add_test(t, nohist_lagging_reader);
	tcase_add_test(t, nohist_held_bytes_stay);
	tcase_add_test(t, two_threads);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
