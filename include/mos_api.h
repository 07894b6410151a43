/* mos_api.h — the monitoring half of the mOS API as mospipe offers it: hooks,
 * built-in and user-defined events, callbacks, monitoring socket options,
 * stream peeking, packet access and timers. Context and socket creation live
 * in mtcp_api.h, which this header includes.
 *
 * Names, types, values and signatures follow mOS (KAIST, NSDI'17) so that mOS
 * applications build with few or no changes. Where mospipe deliberately
 * behaves differently, the function's comment says so under "mospipe:".
 *
 * Where each call is valid:
 *   - "setup": on the thread that created the context, before
 *     mtcp_app_join(); these calls configure passive and raw sockets.
 *   - "callback": inside a callback or filter function of that context, on
 *     the app-stage lcore that runs it; the socket is then usually the
 *     MOS_SOCK_MONITOR_STREAM_ACTIVE socket of the flow being handled.
 * Calls made elsewhere fail with EPERM (mOS did the same check).
 *
 * Error convention (as in mOS): -1, NULL or 0 on error with errno set; the
 * errno values are listed per function.
 *
 * Only C library headers are included (no DPDK); C99 is enough.
 */
#ifndef MOS_API_H
#define MOS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "mtcp_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Packet header types used by struct pkt_info; their definitions come from
 * <linux/if_ether.h>, <netinet/ip.h> and <netinet/tcp.h> (or <linux/tcp.h>)
 * when the application includes them. */
struct ethhdr;
struct iphdr;
struct tcphdr;

/* ---------------------------------------------------------------------------
 * Hooks: where, in the processing of a packet, events are raised and
 * callbacks run. The values are mOS's; they are bits that never overlap an
 * event bit. MOS_HK_SND is bit 31 (written so that no signed shift overflows).
 */
enum mtcp_hook_point {
	/* Before any flow lookup: raw sockets and packets of no flow. */
	MOS_NULL = (1 << 29),
	/* After the receiver's emulated stack took the packet. */
	MOS_HK_RCV = (1 << 30),
	/* After the sender's emulated stack sent the packet. */
	MOS_HK_SND = (-0x7fffffff - 1),
};

/* ---------------------------------------------------------------------------
 * Built-in events (mOS bit values). Each is one bit of an event_t; UDEs get
 * bits above these (see mtcp_define_event()).
 */
enum mos_event_type {
	MOS_NULL_EVENT = 0,
	/* A packet of a monitored flow (both hooks). */
	MOS_ON_PKT_IN = (1 << 0),
	/* Never raised (deprecated in mOS too); value kept reserved. */
	MOS_ON_PKT_OUT = (1 << 1),
	/* A new connection: the client side at its first SYN (MOS_HK_SND), the
	 * server side when it receives that SYN (MOS_HK_RCV). Retransmitted
	 * SYNs do not raise it again. */
	MOS_ON_CONN_START = (1 << 2),
	/* Never raised (deprecated in mOS too); value kept reserved. */
	MOS_ON_CONN_SETUP = (1 << 3),
	/* New in-order bytes can be read with mtcp_peek() on this side.
	 * mospipe raises it at MOS_HK_RCV (mOS: MOS_NULL, accepted and run
	 * there), once per segment that brought new bytes. */
	MOS_ON_CONN_NEW_DATA = (1 << 4),
	/* Something went wrong for the flow, e.g. the reassembly buffer was
	 * full and bytes were missed (the next mtcp_peek() reports how many). */
	MOS_ON_ERROR = (1 << 5),
	/* A timer set with mtcp_settimer() fired, or the flow was idle for
	 * tcp_timeout; delivered in packet time. Works in mospipe (it did not
	 * in mOS). */
	MOS_ON_TIMEOUT = (1 << 6),
	/* The TCP state of a side changed (read it with MOS_TCP_STATE_CLI/SVR). */
	MOS_ON_TCP_STATE_CHANGE = (1 << 7),
	/* A packet that belongs to no monitored flow (not a SYN, or not TCP). */
	MOS_ON_ORPHAN = (1 << 8),
	/* A retransmission: the packet carries bytes the sender sent before
	 * (or a SYN/FIN again). Raised at both hooks: MOS_HK_RCV as in mOS
	 * (the receiver's context, where the guide registers it), and
	 * MOS_HK_SND. */
	MOS_ON_REXMIT = (1 << 9),
	/* The flow is about to be destroyed (FIN handshake done, RST, or
	 * timeout). The last event of a flow; raised once per side. */
	MOS_ON_CONN_END = (1 << 10),
	/* Never raised; value kept reserved (mOS used it for debugging). */
	MOS_ON_DEBUG_MESSAGE = (1 << 11),
};

/* ---------------------------------------------------------------------------
 * mtcp_setlastpkt() regions and operations (mOS values). A call names one
 * region (MOS_ETH_HDR .. MOS_TCP_PAYLOAD), at most one operation (MOS_DROP,
 * MOS_OVERWRITE, MOS_CHOMP, MOS_INSERT: mutually exclusive) and optionally
 * the checksums to recompute.
 */
#define MOS_ETH_HDR (1 << 0)
#define MOS_IP_HDR (1 << 1)
#define MOS_TCP_HDR (1 << 2)
#define MOS_TCP_PAYLOAD (1 << 3)
#define MOS_UPDATE_IP_CHKSUM (1 << 4)
#define MOS_UPDATE_TCP_CHKSUM (1 << 5)
#define MOS_DROP (1 << 6)
#define MOS_OVERWRITE (1 << 7)
#define MOS_CHOMP (1 << 8)
#define MOS_INSERT (1 << 9)

/* The packet being handled, as mtcp_getlastpkt() returns it (mOS layout).
 * The header pointers point into a copy (as mOS's ClonePacketCtx makes one)
 * that stays valid until the callback returns: writing through them changes
 * nothing that is forwarded (mtcp_setlastpkt() does). For raw sockets and
 * orphans only the L2/L3 fields are set. */
struct pkt_info {
	uint32_t cur_ts;  /* packet time, milliseconds */
	int8_t in_ifidx;  /* input port */
	uint16_t eth_len; /* frame length */
	uint16_t ip_len;  /* IP datagram length */
	uint64_t offset;  /* stream offset of the payload's first byte */
	uint16_t payloadlen;
	uint32_t seq;     /* host order */
	uint32_t ack_seq; /* host order */
	uint16_t window;  /* raw window field, host order */
	/* Keep these four last: mOS (and applications) copy the fields above
	 * as one block, up to PKT_INFO_LEN. */
	struct ethhdr *ethh;
	struct iphdr *iph;
	struct tcphdr *tcph;
	uint8_t *payload;
};

/* The packet context mOS exposes to the core (mOS layout). mospipe keeps it
 * for source compatibility; applications see packets through pkt_info. */
struct pkt_ctx {
	struct pkt_info p;
	int8_t direction;   /* side that sent it */
	uint8_t forward;    /* 0: drop, 1: forward */
	int8_t out_ifidx;   /* output port */
	int8_t batch_index; /* index of the packet in its burst */
};
#define PKT_INFO_LEN offsetof(struct pkt_info, ethh)

/* The argument of a UDE's filter, given to mtcp_define_event() (mOS type).
 * mospipe copies the struct itself at definition time; what arg points to
 * stays the application's. */
typedef struct filter_arg {
	void *arg;
	size_t len;
} filter_arg_t;

/* ---------------------------------------------------------------------------
 * Monitoring socket options, level SOL_MONSOCKET (mOS values). See
 * mtcp_getsockopt() / mtcp_setsockopt() in mtcp_api.h for types and rules.
 */
#ifndef SOL_SOCKET
#define SOL_SOCKET 0xffff
#endif
#define SOL_MONSOCKET 0xfffe

enum mos_socket_opts {
	MOS_FRAGINFO_CLIBUF = 0x01, /* get: fragments in the client's buffer */
	MOS_FRAGINFO_SVRBUF = 0x02, /* get: fragments in the server's buffer */
	MOS_INFO_CLIBUF = 0x03,     /* get: struct tcp_buf_info, client */
	MOS_INFO_SVRBUF = 0x04,     /* get: struct tcp_buf_info, server */
	MOS_TCP_STATE_CLI = 0x05,   /* get: client's enum tcpstate */
	MOS_TCP_STATE_SVR = 0x06,   /* get: server's enum tcpstate */
	MOS_TIMESTAMP = 0x07,       /* get: last packet time, us (unused in mOS) */
	MOS_CLIBUF = 0x09,          /* get/set: client buffer size, 0 = off */
	MOS_SVRBUF = 0x0a,          /* get/set: server buffer size, 0 = off */
	MOS_SEQ_REMAP = 0x0b,       /* not supported (unused in mOS) */
	MOS_STOP_MON = 0x0c,        /* set: stop monitoring a side */
	MOS_FRAG_CLIBUF = 0x0d,     /* not supported (unused in mOS) */
	MOS_FRAG_SVRBUF = 0x0e,     /* not supported (unused in mOS) */
	MOS_CLIOVERLAP = 0x0f,      /* get/set: client overlap policy */
	MOS_SVROVERLAP = 0x10,      /* get/set: server overlap policy */
};

/* mospipe extensions (option numbers past mOS's): what the box takes to be
 * each endpoint's TCP stack, and why a packet raised MOS_ON_ERROR. */
enum mospipe_socket_opts {
	/* get/set (active socket, in a callback): the stack the client (the
	 * server) is modelled on as a receiver, which decides which bytes
	 * enter the stream it receives (enum mos_tcp_policy; default from
	 * pipeline.conf's tcp.policy and [policy]). A set applies from the
	 * next packet the stack processes for the flow. */
	MOS_CLIPOLICY = 0x40,
	MOS_SVRPOLICY = 0x41,
	/* get (active socket, in a callback): why the packet of a
	 * MOS_ON_ERROR raised it (enum mos_error_reason; MOS_ERR_NONE for
	 * other events). An int. */
	MOS_ERROR_REASON = 0x42,
};

/* Receivers' stacks of MOS_CLIPOLICY / MOS_SVRPOLICY. */
enum mos_tcp_policy {
	MOS_POLICY_LINUX = 0,   /* Linux (tcp_input.c): the default */
	MOS_POLICY_WINDOWS = 1, /* Windows, as Snort's stream5 and Suricata model it */
	MOS_POLICY_CNT
};

/* MOS_ERROR_REASON: what the receiver's stack refused of the segment (in
 * whole or in part), or what made its stream ambiguous. Each has a counter
 * (stages/tcpsm/README.md has the table with what Linux does). */
enum mos_error_reason {
	MOS_ERR_NONE = 0,
	MOS_ERR_NO_ACK = 1,     /* a segment without ACK: dropped */
	MOS_ERR_SYN_DATA = 2,   /* payload on a SYN or SYN-ACK: not taken (no Fast Open) */
	MOS_ERR_WINDOW = 3,     /* outside the receive window */
	MOS_ERR_PAWS = 4,       /* timestamp older than the last (PAWS) */
	MOS_ERR_ACK_UNSENT = 5, /* acknowledges bytes never sent */
	MOS_ERR_ACK_OLD = 6,    /* acknowledgment older than the window allows */
	MOS_ERR_HANDSHAKE = 7,  /* refused by the handshake (wrong ACK, no SYN-ACK) */
	MOS_ERR_RST_INWIN = 8,  /* RST in the window, not at its edge: challenged, the connection goes on */
	MOS_ERR_RST_OUT = 9,    /* RST outside the window: ignored */
	MOS_ERR_AFTER_RST = 10, /* data after the connection was reset */
	MOS_ERR_AFTER_FIN = 11, /* data at or after the FIN */
	MOS_ERR_SYN_EST = 12,   /* SYN inside the connection */
	MOS_ERR_URGENT = 13,    /* urgent data: its byte left the stream (or stayed: tcp.urgent) */
	MOS_ERR_TTL = 14,       /* TTL below tcp.min_ttl */
	MOS_ERR_OVERLAP = 15,   /* overlapping copies of bytes differ */
	MOS_ERR_BUF_FULL = 16,  /* the buffer was full: bytes missed */
	MOS_ERR_NOMEM = 17,     /* no buffer memory: bytes missed */
	MOS_ERR_BEYOND = 18,    /* out-of-order bytes beyond the buffer: not kept */
	MOS_ERR_OUTRUN = 19,    /* this socket had not read bytes that have left the buffer (mOS's buffer
	                           outrun; mtcp_peek then gives -n): raised for it alone */
	MOS_ERR_CNT
};

/**
 * Name of a MOS_ERROR_REASON value, e.g. "rst_inwin" (mospipe addition).
 *
 * @param reason
 *   An enum mos_error_reason value.
 * @return
 *   A static string; "?" for a value that is not a reason.
 */
static inline const char *mos_error_name(int reason)
{
	static const char *const names[MOS_ERR_CNT] = {
	    "none",      "no_ack",    "syn_data", "window",    "paws",      "ack_unsent", "ack_old",
	    "handshake", "rst_inwin", "rst_out",  "after_rst", "after_fin", "syn_est",    "urgent",
	    "ttl",       "overlap",   "buf_full", "nomem",     "beyond",    "outrun",
	};
	return reason >= 0 && reason < MOS_ERR_CNT ? names[reason] : "?";
}

/* MOS_INFO_CLIBUF / MOS_INFO_SVRBUF (mOS layout). Sequence numbers of the
 * side's byte stream. */
struct tcp_buf_info {
	uint32_t tcpbi_init_seq;           /* first byte of the stream */
	uint32_t tcpbi_last_byte_read;     /* next byte mtcp_peek() returns */
	uint32_t tcpbi_next_byte_expected; /* end of in-order data */
	uint32_t tcpbi_last_byte_received; /* end of all stored data (> when out of order) */
};

/* MOS_FRAGINFO_CLIBUF / MOS_FRAGINFO_SVRBUF: one contiguous run of stored
 * bytes, offset from the start of the stream (mOS layout). */
struct tcp_ring_fragment {
	uint64_t offset;
	uint32_t len;
};

/* ---------------------------------------------------------------------------
 * TCP states of an emulated endpoint, mOS's values. mOS's public names are
 * TCP_CLOSED ... TCP_TIME_WAIT; they clash with the TCP_ESTABLISHED...
 * enumerators of glibc's <netinet/tcp.h>. So the enumerators are the TCP_ST_*
 * names mOS uses inside its core, and the TCP_* names are macros for them:
 * an application that needs <netinet/tcp.h> defines MOS_NO_TCP_STATE_ALIASES
 * before including this header (and includes it after <netinet/tcp.h>) and
 * uses TCP_ST_*.
 */
enum tcpstate {
	TCP_ST_CLOSED = 0,
	TCP_ST_LISTEN = 1,
	TCP_ST_SYN_SENT = 2,
	TCP_ST_SYN_RCVD = 3,
	TCP_ST_ESTABLISHED = 4,
	TCP_ST_FIN_WAIT_1 = 5,
	TCP_ST_FIN_WAIT_2 = 6,
	TCP_ST_CLOSE_WAIT = 7,
	TCP_ST_CLOSING = 8,
	TCP_ST_LAST_ACK = 9,
	TCP_ST_TIME_WAIT = 10,
};
#define MOS_TCP_STATE_N 11

#ifndef MOS_NO_TCP_STATE_ALIASES
#define TCP_CLOSED TCP_ST_CLOSED
#define TCP_LISTEN TCP_ST_LISTEN
#define TCP_SYN_SENT TCP_ST_SYN_SENT
#define TCP_SYN_RCVD TCP_ST_SYN_RCVD
#define TCP_ESTABLISHED TCP_ST_ESTABLISHED
#define TCP_FIN_WAIT_1 TCP_ST_FIN_WAIT_1
#define TCP_FIN_WAIT_2 TCP_ST_FIN_WAIT_2
#define TCP_CLOSE_WAIT TCP_ST_CLOSE_WAIT
#define TCP_CLOSING TCP_ST_CLOSING
#define TCP_LAST_ACK TCP_ST_LAST_ACK
#define TCP_TIME_WAIT TCP_ST_TIME_WAIT
#endif

/**
 * Name of a TCP state, e.g. "ESTABLISHED" (mospipe addition: mOS's
 * TCPStateToString() was internal; its samples each carried their own).
 *
 * @param state
 *   An enum tcpstate value.
 * @return
 *   A static string; "-" for a value that is not a state.
 */
static inline const char *mos_tcp_state_name(int state)
{
	static const char *const names[MOS_TCP_STATE_N] = {
	    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
	    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
	};
	return state >= 0 && state < MOS_TCP_STATE_N ? names[state] : "-";
}

/* Overlap policies of MOS_CLIOVERLAP / MOS_SVROVERLAP (mOS values). */
enum {
	MOS_OVERLAP_POLICY_FIRST = 0, /* keep the bytes first received */
	MOS_OVERLAP_POLICY_LAST = 1,  /* overwrite with the bytes last received */
	/* mospipe: as the receiver's stack (MOS_CLIPOLICY/MOS_SVRPOLICY)
	 * resolves them; pipeline.conf's default (tcp.overlap = target). */
	MOS_OVERLAP_POLICY_TARGET = 2,
	MOS_OVERLAP_CNT
};

/* Events are bits of a 64-bit word (mOS type). */
typedef uint64_t event_t;

/* Sides of a connection (mOS values). In a callback, `side` is the endpoint
 * whose emulated stack the event concerns: the sender at MOS_HK_SND, the
 * receiver at MOS_HK_RCV; MOS_SIDE_BOTH at MOS_NULL (raw sockets, orphans),
 * as in mOS. */
enum { MOS_SIDE_CLI = 0, MOS_SIDE_SVR = 1, MOS_SIDE_BOTH = 2 };

/* A callback (mOS signature). `event` is the event that fired (one bit);
 * `arg` is the filter argument of that event when it is a UDE, else NULL. */
typedef void (*callback_t)(mctx_t mctx, int sock, int side, event_t event, filter_arg_t *arg);

/* A UDE's filter (mOS signature): true when the UDE happened. `event` is the
 * UDE being evaluated; `arg` points to the copy of the filter_arg given to
 * mtcp_define_event() (NULL if none was given). A filter may call
 * mtcp_raise_event(), mtcp_peek(), mtcp_getsockopt() and the other callback
 * functions. */
typedef bool (*filter_t)(mctx_t mctx, int sock, int side, event_t event, filter_arg_t *arg);

/* ---------------------------------------------------------------------------
 * Which traffic a monitoring socket sees (mOS type: a union, accessed as
 * ft.stream_syn_filter etc.). Strings use full BPF (tcpdump) syntax in
 * mospipe; mOS restricted the stream filters to a few keywords.
 */
union monitor_filter {
	/* MOS_SOCK_MONITOR_RAW: applied to every packet. */
	char *raw_pkt_filter;
	/* MOS_SOCK_MONITOR_STREAM: stream_syn_filter decides, at a flow's
	 * first SYN, whether the socket follows the flow; stream_orphan_filter
	 * selects the orphan packets (MOS_ON_ORPHAN) the socket sees. */
#if defined(__GNUC__) || defined(__clang__)
	__extension__
#endif
	    struct {
		char *stream_syn_filter;
		char *stream_orphan_filter;
	};
};
typedef union monitor_filter *monitor_filter_t;

/**
 * Set the traffic a monitoring socket sees (setup). Without a filter a socket
 * sees everything.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   A MOS_SOCK_MONITOR_STREAM or MOS_SOCK_MONITOR_RAW socket of mctx.
 * @param ft
 *   The filters; NULL, or a NULL string, means "everything" for that filter.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: a filter does not compile (the BPF compiler's message is
 *     printed on stderr with the expression).
 *   - EBADF: sock is not an open socket of mctx.
 *   - ENOPROTOOPT: sock is not a passive stream or raw socket.
 *   - EPERM: not called at setup, nor from the callback that made the socket.
 *   - EACCES: mctx is not a live context.
 */
int mtcp_bind_monitor_filter(mctx_t mctx, int sock, monitor_filter_t ft);

/**
 * Register cb for an event at a hook on a socket (setup or callback).
 *
 * On a passive MOS_SOCK_MONITOR_STREAM socket the registration applies to
 * every flow the socket follows from then on; on an active socket (inside a
 * callback) to that flow only. A socket has at most one callback per event and
 * hook: registering again replaces it. Registering on an active socket does not
 * copy anything per flow: flows with the same registrations share one event
 * set (DESIGN.md §4). cb == NULL unregisters, as in mOS.
 *
 * An event word with several bits registers cb for each of them.
 *
 * mospipe: registrations made from a callback take effect from the next
 * event of the flow, never for the event being handled. A pair that can
 * never fire is refused (EINVAL), as mOS refused it: MOS_ON_CONN_START,
 * MOS_ON_REXMIT, MOS_ON_TCP_STATE_CHANGE or MOS_ON_CONN_END (or a UDE on
 * them) at MOS_NULL; MOS_ON_CONN_NEW_DATA or MOS_ON_ERROR at MOS_HK_SND;
 * the reserved MOS_ON_PKT_OUT, MOS_ON_CONN_SETUP, MOS_ON_DEBUG_MESSAGE.
 * Flow events registered at MOS_NULL on a stream socket (NEW_DATA, ERROR,
 * PKT_IN, TIMEOUT) run at MOS_HK_RCV.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   A monitoring socket of mctx (passive, active or raw).
 * @param event
 *   A built-in event, a UDE from mtcp_define_event() or an event from
 *   mtcp_alloc_event().
 * @param hook_point
 *   MOS_HK_SND or MOS_HK_RCV for stream sockets, MOS_NULL for raw sockets
 *   and MOS_ON_ORPHAN.
 * @param cb
 *   The callback, or NULL to unregister.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: unknown event, hook_point not valid for the socket type, or
 *     an event/hook pair that can never fire (see above).
 *   - EBADF: sock is not an open socket of mctx.
 *   - ENOMEM: no memory for a new event set (the registration is not made).
 *   - EPERM: called outside setup and callbacks of mctx.
 *   - EACCES: mctx is not a live context.
 */
int mtcp_register_callback(mctx_t mctx, int sock, event_t event, int hook_point, callback_t cb);

/**
 * Remove the callback of an event at a hook on a socket (setup or callback).
 * Same rules as mtcp_register_callback() with cb == NULL. (The prototype mOS
 * had in a comment; mospipe implements it.)
 *
 * @return
 *   0 on success (also when nothing was registered), -1 with errno set as
 *   for mtcp_register_callback().
 */
int mtcp_unregister_callback(mctx_t mctx, int sock, event_t event, int hook_point);

/**
 * Allocate a child event of an event: it has no filter of its own and fires
 * only when a filter or callback of the same packet calls mtcp_raise_event()
 * on it (a multi-pattern filter raising one child per pattern found).
 * Global, like mtcp_define_event(): call it at setup on the main thread.
 *
 * @param event
 *   The parent: a built-in event, a UDE or another child.
 * @return
 *   The new event, or 0 with errno set:
 *   - EINVAL: event is not a known event.
 *   - ENOSPC: no event bit left (UDEs and children share the 49 bits of an
 *     event_t that built-ins and hooks leave free).
 */
event_t mtcp_alloc_event(event_t event);

/**
 * Define a user-defined event (UDE): it fires when its base event fires and
 * filter returns true. UDEs nest: the base may itself be a UDE or a child
 * event. Global (mOS has no context argument here): call it at setup on the
 * main thread, before registering callbacks for it.
 *
 * Defining the same UDE twice (same base, same filter, same filter_arg
 * contents) returns the same event, so libraries may define what they need
 * without coordinating.
 *
 * mOS's slides also show a two-argument form, mtcp_define_event(base,
 * filter); that compiles too (the macro below passes arg = NULL). The macro
 * is invisible to code that takes the function's address or calls
 * (mtcp_define_event)(...).
 *
 * @param event
 *   The base event.
 * @param filter
 *   The filter; must not be NULL.
 * @param arg
 *   Filter argument, or NULL. The struct is copied; what arg->arg points to
 *   is not and must outlive the UDE.
 * @return
 *   The UDE (one bit above the built-in events), or 0 with errno set:
 *   - EINVAL: filter is NULL or event is not a known event.
 *   - ENOSPC: no event bit left (see mtcp_alloc_event()).
 */
event_t(mtcp_define_event)(event_t event, filter_t filter, struct filter_arg *arg);

static inline event_t mos_define_event2_(event_t event, filter_t filter)
{
	return (mtcp_define_event)(event, filter, NULL);
}
#define MOS_DEFINE_EVENT_PICK_(a1, a2, a3, name, ...) name
#define mtcp_define_event(...)                                                                                         \
	MOS_DEFINE_EVENT_PICK_(__VA_ARGS__, (mtcp_define_event), mos_define_event2_, ~)(__VA_ARGS__)

/**
 * Raise a child event from mtcp_alloc_event() (callback). Its filters and
 * callbacks run later in the same dispatch of the same packet, after the
 * UDEs of its parent (see the order in stages/events/evset.h). Works in
 * mospipe (it did not in mOS).
 *
 * @param mctx
 *   The context of the running callback or filter.
 * @param event
 *   An event from mtcp_alloc_event().
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: event was not made by mtcp_alloc_event() (built-ins and UDEs
 *     are raised by the stack, never by the application).
 *   - EPERM: not called from a callback or filter of mctx.
 */
int mtcp_raise_event(mctx_t mctx, event_t event);

/**
 * Attach an application pointer to a socket (callback or setup). On an active
 * socket it is per flow; on a passive or raw socket, per socket.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   A monitoring socket of mctx.
 * @param uctx
 *   Any pointer; mospipe never dereferences it.
 * Errors (nothing is stored) set errno: EBADF (bad socket), EPERM (wrong
 * thread), EACCES (mctx not live).
 */
void mtcp_set_uctx(mctx_t mctx, int sock, void *uctx);

/**
 * Get the pointer stored by mtcp_set_uctx() (callback or setup).
 *
 * @return
 *   The pointer, NULL when none was stored or on error; on error errno is
 *   EBADF (bad socket), EPERM (wrong thread) or EACCES (mctx not live).
 */
void *mtcp_get_uctx(mctx_t mctx, int sock);

/**
 * Read the next in-order bytes of one side's stream that this socket has not
 * read yet, and consume them (callback, active stream sockets). Each socket
 * has its own read offset (as in mOS): two sockets following one flow read
 * the same bytes.
 *
 * What is read is the stream as of the event being handled (DESIGN.md §3):
 * the bytes up to what that packet delivered, never later ones, whatever the
 * pipeline's mapping and burst. The buffer keeps the last MOS_CLIBUF/SVRBUF
 * bytes of the stream (mOS's window): bytes this socket had not read when
 * the window moved past them are gone.
 *
 * mospipe: when there is nothing new, returns 0 (mOS could exit the process).
 * When bytes were lost before this reader got them (left the window, holes
 * the stream passed), returns minus the number of missed bytes with errno =
 * ENODATA, and the next call continues after the gap.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The flow's active socket.
 * @param side
 *   MOS_SIDE_CLI or MOS_SIDE_SVR: whose receive buffer to read, as in
 *   mOS — MOS_SIDE_CLI reads the bytes the client receives (the server's
 *   stream). A MOS_ON_CONN_NEW_DATA callback at MOS_HK_RCV gets the
 *   receiving side, so peeking with the side it was given reads the new data.
 * @param buf
 *   Destination.
 * @param len
 *   Room at buf.
 * @return
 *   Bytes copied (> 0), 0 when nothing new, a negative count with
 *   errno = ENODATA for missed bytes, or -1 with errno set:
 *   - EINVAL: side is not CLI or SVR, buf is NULL, or the side's buffer is
 *     disabled (MOS_CLIBUF/MOS_SVRBUF = 0 or MOS_STOP_MON).
 *   - EBADF: sock is not an active stream socket of mctx.
 *   - EPERM: not called from a callback of mctx.
 *   - EACCES: mctx is not a live context.
 */
ssize_t mtcp_peek(mctx_t mctx, int sock, int side, char *buf, size_t len);

/**
 * Read bytes of one side's stream at a given offset without consuming them
 * (callback, active stream sockets): anything the buffer holds as of the
 * event being handled — the window's in-order bytes, read or not, and the
 * runs held out of order (MOS_FRAGINFO lists them).
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The flow's active socket.
 * @param side
 *   MOS_SIDE_CLI or MOS_SIDE_SVR: whose receive buffer (as mtcp_peek()).
 * @param buf
 *   Destination.
 * @param count
 *   Bytes wanted.
 * @param off
 *   Stream offset (0 = first byte after the SYN).
 * @return
 *   Bytes copied (a contiguous run starting at off, possibly < count), or -1
 *   with errno set:
 *   - ENODATA: no stored byte at off as of the event (not received yet, in
 *     a hole, or out of the window).
 *   - EINVAL: bad side, buf NULL, or buffering disabled for the side.
 *   - EBADF, EPERM, EACCES: as for mtcp_peek().
 */
ssize_t mtcp_ppeek(mctx_t mctx, int sock, int side, char *buf, size_t count, uint64_t off);

/**
 * Copy the packet being handled (callback). Valid on active stream sockets
 * (the packet of the current event), on passive stream sockets from an
 * MOS_ON_ORPHAN callback, and on raw sockets (L2/L3 fields only).
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The socket the callback runs for.
 * @param side
 *   The side given to the callback (MOS_NULL for raw sockets; ignored).
 * @param p
 *   Filled on success; its pointers point into a copy of the packet, valid
 *   until the callback returns.
 * @return
 *   0 on success, -1 with errno set:
 *   - ENODATA: the event has no packet (a timer callback, an idle-timeout
 *     end).
 *   - EINVAL: p is NULL.
 *   - EBADF: sock is not a monitoring socket of mctx.
 *   - EPERM: not called from a callback of mctx.
 *   - EACCES: mctx is not a live context.
 */
int mtcp_getlastpkt(mctx_t mctx, int sock, int side, struct pkt_info *p);

/**
 * Modify or drop the packet being handled (callback, inline mode). option is
 * one region (MOS_ETH_HDR, MOS_IP_HDR, MOS_TCP_HDR, MOS_TCP_PAYLOAD) with one
 * operation (MOS_OVERWRITE: write datalen bytes at offset in that region;
 * MOS_CHOMP: remove datalen bytes at offset of the payload; MOS_INSERT: insert
 * data at offset of the payload), optionally with MOS_UPDATE_IP_CHKSUM and
 * MOS_UPDATE_TCP_CHKSUM; or MOS_DROP alone, which drops the packet. As in mOS,
 * to change the payload length first fix the IP total length (MOS_IP_HDR |
 * MOS_OVERWRITE), then chomp or insert.
 *
 * mospipe: the emulated stacks saw the original packet; the change is applied
 * when the packet leaves the app stage and affects what is forwarded only.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The socket the callback runs for.
 * @param side
 *   The side given to the callback.
 * @param offset
 *   Offset inside the region.
 * @param data
 *   Bytes to write or insert (unused for MOS_DROP and MOS_CHOMP).
 * @param datalen
 *   Length of data, or bytes to chomp.
 * @param option
 *   See above.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: bad option combination, or offset/datalen outside the region
 *     or beyond the packet buffer's room.
 *   - ENODATA: the event has no packet.
 *   - ENOTSUP: monitor mode (packets are not forwarded).
 *   - EBADF, EPERM, EACCES: as for mtcp_getlastpkt().
 */
int mtcp_setlastpkt(mctx_t mctx, int sock, int side, off_t offset, byte *data, uint16_t datalen, int option);

/**
 * Send a TCP packet built from a pkt_info (e.g. one from mtcp_getlastpkt()
 * with changes) on the flow's path (callback, inline mode). The packet goes
 * out after the packet being handled and raises no events.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The flow's active socket.
 * @param pkt
 *   The packet: iph and tcph must be set.
 * @return
 *   0 on success, -1 with errno set:
 *   - ENODATA: pkt has no IP or TCP header.
 *   - ENOBUFS: no packet buffer available (counted).
 *   - ENOTSUP: monitor mode.
 *   - EBADF, EPERM, EACCES: as for mtcp_getlastpkt().
 */
int mtcp_sendpkt(mctx_t mctx, int sock, const struct pkt_info *pkt);

/**
 * Reset the connection: send a RST to both endpoints (callback, inline
 * mode). They leave right after the packet being handled, built once its
 * callbacks returned: the one to the receiver carries the sequence number
 * the receiver expects next (the packet's own if it was dropped with
 * MOS_DROP, else the one after it), the one to the sender what the sender
 * acknowledged. On a client's SYN the SYN is dropped and the client gets
 * RST|ACK with seq 0, ack = ISN + 1 (RFC 9293 3.10.7.1). As in mOS the flow
 * is still followed: an endpoint that ignores the RST is still seen, and
 * MOS_ON_CONN_END comes when the flow ends (the endpoints' RSTs, timeout).
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The flow's active socket.
 * @return
 *   0 on success, -1 with errno set:
 *   - ENOTSUP: monitor mode.
 *   - ENOBUFS: no packet buffer available.
 *   - EBADF, EPERM, EACCES: as for mtcp_getlastpkt().
 */
int mtcp_reset_conn(mctx_t mctx, int sock);

/**
 * Get the addresses of both endpoints of a flow (callback, active stream
 * sockets). With MOS_SIDE_BOTH, saddr is an array of two: [MOS_SIDE_CLI]
 * the client, [MOS_SIDE_SVR] the server.
 *
 * @param mctx
 *   The context.
 * @param sock
 *   The flow's active socket.
 * @param saddr
 *   Filled with struct sockaddr_in (IPv4 flows) or struct sockaddr_in6.
 * @param addrlen
 *   In: room at saddr; out: bytes written.
 * @param side
 *   MOS_SIDE_CLI, MOS_SIDE_SVR or MOS_SIDE_BOTH.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: saddr/addrlen NULL, *addrlen too small, or bad side.
 *   - EBADF, EPERM, EACCES: as for mtcp_getlastpkt().
 */
int mtcp_getpeername(mctx_t mctx, int sock, struct sockaddr *saddr, socklen_t *addrlen, int side);

/**
 * Call cb once, timeout from now in packet time (setup or callback; set at
 * setup, from the first event the context sees). The timer runs on the
 * context's app instance; cb gets event MOS_ON_TIMEOUT and side MOS_NULL,
 * and no packet (mtcp_getlastpkt gives ENODATA). A timer is identified by
 * (mctx, id): setting it again re-arms it. mospipe: time is packet time
 * (pcap time offline), so timers fire at the same point of a capture at any
 * replay speed: before the events of the first packet past their deadline,
 * in deadline order, each at its own time (mtcp_cb_get_ts in the callback
 * is the deadline; a re-arm counts from it). Live, they also fire on an
 * idle link. At the end of the input, those due by the last packet time
 * fire before the CONN_ENDs of the flows still open; later ones are dropped.
 * Offline, an application that gets no event at all has its timers fire
 * only at the end of the input.
 *
 * @param mctx
 *   The context.
 * @param id
 *   Timer id chosen by the application (mOS samples pass the socket).
 * @param timeout
 *   Delay.
 * @param cb
 *   The function to call.
 * @return
 *   0 on success, -1 with errno set:
 *   - EINVAL: timeout or cb NULL, or negative timeout.
 *   - ENOMEM: too many pending timers (the cap is in pipeline.conf).
 *   - EPERM, EACCES: as for mtcp_register_callback().
 */
int mtcp_settimer(mctx_t mctx, int id, struct timeval *timeout, callback_t cb);

/**
 * Current time of the context, in microseconds of packet time (mOS name),
 * without a system call (callback).
 *
 * @return
 *   The time (truncated to 32 bits, as in mOS), or 0 with errno = EACCES
 *   when mctx is not a live context.
 */
uint32_t mtcp_cb_get_ts(mctx_t mctx);

/**
 * Wait until the context stops: mtcp_destroy_context(), a signal registered
 * with mtcp_register_signal(), or (offline) the end of the input once every
 * flow has ended. Callbacks run on the app-stage lcores meanwhile, not on the
 * calling thread. Errors (EACCES: mctx not live) return at once.
 */
void mtcp_app_join(mctx_t mctx);

#ifdef __cplusplus
}
#endif

#endif /* MOS_API_H */
