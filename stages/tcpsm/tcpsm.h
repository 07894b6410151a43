/* tcpsm's external face: what the other stages and the mOS API may use of
 * the TCP flow-management stage. A flow is opaque outside stages/tcpsm
 * (mp_meta.flow is a struct tcpsm_flow *): these accessors are the only way
 * to read it, and the control word below is the only thing another stage
 * writes (tcpsm-types.h and tcpsm-int.h are tcpsm's own; see README.md).
 *
 * Threading: every accessor is for the lcore that holds a packet of the
 * flow (events, app) while the flow is not retired; tcpsm writes the flow
 * concurrently, so what may change is read with relaxed atomics and is a
 * value tcpsm had at some point at or after the packet. Addresses, ports,
 * slot and the base sequence number of a side whose first packet was seen
 * do not change while the flow lives.
 */
#ifndef TCPSM_H
#define TCPSM_H

#include <stdint.h>

#include "tcpsm_events.h"

struct tcpsm_flow;
struct reasm;
struct mp_conf;
struct mp_pipeline;
struct mp_conn_snap;

/* ---- the control word ------------------------------------------------------
 *
 * Per-flow requests from the events and app stages to tcpsm: reader mode of
 * each side's reassembly buffer, MOS_STOP_MON, overlap policy, buffer off and
 * resize (DESIGN.md §3: they apply from the next packet tcpsm processes for
 * the flow). Who writes: events at the flow's first packet it sees (what the
 * sockets following it asked for), the app stage from callbacks
 * (mtcp_setsockopt, MOS_STOP_MON), tcpsm itself (defaults on the first
 * packet, clearing one-shot requests). Writers use atomic fetch-or/fetch-and
 * through these functions; tcpsm reads the word with acquire at the start of
 * each packet of the flow and when a side's buffer is created. Each bit is an
 * independent request, so no order between bits is needed; the acquire only
 * pairs with the release of tcpsm_flow_ctl_set(), so that the size stored by
 * tcpsm_flow_want_size() before a RESIZE bit is seen with it.
 *
 * Sides: the buffer of side x holds the bytes side x *receives* (mOS's
 * per-side receive buffer, what mtcp_peek(side = x) reads).
 */
#define TCPSM_CTL_INIT 0x1u                    /* defaults applied (first packet) */
#define TCPSM_CTL_READER(s) (0x2u << (s))      /* a reader peeks this side's buffer */
#define TCPSM_CTL_STOP(s) (0x8u << (s))        /* MOS_STOP_MON: side no longer tracked */
#define TCPSM_CTL_POLSET(s) (0x20u << (s))     /* overlap policy given ... */
#define TCPSM_CTL_POLLAST(s) (0x80u << (s))    /* ... and it is LAST (else FIRST) */
#define TCPSM_CTL_BUFOFF(s) (0x200u << (s))    /* MOS_CLIBUF/SVRBUF = 0 */
#define TCPSM_CTL_RESIZE(s) (0x800u << (s))    /* resize pending (tcpsm_flow_want_size) */
#define TCPSM_CTL_TPOLSET(s) (0x4000u << (s))  /* receiver's stack given (MOS_CLIPOLICY) ... */
#define TCPSM_CTL_TPOLWIN(s) (0x10000u << (s)) /* ... and it is Windows (else Linux) */

/* @return the flow's control word (acquire, see above). */
uint32_t tcpsm_flow_ctl(const struct tcpsm_flow *f);
/* Sets (with release) / clears bits of the control word (atomic, any stage
 * lcore). */
void tcpsm_flow_ctl_set(struct tcpsm_flow *f, uint32_t bits);
void tcpsm_flow_ctl_clear(struct tcpsm_flow *f, uint32_t bits);
/* The size a RESIZE(side) request asks for (MOS_CLIBUF/SVRBUF > 0): store it
 * first, then set TCPSM_CTL_RESIZE(side) with tcpsm_flow_ctl_set(), whose
 * release makes tcpsm see this size with the bit. */
void tcpsm_flow_want_size(struct tcpsm_flow *f, unsigned side, uint32_t size);

/* The control bits every flow of pl starts with (tcpsm applies them at the
 * flow's first packet, before the events stage sees it): the API turns on
 * reader mode when some stream socket may peek, so that the first bytes are
 * kept for a reader events has not attached yet. Main thread, before packets
 * flow. @return 0, or -ENODEV when pl has no tcpsm instance. */
int tcpsm_set_new_flow_ctl(struct mp_pipeline *pl, uint32_t bits);

/* The stack (enum mp_policy) side is modelled on as a receiver
 * (tcpsm_accept.c): what tcp.policy and [policy] gave it at the flow's
 * start, or what the app set since. Set: through the control word (sticky
 * TPOLSET/TPOLWIN bits), applied from the next packet tcpsm processes. */
unsigned tcpsm_flow_policy(const struct tcpsm_flow *f, unsigned side);
void tcpsm_flow_set_policy(struct tcpsm_flow *f, unsigned side, unsigned policy);

/* ---- reading a flow ------------------------------------------------------- */

/* The flow's slot (the index of per-flow tables of events and app); also in
 * mp_meta.flow_idx of every packet and control mbuf of the flow. */
uint32_t tcpsm_flow_slot(const struct tcpsm_flow *f);

/* Number of flow slots each tcpsm instance has for conf c: slots run from 0
 * to c->n_inst[tcpsm] * tcpsm_flow_slots(c) - 1. */
unsigned tcpsm_flow_slots(const struct mp_conf *c);

/* The smallest reassembly pool ([tcp] buf_pool, bytes) that gives both sides
 * of flows flows the chunks they need to buffer with buf_size bytes per side
 * (a data chunk, and the slot map when the window and the readers' slack
 * reach past the inline slots); tcpsm refuses a smaller pool. 0 when
 * buf_size is 0 (reassembly off). For front ends that count buffers the
 * way mOS does (mos.conf's no_ring_buffers, mtcp_setconf). */
uint64_t tcpsm_buf_pool_need(unsigned flows, uint64_t buf_size);

/* Reader side of side's reassembly buffer (the bytes side receives), or NULL
 * when it has none (yet). Read it with the reader functions of reasm.h
 * (reasm_peek, reasm_ppeek, reasm_info, reasm_frags) on the app lcore owning
 * the flow, and only while the flow is not retired. */
struct reasm *tcpsm_flow_buf(const struct tcpsm_flow *f, unsigned side);

/* Every callback of f up to packet (or control mbuf) md has returned, or md
 * leaves without one (bypass): no reader of f reads below the window
 * starts of md's edges again, and tcpsm may give those chunks back
 * (reasm_release). Called by the lcore that holds the flow's packets in
 * order: the app stage after a packet, the events stage for a packet it
 * lets bypass the app while none of the flow is there. */
struct mp_meta;
void tcpsm_flow_release(struct tcpsm_flow *f, const struct mp_meta *md);
/* Asks for the line tcpsm_flow_release() will write for md, a few packets
 * ahead (the app stage's burst loop). */
void tcpsm_flow_prefetch_release(const struct tcpsm_flow *f, const struct mp_meta *md);

/* Address of side (0 client, 1 server): 16 bytes (IPv4 in the first 4),
 * port in host order. @return 1 for IPv6 flows, 0 for IPv4. */
int tcpsm_flow_addr(const struct tcpsm_flow *f, unsigned side, uint8_t addr[16], uint16_t *port);

/* Sequence number of side's first payload byte (0 while unknown). */
uint32_t tcpsm_flow_base_seq(const struct tcpsm_flow *f, unsigned side);

/* What the connection table shows of the flow (runtime/conntable.h). */
void tcpsm_flow_snap(const struct tcpsm_flow *f, struct mp_conn_snap *out);

/* enum tcpsm_end: TCPSM_END_NONE while the flow is open. */
unsigned tcpsm_flow_end_reason(const struct tcpsm_flow *f);
/* @return "fin", "rst", "timeout", "evicted", "open" ("?" otherwise). */
const char *tcpsm_end_name(unsigned end);
/* @return "CLOSED", "SYN_SENT", ... ("?" when out of range). */
const char *tcpsm_state_name(unsigned st);

/* Payload bytes of side's stream never captured so far (holes, snaplen), and
 * payload bytes side retransmitted. */
uint64_t tcpsm_flow_missed(const struct tcpsm_flow *f, unsigned side);
uint64_t tcpsm_flow_rexmit_bytes(const struct tcpsm_flow *f, unsigned side);

#endif
