/* engine.c — Hyperscan databases per direction and per-side verification of
 * rule constraints (engine.h).
 *
 * Every content and pcre keyword of every rule is one Hyperscan expression
 * whose id is the item's global index. A scan collects the matches of one
 * chunk, sorts them by end offset (Hyperscan does not promise the order) and
 * verifies each in stream offsets:
 *   - an absolute item (no distance/within): offset <= start, end <=
 *     offset + depth (depth also bounds Hyperscan itself, HS_EXT max_offset);
 *   - a relative item k: some satisfied match of item k-1 ended at e' with
 *     start_k >= e' + distance and, with within, end_k <= e' + distance +
 *     within (Snort/Suricata semantics: within counts from where distance
 *     puts the start). distance >= 0 (rules.c refuses negative ones), so every
 *     candidate e' ended before start_k: it was verified earlier in the sorted
 *     order, which makes the check causal.
 * A rule's items form chains (an absolute item and the relative items after
 * it); chains are independent, as Suricata searches each absolute content
 * from the start of the buffer. The rule fires when the last item of each
 * chain has been satisfied.
 *
 * State per side and item (struct ist): how many times the item was
 * satisfied, the earliest end (enough for "distance" alone: the best e' is
 * the smallest) and a ring of the latest ends (for "within": the best e' is
 * the largest one <= start - distance; exact unless more than RING matches of
 * the item ended after it, counted as `inexact`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "engine.h"

#define RING 8
#define MAX_IST 64          /* item states per side */
#define MATCH_BUF_MAX 65536 /* matches sorted per scan before processing in arrival order */

struct eitem {
	uint32_t rule;
	uint8_t kind, anchored, relative, has_depth, has_within;
	uint8_t keep;       /* the next item is relative to this one: remember satisfied ends */
	uint8_t chain_last; /* last item of its chain */
	uint32_t len, offset, depth, within;
	int32_t distance;
};

struct erule {
	uint32_t first, n; /* items first .. first + n - 1 */
	uint32_t hdr;
	uint8_t dirs; /* bit d: rule may apply to direction d */
	uint8_t established;
};

struct ids_engine {
	struct ids_rules *rs;
	struct eitem *item;
	struct erule *rule;
	unsigned n_item;
	hs_database_t *db[2];
	unsigned n_pat[2];
	size_t stream_size[2];
	uint32_t *hdr_used[2]; /* headers of the rules of each direction */
	unsigned n_hdr_used[2];
	unsigned hdr_words;
};

struct mrec {
	unsigned long long to;
	unsigned id;
};

struct ids_thread {
	hs_scratch_t *scratch;
	struct mrec *m;
	unsigned n_m, cap_m;
	/* the scan in progress */
	const struct ids_engine *e;
	struct ids_side *s;
	ids_alert_fn fn;
	void *ctx;
	struct ids_counters ctr;
};

struct ist {
	uint32_t item;
	uint32_t n; /* times satisfied (saturates) */
	uint64_t first;
	uint64_t ring[RING]; /* latest ends, ring[(n - 1) % RING] newest */
};

struct ids_side {
	hs_stream_t *hs;
	uint64_t base; /* stream offset of the Hyperscan stream's byte 0 */
	uint64_t pos;  /* stream offset of the next byte */
	uint8_t dir, established, dead;
	uint32_t *alerted;
	uint32_t n_alerted, cap_alerted;
	struct ist *ist;
	uint32_t n_ist, cap_ist;
	uint64_t hdr[]; /* bit h: header h matches this side */
};

/* ---- building -------------------------------------------------------------------- */

/* A content as a Hyperscan expression: every byte as \xHH. */
static char *literal_expr(const uint8_t *b, uint32_t len)
{
	char *e = malloc((size_t)len * 4 + 1);
	if (!e)
		return NULL;
	for (uint32_t i = 0; i < len; i++)
		snprintf(e + i * 4, 5, "\\x%02x", b[i]);
	e[len * 4] = 0;
	return e;
}

/* Hyperscan's messages end with a period; ours add "; rule skipped". */
static const char *hs_msg(const hs_compile_error_t *ce, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", ce && ce->message ? ce->message : "unknown error");
	size_t n = strlen(buf);
	if (n && buf[n - 1] == '.')
		buf[n - 1] = 0;
	return buf;
}

static unsigned item_flags(const struct ids_rule *r, const struct ids_item *it)
{
	unsigned f = it->kind == IDS_PCRE ? it->hs_flags : (it->nocase ? HS_FLAG_CASELESS : 0);
	/* Only the first match can matter: a one-item rule without a lower bound
	 * (with depth alone, the valid matches are a prefix of all matches) and
	 * without a state that may change later (established). */
	if (r->n_item == 1 && !it->offset && !(r->flow & IDS_FLOW_ESTABLISHED))
		f |= HS_FLAG_SINGLEMATCH;
	return f;
}

/* Compiles direction d; on an expression's error reports it and returns the
 * rule index to drop (>= 0), -1 on success, -2 on a global failure. */
static int compile_dir(struct ids_engine *e, enum ids_dir d)
{
	struct ids_rules *rs = e->rs;
	unsigned n = 0;
	for (unsigned i = 0; i < e->n_item; i++)
		n += (e->rule[e->item[i].rule].dirs >> d) & 1;
	e->n_pat[d] = n;
	if (!n)
		return -1;
	const char **expr = calloc(n, sizeof(*expr));
	unsigned *flags = calloc(n, sizeof(*flags)), *ids = calloc(n, sizeof(*ids));
	hs_expr_ext_t *ext = calloc(n, sizeof(*ext));
	const hs_expr_ext_t **extp = calloc(n, sizeof(*extp));
	char **owned = calloc(n, sizeof(*owned));
	int ret = -2;
	if (!expr || !flags || !ids || !ext || !extp || !owned) {
		fprintf(rs->err, "ids: out of memory compiling rules\n");
		goto out;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < e->n_item; i++) {
		const struct eitem *ei = &e->item[i];
		if (!((e->rule[ei->rule].dirs >> d) & 1))
			continue;
		const struct ids_rule *r = &rs->rule[ei->rule];
		const struct ids_item *it = &r->item[i - e->rule[ei->rule].first];
		if (it->kind == IDS_CONTENT) {
			owned[k] = literal_expr(it->bytes, it->len);
			if (!owned[k]) {
				fprintf(rs->err, "ids: out of memory compiling rules\n");
				goto out;
			}
			expr[k] = owned[k];
		} else {
			expr[k] = (const char *)it->bytes;
		}
		flags[k] = item_flags(r, it);
		ids[k] = i;
		if (!it->relative && it->has_depth) {
			ext[k].flags = HS_EXT_FLAG_MAX_OFFSET;
			ext[k].max_offset = (unsigned long long)it->offset + it->depth;
		}
		extp[k] = &ext[k];
		k++;
	}
	hs_compile_error_t *ce = NULL;
	char mb[256];
	if (hs_compile_ext_multi(expr, flags, ids, extp, n, HS_MODE_STREAM, NULL, &e->db[d], &ce) != HS_SUCCESS) {
		if (ce && ce->expression >= 0 && (unsigned)ce->expression < n) {
			unsigned ri = e->item[ids[ce->expression]].rule;
			ids_rule_report(rs, &rs->rule[ri], "Hyperscan refuses %s: %s; rule skipped",
			                rs->rule[ri].item[ids[ce->expression] - e->rule[ri].first].kind == IDS_PCRE
			                    ? "its pcre"
			                    : "its content",
			                hs_msg(ce, mb, sizeof(mb)));
			ret = (int)ri;
		} else {
			fprintf(rs->err, "ids: Hyperscan cannot build the %s database: %s\n",
			        d == IDS_TO_SERVER ? "to_server" : "to_client", hs_msg(ce, mb, sizeof(mb)));
		}
		hs_free_compile_error(ce);
		e->db[d] = NULL;
		goto out;
	}
	hs_stream_size(e->db[d], &e->stream_size[d]);
	ret = -1;
out:
	for (unsigned i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned), free(expr), free(flags), free(ids), free(ext), free(extp);
	return ret;
}

static void engine_reset(struct ids_engine *e)
{
	for (int d = 0; d < 2; d++) {
		if (e->db[d])
			hs_free_database(e->db[d]);
		e->db[d] = NULL;
		free(e->hdr_used[d]);
		e->hdr_used[d] = NULL;
		e->n_hdr_used[d] = 0;
	}
	free(e->item);
	free(e->rule);
	e->item = NULL;
	e->rule = NULL;
}

/* Items and rules of the engine from rs. @return 0, or -1 when out of memory. */
static int engine_tables(struct ids_engine *e)
{
	struct ids_rules *rs = e->rs;
	unsigned n = 0;
	for (unsigned i = 0; i < rs->n_rule; i++)
		n += rs->rule[i].n_item;
	e->n_item = n;
	e->item = calloc(n ? n : 1, sizeof(*e->item));
	e->rule = calloc(rs->n_rule ? rs->n_rule : 1, sizeof(*e->rule));
	if (!e->item || !e->rule)
		return -1;
	unsigned g = 0;
	for (unsigned i = 0; i < rs->n_rule; i++) {
		const struct ids_rule *r = &rs->rule[i];
		struct erule *er = &e->rule[i];
		er->first = g;
		er->n = r->n_item;
		er->hdr = r->hdr;
		er->dirs = (r->flow & IDS_FLOW_TO_CLIENT) ? 2 : (r->flow & IDS_FLOW_TO_SERVER) ? 1 : 3;
		er->established = (r->flow & IDS_FLOW_ESTABLISHED) != 0;
		for (unsigned j = 0; j < r->n_item; j++, g++) {
			const struct ids_item *it = &r->item[j];
			struct eitem *ei = &e->item[g];
			ei->rule = i;
			ei->kind = it->kind;
			ei->anchored = it->anchored;
			ei->relative = it->relative;
			ei->has_depth = it->has_depth;
			ei->has_within = it->has_within;
			ei->len = it->kind == IDS_CONTENT ? it->len : 0;
			ei->offset = it->offset;
			ei->depth = it->depth;
			ei->within = it->within;
			ei->distance = it->distance;
			int next_rel = j + 1 < r->n_item && r->item[j + 1].relative;
			ei->keep = (uint8_t)next_rel;
			ei->chain_last = (uint8_t)!next_rel;
		}
	}
	for (int d = 0; d < 2; d++) {
		e->hdr_used[d] = calloc(rs->n_hdr ? rs->n_hdr : 1, sizeof(uint32_t));
		if (!e->hdr_used[d])
			return -1;
		for (unsigned h = 0; h < rs->n_hdr; h++) {
			int used = 0;
			for (unsigned i = 0; i < rs->n_rule && !used; i++)
				used = e->rule[i].hdr == h && ((e->rule[i].dirs >> d) & 1);
			if (used)
				e->hdr_used[d][e->n_hdr_used[d]++] = h;
		}
	}
	e->hdr_words = (rs->n_hdr + 63) / 64;
	return 0;
}

struct ids_engine *ids_engine_new(struct ids_rules *rs)
{
	struct ids_engine *e = calloc(1, sizeof(*e));
	if (!e) {
		fprintf(rs->err, "ids: out of memory compiling rules\n");
		return NULL;
	}
	e->rs = rs;
	/* Each pcre alone first, so that a refusal names its own rule. */
	for (unsigned i = 0; i < rs->n_rule; i++) {
		const struct ids_rule *r = &rs->rule[i];
		for (unsigned j = 0; j < r->n_item; j++) {
			if (r->item[j].kind != IDS_PCRE)
				continue;
			hs_database_t *db = NULL;
			hs_compile_error_t *ce = NULL;
			char mb[256];
			if (hs_compile((const char *)r->item[j].bytes, r->item[j].hs_flags, HS_MODE_STREAM, NULL, &db,
			               &ce) != HS_SUCCESS) {
				ids_rule_report(rs, r, "Hyperscan cannot compile pcre #%u: %s; rule skipped", j + 1,
				                hs_msg(ce, mb, sizeof(mb)));
				hs_free_compile_error(ce);
				ids_rules_drop(rs, i);
				i--;
				break;
			}
			hs_free_database(db);
		}
	}
	/* Then the databases; an expression refused only in company (which
	 * should not happen after the check above) drops its rule and retries. */
	for (;;) {
		if (!rs->n_rule)
			goto fail; /* the caller says so, with the count of skipped rules */
		if (engine_tables(e) < 0) {
			fprintf(rs->err, "ids: out of memory compiling rules\n");
			goto fail;
		}
		int r0 = compile_dir(e, IDS_TO_SERVER);
		int r1 = r0 == -1 ? compile_dir(e, IDS_TO_CLIENT) : -1;
		int bad = r0 != -1 ? r0 : r1;
		if (bad == -1)
			return e;
		engine_reset(e);
		if (bad == -2)
			goto fail;
		ids_rules_drop(rs, (unsigned)bad);
	}
fail:
	ids_engine_free(e);
	return NULL;
}

void ids_engine_free(struct ids_engine *e)
{
	if (!e)
		return;
	engine_reset(e);
	free(e);
}

int ids_engine_dir_used(const struct ids_engine *e, enum ids_dir d)
{
	return e->db[d] != NULL;
}

size_t ids_engine_stream_size(const struct ids_engine *e, enum ids_dir d)
{
	return e->db[d] ? e->stream_size[d] : 0;
}

unsigned ids_engine_patterns(const struct ids_engine *e, enum ids_dir d)
{
	return e->n_pat[d];
}

/* ---- threads ------------------------------------------------------------------------- */

struct ids_thread *ids_thread_new(const struct ids_engine *e)
{
	struct ids_thread *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	for (int d = 0; d < 2; d++)
		if (e->db[d] && hs_alloc_scratch(e->db[d], &t->scratch) != HS_SUCCESS) {
			ids_thread_free(t);
			return NULL;
		}
	t->cap_m = 1024;
	t->m = malloc(t->cap_m * sizeof(*t->m));
	if (!t->m) {
		ids_thread_free(t);
		return NULL;
	}
	return t;
}

void ids_thread_free(struct ids_thread *t)
{
	if (!t)
		return;
	if (t->scratch)
		hs_free_scratch(t->scratch);
	free(t->m);
	free(t);
}

struct ids_counters *ids_thread_counters(struct ids_thread *t)
{
	return &t->ctr;
}

/* ---- per side state ------------------------------------------------------------------ */

static int hdr_bit(const struct ids_side *s, uint32_t h)
{
	return (s->hdr[h / 64] >> (h % 64)) & 1;
}

static struct ist *ist_find(struct ids_side *s, uint32_t item)
{
	for (uint32_t i = 0; i < s->n_ist; i++)
		if (s->ist[i].item == item)
			return &s->ist[i];
	return NULL;
}

static struct ist *ist_get(struct ids_thread *t, struct ids_side *s, uint32_t item)
{
	struct ist *x = ist_find(s, item);
	if (x)
		return x;
	if (s->n_ist == s->cap_ist) {
		if (s->cap_ist == MAX_IST) {
			t->ctr.state_full++;
			return NULL;
		}
		uint32_t c = s->cap_ist ? s->cap_ist * 2 : 4;
		struct ist *n = realloc(s->ist, c * sizeof(*n));
		if (!n) {
			t->ctr.state_full++;
			return NULL;
		}
		s->ist = n;
		s->cap_ist = c;
	}
	x = &s->ist[s->n_ist++];
	memset(x, 0, sizeof(*x));
	x->item = item;
	return x;
}

static void ist_add(struct ist *x, uint64_t end)
{
	if (!x->n)
		x->first = end;
	x->ring[x->n % RING] = end;
	if (x->n < UINT32_MAX)
		x->n++;
}

/* Is there a remembered end e' with lo <= e' <= hi? */
static int ist_within(struct ids_thread *t, const struct ist *x, uint64_t lo, uint64_t hi)
{
	uint32_t kept = x->n < RING ? x->n : RING;
	for (uint32_t i = 0; i < kept; i++) {
		uint64_t e = x->ring[(x->n - 1 - i) % RING];
		if (e <= hi)
			return e >= lo;
	}
	/* Every remembered end is after hi: an older one, overwritten, might
	 * have fit (only when more than RING were seen, and x->first <= hi). */
	if (x->n > RING && x->first <= hi)
		t->ctr.inexact++;
	return 0;
}

static int alerted(const struct ids_side *s, uint32_t rule)
{
	for (uint32_t i = 0; i < s->n_alerted; i++)
		if (s->alerted[i] == rule)
			return 1;
	return 0;
}

static void fire(struct ids_thread *t, struct ids_side *s, uint32_t rule, uint64_t end)
{
	if (s->n_alerted == s->cap_alerted) {
		uint32_t c = s->cap_alerted ? s->cap_alerted * 2 : 4;
		uint32_t *n = realloc(s->alerted, c * sizeof(*n));
		if (!n) {
			/* Without room to remember it the rule could fire again;
			 * stop the side rather than repeat alerts. */
			t->ctr.state_full++;
			s->dead = 1;
			return;
		}
		s->alerted = n;
		s->cap_alerted = c;
	}
	s->alerted[s->n_alerted++] = rule;
	t->ctr.alerts++;
	if (t->fn && t->fn(t->ctx, &t->e->rs->rule[rule], end))
		s->dead = 1;
}

static void verify(struct ids_thread *t, struct ids_side *s, unsigned id, unsigned long long to)
{
	const struct ids_engine *e = t->e;
	const struct eitem *it = &e->item[id];
	const struct erule *er = &e->rule[it->rule];
	t->ctr.candidates++;
	if (s->dead || !hdr_bit(s, er->hdr) || (er->established && !s->established) || alerted(s, it->rule))
		return;
	if (it->anchored && s->base > 0) {
		t->ctr.anchored_after_gap++;
		return;
	}
	uint64_t end = s->base + to;
	uint64_t start = end - it->len; /* pcre: len 0, start unknown and unused */
	if (!it->relative) {
		if (start < it->offset || (it->has_depth && end > (uint64_t)it->offset + it->depth))
			return;
	} else {
		struct ist *p = ist_find(s, id - 1);
		if (!p || !p->n || start < (uint64_t)it->distance)
			return;
		uint64_t hi = start - (uint64_t)it->distance;
		if (!it->has_within) {
			if (p->first > hi)
				return;
		} else {
			uint64_t span = (uint64_t)it->distance + it->within;
			if (!ist_within(t, p, end > span ? end - span : 0, hi))
				return;
		}
	}
	if (er->n == 1) {
		fire(t, s, it->rule, end);
		return;
	}
	struct ist *x = ist_get(t, s, id);
	if (!x)
		return;
	ist_add(x, end);
	if (!it->chain_last)
		return;
	for (uint32_t i = er->first; i < er->first + er->n; i++) {
		if (!e->item[i].chain_last || i == id)
			continue;
		const struct ist *c = ist_find(s, i);
		if (!c || !c->n)
			return;
	}
	fire(t, s, it->rule, end);
}

static int by_end(const void *a, const void *b)
{
	const struct mrec *x = a, *y = b;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static void flush(struct ids_thread *t)
{
	if (t->n_m > 1)
		qsort(t->m, t->n_m, sizeof(*t->m), by_end);
	for (unsigned i = 0; i < t->n_m; i++)
		verify(t, t->s, t->m[i].id, t->m[i].to);
	t->n_m = 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *c)
{
	struct ids_thread *t = c;
	(void)from;
	(void)flags;
	if (t->n_m == t->cap_m) {
		struct mrec *n = t->cap_m < MATCH_BUF_MAX ? realloc(t->m, 2 * t->cap_m * sizeof(*n)) : NULL;
		if (n) {
			t->m = n;
			t->cap_m *= 2;
		} else {
			/* Verify what we have: later matches of this chunk may then
			 * come out of order (counted). */
			t->ctr.match_overflow++;
			flush(t);
		}
	}
	t->m[t->n_m++] = (struct mrec){to, id};
	return 0;
}

struct ids_side *ids_side_open(const struct ids_engine *e, struct ids_thread *t, enum ids_dir d,
                               const struct ids_tuple *tu, int established)
{
	const struct ids_rules *rs = e->rs;
	if (!e->db[d]) {
		t->ctr.sides_skipped++;
		return NULL;
	}
	struct ids_side *s = calloc(1, sizeof(*s) + e->hdr_words * sizeof(uint64_t));
	if (!s) {
		t->ctr.hs_errors++;
		return NULL;
	}
	int any = 0;
	for (unsigned k = 0; k < e->n_hdr_used[d]; k++) {
		uint32_t h = e->hdr_used[d][k];
		if (ids_header_match(&rs->hdr[h], tu->v6, tu->src, tu->sport, tu->dst, tu->dport)) {
			s->hdr[h / 64] |= 1ull << (h % 64);
			any = 1;
		}
	}
	if (!any) {
		free(s);
		t->ctr.sides_skipped++;
		return NULL;
	}
	if (hs_open_stream(e->db[d], 0, &s->hs) != HS_SUCCESS) {
		free(s);
		t->ctr.hs_errors++;
		return NULL;
	}
	s->dir = (uint8_t)d;
	s->established = (uint8_t) !!established;
	t->ctr.sides++;
	return s;
}

void ids_side_set_established(struct ids_side *s)
{
	s->established = 1;
}

int ids_side_established(const struct ids_side *s)
{
	return s->established;
}

uint64_t ids_side_pos(const struct ids_side *s)
{
	return s->pos;
}

int ids_side_scan(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, const uint8_t *data, size_t len,
                  ids_alert_fn fn, void *ctx)
{
	if (s->dead)
		return 1;
	t->e = e;
	t->s = s;
	t->fn = fn;
	t->ctx = ctx;
	t->n_m = 0;
	while (len) {
		/* hs_scan_stream takes an unsigned int length. */
		unsigned n = len > (1u << 30) ? 1u << 30 : (unsigned)len;
		if (hs_scan_stream(s->hs, (const char *)data, n, 0, t->scratch, on_match, t) != HS_SUCCESS)
			t->ctr.hs_errors++;
		flush(t);
		s->pos += n;
		t->ctr.bytes += n;
		data += n;
		len -= n;
	}
	return s->dead;
}

void ids_side_gap(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, uint64_t n)
{
	(void)e;
	t->ctr.gaps++;
	t->ctr.gap_bytes += n;
	/* No match may join the bytes before and after the hole; nothing is
	 * reported for the "end" of the part before it. */
	if (hs_reset_stream(s->hs, 0, t->scratch, NULL, NULL) != HS_SUCCESS)
		t->ctr.hs_errors++;
	s->pos += n;
	s->base = s->pos;
}

void ids_side_close(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, ids_alert_fn fn, void *ctx)
{
	if (!s)
		return;
	if (s->dead || !fn) {
		hs_close_stream(s->hs, t->scratch, NULL, NULL);
	} else {
		t->e = e;
		t->s = s;
		t->fn = fn;
		t->ctx = ctx;
		t->n_m = 0;
		if (hs_close_stream(s->hs, t->scratch, on_match, t) != HS_SUCCESS)
			t->ctr.hs_errors++;
		flush(t);
	}
	free(s->alerted);
	free(s->ist);
	free(s);
}
