/* The stage interface: a stage type is a name, counters and four functions;
 * a stage instance is one copy of it with its own rings, counters and private
 * state, run by exactly one lcore. See DESIGN.md §2.
 */
#ifndef MP_STAGE_TYPES_H
#define MP_STAGE_TYPES_H

#include <stdint.h>
#include <rte_common.h>

struct rte_ring;
struct rte_mbuf;
struct mp_pipeline;
struct mp_stage_inst;

/* Pipeline order. Rings join consecutive stages, plus events -> tx (the bypass
 * for packets that carry no subscribed event). */
enum mp_stage_id {
	MP_ST_RX = 0,
	MP_ST_CLASSIFY,
	MP_ST_TCPSM,
	MP_ST_EVENTS,
	MP_ST_APP,
	MP_ST_TX,
	MP_ST_N,
};

#define MP_MAX_INST 16              /* instances of one stage */
#define MP_MAX_LCORES 64            /* lcores in one mapping */
#define MP_MAX_OUT 2                /* downstream stages of one stage (events: app, tx) */
#define MP_MAX_IN (2 * MP_MAX_INST) /* tx is fed by events and app */
#define MP_HOLD 256                 /* control mbufs held back per output slot */

struct mp_ctr_desc {
	const char *name;
	const char *help;
	uint8_t is_drop; /* a drop reason: counts packets freed here */
};

/* Common counter ids (runtime/common_counters.def). A stage's own counters
 * start at MP_CC_N. */
enum mp_common_ctr {
#define MP_CTR(id, name, help) MP_CC_##id,
#define MP_DROP(id, name, help) MP_CC_##id,
#include "common_counters.def"
#undef MP_CTR
#undef MP_DROP
	MP_CC_N,
};

struct mp_stage_type {
	const char *name;
	enum mp_stage_id id;
	const struct mp_ctr_desc *ctrs; /* the stage's own counters */
	unsigned n_ctrs;
	/* Called once per instance on the main thread before any lcore starts.
	 * @return 0, or -errno after printing what is wrong. May be NULL. */
	int (*init)(struct mp_stage_inst *si);
	/* Moves at most one burst. @return the number of packets handled. */
	unsigned (*poll)(struct mp_stage_inst *si);
	/* Called once upstream is finished and the input rings are empty: flush
	 * what the instance still holds. @return 0 when nothing is left, 1 to be
	 * called again (an output ring was full). May be NULL. */
	int (*drain)(struct mp_stage_inst *si);
	/* Frees the instance's private state after every lcore stopped. May be NULL. */
	void (*fini)(struct mp_stage_inst *si);
};

struct mp_out {
	unsigned n;                      /* instances of the downstream stage */
	struct rte_ring *r[MP_MAX_INST]; /* r[i] feeds downstream instance i */
};

struct mp_stage_inst {
	const struct mp_stage_type *type;
	struct mp_pipeline *pl;
	unsigned idx; /* instance number within its stage */
	/* Copy of [pipeline] fanout == index: every packet goes to downstream
	 * instance idx % n instead of hash % n (replicated pipelines). Zero
	 * (by hash) in an instance built without a pipeline, e.g. unit tests. */
	unsigned fanout_index;
	unsigned lcore; /* lcore that runs it */
	unsigned n_in;
	unsigned in_next; /* round-robin position over in[] */
	struct rte_ring *in[MP_MAX_IN];
	struct mp_out out[MP_MAX_OUT];
	uint64_t *ctr; /* MP_CC_N + type->n_ctrs counters, single writer */
	void *priv;    /* the stage's own per-instance state */
	/* Set (release) once the instance has drained and will send nothing more;
	 * read (acquire) by downstream instances deciding whether they may finish. */
	int done;
	int draining;
	/* Control mbufs (CONN_END, timers) a full ring refused: never dropped
	 * while there is room here, retried before anything else is sent. */
	unsigned n_hold[MP_MAX_OUT];
	struct rte_mbuf *hold[MP_MAX_OUT][MP_HOLD];
} __rte_cache_aligned;

#endif
