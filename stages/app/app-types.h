/* Types of the mOS API implementation: the API state of a pipeline, app
 * contexts, one runtime block per app stage instance, monitor sockets, and
 * the app's per-flow state for every flow some socket follows.
 *
 * Ownership (who writes what, DESIGN.md §3):
 *  - struct mp_api: allocated by mtcp_init, attached to the pipeline it
 *    creates (pl->app, the parameter the events and app inits read) and
 *    freed by mtcp_destroy. Contexts and passive sockets are written at
 *    setup on the main thread before packets flow; read-only on the
 *    datapath afterwards (except `closed`, relaxed).
 *  - struct mp_appi: one per app stage instance, created by the instance's
 *    init (si->priv) and freed by its fini; its event-set table, the sets of
 *    the passive sockets and the "current callback" fields belong to the
 *    lcore running that instance. Several instances may serve one context
 *    (instance j serves context j % num_cores): each has its own table.
 *  - struct mp_flowapp: mp_api.fa[slot], indexed by the flow's tcpsm slot
 *    (mp_meta.flow_idx). Filled by mp_app_flow_start() on the lcore of the
 *    events instance owning the flow, at the flow's first packet, before any
 *    packet of the flow is in the app stage; the rings hand it to the owning
 *    app instance with the flow's next packet there, and from then on only
 *    that instance writes it, until it clears it at the flow's retire mbuf
 *    (the slot is reused only after tx retired the flow). The events stage
 *    reads `mask` (relaxed: a stale mask only delays a change by a packet,
 *    and the in-flight rule keeps packets in order) and `done` (acquire,
 *    see events.c) through the accessors of app.h.
 */
#ifndef MP_APP_TYPES_H
#define MP_APP_TYPES_H

#include <pthread.h>
#include <stdint.h>
#include <sys/time.h>

#include "mos_api.h"
#include "mtcp_api.h"
#include "conf-types.h"
#include "stage-types.h"

struct rte_mbuf;
struct evs;
struct evs_set;
struct evs_dispatch;
struct evs_registry;
struct mp_bpf;
struct mp_meta;
struct mp_pipeline;
struct mp_conf;
struct mp_stage_inst;

/* Passive + raw sockets per context ([api] sockets, < MP_API_SOCK_ACTIVE),
 * stream sockets following one flow ([api] follow) and pending timers per
 * app instance ([api] timers) come from the conf (mp_api.n_*). */
#define MP_API_SOCK_ACTIVE 1024 /* active socket ids start here */
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
	uint16_t made_by; /* app instance + 1 when made from its callback, else 0 */
	uint8_t ready;    /* its maker's callbacks returned: may be published */
	struct mp_bpf *syn_filter, *orphan_filter, *raw_filter;
	void *uctx;
	int bufsz[2];   /* MOS_CLIBUF/SVRBUF for new flows: -1 = conf default */
	int overlap[2]; /* MOS_CLIOVERLAP/SVROVERLAP for new flows: -1 = conf */
	unsigned n_reg;
	struct mp_preg reg[MP_API_MAX_PREG];
};

/* One socket following one flow (mOS's per-flow "active" socket). */
struct mp_fsock {
	uint16_t psock;      /* passive socket index in the context */
	uint8_t stopped;     /* bit s: MOS_STOP_MON for side s */
	uint8_t closed;      /* mtcp_close on the active socket */
	uint8_t outrun_now;  /* MOS_ON_ERROR (outrun) raised for it on the current packet */
	struct evs_set *set; /* this flow's registrations (copy-on-write) */
	void *uctx;
	/* mtcp_peek's read offset per side, this socket's own (mOS keeps one
	 * per socket: two sockets on one flow do not consume each other's). */
	uint64_t cur[2];
	/* The window start H up to which an outrun was raised (per side). */
	uint64_t outrun[2];
};

/* mtcp_reset_conn() on a flow (mp_flowapp.reset). */
enum mp_reset_state {
	MP_RESET_NONE = 0,
	MP_RESET_ASKED, /* asked from a callback: the RSTs are built after its callbacks */
	MP_RESET_DONE,  /* RSTs sent (the flow is still followed, as in mOS) */
};

/* The hook a callback runs at (mp_appi.cur_hook): MOS_HK_SND, MOS_HK_RCV, or
 * MOS_NULL (timers, raw sockets, orphans). The numbers are evset's hook
 * indexes and mp_meta's MP_HOOK_* (asserted in app.c). */
enum mp_cur_hook {
	MP_CUR_HK_SND = 0,
	MP_CUR_HK_RCV = 1,
	MP_CUR_HK_NULL = 2,
};

struct mp_flowapp {
	uint32_t idx;     /* its flow slot: socket ids derive from it */
	uint16_t appi;    /* owning app instance */
	uint8_t used;     /* some socket follows the flow (mp_app_flow_start) */
	uint8_t n;        /* sockets in s[] (0 until attached) */
	uint8_t attached; /* app took its references on the passive sets */
	uint8_t dirty;    /* a callback changed sets or stop bits: new mask */
	uint8_t reset;    /* enum mp_reset_state */
	uint8_t ended;    /* MOS_ON_CONN_END delivered: nothing more for the flow */
	/* Sockets following it, chosen at its first packet in the events stage
	 * (their passive indexes in s[0 .. nf - 1].psock); the app attaches
	 * them (n = nf) at the flow's first packet there. */
	uint32_t nf;
	/* Built-in bits wanted at [hook SND/RCV][side]: 0 everywhere means
	 * the flow's packets may bypass the app stage. */
	uint32_t mask[2][2];
	/* Packets of the flow the app stage has passed on (single writer: the
	 * owning app instance, release). The events stage counts the packets
	 * it sent here; while the two differ the flow may not bypass
	 * (per-flow order, DESIGN.md §1). */
	uint32_t done;
	uint32_t want_size[2]; /* buffer size asked for (MOS_CLIBUF/SVRBUF), 0 = conf */
	                       /* Its sockets, [mp_api.n_follow] of them: mp_fa_socks(). */
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
	struct mp_api *api; /* the API state it belongs to */
	unsigned idx;
	int alive;
	int joined;        /* mtcp_app_join() was called for it */
	pthread_t creator; /* thread that called mtcp_create_context() */
	/* Sockets made (setup thread, or a callback under mp_api.sock_lock),
	 * and those published to the events stage (release; acquire there):
	 * one made in a callback is published once the callbacks of its mbuf
	 * returned, so its filters and registrations are in place first. */
	unsigned n_psock;
	unsigned n_live;
	struct mp_psock *psock; /* [mp_api.n_sockets] */
};

/* Runtime of one app stage instance (its si->priv). */
struct mp_appi {
	struct mp_api *api;
	unsigned idx;
	struct mp_stage_inst *si;
	struct mp_ctx *ctx;
	struct evs *evs;
	/* Sets of the context's passive sockets in this instance's table. The
	 * events stage reads their masks (pointer loaded with acquire); a set
	 * replaced from a callback is kept in stale[] until teardown so that
	 * such a read never sees freed memory. */
	struct evs_set **pset; /* [mp_api.n_sockets]; NULL: not built here yet */
	unsigned n_built;      /* the context's sockets 0 .. n_built - 1 have a set here */
	unsigned n_pending;    /* sockets its callbacks made, not yet ready */
	unsigned n_stale;
	struct evs_set *stale[MP_API_STALE];
	/* What a callback is running for (valid while in_cb). */
	int in_cb;
	struct rte_mbuf *cur_m;
	struct mp_meta *cur_md;
	struct mp_flowapp *cur_fa;
	int cur_slot;
	int cur_hook; /* enum mp_cur_hook */
	int cur_side;
	struct evs_dispatch *cur_d;
	uint64_t now_ns; /* latest packet time seen by this instance (live: or the TSC's) */
	int live;        /* some input port is live: time passes without packets */
	/* The earliest pending timer's deadline, for the events stage
	 * (mp_app_due): UINT64_MAX none, 0 set before the first packet (any
	 * packet time will do). Written here (relaxed), read there on every
	 * packet it bypasses: alone in its cache line, away from what this
	 * lcore writes per packet. */
	uint8_t due_pad0_[64];
	uint64_t due_ns;
	uint8_t due_pad1_[64];
	unsigned n_timers;
	struct mp_timer *timer; /* [mp_api.n_timers_max] */
	unsigned n_inject;
	struct rte_mbuf *inject[MP_API_MAX_INJECT];
	uint8_t pktcopy[65536]; /* linear copy of a multi-segment packet */
};

struct mp_api {
	int started, done;
	struct mp_conf *conf; /* &conf_store */
	struct mp_pipeline *pl;
	struct mtcp_conf mconf;
	int ctx_created;
	unsigned setup_gen; /* contexts created or joined so far (api_lock) */
	unsigned n_ctx;
	struct mp_ctx *ctx[MP_MAX_INST];
	unsigned n_appi;
	struct mp_appi *appi[MP_MAX_INST]; /* registered by each app instance's init */
	/* Per-flow state by flow slot: n_fa = every tcpsm instance's slots.
	 * Socket ids are MP_API_SOCK_ACTIVE + slot * FOLLOW + socket. */
	uint32_t n_fa;
	struct mp_flowapp *fa;
	struct mp_fsock *fsock;                     /* [n_fa * n_follow]: flow slot i's sockets from i * n_follow */
	unsigned n_sockets, n_follow, n_timers_max; /* [api] sockets, follow, timers */
	pthread_mutex_t sock_lock;                  /* sockets made from callbacks */
	/* Some raw socket / orphan registration: set at start, and from
	 * callbacks (relaxed; read by the events stage every burst). */
	int any_raw, any_orphan;
	int any_stream;    /* some stream socket: flows need events */
	int batch_newdata; /* MOSPIPE_NEWDATA_BATCH=1: one NEW_DATA per flow, side, burst */
	mtcp_sighandler_t sig[65];
	struct mp_conf conf_store;
};

/* The process's API state, for the entry points that get no context
 * (mtcp_getconf, mtcp_setconf, mtcp_create_context, signals, mospipe_*):
 * set by mtcp_init once the pipeline exists, cleared by mtcp_destroy. A
 * process has one (EAL runs once per process); everything else reaches its
 * API state through the context, app instance or pipeline it has. */
extern struct mp_api *mp_api_cur;
/* The UDE registry: process-wide like mOS's event ids (mtcp_define_event
 * has no context and may come before mtcp_init). */
extern struct evs_registry mp_api_reg;
/* The app instance the calling lcore runs (NULL elsewhere). */
extern __thread struct mp_appi *mp_api_tl;

#endif
