/* libFuzzer target: the IDS's rule reader (apps/ids/rules.c, rules_set.c),
 * the Suricata/Snort subset `ids -S` reads, and, for small rule sets, the
 * matching engine built from what it read (apps/ids/engine.c).
 * Input: a rules file's text; after a NUL byte, bytes of a stream to scan.
 * Checked besides ASan/UBSan/LSan:
 * - nothing is left out silently: the reader's messages "FILE:LINE: ...;
 *   rule skipped" are exactly n_skipped, each on a line the file has;
 * - a loaded rule keeps the bounds rules.h states: items, pattern lengths,
 *   offsets and windows, a NUL-terminated pcre expression, its header, its
 *   line; every address and port set is a tree whose links stay inside it
 *   (membership is asked of addresses and ports near its own nodes);
 * - the engine built from a small set (rules it refuses are reported and
 *   dropped, again with a message each) finds the same alerts, rule and
 *   stream offset, whether the stream comes whole or cut into pieces, in
 *   each direction; each rule at most once per side, never past the bytes
 *   scanned. Runs the engine counts as inexact (within-windows, a full
 *   state table, a full match buffer) are not compared. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"
#include "rules.h"
#include "fuzz.h"

#define MAX_ALERTS 64

static unsigned count_lines(const uint8_t *p, size_t n)
{
	unsigned l = 0;
	for (size_t i = 0; i < n; i++)
		l += p[i] == '\n';
	return l + (n && p[n - 1] != '\n');
}

/* Messages of the form "PATH:LINE: ...; rule skipped": their count, each
 * line checked against the file's. */
static unsigned skipped_messages(const char *log, const char *path, unsigned lines)
{
	unsigned n = 0;
	size_t pl = strlen(path);
	for (const char *p = log; p && *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		static const char tail[] = "; rule skipped";
		if (len >= sizeof(tail) - 1 && !memcmp(p + len - (sizeof(tail) - 1), tail, sizeof(tail) - 1)) {
			CHECK(len > pl && !strncmp(p, path, pl) && p[pl] == ':');
			unsigned long ln = strtoul(p + pl + 1, NULL, 10);
			CHECK(ln >= 1 && ln <= lines);
			n++;
		}
		p = e ? e + 1 : NULL;
	}
	return n;
}

static void check_set(const struct ids_set *s, int ports)
{
	CHECK(s->n >= 1 && s->n <= s->cap && s->node);
	for (unsigned i = 0; i < s->n; i++) {
		const struct ids_node *nd = &s->node[i];
		CHECK(nd->kind <= IDS_N_LIST);
		CHECK(nd->child >= -1 && nd->child < (int32_t)s->n && nd->next >= -1 && nd->next < (int32_t)s->n);
		/* links only go forward or to children made after their list:
		 * no node points to itself */
		CHECK(nd->child != (int32_t)i && nd->next != (int32_t)i);
		if (nd->kind == IDS_N_CIDR)
			CHECK(!ports && nd->plen <= (nd->v6 ? 128 : 32));
		if (nd->kind == IDS_N_PORTS)
			CHECK(ports && nd->lo <= nd->hi);
		if (nd->kind != IDS_N_LIST)
			CHECK(nd->child == -1);
	}
	/* Membership near every node's own values. */
	for (unsigned i = 0; i < s->n && i < 16; i++) {
		const struct ids_node *nd = &s->node[i];
		if (ports) {
			(void)ids_set_has_port(s, nd->lo);
			(void)ids_set_has_port(s, (uint16_t)(nd->hi + 1));
		} else {
			uint8_t a[16];
			memcpy(a, nd->addr, 16);
			(void)ids_set_has_addr(s, nd->v6, a);
			a[nd->v6 ? 15 : 3] ^= 1;
			(void)ids_set_has_addr(s, nd->v6, a);
		}
	}
}

static void check_rule(const struct ids_rules *rs, const struct ids_rule *r, unsigned lines)
{
	CHECK(r->action <= IDS_DROP);
	CHECK(r->hdr < rs->n_hdr);
	CHECK(r->msg && r->category && r->file);
	CHECK(r->line >= 1 && r->line <= lines);
	CHECK(r->n_item <= IDS_MAX_ITEMS);
	CHECK((r->flow & ~(IDS_FLOW_TO_SERVER | IDS_FLOW_TO_CLIENT | IDS_FLOW_ESTABLISHED)) == 0);
	for (unsigned i = 0; i < r->n_item; i++) {
		const struct ids_item *it = &r->item[i];
		CHECK(it->kind <= IDS_PCRE && it->bytes);
		CHECK(it->len >= 1 && it->len <= IDS_MAX_PATTERN * (it->kind == IDS_PCRE ? 4u : 1u));
		if (it->kind == IDS_PCRE)
			CHECK(strlen((const char *)it->bytes) == it->len);
		CHECK(it->offset <= IDS_MAX_OFFSET && it->depth <= IDS_MAX_OFFSET && it->within <= IDS_MAX_OFFSET);
		CHECK(it->distance >= -(int32_t)IDS_MAX_OFFSET && it->distance <= (int32_t)IDS_MAX_OFFSET);
		if (it->relative)
			CHECK(i > 0);
	}
}

/* Whether the engine's compile stays small: Hyperscan's compile time grows
 * with bounded repeats and long expressions, and a slow compile is the
 * library's, not a finding of ours. */
static int engine_sized(const struct ids_rules *rs)
{
	if (rs->n_rule == 0 || rs->n_rule > 8)
		return 0;
	size_t total = 0;
	for (unsigned i = 0; i < rs->n_rule; i++)
		for (unsigned k = 0; k < rs->rule[i].n_item; k++) {
			const struct ids_item *it = &rs->rule[i].item[k];
			total += it->len;
			if (it->kind == IDS_PCRE && (it->len > 64 || memchr(it->bytes, '{', it->len)))
				return 0;
		}
	return total <= 512;
}

struct alerts {
	unsigned n;
	const struct ids_rule *rule[MAX_ALERTS];
	uint64_t end[MAX_ALERTS];
	uint64_t limit; /* bytes scanned so far */
};

static int on_alert(void *ctx, const struct ids_rule *r, uint64_t end)
{
	struct alerts *a = ctx;
	CHECK(end <= a->limit);
	for (unsigned i = 0; i < a->n; i++)
		CHECK(a->rule[i] != r); /* once per side */
	CHECK(a->n < MAX_ALERTS);
	a->rule[a->n] = r;
	a->end[a->n++] = end;
	return 0;
}

static int run_side(struct ids_engine *e, struct ids_thread *t, enum ids_dir d, const uint8_t *s, size_t n,
                    uint64_t cut, struct alerts *a)
{
	const struct ids_counters *c = ids_thread_counters(t);
	uint64_t inex0 = c->inexact + c->state_full + c->match_overflow;
	struct ids_tuple tu = {.v6 = 0, .src = {10, 0, 0, 1}, .dst = {10, 0, 0, 2}, .sport = 40000, .dport = 80};
	if (d == IDS_TO_CLIENT) {
		tu = (struct ids_tuple){
		    .v6 = 0, .src = {10, 0, 0, 2}, .dst = {10, 0, 0, 1}, .sport = 80, .dport = 40000};
	}
	memset(a, 0, sizeof(*a));
	struct ids_side *sd = ids_side_open(e, t, d, &tu, 1);
	if (!sd)
		return 0;
	size_t pos = 0;
	while (pos < n) {
		size_t len = n - pos;
		if (cut) {
			cut = cut * 6364136223846793005ull + 1442695040888963407ull;
			len = 1 + (size_t)(cut >> 58) % 9;
			if (len > n - pos)
				len = n - pos;
		}
		a->limit = pos + len;
		ids_side_scan(e, t, sd, s + pos, len, on_alert, a);
		CHECK(ids_side_pos(sd) == pos + len);
		pos += len;
	}
	a->limit = n;
	ids_side_close(e, t, sd, on_alert, a);
	return c->inexact + c->state_full + c->match_overflow == inex0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 32768)
		return 0;
	size_t flen = strnlen((const char *)data, size);
	char *log = NULL;
	size_t loglen = 0;
	FILE *err = open_memstream(&log, &loglen);
	CHECK(err);
	struct ids_rules rs;
	ids_rules_init(&rs, err);
	char path[64];
	int fd = fuzz_memfile("fuzz.rules", data, flen, path, sizeof(path));
	unsigned lines = count_lines(data, flen);
	int n = ids_rules_load(&rs, path);
	fflush(err);
	CHECK(n >= 0 && (unsigned)n == rs.n_rule);
	CHECK(skipped_messages(log, path, lines) == rs.n_skipped);
	CHECK(rs.n_rule + rs.n_skipped <= lines);
	for (unsigned i = 0; i < rs.n_rule; i++)
		check_rule(&rs, &rs.rule[i], lines);
	for (unsigned h = 0; h < rs.n_hdr; h++) {
		check_set(&rs.hdr[h].src, 0);
		check_set(&rs.hdr[h].dst, 0);
		check_set(&rs.hdr[h].sport, 1);
		check_set(&rs.hdr[h].dport, 1);
		CHECK(rs.hdr[h].text);
	}
	if (engine_sized(&rs)) {
		unsigned before = rs.n_rule, skipped = rs.n_skipped;
		struct ids_engine *e = ids_engine_new(&rs);
		fflush(err);
		/* each rule the engine refused was reported and dropped */
		CHECK(rs.n_rule + (rs.n_skipped - skipped) == before);
		CHECK(skipped_messages(log, path, lines) == rs.n_skipped);
		if (e) {
			struct ids_thread *t = ids_thread_new(e);
			CHECK(t);
			const uint8_t *s = data + flen + (flen < size);
			size_t sn = size - flen - (flen < size);
			static struct alerts whole, cut;
			uint64_t seed = 0x9e3779b97f4a7c15ull ^ sn;
			for (size_t i = 0; i < sn && i < 32; i++)
				seed = (seed ^ s[i]) * 0x100000001b3ull;
			for (int d = IDS_TO_SERVER; d <= IDS_TO_CLIENT; d++) {
				int exact = run_side(e, t, (enum ids_dir)d, s, sn, 0, &whole);
				exact &= run_side(e, t, (enum ids_dir)d, s, sn, seed | 1, &cut);
				if (!exact)
					continue;
				CHECK(whole.n == cut.n);
				for (unsigned i = 0; i < whole.n; i++) {
					unsigned j = 0;
					while (j < cut.n && cut.rule[j] != whole.rule[i])
						j++;
					CHECK(j < cut.n && cut.end[j] == whole.end[i]);
				}
			}
			ids_thread_free(t);
			ids_engine_free(e);
		}
	}
	ids_rules_free(&rs);
	close(fd);
	fclose(err);
	free(log);
	return 0;
}
