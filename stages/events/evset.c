/* The event-set core: UDE registry, interned copy-on-write event sets, their
 * compilation into per-hook programs, and the walk of a program. See evset.h
 * for the model, the order of dispatch and the concurrency contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evset.h"

#define EVS_DEFAULT_MAX_SETS 65536u
#define EVS_DEFAULT_SEED UINT64_C(0x6d6f737069706521)
#define EVS_MIN_BUCKETS 64u

/* ---- registry ---------------------------------------------------------- */

static int bit_of(event_t ev)
{
	return __builtin_ctzll(ev);
}

static int is_one_bit(event_t ev)
{
	return ev != 0 && (ev & (ev - 1)) == 0;
}

void evs_registry_init(struct evs_registry *r)
{
	memset(r, 0, sizeof(*r));
	r->next = EVS_N_BUILTIN;
}

int evs_event_kind(const struct evs_registry *r, event_t ev)
{
	if (!is_one_bit(ev))
		return EVS_K_NONE;
	if (ev & EVS_BUILTIN_MASK)
		return EVS_K_BUILTIN;
	/* Acquire pairs with the release in publish(): an entry is complete
	 * before its bit can be seen. */
	if (!(__atomic_load_n(&r->known, __ATOMIC_ACQUIRE) & ev))
		return EVS_K_NONE;
	return r->ev[bit_of(ev)].kind;
}

static event_t publish(struct evs_registry *r, const struct evs_ude *u)
{
	unsigned b = r->next;
	while (b < EVS_MAX_EV && ((UINT64_C(1) << b) & EVS_HOOK_BITS))
		b++;
	if (b >= EVS_MAX_EV) {
		errno = ENOSPC;
		return 0;
	}
	r->ev[b] = *u;
	r->next = b + 1;
	event_t ev = UINT64_C(1) << b;
	__atomic_store_n(&r->known, r->known | ev, __ATOMIC_RELEASE);
	return ev;
}

event_t evs_define(struct evs_registry *r, event_t base, filter_t filter, const filter_arg_t *arg)
{
	if (filter == NULL || evs_event_kind(r, base) == EVS_K_NONE) {
		errno = EINVAL;
		return 0;
	}
	struct evs_ude u = {.base = base, .filter = filter, .kind = EVS_K_UDE, .has_arg = arg != NULL};
	if (arg)
		u.arg = *arg;
	for (uint64_t k = r->known; k; k &= k - 1) {
		const struct evs_ude *o = &r->ev[bit_of(k)];
		if (o->kind == EVS_K_UDE && o->base == base && o->filter == filter && o->has_arg == u.has_arg &&
		    o->arg.arg == u.arg.arg && o->arg.len == u.arg.len)
			return k & -k;
	}
	return publish(r, &u);
}

event_t evs_alloc_child(struct evs_registry *r, event_t parent)
{
	if (evs_event_kind(r, parent) == EVS_K_NONE) {
		errno = EINVAL;
		return 0;
	}
	struct evs_ude u = {.base = parent, .kind = EVS_K_CHILD};
	return publish(r, &u);
}

int evs_raise(const struct evs_registry *r, struct evs_dispatch *d, event_t ev)
{
	if (evs_event_kind(r, ev) != EVS_K_CHILD)
		return -EINVAL;
	d->raised |= ev;
	return 0;
}

/* ---- registrations ------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	/* splitmix64's finaliser: every input bit moves about half the output
	 * bits, which is what the XOR of several hashes needs to stay unique. */
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

static uint64_t reg_hash(uint64_t seed, unsigned ev, unsigned hook, unsigned side, callback_t cb)
{
	uint64_t key = (uint64_t)ev | (uint64_t)hook << 8 | (uint64_t)side << 16;
	return mix64(mix64(seed ^ key) ^ (uint64_t)(uintptr_t)cb);
}

static uint32_t reg_key(unsigned ev, unsigned hook, unsigned side)
{
	return (uint32_t)ev << 16 | hook << 8 | side;
}

static uint32_t key_of(const struct evs_reg *g)
{
	return reg_key(g->ev, g->hook, g->side);
}

uint64_t evs_reg_hash(const struct evs *e, event_t ev, int hook_point, int side, callback_t cb)
{
	int h = evs_hook_idx(hook_point);
	if (h < 0 || !is_one_bit(ev))
		return 0;
	if (h == EVS_HK_NULL)
		side = 0;
	return reg_hash(e->conf.seed, (unsigned)bit_of(ev), (unsigned)h, (unsigned)side, cb);
}

/* Position of key in the sorted regs, or where it would go (*found = 0). */
static unsigned reg_find(const struct evs_reg *g, unsigned n, uint32_t key, int *found)
{
	unsigned lo = 0, hi = n;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (key_of(&g[mid]) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < n && key_of(&g[lo]) == key;
	return lo;
}

callback_t evs_set_lookup(const struct evs_set *s, event_t ev, int hook_point, int side)
{
	int h = evs_hook_idx(hook_point), found;
	if (h < 0 || !is_one_bit(ev) || side < 0 || side >= EVS_SIDES)
		return NULL;
	if (h == EVS_HK_NULL)
		side = 0;
	unsigned i = reg_find(s->regs, s->n_regs, reg_key((unsigned)bit_of(ev), (unsigned)h, (unsigned)side), &found);
	return found ? s->regs[i].cb : NULL;
}

/* ---- compilation ------------------------------------------------------------ */

struct compiler {
	const struct evs_registry *r;
	uint64_t known;
	callback_t cb[EVS_MAX_EV]; /* of the (hook, side) being compiled */
	uint64_t with_cb;          /* bits with a handler at this (hook, side) */
	uint64_t needed;           /* bits whose subtree reaches a handler */
	uint64_t kids_ude[EVS_MAX_EV];
	uint64_t kids_child[EVS_MAX_EV];
	struct evs_node *out; /* NULL: count only */
	unsigned n;
};

/* Bits are handed out in increasing order and a base always exists before
 * what is defined on it, so a base has a lower bit than its UDEs and one pass
 * from the highest bit down settles `needed` for every subtree. */
static void mark_needed(struct compiler *c)
{
	c->needed = c->with_cb;
	for (int b = EVS_MAX_EV - 1; b >= EVS_N_BUILTIN; b--) {
		event_t ev = UINT64_C(1) << b;
		if ((c->known & ev) && (c->needed & ev))
			c->needed |= c->r->ev[b].base;
	}
}

static void emit(struct compiler *c, unsigned b)
{
	unsigned idx = c->n++;
	if (c->out) {
		struct evs_node *n = &c->out[idx];
		memset(n, 0, sizeof(*n));
		n->ev = UINT64_C(1) << b;
		n->cb = c->cb[b];
		if (b < EVS_N_BUILTIN) {
			n->kind = EVS_K_BUILTIN;
		} else {
			const struct evs_ude *u = &c->r->ev[b];
			n->kind = u->kind;
			n->filter = u->filter;
			n->arg = u->arg;
			n->has_arg = u->has_arg;
		}
	}
	for (uint64_t k = c->kids_ude[b] & c->needed; k; k &= k - 1)
		emit(c, (unsigned)bit_of(k));
	if (c->out)
		c->out[idx].skip = (uint16_t)(c->n - idx);
	/* Children sit after the parent's skip range: a filter that returned
	 * false may still have raised them. */
	for (uint64_t k = c->kids_child[b] & c->needed; k; k &= k - 1)
		emit(c, (unsigned)bit_of(k));
}

/* Lays out every program of a set with regs[]; with s == NULL only counts
 * the nodes. */
static unsigned compile(const struct evs_registry *r, const struct evs_reg *regs, unsigned n_regs, struct evs_set *s)
{
	struct compiler c;
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.known = __atomic_load_n(&r->known, __ATOMIC_ACQUIRE);
	c.out = s ? s->nodes : NULL;
	for (uint64_t k = c.known; k; k &= k - 1) {
		int b = bit_of(k);
		int p = bit_of(r->ev[b].base);
		if (r->ev[b].kind == EVS_K_UDE)
			c.kids_ude[p] |= k & -k;
		else
			c.kids_child[p] |= k & -k;
	}
	for (unsigned h = 0; h < EVS_HK_N; h++) {
		for (unsigned side = 0; side < EVS_SIDES; side++) {
			memset(c.cb, 0, sizeof(c.cb));
			c.with_cb = 0;
			for (unsigned gi = 0; gi < n_regs; gi++) {
				if (regs[gi].hook == h && regs[gi].side == side) {
					c.cb[regs[gi].ev] = regs[gi].cb;
					c.with_cb |= UINT64_C(1) << regs[gi].ev;
				}
			}
			mark_needed(&c);
			for (unsigned b = 0; b < EVS_N_BUILTIN; b++) {
				unsigned k = (h * EVS_SIDES + side) * EVS_N_BUILTIN + b;
				if (s)
					s->prog[k] = (uint16_t)c.n;
				if (c.needed & (UINT64_C(1) << b)) {
					emit(&c, b);
					if (s)
						s->mask[h][side] |= UINT32_C(1) << b;
				}
			}
		}
	}
	if (s)
		s->prog[EVS_N_PROG] = (uint16_t)c.n;
	return c.n;
}

/* ---- tables ------------------------------------------------------------- */

static struct evs_set *set_new(struct evs *e, const struct evs_reg *regs, unsigned n_regs, uint64_t id)
{
	unsigned n_nodes = compile(e->conf.reg, regs, n_regs, NULL);
	size_t bytes = sizeof(struct evs_set) + n_nodes * sizeof(struct evs_node) + n_regs * sizeof(struct evs_reg);
	struct evs_set *s = calloc(1, bytes);
	if (!s)
		return NULL;
	s->id = id;
	s->bytes = bytes;
	s->n_regs = (uint16_t)n_regs;
	s->n_nodes = (uint16_t)n_nodes;
	s->regs = (struct evs_reg *)(void *)&s->nodes[n_nodes];
	if (n_regs)
		memcpy(s->regs, regs, n_regs * sizeof(*regs));
	compile(e->conf.reg, regs, n_regs, s);
	e->st.bytes += bytes;
	e->st.created++;
	return s;
}

static void set_release(struct evs *e, struct evs_set *s)
{
	e->st.bytes -= s->bytes;
	e->st.freed++;
	free(s);
}

static struct evs_set **chain_of(const struct evs *e, uint64_t id)
{
	/* The id is already a well-mixed hash: its low bits index directly. */
	return &e->bucket[id & (e->n_buckets - 1)];
}

static void table_insert(struct evs *e, struct evs_set *s)
{
	struct evs_set **c = chain_of(e, s->id);
	s->next = *c;
	*c = s;
	e->st.sets_alive++;
}

static void table_remove(struct evs *e, struct evs_set *s)
{
	for (struct evs_set **p = chain_of(e, s->id); *p; p = &(*p)->next) {
		if (*p == s) {
			*p = s->next;
			s->next = NULL;
			e->st.sets_alive--;
			return;
		}
	}
}

/* Grows the bucket array so that chains stay short. Failing to grow only
 * costs longer chains, so it is not an error. */
static void table_grow(struct evs *e)
{
	if (e->st.sets_alive < e->n_buckets)
		return;
	uint32_t n = e->n_buckets * 2;
	struct evs_set **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (uint32_t i = 0; i < e->n_buckets; i++) {
		struct evs_set *s = e->bucket[i], *next;
		for (; s; s = next) {
			next = s->next;
			s->next = nb[s->id & (n - 1)];
			nb[s->id & (n - 1)] = s;
		}
	}
	free(e->bucket);
	e->st.bytes += (uint64_t)(n - e->n_buckets) * sizeof(*nb);
	e->bucket = nb;
	e->n_buckets = n;
}

struct evs *evs_create(const struct evs_conf *conf)
{
	if (!conf || !conf->reg) {
		errno = EINVAL;
		return NULL;
	}
	struct evs *e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	e->conf = *conf;
	if (!e->conf.max_sets)
		e->conf.max_sets = EVS_DEFAULT_MAX_SETS;
	if (!e->conf.seed)
		e->conf.seed = EVS_DEFAULT_SEED;
	e->n_buckets = EVS_MIN_BUCKETS;
	e->bucket = calloc(e->n_buckets, sizeof(*e->bucket));
	e->st.bytes = sizeof(*e) + e->n_buckets * sizeof(*e->bucket);
	if (e->bucket)
		e->empty = set_new(e, NULL, 0, 0);
	if (!e->empty) {
		free(e->bucket);
		free(e);
		errno = ENOMEM;
		return NULL;
	}
	e->empty->ref = 1; /* the table's own: the empty set is never freed early */
	table_insert(e, e->empty);
	return e;
}

void evs_destroy(struct evs *e)
{
	if (!e)
		return;
	for (uint32_t i = 0; i < e->n_buckets; i++) {
		struct evs_set *s = e->bucket[i], *next;
		for (; s; s = next) {
			next = s->next;
			free(s);
		}
	}
	free(e->bucket);
	free(e);
}

void evs_set_put(struct evs *e, struct evs_set *s)
{
	if (--s->ref > 0)
		return;
	table_remove(e, s);
	if (e->conf.defer_free) {
		e->st.sets_deferred++;
		e->conf.defer_free(e, s, e->conf.defer_arg);
	} else {
		set_release(e, s);
	}
}

void evs_set_free(struct evs *e, struct evs_set *s)
{
	e->st.sets_deferred--;
	set_release(e, s);
}

static int regs_equal(const struct evs_set *s, const struct evs_reg *g, unsigned n)
{
	if (s->n_regs != n)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (s->regs[i].cb != g[i].cb || key_of(&s->regs[i]) != key_of(&g[i]))
			return 0;
	return 1;
}

/* Applies one (key -> cb) change to the scratch copy, keeping it sorted, and
 * the matching XOR terms to *id. */
static void scratch_apply(struct evs *e, unsigned *n, uint64_t *id, unsigned ev, unsigned hook, unsigned side,
                          callback_t cb)
{
	struct evs_reg *g = e->scratch;
	int found;
	unsigned i = reg_find(g, *n, reg_key(ev, hook, side), &found);
	if (found) {
		if (g[i].cb == cb)
			return;
		*id ^= g[i].h;
		if (cb) {
			g[i].cb = cb;
			g[i].h = reg_hash(e->conf.seed, ev, hook, side, cb);
			*id ^= g[i].h;
		} else {
			memmove(&g[i], &g[i + 1], (*n - i - 1) * sizeof(*g));
			(*n)--;
		}
		return;
	}
	if (!cb)
		return;
	memmove(&g[i + 1], &g[i], (*n - i) * sizeof(*g));
	memset(&g[i], 0, sizeof(*g));
	g[i].cb = cb;
	g[i].ev = (uint8_t)ev;
	g[i].hook = (uint8_t)hook;
	g[i].side = (uint8_t)side;
	g[i].h = reg_hash(e->conf.seed, ev, hook, side, cb);
	*id ^= g[i].h;
	(*n)++;
}

int evs_set_change(struct evs *e, struct evs_set **slot, event_t ev, int hook_point, int side, callback_t cb)
{
	int h = evs_hook_idx(hook_point);
	if (h < 0 || ev == 0 || side < MOS_SIDE_CLI || side > MOS_SIDE_BOTH)
		return -EINVAL;
	for (event_t k = ev; k; k &= k - 1)
		if (evs_event_kind(e->conf.reg, k & -k) == EVS_K_NONE)
			return -EINVAL;

	struct evs_set *cur = *slot;
	unsigned n = cur->n_regs;
	uint64_t id = cur->id;
	memcpy(e->scratch, cur->regs, n * sizeof(*cur->regs));
	unsigned s_lo = side == MOS_SIDE_BOTH ? 0 : (unsigned)side;
	unsigned s_hi = side == MOS_SIDE_BOTH ? 1 : (unsigned)side;
	if (h == EVS_HK_NULL)
		s_lo = s_hi = 0;
	for (event_t k = ev; k; k &= k - 1)
		for (unsigned sd = s_lo; sd <= s_hi; sd++)
			scratch_apply(e, &n, &id, (unsigned)bit_of(k), (unsigned)h, sd, cb);

	if (regs_equal(cur, e->scratch, n))
		return 0;
	e->st.changes++;

	struct evs_set *s = *chain_of(e, id);
	for (; s; s = s->next) {
		if (s->id != id)
			continue;
		if (regs_equal(s, e->scratch, n))
			break;
		e->st.collisions++;
	}
	if (s) {
		e->st.hits++;
	} else {
		if (e->st.sets_alive + e->st.sets_deferred >= e->conf.max_sets) {
			e->st.refused++;
			return -ENOSPC;
		}
		s = set_new(e, e->scratch, n, id);
		if (!s) {
			e->st.refused++;
			return -ENOMEM;
		}
		table_insert(e, s);
		table_grow(e);
	}
	evs_set_get(s);
	*slot = s;
	evs_set_put(e, cur);
	return 0;
}

void evs_stats_get(const struct evs *e, struct evs_stats *st)
{
	*st = e->st;
}

/* ---- dispatch ------------------------------------------------------------- */

unsigned evs_run(const struct evs_set *s, unsigned h, unsigned side, uint64_t bits, struct evs_dispatch *d)
{
	unsigned calls = 0;
	uint32_t todo = (uint32_t)bits & s->mask[h][side];
	/* At MOS_NULL (raw sockets, orphans) no endpoint is concerned: mOS
	 * passes MOS_SIDE_BOTH (its ip_in.c and tcp.c). */
	int cb_side = h == EVS_HK_NULL ? MOS_SIDE_BOTH : (int)side;
	d->raised = 0;
	while (todo) {
		unsigned b = (unsigned)__builtin_ctz(todo);
		todo &= todo - 1;
		unsigned k = (h * EVS_SIDES + side) * EVS_N_BUILTIN + b;
		unsigned i = s->prog[k], end = s->prog[k + 1];
		while (i < end) {
			const struct evs_node *n = &s->nodes[i];
			/* The set is shared and immutable: callees get a copy of
			 * the argument struct, never the set's own. */
			filter_arg_t arg = n->arg;
			filter_arg_t *argp = n->has_arg ? &arg : NULL;
			int take = 1;
			if (n->kind == EVS_K_UDE) {
				d->n_filters++;
				take = n->filter(d->mctx, d->sock, cb_side, n->ev, argp);
			} else if (n->kind == EVS_K_CHILD) {
				take = (d->raised & n->ev) != 0;
			}
			if (!take) {
				i += n->skip;
				continue;
			}
			if (n->cb) {
				arg = n->arg;
				n->cb(d->mctx, d->sock, cb_side, n->ev, argp);
				calls++;
			}
			i++;
		}
	}
	d->n_cbs += calls;
	return calls;
}
