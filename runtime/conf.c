/* pipeline.conf: an INI-style file ([section], key = value, # comments).
 *
 * Why not rte_cfgfile: errors must name file:line, and the file is read before
 * rte_eal_init() because it carries the EAL arguments and the lcore map. The
 * parser is plain C over plain memory so that tests run without EAL.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"

enum key_type {
	T_UINT,
	T_POW2,
	T_BOOL,
	T_STR,
	T_DUR,
	T_SIZE,
	T_ENUM_MODE,
	T_ENUM_FULL,
	T_ENUM_CSUM,
	T_ENUM_PCAPCHECK,
	T_ENUM_AUTO,
	T_ENUM_OVERLAP,
	T_ENUM_FANOUT,
	T_ENUM_POLICY,
	T_ENUM_URGENT,
	T_ENUM_FRAGPOL,
	T_ENUM_UNPARSABLE,
	T_ENUM_PORTDRV
};

struct key_desc {
	const char *section;
	const char *name;
	enum key_type type;
	size_t off;
	size_t size;
	const char *def;
	uint64_t min, max;
	const char *help;
};

static const struct key_desc keys[] = {
#define MP_KEY(sec, nm, ty, fld, dflt, mn, mx, hlp)                                                                    \
	{#sec,                                                                                                         \
	 #nm,                                                                                                          \
	 T_##ty,                                                                                                       \
	 offsetof(struct mp_conf, fld),                                                                                \
	 sizeof(((struct mp_conf *)0)->fld),                                                                           \
	 dflt,                                                                                                         \
	 (uint64_t)(mn),                                                                                               \
	 (uint64_t)(mx),                                                                                               \
	 hlp},
#include "conf_keys.def"
#undef MP_KEY
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const enum_mode[] = {"monitor", "inline", NULL};
static const char *const enum_full[] = {"evict", "refuse", NULL};
static const char *const enum_csum[] = {"verify", "ignore", NULL};
static const char *const enum_pcapcheck[] = {"start", "whole", "none", NULL};
static const char *const enum_auto[] = {"auto", "yes", "no", NULL};
static const char *const enum_overlap[] = {"first", "last", "target", NULL};
static const char *const enum_urgent[] = {"remove", "inline", NULL};
static const char *const enum_fanout[] = {"hash", "index", NULL};
static const char *const enum_fragpol[] = {"linux", "bsd", "first", "last", NULL};
static const char *const enum_unparsable[] = {"drop", "forward", NULL};
static const char *const enum_portdrv[] = {"auto", "af_xdp", "af_packet", NULL};

const char *const mp_stage_names[MP_ST_N] = {
#define MP_ST_NAME_(ID, name) [MP_ST_##ID] = #name,
    MP_STAGE_LIST(MP_ST_NAME_)
#undef MP_ST_NAME_
};

/* "rx classify ... tx": every stage in pipeline order, for messages and the
 * default lcore map (conf is read on the main thread only). */
static const char *all_stages(void)
{
	static char buf[128];
	if (!*buf)
		for (int s = 0, n = 0; s < MP_ST_N; s++)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s%s", s ? " " : "", mp_stage_names[s]);
	return buf;
}

static const char *const *enum_choices(enum key_type t)
{
	switch (t) {
	case T_ENUM_MODE: return enum_mode;
	case T_ENUM_FULL: return enum_full;
	case T_ENUM_CSUM: return enum_csum;
	case T_ENUM_PCAPCHECK: return enum_pcapcheck;
	case T_ENUM_AUTO: return enum_auto;
	case T_ENUM_OVERLAP: return enum_overlap;
	case T_ENUM_FANOUT: return enum_fanout;
	case T_ENUM_POLICY: return mp_policy_names;
	case T_ENUM_URGENT: return enum_urgent;
	case T_ENUM_FRAGPOL: return enum_fragpol;
	case T_ENUM_UNPARSABLE: return enum_unparsable;
	case T_ENUM_PORTDRV: return enum_portdrv;
	default: return NULL;
	}
}

static void store_uint(struct mp_conf *c, const struct key_desc *k, uint64_t v)
{
	char *p = (char *)c + k->off;
	if (k->size == sizeof(uint64_t))
		*(uint64_t *)p = v;
	else
		*(unsigned *)p = (unsigned)v;
}

int mp_parse_scaled(const char *s, const struct mp_unit *units, uint64_t bare_mul, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	uint64_t mul = bare_mul;
	if (*end) {
		const struct mp_unit *u;
		for (u = units; u->sfx; u++)
			if (!strcasecmp(end, u->sfx))
				break;
		if (!u->sfx)
			return -EINVAL;
		mul = u->mul;
	}
	if (mul && v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

const struct mp_unit mp_units_dur[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0}};
const struct mp_unit mp_units_size[] = {{"K", 1024},         {"KB", 1024},     {"KiB", 1024},     {"M", 1048576},
                                        {"MB", 1048576},     {"MiB", 1048576}, {"G", 1073741824}, {"GB", 1073741824},
                                        {"GiB", 1073741824}, {"B", 1},         {NULL, 0}};
const struct mp_unit mp_units_count[] = {{"k", 1000}, {"m", 1000000}, {"g", 1000000000}, {NULL, 0}};

static int set_key(struct mp_conf *c, const struct key_desc *k, const char *val, char *err, size_t errlen)
{
	uint64_t v;
	const char *const *ch;

	switch (k->type) {
	case T_STR:
		if (strlen(val) >= k->size) {
			snprintf(err, errlen, "value of '%s' is longer than %zu characters", k->name, k->size - 1);
			return -EINVAL;
		}
		strcpy((char *)c + k->off, val);
		return 0;
	case T_BOOL:
		if (!strcasecmp(val, "yes") || !strcasecmp(val, "true") || !strcasecmp(val, "on") || !strcmp(val, "1"))
			v = 1;
		else if (!strcasecmp(val, "no") || !strcasecmp(val, "false") || !strcasecmp(val, "off") ||
		         !strcmp(val, "0"))
			v = 0;
		else {
			snprintf(err, errlen, "'%s' expects yes or no, not '%s'", k->name, val);
			return -EINVAL;
		}
		store_uint(c, k, v);
		return 0;
	case T_UINT:
	case T_POW2:
		if (mp_parse_scaled(val, mp_units_size, 1, &v) < 0) {
			snprintf(err, errlen, "'%s' expects a whole number, not '%s'", k->name, val);
			return -EINVAL;
		}
		if (v < k->min || v > k->max) {
			snprintf(err, errlen, "'%s' = %s is out of range (%llu to %llu)", k->name, val,
			         (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		if (k->type == T_POW2 && (v & (v - 1))) {
			snprintf(err, errlen, "'%s' = %s is not a power of two (try %llu)", k->name, val,
			         1ULL << (64 - __builtin_clzll(v)));
			return -EINVAL;
		}
		store_uint(c, k, v);
		return 0;
	case T_DUR:
		if (mp_parse_scaled(val, mp_units_dur, 1000, &v) < 0) {
			snprintf(err, errlen, "'%s' expects a duration such as 30s, 500ms, 5m, not '%s'", k->name, val);
			return -EINVAL;
		}
		if (v < k->min || v > k->max) {
			snprintf(err, errlen, "'%s' = %s is out of range (%llums to %llums)", k->name, val,
			         (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		store_uint(c, k, v);
		return 0;
	case T_SIZE:
		if (mp_parse_scaled(val, mp_units_size, 1, &v) < 0) {
			snprintf(err, errlen, "'%s' expects a size such as 65536, 64K, 16M, not '%s'", k->name, val);
			return -EINVAL;
		}
		if (v < k->min || v > k->max) {
			snprintf(err, errlen, "'%s' = %s is out of range (%llu to %llu bytes)", k->name, val,
			         (unsigned long long)k->min, (unsigned long long)k->max);
			return -EINVAL;
		}
		store_uint(c, k, v);
		return 0;
	default:
		ch = enum_choices(k->type);
		for (v = 0; ch[v]; v++)
			if (!strcasecmp(val, ch[v])) {
				store_uint(c, k, v);
				return 0;
			}
		{
			int n = snprintf(err, errlen, "'%s' expects one of", k->name);
			for (v = 0; ch[v] && n > 0 && (size_t)n < errlen; v++)
				n += snprintf(err + n, errlen - n, "%s %s", v ? "," : "", ch[v]);
			if (n > 0 && (size_t)n < errlen)
				snprintf(err + n, errlen - n, ", not '%s'", val);
		}
		return -EINVAL;
	}
}

static const struct key_desc *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static int section_known(const char *section)
{
	if (!strcmp(section, "lcores") || !strcmp(section, "policy"))
		return 1;
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcmp(keys[i].section, section))
			return 1;
	return 0;
}

static void list_keys(const char *section, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < N_KEYS && n < len; i++)
		if (!strcmp(keys[i].section, section))
			n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "", keys[i].name);
}

void mp_conf_defaults(struct mp_conf *c)
{
	char err[256];
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_KEYS; i++)
		if (set_key(c, &keys[i], keys[i].def, err, sizeof(err)) < 0) {
			/* A bad default is a bug in conf_keys.def, caught by the unit tests. */
			fprintf(stderr, "mospipe: internal error: default of %s.%s: %s\n", keys[i].section,
			        keys[i].name, err);
			abort();
		}
}

int mp_stage_by_name(const char *name)
{
	for (int s = 0; s < MP_ST_N; s++)
		if (!strcmp(mp_stage_names[s], name))
			return s;
	return -1;
}

int mp_lcore_exists(unsigned lcore)
{
	cpu_set_t set;
	if (lcore >= CPU_SETSIZE)
		return 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return lcore < 1;
	return CPU_ISSET(lcore, &set);
}

/* "rx classify tcpsm.1, tx": stage instances an lcore runs. */
int mp_conf_set_lcore(struct mp_conf *c, const char *lcore_s, const char *list, char *err, size_t errlen)
{
	char *end;
	struct mp_lcore_map *m = NULL;

	errno = 0;
	unsigned long lc = strtoul(lcore_s, &end, 10);
	if (!isdigit((unsigned char)*lcore_s) || *end || errno || lc >= CPU_SETSIZE) {
		snprintf(err, errlen, "[lcores] keys are lcore numbers (0 = rx classify ...), not '%s'", lcore_s);
		return -EINVAL;
	}
	if (!mp_lcore_exists((unsigned)lc)) {
		cpu_set_t set;
		int n = 0;
		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			n = CPU_COUNT(&set);
		snprintf(err, errlen, "lcore %lu does not exist: this process may run on %d CPU(s); use lcores 0-%d",
		         lc, n, n - 1);
		return -EINVAL;
	}
	for (unsigned i = 0; i < c->n_lcores; i++)
		if (c->lc[i].lcore == lc)
			m = &c->lc[i];
	if (!m) {
		if (c->n_lcores == MP_MAX_LCORES) {
			snprintf(err, errlen, "too many lcores (at most %d)", MP_MAX_LCORES);
			return -EINVAL;
		}
		m = &c->lc[c->n_lcores++];
		memset(m, 0, sizeof(*m));
		m->lcore = (unsigned)lc;
	}

	char buf[MP_CONF_STR];
	snprintf(buf, sizeof(buf), "%s", list);
	char *save = NULL;
	for (char *tok = strtok_r(buf, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
		char *dot = strchr(tok, '.');
		unsigned long inst = 0;
		if (dot) {
			*dot = 0;
			errno = 0;
			inst = strtoul(dot + 1, &end, 10);
			if (!isdigit((unsigned char)dot[1]) || *end || errno || inst >= MP_MAX_INST) {
				snprintf(err, errlen, "bad instance '%s.%s': use stage or stage.N with N < %d", tok,
				         dot + 1, MP_MAX_INST);
				return -EINVAL;
			}
		}
		int st = mp_stage_by_name(tok);
		if (st < 0) {
			snprintf(err, errlen, "unknown stage '%s' for lcore %lu (stages: %s)", tok, lc, all_stages());
			return -EINVAL;
		}
		for (unsigned i = 0; i < c->n_lcores; i++)
			for (unsigned j = 0; j < c->lc[i].n; j++)
				if (c->lc[i].item[j].stage == st && c->lc[i].item[j].inst == inst) {
					snprintf(err, errlen, "%s.%lu is mapped twice (lcore %u and lcore %lu)", tok,
					         inst, c->lc[i].lcore, lc);
					return -EINVAL;
				}
		if (m->n == MP_MAX_PER_LCORE) {
			snprintf(err, errlen, "too many stage instances on lcore %lu", lc);
			return -EINVAL;
		}
		m->item[m->n].stage = (uint8_t)st;
		m->item[m->n].inst = (uint8_t)inst;
		m->n++;
	}
	if (m->n == 0) {
		snprintf(err, errlen, "lcore %lu runs no stage: list stages (%s)", lc, all_stages());
		return -EINVAL;
	}
	return 0;
}

int mp_conf_set(struct mp_conf *c, const char *section, const char *key, const char *val, char *err, size_t errlen)
{
	if (!strcmp(section, "lcores"))
		return mp_conf_set_lcore(c, key, val, err, errlen);
	if (!strcmp(section, "policy"))
		return mp_conf_set_policy_net(c, key, val, err, errlen);
	if (!section_known(section)) {
		snprintf(err, errlen,
		         "unknown section [%s] (sections: pipeline, lcores, input, ports, mempool, eal, tcp, policy, "
		         "api, security, output)",
		         section);
		return -EINVAL;
	}
	const struct key_desc *k = find_key(section, key);
	if (!k) {
		char known[512];
		list_keys(section, known, sizeof(known));
		snprintf(err, errlen, "unknown key '%s' in [%s] (known: %s)", key, section, known);
		return -EINVAL;
	}
	return set_key(c, k, val, err, errlen);
}

int mp_conf_set_dotted(struct mp_conf *c, const char *assign, char *err, size_t errlen)
{
	char buf[MP_CONF_STR + 64];
	snprintf(buf, sizeof(buf), "%s", assign);
	char *eq = strchr(buf, '=');
	char *dot = strchr(buf, '.');
	if (!eq || !dot || dot > eq) {
		snprintf(err, errlen, "'%s' is not section.key=value", assign);
		return -EINVAL;
	}
	*eq = 0;
	*dot = 0;
	return mp_conf_set(c, buf, dot + 1, eq + 1, err, errlen);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Strips a trailing "# comment" that is outside double quotes, then quotes. */
static char *unquote_value(char *v, int *bad)
{
	int inq = 0;
	*bad = 0;
	for (char *p = v; *p; p++) {
		if (*p == '"')
			inq = !inq;
		else if (*p == '#' && !inq && (p == v || isspace((unsigned char)p[-1]))) {
			*p = 0;
			break;
		}
	}
	if (inq) {
		*bad = 1;
		return v;
	}
	v = trim(v);
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v[n - 1] = 0;
		v++;
	}
	return v;
}

int mp_conf_parse_buf(struct mp_conf *c, const char *name, const char *text, char *err, size_t errlen)
{
	char section[64] = "";
	unsigned line = 0;
	char msg[768];
	const char *p = text;
	int had_lcores = 0;

	snprintf(c->path, sizeof(c->path), "%s", name);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char buf[MP_CONF_STR * 2];
		line++;
		if (len >= sizeof(buf)) {
			snprintf(err, errlen, "%s:%u: line is too long (max %zu characters)", name, line,
			         sizeof(buf) - 1);
			return -EINVAL;
		}
		memcpy(buf, p, len);
		buf[len] = 0;
		p = nl ? nl + 1 : p + len;

		char *s = trim(buf);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *e = strchr(s, ']');
			if (!e || *trim(e + 1)) {
				snprintf(err, errlen, "%s:%u: malformed section header '%s' (expected [name])", name,
				         line, s);
				return -EINVAL;
			}
			*e = 0;
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			if (!section_known(section)) {
				snprintf(err, errlen,
				         "%s:%u: unknown section [%s] (sections: pipeline, lcores, input, ports, "
				         "mempool, eal, tcp, policy, security, output)",
				         name, line, section);
				return -EINVAL;
			}
			if (!strcmp(section, "lcores")) {
				if (!had_lcores) {
					/* The file's map replaces the default single-lcore map. */
					c->n_lcores = 0;
					had_lcores = 1;
				}
				c->lcores_line = line;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value', got '%s'", name, line, s);
			return -EINVAL;
		}
		*eq = 0;
		char *key = trim(s);
		int bad;
		char *val = unquote_value(eq + 1, &bad);
		if (bad) {
			snprintf(err, errlen, "%s:%u: unterminated quote in value of '%s'", name, line, key);
			return -EINVAL;
		}
		if (!*section) {
			snprintf(err, errlen, "%s:%u: key '%s' comes before any [section]", name, line, key);
			return -EINVAL;
		}
		if (!*key) {
			snprintf(err, errlen, "%s:%u: missing key before '='", name, line);
			return -EINVAL;
		}
		if (mp_conf_set(c, section, key, val, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, line, msg);
			return -EINVAL;
		}
	}
	return 0;
}

int mp_conf_load(struct mp_conf *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s (give an existing file with -c, or none for defaults)", path,
		         strerror(e));
		return -e;
	}
	size_t cap = 4096, n = 0;
	char *text = malloc(cap);
	size_t k;
	while (text && (k = fread(text + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 == cap) {
			char *t = realloc(text, cap * 2);
			if (!t) {
				free(text);
				text = NULL;
				break;
			}
			text = t;
			cap *= 2;
		}
	}
	/* A read error (a directory opens, then fails to read) must not pass
	 * for an empty file, which would silently mean the defaults. */
	int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory reading it (%zu bytes)", path, cap * 2);
		return -ENOMEM;
	}
	if (rerr) {
		free(text);
		snprintf(err, errlen, "%s: cannot read: %s (give a pipeline.conf file with -c)", path, strerror(rerr));
		return -rerr;
	}
	text[n] = 0;
	if (memchr(text, 0, n)) {
		free(text);
		snprintf(err, errlen, "%s: is a binary file, not a pipeline.conf", path);
		return -EINVAL;
	}
	int rc = mp_conf_parse_buf(c, path, text, err, errlen);
	free(text);
	return rc;
}

int mp_conf_finish(struct mp_conf *c, char *err, size_t errlen)
{
	char where[600];
	if (c->lcores_line)
		snprintf(where, sizeof(where), "%s:%u: ", c->path, c->lcores_line);
	else
		snprintf(where, sizeof(where), "%s%s", c->path, *c->path ? ": " : "");

	if (c->n_lcores == 0) {
		unsigned first = 0;
		while (first < 1024 && !mp_lcore_exists(first))
			first++;
		char num[16];
		snprintf(num, sizeof(num), "%u", first);
		if (mp_conf_set_lcore(c, num, all_stages(), err, errlen) < 0)
			return -EINVAL;
	}
	memset(c->n_inst, 0, sizeof(c->n_inst));
	uint32_t seen[MP_ST_N] = {0};
	for (unsigned i = 0; i < c->n_lcores; i++)
		for (unsigned j = 0; j < c->lc[i].n; j++) {
			unsigned st = c->lc[i].item[j].stage, in = c->lc[i].item[j].inst;
			seen[st] |= 1u << in;
			if (in + 1 > c->n_inst[st])
				c->n_inst[st] = in + 1;
		}
	for (int s = 0; s < MP_ST_N; s++) {
		if (!c->n_inst[s]) {
			snprintf(err, errlen,
			         "%sstage '%s' is mapped to no lcore: add it to an lcore's list in [lcores]", where,
			         mp_stage_names[s]);
			return -EINVAL;
		}
		for (unsigned in = 0; in < c->n_inst[s]; in++)
			if (!(seen[s] & (1u << in))) {
				snprintf(err, errlen,
				         "%s%s.%u is mapped to no lcore, but %s.%u is: instances must be numbered "
				         "from 0 without holes",
				         where, mp_stage_names[s], in, mp_stage_names[s], c->n_inst[s] - 1);
				return -EINVAL;
			}
	}
	if (c->fanout == MP_FANOUT_INDEX)
		for (int s = 1; s < MP_ST_N; s++)
			if (c->n_inst[s] != c->n_inst[0]) {
				snprintf(err, errlen,
				         "%s[pipeline] fanout = index needs as many instances of every stage (%u rx, "
				         "%u %s): "
				         "map rx.I ... tx.I for each I, or use fanout = hash",
				         where, c->n_inst[0], c->n_inst[s], mp_stage_names[s]);
				return -EINVAL;
			}
	return 0;
}

void mp_conf_print_help(FILE *f)
{
	const char *sec = "";
	fprintf(f, "pipeline.conf keys (section, key, default, meaning):\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(sec, keys[i].section)) {
			sec = keys[i].section;
			fprintf(f, "\n[%s]\n", sec);
		}
		fprintf(f, "  %-14s default \"%s\"\n      %s\n", keys[i].name, keys[i].def, keys[i].help);
	}
	fprintf(f,
	        "\n[lcores]\n  N = STAGE[.I] ...  lcore N runs these stage instances round-robin\n"
	        "      default: 0 = %s (one lcore runs everything)\n"
	        "\n[policy]\n      NET = linux | windows: receivers in NET (10.0.0.0/8, 2001:db8::/32, an address)\n"
	        "      are modelled on that stack instead of tcp.policy; the longest prefix wins\n",
	        all_stages());
}

/* $MOSPIPE_LCORES="0=rx,classify;1=tcpsm,...": a whole lcore map that
 * replaces the file's, as mospipe -l does (set by mospipe_args()). */
static int apply_env_lcores(struct mp_conf *c, char *err, size_t errlen)
{
	const char *env = getenv("MOSPIPE_LCORES");
	char msg[900], buf[MP_CONF_STR], *save = NULL;
	if (!env || !*env)
		return 0;
	c->n_lcores = 0;
	c->lcores_line = 0;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(t, '=');
		if (!eq) {
			snprintf(err, errlen, "MOSPIPE_LCORES: '%s' is not LCORE=STAGE,STAGE...", t);
			return -EINVAL;
		}
		*eq = 0;
		if (mp_conf_set_lcore(c, t, eq + 1, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "MOSPIPE_LCORES: %s", msg);
			return -EINVAL;
		}
	}
	return 0;
}

int mp_conf_apply_env(struct mp_conf *c, char *err, size_t errlen)
{
	const char *env = getenv("MOSPIPE_SET");
	char msg[900];
	if (apply_env_lcores(c, err, errlen) < 0)
		return -EINVAL;
	if (!env || !*env)
		return 0;
	char buf[MP_CONF_STR * 4], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		while (*t == ' ')
			t++;
		if (!*t)
			continue;
		if (mp_conf_set_dotted(c, t, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "MOSPIPE_SET: %s", msg);
			return -EINVAL;
		}
	}
	return 0;
}
