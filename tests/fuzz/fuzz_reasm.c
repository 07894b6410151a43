/* libFuzzer target: tcpsm's reassembly buffer (stages/tcpsm/reasm.c) fed
 * operation sequences, checked against a plain byte-array model.
 *
 * The model is a true stream: byte i of it is a function of i. Segments
 * carry the true bytes, or (the "evil" bit) every byte flipped, at any
 * sequence number around the edge (before it, across it, far beyond, across
 * the 2^32 wrap), cut by a snaplen or not; the reader peeks, ppeeks and
 * lists fragments; the writer skips, closes, resizes, reclaims, changes the
 * overlap policy. Checked, for every byte the reader gets:
 *  - it is a copy some segment carried at that offset (true or flipped),
 *    and the true byte when no flipped copy of it was ever offered;
 *  - a byte never offered is never data (only a gap);
 *  - once read, it never changes (ppeek then peek, or two ppeeks);
 *  - the reader's offset (consumed) moves by exactly what peek reports,
 *    data or gap, and agrees with reasm_info;
 *  - fragments listed lie at or above the reader's offset, in order.
 * With no history (tcp.buf_history = no, one input in two) each segment
 * is a packet whose edge is taken, and trims give chunks back.
 * Policy-specific resolution is not modelled here (tests/unit/test_reasm.c
 * pins it), so the target holds whatever policy the writer implements. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reasm.h"
#include "fuzz.h"

#define N (1u << 18) /* model span: stream offsets checked */

/* Per stream offset: bit 0 of `offered` the true copy was offered, bit 1 a
 * flipped one; `seen` the value read once (-1 before). A cell belongs to
 * the current input only when its generation is the input's: no clearing
 * of the whole model per input, which would cost more than the run. */
static struct cell {
	uint32_t gen;
	uint8_t offered;
	int16_t seen;
} cells[N];
static uint32_t cur_gen;

static struct cell *cell(uint64_t i)
{
	struct cell *c = &cells[i];
	if (c->gen != cur_gen) {
		c->gen = cur_gen;
		c->offered = 0;
		c->seen = -1;
	}
	return c;
}

static uint8_t truth(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 7) * 7 + 3);
}

/* One byte the reader got at stream offset i. Held (out-of-order) bytes may
 * still be replaced by a later copy (overlap policy LAST, or the Linux
 * target's out-of-order queue), as the receiver's queue would be: only bytes
 * below the in-order edge must never change once read (remember = 1). */
static void got_(uint64_t i, uint8_t v, int remember)
{
	if (i >= N)
		return;
	uint8_t t = truth(i);
	struct cell *c = cell(i);
	CHECK(c->offered);
	CHECK((v == t && (c->offered & 1)) || (v == (uint8_t)~t && (c->offered & 2)));
	if (!remember)
		return;
	if (c->seen >= 0)
		CHECK(c->seen == v);
	c->seen = v;
}

static void got(uint64_t i, uint8_t v)
{
	got_(i, v, 1);
}

static struct reasm_pool *pools[2]; /* [1]: no history (tcp.buf_history = no) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	if (!pools[0]) {
		pools[0] = reasm_pool_create(256 * 1024, 1024);
		pools[1] = reasm_pool_create(256 * 1024, 1024);
		CHECK(pools[0] && pools[1]);
		reasm_pool_set_nohist(pools[1], 1);
	}
	/* No history: each segment is a packet whose edge tcpsm takes (the
	 * window of the next one starts there), and the 10th operation trims
	 * instead of reclaiming. */
	int nohist = (data[3] >> 1) & 1;
	struct reasm_pool *pool = pools[nohist];
	cur_gen++;
	uint32_t seq0 = data[0] & 1 ? 0xffff0000u + (uint32_t)data[1] * 256 : (uint32_t)data[1] << 24;
	uint32_t sizes[4] = {0, 4096, 16384, 65536};
	struct reasm r;
	CHECK(reasm_init(&r, pool, seq0, sizes[data[2] & 3], data[3] & 1) == 0);
	reasm_set_reader(&r, 1);
	uint64_t consumed = 0;
	uint8_t buf[70000];

	for (size_t i = 4; i + 6 <= size; i += 6) {
		const uint8_t *o = data + i;
		uint32_t a = (uint32_t)o[1] | (uint32_t)o[2] << 8 | (uint32_t)(o[3] & 0x3) << 16;
		struct reasm_result res;
		switch (o[0] % 10) {
		case 0:
		case 1:
		case 2:
		case 3: { /* a segment: offset relative to what the reader consumed */
			int64_t off = (int64_t)consumed + (int64_t)a - 2048;
			uint32_t len = (uint32_t)o[4] * 4 + (o[5] & 3);
			uint32_t cap = o[5] & 0x80 ? len / 2 : len;
			int evil = (o[5] >> 4) & 1;
			for (uint32_t j = 0; j < cap; j++) {
				int64_t k = off + j;
				buf[j] = (uint8_t)(k >= 0 ? truth((uint64_t)k) ^ (evil ? 0xff : 0) : 0);
				if (k >= 0 && k < (int64_t)N)
					cell((uint64_t)k)->offered |= (uint8_t)(evil ? 2 : 1);
			}
			CHECK(reasm_insert(&r, seq0 + (uint32_t)off, buf, len, cap, &res) == 0);
			if (nohist) {
				struct reasm_edge e;
				reasm_edge(&r, &e, NULL);
				CHECK(e.back <= e.end);
			}
			break;
		}
		case 4:
		case 5: { /* the reader consumes */
			size_t want = (size_t)o[4] * 16 + 1;
			ssize_t n = reasm_peek(&r, buf, want);
			if (n > 0) {
				CHECK((size_t)n <= want);
				for (ssize_t j = 0; j < n; j++)
					got(consumed + (uint64_t)j, buf[j]);
				consumed += (uint64_t)n;
			} else if (n < 0) {
				CHECK(errno == ENODATA);
				consumed += (uint64_t)-n;
			}
			break;
		}
		case 6: { /* the reader looks ahead without consuming */
			uint64_t off = consumed + a % 8192;
			size_t want = (size_t)o[4] * 32 + 1;
			struct reasm_info pi;
			reasm_info(&r, &pi);
			ssize_t n = reasm_ppeek(&r, buf, want, off);
			if (n > 0) {
				CHECK((size_t)n <= want);
				for (ssize_t j = 0; j < n; j++)
					got_(off + (uint64_t)j, buf[j], off + (uint64_t)j < pi.delivered);
			} else if (n < 0) {
				CHECK(errno == ENODATA);
			}
			struct reasm_frag fr[16];
			unsigned nf = reasm_frags(&r, fr, 16);
			uint64_t prev = consumed;
			for (unsigned k = 0; k < nf; k++) {
				CHECK(fr[k].off >= prev && fr[k].len > 0);
				prev = fr[k].off + fr[k].len;
			}
			break;
		}
		case 7: /* the writer moves the edge, or the side ends */
			if (o[4] & 1)
				CHECK(reasm_skip_to(&r, seq0 + (uint32_t)(consumed + a), &res) == 0);
			else
				CHECK(reasm_close(&r, &res) == 0);
			break;
		case 8: { /* the app asks for another buffer size, or policy */
			if (o[4] & 1) {
				int rr = reasm_resize(&r, sizes[o[5] & 3]);
				CHECK(rr == 0 || rr == -EAGAIN);
			} else {
				CHECK(reasm_set_policy(&r, o[5] & 1) == 0);
			}
			break;
		}
		default: {
			/* The reader is done with everything when it consumed all
			 * that was delivered: only then may the chunks go (the
			 * model reads nothing below `consumed`). */
			struct reasm_info ri;
			reasm_info(&r, &ri);
			if (nohist) {
				/* Nothing goes before the reader released all. */
				int t = reasm_trim(&r);
				CHECK(t >= -1 && t <= 1);
				CHECK(ri.consumed == ri.delivered || ri.size == 0 || t == -1);
			} else
				reasm_reclaim(&r, ri.consumed == ri.delivered);
			break;
		}
		}
		struct reasm_info in;
		reasm_info(&r, &in);
		CHECK(in.consumed == consumed);
		CHECK(in.consumed <= in.delivered);
		CHECK(in.seq0 == seq0);
	}
	reasm_fini(&r);
	uint32_t nfree, total;
	reasm_pool_stats(pool, &nfree, &total, NULL);
	CHECK(nfree == total); /* every chunk back */
	return 0;
}
