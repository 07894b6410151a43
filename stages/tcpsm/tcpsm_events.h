/* Built-in event bits and TCP state numbers of the emulated stacks.
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
 *   ERROR             RCV hook: reassembly buffer full / pool exhausted /
 *                     inconsistent retransmission
 *   TIMEOUT           control mbuf of a flow ended by the idle or SYN timeout
 *   TCP_STATE_CHANGE  at the hook whose side changed state
 *   ORPHAN            SND hook of a TCP packet that belongs to no flow
 *   REXMIT            SND hook of a segment carrying only sequence space the
 *                     sender already sent, or a retransmitted SYN/FIN
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

#endif
