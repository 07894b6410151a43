/* Types of the event-set core (evset.h): the registry of user-defined events
 * and the shared, interned event sets with their compiled dependency trees.
 * Plain C over plain memory, no EAL, so that it is tested on its own.
 */
#ifndef MP_EVSET_TYPES_H
#define MP_EVSET_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "mos_api.h"

/* Built-in events are bits 0 .. EVS_N_BUILTIN - 1 of an event_t (mOS values,
 * MOS_ON_PKT_IN .. MOS_ON_DEBUG_MESSAGE). */
#define EVS_N_BUILTIN 12
#define EVS_BUILTIN_MASK ((UINT64_C(1) << EVS_N_BUILTIN) - 1)
/* Bits 29..31 are mOS's hook values: an event never takes them, so that an
 * event and a hook can never be confused (mOS kept them apart the same way). */
#define EVS_HOOK_BITS (UINT64_C(7) << 29)
#define EVS_MAX_EV 64
/* Bits a UDE or child event can get: 64 - 12 - 3. */
#define EVS_MAX_UDE (EVS_MAX_EV - EVS_N_BUILTIN - 3)

/* Hook indices. SND and RCV equal MP_HOOK_SND / MP_HOOK_RCV (meta-types.h),
 * so md->ev[h] indexes the same way. */
enum evs_hook {
	EVS_HK_SND = 0,
	EVS_HK_RCV = 1,
	EVS_HK_NULL = 2, /* raw sockets and orphans: one side only (index 0) */
	EVS_HK_N = 3,
};
#define EVS_SIDES 2

/* Registrations a set can hold: one per event, hook and side. */
#define EVS_MAX_REGS (EVS_MAX_EV * (2 * EVS_SIDES + 1))

enum evs_kind {
	EVS_K_NONE = 0,    /* not an event */
	EVS_K_BUILTIN = 1, /* raised by tcpsm */
	EVS_K_UDE = 2,     /* base event + filter (mtcp_define_event) */
	EVS_K_CHILD = 3,   /* raised by mtcp_raise_event (mtcp_alloc_event) */
};

/* One UDE or child event. Immutable once published. */
struct evs_ude {
	event_t base;    /* parent event (one bit) */
	filter_t filter; /* NULL for children */
	filter_arg_t arg;
	uint8_t kind;    /* EVS_K_UDE or EVS_K_CHILD */
	uint8_t has_arg; /* arg was given (the filter gets &arg, else NULL) */
};

/* The UDE registry: global, as mtcp_define_event() has no context. Entries
 * are indexed by bit number. Append-only: an entry is filled, then its bit is
 * published in `known` with a release store; readers load `known` with
 * acquire and only read entries whose bit they saw, so readers on other
 * lcores need no lock. Writers (define/alloc) must be serialised by the
 * caller (the API layer calls them from the main thread at setup). */
struct evs_registry {
	uint64_t known; /* bits of defined UDEs and children */
	unsigned next;  /* next bit to hand out (skips EVS_HOOK_BITS) */
	struct evs_ude ev[EVS_MAX_EV];
};

/* One registration <event, hook, side, handler>. Sorted in a set by key. */
struct evs_reg {
	callback_t cb;
	uint64_t h;   /* evs_reg_hash() of the registration */
	uint8_t ev;   /* event bit number */
	uint8_t hook; /* enum evs_hook */
	uint8_t side; /* MOS_SIDE_CLI or MOS_SIDE_SVR (0 at EVS_HK_NULL) */
	uint8_t pad_[5];
};

/* One step of a compiled program: "if the condition of event `ev` holds, call
 * cb (if any) and go on into its subtree, else skip `skip` nodes". */
struct evs_node {
	filter_t filter; /* EVS_K_UDE only */
	callback_t cb;   /* NULL when the node only leads to registered descendants */
	filter_arg_t arg;
	event_t ev;
	uint16_t skip; /* this node and its UDE descendants */
	uint8_t kind;  /* enum evs_kind: condition to test */
	uint8_t has_arg;
	uint32_t pad_;
};

/* Number of (hook, side, built-in) programs of a set. */
#define EVS_N_PROG (EVS_HK_N * EVS_SIDES * EVS_N_BUILTIN)

/* An event set: immutable after creation except for `ref` and `next`, which
 * only the owning table's lcore touches. Other lcores (the events stage) may
 * read mask[] and the program while holding no reference, as long as frees
 * are deferred past their read sections (evs_conf.defer_free). */
struct evs_set {
	uint64_t id;          /* XOR of the hashes of regs[] */
	struct evs_set *next; /* hash chain of the owning table */
	uint32_t ref;         /* flows and sockets using the set */
	uint16_t n_regs;
	uint16_t n_nodes;
	size_t bytes; /* size of this allocation */
	/* Built-in bits with at least one handler to reach, per hook and side:
	 * the events stage ANDs a packet's md->ev[h] with it. */
	uint32_t mask[EVS_HK_N][EVS_SIDES];
	/* Program of (hook h, side s, built-in b) is nodes[prog[k] .. prog[k+1])
	 * with k = (h * EVS_SIDES + s) * EVS_N_BUILTIN + b. */
	uint16_t prog[EVS_N_PROG + 1];
	struct evs_reg *regs; /* n_regs entries, after nodes[] */
	struct evs_node nodes[];
};

struct evs;

/* Called instead of freeing a set whose last reference went away; the set is
 * already out of the table. The callee frees it later with evs_set_free(),
 * e.g. from call_rcu() once readers on other lcores are done with it. */
typedef void (*evs_defer_fn)(struct evs *e, struct evs_set *s, void *arg);

struct evs_conf {
	const struct evs_registry *reg; /* UDE registry; required */
	uint32_t max_sets;              /* cap on sets alive + deferred; 0 = 65536 */
	uint64_t seed;                  /* registration hash seed; 0 = fixed default */
	evs_defer_fn defer_free;        /* NULL: free at once */
	void *defer_arg;
};

struct evs_stats {
	uint64_t sets_alive;    /* interned sets (including the empty set) */
	uint64_t sets_deferred; /* unreferenced, waiting for evs_set_free() */
	uint64_t bytes;         /* memory of the table and all its sets */
	uint64_t created;       /* sets compiled */
	uint64_t freed;         /* sets freed */
	uint64_t changes;       /* evs_set_change() calls that changed a set */
	uint64_t hits;          /* ... that found the new set already interned */
	uint64_t collisions;    /* interned sets with the same id, other content */
	uint64_t refused;       /* changes refused (max_sets, no memory) */
};

/* The table of interned sets: one per app instance, used by one lcore. */
struct evs {
	struct evs_conf conf;
	struct evs_set **bucket;
	uint32_t n_buckets; /* power of two */
	struct evs_set *empty;
	struct evs_stats st;
	struct evs_reg scratch[EVS_MAX_REGS];
};

/* State of one walk of a program (evs_run). */
struct evs_dispatch {
	mctx_t mctx; /* passed to filters and callbacks */
	int sock;
	uint64_t raised;    /* child events raised during this walk */
	uint32_t n_filters; /* filters evaluated */
	uint32_t n_cbs;     /* callbacks called */
};

#endif
