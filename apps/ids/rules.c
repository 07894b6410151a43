/* rules.c — reading Suricata/Snort rules into struct ids_rules (rules.h).
 *
 * A rule is "ACTION PROTO SRC SPORT DIR DST DPORT (KEY[:VALUE]; ...)". The
 * header is parsed into address/port trees (variables expanded as text, so a
 * variable is read exactly as if its value had been written in its place);
 * the options into payload items and metadata. Anything this tool cannot
 * honour exactly refuses the rule with a reason: a rule is never loaded in a
 * weaker form than written.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "rules-int.h"

/* Suricata's default address and port groups (its default suricata.yaml), so
 * that rules written for it load unchanged; --var and ipvar/portvar lines
 * override them. */
static const struct {
	const char *name, *value;
	int port;
} default_vars[] = {
    {"HOME_NET", "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]", 0},
    {"EXTERNAL_NET", "!$HOME_NET", 0},
    {"HTTP_SERVERS", "$HOME_NET", 0},
    {"SMTP_SERVERS", "$HOME_NET", 0},
    {"SQL_SERVERS", "$HOME_NET", 0},
    {"DNS_SERVERS", "$HOME_NET", 0},
    {"TELNET_SERVERS", "$HOME_NET", 0},
    {"AIM_SERVERS", "$EXTERNAL_NET", 0},
    {"DC_SERVERS", "$HOME_NET", 0},
    {"DNP3_SERVER", "$HOME_NET", 0},
    {"DNP3_CLIENT", "$HOME_NET", 0},
    {"MODBUS_CLIENT", "$HOME_NET", 0},
    {"MODBUS_SERVER", "$HOME_NET", 0},
    {"ENIP_CLIENT", "$HOME_NET", 0},
    {"ENIP_SERVER", "$HOME_NET", 0},
    {"HTTP_PORTS", "80", 1},
    {"SHELLCODE_PORTS", "!80", 1},
    {"ORACLE_PORTS", "1521", 1},
    {"SSH_PORTS", "22", 1},
    {"DNP3_PORTS", "20000", 1},
    {"MODBUS_PORTS", "502", 1},
    {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]", 1},
    {"FTP_PORTS", "21", 1},
};

/* ---- small helpers ---------------------------------------------------------- */

void *ids_grow(void *p, unsigned *cap, unsigned need, size_t elem)
{
	if (need <= *cap)
		return p;
	unsigned c = *cap ? *cap : 8;
	while (c < need)
		c *= 2;
	void *q = realloc(p, (size_t)c * elem);
	if (!q) {
		fprintf(stderr, "ids: out of memory reading rules\n");
		exit(1);
	}
	*cap = c;
	return q;
}

char *ids_strndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d) {
		fprintf(stderr, "ids: out of memory reading rules\n");
		exit(1);
	}
	return d;
}

const char *ids_skip_ws(const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	return s;
}

static char *trim(char *s)
{
	s = (char *)ids_skip_ws(s);
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = 0;
	return s;
}

/* Parses an unsigned decimal in [0, max]. @return 0 or -1. */
int ids_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	s = ids_skip_ws(s);
	if (!isdigit((unsigned char)*s))
		return -1;
	uint64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		if (v > max)
			return -1;
	}
	s = ids_skip_ws(s);
	if (*s)
		return -1;
	*out = v;
	return 0;
}

static int parse_int(const char *s, int64_t lim, int64_t *out)
{
	s = ids_skip_ws(s);
	int neg = *s == '-';
	uint64_t v;
	if (neg || *s == '+')
		s++;
	if (ids_parse_uint(s, (uint64_t)lim, &v) < 0)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* ---- variables and classifications ---------------------------------------- */

struct ids_var *ids_var_find(const struct ids_rules *rs, const char *name, size_t n)
{
	for (unsigned i = 0; i < rs->n_var; i++)
		if (strlen(rs->var[i].name) == n && !strncmp(rs->var[i].name, name, n))
			return &rs->var[i];
	return NULL;
}

static void var_put(struct ids_rules *rs, const char *name, size_t n, const char *value, int port)
{
	struct ids_var *v = ids_var_find(rs, name, n);
	if (v) {
		free(v->value);
	} else {
		rs->var = ids_grow(rs->var, &rs->cap_var, rs->n_var + 1, sizeof(*rs->var));
		v = &rs->var[rs->n_var++];
		v->name = ids_strndup(name, n);
	}
	v->value = ids_strndup(value, strlen(value));
	v->port = (uint8_t)port;
}

static int valid_name(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return 0;
	return 1;
}

/* A value is a port group when it is made only of port syntax. */
static int looks_like_ports(const struct ids_rules *rs, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '$') {
			size_t n = 0;
			while (isalnum((unsigned char)p[1 + n]) || p[1 + n] == '_')
				n++;
			const struct ids_var *var = ids_var_find(rs, p + 1, n);
			if (!var || !var->port)
				return 0;
			p += n;
		} else if (!strncmp(p, "any", 3)) {
			p += 2;
		} else if (!isdigit((unsigned char)*p) && !strchr(":,![] ", *p)) {
			return 0;
		}
	}
	return 1;
}

int ids_rules_set_var(struct ids_rules *rs, const char *a)
{
	const char *eq = strchr(a, '=');
	if (!eq || !valid_name(a, (size_t)(eq - a)) || !eq[1]) {
		fprintf(rs->err, "ids: --var '%s': expected NAME=VALUE, e.g. HOME_NET=[10.0.0.0/8]\n", a);
		return -1;
	}
	var_put(rs, a, (size_t)(eq - a), eq + 1, looks_like_ports(rs, eq + 1));
	return 0;
}

static const struct ids_class *class_find(const struct ids_rules *rs, const char *name)
{
	for (unsigned i = 0; i < rs->n_cls; i++)
		if (!strcmp(rs->cls[i].name, name))
			return &rs->cls[i];
	return NULL;
}

/* "name,description,priority" (the part after "config classification:"). */
static int class_line(struct ids_rules *rs, char *v, char *why)
{
	char *c1 = strchr(v, ','), *c2 = c1 ? strrchr(c1 + 1, ',') : NULL;
	uint64_t prio;
	if (!c1 || !c2 || c2 == c1) {
		snprintf(why, ERR_LEN, "expected 'config classification: name,description,priority'");
		return -1;
	}
	*c1 = *c2 = 0;
	char *name = trim(v), *desc = trim(c1 + 1);
	int ok = *name != 0;
	for (const char *p = name; *p; p++)
		ok &= isalnum((unsigned char)*p) || *p == '_' || *p == '-';
	if (!ok) {
		snprintf(why, ERR_LEN, "bad classification name '%s'", name);
		return -1;
	}
	if (ids_parse_uint(c2 + 1, 255, &prio) < 0 || prio == 0) {
		snprintf(why, ERR_LEN, "classification priority '%s': give 1..255", trim(c2 + 1));
		return -1;
	}
	struct ids_class *k = (struct ids_class *)class_find(rs, name);
	if (k) {
		free(k->desc);
	} else {
		rs->cls = ids_grow(rs->cls, &rs->cap_cls, rs->n_cls + 1, sizeof(*rs->cls));
		k = &rs->cls[rs->n_cls++];
		k->name = ids_strndup(name, strlen(name));
	}
	k->desc = ids_strndup(desc, strlen(desc));
	k->prio = (int)prio;
	return 0;
}

/* ---- option values ---------------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A quoted value: "...", with \" \; \\ \: \| escapes; hex: |41 42| blocks
 * (content only). *neg set for a leading '!'. @return the length of out. */
static int parse_quoted(const char *v, uint8_t *out, size_t cap, int hex, int *neg, char *why)
{
	const char *s = ids_skip_ws(v);
	size_t n = 0;
	*neg = 0;
	if (*s == '!') {
		*neg = 1;
		s = ids_skip_ws(s + 1);
	}
	if (*s != '"') {
		snprintf(why, ERR_LEN, "value must be quoted: %.40s", v);
		return -1;
	}
	s++;
	int in_hex = 0, half = -1;
	for (;; s++) {
		if (!*s) {
			snprintf(why, ERR_LEN, "unterminated quoted value: %.40s", v);
			return -1;
		}
		if (in_hex) {
			if (*s == '|') {
				if (half >= 0) {
					snprintf(why, ERR_LEN, "odd number of hex digits in |...| of %.40s", v);
					return -1;
				}
				in_hex = 0;
			} else if (isspace((unsigned char)*s)) {
				continue;
			} else if (hexval(*s) >= 0) {
				if (half < 0) {
					half = hexval(*s);
				} else {
					if (n == cap)
						goto long_;
					out[n++] = (uint8_t)(half << 4 | hexval(*s));
					half = -1;
				}
			} else {
				snprintf(why, ERR_LEN, "'%c' is not a hex digit in |...| of %.40s", *s, v);
				return -1;
			}
			continue;
		}
		if (*s == '"')
			break;
		uint8_t c = (uint8_t)*s;
		if (c == '|' && hex) {
			in_hex = 1;
			continue;
		}
		if (c == '\\') {
			s++;
			if (!*s || !strchr("\";\\:|", *s)) {
				snprintf(why, ERR_LEN, "unknown escape '\\%c' (use \\\" \\; \\\\ \\: or |hex|)",
				         *s ? *s : ' ');
				return -1;
			}
			c = (uint8_t)*s;
		} else if (c == ';') {
			snprintf(why, ERR_LEN, "unescaped ';' inside a quoted value (write \\; or |3B|)");
			return -1;
		}
		if (n == cap)
			goto long_;
		out[n++] = c;
	}
	if (*ids_skip_ws(s + 1)) {
		snprintf(why, ERR_LEN, "unexpected '%.20s' after the closing quote", ids_skip_ws(s + 1));
		return -1;
	}
	return (int)n;
long_:
	snprintf(why, ERR_LEN, "value longer than %zu bytes", cap);
	return -1;
}

/* A text value (msg, classtype): quoted or bare; the result is a C string. */
static char *parse_text(const char *v, char *why)
{
	const char *s = ids_skip_ws(v);
	if (*s != '"') {
		char tmp[1024];
		snprintf(tmp, sizeof(tmp), "%s", s);
		char *t = trim(tmp);
		return ids_strndup(t, strlen(t));
	}
	uint8_t buf[1024];
	int neg;
	int n = parse_quoted(s, buf, sizeof(buf) - 1, 0, &neg, why);
	if (n < 0 || neg) {
		if (neg)
			snprintf(why, ERR_LEN, "'!' is not allowed here");
		return NULL;
	}
	return ids_strndup((const char *)buf, (size_t)n);
}

/* pcre:"/EXPR/FLAGS" into a Hyperscan expression and flags. The expression
 * keeps its escapes: PCRE and Hyperscan read \; and \" as the character. */
static int parse_pcre(const char *v, struct ids_item *it, char *why)
{
	const char *s = ids_skip_ws(v);
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	} else {
		snprintf(why, ERR_LEN, "pcre must be quoted: pcre:\"/regex/flags\"");
		return -1;
	}
	if (n && s[0] == '!') {
		snprintf(why, ERR_LEN,
		         "negated pcre (pcre:!\"...\") is not supported: in a stream, 'absent' has no end");
		return -1;
	}
	const char *end = n ? (const char *)memrchr(s, '/', n) : NULL;
	if (!n || s[0] != '/' || !end || end == s) {
		snprintf(why, ERR_LEN, "pcre must look like \"/regex/flags\"");
		return -1;
	}
	size_t elen = (size_t)(end - s - 1);
	const char *fl = end + 1;
	size_t flen = n - (size_t)(fl - s);
	unsigned hf = 0;
	int anchor_all = 0, extended = 0, multiline = 0;
	for (size_t i = 0; i < flen; i++) {
		char f = fl[i];
		switch (f) {
		case 'i': hf |= HS_FLAG_CASELESS; break;
		case 's': hf |= HS_FLAG_DOTALL; break;
		case 'm':
			hf |= HS_FLAG_MULTILINE;
			multiline = 1;
			break;
		case 'x': extended = 1; break;
		case 'A': anchor_all = 1; break;
		case 'G': /* ungreedy: changes which match PCRE picks, not whether one exists */
		case 'B': /* rawbytes: the stream is raw bytes already */
		case 'O': /* match limits off: Hyperscan has none */ break;
		case 'R':
			snprintf(why, ERR_LEN,
			         "pcre /R (relative to the previous match) is not supported: Hyperscan reports where "
			         "a match ends, not every place it could start");
			return -1;
		case 'E':
			snprintf(why, ERR_LEN, "pcre /E ($ only at the very end) is not supported by Hyperscan");
			return -1;
		case 'U':
		case 'I':
		case 'P':
		case 'Q':
		case 'H':
		case 'D':
		case 'M':
		case 'C':
		case 'S':
		case 'Y':
		case 'V':
		case 'W':
		case 'Z':
		case 'K':
			snprintf(why, ERR_LEN,
			         "pcre /%c inspects an HTTP buffer: this tool matches raw TCP streams only", f);
			return -1;
		default: snprintf(why, ERR_LEN, "unknown pcre flag '%c'", f); return -1;
		}
	}
	if (elen + 16 > IDS_MAX_PATTERN) {
		snprintf(why, ERR_LEN, "pcre longer than %d characters", IDS_MAX_PATTERN - 16);
		return -1;
	}
	char *e = malloc(elen + 16);
	if (!e) {
		snprintf(why, ERR_LEN, "out of memory");
		return -1;
	}
	snprintf(e, elen + 16, "%s%s%.*s%s", extended ? "(?x)" : "", anchor_all ? "\\A(?:" : "", (int)elen, s + 1,
	         anchor_all ? ")" : "");
	/* May it match only at the start of the stream? Conservative: any \A, or
	 * any ^ outside a class without /m. Such a pcre is not trusted after a
	 * gap, where its Hyperscan stream restarts (engine.c). */
	int in_class = 0;
	for (size_t i = 0; i < elen; i++) {
		char c = s[1 + i];
		if (c == '\\') {
			if (i + 1 < elen && s[2 + i] == 'A')
				it->anchored = 1;
			i++;
		} else if (c == '[') {
			in_class = 1;
		} else if (c == ']') {
			in_class = 0;
		} else if (c == '^' && !in_class && !multiline) {
			it->anchored = 1;
		}
	}
	if (anchor_all)
		it->anchored = 1;
	it->kind = IDS_PCRE;
	it->bytes = (uint8_t *)e;
	it->len = (uint32_t)strlen(e);
	it->hs_flags = hf;
	return 0;
}

/* ---- one rule ---------------------------------------------------------------------- */

/* Keywords accepted without effect on matching: metadata and hints. */
static const char *const ignored_kw[] = {"reference", "metadata", "target", "rawbytes", "fast_pattern", NULL};

/* Keywords refused with a specific reason (prefix match for http_, http.). */
static const struct {
	const char *kw, *why;
} refused_kw[] = {
    {"http_", "inspects an HTTP buffer: this tool matches raw TCP streams only"},
    {"http.", "inspects an HTTP buffer: this tool matches raw TCP streams only"},
    {"uricontent", "inspects an HTTP buffer: this tool matches raw TCP streams only"},
    {"file_data", "inspects a file buffer: this tool matches raw TCP streams only"},
    {"file.data", "inspects a file buffer: this tool matches raw TCP streams only"},
    {"pkt_data", "switches to per-packet payload: this tool matches reassembled streams only"},
    {"dsize", "is a per-packet size: this tool matches reassembled streams only"},
    {"flowbits", "needs flow variables, which this tool does not keep"},
    {"threshold", "needs alert rate limiting, which this tool does not do"},
    {"detection_filter", "needs alert rate limiting, which this tool does not do"},
    {"byte_test", "is not supported (only content and pcre)"},
    {"byte_jump", "is not supported (only content and pcre)"},
    {"byte_extract", "is not supported (only content and pcre)"},
    {"byte_math", "is not supported (only content and pcre)"},
    {"isdataat", "is not supported (only content and pcre)"},
    {"startswith", "is not supported (write depth instead)"},
    {"endswith", "is not supported"},
    {"app-layer-protocol", "needs protocol detection, which this tool does not do"},
    {"flags", "is a per-packet TCP flag test: this tool matches reassembled streams only"},
};

struct rule_text {
	char *act, *proto, *src, *sport, *dir, *dst, *dport, *opts;
};

/* Splits "ACTION PROTO SRC SPORT DIR DST DPORT (OPTS)" in place. Brackets may
 * contain spaces ("[1.2.3.4, 5.6.7.8]"). */
static int split_rule(char *line, struct rule_text *rt, char *why)
{
	char *open = strchr(line, '(');
	char *close = strrchr(line, ')');
	if (!open || !close || close < open) {
		snprintf(why, ERR_LEN, "expected 'ACTION PROTO SRC SPORT -> DST DPORT (OPTIONS)'");
		return -1;
	}
	if (*ids_skip_ws(close + 1)) {
		snprintf(why, ERR_LEN, "unexpected '%.20s' after the closing ')'", ids_skip_ws(close + 1));
		return -1;
	}
	*open = 0;
	*close = 0;
	rt->opts = open + 1;
	char *f[7];
	unsigned nf = 0;
	char *s = line;
	while (*(s = (char *)ids_skip_ws(s))) {
		if (nf == 7) {
			snprintf(why, ERR_LEN,
			         "too many fields before '(': expected ACTION PROTO SRC SPORT DIR DST DPORT");
			return -1;
		}
		f[nf++] = s;
		int depth = 0;
		while (*s && (depth || !isspace((unsigned char)*s))) {
			depth += *s == '[';
			depth -= *s == ']';
			s++;
		}
		if (*s)
			*s++ = 0;
	}
	if (nf != 7) {
		snprintf(why, ERR_LEN, "%u fields before '(': expected ACTION PROTO SRC SPORT DIR DST DPORT", nf);
		return -1;
	}
	rt->act = f[0], rt->proto = f[1], rt->src = f[2], rt->sport = f[3], rt->dir = f[4], rt->dst = f[5];
	rt->dport = f[6];
	return 0;
}

static uint32_t header_get(struct ids_rules *rs, const struct rule_text *rt, char *why)
{
	char key[2048];
	int bidir = !strcmp(rt->dir, "<>");
	snprintf(key, sizeof(key), "%s %s %s %s %s", rt->src, rt->sport, bidir ? "<>" : "->", rt->dst, rt->dport);
	for (unsigned i = 0; i < rs->n_hdr; i++)
		if (!strcmp(rs->hdr[i].text, key))
			return i;
	struct ids_header h;
	memset(&h, 0, sizeof(h));
	h.bidir = (uint8_t)bidir;
	if (ids_parse_set(rs, &h.src, rt->src, 0, why) < 0 || ids_parse_set(rs, &h.sport, rt->sport, 1, why) < 0 ||
	    ids_parse_set(rs, &h.dst, rt->dst, 0, why) < 0 || ids_parse_set(rs, &h.dport, rt->dport, 1, why) < 0) {
		ids_set_free(&h.src), ids_set_free(&h.sport), ids_set_free(&h.dst), ids_set_free(&h.dport);
		return UINT32_MAX;
	}
	h.text = ids_strndup(key, strlen(key));
	rs->hdr = ids_grow(rs->hdr, &rs->cap_hdr, rs->n_hdr + 1, sizeof(*rs->hdr));
	rs->hdr[rs->n_hdr] = h;
	return rs->n_hdr++;
}

static void rule_free(struct ids_rule *r)
{
	for (unsigned i = 0; i < r->n_item; i++)
		free(r->item[i].bytes);
	free(r->item);
	free(r->msg);
	free(r->category);
	memset(r, 0, sizeof(*r));
}

/* The flow: keyword. */
static int parse_flow(const char *v, uint8_t *flow, char *why)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", v);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		t = trim(t);
		if (!strcmp(t, "to_server") || !strcmp(t, "from_client"))
			*flow |= IDS_FLOW_TO_SERVER;
		else if (!strcmp(t, "to_client") || !strcmp(t, "from_server"))
			*flow |= IDS_FLOW_TO_CLIENT;
		else if (!strcmp(t, "established"))
			*flow |= IDS_FLOW_ESTABLISHED;
		else if (!strcmp(t, "stateless") || !strcmp(t, "only_stream"))
			; /* what this tool does anyway */
		else {
			snprintf(why, ERR_LEN,
			         "flow:%s is not supported (to_server, to_client, established, stateless)", t);
			return -1;
		}
	}
	if ((*flow & IDS_FLOW_TO_SERVER) && (*flow & IDS_FLOW_TO_CLIENT)) {
		snprintf(why, ERR_LEN, "flow: both to_server and to_client");
		return -1;
	}
	return 0;
}

/* The option list into r. @return 0 or -1 with why. */
static int parse_options(struct ids_rules *rs, struct ids_rule *r, char *opts, char *why)
{
	char *s = opts;
	const char *classtype = NULL;
	int64_t prio = -1;
	r->item = calloc(IDS_MAX_ITEMS, sizeof(*r->item));
	if (!r->item) {
		snprintf(why, ERR_LEN, "out of memory");
		return -1;
	}
	r->gid = 1;
	for (;;) {
		s = (char *)ids_skip_ws(s);
		if (!*s)
			break;
		char *kw = s;
		while (*s && (isalnum((unsigned char)*s) || strchr("_.-", *s)))
			s++;
		size_t kwlen = (size_t)(s - kw);
		s = (char *)ids_skip_ws(s);
		char *val = NULL;
		if (*s == ':') {
			val = ++s;
			int q = 0;
			while (*s && (q || *s != ';')) {
				if (*s == '\\' && s[1])
					s++;
				else if (*s == '"')
					q ^= 1;
				s++;
			}
			if (q) {
				snprintf(why, ERR_LEN, "unterminated quote in the value of '%.*s'", (int)kwlen, kw);
				return -1;
			}
		} else if (*s && *s != ';') {
			snprintf(why, ERR_LEN, "expected ':' or ';' after '%.*s'", (int)kwlen, kw);
			return -1;
		}
		if (*s == ';')
			*s++ = 0;
		kw[kwlen] = 0;
		if (!kwlen) {
			snprintf(why, ERR_LEN, "empty option");
			return -1;
		}
		if (val)
			val = trim(val);
		struct ids_item *cur = r->n_item ? &r->item[r->n_item - 1] : NULL;
		uint64_t u;
		int64_t i64;

		if (!strcmp(kw, "msg")) {
			free(r->msg);
			if (!val || !(r->msg = parse_text(val, why)))
				return val ? -1 : (snprintf(why, ERR_LEN, "msg needs a value"), -1);
		} else if (!strcmp(kw, "sid") || !strcmp(kw, "rev") || !strcmp(kw, "gid")) {
			if (!val || ids_parse_uint(val, UINT32_MAX, &u) < 0 || (u == 0 && kw[0] != 'r')) {
				snprintf(why, ERR_LEN, "%s:%s: give a number from 1 to %u", kw, val ? val : "",
				         UINT32_MAX);
				return -1;
			}
			*(kw[0] == 's' ? &r->sid : kw[0] == 'r' ? &r->rev : &r->gid) = (uint32_t)u;
		} else if (!strcmp(kw, "classtype")) {
			if (!val || !*val) {
				snprintf(why, ERR_LEN, "classtype needs a name");
				return -1;
			}
			classtype = val;
		} else if (!strcmp(kw, "priority")) {
			if (!val || parse_int(val, 255, &prio) < 0 || prio < 1) {
				snprintf(why, ERR_LEN, "priority:%s: give 1..255", val ? val : "");
				return -1;
			}
		} else if (!strcmp(kw, "flow")) {
			if (!val || parse_flow(val, &r->flow, why) < 0)
				return val ? -1 : (snprintf(why, ERR_LEN, "flow needs a value"), -1);
		} else if (!strcmp(kw, "content") || !strcmp(kw, "pcre")) {
			if (r->n_item == IDS_MAX_ITEMS) {
				snprintf(why, ERR_LEN, "more than %d content/pcre keywords", IDS_MAX_ITEMS);
				return -1;
			}
			if (!val) {
				snprintf(why, ERR_LEN, "%s needs a value", kw);
				return -1;
			}
			struct ids_item *it = &r->item[r->n_item];
			if (kw[0] == 'c') {
				uint8_t *buf = malloc(IDS_MAX_PATTERN);
				int neg;
				int n = buf ? parse_quoted(val, buf, IDS_MAX_PATTERN, 1, &neg, why) : -1;
				if (n < 0 || neg || n == 0) {
					free(buf);
					if (n >= 0 && neg)
						snprintf(
						    why, ERR_LEN,
						    "negated content (content:!\"...\") is not supported: in a stream, "
						    "'absent' has no end");
					else if (n == 0)
						snprintf(why, ERR_LEN, "empty content");
					return -1;
				}
				it->kind = IDS_CONTENT;
				it->bytes = buf;
				it->len = (uint32_t)n;
			} else if (parse_pcre(val, it, why) < 0) {
				return -1;
			}
			r->n_item++;
		} else if (!strcmp(kw, "nocase")) {
			if (!cur || cur->kind != IDS_CONTENT) {
				snprintf(why, ERR_LEN, "nocase must follow a content");
				return -1;
			}
			cur->nocase = 1;
		} else if (!strcmp(kw, "offset") || !strcmp(kw, "depth") || !strcmp(kw, "distance") ||
		           !strcmp(kw, "within")) {
			int rel = kw[0] == 'd' && kw[1] == 'i' ? 1 : kw[0] == 'w';
			if (!cur || cur->kind != IDS_CONTENT) {
				snprintf(why, ERR_LEN, "%s must follow a content%s", kw,
				         cur ? " (not a pcre: use its own anchors)" : "");
				return -1;
			}
			if (!val || (kw[0] == 'd' && kw[1] == 'i' ? parse_int(val, IDS_MAX_OFFSET, &i64)
			                                          : ids_parse_uint(val, IDS_MAX_OFFSET, &u)) < 0) {
				snprintf(why, ERR_LEN, "%s:%s: give a number (|n| <= %u)", kw, val ? val : "",
				         IDS_MAX_OFFSET);
				return -1;
			}
			if (rel && r->n_item == 1) {
				snprintf(why, ERR_LEN,
				         "%s on the first content: there is no previous match to be relative to", kw);
				return -1;
			}
			if (rel ? (cur->offset || cur->has_depth) : cur->relative) {
				snprintf(why, ERR_LEN,
				         "%s with %s on one content (absolute and relative positions mixed)", kw,
				         rel ? "offset/depth" : "distance/within");
				return -1;
			}
			if (!strcmp(kw, "offset")) {
				cur->offset = (uint32_t)u;
			} else if (!strcmp(kw, "depth")) {
				if (u < cur->len) {
					snprintf(why, ERR_LEN, "depth:%llu is shorter than its content (%u bytes)",
					         (unsigned long long)u, cur->len);
					return -1;
				}
				cur->depth = (uint32_t)u;
				cur->has_depth = 1;
			} else if (!strcmp(kw, "distance")) {
				if (i64 < 0) {
					snprintf(why, ERR_LEN,
					         "negative distance is not supported (the match would start before the "
					         "previous "
					         "one ends)");
					return -1;
				}
				cur->distance = (int32_t)i64;
				cur->relative = 1;
			} else {
				if (u < cur->len) {
					snprintf(why, ERR_LEN, "within:%llu is shorter than its content (%u bytes)",
					         (unsigned long long)u, cur->len);
					return -1;
				}
				cur->within = (uint32_t)u;
				cur->has_within = 1;
				cur->relative = 1;
			}
		} else {
			int known = 0;
			for (unsigned k = 0; ignored_kw[k]; k++)
				known |= !strcmp(kw, ignored_kw[k]);
			if (known)
				continue;
			for (unsigned k = 0; k < sizeof(refused_kw) / sizeof(refused_kw[0]); k++) {
				size_t n = strlen(refused_kw[k].kw);
				int prefix = refused_kw[k].kw[n - 1] == '_' || refused_kw[k].kw[n - 1] == '.';
				if (prefix ? !strncmp(kw, refused_kw[k].kw, n) : !strcmp(kw, refused_kw[k].kw)) {
					snprintf(why, ERR_LEN, "keyword '%s' %s", kw, refused_kw[k].why);
					return -1;
				}
			}
			snprintf(why, ERR_LEN, "unsupported keyword '%s'", kw);
			return -1;
		}
	}
	if (!r->sid) {
		snprintf(why, ERR_LEN, "no sid");
		return -1;
	}
	if (!r->n_item) {
		snprintf(why, ERR_LEN, "no content or pcre: this tool only matches payload");
		return -1;
	}
	/* "within" together with "distance" counts from where distance puts the
	 * start; the content must fit in it. */
	for (unsigned i = 0; i < r->n_item; i++) {
		const struct ids_item *it = &r->item[i];
		if (it->has_depth && it->offset > IDS_MAX_OFFSET - it->depth) {
			snprintf(why, ERR_LEN, "offset + depth beyond %u", IDS_MAX_OFFSET);
			return -1;
		}
	}
	if (!r->msg)
		r->msg = ids_strndup("", 0);
	r->severity = 3;
	r->category = NULL;
	if (classtype) {
		const struct ids_class *k = class_find(rs, classtype);
		if (k) {
			r->category = ids_strndup(k->desc, strlen(k->desc));
			r->severity = k->prio;
		} else {
			/* Output only: matching is unchanged. Said at load. */
			r->category = ids_strndup(classtype, strlen(classtype));
			ids_rule_report(
			    rs, r,
			    "classtype '%s' is not in the classification table: category is the name itself, "
			    "severity 3 (give --classification FILE); rule loaded",
			    classtype);
			rs->n_warn++;
		}
	}
	if (!r->category)
		r->category = ids_strndup("", 0);
	if (prio > 0)
		r->severity = (int)prio;
	return 0;
}

void ids_rule_report(const struct ids_rules *rs, const struct ids_rule *r, const char *fmt, ...)
{
	va_list ap;
	fprintf(rs->err, "%s:%u: sid %u: ", r->file ? r->file : "-", r->line, r->sid);
	va_start(ap, fmt);
	vfprintf(rs->err, fmt, ap);
	va_end(ap);
	fputc('\n', rs->err);
}

/* The sid of a rule that did not parse, for the report (0 when none). */
static uint32_t find_sid(const char *text)
{
	for (const char *p = text; (p = strstr(p, "sid")); p += 3) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
			continue;
		const char *q = ids_skip_ws(p + 3);
		if (*q != ':')
			continue;
		return (uint32_t)strtoul(ids_skip_ws(q + 1), NULL, 10);
	}
	return 0;
}

static void parse_rule(struct ids_rules *rs, char *line, const char *file, unsigned lineno)
{
	char why[ERR_LEN] = "";
	char *copy = ids_strndup(line, strlen(line));
	struct rule_text rt;
	struct ids_rule r;
	memset(&r, 0, sizeof(r));
	r.file = file;
	r.line = lineno;
	if (split_rule(line, &rt, why) < 0)
		goto bad;
	if (!strcmp(rt.act, "alert"))
		r.action = IDS_ALERT;
	else if (!strcmp(rt.act, "drop"))
		r.action = IDS_DROP;
	else {
		snprintf(why, ERR_LEN, "action '%s' is not supported (alert, drop)", rt.act);
		goto bad;
	}
	if (strcmp(rt.proto, "tcp") && strcmp(rt.proto, "tcp-stream")) {
		snprintf(why, ERR_LEN, "protocol '%s' is not supported: this tool inspects TCP streams (tcp)",
		         rt.proto);
		goto bad;
	}
	if (strcmp(rt.dir, "->") && strcmp(rt.dir, "<>")) {
		snprintf(why, ERR_LEN, "direction '%s': use -> or <>", rt.dir);
		goto bad;
	}
	uint32_t h = header_get(rs, &rt, why);
	if (h == UINT32_MAX)
		goto bad;
	r.hdr = h;
	if (parse_options(rs, &r, rt.opts, why) < 0)
		goto bad;
	for (unsigned i = 0; i < rs->n_rule; i++)
		if (rs->rule[i].sid == r.sid && rs->rule[i].gid == r.gid) {
			snprintf(why, ERR_LEN, "duplicate sid (first at %s:%u)", rs->rule[i].file, rs->rule[i].line);
			goto bad;
		}
	rs->rule = ids_grow(rs->rule, &rs->cap_rule, rs->n_rule + 1, sizeof(*rs->rule));
	rs->rule[rs->n_rule++] = r;
	free(copy);
	return;
bad:
	if (!r.sid)
		r.sid = find_sid(copy);
	if (r.sid)
		fprintf(rs->err, "%s:%u: sid %u: %s; rule skipped\n", file, lineno, r.sid, why);
	else
		fprintf(rs->err, "%s:%u: %s; rule skipped\n", file, lineno, why);
	rs->n_skipped++;
	rule_free(&r);
	free(copy);
}

/* ipvar/portvar/var NAME VALUE */
static int var_line(struct ids_rules *rs, char *line, int kind, char *why)
{
	char *s = (char *)ids_skip_ws(line);
	size_t n = 0;
	while (s[n] && !isspace((unsigned char)s[n]))
		n++;
	char *val = trim(s + n);
	if (!valid_name(s, n) || !*val) {
		snprintf(why, ERR_LEN, "expected '%s NAME VALUE'", kind == 1 ? "portvar" : kind == 0 ? "ipvar" : "var");
		return -1;
	}
	var_put(rs, s, n, val, kind == 2 ? looks_like_ports(rs, val) : kind);
	return 0;
}

static const char *file_name(struct ids_rules *rs, const char *path)
{
	for (unsigned i = 0; i < rs->n_files; i++)
		if (!strcmp(rs->files[i], path))
			return rs->files[i];
	char **f = realloc(rs->files, (rs->n_files + 1) * sizeof(*f));
	if (!f) {
		fprintf(stderr, "ids: out of memory reading rules\n");
		exit(1);
	}
	rs->files = f;
	rs->files[rs->n_files] = ids_strndup(path, strlen(path));
	return rs->files[rs->n_files++];
}

/* Calls fn for each logical line (continuations joined, comments and blank
 * lines dropped) with its first physical line number. */
static int each_line(struct ids_rules *rs, const char *path,
                     void (*fn)(struct ids_rules *, char *, const char *, unsigned))
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(rs->err, "ids: %s: %s\n", path, strerror(errno));
		return -1;
	}
	const char *name = file_name(rs, path);
	char *buf = NULL, *acc = NULL;
	size_t cap = 0, alen = 0;
	ssize_t n;
	unsigned lineno = 0, first = 0;
	while ((n = getline(&buf, &cap, f)) >= 0) {
		lineno++;
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = 0;
		int cont = n && buf[n - 1] == '\\';
		if (cont)
			buf[--n] = 0;
		if (!alen)
			first = lineno;
		char *na = realloc(acc, alen + (size_t)n + 2);
		if (!na) {
			fprintf(stderr, "ids: out of memory reading rules\n");
			exit(1);
		}
		acc = na;
		memcpy(acc + alen, buf, (size_t)n);
		alen += (size_t)n;
		acc[alen] = 0;
		if (cont)
			continue;
		char *t = trim(acc);
		if (*t && *t != '#')
			fn(rs, t, name, first);
		alen = 0;
	}
	if (alen) {
		char *t = trim(acc);
		if (*t && *t != '#')
			fn(rs, t, name, first);
	}
	free(buf);
	free(acc);
	int err = ferror(f);
	fclose(f);
	if (err) {
		fprintf(rs->err, "ids: %s: read error\n", path);
		return -1;
	}
	return 0;
}

static int has_word(const char *s, const char *w)
{
	size_t n = strlen(w);
	return !strncmp(s, w, n) && (isspace((unsigned char)s[n]) || s[n] == ':');
}

static void rules_line(struct ids_rules *rs, char *t, const char *file, unsigned lineno)
{
	char why[ERR_LEN];
	if (has_word(t, "config")) {
		char *c = (char *)ids_skip_ws(t + 6);
		if (!strncmp(c, "classification", 14) && *ids_skip_ws(c + 14) == ':') {
			if (class_line(rs, (char *)ids_skip_ws(c + 14) + 1, why) < 0) {
				fprintf(rs->err, "%s:%u: %s; line ignored\n", file, lineno, why);
				rs->n_warn++;
			}
			return;
		}
		fprintf(rs->err, "%s:%u: only 'config classification:' is read here; line ignored\n", file, lineno);
		rs->n_warn++;
		return;
	}
	int kind = has_word(t, "ipvar") ? 0 : has_word(t, "portvar") ? 1 : has_word(t, "var") ? 2 : -1;
	if (kind >= 0) {
		if (var_line(rs, t + (kind == 0 ? 5 : kind == 1 ? 7 : 3), kind, why) < 0) {
			fprintf(rs->err, "%s:%u: %s; line ignored\n", file, lineno, why);
			rs->n_warn++;
		}
		return;
	}
	parse_rule(rs, t, file, lineno);
}

int ids_rules_load(struct ids_rules *rs, const char *path)
{
	unsigned before = rs->n_rule;
	if (each_line(rs, path, rules_line) < 0)
		return -1;
	return (int)(rs->n_rule - before);
}

static void class_file_line(struct ids_rules *rs, char *t, const char *file, unsigned lineno)
{
	char why[ERR_LEN];
	if (has_word(t, "config")) {
		char *c = (char *)ids_skip_ws(t + 6);
		if (!strncmp(c, "classification", 14) && *ids_skip_ws(c + 14) == ':') {
			if (class_line(rs, (char *)ids_skip_ws(c + 14) + 1, why) == 0)
				return;
			fprintf(rs->err, "%s:%u: %s\n", file, lineno, why);
			rs->n_skipped = UINT32_MAX; /* flag for the caller below */
			return;
		}
	}
	fprintf(rs->err, "%s:%u: expected 'config classification: name,description,priority'\n", file, lineno);
	rs->n_skipped = UINT32_MAX;
}

int ids_rules_load_classification(struct ids_rules *rs, const char *path)
{
	unsigned saved = rs->n_skipped;
	rs->n_skipped = 0;
	int r = each_line(rs, path, class_file_line);
	int bad = rs->n_skipped == UINT32_MAX;
	rs->n_skipped = saved;
	return r < 0 || bad ? -1 : 0;
}

void ids_rules_drop(struct ids_rules *rs, unsigned i)
{
	if (i >= rs->n_rule)
		return;
	rule_free(&rs->rule[i]);
	memmove(&rs->rule[i], &rs->rule[i + 1], (rs->n_rule - i - 1) * sizeof(*rs->rule));
	rs->n_rule--;
	rs->n_skipped++;
}

void ids_rules_init(struct ids_rules *rs, FILE *err)
{
	memset(rs, 0, sizeof(*rs));
	rs->err = err ? err : stderr;
	for (unsigned i = 0; i < sizeof(default_vars) / sizeof(default_vars[0]); i++)
		var_put(rs, default_vars[i].name, strlen(default_vars[i].name), default_vars[i].value,
		        default_vars[i].port);
}

void ids_rules_free(struct ids_rules *rs)
{
	for (unsigned i = 0; i < rs->n_rule; i++)
		rule_free(&rs->rule[i]);
	free(rs->rule);
	for (unsigned i = 0; i < rs->n_hdr; i++) {
		struct ids_header *h = &rs->hdr[i];
		ids_set_free(&h->src), ids_set_free(&h->sport), ids_set_free(&h->dst), ids_set_free(&h->dport);
		free(h->text);
	}
	free(rs->hdr);
	for (unsigned i = 0; i < rs->n_var; i++)
		free(rs->var[i].name), free(rs->var[i].value);
	free(rs->var);
	for (unsigned i = 0; i < rs->n_cls; i++)
		free(rs->cls[i].name), free(rs->cls[i].desc);
	free(rs->cls);
	for (unsigned i = 0; i < rs->n_files; i++)
		free(rs->files[i]);
	free(rs->files);
	memset(rs, 0, sizeof(*rs));
}
