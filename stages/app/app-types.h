/* Types of the mOS API implementation: the process-wide API state, app
 * contexts, one runtime block per app stage instance, monitor sockets, and
 * the per-flow state the events and app stages keep for every flow some
 * socket follows.
 *
 * Ownership (who writes what, DESIGN.md §3):
 *  - struct mp_api, contexts, passive sockets: written at setup on the main
 *    thread before packets flow; read-only on the datapath afterwards.
 *  - struct mp_appi: one per app stage instance; its event-set table, the
 *    sets of the passive sockets and the "current callback" fields belong to
 *    the lcore running that instance. Several instances may serve one context
 *    (instance j serves context j % num_cores): each has its own table.
 *  - struct mp_flowapp: taken from the free ring by the events instance
 *    owning the flow (first packet), which fills `follow`, `mask` and `appi`;
 *    from then on written only by the owning app instance, except `inflight`
 *    (events increments, app decrements: atomics) and `mask` (app writes,
 *    events reads: relaxed atomics, see events.c).
 */
#ifndef MP_APP_TYPES_H
#define MP_APP_TYPES_H

#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>

#include "mos_api.h"
#include "mtcp_api.h"
#include "evset-types.h"
#include "stage-types.h"

struct rte_mbuf;
struct rte_ring;
struct mp_bpf;
struct mp_meta;
struct mp_pipeline;
struct mp_conf;
struct mp_stage_inst;

#define MP_API_MAX_PASSIVE 32   /* passive + raw sockets per context */
#define MP_API_FOLLOW 4         /* passive stream sockets that may follow one flow */
#define MP_API_SOCK_ACTIVE 1024 /* active socket ids start here */
#define MP_API_MAX_TIMERS 4096  /* pending mtcp_settimer timers per app instance */
#define MP_API_MAX_PREG 256     /* registrations recorded per passive socket */
#define MP_API_MAX_INJECT 64    /* packets injected per dispatched packet */
#define MP_API_STALE 1024       /* replaced passive sets kept until teardown */

enum mp_sock_kind { MP_SK_FREE = 0, MP_SK_STREAM, MP_SK_RAW };

/* One registration made on a passive socket at setup, replayed into each app
 * instance's event-set table when packets start flowing. */
struct mp_preg {
	event_t ev;
	int hook; /* mOS hook value after mapping (mapped_hook() in api.c) */
	callback_t cb;
};

struct mp_psock {     /* a passive or raw socket (mtcp_socket) */
	uint8_t kind; /* enum mp_sock_kind */
	uint8_t closed;
	struct mp_bpf *syn_filter, *orphan_filter, *raw_filter;
	void *uctx;
	int bufsz[2];   /* MOS_CLIBUF/SVRBUF for new flows: -1 = conf default */
	int overlap[2]; /* MOS_CLIOVERLAP/SVROVERLAP for new flows: -1 = conf */
	unsigned n_reg;
	struct mp_preg reg[MP_API_MAX_PREG];
};

/* One socket following one flow (mOS's per-flow "active" socket). */
struct mp_fsock {
	uint8_t psock;   /* passive socket index in the context */
	uint8_t stopped; /* bit s: MOS_STOP_MON for side s */
	uint8_t closed;  /* mtcp_close on the active socket */
	uint8_t pad_;
	struct evs_set *set; /* this flow's registrations (copy-on-write) */
	void *uctx;
};

struct mp_flowapp {
	void *flow;       /* tcpsm's flow */
	uint32_t idx;     /* index in the table: socket ids derive from it */
	uint16_t appi;    /* owning app instance */
	uint8_t n;        /* sockets in s[] (0 until attached) */
	uint8_t attached; /* app took its references on the passive sets */
	uint8_t dirty;    /* a callback changed sets or stop bits: new mask */
	uint8_t pad_[3];
	uint32_t follow; /* passive socket indexes following it (events) */
	/* Built-in bits wanted at [hook SND/RCV][side]: 0 everywhere means
	 * the flow's packets may bypass the app stage. */
	uint32_t mask[2][2];
	/* Packets sent to the app stage and not yet done there: while non-zero
	 * the flow may not bypass (per-flow order, DESIGN.md §1). */
	uint32_t inflight;
	uint32_t want_size[2]; /* pending buffer resize (MOS_CLIBUF/SVRBUF) */
	struct mp_fsock s[MP_API_FOLLOW];
};

struct mp_timer {
	uint64_t when_ns; /* packet time */
	int id;
	callback_t cb;
	struct mp_ctx *ctx;
};

/* The public struct mtcp_context is the first member, so mctx_t converts. */
struct mp_ctx {
	struct mtcp_context pub;
	unsigned idx;
	int alive;
	int joined;        /* mtcp_app_join() was called for it */
	pthread_t creator; /* thread that called mtcp_create_context() */
	unsigned n_psock;
	struct mp_psock psock[MP_API_MAX_PASSIVE];
};

/* Runtime of one app stage instance. */
struct mp_appi {
	unsigned idx;
	struct mp_stage_inst *si;
	struct mp_ctx *ctx;
	struct evs *evs;
	/* Sets of the context's passive sockets in this instance's table. The
	 * events stage reads their masks (pointer loaded with acquire); a set
	 * replaced from a callback is kept in stale[] until teardown so that
	 * such a read never sees freed memory. */
	struct evs_set *pset[MP_API_MAX_PASSIVE];
	unsigned n_stale;
	struct evs_set *stale[MP_API_STALE];
	/* What a callback is running for (valid while in_cb). */
	int in_cb;
	struct rte_mbuf *cur_m;
	struct mp_meta *cur_md;
	struct mp_flowapp *cur_fa;
	int cur_slot;
	int cur_hook; /* MP_HOOK_SND/RCV, or 2 for MOS_NULL */
	int cur_side;
	struct evs_dispatch *cur_d;
	uint64_t now_ns; /* latest packet time seen by this instance */
	unsigned n_timers;
	struct mp_timer timer[MP_API_MAX_TIMERS];
	unsigned n_inject;
	struct rte_mbuf *inject[MP_API_MAX_INJECT];
	uint8_t pktcopy[65536]; /* linear copy of a multi-segment packet */
};

struct mp_api {
	int inited, started, done;
	struct mp_conf *conf;
	struct mp_pipeline *pl;
	struct mtcp_conf mconf;
	int ctx_created;
	unsigned setup_gen; /* contexts created or joined so far (api_lock) */
	unsigned n_ctx;
	struct mp_ctx *ctx[MP_MAX_INST];
	unsigned n_appi;
	struct mp_appi *appi[MP_MAX_INST];
	/* Flowapp table: socket ids are MP_API_SOCK_ACTIVE + idx * FOLLOW + slot. */
	uint32_t n_fa;
	struct mp_flowapp *fa;
	struct rte_ring *fa_free; /* free entries, multi-producer/consumer */
	struct mp_flowapp none;   /* f->app of flows no socket follows */
	int any_raw, any_orphan;  /* some raw socket / orphan registration */
	int any_stream;           /* some stream socket: flows need events */
	int batch_newdata;        /* MOSPIPE_NEWDATA_BATCH=1: one NEW_DATA per flow, side, burst */
	mtcp_sighandler_t sig[65];
};

/* The API state (api.c); NULL-free: fields are zero before mtcp_init. */
extern struct mp_api mp_api_g;
/* The UDE registry (global, mtcp_define_event has no context). */
extern struct evs_registry mp_api_reg;
/* The app instance the calling lcore runs (NULL elsewhere). */
extern __thread struct mp_appi *mp_api_tl;

#endif
