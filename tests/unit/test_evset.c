/* Unit tests of the event-set core (stages/events/evset.*): UDE registry
 * (dedup, nesting, exhaustion), the XOR id algebra, copy-on-write between
 * flows, reference counts and deferred frees, the order programs run in, the
 * per-hook masks, and a 100,000-flow scaling run. No EAL needed. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evset.h"

/* ---- helpers -------------------------------------------------------------- */

static struct evs_registry reg;

static struct evs *mk(evs_defer_fn defer, void *arg)
{
	struct evs_conf c = {.reg = &reg, .defer_free = defer, .defer_arg = arg};
	struct evs *e = evs_create(&c);
	ck_assert_ptr_nonnull(e);
	return e;
}

static struct evs_stats stats(const struct evs *e)
{
	struct evs_stats st;
	evs_stats_get(e, &st);
	return st;
}

/* The log of calls made by a walk, as short tags. */
static char trace[512];

static void log_tag(const char *t)
{
	strcat(trace, t);
	strcat(trace, " ");
}

#define CB(name)                                                                                                       \
	static void name(mctx_t m, int sock, int side, event_t ev, filter_arg_t *a)                                    \
	{                                                                                                              \
		(void)m, (void)sock, (void)side, (void)ev, (void)a;                                                    \
		log_tag(#name);                                                                                        \
	}
CB(cb_a)
CB(cb_b)
CB(cb_c)
CB(cb_pkt)
CB(cb_start)
CB(cb_end)
CB(cb_u1)
CB(cb_u3)
CB(cb_u4)
CB(cb_kid)
CB(cb_orphan)

static event_t ev_kid; /* raised by f2 */
static struct evs_dispatch *cur_d;
static int last_side;
static event_t last_ev;
static filter_arg_t *last_arg;
static void *last_argval; /* last_arg points into the walk's frame: read it there */

static bool f_true(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)ev, (void)a;
	return true;
}

static bool f1(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s;
	last_side = side;
	last_ev = ev;
	last_arg = a;
	last_argval = a ? a->arg : NULL;
	log_tag("f1");
	return true;
}

static bool f2(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)ev, (void)a;
	log_tag("f2");
	ck_assert_int_eq(evs_raise(&reg, cur_d, ev_kid), 0);
	return false; /* still raised its child */
}

static bool f3(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)ev, (void)a;
	log_tag("f3");
	return true;
}

static bool f4(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)ev, (void)a;
	log_tag("f4");
	return true;
}

static bool f5(mctx_t m, int s, int side, event_t ev, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)ev, (void)a;
	log_tag("f5");
	return true;
}

/* ---- registry ---------------------------------------------------------- */

START_TEST(ude_dedup_and_nesting)
{
	evs_registry_init(&reg);
	int x = 1, y = 1;
	filter_arg_t ax = {&x, sizeof(x)}, ax2 = {&x, sizeof(x)}, ay = {&y, sizeof(y)};

	event_t u1 = evs_define(&reg, MOS_ON_PKT_IN, f_true, NULL);
	ck_assert_uint_eq(u1, UINT64_C(1) << EVS_N_BUILTIN); /* first bit above the built-ins */
	ck_assert_uint_eq(evs_define(&reg, MOS_ON_PKT_IN, f_true, NULL), u1);

	event_t u2 = evs_define(&reg, MOS_ON_PKT_IN, f_true, &ax);
	ck_assert_uint_ne(u2, u1);
	ck_assert_uint_eq(evs_define(&reg, MOS_ON_PKT_IN, f_true, &ax2), u2); /* same contents */
	ck_assert_uint_ne(evs_define(&reg, MOS_ON_PKT_IN, f_true, &ay), u2);
	ck_assert_uint_ne(evs_define(&reg, MOS_ON_CONN_START, f_true, NULL), u1); /* other base */
	ck_assert_uint_ne(evs_define(&reg, MOS_ON_PKT_IN, f1, NULL), u1);         /* other filter */

	/* Nesting: a UDE on a UDE on a UDE. */
	event_t n1 = evs_define(&reg, u1, f_true, NULL);
	event_t n2 = evs_define(&reg, n1, f_true, NULL);
	ck_assert_uint_ne(n1, 0);
	ck_assert_uint_ne(n2, 0);
	ck_assert_uint_eq(evs_define(&reg, n1, f_true, NULL), n2);
	ck_assert_int_eq(reg.ev[__builtin_ctzll(n2)].base, n1);
	ck_assert_int_eq(evs_event_kind(&reg, n2), EVS_K_UDE);
	ck_assert_int_eq(evs_event_kind(&reg, MOS_ON_CONN_END), EVS_K_BUILTIN);
	ck_assert_int_eq(evs_event_kind(&reg, u1 | n1), EVS_K_NONE);

	/* Children are never deduplicated. */
	event_t k1 = evs_alloc_child(&reg, n2), k2 = evs_alloc_child(&reg, n2);
	ck_assert_uint_ne(k1, 0);
	ck_assert_uint_ne(k1, k2);
	ck_assert_int_eq(evs_event_kind(&reg, k1), EVS_K_CHILD);

	errno = 0;
	ck_assert_uint_eq(evs_define(&reg, UINT64_C(1) << 40, f_true, NULL), 0); /* unknown base */
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_uint_eq(evs_define(&reg, MOS_ON_PKT_IN, NULL, NULL), 0);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(evs_alloc_child(&reg, 0), 0);
}
END_TEST

START_TEST(ude_exhaustion_skips_hook_bits)
{
	evs_registry_init(&reg);
	event_t all = 0;
	int n = 0;
	for (;;) {
		event_t c = evs_alloc_child(&reg, MOS_ON_PKT_IN);
		if (!c)
			break;
		ck_assert_uint_eq(all & c, 0);
		all |= c;
		n++;
	}
	ck_assert_int_eq(errno, ENOSPC);
	ck_assert_int_eq(n, EVS_MAX_UDE);
	ck_assert_uint_eq(all & ((uint64_t)MOS_NULL | (uint64_t)MOS_HK_RCV | (UINT64_C(1) << 31)), 0);
	ck_assert_uint_eq(all & EVS_BUILTIN_MASK, 0);
	ck_assert_uint_eq(evs_define(&reg, MOS_ON_PKT_IN, f_true, NULL), 0);
	ck_assert_int_eq(errno, ENOSPC);
}
END_TEST

/* ---- id algebra and copy-on-write --------------------------------------- */

START_TEST(xor_id_algebra)
{
	evs_registry_init(&reg);
	event_t u = evs_define(&reg, MOS_ON_CONN_NEW_DATA, f_true, NULL);
	struct evs *e = mk(NULL, NULL);
	uint64_t h1 = evs_reg_hash(e, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI, cb_a);
	uint64_t h2 = evs_reg_hash(e, u, MOS_HK_RCV, MOS_SIDE_SVR, cb_b);
	uint64_t h2c = evs_reg_hash(e, u, MOS_HK_RCV, MOS_SIDE_SVR, cb_c);
	ck_assert_uint_ne(h1, h2);
	ck_assert_uint_ne(h2, h2c);

	struct evs_set *a = evs_set_get(evs_empty(e)), *b = evs_set_get(evs_empty(e));
	ck_assert_uint_eq(evs_set_id(a), 0);

	/* A: r1 then r2. B: r2 then r1. Same set, same id. */
	ck_assert_int_eq(evs_set_change(e, &a, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_uint_eq(evs_set_id(a), h1);
	ck_assert_int_eq(evs_set_change(e, &a, u, MOS_HK_RCV, MOS_SIDE_SVR, cb_b), 0);
	ck_assert_uint_eq(evs_set_id(a), h1 ^ h2);
	ck_assert_int_eq(evs_set_change(e, &b, u, MOS_HK_RCV, MOS_SIDE_SVR, cb_b), 0);
	ck_assert_int_eq(evs_set_change(e, &b, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(a->ref, 2);

	/* Add then remove gives back the original set, not a copy. */
	struct evs_set *orig = a;
	ck_assert_int_eq(evs_set_change(e, &a, MOS_ON_REXMIT, MOS_HK_RCV, MOS_SIDE_BOTH, cb_c), 0);
	ck_assert_ptr_ne(a, orig);
	ck_assert_int_eq(evs_set_change(e, &a, MOS_ON_REXMIT, MOS_HK_RCV, MOS_SIDE_BOTH, NULL), 0);
	ck_assert_ptr_eq(a, orig);
	ck_assert_uint_eq(evs_set_id(a), h1 ^ h2);

	/* Replacing a handler: one term out, one in. */
	ck_assert_int_eq(evs_set_change(e, &a, u, MOS_HK_RCV, MOS_SIDE_SVR, cb_c), 0);
	ck_assert_uint_eq(evs_set_id(a), h1 ^ h2c);
	ck_assert_ptr_eq(evs_set_lookup(a, u, MOS_HK_RCV, MOS_SIDE_SVR), cb_c);

	/* BOTH is CLI + SVR; several bits are several registrations. */
	struct evs_set *x = evs_set_get(evs_empty(e)), *y = evs_set_get(evs_empty(e));
	ck_assert_int_eq(evs_set_change(e, &x, MOS_ON_PKT_IN | MOS_ON_CONN_END, MOS_HK_SND, MOS_SIDE_BOTH, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_CONN_END, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_CONN_END, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_ptr_eq(x, y);
	ck_assert_uint_eq(x->n_regs, 4);

	/* Removing everything lands on the empty set. */
	ck_assert_int_eq(evs_set_change(e, &x, MOS_ON_PKT_IN | MOS_ON_CONN_END, MOS_HK_SND, MOS_SIDE_BOTH, NULL), 0);
	ck_assert_ptr_eq(x, evs_empty(e));

	/* No-ops change nothing and count nothing. */
	uint64_t changes = stats(e).changes;
	ck_assert_int_eq(evs_set_change(e, &x, MOS_ON_ERROR, MOS_HK_RCV, MOS_SIDE_CLI, NULL), 0);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_uint_eq(stats(e).changes, changes);

	/* Bad arguments leave the slot alone. */
	struct evs_set *keep = y;
	ck_assert_int_eq(evs_set_change(e, &y, UINT64_C(1) << 50, MOS_HK_SND, MOS_SIDE_CLI, cb_a), -EINVAL);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_PKT_IN, 12345, MOS_SIDE_CLI, cb_a), -EINVAL);
	ck_assert_int_eq(evs_set_change(e, &y, MOS_ON_PKT_IN, MOS_HK_SND, 3, cb_a), -EINVAL);
	ck_assert_int_eq(evs_set_change(e, &y, 0, MOS_HK_SND, MOS_SIDE_CLI, cb_a), -EINVAL);
	ck_assert_ptr_eq(y, keep);

	evs_set_put(e, a);
	evs_set_put(e, b);
	evs_set_put(e, x);
	evs_set_put(e, y);
	ck_assert_uint_eq(stats(e).sets_alive, 1);
	evs_destroy(e);
}
END_TEST

START_TEST(copy_on_write)
{
	evs_registry_init(&reg);
	struct evs *e = mk(NULL, NULL);
	/* The passive socket's set: what every new flow starts with. */
	struct evs_set *passive = evs_set_get(evs_empty(e));
	ck_assert_int_eq(evs_set_change(e, &passive, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI, cb_start), 0);
	struct evs_set *fa = evs_set_get(passive), *fb = evs_set_get(passive);
	ck_assert_uint_eq(passive->ref, 3);

	ck_assert_int_eq(evs_set_change(e, &fa, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_ptr_ne(fa, passive);
	ck_assert_ptr_eq(fb, passive);
	ck_assert_uint_eq(passive->ref, 2);
	ck_assert_ptr_null(evs_set_lookup(fb, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, MOS_SIDE_SVR));
	ck_assert_ptr_eq(evs_set_lookup(fa, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, MOS_SIDE_SVR), cb_a);
	ck_assert_ptr_eq(evs_set_lookup(fa, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI), cb_start);
	ck_assert_uint_eq(evs_set_mask(fb, EVS_HK_RCV, MOS_SIDE_SVR), 0);
	ck_assert_uint_eq(evs_set_mask(fa, EVS_HK_RCV, MOS_SIDE_SVR), MOS_ON_CONN_NEW_DATA);

	/* A flow removing an inherited registration does not touch the others. */
	ck_assert_int_eq(evs_set_change(e, &fb, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI, NULL), 0);
	ck_assert_ptr_eq(fb, evs_empty(e));
	ck_assert_ptr_eq(evs_set_lookup(passive, MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI), cb_start);

	/* The passive socket changing later affects new flows only. */
	ck_assert_int_eq(evs_set_change(e, &passive, MOS_ON_CONN_END, MOS_HK_RCV, MOS_SIDE_BOTH, cb_end), 0);
	ck_assert_ptr_null(evs_set_lookup(fa, MOS_ON_CONN_END, MOS_HK_RCV, MOS_SIDE_CLI));

	evs_set_put(e, fa);
	evs_set_put(e, fb);
	evs_set_put(e, passive);
	ck_assert_uint_eq(stats(e).sets_alive, 1);
	evs_destroy(e);
}
END_TEST

/* ---- refcounts and frees ------------------------------------------------ */

static struct evs_set *deferred[16];
static int n_deferred;

static void defer_hook(struct evs *e, struct evs_set *s, void *arg)
{
	(void)e;
	ck_assert_ptr_eq(arg, &n_deferred);
	deferred[n_deferred++] = s;
}

START_TEST(refcount_and_frees)
{
	evs_registry_init(&reg);
	struct evs *e = mk(NULL, NULL);
	struct evs_stats st0 = stats(e);
	ck_assert_uint_eq(st0.sets_alive, 1);
	ck_assert_uint_gt(st0.bytes, 0);

	struct evs_set *f[3];
	for (int i = 0; i < 3; i++) {
		f[i] = evs_set_get(evs_empty(e));
		ck_assert_int_eq(evs_set_change(e, &f[i], MOS_ON_REXMIT, MOS_HK_RCV, MOS_SIDE_CLI, cb_a), 0);
	}
	ck_assert_ptr_eq(f[0], f[2]);
	ck_assert_uint_eq(f[0]->ref, 3);
	ck_assert_uint_eq(stats(e).sets_alive, 2);
	ck_assert_uint_eq(stats(e).created, st0.created + 1);
	ck_assert_uint_eq(stats(e).hits, 2);
	ck_assert_uint_gt(stats(e).bytes, st0.bytes);
	evs_set_put(e, f[0]);
	evs_set_put(e, f[1]);
	ck_assert_uint_eq(stats(e).sets_alive, 2);
	evs_set_put(e, f[2]);
	ck_assert_uint_eq(stats(e).sets_alive, 1);
	ck_assert_uint_eq(stats(e).freed, 1);
	ck_assert_uint_eq(stats(e).bytes, st0.bytes);
	/* The empty set survives any number of flows leaving it. */
	struct evs_set *g = evs_set_get(evs_empty(e));
	evs_set_put(e, g);
	ck_assert_uint_eq(evs_empty(e)->ref, 1);
	evs_destroy(e);

	/* Deferred: the set leaves the table at once but stays readable until
	 * the caller frees it (ASan checks the "readable"). */
	n_deferred = 0;
	e = mk(defer_hook, &n_deferred);
	struct evs_set *d = evs_set_get(evs_empty(e));
	ck_assert_int_eq(evs_set_change(e, &d, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	struct evs_set *old = d;
	ck_assert_int_eq(evs_set_change(e, &d, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_SVR, cb_b), 0);
	ck_assert_int_eq(n_deferred, 1);
	ck_assert_ptr_eq(deferred[0], old);
	ck_assert_uint_eq(stats(e).sets_deferred, 1);
	ck_assert_uint_eq(stats(e).sets_alive, 2);
	ck_assert_uint_eq(evs_set_mask(old, EVS_HK_SND, MOS_SIDE_SVR), MOS_ON_PKT_IN);
	/* The same combination again is a new set: the old one is gone. */
	ck_assert_int_eq(evs_set_change(e, &d, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_ptr_ne(d, old);
	ck_assert_int_eq(n_deferred, 2);
	evs_set_free(e, deferred[0]);
	evs_set_free(e, deferred[1]);
	ck_assert_uint_eq(stats(e).sets_deferred, 0);
	evs_set_put(e, d);
	ck_assert_int_eq(n_deferred, 3);
	evs_set_free(e, deferred[2]);
	ck_assert_uint_eq(stats(e).sets_alive, 1);
	evs_destroy(e);
}
END_TEST

START_TEST(max_sets_refused)
{
	evs_registry_init(&reg);
	struct evs_conf c = {.reg = &reg, .max_sets = 2};
	struct evs *e = evs_create(&c);
	struct evs_set *a = evs_set_get(evs_empty(e)), *b = evs_set_get(evs_empty(e));
	ck_assert_int_eq(evs_set_change(e, &a, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &b, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_CLI, cb_b), -ENOSPC);
	ck_assert_ptr_eq(b, evs_empty(e));
	ck_assert_uint_eq(stats(e).refused, 1);
	/* An existing combination needs no new set: still allowed. */
	ck_assert_int_eq(evs_set_change(e, &b, MOS_ON_PKT_IN, MOS_HK_SND, MOS_SIDE_CLI, cb_a), 0);
	ck_assert_ptr_eq(a, b);
	evs_set_put(e, a);
	evs_set_put(e, b);
	evs_destroy(e);
}
END_TEST

/* ---- programs: order and masks ------------------------------------------- */

START_TEST(dependency_tree_order)
{
	evs_registry_init(&reg);
	int argv_ = 7;
	filter_arg_t a1 = {&argv_, sizeof(argv_)};
	event_t u1 = evs_define(&reg, MOS_ON_PKT_IN, f1, &a1);
	event_t u2 = evs_define(&reg, MOS_ON_PKT_IN, f2, NULL);
	event_t u3 = evs_define(&reg, u1, f3, NULL);
	event_t u4 = evs_define(&reg, u2, f4, NULL);
	ev_kid = evs_alloc_child(&reg, u2);
	event_t u5 = evs_define(&reg, MOS_ON_PKT_IN, f5, NULL); /* nobody listens */
	ck_assert_uint_ne(u5, 0);

	struct evs *e = mk(NULL, NULL);
	struct evs_set *s = evs_set_get(evs_empty(e));
	/* Registered in an order unrelated to the dispatch order. */
	ck_assert_int_eq(evs_set_change(e, &s, MOS_ON_CONN_END, MOS_HK_RCV, MOS_SIDE_CLI, cb_end), 0);
	ck_assert_int_eq(evs_set_change(e, &s, ev_kid, MOS_HK_RCV, MOS_SIDE_CLI, cb_kid), 0);
	ck_assert_int_eq(evs_set_change(e, &s, u4, MOS_HK_RCV, MOS_SIDE_CLI, cb_u4), 0);
	ck_assert_int_eq(evs_set_change(e, &s, u3, MOS_HK_RCV, MOS_SIDE_CLI, cb_u3), 0);
	ck_assert_int_eq(evs_set_change(e, &s, u1, MOS_HK_RCV, MOS_SIDE_CLI, cb_u1), 0);
	ck_assert_int_eq(evs_set_change(e, &s, MOS_ON_CONN_START, MOS_HK_RCV, MOS_SIDE_CLI, cb_start), 0);
	ck_assert_int_eq(evs_set_change(e, &s, MOS_ON_PKT_IN, MOS_HK_RCV, MOS_SIDE_CLI, cb_pkt), 0);

	struct evs_dispatch d = {.sock = 5};
	cur_d = &d;
	trace[0] = 0;
	unsigned n = evs_run(s, EVS_HK_RCV, MOS_SIDE_CLI, MOS_ON_CONN_END | MOS_ON_PKT_IN | MOS_ON_CONN_START, &d);
	ck_assert_str_eq(trace, "cb_pkt f1 cb_u1 f3 cb_u3 f2 cb_kid cb_start cb_end ");
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(d.n_filters, 3); /* f1 f3 f2; f4 skipped, f5 not compiled in */
	ck_assert_uint_eq(last_side, MOS_SIDE_CLI);
	ck_assert_uint_eq(last_ev, u1);
	ck_assert_ptr_nonnull(last_arg);
	ck_assert_ptr_eq(last_argval, &argv_);
	ck_assert_ptr_ne(last_arg, &a1); /* a copy, not the caller's struct */

	/* Other hook or side: nothing. Unsubscribed bits: nothing. */
	trace[0] = 0;
	ck_assert_uint_eq(evs_run(s, EVS_HK_SND, MOS_SIDE_CLI, MOS_ON_PKT_IN, &d), 0);
	ck_assert_uint_eq(evs_run(s, EVS_HK_RCV, MOS_SIDE_SVR, MOS_ON_PKT_IN, &d), 0);
	ck_assert_uint_eq(evs_run(s, EVS_HK_RCV, MOS_SIDE_CLI, MOS_ON_REXMIT | MOS_ON_ERROR, &d), 0);
	ck_assert_str_eq(trace, "");

	/* A child not raised is not taken; raising a non-child fails. */
	ck_assert_int_eq(evs_raise(&reg, &d, u1), -EINVAL);
	ck_assert_int_eq(evs_raise(&reg, &d, MOS_ON_PKT_IN), -EINVAL);

	evs_set_put(e, s);
	evs_destroy(e);
}
END_TEST

START_TEST(masks)
{
	evs_registry_init(&reg);
	event_t u1 = evs_define(&reg, MOS_ON_CONN_NEW_DATA, f_true, NULL);
	event_t u2 = evs_define(&reg, u1, f_true, NULL);
	struct evs *e = mk(NULL, NULL);
	struct evs_set *s = evs_set_get(evs_empty(e));
	for (unsigned h = 0; h < EVS_HK_N; h++)
		ck_assert_uint_eq(evs_set_mask_any(s, h), 0);

	ck_assert_int_eq(evs_set_change(e, &s, u2, MOS_HK_SND, MOS_SIDE_SVR, cb_a), 0);
	ck_assert_int_eq(evs_set_change(e, &s, MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV, MOS_SIDE_BOTH, cb_b), 0);
	ck_assert_int_eq(evs_set_change(e, &s, MOS_ON_ORPHAN, MOS_NULL, MOS_SIDE_SVR, cb_orphan), 0);
	/* A nested UDE makes its root built-in matter. */
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_SND, MOS_SIDE_SVR), MOS_ON_CONN_NEW_DATA);
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_SND, MOS_SIDE_CLI), 0);
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_RCV, MOS_SIDE_CLI), MOS_ON_TCP_STATE_CHANGE);
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_RCV, MOS_SIDE_SVR), MOS_ON_TCP_STATE_CHANGE);
	/* MOS_NULL has one side. */
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_NULL, 0), MOS_ON_ORPHAN);
	ck_assert_uint_eq(evs_set_mask(s, EVS_HK_NULL, 1), 0);
	ck_assert_ptr_eq(evs_set_lookup(s, MOS_ON_ORPHAN, MOS_NULL, MOS_SIDE_CLI), cb_orphan);

	/* The mask is exactly "does evs_run call anything" for single bits. */
	struct evs_dispatch d = {0};
	for (unsigned h = 0; h < EVS_HK_N; h++)
		for (unsigned sd = 0; sd < EVS_SIDES; sd++)
			for (unsigned b = 0; b < EVS_N_BUILTIN; b++) {
				unsigned calls = evs_run(s, h, sd, UINT64_C(1) << b, &d);
				ck_assert_uint_eq(calls > 0, (evs_set_mask(s, h, sd) >> b) & 1);
			}

	/* Removing the leaf prunes the whole branch. */
	ck_assert_int_eq(evs_set_change(e, &s, u2, MOS_HK_SND, MOS_SIDE_SVR, NULL), 0);
	ck_assert_uint_eq(evs_set_mask_any(s, EVS_HK_SND), 0);
	evs_set_put(e, s);
	evs_destroy(e);
}
END_TEST

/* ---- scaling -------------------------------------------------------------- */

#define N_FLOWS 100000
#define N_KEYS 4
#define N_STEPS 1000000

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

START_TEST(scaling_100k_flows)
{
	evs_registry_init(&reg);
	event_t u = evs_define(&reg, MOS_ON_CONN_NEW_DATA, f_true, NULL);
	const struct {
		event_t ev;
		int hook, side;
	} key[N_KEYS] = {
	    {MOS_ON_CONN_START, MOS_HK_SND, MOS_SIDE_CLI},
	    {MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, MOS_SIDE_SVR},
	    {u, MOS_HK_RCV, MOS_SIDE_CLI},
	    {MOS_ON_CONN_END, MOS_HK_RCV, MOS_SIDE_CLI},
	};
	const callback_t cbs[3] = {NULL, cb_a, cb_b};
	const unsigned combos = 3 * 3 * 3 * 3; /* a handler or none per key */

	struct evs *e = mk(NULL, NULL);
	uint64_t base_bytes = stats(e).bytes;
	struct evs_set *passive = evs_set_get(evs_empty(e));
	ck_assert_int_eq(evs_set_change(e, &passive, key[0].ev, key[0].hook, key[0].side, cb_a), 0);

	struct evs_set **flow = malloc(N_FLOWS * sizeof(*flow));
	uint8_t(*model)[N_KEYS] = calloc(N_FLOWS, sizeof(*model));
	ck_assert_ptr_nonnull(flow);
	ck_assert_ptr_nonnull(model);
	for (unsigned i = 0; i < N_FLOWS; i++) {
		flow[i] = evs_set_get(passive);
		model[i][0] = 1;
	}
	uint64_t max_alive = 0;
	for (unsigned step = 0; step < N_STEPS; step++) {
		unsigned i = (unsigned)(rnd() % N_FLOWS);
		uint64_t r = rnd();
		if (r % 64 == 0) { /* the flow ends, a new one starts from the passive set */
			evs_set_put(e, flow[i]);
			flow[i] = evs_set_get(passive);
			memset(model[i], 0, N_KEYS);
			model[i][0] = 1;
			continue;
		}
		unsigned k = (unsigned)(r >> 8) % N_KEYS, c = (unsigned)(r >> 16) % 3;
		ck_assert_int_eq(evs_set_change(e, &flow[i], key[k].ev, key[k].hook, key[k].side, cbs[c]), 0);
		model[i][k] = (uint8_t)c;
		uint64_t alive = stats(e).sets_alive;
		if (alive > max_alive)
			max_alive = alive;
		ck_assert_uint_le(alive, combos);
		if (step % 100000 == 0) {
			struct evs_stats st = stats(e);
			printf("evset scaling: step %7u: %u flows, %llu sets alive, %llu bytes (%.2f bytes/flow)\n",
			       step, N_FLOWS, (unsigned long long)st.sets_alive, (unsigned long long)st.bytes,
			       (double)st.bytes / N_FLOWS);
		}
	}

	/* Every flow's set is exactly its own registrations, with the XOR id. */
	for (unsigned i = 0; i < N_FLOWS; i++) {
		uint64_t id = 0;
		for (unsigned k = 0; k < N_KEYS; k++) {
			callback_t want = cbs[model[i][k]];
			ck_assert_ptr_eq(evs_set_lookup(flow[i], key[k].ev, key[k].hook, key[k].side), want);
			if (want)
				id ^= evs_reg_hash(e, key[k].ev, key[k].hook, key[k].side, want);
		}
		ck_assert_uint_eq(evs_set_id(flow[i]), id);
	}
	/* References add up: every flow, the passive socket, the table's pin. */
	uint64_t refs = 0, nsets = 0;
	for (uint32_t b = 0; b < e->n_buckets; b++)
		for (struct evs_set *s = e->bucket[b]; s; s = s->next) {
			refs += s->ref;
			nsets++;
		}
	ck_assert_uint_eq(refs, N_FLOWS + 2);
	struct evs_stats st = stats(e);
	ck_assert_uint_eq(nsets, st.sets_alive);
	printf("evset scaling: %u flows, %u steps: %llu sets alive (max %llu, bound %u), %llu bytes, "
	       "%llu created, %llu freed, %llu hits of %llu changes\n",
	       N_FLOWS, N_STEPS, (unsigned long long)st.sets_alive, (unsigned long long)max_alive, combos,
	       (unsigned long long)st.bytes, (unsigned long long)st.created, (unsigned long long)st.freed,
	       (unsigned long long)st.hits, (unsigned long long)st.changes);
	ck_assert_uint_lt(st.bytes, 64 * 1024); /* independent of the flow count */

	for (unsigned i = 0; i < N_FLOWS; i++)
		evs_set_put(e, flow[i]);
	evs_set_put(e, passive);
	st = stats(e);
	ck_assert_uint_eq(st.sets_alive, 1);
	/* Back to the table, its buckets (they may have grown) and the empty set. */
	ck_assert_uint_ge(st.bytes, base_bytes);
	ck_assert_uint_eq(st.bytes, sizeof(*e) + e->n_buckets * sizeof(*e->bucket) + evs_empty(e)->bytes);
	ck_assert_uint_eq(st.created - st.freed, 1);
	free(flow);
	free(model);
	evs_destroy(e);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("evset");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, ude_dedup_and_nesting);
	tcase_add_test(tc, ude_exhaustion_skips_hook_bits);
	tcase_add_test(tc, xor_id_algebra);
	tcase_add_test(tc, copy_on_write);
	tcase_add_test(tc, refcount_and_frees);
	tcase_add_test(tc, max_sets_refused);
	tcase_add_test(tc, dependency_tree_order);
	tcase_add_test(tc, masks);
	tcase_add_test(tc, scaling_100k_flows);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
