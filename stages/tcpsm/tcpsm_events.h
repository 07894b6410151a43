/* The numbers tcpsm shares with the other stages: built-in event bits, TCP
 * state numbers of the emulated stacks, sides and why a flow ended.
 *
 * The values are those of mOS (mos_api.h) so that applications written for
 * mOS see the numbers they expect: MOS_ON_* bit i == MP_ON_* bit i and
 * TCP_* state n == MP_TCP_ST_* n. They carry an MP_ prefix here because the
 * public headers (include/mos_api.h) define the mOS spellings themselves;
 * this header is the one place inside the stack that fixes the numbers.
 *
 * Where each bit is raised (md->ev[hook]):
 *   PKT_IN            every packet of a flow, at both hooks
 *   CONN_START        SND hook when the client's SYN opens a flow (or the first
 *                     packet of a mid-stream flow); RCV hook when the server
 *                     enters SYN_RCVD. Retransmitted SYNs do not raise it.
 *   CONN_NEW_DATA     RCV hook, when the segment carried payload never seen
 *                     before (mOS raises it at MOS_NULL; the events stage
 *                     batches it)
 *   ERROR             RCV hook: a segment the receiver's stack refuses (or
 *                     takes only in part), an ambiguity in its stream, a
 *                     buffer full / pool exhausted / inconsistent copy;
 *                     why in mp_meta.err (enum tcpsm_err)
 *   TIMEOUT           control mbuf of a flow ended by the idle or SYN timeout
 *   TCP_STATE_CHANGE  at the hook whose side changed state
 *   ORPHAN            SND hook of a TCP packet that belongs to no flow
 *   REXMIT            both hooks (mOS raises it at the receiver's, where the
 *                     guide registers it) of a segment carrying only
 *                     sequence space the sender already sent, or a
 *                     retransmitted SYN/FIN
 *   CONN_END          once per flow, both hooks: on the packet that closes the
 *                     connection (accepted RST, last ACK of the FIN exchange),
 *                     otherwise on the flow's control mbuf (timeout, eviction,
 *                     end of input, reuse of a tuple not yet closed)
 */
#ifndef TCPSM_EVENTS_H
#define TCPSM_EVENTS_H

#define MP_ON_PKT_IN (1u << 0)
#define MP_ON_CONN_START (1u << 2)
#define MP_ON_CONN_NEW_DATA (1u << 4)
#define MP_ON_ERROR (1u << 5)
#define MP_ON_TIMEOUT (1u << 6)
#define MP_ON_TCP_STATE_CHANGE (1u << 7)
#define MP_ON_ORPHAN (1u << 8)
#define MP_ON_REXMIT (1u << 9)
#define MP_ON_CONN_END (1u << 10)

/* RFC 793 states, numbered as mOS's enum tcpstate. */
enum mp_tcp_state {
	MP_TCP_ST_CLOSED = 0,
	MP_TCP_ST_LISTEN = 1,
	MP_TCP_ST_SYN_SENT = 2,
	MP_TCP_ST_SYN_RCVD = 3,
	MP_TCP_ST_ESTABLISHED = 4,
	MP_TCP_ST_FIN_WAIT_1 = 5,
	MP_TCP_ST_FIN_WAIT_2 = 6,
	MP_TCP_ST_CLOSE_WAIT = 7,
	MP_TCP_ST_CLOSING = 8,
	MP_TCP_ST_LAST_ACK = 9,
	MP_TCP_ST_TIME_WAIT = 10,
	MP_TCP_ST_N = 11,
};

/* Sides (mOS MOS_SIDE_CLI / MOS_SIDE_SVR). */
#define MP_SIDE_CLI 0
#define MP_SIDE_SVR 1

/* Why a flow ended (flow log "end", tcpsm_flow_end_reason()). */
enum tcpsm_end {
	TCPSM_END_NONE = 0, /* still open */
	TCPSM_END_FIN,
	TCPSM_END_RST,
	TCPSM_END_TIMEOUT,
	TCPSM_END_EVICTED,
	TCPSM_END_OPEN, /* still open at the end of input */
};

/* Why a packet raised ERROR (mp_meta.err, MOS_ERROR_REASON): what the
 * receiver's stack (tcp.policy) refused of the segment, or what made the
 * stream ambiguous (stages/tcpsm/README.md has the table). Same values as
 * mos_api.h's MOS_ERR_* (asserted in stages/app/api_policy.c). */
enum tcpsm_err {
	TCPSM_ERR_NONE = 0,
	TCPSM_ERR_NO_ACK = 1,     /* a segment without ACK (nor SYN, RST) */
	TCPSM_ERR_SYN_DATA = 2,   /* payload on a SYN or SYN-ACK, not taken (no Fast Open) */
	TCPSM_ERR_WINDOW = 3,     /* outside the receive window (or a zero window) */
	TCPSM_ERR_PAWS = 4,       /* a timestamp older than the last one (RFC 7323 PAWS) */
	TCPSM_ERR_ACK_UNSENT = 5, /* acknowledges bytes the receiver never sent */
	TCPSM_ERR_ACK_OLD = 6,    /* acknowledgment older than the window allows (RFC 5961 5.2) */
	TCPSM_ERR_HANDSHAKE = 7,  /* refused by the handshake (wrong ACK, no SYN where one is due) */
	TCPSM_ERR_RST_INWIN = 8,  /* RST in the window, not at its left edge: challenge ACK (RFC 5961 3.2) */
	TCPSM_ERR_RST_OUT = 9,    /* RST outside the window */
	TCPSM_ERR_AFTER_RST = 10, /* data after the connection was reset */
	TCPSM_ERR_AFTER_FIN = 11, /* data at or after the FIN the receiver took */
	TCPSM_ERR_SYN_EST = 12,   /* SYN inside a synchronized connection (RFC 5961 4.2) */
	TCPSM_ERR_URGENT = 13,    /* urgent data: its byte taken out (or kept inline, tcp.urgent) */
	TCPSM_ERR_TTL = 14,       /* TTL under tcp.min_ttl */
	TCPSM_ERR_OVERLAP = 15,   /* overlapping copies of bytes differ */
	TCPSM_ERR_BUF_FULL = 16,  /* the reader is behind: bytes missed */
	TCPSM_ERR_NOMEM = 17,     /* the buffer pool is empty: bytes missed */
	TCPSM_ERR_BEYOND = 18,    /* out-of-order bytes beyond the buffer: not kept */
	TCPSM_ERR_OUTRUN = 19,    /* (the app stage's, per socket: bytes left the window unread) */
	TCPSM_ERR_N
};

#endif
