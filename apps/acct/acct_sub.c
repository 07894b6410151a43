/* acct: subscribers and usage. The prefix file (--subscribers) and its
 * longest-prefix match, the per-context usage tables, intervals of packet
 * time (each context closes its own; the merged interval is printed once
 * every active context is past it), the per-subscriber totals, and the JSON
 * line writer every record goes through. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "acct.h"

pthread_mutex_t acct_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- JSON line buffers ------------------------------------------------------------ */

void acct_bprintf(struct acct_buf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->n >= b->cap)
		return;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n = w < 0 ? b->cap : b->n + (size_t)w; /* n > cap-1 marks a cut line */
}

void acct_bstr(struct acct_buf *b, const char *s)
{
	acct_bprintf(b, "\"");
	for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
		if (*q == '"' || *q == '\\')
			acct_bprintf(b, "\\%c", *q);
		else if (*q < 0x20 || *q == 0x7f)
			acct_bprintf(b, "\\u%04x", *q);
		else
			acct_bprintf(b, "%c", *q);
	}
	acct_bprintf(b, "\"");
}

void acct_bhex(struct acct_buf *b, const uint8_t *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	acct_bprintf(b, "\"");
	for (size_t i = 0; i < n && b->n + 3 < b->cap; i++) {
		b->p[b->n++] = hx[p[i] >> 4];
		b->p[b->n++] = hx[p[i] & 15];
	}
	acct_bprintf(b, "\"");
}

void acct_bts(struct acct_buf *b, const char *name, uint64_t ns)
{
	acct_bprintf(b, "\"%s\":%" PRIu64 ".%06" PRIu64, name, ns / 1000000000u, ns % 1000000000u / 1000u);
}

int acct_buf_ok(const struct acct_buf *b)
{
	return b->n < b->cap;
}

static void key_str(const struct acct_key *k, char *s, size_t n)
{
	inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, s, (socklen_t)n);
}

void acct_bkey(struct acct_buf *b, const struct acct_key *k, int32_t pfx)
{
	char a[INET6_ADDRSTRLEN + 8];
	if (k->family == 0) {
		acct_bprintf(b, "\"subscriber\":null,\"overflow\":true");
		return;
	}
	key_str(k, a, sizeof(a));
	if (pfx >= 0)
		snprintf(a + strlen(a), sizeof(a) - strlen(a), "/%u", k->plen);
	acct_bprintf(b, "\"subscriber\":\"%s\"", a);
	const char *name = acct_subs_name(pfx);
	if (name) {
		acct_bprintf(b, ",\"name\":");
		acct_bstr(b, name);
	}
}

static void emit_locked(const char *line, size_t len)
{
	fwrite(line, 1, len, acct_out);
	fputc('\n', acct_out);
}

void acct_emit(const char *line, size_t len)
{
	pthread_mutex_lock(&acct_lock);
	emit_locked(line, len);
	/* Abuse records matter when they happen (live runs): flush each. */
	fflush(acct_out);
	pthread_mutex_unlock(&acct_lock);
}

/* ---- hashing ------------------------------------------------------------------------ */

static uint64_t key_hash(const struct acct_key *k)
{
	/* FNV-1a over the 18 key bytes, then a final mix for the low bits. */
	uint64_t h = 1469598103934665603ull;
	const uint8_t *p = (const uint8_t *)k;
	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static int key_eq(const struct acct_key *a, const struct acct_key *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* ---- the prefix file ------------------------------------------------------------------- */

struct pfx {
	struct acct_key key;
	char *name;
	unsigned line;
};

static struct pfx *pfxs;
static uint32_t n_pfx;
static uint32_t *pfx_idx; /* slot -> index + 1 */
static uint32_t pfx_mask;
/* Distinct prefix lengths per family, longest first: the match tries each. */
static uint8_t lens4[33], lens6[129];
static unsigned n_lens4, n_lens6;

static void mask_addr(struct acct_key *k)
{
	unsigned bits = k->family == 4 ? 32 : 128, bytes = bits / 8;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		if (k->plen >= lo + 8)
			continue;
		k->addr[i] &= k->plen <= lo ? 0 : (uint8_t)(0xff << (8 - (k->plen - lo)));
	}
}

static int32_t pfx_find(const struct acct_key *k)
{
	for (uint32_t s = (uint32_t)key_hash(k) & pfx_mask;; s = (s + 1) & pfx_mask) {
		uint32_t v = pfx_idx[s];
		if (!v)
			return -1;
		if (key_eq(&pfxs[v - 1].key, k))
			return (int32_t)(v - 1);
	}
}

static int parse_prefix(char *tok, struct acct_key *k, const char *path, unsigned ln)
{
	char *slash = strchr(tok, '/');
	unsigned long plen = 0;
	int have_len = 0;
	memset(k, 0, sizeof(*k));
	if (slash) {
		char *end;
		*slash = 0;
		errno = 0;
		plen = strtoul(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || !isdigit((unsigned char)slash[1])) {
			fprintf(stderr, "%s:%u: '%s/%s': the prefix length must be a number\n", path, ln, tok,
			        slash + 1);
			return -1;
		}
		have_len = 1;
	}
	if (inet_pton(AF_INET, tok, k->addr) == 1)
		k->family = 4;
	else if (inet_pton(AF_INET6, tok, k->addr) == 1)
		k->family = 6;
	else {
		fprintf(stderr,
		        "%s:%u: '%s' is not an IPv4 or IPv6 address (expected PREFIX [NAME], e.g. 10.0.0.0/8 alice)\n",
		        path, ln, tok);
		return -1;
	}
	unsigned max = k->family == 4 ? 32 : 128;
	if (!have_len)
		plen = max;
	if (plen > max) {
		fprintf(stderr, "%s:%u: prefix length %lu is out of range for IPv%u (0-%u)\n", path, ln, plen,
		        k->family, max);
		return -1;
	}
	k->plen = (uint8_t)plen;
	struct acct_key m = *k;
	mask_addr(&m);
	if (!key_eq(&m, k)) {
		char a[INET6_ADDRSTRLEN];
		key_str(&m, a, sizeof(a));
		fprintf(stderr, "%s:%u: %s/%lu has host bits set; write %s/%lu\n", path, ln, tok, plen, a, plen);
		return -1;
	}
	return 0;
}

/* Names go into JSON strings as they are: they must be UTF-8. */
static int utf8_ok(const unsigned char *p)
{
	while (*p) {
		unsigned n = *p < 0x80             ? 0
		             : (*p & 0xe0) == 0xc0 ? 1
		             : (*p & 0xf0) == 0xe0 ? 2
		             : (*p & 0xf8) == 0xf0 ? 3
		                                   : 4;
		if (n == 4 || (n == 1 && *p < 0xc2))
			return 0;
		p++;
		for (unsigned i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static int add_len(uint8_t *lens, unsigned *n, uint8_t l)
{
	for (unsigned i = 0; i < *n; i++)
		if (lens[i] == l)
			return 0;
	unsigned i = (*n)++;
	while (i > 0 && lens[i - 1] < l) { /* keep them longest first */
		lens[i] = lens[i - 1];
		i--;
	}
	lens[i] = l;
	return 0;
}

int acct_subs_load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1100];
	unsigned ln = 0;
	uint32_t cap = 0;
	if (!f) {
		fprintf(stderr, "acct: --subscribers %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		ln++;
		size_t L = strlen(line);
		if (L == sizeof(line) - 1 && line[L - 1] != '\n' && !feof(f)) {
			fprintf(stderr, "%s:%u: line is longer than %zu bytes\n", path, ln, sizeof(line) - 2);
			goto bad;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0; /* a comment runs to the end of the line */
		char *p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			continue;
		char *tok = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = 0;
		while (isspace((unsigned char)*p))
			p++;
		char *name = p, *e = p + strlen(p);
		while (e > name && isspace((unsigned char)e[-1]))
			*--e = 0;
		if (e - name > 128) {
			fprintf(stderr, "%s:%u: the name is longer than 128 bytes\n", path, ln);
			goto bad;
		}
		if (!utf8_ok((const unsigned char *)name)) {
			fprintf(stderr, "%s:%u: the name is not valid UTF-8\n", path, ln);
			goto bad;
		}
		struct acct_key k;
		if (parse_prefix(tok, &k, path, ln) < 0)
			goto bad;
		if (n_pfx == cap) {
			cap = cap ? cap * 2 : 64;
			struct pfx *np = realloc(pfxs, cap * sizeof(*np));
			if (!np || cap > (1u << 28)) {
				fprintf(stderr, "%s:%u: out of memory for the prefixes\n", path, ln);
				free(np);
				pfxs = NULL;
				goto bad;
			}
			pfxs = np;
		}
		pfxs[n_pfx] = (struct pfx){.key = k, .name = *name ? strdup(name) : NULL, .line = ln};
		n_pfx++;
	}
	if (ferror(f)) {
		fprintf(stderr, "acct: --subscribers %s: read error\n", path);
		goto bad;
	}
	fclose(f);
	f = NULL;
	if (!n_pfx) {
		fprintf(stderr, "%s: no prefixes (one per line: PREFIX [NAME], e.g. 10.1.0.0/16 alice)\n", path);
		return -1;
	}
	uint32_t slots = 16;
	while (slots < 2 * n_pfx)
		slots *= 2;
	pfx_idx = calloc(slots, sizeof(*pfx_idx));
	if (!pfx_idx) {
		fprintf(stderr, "acct: out of memory for %u prefixes\n", n_pfx);
		return -1;
	}
	pfx_mask = slots - 1;
	for (uint32_t i = 0; i < n_pfx; i++) {
		int32_t d = pfx_find(&pfxs[i].key);
		if (d >= 0) {
			char a[INET6_ADDRSTRLEN];
			key_str(&pfxs[i].key, a, sizeof(a));
			fprintf(stderr, "%s:%u: %s/%u is listed twice (first on line %u)\n", path, pfxs[i].line, a,
			        pfxs[i].key.plen, pfxs[d].line);
			return -1;
		}
		uint32_t s = (uint32_t)key_hash(&pfxs[i].key) & pfx_mask;
		while (pfx_idx[s])
			s = (s + 1) & pfx_mask;
		pfx_idx[s] = i + 1;
		if (pfxs[i].key.family == 4)
			add_len(lens4, &n_lens4, pfxs[i].key.plen);
		else
			add_len(lens6, &n_lens6, pfxs[i].key.plen);
	}
	return 0;
bad:
	if (f)
		fclose(f);
	return -1;
}

int acct_subs_match(const struct acct_key *addr, struct acct_key *out, int32_t *pfx)
{
	const uint8_t *lens = addr->family == 4 ? lens4 : lens6;
	unsigned n = addr->family == 4 ? n_lens4 : n_lens6;
	for (unsigned i = 0; i < n; i++) {
		struct acct_key k = *addr;
		k.plen = lens[i];
		mask_addr(&k);
		int32_t d = pfx_find(&k);
		if (d >= 0) {
			*out = k;
			*pfx = d;
			return 1;
		}
	}
	return 0;
}

const char *acct_subs_name(int32_t pfx)
{
	return pfx >= 0 && (uint32_t)pfx < n_pfx ? pfxs[pfx].name : NULL;
}

void acct_subs_free(void)
{
	for (uint32_t i = 0; i < n_pfx; i++)
		free(pfxs[i].name);
	free(pfxs);
	free(pfx_idx);
	pfxs = NULL;
	pfx_idx = NULL;
	n_pfx = 0;
	n_lens4 = n_lens6 = 0;
}

/* ---- usage tables ------------------------------------------------------------------------ */

static int tab_grow(struct acct_tab *t);

int acct_tab_init(struct acct_tab *t, uint64_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
	/* From here on the table always has room for the overflow bucket, so
	 * a full table or a failed allocation never loses a charge. */
	return tab_grow(t);
}

void acct_tab_free(struct acct_tab *t)
{
	free(t->e);
	free(t->idx);
	free(t->dirty);
	memset(t, 0, sizeof(*t));
}

static uint32_t tab_slot(const struct acct_tab *t, const struct acct_key *k)
{
	uint32_t s = (uint32_t)key_hash(k) & t->mask;
	while (t->idx[s] && !key_eq(&t->e[t->idx[s] - 1].key, k))
		s = (s + 1) & t->mask;
	return s;
}

/* Room for one more entry (and the overflow bucket). @return 0, -1 when
 * memory ran out. */
static int tab_grow(struct acct_tab *t)
{
	if (t->n + 2 <= t->cap_e && 2 * (t->n + 2) <= t->mask + 1)
		return 0;
	uint32_t ne = t->cap_e ? t->cap_e * 2 : 64;
	struct acct_ent *e = realloc(t->e, (size_t)ne * sizeof(*e));
	if (!e)
		return -1;
	t->e = e;
	uint32_t *d = realloc(t->dirty, (size_t)ne * sizeof(*d));
	if (!d)
		return -1;
	t->dirty = d;
	t->cap_e = t->cap_dirty = ne;
	uint32_t slots = (t->mask + 1) * 2;
	if (slots < 2 * ne)
		slots = 2 * ne;
	uint32_t *idx = calloc(slots, sizeof(*idx));
	if (!idx)
		return -1;
	free(t->idx);
	t->idx = idx;
	t->mask = slots - 1;
	for (uint32_t i = 0; i < t->n; i++)
		t->idx[tab_slot(t, &t->e[i].key)] = i + 1;
	return 0;
}

static uint32_t tab_add(struct acct_tab *t, const struct acct_key *k, int32_t pfx)
{
	uint32_t i = t->n++;
	memset(&t->e[i], 0, sizeof(t->e[i]));
	t->e[i].key = *k;
	t->e[i].pfx = pfx;
	t->idx[tab_slot(t, k)] = i + 1;
	return i;
}

uint32_t acct_tab_get(struct acct_tab *t, const struct acct_key *k, int32_t pfx, int *over)
{
	*over = 0;
	uint32_t s = tab_slot(t, k);
	if (t->idx[s])
		return t->idx[s] - 1;
	if ((!t->max || t->n + (t->overflow ? 1 : 0) < t->max) && tab_grow(t) == 0)
		return tab_add(t, k, pfx);
	*over = 1;
	if (!t->overflow) {
		/* tab_grow() always leaves room for this one entry. */
		struct acct_key ok = {0};
		t->overflow = tab_add(t, &ok, -1) + 1;
	}
	return t->overflow - 1;
}

uint32_t acct_tab_find(const struct acct_tab *t, const struct acct_key *k)
{
	if (!t->idx)
		return UINT32_MAX;
	uint32_t s = tab_slot(t, k);
	return t->idx[s] ? t->idx[s] - 1 : UINT32_MAX;
}

void acct_tab_touch(struct acct_tab *t, uint32_t i)
{
	if (t->e[i].dirty)
		return;
	t->e[i].dirty = 1;
	t->dirty[t->n_dirty++] = i; /* cap_dirty == cap_e >= n */
}

static void usage_add(struct acct_usage *a, const struct acct_usage *b)
{
	a->up += b->up;
	a->down += b->down;
	a->up_rexmit += b->up_rexmit;
	a->down_rexmit += b->down_rexmit;
	a->flows += b->flows;
	a->abuse += b->abuse;
}

/* ---- intervals ---------------------------------------------------------------------------- */

/* Intervals some context has closed but not every active one: at most
 * PEND_MAX are kept; a context that falls further behind gets its share
 * printed as "late" lines. Guarded by acct_lock. */
#define PEND_MAX 16
static struct pend {
	uint64_t k;
	struct acct_tab t;
} pend[PEND_MAX];
static unsigned n_pend;
static uint64_t printed_below; /* every interval < this one is printed */
static uint64_t late_lines;

static int ent_cmp(const void *a, const void *b)
{
	const struct acct_ent *x = a, *y = b;
	if (x->pfx != y->pfx)
		return x->pfx < y->pfx ? -1 : 1;
	if (x->key.family != y->key.family)
		return x->key.family < y->key.family ? -1 : 1;
	int c = memcmp(x->key.addr, y->key.addr, 16);
	return c ? c : (x->key.plen > y->key.plen) - (x->key.plen < y->key.plen);
}

static void usage_line(uint64_t k, const struct acct_ent *e, const struct acct_usage *u, int late)
{
	char line[2048];
	struct acct_buf b = {line, 0, sizeof(line)};
	acct_bprintf(&b, "{\"event\":\"usage\",");
	acct_bts(&b, "start", k * acct_o.interval_ns);
	acct_bprintf(&b, ",");
	acct_bts(&b, "end", (k + 1) * acct_o.interval_ns);
	acct_bprintf(&b, ",");
	acct_bkey(&b, &e->key, e->pfx);
	acct_bprintf(&b,
	             ",\"up_bytes\":%" PRIu64 ",\"down_bytes\":%" PRIu64 ",\"up_rexmit_bytes\":%" PRIu64
	             ",\"down_rexmit_bytes\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"abuse\":%" PRIu64 "%s}",
	             u->up, u->down, u->up_rexmit, u->down_rexmit, u->flows, u->abuse, late ? ",\"late\":true" : "");
	emit_locked(line, acct_buf_ok(&b) ? b.n : strlen(line));
}

static void print_pend(unsigned i)
{
	struct acct_tab *t = &pend[i].t;
	qsort(t->e, t->n, sizeof(t->e[0]), ent_cmp); /* the table is dropped after */
	for (uint32_t j = 0; j < t->n; j++)
		usage_line(pend[i].k, &t->e[j], &t->e[j].cur, 0);
	acct_tab_free(t);
	if (pend[i].k + 1 > printed_below)
		printed_below = pend[i].k + 1;
	memmove(&pend[i], &pend[i + 1], (n_pend - i - 1) * sizeof(pend[0]));
	n_pend--;
}

static struct acct_tab *pend_of(uint64_t k)
{
	unsigned i = 0;
	while (i < n_pend && pend[i].k < k)
		i++;
	if (i < n_pend && pend[i].k == k)
		return &pend[i].t;
	if (n_pend == PEND_MAX) {
		print_pend(0); /* bounded memory: the oldest goes out now */
		if (k < printed_below)
			return NULL;
		i--;
	}
	memmove(&pend[i + 1], &pend[i], (n_pend - i) * sizeof(pend[0]));
	n_pend++;
	pend[i].k = k;
	if (acct_tab_init(&pend[i].t, 0) < 0) {
		fprintf(stderr, "acct: out of memory for an interval's usage\n");
		exit(1);
	}
	return &pend[i].t;
}

/* Moves c's usage of its current interval into the merge (or prints it as
 * late lines); acct_lock held. */
static void merge_ctx(struct actx *c)
{
	struct acct_tab *src = &c->tab;
	struct acct_tab *dst = c->iv_k < printed_below ? NULL : pend_of(c->iv_k);
	for (uint32_t j = 0; j < src->n_dirty; j++) {
		struct acct_ent *e = &src->e[src->dirty[j]];
		usage_add(&e->tot, &e->cur);
		if (dst) {
			int over;
			uint32_t d = acct_tab_get(dst, &e->key, e->pfx, &over);
			usage_add(&dst->e[d].cur, &e->cur);
		} else {
			usage_line(c->iv_k, e, &e->cur, 1);
			late_lines++;
		}
		memset(&e->cur, 0, sizeof(e->cur));
		e->dirty = 0;
	}
	src->n_dirty = 0;
}

/* Prints the intervals every context has moved past. A context that has not
 * seen a packet yet holds everything back: its first packets may still
 * belong to the oldest pending interval (offline, app instances run at their
 * own pace); the end of the run, or PEND_MAX intervals pending, lets go. */
static void print_ready(void)
{
	uint64_t lo = UINT64_MAX;
	for (unsigned i = 0; i < acct_nctx; i++) {
		if (acct_ctx[i].iv_k == UINT64_MAX)
			return;
		if (acct_ctx[i].iv_k < lo)
			lo = acct_ctx[i].iv_k;
	}
	int any = 0;
	while (n_pend && pend[0].k < lo) {
		print_pend(0);
		any = 1;
	}
	if (any)
		fflush(acct_out);
}

void acct_time(struct actx *c, uint64_t t)
{
	uint64_t iv = acct_o.interval_ns;
	if (!c->st.first_ns || t < c->st.first_ns)
		c->st.first_ns = t;
	if (t > c->st.last_ns)
		c->st.last_ns = t;
	if (!iv)
		return;
	uint64_t k = t / iv;
	if (c->iv_k == UINT64_MAX) {
		/* iv_k is read by other contexts under the lock (print_ready). */
		pthread_mutex_lock(&acct_lock);
		c->iv_k = k;
		pthread_mutex_unlock(&acct_lock);
		return;
	}
	if (k <= c->iv_k)
		return;
	pthread_mutex_lock(&acct_lock);
	merge_ctx(c);
	c->iv_k = k;
	print_ready();
	pthread_mutex_unlock(&acct_lock);
}

void acct_finish(void)
{
	pthread_mutex_lock(&acct_lock);
	if (acct_o.interval_ns) {
		for (unsigned i = 0; i < acct_nctx; i++)
			if (acct_ctx[i].iv_k != UINT64_MAX)
				merge_ctx(&acct_ctx[i]);
		while (n_pend)
			print_pend(0);
	} else {
		for (unsigned i = 0; i < acct_nctx; i++) {
			struct acct_tab *t = &acct_ctx[i].tab;
			for (uint32_t j = 0; j < t->n; j++) {
				usage_add(&t->e[j].tot, &t->e[j].cur);
				memset(&t->e[j].cur, 0, sizeof(t->e[j].cur));
			}
			t->n_dirty = 0;
		}
	}
	/* Totals per subscriber, all contexts merged. */
	struct acct_tab all;
	if (acct_tab_init(&all, 0) < 0) {
		fprintf(stderr, "acct: out of memory for the totals\n");
		exit(1);
	}
	for (unsigned i = 0; i < acct_nctx; i++) {
		struct acct_tab *t = &acct_ctx[i].tab;
		for (uint32_t j = 0; j < t->n; j++) {
			int over;
			uint32_t d = acct_tab_get(&all, &t->e[j].key, t->e[j].pfx, &over);
			usage_add(&all.e[d].tot, &t->e[j].tot);
		}
	}
	qsort(all.e, all.n, sizeof(all.e[0]), ent_cmp);
	for (uint32_t j = 0; j < all.n; j++) {
		char line[2048];
		const struct acct_usage *u = &all.e[j].tot;
		struct acct_buf b = {line, 0, sizeof(line)};
		acct_bprintf(&b, "{\"event\":\"total\",");
		acct_bkey(&b, &all.e[j].key, all.e[j].pfx);
		acct_bprintf(&b,
		             ",\"up_bytes\":%" PRIu64 ",\"down_bytes\":%" PRIu64 ",\"up_rexmit_bytes\":%" PRIu64
		             ",\"down_rexmit_bytes\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"abuse\":%" PRIu64 "}",
		             u->up, u->down, u->up_rexmit, u->down_rexmit, u->flows, u->abuse);
		emit_locked(line, acct_buf_ok(&b) ? b.n : strlen(line));
	}
	acct_tab_free(&all);
	pthread_mutex_unlock(&acct_lock);
}

uint64_t acct_late_lines(void)
{
	return late_lines;
}
