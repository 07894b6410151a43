/* The app stage's interface: to the mOS API files (api*.c) and to the events
 * stage, which asks it which sockets follow a new flow (mp_app_flow_start)
 * and reads what its bypass decision needs through the accessors below. */
#ifndef MP_APP_H
#define MP_APP_H

#include "app-types.h"
#include "meta-types.h"

/* ---- for the events stage ------------------------------------------------- */

/* What the events stage routes by, fixed once packets flow. */
struct mp_app_route {
	unsigned n_appi;   /* app instances: a flow goes to mp_dest(.., n_appi) */
	int any_raw;       /* some raw socket: every packet goes to the app */
	int any_orphan;    /* some MOS_ON_ORPHAN registration */
	int batch_newdata; /* MOSPIPE_NEWDATA_BATCH=1 */
};

/* @return 1 once the application's registrations are in place (packets
 * then go by r), 0 before (everything bypasses the app stage). */
static inline int mp_app_route(const struct mp_api *a, struct mp_app_route *r)
{
	/* Set before the lcores start (api_start): the launch orders it. */
	if (!a || !a->started)
		return 0;
	r->n_appi = a->n_appi;
	r->any_raw = __atomic_load_n(&a->any_raw, __ATOMIC_RELAXED); /* callbacks may set them */
	r->any_orphan = __atomic_load_n(&a->any_orphan, __ATOMIC_RELAXED);
	r->batch_newdata = a->batch_newdata;
	return 1;
}

/* What the events stage must tell tcpsm about a flow that starts, through
 * the flow's control word (tcpsm.h). */
struct mp_app_follow {
	uint32_t ctl_set, ctl_clear; /* TCPSM_CTL_* bits */
	uint32_t want[2];            /* buffer size per side for a RESIZE, 0 = none */
};

/* A new flow, at its first packet m in the events stage: which stream
 * sockets of the context app instance j serves follow it (their
 * stream_syn_filter on m, [api] follow at most). When some do, fills the
 * app's state for the flow's slot (see app-types.h for why the events lcore
 * may) and out with what tcpsm must be told. @return 1 when some socket
 * follows the flow, 0 when none (out then only turns reader mode off). */
int mp_app_flow_start(struct mp_api *a, unsigned j, uint32_t slot, struct rte_mbuf *m, struct mp_app_follow *out);

/* Built-in bits of packet md the sockets following flow `slot` want:
 * non-zero means the packet must go to the app stage. Relaxed: the app
 * changes masks from callbacks, a stale value only delays that by a packet. */
static inline uint32_t mp_app_flow_want(const struct mp_api *a, uint32_t slot, const struct mp_meta *md)
{
	const struct mp_flowapp *fa = &a->fa[slot];
	unsigned s = md->side & 1;
	uint32_t rcv = __atomic_load_n(&fa->mask[1][s ^ 1], __ATOMIC_RELAXED);
	/* The receiver's window start moved: a socket that wants MOS_ON_ERROR
	 * may have been outrun (app.c, dispatch_flow). */
	uint32_t outrun = (rcv & MOS_ON_ERROR) && (md->edge[s ^ 1].flags & MP_EDGE_SLID) ? MOS_ON_ERROR : 0;
	return (md->ev[MP_HOOK_SND] & __atomic_load_n(&fa->mask[0][s], __ATOMIC_RELAXED)) |
	       ((md->ev[MP_HOOK_RCV] | outrun) & rcv);
}

/* Packets of flow `slot` the app stage has passed on. Acquire, pairing with
 * the app's release after sending them: a packet counted here has left the
 * app stage, so one sent to tx now cannot overtake it. */
static inline uint32_t mp_app_flow_done(const struct mp_api *a, uint32_t slot)
{
	return __atomic_load_n(&a->fa[slot].done, __ATOMIC_ACQUIRE);
}

/* Sockets of context c made so far (any thread; acquire: their entries are
 * filled). */
static inline unsigned mp_ctx_nsock(const struct mp_ctx *c)
{
	return __atomic_load_n(&c->n_psock, __ATOMIC_ACQUIRE);
}

/* A callback of app instance ai made sockets not yet published to the events
 * stage, or another instance made some it has no set for: brings ai up to
 * date. Called by the app stage between mbufs. */
void mp_app_sync_socks(struct mp_appi *ai);

/* ---- for the API files ------------------------------------------------------ */

/* Socket id of socket `k` of flowapp fa. */
/* The sockets following flowapp fa (its slot's n_follow entries of a->fsock). */
static inline struct mp_fsock *mp_fa_socks(const struct mp_api *a, const struct mp_flowapp *fa)
{
	return &a->fsock[(size_t)(fa - a->fa) * a->n_follow];
}

static inline int mp_api_sock_id(const struct mp_api *a, const struct mp_flowapp *fa, unsigned k)
{
	return (int)(MP_API_SOCK_ACTIVE + fa->idx * a->n_follow + k);
}

/* The callback checks of the API: the running app instance when mctx is the
 * context of the callback being run on this lcore, else NULL (errno EPERM or
 * EACCES). */
struct mp_appi *mp_api_cb_appi(mctx_t mctx);

/* Resolves an active socket of the current flow. @return the socket, or NULL
 * with errno EBADF. */
struct mp_fsock *mp_api_active(struct mp_appi *ai, int sock);

/* The tcpsm flow of the callback being run, or NULL. */
static inline struct tcpsm_flow *mp_api_cur_flow(const struct mp_appi *ai)
{
	return ai->cur_fa && ai->cur_md ? ai->cur_md->flow : NULL;
}

/* Fires due timers of ai up to packet time now (app lcore). */
/* Publishes ai's earliest timer deadline for the events stage (after any
 * change to its timers or to its time base). */
void mp_app_publish_due(struct mp_appi *ai);

/* The earliest timer deadline of app instance j (see mp_appi.due_ns):
 * where the events stage bypasses a packet at or after it, it sends j an
 * MP_CTRL_TIME mbuf, so that timers fire in packet time although no packet
 * of j's brings time there (an application with timers and few or no
 * registrations). */
static inline uint64_t mp_app_due(const struct mp_api *a, unsigned j)
{
	return __atomic_load_n(&a->appi[j]->due_ns, __ATOMIC_RELAXED);
}

void mp_app_timers(struct mp_appi *ai, uint64_t now);

/* Packet modification used by mtcp_setlastpkt (api_pkt.c); plain mbuf work,
 * exposed for unit tests. @return 0 or -errno. */
int mp_api_modify(struct rte_mbuf *m, struct mp_meta *md, off_t offset, const uint8_t *data, uint16_t datalen,
                  int option);

/* Builds the RSTs of an mtcp_reset_conn() made from this packet's
 * callbacks, once they all returned (api_pkt.c). @return 0 or -errno
 * (-ENOBUFS: no mbuf). */
int mp_api_reset_send(struct mp_appi *ai);

/* mOS's count of shared receive buffers (mos.conf's no_ring_buffers,
 * mtcp_conf.max_num_buffers) as [tcp] buf_pool: count * size bytes, unless
 * that cannot give every side of a full table of flows its first chunks
 * (mospipe refuses such a pool); then that minimum, *need, and *raised is
 * set for the caller to say so. 0 (no count, or no buffers): buf_pool = 0,
 * sized for the table. (api_mosconf.c) */
uint64_t mp_api_mos_pool(uint64_t count, uint64_t size, unsigned flows, uint64_t *need, int *raised);

/* Reads mOS's own configuration file (api_mosconf.c): when path holds
 * mOS's "mos { ... }" / "application { ... }" blocks, maps its keys onto c
 * and names each ignored one on stderr. @return 1 (read), 0 (not an mOS
 * file: read it as pipeline.conf), or -1 with err set. */
int mp_api_load_mosconf(struct mp_conf *c, const char *path, char *err, size_t errlen);

/* Recomputes the IPv4 header checksum and the TCP checksum of a packet whose
 * md offsets are set (api_pkt.c). */
void mp_api_fix_csum(struct rte_mbuf *m, struct mp_meta *md, int ip, int tcp);

/* ---- mospipe's options on the receivers' model (api_policy.c) ------------- */

/* 1 for MOS_CLIPOLICY, MOS_SVRPOLICY, MOS_ERROR_REASON. */
int mp_api_policy_opt(int optname);
/* mtcp_getsockopt() / mtcp_setsockopt() of those (v: the int given). */
int mp_api_policy_getsockopt(mctx_t mctx, int sock, int optname, void *optval, socklen_t *optlen);
int mp_api_policy_setsockopt(mctx_t mctx, int sock, int optname, int v);

#endif
