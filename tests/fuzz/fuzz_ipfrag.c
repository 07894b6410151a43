/* libFuzzer target: IP fragment reassembly (stages/classify/ipfrag.c) fed
 * operation sequences, checked against a plain model.
 *
 * Input: byte 0 picks the policy and what a full table does (drop the new
 * fragment or evict the oldest datagram); then 6-byte operations: offer a fragment
 * of one of four datagrams (two IPv4, two IPv6) at an offset with a length,
 * MF, ECN, "evil" bytes (every byte flipped) or not; or let time pass.
 * Each datagram's true bytes are a function of (datagram, offset).
 *
 * Checked: every packet offered leaves the table exactly once, dropped or
 * taken with a rebuilt datagram, and the table's held count agrees; a
 * duplicate only ever covers bytes already held; a rebuilt datagram's pieces
 * are in order, disjoint, cover exactly its length and lie inside their
 * packets; its bytes are those the policy says: under linux and first the
 * first copy of each byte ever held, under last the last one, under bsd one
 * of the copies offered; with no evil fragment, the true bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipfrag.h"
#include "fuzz.h"

#define NKEY 4
#define SPAN 512
#define MAXREC 4096

enum { ST_NEW, ST_HELD, ST_DROPPED, ST_TAKEN };

struct rec {
	unsigned key;
	uint32_t off, len;
	int state;
	uint8_t data[SPAN];
};

static struct rec *recs;
static unsigned nrec;
static unsigned policy;
static uint8_t src[NKEY][16], dst[NKEY][16];
static int first_val[NKEY][SPAN], last_val[NKEY][SPAN];
static int evil_seen[NKEY];
static unsigned held;

static uint8_t truth(unsigned key, uint32_t i)
{
	return (uint8_t)(key * 77 + i * 13 + (i >> 3));
}

static void reset_key(unsigned k)
{
	for (unsigned i = 0; i < SPAN; i++)
		first_val[k][i] = last_val[k][i] = -1;
	evil_seen[k] = 0;
}

static unsigned last_drop_key;

static void on_drop(void *ctx, void *pkt, unsigned reason)
{
	(void)ctx;
	struct rec *r = pkt;
	CHECK(r->state == ST_HELD || r->state == ST_NEW);
	CHECK(reason < IPF_R_N);
	if (r->state == ST_HELD)
		held--;
	r->state = ST_DROPPED;
	last_drop_key = r->key;
}

/* A datagram given up (after its packets were dropped): the model of its
 * key starts again. */
static void on_fail(void *ctx, unsigned reason)
{
	(void)ctx;
	CHECK(reason < IPF_R_N && reason != IPF_R_TINY && reason != IPF_R_CAP);
	reset_key(last_drop_key);
}

struct build {
	uint8_t out[SPAN];
	uint32_t next;
	unsigned key;
};

static int piece(void *ctx, void *pkt, uint32_t at, uint32_t off, uint32_t len)
{
	struct build *b = ctx;
	struct rec *r = pkt;
	CHECK(r->key == b->key && r->state == ST_HELD);
	CHECK(off == b->next);                /* in order, no gap, no overlap */
	CHECK(len > 0 && at + len <= r->len); /* inside its packet */
	CHECK(off - r->off == at);            /* the packet's own bytes for these offsets */
	memcpy(b->out + off, r->data + at, len);
	b->next += len;
	return 0;
}

static unsigned taken;
static void take(void *ctx, void *pkt)
{
	struct build *b = ctx;
	struct rec *r = pkt;
	CHECK(r->key == b->key && r->state == ST_HELD);
	r->state = ST_TAKEN;
	held--;
	taken++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!recs)
		recs = malloc(sizeof(*recs) * MAXREC);
	policy = data[0] & 3;
	struct ipf_params p = {.max_dgrams = 3,
	                       .max_pkts = 24,
	                       .max_per_dgram = 12,
	                       .timeout_ms = 1000,
	                       .policy = policy,
	                       .evict = (data[0] >> 2) & 1,
	                       .seed = data[0]};
	struct ipf_ops ops = {.drop = on_drop, .fail = on_fail};
	struct ipf_tbl *t = ipf_create(&p, &ops);
	CHECK(t);
	for (unsigned k = 0; k < NKEY; k++) {
		memset(src[k], 0, 16);
		memset(dst[k], 0, 16);
		src[k][0] = 10;
		src[k][3] = (uint8_t)k;
		dst[k][0] = 10;
		dst[k][3] = 100;
		reset_key(k);
	}
	nrec = 0;
	held = 0;
	uint64_t now = 1000;
	for (size_t i = 1; i + 6 <= size && nrec < MAXREC; i += 6) {
		const uint8_t *o = data + i;
		if (o[0] >= 0xf0) {
			now += (uint64_t)o[1] * 20;
			ipf_expire(t, now, NULL);
			continue;
		}
		unsigned key = o[0] % NKEY;
		int v6 = key >= 2;
		struct rec *r = &recs[nrec++];
		r->key = key;
		r->off = (uint32_t)(o[1] % 48) * 8;
		r->len = (uint32_t)o[2] % 130;
		if (r->off + r->len > SPAN)
			r->len = SPAN - r->off;
		r->state = ST_NEW;
		int mf = o[3] & 1, evil = (o[3] >> 1) & 1;
		for (uint32_t j = 0; j < r->len; j++)
			r->data[j] = (uint8_t)(truth(key, r->off + j) ^ (evil ? 0xff : 0));
		struct ipf_frag f = {.src = src[key],
		                     .dst = dst[key],
		                     .id = 42,
		                     .v6 = (uint8_t)v6,
		                     .proto = 6,
		                     .mf = (uint8_t)mf,
		                     .ecn = (uint8_t)((o[3] >> 2) & 3),
		                     .tiny = (uint8_t)(v6 && r->off == 0 && (o[3] & 0x10)),
		                     .off = r->off,
		                     .len = r->len,
		                     .at = 0,
		                     .pkt = r};
		now += o[4] & 7;
		/* The piece the model expects to be kept: IPv4 with MF in 8-byte units. */
		uint32_t e = r->off + r->len;
		if (mf && !v6)
			e &= ~7u;
		int res = ipf_add(t, &f, now, NULL);
		if (res == IPF_HELD || res == IPF_DUP || res == IPF_DONE) {
			CHECK(r->state == ST_NEW);
			r->state = ST_HELD;
			held++;
			if (evil)
				evil_seen[key] = 1;
			for (uint32_t j = r->off; j < e && j < SPAN; j++) {
				if (res == IPF_DUP && policy == IPF_LINUX)
					CHECK(first_val[key][j] >= 0); /* a duplicate holds nothing new */
				if (first_val[key][j] < 0)
					first_val[key][j] = r->data[j - r->off];
				last_val[key][j] = r->data[j - r->off];
			}
		} else {
			CHECK(res == IPF_GONE && r->state == ST_DROPPED);
		}
		struct ipf_stats st;
		ipf_stats(t, &st);
		if (res != IPF_DONE)
			CHECK(st.held == held);
		if (res == IPF_DONE) {
			struct build b = {.next = 0, .key = key};
			uint32_t len = ipf_done_len(t);
			CHECK(len > 0 && len <= SPAN);
			CHECK(((struct rec *)ipf_done_head(t))->off == 0);
			CHECK(ipf_done_pieces(t, piece, &b) == 0);
			CHECK(b.next == len);
			for (uint32_t j = 0; j < len; j++) {
				uint8_t tv = truth(key, j);
				CHECK(b.out[j] == tv || b.out[j] == (uint8_t)~tv);
				if (!evil_seen[key])
					CHECK(b.out[j] == tv);
				if (policy == IPF_LINUX || policy == IPF_FIRST)
					CHECK(b.out[j] == first_val[key][j]);
				if (policy == IPF_LAST)
					CHECK(b.out[j] == last_val[key][j]);
			}
			if (ipf_done_ce(t) || (o[5] & 1)) {
				ipf_done_discard(t, IPF_R_END, NULL); /* the caller may give up a completed one */
			} else {
				taken = 0;
				unsigned n = ipf_done_take(t, take, &b);
				CHECK(n == taken && n > 0);
				reset_key(key);
			}
			ipf_stats(t, &st);
			CHECK(st.held == held);
		}
	}
	ipf_flush(t, NULL);
	CHECK(held == 0);
	for (unsigned j = 0; j < nrec; j++)
		CHECK(recs[j].state == ST_DROPPED || recs[j].state == ST_TAKEN);
	ipf_destroy(t, NULL);
	return 0;
}
