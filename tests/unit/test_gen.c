/* Unit tests of the workload generator (runtime/gen.c): every frame's
 * checksums, per-flow sequence continuity, connection counts, the
 * retransmission fraction, determinism, planted patterns, packet time, the
 * flood option, and the pcap written by the gen tool.
 */
#include <check.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen.h"

/* RFC 1071 sum, written independently of the generator's. */
static uint32_t t_sum(const uint8_t *p, size_t n, uint32_t s)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t t_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

struct t_pkt {
	uint32_t src, dst, seq, ack;
	uint16_t sport, dport;
	uint8_t flags;
	const uint8_t *pay;
	uint32_t plen;
};

/* Parses a frame and checks both checksums. */
static void t_parse(const uint8_t *f, int len, struct t_pkt *k)
{
	ck_assert_int_ge(len, 14 + 20 + 20);
	ck_assert_int_le(len, GEN_MAX_FRAME);
	ck_assert_uint_eq(rd16(f + 12), 0x0800);
	const uint8_t *ip = f + 14;
	ck_assert_uint_eq(ip[0], 0x45);
	ck_assert_uint_eq(ip[9], 6);
	uint16_t tot = rd16(ip + 2);
	ck_assert_int_eq(tot + 14, len);
	ck_assert_uint_eq(t_fold(t_sum(ip, 20, 0)), 0xffff);
	const uint8_t *th = ip + 20;
	uint32_t tlen = tot - 20u, hl = (uint32_t)(th[12] >> 4) * 4;
	ck_assert_uint_ge(hl, 20);
	ck_assert_uint_le(hl, tlen);
	uint32_t ps = t_sum(ip + 12, 8, 0) + 6 + tlen;
	ck_assert_uint_eq(t_fold(t_sum(th, tlen, ps)), 0xffff);
	k->src = rd32(ip + 12);
	k->dst = rd32(ip + 16);
	k->sport = rd16(th);
	k->dport = rd16(th + 2);
	k->seq = rd32(th + 4);
	k->ack = rd32(th + 8);
	k->flags = th[13];
	k->pay = th + hl;
	k->plen = tlen - hl;
}

/* Per-connection tracking, keyed by the client endpoint (unique per connection). */
struct t_flow {
	uint64_t key; /* client ip << 16 | port, 0 = empty */
	uint32_t c_next, s_next, s_isn;
	uint32_t s_max; /* highest server sequence sent + 1 */
	int syn, synack, cfin, sfin, done;
	uint8_t *buf; /* reassembled server stream (optional) */
	uint32_t got;
};

struct t_run {
	struct t_flow *tab;
	uint32_t cap;
	uint64_t syns, finished, rexmits, data, frames, active, max_active;
	uint64_t hash;
	const uint8_t *stream;
	uint32_t stream_len;
	int keep; /* reassemble server streams */
};

static struct t_flow *t_find(struct t_run *r, uint64_t key)
{
	uint32_t i = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 40) % r->cap;
	while (r->tab[i].key && r->tab[i].key != key)
		i = (i + 1) % r->cap;
	r->tab[i].key = key;
	return &r->tab[i];
}

/* Checks one frame against what its flow sent so far. */
static void t_track(struct t_run *r, const struct t_pkt *k)
{
	int from_client = k->dport == 80;
	uint64_t key = from_client ? (uint64_t)k->src << 16 | k->sport : (uint64_t)k->dst << 16 | k->dport;
	struct t_flow *f = t_find(r, key);
	uint32_t adv = k->plen + ((k->flags & 0x03) ? 1 : 0); /* SYN, FIN take one */

	ck_assert(!f->done); /* 4-tuples are never reused */
	if (from_client) {
		if (k->flags & 0x02) {
			ck_assert(!f->syn);
			f->syn = 1;
			f->c_next = k->seq;
			r->syns++;
			if (++r->active > r->max_active)
				r->max_active = r->active;
		}
		ck_assert(f->syn);
		ck_assert_uint_eq(k->seq, f->c_next); /* the client never retransmits */
		f->c_next += adv;
		if (k->flags & 0x01)
			f->cfin = 1;
		return;
	}
	ck_assert(f->syn);
	if (k->flags & 0x02) {
		ck_assert(!f->synack);
		f->synack = 1;
		f->s_isn = f->s_next = f->s_max = k->seq;
	}
	ck_assert(f->synack);
	if (k->plen && k->seq != f->s_next) {
		/* A planned retransmission: already-sent sequence space, same bytes. */
		uint32_t back = f->s_next - k->seq;
		ck_assert_uint_gt(back, 0);
		ck_assert_uint_lt(back, 1u << 30);
		ck_assert_uint_le(k->plen, back);
		r->rexmits++;
	} else {
		ck_assert_uint_eq(k->seq, f->s_next);
		if (k->plen)
			r->data++;
		f->s_next += adv;
	}
	if (k->plen) {
		uint32_t off = k->seq - f->s_isn - 1;
		ck_assert_uint_le(off + k->plen, r->stream_len);
		ck_assert(memcmp(k->pay, r->stream + off, k->plen) == 0);
		if (r->keep) {
			if (!f->buf)
				f->buf = calloc(1, r->stream_len);
			ck_assert_ptr_nonnull(f->buf);
			if (off == f->got) {
				memcpy(f->buf + off, k->pay, k->plen);
				f->got += k->plen;
			}
		}
	}
	if (k->flags & 0x01)
		f->sfin = 1;
	if (!(k->flags & 0x03) && k->plen == 0 && f->cfin && f->sfin) {
		f->done = 1;
		r->finished++;
		r->active--;
	}
}

static uint64_t t_fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001B3ull;
	return h;
}

/* Runs g to its end, checking every frame. */
static void t_run_all(struct gen *g, struct t_run *r, uint32_t cap)
{
	uint8_t fr[GEN_MAX_FRAME];
	uint64_t ts, last = 0;
	int n, keep = r->keep;
	memset(r, 0, sizeof(*r));
	r->keep = keep;
	r->cap = cap;
	r->tab = calloc(cap, sizeof(*r->tab));
	r->hash = 0xcbf29ce484222325ull;
	r->stream = gen_server_stream(g, &r->stream_len);
	ck_assert_ptr_nonnull(r->tab);
	while ((n = gen_next(g, fr, sizeof(fr), &ts)) > 0) {
		struct t_pkt k;
		t_parse(fr, n, &k);
		t_track(r, &k);
		ck_assert_uint_ge(ts, last);
		last = ts;
		r->frames++;
		r->hash = t_fnv(r->hash, fr, (size_t)n);
		r->hash = t_fnv(r->hash, &ts, sizeof(ts));
	}
	ck_assert_int_eq(n, 0);
	ck_assert(gen_done(g));
}

static void t_run_free(struct t_run *r)
{
	for (uint32_t i = 0; i < r->cap; i++)
		free(r->tab[i].buf);
	free(r->tab);
}

static struct gen_params t_params(uint32_t flows, uint32_t size, double rex, uint64_t conns, uint64_t seed)
{
	struct gen_params p;
	gen_params_default(&p);
	p.flows = flows;
	p.size = size;
	p.rexmit = rex;
	p.max_conns = conns;
	p.seed = seed;
	return p;
}

START_TEST(checksums_sequences_and_counts)
{
	struct gen_params p = t_params(64, 20000, 0.05, 500, 7);
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	struct t_run r = {0};
	t_run_all(g, &r, 2048);
	struct gen_stats st;
	gen_stats_get(g, &st);
	ck_assert_uint_eq(r.syns, 500);
	ck_assert_uint_eq(r.finished, 500);
	ck_assert_uint_eq(st.conns_started, 500);
	ck_assert_uint_eq(st.conns_finished, 500);
	/* The slots really run concurrently: a slot is empty only between its
	 * last ACK and its next SYN, one round robin pass. */
	ck_assert_uint_le(r.max_active, 64);
	ck_assert_uint_ge(r.max_active, 56);
	ck_assert_uint_eq(r.active, 0);
	ck_assert_uint_eq(st.pkts, r.frames);
	ck_assert_uint_eq(st.rexmits, r.rexmits);
	ck_assert_uint_eq(st.data_segs, r.data);
	uint32_t len;
	gen_server_stream(g, &len);
	ck_assert_uint_eq(st.data_segs, 500ull * ((len + GEN_SEG - 1) / GEN_SEG));
	ck_assert_uint_gt(st.rexmits, 0);
	t_run_free(&r);
	gen_destroy(g);
}
END_TEST

START_TEST(rexmit_fraction)
{
	/* 300 x 46 segments at 2%: about 276 expected, sd about 16. */
	struct gen_params p = t_params(100, 65536, 0.02, 300, 11);
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	struct t_run r = {0};
	t_run_all(g, &r, 1024);
	double fr = (double)r.rexmits / (double)r.data;
	ck_assert_msg(fr > 0.015 && fr < 0.025, "rexmit fraction %f", fr);
	t_run_free(&r);
	gen_destroy(g);

	p.rexmit = 0;
	g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	t_run_all(g, &r, 1024);
	ck_assert_uint_eq(r.rexmits, 0);
	t_run_free(&r);
	gen_destroy(g);
}
END_TEST

static uint64_t t_hash_of(uint64_t seed)
{
	struct gen_params p = t_params(200, 4096, 0.03, 0, seed);
	p.max_pkts = 30000;
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	struct t_run r = {0};
	t_run_all(g, &r, 4096);
	ck_assert_uint_eq(r.frames, 30000);
	t_run_free(&r);
	gen_destroy(g);
	return r.hash;
}

START_TEST(determinism)
{
	uint64_t a = t_hash_of(5), b = t_hash_of(5), c = t_hash_of(6);
	ck_assert_uint_eq(a, b);
	ck_assert_uint_ne(a, c);

	/* Two parts of one workload: disjoint 4-tuples (t_track asserts a
	 * finished tuple never comes back). */
	struct t_run r = {0};
	uint8_t fr[GEN_MAX_FRAME];
	int n;
	r.cap = 1024;
	r.tab = calloc(r.cap, sizeof(*r.tab));
	ck_assert_ptr_nonnull(r.tab);
	for (uint32_t part = 0; part < 2; part++) {
		struct gen_params p = t_params(20, 3000, 0, 200, 1);
		p.part = part;
		p.n_parts = 2;
		struct gen *g = gen_create(&p);
		ck_assert_ptr_nonnull(g);
		r.stream = gen_server_stream(g, &r.stream_len);
		while ((n = gen_next(g, fr, sizeof(fr), NULL)) > 0) {
			struct t_pkt k;
			t_parse(fr, n, &k);
			t_track(&r, &k);
		}
		gen_destroy(g);
	}
	ck_assert_uint_eq(r.syns, 400);
	ck_assert_uint_eq(r.finished, 400);
	t_run_free(&r);
	struct gen_params bad = t_params(20, 3000, 0, 0, 1);
	bad.part = 2;
	bad.n_parts = 2;
	ck_assert_ptr_null(gen_create(&bad));
}
END_TEST

static uint32_t t_count(const uint8_t *h, uint32_t n, const uint8_t *pat, uint32_t len)
{
	uint32_t c = 0;
	for (uint32_t i = 0; i + len <= n; i++)
		c += memcmp(h + i, pat, len) == 0;
	return c;
}

START_TEST(planted_patterns)
{
	static const uint8_t p0[] = "STRADDLE-ME", p1[] = "inside", p2[] = "\x01\x02\x03\x04", p3[] = "explicit!";
	struct gen_params p = t_params(16, 6000, 0.1, 40, 3);
	p.n_patterns = 4;
	p.pattern[0] = (struct gen_pattern){p0, 11, GEN_PAT_AUTO};
	p.pattern[1] = (struct gen_pattern){p1, 6, GEN_PAT_AUTO};
	p.pattern[2] = (struct gen_pattern){p2, 4, GEN_PAT_AUTO};
	p.pattern[3] = (struct gen_pattern){p3, 9, 5000};
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);

	uint32_t len, rlen;
	const uint8_t *s = gen_server_stream(g, &len);
	const uint8_t *req = gen_client_request(g, &rlen);
	for (unsigned k = 0; k < 4; k++) {
		uint32_t o = gen_pattern_offset(g, k);
		ck_assert_uint_le(o + p.pattern[k].len, len);
		ck_assert(memcmp(s + o, p.pattern[k].bytes, p.pattern[k].len) == 0);
		ck_assert_uint_eq(t_count(s, len, p.pattern[k].bytes, p.pattern[k].len), 1);
	}
	ck_assert_uint_eq(gen_pattern_offset(g, 3), 5000);
	ck_assert_uint_eq(gen_pattern_offset(g, 4), GEN_PAT_AUTO);
	/* Even auto patterns straddle a segment boundary, odd ones do not. */
	for (unsigned k = 0; k < 3; k++) {
		uint32_t o = gen_pattern_offset(g, k), e = o + p.pattern[k].len - 1;
		ck_assert_int_eq(o / GEN_SEG != e / GEN_SEG, k % 2 == 0);
	}

	struct t_run r = {.keep = 1};
	t_run_all(g, &r, 128);
	struct gen_stats st;
	gen_stats_get(g, &st);
	/* Search the reassembled server streams and the requests. */
	uint64_t found[4] = {0};
	unsigned streams = 0;
	for (uint32_t i = 0; i < r.cap; i++) {
		struct t_flow *f = &r.tab[i];
		if (!f->key)
			continue;
		ck_assert_ptr_nonnull(f->buf);
		ck_assert_uint_eq(f->got, len);
		streams++;
		for (unsigned k = 0; k < 4; k++)
			found[k] += t_count(f->buf, f->got, p.pattern[k].bytes, p.pattern[k].len) +
			            t_count(req, rlen, p.pattern[k].bytes, p.pattern[k].len);
	}
	ck_assert_uint_eq(streams, 40);
	for (unsigned k = 0; k < 4; k++) {
		ck_assert_uint_eq(st.pat_planted[k], 40);
		ck_assert_uint_eq(st.pat_expect[k], found[k]);
		ck_assert_uint_eq(found[k], 40);
	}
	t_run_free(&r);
	gen_destroy(g);

	/* A pattern found in the HTTP text counts there too: expect > planted. */
	static const uint8_t http[] = "HTTP/1.1";
	p = t_params(4, 3000, 0, 10, 3);
	p.n_patterns = 1;
	p.pattern[0] = (struct gen_pattern){http, 8, GEN_PAT_AUTO};
	g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	t_run_all(g, &r, 64);
	gen_stats_get(g, &st);
	ck_assert_uint_eq(st.pat_planted[0], 10);
	ck_assert_uint_eq(st.pat_expect[0], 30); /* request + response header + planted */
	t_run_free(&r);
	gen_destroy(g);
}
END_TEST

START_TEST(limits_time_and_errors)
{
	struct gen_params p = t_params(1000, 65536, 0.01, 0, 9);
	p.max_pkts = 5000;
	p.gbps = 10;
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);
	uint8_t small[100];
	ck_assert_int_eq(gen_next(g, small, sizeof(small), NULL), -ENOSPC);
	uint8_t fr[4][GEN_MAX_FRAME];
	uint8_t *fp[4] = {fr[0], fr[1], fr[2], fr[3]};
	uint16_t lens[4];
	uint64_t ts[4], n = 0, wire = 0, first = 0;
	unsigned k;
	while ((k = gen_burst(g, fp, GEN_MAX_FRAME, lens, ts, 4)) > 0) {
		for (unsigned i = 0; i < k; i++) {
			if (n + i == 0)
				first = ts[i];
			if (n + i + 1 < 5000)
				wire += lens[i] + 24u;
		}
		n += k;
	}
	ck_assert_uint_eq(n, 5000);
	ck_assert(gen_done(g));
	struct gen_stats st;
	gen_stats_get(g, &st);
	ck_assert_uint_eq(first, p.start_ns);
	/* Packet time advances by wire time at 10 Gbps: 0.8 ns a byte. */
	double want = (double)wire * 0.8, got = (double)(st.last_ts_ns - first);
	ck_assert_msg(got > want - 2 && got < want + 2, "time %f vs %f", got, want);
	gen_destroy(g);

	struct gen_params bad = t_params(0, 100, 0, 0, 1);
	errno = 0;
	ck_assert_ptr_null(gen_create(&bad));
	ck_assert_int_eq(errno, EINVAL);
	bad = t_params(10, 100, 0.9, 0, 1);
	ck_assert_ptr_null(gen_create(&bad));
	ck_assert(strstr(gen_strerror(), "rexmit") != NULL);
	static const uint8_t x[] = "xyz";
	bad = t_params(10, 10000, 0, 0, 1);
	bad.n_patterns = 2;
	bad.pattern[0] = (struct gen_pattern){x, 3, 3000};
	bad.pattern[1] = (struct gen_pattern){x, 3, 3002};
	ck_assert_ptr_null(gen_create(&bad));
	ck_assert(strstr(gen_strerror(), "overlap") != NULL);
	bad.n_patterns = 1;
	bad.pattern[0].offset = 2; /* inside the HTTP header */
	ck_assert_ptr_null(gen_create(&bad));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* The flood option: exactly the SYNs and ACKs asked for, each a valid frame
 * from 100.64.0.0/10 to a server's port 80 with the asked payload, spread
 * over the connections' frames, which stay the same bytes as without it. */
START_TEST(flood_mixed_in)
{
	struct gen_params p = t_params(40, 8192, 0.02, 200, 5);
	struct gen *plain = gen_create(&p);
	p.flood_syns = 3000;
	p.flood_acks = 2000;
	p.flood_sources = 500;
	p.flood_data = 7;
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(plain);
	ck_assert_ptr_nonnull(g);
	static uint8_t f[GEN_MAX_FRAME], e[GEN_MAX_FRAME];
	static uint8_t seen_src[500];
	uint64_t syns = 0, acks = 0, real = 0, n = 0, first_flood = 0, last_flood = 0;
	unsigned srcs = 0;
	int len;
	while ((len = gen_next(g, f, sizeof(f), NULL)) > 0) {
		struct t_pkt k;
		t_parse(f, len, &k);
		n++;
		if ((k.src >> 22) == (0x64400000u >> 22)) {
			uint32_t i = k.src - 0x64400000u;
			ck_assert_uint_lt(i, 500);
			srcs += !seen_src[i];
			seen_src[i] = 1;
			ck_assert_uint_eq(k.dport, 80);
			ck_assert_uint_eq(k.dst >> 8, 0xAC1000u);
			if (k.flags == 0x02) {
				syns++;
				ck_assert_uint_eq(k.plen, 0);
			} else {
				ck_assert_uint_eq(k.flags & ~0x08u, 0x10u);
				ck_assert_uint_eq(k.plen, 7);
				acks++;
			}
			if (!first_flood)
				first_flood = n;
			last_flood = n;
			continue;
		}
		/* A connection frame: the same bytes as without the flood. */
		int l2 = gen_next(plain, e, sizeof(e), NULL);
		ck_assert_int_eq(l2, len);
		ck_assert(memcmp(e, f, (size_t)len) == 0);
		real++;
	}
	ck_assert_int_eq(gen_next(plain, e, sizeof(e), NULL), 0);
	ck_assert_uint_eq(syns, 3000);
	ck_assert_uint_eq(acks, 2000);
	ck_assert_uint_gt(srcs, 450); /* 5000 draws over 500 addresses */
	struct gen_stats st;
	gen_stats_get(g, &st);
	ck_assert_uint_eq(st.flood_syns, 3000);
	ck_assert_uint_eq(st.flood_acks, 2000);
	ck_assert_uint_eq(st.pkts, n);
	ck_assert_uint_eq(st.conns_finished, 200);
	/* Spread among the connections' frames, not in a block. */
	ck_assert_uint_lt(first_flood, n / 100);
	ck_assert_uint_gt(last_flood, n - n / 20);
	gen_destroy(g);
	gen_destroy(plain);

	struct gen_params bad = t_params(10, 100, 0, 0, 1);
	bad.flood_data = 1449;
	ck_assert_ptr_null(gen_create(&bad));
	ck_assert(strstr(gen_strerror(), "flood data") != NULL);
}
END_TEST

/* build/tests/test_gen -> build/bench/gen */
static void t_gen_tool(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = 0;
	snprintf(out, cap, "%s/../bench/gen", dirname(exe));
	ck_assert_msg(access(out, X_OK) == 0, "no gen tool at %s", out);
}

START_TEST(pcap_roundtrip)
{
	char tool[PATH_MAX + 32], dir[] = "/tmp/test_gen.XXXXXX", file[PATH_MAX], cmd[3 * PATH_MAX];
	t_gen_tool(tool, sizeof(tool));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/g.pcap", dir);
	snprintf(cmd, sizeof(cmd), "%s -w %s -n 50 -s 8k -r 0.05 -c 120 --seed 3 --pattern 'abc' >/dev/null", tool,
	         file);
	ck_assert_int_eq(system(cmd), 0);

	/* The same traffic in-process. */
	static const uint8_t abc[] = "abc";
	struct gen_params p = t_params(50, 8192, 0.05, 120, 3);
	p.n_patterns = 1;
	p.pattern[0] = (struct gen_pattern){abc, 3, GEN_PAT_AUTO};
	struct gen *g = gen_create(&p);
	ck_assert_ptr_nonnull(g);

	char err[PCAP_ERRBUF_SIZE];
	pcap_t *pc = pcap_open_offline(file, err);
	ck_assert_msg(pc != NULL, "%s", err);
	ck_assert_int_eq(pcap_datalink(pc), DLT_EN10MB);
	struct pcap_pkthdr *h;
	const u_char *d;
	uint8_t fr[GEN_MAX_FRAME];
	uint64_t ts, count = 0;
	while (pcap_next_ex(pc, &h, &d) == 1) {
		int n = gen_next(g, fr, sizeof(fr), &ts);
		ck_assert_int_eq((int)h->caplen, n);
		ck_assert(memcmp(d, fr, (size_t)n) == 0);
		ck_assert_uint_eq((uint64_t)h->ts.tv_sec * 1000000 + (uint64_t)h->ts.tv_usec, ts / 1000);
		count++;
	}
	pcap_close(pc);
	ck_assert_int_eq(gen_next(g, fr, sizeof(fr), &ts), 0);
	struct gen_stats st;
	gen_stats_get(g, &st);
	ck_assert_uint_eq(count, st.pkts);
	ck_assert_uint_eq(st.conns_finished, 120);
	gen_destroy(g);
	unlink(file);
	rmdir(dir);

	/* Bad arguments: one line, exit 2. */
	snprintf(cmd, sizeof(cmd), "%s -w /dev/null -r abc 2>/dev/null", tool);
	int rc = system(cmd);
	ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
	snprintf(cmd, sizeof(cmd), "%s -n 5 2>/dev/null", tool);
	rc = system(cmd);
	ck_assert(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gen");
	TCase *tc = tcase_create("gen");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, checksums_sequences_and_counts);
	tcase_add_test(tc, rexmit_fraction);
	tcase_add_test(tc, determinism);
	tcase_add_test(tc, planted_patterns);
	tcase_add_test(tc, limits_time_and_errors);
	tcase_add_test(tc, pcap_roundtrip);
	tcase_add_test(tc, flood_mixed_in);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
