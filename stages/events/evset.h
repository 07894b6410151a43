/* The event-set core: user-defined events and event sets shared between flows
 * (DESIGN.md §4).
 *
 * Registry. mtcp_define_event() and mtcp_alloc_event() land in a global
 * struct evs_registry: each UDE or child event gets the next free bit above
 * the built-ins. Identical UDE definitions (same base, filter and filter_arg
 * contents) get the same bit; children are always new.
 *
 * Sets. An event set is a set of registrations <event, hook, side, handler>,
 * at most one handler per (event, hook, side). Its id is the XOR of a 64-bit
 * hash of each registration, so the id of the set with one registration added,
 * removed or replaced is known in O(1) from the current id; XOR makes the id
 * independent of the order registrations were made in. Sets are interned in a
 * hash table by id (content compared, so id collisions are harmless) and
 * reference-counted by the flows and sockets that use them. A flow that
 * (un)registers something moves to the set with the new id, creating it only
 * if no flow had that combination yet (copy-on-write); its old set loses a
 * reference and is freed, or handed to a deferral hook, at zero. Memory grows
 * with the number of distinct combinations, never with the number of flows.
 *
 * Programs and order. Each set is compiled once, at creation, into one
 * program per (hook, side, built-in event): the nodes to walk when that
 * built-in fires, in this order (mOS order):
 *   1. built-in events in ascending bit order (PKT_IN, CONN_START, NEW_DATA,
 *      ERROR, TIMEOUT, STATE_CHANGE, ORPHAN, REXMIT, CONN_END);
 *   2. for each event: its handler first, then the UDEs whose base it is, in
 *      definition order, depth-first: a UDE's filter runs once; if true, its
 *      handler runs and then its own UDEs, else its whole subtree is skipped;
 *   3. after an event's UDEs come its child events (mtcp_alloc_event), in
 *      allocation order; a child is taken iff mtcp_raise_event() raised it
 *      earlier in the same walk (typically from the parent's filter, even if
 *      that filter returned false), then its handler and subtree follow.
 * Only subtrees that lead to a registered handler are compiled in, so a UDE
 * nobody listens to costs nothing. A set holds one handler per (event, hook,
 * side), so there is no order among handlers of one set; with several
 * sockets on a flow, the caller walks their sets in socket creation order.
 * Each set also keeps, per hook and side, the mask of built-in bits whose
 * program is not empty: `md->ev[h] & evs_set_mask(s, h, side)` decides with
 * one AND whether a packet needs the app stage.
 *
 * Concurrency. A struct evs belongs to one app instance and is changed by
 * that lcore only (no locks). Sets are immutable once interned apart from
 * their refcount, so another lcore (the events stage) may read masks and
 * programs of a set it reached through a flow, provided frees are deferred
 * past its read sections: give evs_conf.defer_free (e.g. call_rcu) and call
 * evs_set_free() after the grace period.
 */
#ifndef MP_EVSET_H
#define MP_EVSET_H

#include "evset-types.h"

/* ---- registry ---------------------------------------------------------- */

/** Empty a registry (no UDEs). */
void evs_registry_init(struct evs_registry *r);

/**
 * Define a UDE (mtcp_define_event()).
 *
 * @param base
 *   One known event bit: built-in, UDE or child.
 * @param filter
 *   Not NULL.
 * @param arg
 *   Copied; NULL for none.
 * @return
 *   The UDE's bit (an existing one for an identical definition), or 0 with
 *   errno = EINVAL (bad base or filter) or ENOSPC (no bit left).
 */
event_t evs_define(struct evs_registry *r, event_t base, filter_t filter, const filter_arg_t *arg);

/**
 * Allocate a child event (mtcp_alloc_event()): no filter, taken only when
 * raised with evs_raise().
 *
 * @return
 *   The child's bit, or 0 with errno = EINVAL (parent unknown) or ENOSPC.
 */
event_t evs_alloc_child(struct evs_registry *r, event_t parent);

/**
 * Kind of an event word: a single known bit gives its enum evs_kind, any
 * other value EVS_K_NONE. Safe from any lcore (acquire on `known`).
 */
int evs_event_kind(const struct evs_registry *r, event_t ev);

/**
 * Map a mOS hook value (MOS_HK_SND, MOS_HK_RCV, MOS_NULL) to enum evs_hook.
 *
 * @return
 *   The index, or -1 for anything else.
 */
static inline int evs_hook_idx(int hook_point)
{
	if (hook_point == MOS_HK_SND)
		return EVS_HK_SND;
	if (hook_point == MOS_HK_RCV)
		return EVS_HK_RCV;
	if (hook_point == MOS_NULL)
		return EVS_HK_NULL;
	return -1;
}

/* ---- tables of sets ------------------------------------------------------ */

/**
 * Create a table of sets, holding the empty set (id 0).
 *
 * @return
 *   The table, or NULL with errno = EINVAL (conf or conf->reg NULL) or ENOMEM.
 */
struct evs *evs_create(const struct evs_conf *conf);

/**
 * Free a table and every set still interned in it, referenced or not. Sets
 * handed to defer_free and not yet freed are the caller's (free them with
 * evs_set_free() first, e.g. after rcu_barrier()).
 */
void evs_destroy(struct evs *e);

/** The empty set, borrowed: take a reference with evs_set_get() to keep it. */
static inline struct evs_set *evs_empty(const struct evs *e)
{
	return e->empty;
}

/** Take a reference on a set. @return s. */
static inline struct evs_set *evs_set_get(struct evs_set *s)
{
	s->ref++;
	return s;
}

/**
 * Drop a reference. At zero the set leaves the table and is freed, or handed
 * to conf.defer_free. The empty set is pinned by the table and never freed
 * before evs_destroy().
 */
void evs_set_put(struct evs *e, struct evs_set *s);

/** Free a set handed to conf.defer_free, once no reader can see it. */
void evs_set_free(struct evs *e, struct evs_set *s);

/**
 * Change a registration of the set *slot refers to (copy-on-write): *slot, a
 * reference the caller holds, moves to the set that has the same
 * registrations except that (ev, hook_point, side) now maps to cb (NULL:
 * removed). That set is found in the table, or created and compiled. Other
 * users of the old set are not affected. On error *slot is unchanged.
 *
 * @param e
 *   The table.
 * @param slot
 *   In: the current set (referenced). Out: the new set (referenced).
 * @param ev
 *   One or more known event bits; each is changed.
 * @param hook_point
 *   MOS_HK_SND, MOS_HK_RCV or MOS_NULL (side is then ignored).
 * @param side
 *   MOS_SIDE_CLI, MOS_SIDE_SVR or MOS_SIDE_BOTH (both registrations).
 * @param cb
 *   The handler; replaces one already registered for the same key.
 * @return
 *   0 on success (also when nothing changed), -EINVAL (bad event, hook or
 *   side), -ENOSPC (max_sets reached) or -ENOMEM.
 */
int evs_set_change(struct evs *e, struct evs_set **slot, event_t ev, int hook_point, int side, callback_t cb);

/**
 * The handler a set holds for one event bit, hook and side (MOS values).
 *
 * @return
 *   The handler, or NULL if none (or bad arguments).
 */
callback_t evs_set_lookup(const struct evs_set *s, event_t ev, int hook_point, int side);

/**
 * Hash of one registration, as XORed into set ids (MOS hook and side values,
 * ev one bit). Exposed for tests and for callers precomputing ids.
 */
uint64_t evs_reg_hash(const struct evs *e, event_t ev, int hook_point, int side, callback_t cb);

/** Id of a set: XOR of the hashes of its registrations; 0 for the empty set. */
static inline uint64_t evs_set_id(const struct evs_set *s)
{
	return s->id;
}

/** Built-in bits that need the app stage at hook h (enum evs_hook) for side. */
static inline uint32_t evs_set_mask(const struct evs_set *s, unsigned h, unsigned side)
{
	return s->mask[h][side];
}

/** Same, for either side. */
static inline uint32_t evs_set_mask_any(const struct evs_set *s, unsigned h)
{
	return s->mask[h][0] | s->mask[h][1];
}

/**
 * Walk a set's programs for the built-in bits that fired at hook h (enum
 * evs_hook) on side: filters and callbacks run in the order described at the
 * top of this file, with d->mctx and d->sock. d->raised is cleared first.
 * The caller must keep the set alive for the walk (a callback may move the
 * flow to another set): hold a reference or defer frees.
 *
 * @return
 *   The number of callbacks called (also added to d->n_cbs).
 */
unsigned evs_run(const struct evs_set *s, unsigned h, unsigned side, uint64_t bits, struct evs_dispatch *d);

/**
 * Raise a child event in a running walk (mtcp_raise_event()).
 *
 * @return
 *   0, or -EINVAL when ev is not a child event of r.
 */
int evs_raise(const struct evs_registry *r, struct evs_dispatch *d, event_t ev);

/** Copy the table's statistics. */
void evs_stats_get(const struct evs *e, struct evs_stats *st);

#endif
