/* Per-packet metadata: everything a later stage needs to know about a packet
 * travels here, in the mbuf's private area (see DESIGN.md §1). Written by the
 * stage that owns the mbuf at that moment; no other stage touches it then.
 *
 * One clear per packet: the stage that allocates an mbuf zeroes its metadata
 * once (mp_meta_reset): rx for what it receives, classify for a datagram it
 * rebuilt from fragments, tcpsm for its control mbufs, app for packets a
 * callback injects. Later stages only set the fields they own; nothing
 * clears again.
 *
 * Layout, by reader: the first 128 bytes (two cache lines right after the
 * mbuf header) hold everything events, app and tx read, so that the stages
 * after tcpsm touch no third line; the TCP options block, written by
 * classify and read by tcpsm alone, is last.
 *
 * Who writes (W) and who reads (R) each field. rx = rx, cls = classify,
 * sm = tcpsm, ev = events, app = app and the mOS API in callbacks, tx = tx;
 * "alloc" = the stage that allocated the mbuf (see above).
 *
 *   field              W                        R
 *   ts_ns              alloc                    cls (fragment timer), sm (packet time), app (timers,
 *                                               mtcp_cb_get_ts, getlastpkt), tx (-w capture)
 *   flow               sm                       ev, app, sm (control mbufs handed back)
 *   hash               rx (fan-out), cls, alloc every fan-out (mp_dest; tx: feedback), sm (table slot)
 *   flow_idx           sm                       ev, app (per-flow tables)
 *   ev[]               sm; ev (batching)        ev, app
 *   port               alloc                    cls (link type), app (getlastpkt, sendpkt), tx (peer)
 *   flags              cls, sm, alloc           sm, app, tx
 *   kind               alloc                    cls, sm, ev, app, tx, stage.c (hold control mbufs)
 *   verdict            app                      tx
 *   side               sm                       ev, app
 *   tcp_flags          cls, app (inject)        sm, app
 *   st[][]             sm                       app (MOS_TCP_STATE_*)
 *   l3_off, l4_off     cls, app (inject)        cls (fragments), app
 *   pay_off            cls, app (inject)        sm, app
 *   pay_len, pay_cap   cls, app (setlastpkt)    sm, app
 *   win                cls                      sm, app (getlastpkt)
 *   seq, ack           cls                      sm, app (getlastpkt, reset_conn)
 *   ctrl               sm (control mbufs)       ev, app, tx, sm (handed back)
 *   pkt.wirelen        rx (alloc)               cls (IP length against the frame on the wire)
 *   pkt.held, n_held   cls (rebuilt datagrams)  tx (forwards or drops them), mp_pkt_free
 *   sport, dport       cls                      sm, app (reset_conn)
 *   ip_proto           cls, app (inject)        cls, app (checksums)
 *   anomaly            cls                      - (diagnostics: unit tests, debuggers)
 *   src, dst           cls, app (inject)        sm, app (checksums)
 *   err                sm                       app (MOS_ERROR_REASON in MOS_ON_ERROR callbacks)
 *   opt                cls                      sm (opt.ttl, opt.urp too)
	 *   edge[]             sm (over opt, after it)  ev (release), app (peek, ppeek, INFO, FRAGINFO)
 */
#ifndef MP_META_TYPES_H
#define MP_META_TYPES_H

#include <stdint.h>

struct tcpsm_flow;
struct rte_mbuf;

/* What an mbuf carries. Control mbufs carry no packet: they are a flow's
 * events without a packet (idle timeout -> CONN_END) and its milestones
 * (mp_ctrl_type), made by tcpsm; they travel through the same rings as the
 * flow's packets so that per-flow order is kept, and tx hands them back to
 * the flow's tcpsm instance on the feedback edge. */
enum mp_pkt_kind {
	MP_PKT_DATA = 0,
	MP_PKT_CTRL = 1,
};

/* mp_meta.flags */
#define MP_MF_IPV4 0x0002u     /* l3 is IPv4 */
#define MP_MF_IPV6 0x0004u     /* l3 is IPv6 */
#define MP_MF_TCP 0x0008u      /* a valid TCP segment: tcp fields below are set */
#define MP_MF_UNMON 0x0010u    /* not monitored (malformed, filtered): pass through */
#define MP_MF_BADCSUM 0x0020u  /* TCP checksum wrong: changes no TCP state */
#define MP_MF_REASM 0x0040u    /* rebuilt from IP fragments */
#define MP_MF_ORPHAN 0x0080u   /* non-TCP or no flow: raw/orphan traffic */
#define MP_MF_INJECTED 0x0100u /* made inside the pipeline (mtcp_sendpkt) */

/* mp_meta.tcp_flags: the TCP header's flag byte */
#define MP_TH_FIN 0x01u
#define MP_TH_SYN 0x02u
#define MP_TH_RST 0x04u
#define MP_TH_PSH 0x08u
#define MP_TH_ACK 0x10u
#define MP_TH_URG 0x20u
#define MP_TH_ECE 0x40u
#define MP_TH_CWR 0x80u

/* mp_tcp_opts.present */
#define MP_TO_MSS 0x01u
#define MP_TO_WSCALE 0x02u
#define MP_TO_SACKOK 0x04u
#define MP_TO_TS 0x08u
#define MP_TO_SACK 0x10u

#define MP_MAX_SACK 4

struct mp_tcp_opts {
	uint8_t present; /* MP_TO_* */
	uint8_t wscale;  /* shift as sent; clamping to 14 is tcpsm's job */
	uint8_t n_sack;  /* SACK blocks in sack[] */
	uint8_t ttl;     /* IPv4 TTL / IPv6 hop limit of the packet (tcp.min_ttl) */
	uint16_t mss;
	uint16_t urp; /* the TCP header's urgent pointer (meaningful with MP_TH_URG) */
	uint32_t tsval, tsecr;
	uint32_t sack[MP_MAX_SACK][2]; /* left, right edge (host order) */
};

/* One side's stream as of this packet (or control mbuf): what the mOS API's
 * reader calls in a callback for it are bounded by (DESIGN.md §3). The
 * layout of stages/tcpsm/reasm-types.h's struct reasm_edge (asserted in
 * tcpsm_reasm.c); tcpsm writes it over `opt` once it has read the options. */
struct mp_edge {
	uint64_t end;    /* in-order edge E (stream offset) */
	uint32_t back;   /* E - window start H */
	uint32_t ahead;  /* held span above E */
	uint32_t serial; /* the side's hole-filling stores so far */
	uint32_t flags;  /* MP_EDGE_* */
};
#define MP_EDGE_VALID 0x1u /* the side has a buffer */
#define MP_EDGE_SLID 0x2u  /* the window start H moved on this packet */

/* Verdicts an app may set (mp_meta.verdict). */
enum mp_verdict {
	MP_VERDICT_PASS = 0,
	MP_VERDICT_DROP = 1,
};

/* Hooks, as indices into per-hook arrays (mOS MOS_HK_SND / MOS_HK_RCV). */
enum mp_hook {
	MP_HOOK_SND = 0,
	MP_HOOK_RCV = 1,
	MP_HOOK_N = 2,
};

/* A control mbuf's payload (kind == MP_PKT_CTRL). */
struct mp_ctrl {
	uint16_t type; /* MP_CTRL_* */
	uint16_t pad_[2];
	uint16_t fpkt; /* as mp_pkt_ext.fpkt (the same bytes) */
	uint64_t arg64;
};

/* What a data packet carries in the place of struct mp_ctrl (kind ==
 * MP_PKT_DATA only). */
struct mp_pkt_ext {
	/* The frame's length on the wire: live frames their length, offline
	 * ones the capture record's original length (> the captured length
	 * when the capture cut it), 0 when unknown. */
	uint32_t wirelen;
	uint16_t n_held; /* packets in the held list */
	/* The flow's packet number (tcpsm, every mbuf of a flow: data and
	 * control alike, same place as mp_ctrl.fpkt): what the reader's
	 * release publishes (tcpsm_flow_release). */
	uint16_t fpkt;
	/* A datagram classify rebuilt from IP fragments (MP_MF_REASM): the
	 * original fragments, held back until the datagram completed, listed
	 * through this field of their own metadata in arrival order. They are
	 * the packets that leave the box (tx forwards them, or drops them with
	 * the rebuilt datagram's verdict); whoever frees the rebuilt datagram
	 * frees them too (mp_pkt_free). */
	struct rte_mbuf *held;
};

enum mp_ctrl_type {
	MP_CTRL_NONE = 0,
	/* Every flow's last mbuf: once tx hands it back, nothing in the pipeline
	 * refers to the flow any more and tcpsm may free it (after a grace
	 * period). */
	MP_CTRL_RETIRE = 1,
	/* Right behind the packet that raised CONN_END for a flow whose
	 * buffers a reader may peek, with no event bits: once tx hands it
	 * back, every CONN_END callback has returned, so the buffers may go
	 * back. */
	MP_CTRL_ENDED = 2,
	/* Packet time for an app instance whose timer is due, from the events
	 * stage where it bypassed a packet of that time (ts_ns): in the ring
	 * behind every packet it sent that instance before, so the timer fires
	 * after their events and before those of later packets. No flow; the
	 * app stage frees it. */
	MP_CTRL_TIME = 3,
};

/* Bytes at the start of struct mp_meta that hold everything the stages
 * after tcpsm read (two cache lines: the mbuf header is cache-aligned and
 * the private area follows it). */
#define MP_META_HOT 128

struct mp_meta {
	/* ---- read after tcpsm: the first MP_META_HOT bytes ---- */
	uint64_t ts_ns;           /* packet time in ns since the epoch (pcap time offline) */
	struct tcpsm_flow *flow;  /* owning flow (opaque outside tcpsm: stages/tcpsm/tcpsm.h), NULL when none */
	uint32_t hash;            /* symmetric flow hash: same value for both directions */
	uint32_t flow_idx;        /* the flow's slot: unique among live flows of the pipeline (per-flow tables) */
	uint32_t ev[MP_HOOK_N];   /* built-in event bits raised at each hook */
	uint16_t port;            /* input port id */
	uint16_t flags;           /* MP_MF_* */
	uint8_t kind;             /* enum mp_pkt_kind */
	uint8_t verdict;          /* enum mp_verdict */
	uint8_t side;             /* tcpsm: side that sent it (0 = client, 1 = server) */
	uint8_t tcp_flags;        /* MP_TH_* */
	uint8_t st[MP_HOOK_N][2]; /* [hook][side] TCP state snapshot at that hook */

	/* Parsed layout, offsets from the start of packet data. */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t pay_off;
	uint16_t pay_len; /* TCP payload length from the IP length (trailer padding excluded) */
	uint16_t pay_cap; /* payload bytes actually present (< pay_len in snaplen-cut captures) */
	uint16_t win;     /* raw window field (unscaled) */
	uint32_t seq;     /* host order */
	uint32_t ack;     /* host order */

	union {
		struct mp_ctrl ctrl;   /* kind == MP_PKT_CTRL only */
		struct mp_pkt_ext pkt; /* kind == MP_PKT_DATA only */
	};

	uint16_t sport;   /* host order */
	uint16_t dport;   /* host order */
	uint8_t ip_proto; /* L4 protocol (after IPv6 extension headers) */
	uint8_t anomaly;  /* classify's reason code when malformed, 0 when fine */
	uint8_t err;      /* tcpsm: why this packet raised MOS_ON_ERROR (enum tcpsm_err), 0 when none */
	uint8_t pad0_;
	/* Addresses: IPv4 in the first 4 bytes, rest zero. Network order. */
	uint8_t src[16];
	uint8_t dst[16];

	/* ---- classify -> tcpsm: the options; tcpsm -> app: the stream edges ----
	 * Read after tcpsm only when a callback reads a stream (a third cache
	 * line touched by peeks, not by every packet). */
	union {
		struct mp_tcp_opts opt;
		struct mp_edge edge[2]; /* [side]: the buffer of the bytes side receives */
	};
};

_Static_assert(__builtin_offsetof(struct mp_meta, opt) <= MP_META_HOT,
               "what events, app and tx read must fit the metadata's first two cache lines");
_Static_assert(__builtin_offsetof(struct mp_meta, opt) + sizeof(struct mp_tcp_opts) == sizeof(struct mp_meta),
               "the TCP options block (tcpsm's alone) comes last");
_Static_assert(sizeof(struct mp_edge[2]) <= sizeof(struct mp_tcp_opts), "the stream edges fit over the options");
_Static_assert(sizeof(struct mp_meta) <= 168, "the metadata is every mbuf's private area: do not let it grow");
_Static_assert(__builtin_offsetof(struct mp_meta, pkt.fpkt) == __builtin_offsetof(struct mp_meta, ctrl.fpkt),
               "data and control mbufs carry the flow's packet number in the same place");
_Static_assert(sizeof(struct mp_pkt_ext) == sizeof(struct mp_ctrl),
               "a data packet's extension takes the control payload's place");

#endif
