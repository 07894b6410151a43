/* test_engine: apps/ids's streaming matcher (engine.c) against an independent
 * whole-buffer reference of the rule semantics, over random streams cut into
 * random chunks, with and without gaps.
 *
 * The reference is the text of the Suricata/Snort documentation applied
 * naively: for every item it lists every occurrence (start, end) inside one
 * contiguous run of bytes (POSIX regexec for pcre items, anchored at both
 * ends of the candidate span), then searches assignments by backtracking:
 * an absolute content needs offset <= start and end <= offset + depth; a
 * relative one start >= prev_end + distance and end <= prev_end + distance +
 * within; chains (an absolute item and the relative ones after it) are
 * independent. A rule fires at the smallest stream prefix that satisfies it.
 * The engine must fire exactly the same rules at exactly the same end
 * offsets, once each, whatever the chunking. Runs where the engine counted
 * an inexact lookup (its documented limit) are reported and excluded.
 *
 * Also: header matching (lists, negation, variables, IPv6, ports) and the
 * loader's refusals. Usage: test_engine [ITERATIONS] [SEED]. Last line
 * "test_engine: N passed, M failed"; exit 1 on failure.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "rules.h"

static unsigned passed, failed;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			passed++;                                                                                      \
		} else {                                                                                               \
			failed++;                                                                                      \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                    \
			printf(__VA_ARGS__);                                                                           \
			printf("\n");                                                                                  \
		}                                                                                                      \
	} while (0)

/* The rules under test. pcre rules carry a POSIX ERE equivalent for the
 * reference in posix[] (same sid order), "" for content-only rules. */
static const char *rules_text[] = {
    "alert tcp any any -> any any (msg:\"one\"; content:\"abc\"; sid:1;)",
    "alert tcp any any -> any any (msg:\"offset depth\"; content:\"ab\"; offset:3; depth:6; sid:2;)",
    "alert tcp any any -> any any (msg:\"nocase\"; content:\"AbA\"; nocase; sid:3;)",
    "alert tcp any any -> any any (msg:\"distance\"; content:\"ab\"; content:\"ca\"; distance:2; sid:4;)",
    "alert tcp any any -> any any (msg:\"within\"; content:\"ba\"; content:\"cc\"; within:5; sid:5;)",
    "alert tcp any any -> any any (msg:\"dist+within\"; content:\"a\"; content:\"bc\"; distance:1; within:3; sid:6;)",
    "alert tcp any any -> any any (msg:\"chain3\"; content:\"ab\"; content:\"c\"; distance:0; content:\"ba\"; "
    "within:4; sid:7;)",
    "alert tcp any any -> any any (msg:\"two chains\"; content:\"cab\"; content:\"bb\"; depth:10; sid:8;)",
    "alert tcp any any -> any any (msg:\"pcre\"; pcre:\"/a[bc]+a/\"; sid:9;)",
    "alert tcp any any -> any any (msg:\"pcre then rel\"; pcre:\"/b.b/\"; content:\"aa\"; distance:1; within:6; "
    "sid:10;)",
    "alert tcp any any -> any any (msg:\"anchored\"; pcre:\"/^[ab]+c/\"; sid:11;)",
    "alert tcp any any -> any any (msg:\"depth only\"; content:\"cc\"; depth:12; sid:12;)",
    "alert tcp any any -> any any (msg:\"hex\"; content:\"|61 62|c|61|\"; sid:13;)",
    "alert tcp any any -> any any (msg:\"within tight\"; content:\"a\"; content:\"a\"; within:2; content:\"a\"; "
    "within:2; sid:14;)",
    "alert tcp any any -> any any (msg:\"offset chain\"; content:\"b\"; offset:5; content:\"c\"; distance:3; sid:15;)",
    "alert tcp any any -> any any (msg:\"pcre i\"; pcre:\"/CA+B/i\"; sid:16;)",
};
static const char *posix[] = {"", "", "", "", "", "", "", "", "a[bc]+a", "b.b", "[ab]+c", "", "", "", "", "CA+B"};
#define N_RULES (sizeof(rules_text) / sizeof(rules_text[0]))

/* ---- reference ------------------------------------------------------------------ */

struct occ {
	int s, e;
};
struct seg {
	int off, len; /* stream offset of a contiguous run and its length */
};

static const uint8_t *g_buf; /* stream bytes by stream offset (gaps hold junk never read) */
static struct seg g_seg[8];
static int g_nseg;

static int occ_list(const struct ids_item *it, const char *pre, int icase, struct occ *out, int cap)
{
	int n = 0;
	regex_t re;
	char pat[256];
	if (it->kind == IDS_PCRE) {
		snprintf(pat, sizeof(pat), "^(%s)$", pre);
		if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0)) != 0) {
			printf("reference: cannot compile %s\n", pat);
			exit(2);
		}
	}
	for (int k = 0; k < g_nseg; k++) {
		const uint8_t *b = g_buf + g_seg[k].off;
		int L = g_seg[k].len;
		for (int s = 0; s < L; s++) {
			if (it->kind == IDS_CONTENT) {
				if (s + (int)it->len > L)
					break;
				int ok = 1;
				for (uint32_t j = 0; j < it->len && ok; j++)
					ok = it->nocase ? tolower(b[s + j]) == tolower(it->bytes[j])
					                : b[s + j] == it->bytes[j];
				if (ok && n < cap)
					out[n++] = (struct occ){g_seg[k].off + s, g_seg[k].off + s + (int)it->len};
			} else {
				if (it->anchored && (k > 0 || s > 0))
					break;
				for (int e = s + 1; e <= L; e++) {
					char tmp[512];
					memcpy(tmp, b + s, (size_t)(e - s));
					tmp[e - s] = 0;
					if (regexec(&re, tmp, 0, NULL, 0) == 0 && n < cap)
						out[n++] = (struct occ){g_seg[k].off + s, g_seg[k].off + e};
				}
			}
		}
	}
	if (it->kind == IDS_PCRE)
		regfree(&re);
	return n;
}

static struct occ g_occ[IDS_MAX_ITEMS][4096];
static int g_nocc[IDS_MAX_ITEMS];

static int chain_ok(const struct ids_rule *r, unsigned k, unsigned last, int lim, int prev_e)
{
	const struct ids_item *it = &r->item[k];
	for (int i = 0; i < g_nocc[k]; i++) {
		struct occ o = g_occ[k][i];
		if (o.e > lim)
			continue;
		if (!it->relative) {
			if (o.s < (int)it->offset || (it->has_depth && o.e > (int)(it->offset + it->depth)))
				continue;
		} else {
			if (o.s < prev_e + it->distance)
				continue;
			if (it->has_within && o.e > prev_e + it->distance + (int)it->within)
				continue;
		}
		if (k == last || chain_ok(r, k + 1, last, lim, o.e))
			return 1;
	}
	return 0;
}

/* Smallest stream prefix length that satisfies r, or -1. */
static int reference(const struct ids_rule *r, const char *pre, int total)
{
	for (unsigned k = 0; k < r->n_item; k++)
		g_nocc[k] = occ_list(&r->item[k], pre, (r->item[k].hs_flags & 1u) != 0, g_occ[k], 4096);
	for (int lim = 0; lim <= total; lim++) {
		int ok = 1;
		for (unsigned a = 0; a < r->n_item && ok;) {
			unsigned b = a;
			while (b + 1 < r->n_item && r->item[b + 1].relative)
				b++;
			ok = chain_ok(r, a, b, lim, 0);
			a = b + 1;
		}
		if (ok)
			return lim;
	}
	return -1;
}

/* ---- engine run ------------------------------------------------------------------ */

struct fired {
	uint32_t sid;
	uint64_t end;
};
static struct fired g_fired[64];
static int g_nfired;

static int on_alert(void *ctx, const struct ids_rule *r, uint64_t end)
{
	(void)ctx;
	if (g_nfired < 64)
		g_fired[g_nfired++] = (struct fired){r->sid, end};
	return 0;
}

static uint32_t rnd_state = 1;
static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static void random_stream(uint8_t *b, int n)
{
	static const char alpha[] = "aabbcAB-";
	static const char *frag[] = {"abc", "AbA", "cab", "bb", "aaa", "ca", "ba", "cc", "bxb", "CAAB", "abca"};
	for (int i = 0; i < n;) {
		if (rnd() % 4 == 0) {
			const char *f = frag[rnd() % (sizeof(frag) / sizeof(frag[0]))];
			for (const char *p = f; *p && i < n; p++)
				b[i++] = (uint8_t)*p;
		} else {
			b[i++] = (uint8_t)alpha[rnd() % (sizeof(alpha) - 1)];
		}
	}
}

static void test_random(struct ids_rules *rs, struct ids_engine *e, unsigned iters)
{
	struct ids_thread *t = ids_thread_new(e);
	struct ids_tuple tu = {.v6 = 0, .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .sport = 1234, .dport = 80};
	unsigned runs = 0, inexact_runs = 0, mism = 0, fires = 0;
	static uint8_t buf[1024];
	for (unsigned it = 0; it < iters; it++) {
		int total = (int)(rnd() % 300);
		random_stream(buf, total);
		/* Segments: the stream, with up to two gaps of 1..20 bytes. */
		g_buf = buf;
		g_nseg = 0;
		int ngap = rnd() % 3 == 0 ? (int)(rnd() % 3) : 0, pos = 0;
		for (int k = 0; k <= ngap; k++) {
			int len = k == ngap ? total - pos : (int)(rnd() % (unsigned)(total - pos + 1));
			g_seg[g_nseg++] = (struct seg){pos, len};
			pos += len;
			if (k < ngap) {
				int gap = 1 + (int)(rnd() % 20);
				if (pos + gap > total)
					gap = total - pos;
				pos += gap;
			}
		}
		g_seg[g_nseg - 1].len = total - g_seg[g_nseg - 1].off; /* last run to the end */
		uint64_t inexact0 = ids_thread_counters(t)->inexact;
		g_nfired = 0;
		struct ids_side *s = ids_side_open(e, t, IDS_TO_SERVER, &tu, 1);
		if (!s) {
			CHECK(0, "side did not open");
			continue;
		}
		for (int k = 0; k < g_nseg; k++) {
			if (k > 0)
				ids_side_gap(e, t, s, (uint64_t)(g_seg[k].off - (g_seg[k - 1].off + g_seg[k - 1].len)));
			int p = 0;
			while (p < g_seg[k].len) {
				int c = 1 + (int)(rnd() % 40);
				if (c > g_seg[k].len - p)
					c = g_seg[k].len - p;
				ids_side_scan(e, t, s, buf + g_seg[k].off + p, (size_t)c, on_alert, NULL);
				p += c;
			}
		}
		ids_side_close(e, t, s, on_alert, NULL);
		runs++;
		int inexact = ids_thread_counters(t)->inexact != inexact0;
		inexact_runs += inexact;
		for (unsigned ri = 0; ri < rs->n_rule; ri++) {
			const struct ids_rule *r = &rs->rule[ri];
			int want = reference(r, posix[r->sid - 1], total);
			int got = -1, n = 0;
			for (int f = 0; f < g_nfired; f++)
				if (g_fired[f].sid == r->sid) {
					got = (int)g_fired[f].end;
					n++;
				}
			fires += n;
			if (n > 1 || (!inexact && got != want)) {
				mism++;
				if (mism <= 10) {
					printf("mismatch: sid %u: engine fired %d time(s) at %d, reference %d; stream "
					       "(%d bytes, %d "
					       "runs): ",
					       r->sid, n, got, want, total, g_nseg);
					for (int k = 0; k < g_nseg; k++)
						printf("[%d]'%.*s' ", g_seg[k].off, g_seg[k].len,
						       (const char *)buf + g_seg[k].off);
					printf("\n");
				}
			}
		}
	}
	CHECK(mism == 0, "%u rule verdicts differ from the reference (of %u runs x %u rules)", mism, runs, rs->n_rule);
	CHECK(fires > runs, "the random streams fire rules (%u fires in %u runs): the test has teeth", fires, runs);
	CHECK(inexact_runs * 100 <= runs, "inexact lookups in %u of %u runs (limit 1%%)", inexact_runs, runs);
	printf("random: %u runs, %u rule fires, %u runs with an inexact lookup, %u mismatches\n", runs, fires,
	       inexact_runs, mism);
	ids_thread_free(t);
}

/* ---- headers and the loader ---------------------------------------------------------- */

static int load_text(struct ids_rules *rs, const char *text, char *errbuf, size_t errcap)
{
	char path[] = "/tmp/ids-test-rules-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return -1;
	}
	close(fd);
	FILE *err = fmemopen(errbuf, errcap, "w");
	ids_rules_init(rs, err);
	int n = ids_rules_load(rs, path);
	fclose(err);
	rs->err = stderr;
	unlink(path);
	return n;
}

static int hdr(const struct ids_rules *rs, unsigned i, const char *src, unsigned sp, const char *dst, unsigned dp)
{
	uint8_t a[16] = {0}, b[16] = {0};
	int v6 = strchr(src, ':') != NULL;
	inet_pton(v6 ? AF_INET6 : AF_INET, src, a);
	inet_pton(v6 ? AF_INET6 : AF_INET, dst, b);
	return ids_header_match(&rs->hdr[rs->rule[i].hdr], v6, a, (uint16_t)sp, b, (uint16_t)dp);
}

static void test_headers(void)
{
	struct ids_rules rs;
	char err[4096] = "";
	const char *text = "ipvar LAN [10.0.0.0/8,!10.9.0.0/16]\n"
	                   "portvar WEB [80,8000:8100]\n"
	                   "alert tcp $LAN any -> !$LAN $WEB (content:\"x\"; sid:1;)\n"
	                   "alert tcp [192.0.2.1,2001:db8::/32] !1024:65535 <> any [443,!444] (content:\"x\"; sid:2;)\n"
	                   "alert tcp $HOME_NET any -> $EXTERNAL_NET ![80,8080] (content:\"x\"; sid:3;)\n";
	int n = load_text(&rs, text, err, sizeof(err));
	CHECK(n == 3, "3 header rules load (got %d): %s", n, err);
	if (n == 3) {
		CHECK(hdr(&rs, 0, "10.1.2.3", 5555, "8.8.8.8", 80), "LAN -> !LAN WEB");
		CHECK(hdr(&rs, 0, "10.1.2.3", 5555, "8.8.8.8", 8050), "port range in a list");
		CHECK(!hdr(&rs, 0, "10.9.1.1", 5555, "8.8.8.8", 80), "excluded /16 inside the list");
		CHECK(!hdr(&rs, 0, "10.1.2.3", 5555, "10.2.2.2", 80), "negated variable");
		CHECK(!hdr(&rs, 0, "10.1.2.3", 5555, "8.8.8.8", 81), "port outside the group");
		CHECK(hdr(&rs, 1, "192.0.2.1", 80, "1.1.1.1", 443), "address list, low source port");
		CHECK(hdr(&rs, 1, "1.1.1.1", 443, "192.0.2.1", 80), "<> matches the other way round");
		CHECK(!hdr(&rs, 1, "192.0.2.1", 2000, "1.1.1.1", 443), "negated port range");
		CHECK(hdr(&rs, 1, "2001:db8::5", 22, "2001:db9::1", 443), "IPv6 prefix");
		CHECK(!hdr(&rs, 1, "2001:db9::5", 22, "2001:db8::1", 444), "excluded port in a list");
		CHECK(hdr(&rs, 2, "192.168.1.1", 1000, "8.8.8.8", 443), "Suricata's default HOME_NET/EXTERNAL_NET");
		CHECK(!hdr(&rs, 2, "192.168.1.1", 1000, "172.16.0.1", 443), "EXTERNAL_NET is !HOME_NET");
		CHECK(!hdr(&rs, 2, "192.168.1.1", 1000, "8.8.8.8", 8080), "negated port list");
	}
	ids_rules_free(&rs);
}

static void test_refusals(void)
{
	static const struct {
		const char *rule, *why;
	} cases[] = {
	    {"alert tcp any any -> any any (content:!\"x\"; sid:101;)", ":1: sid 101: negated content"},
	    {"alert tcp any any -> any any (content:\"x\"; distance:-1; content:\"y\"; sid:102;)", "sid 102: distance"},
	    {"alert tcp any any -> any any (content:\"x\"; content:\"y\"; distance:-1; sid:103;)",
	     "sid 103: negative distance"},
	    {"alert tcp any any -> any any (pcre:\"/x/R\"; sid:104;)", "sid 104: pcre /R"},
	    {"alert udp any any -> any any (content:\"x\"; sid:105;)", "sid 105: protocol 'udp'"},
	    {"pass tcp any any -> any any (content:\"x\"; sid:106;)", "sid 106: action 'pass'"},
	    {"alert tcp any any -> any any (content:\"x\"; dsize:10; sid:107;)", "sid 107: keyword 'dsize'"},
	    {"alert tcp any any -> any any (content:\"abc\"; depth:2; sid:108;)", "sid 108: depth:2 is shorter"},
	    {"alert tcp $NOPE any -> any any (content:\"x\"; sid:109;)", "sid 109: undefined variable $NOPE"},
	    {"alert tcp any any -> any any (content:\"y\"; content:\"x\"; offset:2; distance:1; sid:110;)",
	     "sid 110: distance with offset/depth"},
	    {"alert tcp any any -> any any (msg:\"no sid\"; content:\"x\";)", ": no sid"},
	    {"alert tcp any any -> any any (content:\"x\"; sid:111; bogus;)", "sid 111: unsupported keyword 'bogus'"},
	    {"alert tcp any any -> any any (content:\"|4|\"; sid:112;)", "sid 112: odd number of hex digits"},
	    {"alert tcp 1.2.3.999 any -> any any (content:\"x\"; sid:113;)", "sid 113: bad address '1.2.3.999'"},
	    {"alert tcp any 70000 -> any any (content:\"x\"; sid:114;)", "sid 114: bad port '70000'"},
	    {"alert tcp any any -> any any (sid:115;)", "sid 115: no content or pcre"},
	    {"alert tcp any any -> any any (content:\"x\"; sid:1;)\nalert tcp any any -> any any (content:\"y\"; "
	     "sid:1;)",
	     "2: sid 1: duplicate sid"},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ids_rules rs;
		char err[4096] = "";
		load_text(&rs, cases[i].rule, err, sizeof(err));
		CHECK(rs.n_skipped == 1 && strstr(err, cases[i].why) && strstr(err, "rule skipped"),
		      "refusal %u: want '%s', got '%s' (%u skipped)", i, cases[i].why, err, rs.n_skipped);
		ids_rules_free(&rs);
	}
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 3000;
	rnd_state = argc > 2 ? (uint32_t)atoi(argv[2]) : 12345u;
	if (!rnd_state)
		rnd_state = 1;
	test_headers();
	test_refusals();

	struct ids_rules rs;
	char err[8192] = "";
	char text[8192] = "";
	for (unsigned i = 0; i < N_RULES; i++) {
		strcat(text, rules_text[i]);
		strcat(text, "\n");
	}
	int n = load_text(&rs, text, err, sizeof(err));
	CHECK(n == (int)N_RULES, "all %u test rules load (got %d): %s", (unsigned)N_RULES, n, err);
	struct ids_engine *e = n > 0 ? ids_engine_new(&rs) : NULL;
	CHECK(e != NULL, "the engine compiles the test rules");
	if (e) {
		test_random(&rs, e, iters);
		ids_engine_free(e);
	}
	ids_rules_free(&rs);
	printf("test_engine: %u passed, %u failed\n", passed, failed);
	return failed != 0;
}
