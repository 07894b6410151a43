/* firewall rules: parsing a rules file into a rule set, and first-match
 * evaluation (rules.h). The grammar, one rule per line, '#' to end of line
 * is a comment:
 *
 *   default allow|drop|reset
 *   ACTION PROTO SRC [SPORT] -> DST [DPORT] [STATE]
 *
 * ACTION allow|drop|reset; PROTO tcp|udp|icmp|icmp6|any; SRC/DST "any" or a
 * comma-separated list of IPv4/IPv6 addresses and prefixes; ports "any" or a
 * comma-separated list of N and N-M (tcp and udp only); STATE new,
 * established or new,established (tcp only). Every error names the file, the
 * line and what to write instead: a firewall must never load a rule that
 * means something other than what its author wrote.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define MAX_TOK 16

const char *fw_action_name(unsigned a)
{
	static const char *const n[] = {"allow", "drop", "reset"};
	return a < 3 ? n[a] : "?";
}

const char *fw_proto_name(unsigned p)
{
	static const char *const n[] = {"any", "tcp", "udp", "icmp", "icmp6"};
	return p < 5 ? n[p] : "?";
}

static int say(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_action(const char *s)
{
	if (!strcmp(s, "allow"))
		return FW_ALLOW;
	if (!strcmp(s, "drop"))
		return FW_DROP;
	if (!strcmp(s, "reset"))
		return FW_RESET;
	return -1;
}

static int parse_proto(const char *s)
{
	for (unsigned p = 0; p < 5; p++)
		if (!strcmp(s, fw_proto_name(p)))
			return (int)p;
	return -1;
}

/* Splits a comma list in place; empty items are errors. @return count or -1. */
static int split_list(char *s, char **item, int max)
{
	int n = 0;
	for (char *p = s;;) {
		char *c = strchr(p, ',');
		if (c)
			*c = 0;
		if (!*p || n == max)
			return -1;
		item[n++] = p;
		if (!c)
			return n;
		p = c + 1;
	}
}

static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;
	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	return *end || errno || *v > max ? -1 : 0;
}

static void mask_words(uint8_t fam, unsigned plen, uint32_t m[4])
{
	uint8_t b[16] = {0};
	unsigned bits = fam == 4 ? 32 : 128;
	for (unsigned i = 0; i < bits; i++)
		if (i < plen)
			b[i / 8] |= (uint8_t)(0x80u >> (i % 8));
	memcpy(m, b, 16);
}

/* One address or prefix. @return 0, or -1 with msg. */
static int parse_net(const char *tok, struct fw_net *n, char *msg, size_t ml)
{
	char a[INET6_ADDRSTRLEN + 8];
	uint8_t b[16] = {0};
	unsigned long plen;
	if (strlen(tok) >= sizeof(a))
		return say(msg, ml, "bad address '%s' (expected an IPv4/IPv6 address or prefix, e.g. 10.0.0.0/8)", tok);
	strcpy(a, tok);
	char *sl = strchr(a, '/');
	if (sl)
		*sl++ = 0;
	memset(n, 0, sizeof(*n));
	if (strchr(a, ':')) {
		if (inet_pton(AF_INET6, a, b) != 1)
			return say(msg, ml, "bad IPv6 address '%s'", a);
		n->fam = 6;
	} else {
		if (inet_pton(AF_INET, a, b) != 1)
			return say(msg, ml,
			           "bad address '%s' (expected any, an IPv4/IPv6 address or prefix, or a "
			           "comma-separated list of them)",
			           tok);
		n->fam = 4;
	}
	unsigned bits = n->fam == 4 ? 32 : 128;
	plen = bits;
	if (sl && parse_uint(sl, 1000, &plen) < 0)
		return say(msg, ml, "bad prefix length '/%s' in '%s' (expected /0 to /%u)", sl, tok, bits);
	if (plen > bits)
		return say(msg, ml, "prefix length /%lu in '%s' is too long for IPv%u (at most /%u)", plen, tok, n->fam,
		           bits);
	n->plen = (uint8_t)plen;
	mask_words(n->fam, (unsigned)plen, n->m);
	memcpy(n->w, b, 16);
	for (unsigned i = 0; i < 4; i++) {
		if ((n->w[i] & ~n->m[i]) != 0) {
			uint32_t net[4];
			char s[INET6_ADDRSTRLEN];
			for (unsigned k = 0; k < 4; k++)
				net[k] = n->w[k] & n->m[k];
			inet_ntop(n->fam == 4 ? AF_INET : AF_INET6, net, s, sizeof(s));
			return say(msg, ml, "'%s' has host bits set (the network is %s/%lu)", tok, s, plen);
		}
	}
	return 0;
}

static int parse_nets(char *tok, struct fw_net **out, unsigned *n, char *msg, size_t ml)
{
	char *item[FW_LIST_MAX];
	*out = NULL;
	*n = 0;
	if (!strcmp(tok, "any"))
		return 0;
	char copy[FW_LINE_MAX];
	snprintf(copy, sizeof(copy), "%s", tok);
	int k = split_list(tok, item, FW_LIST_MAX);
	if (k < 0)
		return say(msg, ml, "bad address list '%.60s%s' (an empty item, or more than %d items)", copy,
		           strlen(copy) > 60 ? "..." : "", FW_LIST_MAX);
	*out = calloc((size_t)k, sizeof(**out));
	if (!*out)
		return say(msg, ml, "out of memory");
	for (int i = 0; i < k; i++)
		if (parse_net(item[i], &(*out)[i], msg, ml) < 0)
			return -1;
	*n = (unsigned)k;
	return 0;
}

static int parse_ports(char *tok, struct fw_prange **out, unsigned *n, char *msg, size_t ml)
{
	char *item[FW_LIST_MAX];
	*out = NULL;
	*n = 0;
	if (!strcmp(tok, "any"))
		return 0;
	char copy[FW_LINE_MAX];
	snprintf(copy, sizeof(copy), "%s", tok);
	int k = split_list(tok, item, FW_LIST_MAX);
	if (k < 0)
		return say(msg, ml, "bad port list '%.60s%s' (an empty item, or more than %d items)", copy,
		           strlen(copy) > 60 ? "..." : "", FW_LIST_MAX);
	*out = calloc((size_t)k, sizeof(**out));
	if (!*out)
		return say(msg, ml, "out of memory");
	for (int i = 0; i < k; i++) {
		unsigned long lo, hi;
		char *dash = strchr(item[i], '-');
		if (dash)
			*dash = 0;
		if (parse_uint(item[i], 65535, &lo) < 0 || (dash && parse_uint(dash + 1, 65535, &hi) < 0))
			return say(msg, ml,
			           "bad port '%s' (expected any, N, N-M or a comma-separated list, N in 0-65535)",
			           copy);
		if (!dash)
			hi = lo;
		if (lo > hi)
			return say(msg, ml, "port range %lu-%lu is empty (the first port is above the last)", lo, hi);
		(*out)[i].lo = (uint16_t)lo;
		(*out)[i].hi = (uint16_t)hi;
	}
	*n = (unsigned)k;
	return 0;
}

static int is_state(const char *s)
{
	return !strcmp(s, "new") || !strcmp(s, "established") || !strcmp(s, "new,established") ||
	       !strcmp(s, "established,new");
}

static unsigned fams(const struct fw_net *n, unsigned cnt)
{
	unsigned f = 0;
	if (!cnt)
		return 3;
	for (unsigned i = 0; i < cnt; i++)
		f |= n[i].fam == 4 ? 1u : 2u;
	return f;
}

static void rule_free(struct fw_rule *r)
{
	free(r->src);
	free(r->dst);
	free(r->sport);
	free(r->dport);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* tok[0] is the action. @return 0, or -1 with msg (r partly filled: free it). */
static int parse_rule(char **tok, int nt, struct fw_rule *r, char *msg, size_t ml)
{
	int arrow = -1;
	memset(r, 0, sizeof(*r));
	/* The text first: the list parsers below cut their tokens. */
	size_t tl = 1, o = 0;
	for (int i = 0; i < nt; i++)
		tl += strlen(tok[i]) + 1;
	r->text = malloc(tl);
	if (!r->text)
		return say(msg, ml, "out of memory");
	for (int i = 0; i < nt; i++) {
		size_t l = strlen(tok[i]);
		if (i)
			r->text[o++] = ' ';
		memcpy(r->text + o, tok[i], l);
		o += l;
	}
	r->text[o] = 0;
	int a = parse_action(tok[0]);
	if (a < 0)
		return say(msg, ml, "unknown action '%s' (expected allow, drop, reset, or a 'default' line)", tok[0]);
	r->action = (uint8_t)a;
	if (nt < 2)
		return say(msg, ml,
		           "'%s' needs a protocol and addresses: ACTION PROTO SRC [PORT] -> DST [PORT] [STATE]",
		           tok[0]);
	int p = parse_proto(tok[1]);
	if (p < 0)
		return say(msg, ml, "unknown protocol '%s' (expected tcp, udp, icmp, icmp6 or any)", tok[1]);
	r->proto = (uint8_t)p;
	for (int i = 2; i < nt; i++) {
		if (!strcmp(tok[i], "->")) {
			if (arrow >= 0)
				return say(msg, ml, "'->' appears twice");
			arrow = i;
		} else if (strstr(tok[i], "->")) {
			return say(msg, ml, "write '->' with a blank on each side (found '%s')", tok[i]);
		}
	}
	if (arrow < 0)
		return say(msg, ml, "missing '->' between the source and the destination");
	int ns = arrow - 2, nd = nt - arrow - 1;
	if (ns < 1 || ns > 2)
		return say(msg, ml, "expected SRC [PORT] before '->', found %d field%s", ns, ns == 1 ? "" : "s");
	if (nd < 1)
		return say(msg, ml, "expected DST [PORT] [STATE] after '->'");
	char *dst_port = NULL, *state = NULL;
	if (nd >= 2) {
		if (is_state(tok[arrow + 2]) && nd == 2)
			state = tok[arrow + 2];
		else
			dst_port = tok[arrow + 2];
	}
	if (nd >= 3) {
		state = tok[arrow + 3];
		if (!is_state(state))
			return say(msg, ml, "unknown state '%s' (expected new, established or new,established)", state);
	}
	if (nd > 3)
		return say(msg, ml, "unexpected '%s' after the state", tok[arrow + 4]);
	if (parse_nets(tok[2], &r->src, &r->n_src, msg, ml) < 0 ||
	    (ns == 2 && parse_ports(tok[3], &r->sport, &r->n_sport, msg, ml) < 0) ||
	    parse_nets(tok[arrow + 1], &r->dst, &r->n_dst, msg, ml) < 0 ||
	    (dst_port && parse_ports(dst_port, &r->dport, &r->n_dport, msg, ml) < 0))
		return -1;
	if ((r->n_sport || r->n_dport) && r->proto != FW_P_TCP && r->proto != FW_P_UDP)
		return say(msg, ml, "ports apply to tcp and udp only (this rule is '%s': write any or leave them out)",
		           tok[1]);
	r->state = FW_ST_NEW;
	if (state) {
		if (r->proto != FW_P_TCP)
			return say(msg, ml, "a state (%s) applies to tcp rules only: %s is stateless", state, tok[1]);
		r->state = !strcmp(state, "new")           ? FW_ST_NEW
		           : !strcmp(state, "established") ? FW_ST_EST
		                                           : FW_ST_NEW | FW_ST_EST;
	}
	if (r->action == FW_RESET && r->proto != FW_P_TCP && r->proto != FW_P_ANY)
		return say(msg, ml, "reset answers with TCP RSTs: use drop for %s", tok[1]);
	unsigned f = fams(r->src, r->n_src) & fams(r->dst, r->n_dst);
	if (!f)
		return say(msg, ml,
		           "the source and the destination are of different IP versions: the rule can never match");
	if (r->proto == FW_P_ICMP && !(f & 1))
		return say(msg, ml, "icmp is ICMP for IPv4: use icmp6 for IPv6 addresses");
	if (r->proto == FW_P_ICMP6 && !(f & 2))
		return say(msg, ml, "icmp6 is ICMPv6: use icmp for IPv4 addresses");
	return 0;
}

/* Splits a line into blank-separated tokens, '#' starting a comment.
 * @return the count, or -1 when there are more than MAX_TOK. */
static int tokenize(char *line, char **tok)
{
	int n = 0;
	char *h = strchr(line, '#');
	if (h)
		*h = 0;
	for (char *p = strtok(line, " \t\r\n\v\f"); p; p = strtok(NULL, " \t\r\n\v\f")) {
		if (n == MAX_TOK)
			return -1;
		tok[n++] = p;
	}
	return n;
}

void fw_rules_free(struct fw_ruleset *rs)
{
	if (!rs)
		return;
	for (unsigned i = 0; i < rs->n; i++)
		rule_free(&rs->r[i]);
	free(rs->r);
	free(rs->ctr);
	free(rs);
}

int fw_rules_counters(struct fw_ruleset *rs, unsigned n_ctx)
{
	/* Blocks of a multiple of 8 entries (192 bytes, three cache lines)
	 * on a 64-byte boundary: two contexts never write the same line. */
	_Static_assert(sizeof(struct fw_ctr) * 8 % 64 == 0, "8 counters fill whole cache lines");
	free(rs->ctr);
	rs->n_ctx = n_ctx ? n_ctx : 1;
	rs->stride = (rs->n + 2 + 7) & ~7u;
	if (posix_memalign((void **)&rs->ctr, 64, (size_t)rs->n_ctx * rs->stride * sizeof(struct fw_ctr))) {
		rs->ctr = NULL;
		return -1;
	}
	memset(rs->ctr, 0, (size_t)rs->n_ctx * rs->stride * sizeof(struct fw_ctr));
	return 0;
}

struct fw_ruleset *fw_rules_load(const char *path, unsigned n_ctx, char *err, size_t errlen)
{
	char msg[512], *line = NULL, *tok[MAX_TOK];
	size_t cap = 0, rcap = 0;
	ssize_t len;
	unsigned ln = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct fw_ruleset *rs = calloc(1, sizeof(*rs));
	if (!rs) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	rs->gen = 1;
	rs->def_action = FW_DROP;
	while ((len = getline(&line, &cap, f)) >= 0) {
		ln++;
		if ((size_t)len > FW_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line too long (over %d characters)", path, ln, FW_LINE_MAX);
			goto bad;
		}
		if (strlen(line) != (size_t)len) {
			snprintf(err, errlen, "%s:%u: NUL byte in the line (is this a text file?)", path, ln);
			goto bad;
		}
		int nt = tokenize(line, tok);
		if (nt < 0) {
			snprintf(err, errlen, "%s:%u: too many fields (at most %d)", path, ln, MAX_TOK);
			goto bad;
		}
		if (!nt)
			continue;
		if (!strcmp(tok[0], "default")) {
			int a = nt == 2 ? parse_action(tok[1]) : -1;
			if (a < 0) {
				snprintf(err, errlen,
				         "%s:%u: expected 'default allow', 'default drop' or 'default reset'", path,
				         ln);
				goto bad;
			}
			if (rs->def_line) {
				snprintf(err, errlen, "%s:%u: a second default policy (the first is on line %u)", path,
				         ln, rs->def_line);
				goto bad;
			}
			rs->def_action = (uint8_t)a;
			rs->def_line = ln;
			continue;
		}
		if (rs->n == FW_RULES_MAX) {
			snprintf(err, errlen, "%s:%u: too many rules (at most %d)", path, ln, FW_RULES_MAX);
			goto bad;
		}
		if (rs->n == rcap) {
			size_t nc = rcap ? rcap * 2 : 16;
			struct fw_rule *nr = realloc(rs->r, nc * sizeof(*nr));
			if (!nr) {
				snprintf(err, errlen, "%s:%u: out of memory", path, ln);
				goto bad;
			}
			rs->r = nr;
			rcap = nc;
		}
		struct fw_rule *r = &rs->r[rs->n];
		if (parse_rule(tok, nt, r, msg, sizeof(msg)) < 0) {
			rule_free(r);
			snprintf(err, errlen, "%s:%u: %s", path, ln, msg);
			goto bad;
		}
		r->line = ln;
		rs->n++;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto bad;
	}
	free(line);
	fclose(f);
	line = NULL;
	if (fw_rules_counters(rs, n_ctx) < 0) {
		snprintf(err, errlen, "%s: out of memory for the counters", path);
		fw_rules_free(rs);
		return NULL;
	}
	return rs;
bad:
	free(line);
	fclose(f);
	fw_rules_free(rs);
	return NULL;
}

static int net_match(const struct fw_net *n, unsigned cnt, uint8_t fam, const uint32_t *a)
{
	if (!cnt)
		return 1;
	for (unsigned i = 0; i < cnt; i++, n++) {
		if (n->fam != fam)
			continue;
		if (fam == 4) {
			if ((a[0] & n->m[0]) == n->w[0])
				return 1;
		} else if ((a[0] & n->m[0]) == n->w[0] && (a[1] & n->m[1]) == n->w[1] && (a[2] & n->m[2]) == n->w[2] &&
		           (a[3] & n->m[3]) == n->w[3]) {
			return 1;
		}
	}
	return 0;
}

static int port_match(const struct fw_prange *p, unsigned cnt, uint16_t port)
{
	if (!cnt)
		return 1;
	for (unsigned i = 0; i < cnt; i++)
		if (port >= p[i].lo && port <= p[i].hi)
			return 1;
	return 0;
}

int fw_match(const struct fw_ruleset *rs, const struct fw_tuple *t, unsigned st)
{
	for (unsigned i = 0; i < rs->n; i++) {
		const struct fw_rule *r = &rs->r[i];
		/* Stateless packets (st 0) meet only non-tcp rules, which carry
		 * no state keyword: the state test is for tcp connections. */
		if ((r->proto != FW_P_ANY && r->proto != t->proto) || (st && !(r->state & st)))
			continue;
		if (!net_match(r->src, r->n_src, t->fam, t->src) || !net_match(r->dst, r->n_dst, t->fam, t->dst))
			continue;
		if (!port_match(r->sport, r->n_sport, t->sport) || !port_match(r->dport, r->n_dport, t->dport))
			continue;
		return (int)i;
	}
	return -1;
}

int fw_parse_tuple(const char *s, struct fw_tuple *t, unsigned *st, char *err, size_t errlen)
{
	char line[FW_LINE_MAX], *tok[MAX_TOK + 1];
	struct fw_rule r;
	memset(&r, 0, sizeof(r));
	snprintf(line, sizeof(line), "allow %s", s);
	int nt = tokenize(line, tok);
	if (nt < 0 || parse_rule(tok, nt, &r, err, errlen) < 0) {
		if (nt < 0)
			snprintf(err, errlen, "too many fields");
		rule_free(&r);
		return -1;
	}
	int ok = r.proto != FW_P_ANY && r.n_src == 1 && r.n_dst == 1 && r.src[0].fam == r.dst[0].fam &&
	         r.src[0].plen == (r.src[0].fam == 4 ? 32 : 128) && r.dst[0].plen == r.src[0].plen;
	int ports = r.proto == FW_P_TCP || r.proto == FW_P_UDP;
	if (ports)
		ok = ok && r.n_sport == 1 && r.n_dport == 1 && r.sport[0].lo == r.sport[0].hi &&
		     r.dport[0].lo == r.dport[0].hi;
	if (!ok) {
		snprintf(err, errlen,
		         "expected one packet: PROTO (tcp, udp, icmp or icmp6) SRC [SPORT] -> DST [DPORT] [STATE] "
		         "with single addresses of one IP version and, for tcp and udp, single ports");
		rule_free(&r);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	t->fam = r.src[0].fam;
	t->proto = r.proto;
	memcpy(t->src, r.src[0].w, 16);
	memcpy(t->dst, r.dst[0].w, 16);
	if (ports) {
		t->sport = r.sport[0].lo;
		t->dport = r.dport[0].lo;
	}
	if (r.proto == FW_P_TCP) {
		*st = r.state == (FW_ST_NEW | FW_ST_EST) ? FW_ST_NEW : r.state;
		if (r.state == (FW_ST_NEW | FW_ST_EST)) {
			snprintf(err, errlen, "give one state: new or established");
			rule_free(&r);
			return -1;
		}
	} else {
		*st = 0;
	}
	rule_free(&r);
	return 0;
}

size_t fw_json_str(char *buf, size_t len, const char *s)
{
	size_t o = 0;
#define PUT(c)                                                                                                         \
	do {                                                                                                           \
		if (o + 1 < len)                                                                                       \
			buf[o] = (c);                                                                                  \
		o++;                                                                                                   \
	} while (0)
	PUT('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT((char)*p);
		} else if (*p < 0x20 || *p == 0x7f) {
			char e[8];
			snprintf(e, sizeof(e), "\\u%04x", *p);
			for (char *q = e; *q; q++)
				PUT(*q);
		} else {
			PUT((char)*p);
		}
	}
	PUT('"');
#undef PUT
	if (len)
		buf[o < len ? o : len - 1] = 0;
	return o;
}

static size_t nets_json(char *b, size_t len, const struct fw_net *n, unsigned cnt)
{
	if (!cnt)
		return (size_t)snprintf(b, len, "\"any\"");
	size_t o = (size_t)snprintf(b, len, "[");
	for (unsigned i = 0; i < cnt && o < len; i++) {
		char s[INET6_ADDRSTRLEN];
		inet_ntop(n[i].fam == 4 ? AF_INET : AF_INET6, n[i].w, s, sizeof(s));
		o += (size_t)snprintf(b + o, len - o, "%s\"%s/%u\"", i ? "," : "", s, n[i].plen);
	}
	if (o < len)
		o += (size_t)snprintf(b + o, len - o, "]");
	return o;
}

static size_t ports_json(char *b, size_t len, const struct fw_prange *p, unsigned cnt)
{
	if (!cnt)
		return (size_t)snprintf(b, len, "\"any\"");
	size_t o = (size_t)snprintf(b, len, "[");
	for (unsigned i = 0; i < cnt && o < len; i++) {
		if (p[i].lo == p[i].hi)
			o += (size_t)snprintf(b + o, len - o, "%s\"%u\"", i ? "," : "", p[i].lo);
		else
			o += (size_t)snprintf(b + o, len - o, "%s\"%u-%u\"", i ? "," : "", p[i].lo, p[i].hi);
	}
	if (o < len)
		o += (size_t)snprintf(b + o, len - o, "]");
	return o;
}

int fw_rule_json(const struct fw_rule *r, unsigned idx, char *buf, size_t len)
{
	size_t o =
	    (size_t)snprintf(buf, len, "{\"rule\":%u,\"line\":%u,\"action\":\"%s\",\"proto\":\"%s\",\"src\":", idx + 1,
	                     r->line, fw_action_name(r->action), fw_proto_name(r->proto));
#define ROOM (o < len ? len - o : 0)
	o += nets_json(buf + (o < len ? o : len), ROOM, r->src, r->n_src);
	o += (size_t)snprintf(buf + (o < len ? o : len), ROOM, ",\"sport\":");
	o += ports_json(buf + (o < len ? o : len), ROOM, r->sport, r->n_sport);
	o += (size_t)snprintf(buf + (o < len ? o : len), ROOM, ",\"dst\":");
	o += nets_json(buf + (o < len ? o : len), ROOM, r->dst, r->n_dst);
	o += (size_t)snprintf(buf + (o < len ? o : len), ROOM, ",\"dport\":");
	o += ports_json(buf + (o < len ? o : len), ROOM, r->dport, r->n_dport);
	const char *st = r->proto != FW_P_TCP && r->proto != FW_P_ANY ? "stateless"
	                 : r->state == FW_ST_NEW                      ? "new"
	                 : r->state == FW_ST_EST                      ? "established"
	                                                              : "new,established";
	o += (size_t)snprintf(buf + (o < len ? o : len), ROOM, ",\"state\":\"%s\",\"text\":", st);
	o += fw_json_str(buf + (o < len ? o : len), ROOM, r->text);
	o += (size_t)snprintf(buf + (o < len ? o : len), ROOM, "}");
#undef ROOM
	return o < len ? 0 : -1;
}
