/* The stage interface: a stage type is an id (hence a name, from
 * MP_STAGE_LIST), counters and four functions; a stage instance is one copy
 * of it with its own rings, counters and private state, run by exactly one
 * lcore. See DESIGN.md §2 and runtime/README.md ("The stage contract").
 */
#ifndef MP_STAGE_TYPES_H
#define MP_STAGE_TYPES_H

#include <stdint.h>
#include <stdio.h>
#include <rte_common.h>

struct rte_ring;
struct rte_mbuf;
struct mp_pipeline;
struct mp_stage_inst;

/* The stages, in pipeline order: the one list of their ids, names and types.
 * X(ID, name) gives the id MP_ST_<ID>, the name "name" (pipeline.conf's
 * [lcores], reports, telemetry: mp_stage_names[]) and the type object
 * mp_stage_<name> its folder stages/<name>/ defines. Rings join consecutive
 * stages, plus events -> tx (the bypass for packets that carry no subscribed
 * event), plus one feedback edge tx -> tcpsm (flows' control mbufs handed
 * back to their owner): the topology is runtime/pipeline.c's downstream[]
 * and feedback[], and nothing else moves an mbuf between stages. */
#define MP_STAGE_LIST(X) X(RX, rx) X(CLASSIFY, classify) X(TCPSM, tcpsm) X(EVENTS, events) X(APP, app) X(TX, tx)

enum mp_stage_id {
#define MP_ST_ID_(ID, name) MP_ST_##ID,
	MP_STAGE_LIST(MP_ST_ID_)
#undef MP_ST_ID_
	    MP_ST_N,
};

#define MP_MAX_INST 16              /* instances of one stage */
#define MP_MAX_LCORES 64            /* lcores in one mapping */
#define MP_MAX_OUT 2                /* downstream stages of one stage (events: app, tx) */
#define MP_MAX_IN (2 * MP_MAX_INST) /* tx is fed by events and app */
#define MP_HOLD 256                 /* control mbufs held back per output slot */

/* What a counter means to the pipeline's totals (runtime/report.c): the
 * conservation law rx + injected = tx + sum(drops) + in flight is summed by
 * kind, never by name. */
enum mp_ctr_kind {
	MP_CK_PLAIN = 0, /* reported, in no total */
	MP_CK_DROP,      /* a drop reason: packets freed here on purpose */
	MP_CK_OUT,       /* packets that left the pipeline (tx: sent, released) */
	MP_CK_IN_BYTES,  /* frame bytes received (rx) */
	MP_CK_INJECTED,  /* packets made inside the pipeline (rebuilt datagrams, mtcp_sendpkt) */
	MP_CK_MALFORMED, /* classify: a malformed-packet class, also a parser reason code; not a drop */
	MP_CK_MISSED,    /* frames a port saw that never entered the pipeline (frames seen = rx + missed) */
};

struct mp_ctr_desc {
	const char *name;
	const char *help;
	uint8_t kind; /* enum mp_ctr_kind */
};

/* Common counter ids (runtime/common_counters.def), MP_CC_<ID>: every
 * instance has them, first. A stage's own counters start at MP_CC_N. */
#define MP_CTR_STAGE mp_common
#define MP_CTR_PREFIX MP_CC_
#define MP_CTR_FIRST 0
#define MP_CTR_DEF "common_counters.def"
#define MP_CTR_ENUM_ONLY
#include "counters-gen.h"

struct cds_lfht_node;
struct mp_conn_snap;

/* The pipeline services a stage type uses (pipeline-types.h, "services"):
 * mp_pipeline_create makes each service some stage type asks for before
 * any init, and every instance reaches it through si->pl. A service is
 * owned by the runtime, not by the stage that asked for it. */
struct mp_stage_svc {
	/* The RCU connection table (runtime/conntable.h): the stage publishes
	 * its connections there; how a reader copies one and matches a key
	 * (mp_conn_snap_fn, mp_conn_match_fn). NULL: it publishes none. */
	void (*conn_snap)(const struct cds_lfht_node *node, struct mp_conn_snap *out);
	int (*conn_match)(const struct cds_lfht_node *node, const void *key);
	/* The record log ([output] flow_log, runtime/reclog.h): fixed-size
	 * records of log_rec_size bytes the stage pushes from its lcore, turned
	 * into text lines by log_format on the log's writer thread. 0: none. */
	unsigned log_rec_size;
	int (*log_format)(const void *rec, char *line, unsigned len);
};

struct mp_stage_type {
	enum mp_stage_id id;            /* its name is mp_stage_names[id] */
	const struct mp_ctr_desc *ctrs; /* the stage's own counters */
	unsigned n_ctrs;
	const struct mp_stage_svc *svc; /* pipeline services it uses, or NULL */
	/* Called once per instance on the main thread before any lcore starts.
	 * @return 0, or -errno after printing what is wrong. May be NULL. */
	int (*init)(struct mp_stage_inst *si);
	/* Moves at most one burst. @return the number of packets handled.
	 * A stage with no upstream (rx) has no rings that tell the runtime its
	 * input ended: once its input has ended, or it was told to stop
	 * (pl->stop), its poll calls mp_stage_input_ended(si) (stage.h) and
	 * from then on the runtime treats the instance as finished (the
	 * shutdown protocol, runtime/README.md). */
	unsigned (*poll)(struct mp_stage_inst *si);
	/* Called once upstream is finished and the input rings are empty: flush
	 * what the instance still holds. @return 0 when nothing is left, 1 to be
	 * called again (an output ring was full). May be NULL. */
	int (*drain)(struct mp_stage_inst *si);
	/* Frees the instance's private state after every lcore stopped; an
	 * instance with feedback input first takes what is still in it (what
	 * came back after it finished). May be NULL. */
	void (*fini)(struct mp_stage_inst *si);
	/* Writes the instance's own keys into its object of the counters JSON,
	 * each preceded by ", " (main thread, after the lcores stopped, before
	 * fini). May be NULL. */
	void (*report_json)(const struct mp_stage_inst *si, FILE *f);
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
	/* The runtime's (pipeline.c), never written by a stage: `done` is set
	 * (release) once the instance has drained and will send nothing more,
	 * read (acquire) by downstream instances deciding whether they may
	 * finish; `draining` once it is finished (its upstream is done and its
	 * rings are empty, or it called mp_stage_input_ended). */
	int done;
	int draining;
	/* The feedback edge (pipeline.c's feedback[]), wired like the others;
	 * after the fields every poll touches. fb.r[j] feeds instance j of the
	 * stage this one hands back to (tx: tcpsm), fb_in[] are the rings from
	 * every instance of the stage that hands back to this one. Not part of
	 * the shutdown order: an instance finishes without waiting for its
	 * feedback input (mp_fb_send). */
	struct mp_out fb;
	unsigned n_fb_in;
	unsigned fb_next; /* round-robin position over fb_in[] */
	struct rte_ring *fb_in[MP_MAX_INST];
	/* Control mbufs (CONN_END, timers) a full ring refused: never dropped
	 * while there is room here, retried before anything else is sent. */
	unsigned n_hold[MP_MAX_OUT];
	struct rte_mbuf *hold[MP_MAX_OUT][MP_HOLD];
} __rte_cache_aligned;

#endif
