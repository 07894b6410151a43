/* Per-packet metadata: everything a later stage needs to know about a packet
 * travels here, in the mbuf's private area (see DESIGN.md §1). Written by the
 * stage that owns the mbuf at that moment; no other stage touches it then.
 */
#ifndef MP_META_TYPES_H
#define MP_META_TYPES_H

#include <stdint.h>

/* What an mbuf carries. Control mbufs carry no packet: they are events without
 * a packet (idle timeout -> CONN_END, user timers) and travel through the same
 * rings so that per-flow order is kept. */
enum mp_pkt_kind {
	MP_PKT_DATA = 0,
	MP_PKT_CTRL = 1,
};

/* mp_meta.flags */
#define MP_MF_PARSED 0x0001u   /* classify has run on this packet */
#define MP_MF_IPV4 0x0002u     /* l3 is IPv4 */
#define MP_MF_IPV6 0x0004u     /* l3 is IPv6 */
#define MP_MF_TCP 0x0008u      /* a valid TCP segment: tcp fields below are set */
#define MP_MF_UNMON 0x0010u    /* not monitored (malformed, filtered): pass through */
#define MP_MF_BADCSUM 0x0020u  /* TCP checksum wrong: changes no TCP state */
#define MP_MF_REASM 0x0040u    /* rebuilt from IP fragments */
#define MP_MF_ORPHAN 0x0080u   /* non-TCP or no flow: raw/orphan traffic */
#define MP_MF_INJECTED 0x0100u /* made inside the pipeline (mtcp_sendpkt) */
/* tcpsm raised CONN_END on this packet for a flow holding reassembly buffers:
 * tx reports it through pl->flow_ended once every stage is done with it. */
#define MP_MF_CONN_END 0x0200u

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
	uint8_t pad_;
	uint16_t mss;
	uint16_t pad2_;
	uint32_t tsval, tsecr;
	uint32_t sack[MP_MAX_SACK][2]; /* left, right edge (host order) */
};

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
	uint16_t pad_;
	uint32_t arg;
	uint64_t arg64;
};

enum mp_ctrl_type {
	MP_CTRL_NONE = 0,
	MP_CTRL_CONN_END = 1, /* flow ended without a packet (timeout, end of input) */
	MP_CTRL_TIMER = 2,    /* a user timer fired */
	/* Every flow's last mbuf: when tx retires it, nothing in the pipeline
	 * refers to the flow any more and it may be freed (after a grace period). */
	MP_CTRL_RETIRE = 3,
};

struct mp_meta {
	uint64_t ts_ns;  /* packet time in ns since the epoch (pcap time offline) */
	uint32_t hash;   /* symmetric flow hash: same value for both directions */
	uint16_t port;   /* input port id */
	uint8_t kind;    /* enum mp_pkt_kind */
	uint8_t anomaly; /* classify's reason code when malformed, 0 when fine */
	uint16_t flags;  /* MP_MF_* */
	uint8_t verdict; /* enum mp_verdict */
	uint8_t side;    /* tcpsm: side that sent it (0 = client, 1 = server) */

	/* Parsed layout, offsets from the start of packet data. */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t pay_off;
	uint16_t pay_len; /* TCP payload length from the IP length (trailer padding excluded) */
	uint16_t pay_cap; /* payload bytes actually present (< pay_len in snaplen-cut captures) */
	uint16_t pad0_;
	uint8_t ip_proto;  /* L4 protocol (after IPv6 extension headers) */
	uint8_t tcp_flags; /* MP_TH_* */
	uint16_t win;      /* raw window field (unscaled) */

	/* Addresses: IPv4 in the first 4 bytes, rest zero. Network order. */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport; /* host order */
	uint16_t dport; /* host order */
	uint32_t seq;   /* host order */
	uint32_t ack;   /* host order */
	struct mp_tcp_opts opt;

	/* Set by tcpsm. */
	void *flow;               /* owning flow, NULL when none */
	uint32_t ev[MP_HOOK_N];   /* built-in event bits raised at each hook */
	uint8_t st[MP_HOOK_N][2]; /* [hook][side] TCP state snapshot at that hook */
	uint16_t pad3_;

	struct mp_ctrl ctrl; /* kind == MP_PKT_CTRL only */
};

#endif
