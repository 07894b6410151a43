/* IP fragment reassembly after a target host (see ipfrag.h for the model).
 *
 * Layout: datagrams in a fixed array, found through a chained hash keyed per
 * run, kept in creation order (which is expiry order: a datagram's timer is
 * not renewed) on a doubly linked age list. Each datagram has two lists of
 * nodes from one fixed node pool: its packets in arrival order, and its
 * pieces (disjoint byte ranges of the datagram, each taken from one packet)
 * in offset order. Piece endpoints are always endpoints of some fragment, so
 * a datagram of n packets has at most 2n - 1 pieces, and the pool's
 * 3 * max_pkts + max_dgrams + 4 nodes can never run out.
 */
#include <stdlib.h>
#include <string.h>

#include "ipfrag.h"

#define NONE UINT32_MAX

#define F_LAST_IN 0x01u /* a last fragment (no MF) fixed the length */

/* RFC 3168 codepoints as bits, the way Linux's ip_frag_ecn_table indexes
 * them: 1 << (ECN field). */
#define ECN_NOT_ECT 0x01u
#define ECN_CE 0x08u

struct node {
	void *pkt;
	uint32_t start, end; /* piece: datagram bytes [start, end) */
	uint32_t at;         /* piece: where byte `start` is in pkt */
	uint32_t next;
	uint8_t run_head; /* piece, policy LINUX: starts a run */
};

struct dgram {
	uint8_t src[16], dst[16];
	uint32_t id;
	uint8_t v6, proto, flags, ecn;
	uint8_t used;
	uint64_t born_ms;
	uint32_t len;  /* the datagram's data length as far as known (Linux: q.len) */
	uint32_t meat; /* bytes the pieces cover */
	uint32_t n_pkts;
	uint32_t pkts, pkts_tail; /* packets, arrival order */
	uint32_t pieces;          /* pieces, offset order */
	uint32_t tail;            /* LINUX: the piece added last at the top (Linux: fragments_tail) */
	uint32_t hnext;           /* hash chain; free list when unused */
	uint32_t prev, next;      /* age list */
};

struct ipf_tbl {
	struct ipf_params p;
	struct ipf_ops ops;
	struct dgram *dg;
	uint32_t dg_free;
	uint32_t *bucket;
	uint32_t nbucket; /* power of two */
	uint32_t age_head, age_tail;
	struct node *nd;
	uint32_t nd_free;
	uint32_t held, dgrams;
	uint32_t done; /* completed datagram awaiting ipf_done_take/discard, or NONE */
	uint64_t dups, complete;
};

static const char *const reason_names[IPF_R_N] = {
    [IPF_R_TIMEOUT] = "timeout", [IPF_R_OVERLAP] = "overlap", [IPF_R_INVALID] = "invalid",
    [IPF_R_ECN] = "ecn",         [IPF_R_MANY] = "too_many",   [IPF_R_END] = "end",
    [IPF_R_TINY] = "tiny",       [IPF_R_CAP] = "cap",         [IPF_R_EVICTED] = "evicted",
};

const char *ipf_reason_name(unsigned reason)
{
	return reason < IPF_R_N ? reason_names[reason] : "?";
}

/* ---- nodes ---------------------------------------------------------------- */

static uint32_t node_get(struct ipf_tbl *t)
{
	uint32_t i = t->nd_free;
	/* Cannot be NONE: see the pool's size in the file comment. */
	t->nd_free = t->nd[i].next;
	memset(&t->nd[i], 0, sizeof(t->nd[i]));
	t->nd[i].next = NONE;
	return i;
}

static void node_put(struct ipf_tbl *t, uint32_t i)
{
	t->nd[i].pkt = NULL;
	t->nd[i].next = t->nd_free;
	t->nd_free = i;
}

/* ---- datagrams ------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

static uint32_t key_hash(const struct ipf_tbl *t, const struct ipf_frag *f)
{
	unsigned alen = f->v6 ? 16 : 4;
	uint64_t h = t->p.seed, w;
	for (unsigned i = 0; i < alen; i += 4) {
		uint32_t a, b;
		memcpy(&a, f->src + i, 4);
		memcpy(&b, f->dst + i, 4);
		w = (uint64_t)a << 32 | b;
		h = mix(h, w);
	}
	h = mix(h, (uint64_t)f->id << 16 | (uint64_t)(f->v6 ? 0 : f->proto) << 8 | f->v6);
	return (uint32_t)h & (t->nbucket - 1);
}

static int key_eq(const struct dgram *d, const struct ipf_frag *f)
{
	unsigned alen = f->v6 ? 16 : 4;
	return d->v6 == f->v6 && d->id == f->id && (f->v6 || d->proto == f->proto) && !memcmp(d->src, f->src, alen) &&
	       !memcmp(d->dst, f->dst, alen);
}

static void age_unlink(struct ipf_tbl *t, uint32_t i)
{
	struct dgram *d = &t->dg[i];
	if (d->prev != NONE)
		t->dg[d->prev].next = d->next;
	else
		t->age_head = d->next;
	if (d->next != NONE)
		t->dg[d->next].prev = d->prev;
	else
		t->age_tail = d->prev;
}

/* Removes datagram i from the table (its nodes must be gone already). */
static void dg_remove(struct ipf_tbl *t, uint32_t i, uint32_t b)
{
	uint32_t *pp = &t->bucket[b];
	while (*pp != i)
		pp = &t->dg[*pp].hnext;
	*pp = t->dg[i].hnext;
	age_unlink(t, i);
	t->dg[i].used = 0;
	t->dg[i].hnext = t->dg_free;
	t->dg_free = i;
	t->dgrams--;
}

static uint32_t dg_bucket(const struct ipf_tbl *t, const struct dgram *d)
{
	struct ipf_frag k = {.src = d->src, .dst = d->dst, .id = d->id, .v6 = d->v6, .proto = d->v6 ? 0 : d->proto};
	return key_hash(t, &k);
}

/* Gives every packet of datagram i to drop(), frees its nodes and the
 * datagram, then tells fail(). */
static void dg_kill(struct ipf_tbl *t, uint32_t i, unsigned reason, void *ctx)
{
	struct dgram *d = &t->dg[i];
	uint32_t n = d->pieces;
	while (n != NONE) {
		uint32_t next = t->nd[n].next;
		node_put(t, n);
		n = next;
	}
	n = d->pkts;
	while (n != NONE) {
		uint32_t next = t->nd[n].next;
		void *pkt = t->nd[n].pkt;
		node_put(t, n);
		t->held--;
		t->ops.drop(ctx, pkt, reason);
		n = next;
	}
	d->pieces = d->pkts = NONE;
	dg_remove(t, i, dg_bucket(t, d));
	if (t->ops.fail)
		t->ops.fail(ctx, reason);
}

struct ipf_tbl *ipf_create(const struct ipf_params *p, const struct ipf_ops *ops)
{
	if (!p || !ops || !ops->drop || !p->max_dgrams || !p->max_pkts || !p->max_per_dgram || p->policy > IPF_LAST ||
	    p->max_dgrams > (1u << 24) || p->max_pkts > (1u << 24))
		return NULL;
	struct ipf_tbl *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->p = *p;
	t->ops = *ops;
	t->nbucket = 1;
	while (t->nbucket < p->max_dgrams * 2)
		t->nbucket <<= 1;
	uint32_t nn = 3 * p->max_pkts + p->max_dgrams + 4;
	t->dg = calloc(p->max_dgrams, sizeof(*t->dg));
	t->bucket = malloc(t->nbucket * sizeof(*t->bucket));
	t->nd = malloc(nn * sizeof(*t->nd));
	if (!t->dg || !t->bucket || !t->nd) {
		free(t->dg);
		free(t->bucket);
		free(t->nd);
		free(t);
		return NULL;
	}
	for (uint32_t i = 0; i < t->nbucket; i++)
		t->bucket[i] = NONE;
	for (uint32_t i = 0; i < p->max_dgrams; i++)
		t->dg[i].hnext = i + 1 < p->max_dgrams ? i + 1 : NONE;
	for (uint32_t i = 0; i < nn; i++) {
		t->nd[i].pkt = NULL;
		t->nd[i].next = i + 1 < nn ? i + 1 : NONE;
	}
	t->dg_free = 0;
	t->nd_free = 0;
	t->age_head = t->age_tail = NONE;
	t->done = NONE;
	return t;
}

void ipf_flush(struct ipf_tbl *t, void *ctx)
{
	if (t->done != NONE)
		ipf_done_discard(t, IPF_R_END, ctx);
	while (t->age_head != NONE)
		dg_kill(t, t->age_head, IPF_R_END, ctx);
}

void ipf_destroy(struct ipf_tbl *t, void *ctx)
{
	if (!t)
		return;
	ipf_flush(t, ctx);
	free(t->dg);
	free(t->bucket);
	free(t->nd);
	free(t);
}

void ipf_expire(struct ipf_tbl *t, uint64_t now_ms, void *ctx)
{
	while (t->age_head != NONE && now_ms - t->dg[t->age_head].born_ms >= t->p.timeout_ms &&
	       now_ms >= t->dg[t->age_head].born_ms)
		dg_kill(t, t->age_head, IPF_R_TIMEOUT, ctx);
}

void ipf_stats(const struct ipf_tbl *t, struct ipf_stats *out)
{
	out->dups = t->dups;
	out->complete = t->complete;
	out->dgrams = t->dgrams;
	out->held = t->held;
}

/* ---- pieces --------------------------------------------------------------- */

/* A new piece [s, e) of pkt (byte s at `at`), linked after node prev
 * (NONE: first). @return its node. */
static uint32_t piece_add(struct ipf_tbl *t, struct dgram *d, uint32_t prev, void *pkt, uint32_t s, uint32_t e,
                          uint32_t at, int run_head)
{
	uint32_t n = node_get(t);
	struct node *x = &t->nd[n];
	x->pkt = pkt;
	x->start = s;
	x->end = e;
	x->at = at;
	x->run_head = (uint8_t)run_head;
	if (prev == NONE) {
		x->next = d->pieces;
		d->pieces = n;
	} else {
		x->next = t->nd[prev].next;
		t->nd[prev].next = n;
	}
	d->meat += e - s;
	return n;
}

enum { INS_NEW, INS_DUP, INS_OVERLAP };

/* Linux (inet_frag_queue_insert): runs, duplicates ignored, any other
 * overlap fatal. */
static int insert_linux(struct ipf_tbl *t, struct dgram *d, void *pkt, uint32_t s, uint32_t e, uint32_t at)
{
	if (d->pieces == NONE) {
		d->tail = piece_add(t, d, NONE, pkt, s, e, at, 1);
		return INS_NEW;
	}
	struct node *tl = &t->nd[d->tail];
	if (e > tl->end) {
		if (s < tl->end)
			return INS_OVERLAP;
		d->tail = piece_add(t, d, d->tail, pkt, s, e, at, s != tl->end);
		return INS_NEW;
	}
	/* Somewhere below the top: find a run it touches. */
	uint32_t prev = NONE;
	for (uint32_t n = d->pieces; n != NONE;) {
		uint32_t rs = t->nd[n].start, re = t->nd[n].end, last = n;
		for (uint32_t m = t->nd[n].next; m != NONE && !t->nd[m].run_head; m = t->nd[m].next) {
			re = t->nd[m].end;
			last = m;
		}
		if (e <= rs)
			break;
		if (s < re)
			return s >= rs && e <= re ? INS_DUP : INS_OVERLAP;
		prev = last;
		n = t->nd[last].next;
	}
	piece_add(t, d, prev, pkt, s, e, at, 1);
	return INS_NEW;
}

/* FIRST: the new fragment fills only what no piece covers. */
static int insert_first(struct ipf_tbl *t, struct dgram *d, void *pkt, uint32_t s, uint32_t e, uint32_t at)
{
	uint32_t cur = s, prev = NONE;
	int added = 0;
	for (uint32_t n = d->pieces; n != NONE && cur < e; n = t->nd[n].next) {
		struct node *x = &t->nd[n];
		if (x->end <= cur) {
			prev = n;
			continue;
		}
		if (x->start > cur) {
			uint32_t ge = x->start < e ? x->start : e;
			prev = piece_add(t, d, prev, pkt, cur, ge, at + (cur - s), 0);
			added = 1;
		}
		if (x->end > cur)
			cur = x->end;
		prev = n;
	}
	if (cur < e) {
		piece_add(t, d, prev, pkt, cur, e, at + (cur - s), 0);
		added = 1;
	}
	return added ? INS_NEW : INS_DUP;
}

/* Cuts [s, e) out of every piece (LAST and BSD make room for new bytes).
 * @return the piece the new one goes after. */
static uint32_t carve(struct ipf_tbl *t, struct dgram *d, uint32_t s, uint32_t e)
{
	uint32_t prev = NONE, n = d->pieces;
	while (n != NONE) {
		struct node *x = &t->nd[n];
		uint32_t next = x->next;
		if (x->end <= s) {
			prev = n;
		} else if (x->start >= e) {
			break;
		} else if (x->start >= s && x->end <= e) { /* covered: goes */
			d->meat -= x->end - x->start;
			if (prev == NONE)
				d->pieces = next;
			else
				t->nd[prev].next = next;
			node_put(t, n);
		} else if (x->start < s && x->end > e) { /* the new one is inside: split */
			uint32_t tail_at = x->at + (e - x->start), old_end = x->end;
			d->meat -= old_end - s;
			x->end = s;
			piece_add(t, d, n, x->pkt, e, old_end, tail_at, 0);
			prev = n;
			break;
		} else if (x->start < s) { /* its tail goes */
			d->meat -= x->end - s;
			x->end = s;
			prev = n;
		} else { /* its head goes */
			d->meat -= e - x->start;
			x->at += e - x->start;
			x->start = e;
			break;
		}
		n = next;
	}
	return prev;
}

static int insert_last(struct ipf_tbl *t, struct dgram *d, void *pkt, uint32_t s, uint32_t e, uint32_t at)
{
	uint32_t prev = carve(t, d, s, e);
	piece_add(t, d, prev, pkt, s, e, at, 0);
	return INS_NEW;
}

/* FreeBSD's ip_reass: the piece starting at or before the new one keeps its
 * bytes (the new one loses its head, or everything); pieces starting after
 * it lose to it. */
static int insert_bsd(struct ipf_tbl *t, struct dgram *d, void *pkt, uint32_t s, uint32_t e, uint32_t at)
{
	uint32_t p = NONE;
	for (uint32_t n = d->pieces; n != NONE && t->nd[n].start <= s; n = t->nd[n].next)
		p = n;
	if (p != NONE && t->nd[p].end > s) {
		uint32_t i = t->nd[p].end - s;
		if (i >= e - s)
			return INS_DUP;
		s += i;
		at += i;
	}
	return insert_last(t, d, pkt, s, e, at);
}

/* ---- the datagram's rules ------------------------------------------------- */

static uint32_t dg_find(struct ipf_tbl *t, const struct ipf_frag *f, uint32_t b)
{
	for (uint32_t i = t->bucket[b]; i != NONE; i = t->dg[i].hnext)
		if (key_eq(&t->dg[i], f))
			return i;
	return NONE;
}

static uint32_t dg_new(struct ipf_tbl *t, const struct ipf_frag *f, uint32_t b, uint64_t now_ms)
{
	uint32_t i = t->dg_free;
	struct dgram *d = &t->dg[i];
	t->dg_free = d->hnext;
	memset(d, 0, sizeof(*d));
	unsigned alen = f->v6 ? 16 : 4;
	memcpy(d->src, f->src, alen);
	memcpy(d->dst, f->dst, alen);
	d->id = f->id;
	d->v6 = f->v6;
	d->proto = f->v6 ? 0 : f->proto;
	d->used = 1;
	d->born_ms = now_ms;
	d->pkts = d->pkts_tail = d->pieces = d->tail = NONE;
	d->hnext = t->bucket[b];
	t->bucket[b] = i;
	d->next = NONE;
	d->prev = t->age_tail;
	if (t->age_tail != NONE)
		t->dg[t->age_tail].next = i;
	else
		t->age_head = i;
	t->age_tail = i;
	t->dgrams++;
	return i;
}

static void hold(struct ipf_tbl *t, struct dgram *d, void *pkt)
{
	uint32_t n = node_get(t);
	t->nd[n].pkt = pkt;
	if (d->pkts_tail == NONE)
		d->pkts = n;
	else
		t->nd[d->pkts_tail].next = n;
	d->pkts_tail = n;
	d->n_pkts++;
	t->held++;
}

/* The ECN bits of a datagram that cannot be rebuilt (Linux's
 * ip_frag_ecn_table marks them 0xff): Not-ECT mixed with anything else. */
static int ecn_invalid(uint8_t bits)
{
	return (bits & ECN_NOT_ECT) && (bits & ~ECN_NOT_ECT);
}

int ipf_add(struct ipf_tbl *t, const struct ipf_frag *f, uint64_t now_ms, void *ctx)
{
	ipf_expire(t, now_ms, ctx);
	if (f->tiny) {
		t->ops.drop(ctx, f->pkt, IPF_R_TINY);
		return IPF_GONE;
	}
	/* IPv6 pieces a receiver refuses alone (ip6_frag_queue answers a
	 * parameter problem); the parser already flags them malformed. */
	if (f->v6 && ((uint64_t)f->off + f->len > 65535 || (f->mf && (f->len & 7)))) {
		t->ops.drop(ctx, f->pkt, IPF_R_INVALID);
		return IPF_GONE;
	}
	uint32_t b = key_hash(t, f);
	uint32_t i = dg_find(t, f, b);
	/* Over a cap: make room by giving up the oldest datagrams (never the
	 * one this fragment belongs to), or drop the fragment. */
	while (t->p.evict && (t->held >= t->p.max_pkts || (i == NONE && t->dgrams >= t->p.max_dgrams)) &&
	       t->age_head != NONE && t->age_head != i)
		dg_kill(t, t->age_head, IPF_R_EVICTED, ctx);
	if (t->held >= t->p.max_pkts || (i == NONE && t->dgrams >= t->p.max_dgrams)) {
		t->ops.drop(ctx, f->pkt, IPF_R_CAP);
		return IPF_GONE;
	}
	if (i == NONE)
		i = dg_new(t, f, b, now_ms);
	struct dgram *d = &t->dg[i];
	hold(t, d, f->pkt);
	if (d->n_pkts > t->p.max_per_dgram) {
		dg_kill(t, i, IPF_R_MANY, ctx);
		return IPF_GONE;
	}

	/* The length rules (ip_frag_queue / ip6_frag_queue), before the
	 * piece is looked at: a duplicate still has these effects. */
	uint32_t s = f->off, e = f->off + f->len;
	if (!f->mf) {
		if (e < d->len || ((d->flags & F_LAST_IN) && e != d->len)) {
			dg_kill(t, i, IPF_R_INVALID, ctx);
			return IPF_GONE;
		}
		d->flags |= F_LAST_IN;
		d->len = e;
	} else {
		if (!f->v6)
			e &= ~7u; /* Linux trims an IPv4 piece with MF to 8-byte units */
		if (e > d->len) {
			if (d->flags & F_LAST_IN) {
				dg_kill(t, i, IPF_R_INVALID, ctx);
				return IPF_GONE;
			}
			d->len = e;
		}
	}
	if (e <= s) {
		dg_kill(t, i, IPF_R_INVALID, ctx);
		return IPF_GONE;
	}

	int r;
	unsigned pol = t->p.policy;
	if (f->v6 && pol == IPF_BSD)
		pol = IPF_LINUX; /* RFC 5722: BSDs discard overlapping IPv6 fragments too */
	switch (pol) {
	case IPF_FIRST: r = insert_first(t, d, f->pkt, s, e, f->at); break;
	case IPF_LAST: r = insert_last(t, d, f->pkt, s, e, f->at); break;
	case IPF_BSD: r = insert_bsd(t, d, f->pkt, s, e, f->at); break;
	default: r = insert_linux(t, d, f->pkt, s, e, f->at); break;
	}
	if (r == INS_OVERLAP) {
		dg_kill(t, i, IPF_R_OVERLAP, ctx);
		return IPF_GONE;
	}
	if (r == INS_DUP) {
		t->dups++;
		return IPF_DUP;
	}
	d->ecn |= (uint8_t)(1u << (f->ecn & 3));
	if (!(d->flags & F_LAST_IN) || d->meat != d->len || d->pieces == NONE || t->nd[d->pieces].start != 0)
		return IPF_HELD;
	if (ecn_invalid(d->ecn)) {
		dg_kill(t, i, IPF_R_ECN, ctx);
		return IPF_GONE;
	}
	t->done = i;
	return IPF_DONE;
}

/* ---- the completed datagram ----------------------------------------------- */

uint32_t ipf_done_len(const struct ipf_tbl *t)
{
	return t->done == NONE ? 0 : t->dg[t->done].len;
}

int ipf_done_ce(const struct ipf_tbl *t)
{
	return t->done != NONE && (t->dg[t->done].ecn & ECN_CE);
}

void *ipf_done_head(const struct ipf_tbl *t)
{
	return t->done == NONE ? NULL : t->nd[t->dg[t->done].pieces].pkt;
}

int ipf_done_pieces(const struct ipf_tbl *t, int (*fn)(void *ctx, void *pkt, uint32_t at, uint32_t off, uint32_t len),
                    void *ctx)
{
	if (t->done == NONE)
		return 0;
	for (uint32_t n = t->dg[t->done].pieces; n != NONE; n = t->nd[n].next) {
		const struct node *x = &t->nd[n];
		int r = fn(ctx, x->pkt, x->at, x->start, x->end - x->start);
		if (r)
			return r;
	}
	return 0;
}

unsigned ipf_done_take(struct ipf_tbl *t, void (*fn)(void *ctx, void *pkt), void *ctx)
{
	if (t->done == NONE)
		return 0;
	uint32_t i = t->done;
	struct dgram *d = &t->dg[i];
	unsigned k = 0;
	for (uint32_t n = d->pieces; n != NONE;) {
		uint32_t next = t->nd[n].next;
		node_put(t, n);
		n = next;
	}
	for (uint32_t n = d->pkts; n != NONE;) {
		uint32_t next = t->nd[n].next;
		void *pkt = t->nd[n].pkt;
		node_put(t, n);
		t->held--;
		fn(ctx, pkt);
		k++;
		n = next;
	}
	d->pieces = d->pkts = NONE;
	dg_remove(t, i, dg_bucket(t, d));
	t->done = NONE;
	t->complete++;
	return k;
}

void ipf_done_discard(struct ipf_tbl *t, unsigned reason, void *ctx)
{
	if (t->done == NONE)
		return;
	uint32_t i = t->done;
	t->done = NONE;
	dg_kill(t, i, reason, ctx);
}
