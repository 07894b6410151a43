/* libFuzzer target: the firewall's rules-file parser (apps/firewall/rules.c),
 * the file `firewall -R` and every SIGHUP reload read, and the --eval tuple
 * parser.
 * Input: a rules file's text; after a NUL byte, --eval tuples one a line.
 * Checked besides ASan/UBSan/LSan:
 * - a refused file has a message that names the file ("FILE:LINE: ..." or
 *   "FILE: ...") and, with a line, a line the file has;
 * - an accepted rule set keeps its bounds: rules, list lengths, prefix
 *   lengths of their family, masked address words, port ranges low <= high,
 *   protocols, actions and states in range, line numbers in order;
 * - each rule's text, written out with the default line into a second file,
 *   reads back as the same rule set (the text --check prints and the JSON
 *   carries is the rule);
 * - first match agrees with a plain reading of the fields on tuples built
 *   from the rules' own addresses and ports and the input's bytes;
 * - an accepted --eval tuple is one packet: a family, a protocol, one
 *   address a side. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rules.h"
#include "fuzz.h"

static unsigned count_lines(const uint8_t *p, size_t n)
{
	unsigned l = 0;
	for (size_t i = 0; i < n; i++)
		l += p[i] == '\n';
	return l + (n && p[n - 1] != '\n');
}

static void check_net(const struct fw_net *n)
{
	CHECK(n->fam == 4 || n->fam == 6);
	CHECK(n->plen <= (n->fam == 4 ? 32 : 128));
	for (unsigned i = 0; i < 4; i++) {
		CHECK((n->w[i] & ~n->m[i]) == 0);
		if (n->fam == 4 && i > 0)
			CHECK(n->m[i] == 0);
	}
	unsigned bits = 0;
	for (unsigned i = 0; i < 4; i++)
		bits += (unsigned)__builtin_popcount(n->m[i]);
	CHECK(bits == n->plen);
}

static void check_rule(const struct fw_rule *r, unsigned lines)
{
	CHECK(r->action <= FW_RESET && r->proto <= FW_P_ICMP6 && r->state <= (FW_ST_NEW | FW_ST_EST));
	CHECK(r->line >= 1 && r->line <= lines);
	CHECK(r->n_src <= FW_LIST_MAX && r->n_dst <= FW_LIST_MAX);
	CHECK(r->n_sport <= FW_LIST_MAX && r->n_dport <= FW_LIST_MAX);
	CHECK(r->text && r->text[0] && strlen(r->text) <= FW_LINE_MAX);
	CHECK(!strchr(r->text, '\n') && !strchr(r->text, '#'));
	for (unsigned i = 0; i < r->n_src; i++)
		check_net(&r->src[i]);
	for (unsigned i = 0; i < r->n_dst; i++)
		check_net(&r->dst[i]);
	for (unsigned i = 0; i < r->n_sport; i++)
		CHECK(r->sport[i].lo <= r->sport[i].hi);
	for (unsigned i = 0; i < r->n_dport; i++)
		CHECK(r->dport[i].lo <= r->dport[i].hi);
}

static int same_rule(const struct fw_rule *a, const struct fw_rule *b)
{
	if (a->action != b->action || a->proto != b->proto || a->state != b->state || a->n_src != b->n_src ||
	    a->n_dst != b->n_dst || a->n_sport != b->n_sport || a->n_dport != b->n_dport || strcmp(a->text, b->text))
		return 0;
	return (!a->n_src || !memcmp(a->src, b->src, a->n_src * sizeof(*a->src))) &&
	       (!a->n_dst || !memcmp(a->dst, b->dst, a->n_dst * sizeof(*a->dst))) &&
	       (!a->n_sport || !memcmp(a->sport, b->sport, a->n_sport * sizeof(*a->sport))) &&
	       (!a->n_dport || !memcmp(a->dport, b->dport, a->n_dport * sizeof(*a->dport)));
}

/* The reference: a rule's fields read as firewall.1 states them. */
static int in_nets(const struct fw_net *n, unsigned cnt, const struct fw_tuple *t, const uint32_t *a)
{
	if (!cnt)
		return 1;
	for (unsigned i = 0; i < cnt; i++) {
		if (n[i].fam != t->fam)
			continue;
		unsigned k = 0;
		while (k < 4 && (a[k] & n[i].m[k]) == n[i].w[k])
			k++;
		if (k == 4)
			return 1;
	}
	return 0;
}

static int in_ports(const struct fw_prange *p, unsigned cnt, uint16_t port)
{
	if (!cnt)
		return 1;
	for (unsigned i = 0; i < cnt; i++)
		if (port >= p[i].lo && port <= p[i].hi)
			return 1;
	return 0;
}

static int ref_match(const struct fw_ruleset *rs, const struct fw_tuple *t, unsigned st)
{
	for (unsigned i = 0; i < rs->n; i++) {
		const struct fw_rule *r = &rs->r[i];
		if (r->proto != FW_P_ANY && r->proto != t->proto)
			continue;
		if (st && !(r->state & st))
			continue;
		int ports = t->proto == FW_P_TCP || t->proto == FW_P_UDP;
		if (in_nets(r->src, r->n_src, t, t->src) && in_nets(r->dst, r->n_dst, t, t->dst) &&
		    (!ports || (in_ports(r->sport, r->n_sport, t->sport) && in_ports(r->dport, r->n_dport, t->dport))))
			return (int)i;
	}
	return -1;
}

static void probe(const struct fw_ruleset *rs, const uint8_t *data, size_t size)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
	for (size_t i = 0; i < size && i < 64; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	for (unsigned k = 0; k < 64; k++) {
		h = h * 6364136223846793005ull + 1442695040888963407ull;
		struct fw_tuple t;
		memset(&t, 0, sizeof(t));
		const struct fw_rule *r = rs->n ? &rs->r[(h >> 33) % rs->n] : NULL;
		t.fam = (h >> 7) & 1 ? 6 : 4;
		t.proto = (uint8_t)(1 + (h >> 9) % 4);
		/* Addresses: a rule's own prefix (its first address, its last,
		 * or one bit outside), else bytes of the hash. */
		for (unsigned side = 0; side < 2; side++) {
			uint32_t *a = side ? t.dst : t.src;
			const struct fw_net *n = NULL;
			if (r && side == 0 && r->n_src)
				n = &r->src[(h >> 13) % r->n_src];
			if (r && side == 1 && r->n_dst)
				n = &r->dst[(h >> 17) % r->n_dst];
			for (unsigned i = 0; i < 4; i++)
				a[i] = (uint32_t)(h >> (i * 8)) * 2654435761u;
			if (n) {
				t.fam = n->fam;
				unsigned how = (unsigned)(h >> (21 + side * 2)) % 3;
				for (unsigned i = 0; i < 4; i++)
					a[i] = how == 0   ? n->w[i]
					       : how == 1 ? n->w[i] | ~n->m[i]
					                  : n->w[i] ^ (n->m[i] & 1u);
			}
		}
		if (t.fam == 4)
			for (unsigned i = 1; i < 4; i++)
				t.src[i] = t.dst[i] = 0;
		t.sport = (uint16_t)(h >> 40);
		t.dport = (uint16_t)(h >> 24);
		if (r && r->n_dport && (h >> 60) & 1)
			t.dport = (h >> 61) & 1 ? r->dport[0].lo : r->dport[0].hi;
		if (r && r->n_sport && (h >> 62) & 1)
			t.sport = r->sport[0].hi;
		if (r && r->proto != FW_P_ANY)
			t.proto = r->proto;
		unsigned st = t.proto == FW_P_TCP ? (unsigned)((h >> 3) % 3) : 0;
		CHECK(fw_match(rs, &t, st) == ref_match(rs, &t, st));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	size_t flen = strnlen((const char *)data, size);
	char path[64], path2[64], err[1024];
	int fd = fuzz_memfile("fuzz.rules", data, flen, path, sizeof(path));
	err[0] = 0;
	struct fw_ruleset *rs = fw_rules_load(path, 2, err, sizeof(err));
	unsigned lines = count_lines(data, flen);
	if (!rs) {
		size_t pl = strlen(path);
		CHECK(!strncmp(err, path, pl) && err[pl] == ':' && err[pl + 1]);
		unsigned long ln = strtoul(err + pl + 1, NULL, 10);
		CHECK(ln <= lines);
	} else {
		CHECK(rs->n <= FW_RULES_MAX && rs->gen == 1 && rs->n_ctx == 2);
		CHECK(rs->def_action <= FW_RESET && rs->def_line <= lines);
		for (unsigned i = 0; i < rs->n; i++) {
			check_rule(&rs->r[i], lines);
			if (i)
				CHECK(rs->r[i].line > rs->r[i - 1].line);
			static char js[1 << 18]; /* a rule of 2 x 1,024 IPv6 prefixes and 2 x 1,024 ranges fits */
			CHECK(fw_rule_json(&rs->r[i], i, js, sizeof(js)) == 0);
			CHECK(js[0] == '{' && js[strlen(js) - 1] == '}');
		}
		/* Round trip: the rules' texts read back as the same set. */
		char *text = NULL;
		size_t tlen = 0;
		FILE *o = open_memstream(&text, &tlen);
		CHECK(o);
		if (rs->def_line)
			fprintf(o, "default %s\n", fw_action_name(rs->def_action));
		for (unsigned i = 0; i < rs->n; i++)
			fprintf(o, "%s\n", rs->r[i].text);
		fclose(o);
		int fd2 = fuzz_memfile("fuzz.rules", text, tlen, path2, sizeof(path2));
		struct fw_ruleset *rs2 = fw_rules_load(path2, 1, err, sizeof(err));
		CHECK(rs2);
		CHECK(rs2->n == rs->n && rs2->def_action == rs->def_action);
		for (unsigned i = 0; i < rs->n; i++)
			CHECK(same_rule(&rs->r[i], &rs2->r[i]));
		probe(rs, data, size);
		fw_rules_free(rs2);
		close(fd2);
		free(text);
		fw_rules_free(rs);
	}
	close(fd);
	/* --eval tuples */
	if (flen < size) {
		char *ev = strndup((const char *)data + flen + 1, size - flen - 1);
		char *save = NULL;
		for (char *a = strtok_r(ev, "\n", &save); a; a = strtok_r(NULL, "\n", &save)) {
			struct fw_tuple t;
			unsigned st = 99;
			err[0] = 0;
			if (fw_parse_tuple(a, &t, &st, err, sizeof(err)) < 0) {
				CHECK(err[0] != 0);
				continue;
			}
			CHECK(t.fam == 4 || t.fam == 6);
			CHECK(t.proto >= FW_P_TCP && t.proto <= FW_P_ICMP6);
			CHECK(st <= (FW_ST_NEW | FW_ST_EST));
		}
		free(ev);
	}
	return 0;
}
