/* rules_set.c — address and port sets of rule headers (rules.h): parsing
 * "any", addresses with prefixes, port ranges, [lists], !negations and
 * $VARIABLES into node trees, and membership tests.
 *
 * A variable is parsed from its text where it is used, exactly as if its
 * value had been written in its place; nesting is bounded (VAR_DEPTH) so a
 * loop of variables is an error, not a hang.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules-int.h"

#define VAR_DEPTH 16

struct pstate {
	struct ids_rules *rs;
	struct ids_set *set;
	int ports; /* parsing ports (else addresses) */
	int depth; /* variable nesting */
	char *why;
};

static int32_t node_new(struct pstate *ps, uint8_t kind)
{
	struct ids_set *s = ps->set;
	s->node = ids_grow(s->node, &s->cap, s->n + 1, sizeof(*s->node));
	struct ids_node *n = &s->node[s->n];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->child = n->next = -1;
	return (int32_t)s->n++;
}

static int32_t parse_elem(struct pstate *ps, const char **sp);

/* "[a,b,...]" after the '['. */
static int32_t parse_list(struct pstate *ps, const char **sp)
{
	int32_t list = node_new(ps, IDS_N_LIST), last = -1;
	const char *s = *sp;
	for (;;) {
		s = ids_skip_ws(s);
		int32_t c = parse_elem(ps, &s);
		if (c < 0)
			return -1;
		if (last < 0)
			ps->set->node[list].child = c;
		else
			ps->set->node[last].next = c;
		last = c;
		s = ids_skip_ws(s);
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s == ']') {
			*sp = s + 1;
			return list;
		}
		snprintf(ps->why, ERR_LEN, "%s list: expected ',' or ']' at '%.20s'", ps->ports ? "port" : "address",
		         *s ? s : "end of field");
		return -1;
	}
}

static int32_t parse_var(struct pstate *ps, const char **sp)
{
	const char *s = *sp + 1;
	size_t n = 0;
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	const struct ids_var *v = ids_var_find(ps->rs, s, n);
	if (!v) {
		snprintf(ps->why, ERR_LEN, "undefined variable $%.*s (define it with %s or --var)", (int)n, s,
		         ps->ports ? "portvar" : "ipvar");
		return -1;
	}
	if (v->port != ps->ports) {
		snprintf(ps->why, ERR_LEN, "$%s is %s variable, used as %s", v->name, v->port ? "a port" : "an address",
		         ps->ports ? "ports" : "addresses");
		return -1;
	}
	if (ps->depth >= VAR_DEPTH) {
		snprintf(ps->why, ERR_LEN, "variable $%s: nested more than %d deep (a loop?)", v->name, VAR_DEPTH);
		return -1;
	}
	ps->depth++;
	const char *t = ids_skip_ws(v->value);
	int32_t r = parse_elem(ps, &t);
	ps->depth--;
	if (r >= 0 && *ids_skip_ws(t)) {
		snprintf(ps->why, ERR_LEN, "variable $%s: unexpected '%.20s' in its value", v->name, ids_skip_ws(t));
		return -1;
	}
	*sp = s + n;
	return r;
}

static int32_t parse_cidr(struct pstate *ps, const char *tok)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", tok);
	char *slash = strchr(buf, '/');
	uint64_t plen = 0;
	if (slash)
		*slash = 0;
	uint8_t a[16];
	int v6;
	if (inet_pton(AF_INET, buf, a) == 1)
		v6 = 0;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		v6 = 1;
	else {
		snprintf(ps->why, ERR_LEN, "bad address '%s' (IPv4, IPv6, with /prefix, any, $VAR, [list])", tok);
		return -1;
	}
	unsigned max = v6 ? 128 : 32;
	if (slash && (ids_parse_uint(slash + 1, max, &plen) < 0)) {
		snprintf(ps->why, ERR_LEN, "bad prefix length in '%s' (0..%u)", tok, max);
		return -1;
	}
	if (!slash)
		plen = max;
	int32_t id = node_new(ps, IDS_N_CIDR);
	struct ids_node *n = &ps->set->node[id];
	n->v6 = (uint8_t)v6;
	n->plen = (uint8_t)plen;
	memcpy(n->addr, a, v6 ? 16 : 4);
	return id;
}

static int32_t parse_portrange(struct pstate *ps, const char *tok)
{
	const char *colon = strchr(tok, ':');
	uint64_t lo = 0, hi = 65535;
	char a[16], b[16];
	if (strlen(tok) > 12)
		goto bad;
	if (colon) {
		snprintf(a, sizeof(a), "%.*s", (int)(colon - tok), tok);
		snprintf(b, sizeof(b), "%s", colon + 1);
		if ((*a && ids_parse_uint(a, 65535, &lo) < 0) || (*b && ids_parse_uint(b, 65535, &hi) < 0) ||
		    (!*a && !*b))
			goto bad;
	} else {
		if (ids_parse_uint(tok, 65535, &lo) < 0)
			goto bad;
		hi = lo;
	}
	if (lo > hi) {
		snprintf(ps->why, ERR_LEN, "port range '%s' is empty (low > high)", tok);
		return -1;
	}
	int32_t id = node_new(ps, IDS_N_PORTS);
	ps->set->node[id].lo = (uint16_t)lo;
	ps->set->node[id].hi = (uint16_t)hi;
	return id;
bad:
	snprintf(ps->why, ERR_LEN, "bad port '%s' (N, N:M, N:, :M, any, $VAR, [list])", tok);
	return -1;
}

/* One element: [!]( any | $VAR | [list] | address | port range ). */
static int32_t parse_elem(struct pstate *ps, const char **sp)
{
	const char *s = ids_skip_ws(*sp);
	int neg = 0;
	while (*s == '!') {
		neg ^= 1;
		s = ids_skip_ws(s + 1);
	}
	int32_t id;
	if (*s == '[') {
		s++;
		id = parse_list(ps, &s);
	} else if (*s == '$') {
		id = parse_var(ps, &s);
	} else {
		size_t n = strcspn(s, ",] \t");
		char tok[128];
		if (n == 0 || n >= sizeof(tok)) {
			snprintf(ps->why, ERR_LEN, "empty or overlong %s at '%.20s'", ps->ports ? "port" : "address",
			         *s ? s : "end of field");
			return -1;
		}
		snprintf(tok, sizeof(tok), "%.*s", (int)n, s);
		s += n;
		if (!strcmp(tok, "any"))
			id = node_new(ps, IDS_N_ANY);
		else
			id = ps->ports ? parse_portrange(ps, tok) : parse_cidr(ps, tok);
	}
	if (id < 0)
		return -1;
	if (neg) {
		/* A negated variable or list gets its own node, so that the
		 * variable's tree is never modified in place. */
		int32_t w = node_new(ps, IDS_N_LIST);
		ps->set->node[w].child = id;
		ps->set->node[w].neg = 1;
		id = w;
	}
	*sp = s;
	return id;
}

/* A whole header field into a fresh set whose root is node 0. */
int ids_parse_set(struct ids_rules *rs, struct ids_set *set, const char *text, int ports, char *why)
{
	struct pstate ps = {.rs = rs, .set = set, .ports = ports, .why = why};
	int32_t root = node_new(&ps, IDS_N_LIST); /* node 0: a one-child list holding the field */
	const char *s = text;
	int32_t c = parse_elem(&ps, &s);
	if (c < 0)
		return -1;
	if (*ids_skip_ws(s)) {
		snprintf(why, ERR_LEN, "unexpected '%.20s' in %s '%s'", ids_skip_ws(s), ports ? "port" : "address",
		         text);
		return -1;
	}
	set->node[root].child = c;
	return 0;
}

static int cidr_has(const struct ids_node *n, int v6, const uint8_t *a)
{
	if (n->v6 != v6)
		return 0;
	unsigned full = n->plen / 8, rem = n->plen % 8;
	if (memcmp(n->addr, a, full))
		return 0;
	if (rem) {
		uint8_t m = (uint8_t)(0xff << (8 - rem));
		if ((n->addr[full] & m) != (a[full] & m))
			return 0;
	}
	return 1;
}

/* Membership of node i, ignoring its own negation (the caller applies it). */
static int node_base(const struct ids_set *s, int32_t i, int v6, const uint8_t *a, uint16_t port)
{
	const struct ids_node *n = &s->node[i];
	switch (n->kind) {
	case IDS_N_ANY: return 1;
	case IDS_N_CIDR: return cidr_has(n, v6, a);
	case IDS_N_PORTS: return port >= n->lo && port <= n->hi;
	default: break;
	}
	/* A list: in one of its positive members (or it has none) and in none
	 * of its negated members. */
	int any_pos = 0, in_pos = 0;
	for (int32_t c = n->child; c >= 0; c = s->node[c].next) {
		int b = node_base(s, c, v6, a, port);
		if (s->node[c].neg) {
			if (b)
				return 0;
		} else {
			any_pos = 1;
			in_pos |= b;
		}
	}
	return !any_pos || in_pos;
}

int ids_set_has_addr(const struct ids_set *s, int v6, const uint8_t *addr)
{
	return node_base(s, 0, v6, addr, 0);
}

int ids_set_has_port(const struct ids_set *s, uint16_t port)
{
	static const uint8_t none[16];
	return node_base(s, 0, 0, none, port);
}

int ids_header_match(const struct ids_header *h, int v6, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                     uint16_t dport)
{
	if (ids_set_has_addr(&h->src, v6, src) && ids_set_has_port(&h->sport, sport) &&
	    ids_set_has_addr(&h->dst, v6, dst) && ids_set_has_port(&h->dport, dport))
		return 1;
	return h->bidir && ids_set_has_addr(&h->src, v6, dst) && ids_set_has_port(&h->sport, dport) &&
	       ids_set_has_addr(&h->dst, v6, src) && ids_set_has_port(&h->dport, sport);
}

void ids_set_free(struct ids_set *s)
{
	free(s->node);
	memset(s, 0, sizeof(*s));
}
