/* tcpsm_app: what the app and events stages may touch of a tcpsm flow.
 *
 * The flow's control word (struct tcpsm_flow.ctl) carries per-flow requests
 * from the events and app stages to tcpsm: reader mode of each side's
 * reassembly buffer, MOS_STOP_MON, overlap policy, buffer off and resize.
 * Writers (events: first packet; app: mtcp_setsockopt from callbacks; tcpsm:
 * clearing one-shot requests) use atomic fetch-or / fetch-and; tcpsm reads it
 * with a relaxed load at the start of each packet of the flow
 * (tcpsm_app_apply) and when a side's buffer is created. Relaxed is enough:
 * each bit is an independent request, applying it one packet later is the
 * documented behaviour, and nothing else is published through the word.
 *
 * Sides: f->s[x].buf holds the bytes side x *receives* (mOS's per-side
 * receive buffer, what mtcp_peek(side = x) reads).
 */
#ifndef TCPSM_APP_H
#define TCPSM_APP_H

#include <stdint.h>

#include "tcpsm-types.h"

struct reasm;

#define TCPSM_CTL_INIT 0x1u                 /* defaults applied (first packet) */
#define TCPSM_CTL_READER(s) (0x2u << (s))   /* a reader peeks this side's buffer */
#define TCPSM_CTL_STOP(s) (0x8u << (s))     /* MOS_STOP_MON: side no longer tracked */
#define TCPSM_CTL_POLSET(s) (0x20u << (s))  /* overlap policy given ... */
#define TCPSM_CTL_POLLAST(s) (0x80u << (s)) /* ... and it is LAST (else FIRST) */
#define TCPSM_CTL_BUFOFF(s) (0x200u << (s)) /* MOS_CLIBUF/SVRBUF = 0 */
#define TCPSM_CTL_RESIZE(s) (0x800u << (s)) /* resize pending: size from want_size */

/* Control bits every new flow starts with (set by the API before packets
 * flow, read by tcpsm lcores afterwards). */
extern uint32_t tcpsm_app_default_ctl;
/* Size a pending resize asks for (the app's per-flow state); NULL: none. */
extern uint32_t (*tcpsm_app_want_size)(void *app, unsigned side);

/* Applies f->ctl to the flow's buffers. Called by tcpsm for every packet of
 * the flow before the emulated stacks run (tcpsm's thread). */
void tcpsm_app_apply(struct tcpsm_flow *f);

/* Applies f->ctl to side's buffer just created (tcpsm's thread). */
void tcpsm_app_buf_created(struct tcpsm_flow *f, unsigned side);

static inline uint32_t tcpsm_app_ctl(const struct tcpsm_flow *f)
{
	return __atomic_load_n(&f->ctl, __ATOMIC_RELAXED);
}
static inline void tcpsm_app_ctl_set(struct tcpsm_flow *f, uint32_t bits)
{
	__atomic_fetch_or(&f->ctl, bits, __ATOMIC_RELAXED);
}
static inline void tcpsm_app_ctl_clear(struct tcpsm_flow *f, uint32_t bits)
{
	__atomic_fetch_and(&f->ctl, ~bits, __ATOMIC_RELAXED);
}

/* Reader side (app stage): the buffer holding what side receives, or NULL. */
static inline struct reasm *tcpsm_app_buf(const struct tcpsm_flow *f, unsigned side)
{
	return (struct reasm *)__atomic_load_n(&f->s[side & 1].buf, __ATOMIC_ACQUIRE);
}

/* Addresses of side (0 client, 1 server): 16 bytes (IPv4 in the first 4),
 * port in host order. @return 1 for IPv6 flows, 0 for IPv4. */
int tcpsm_app_addr(const struct tcpsm_flow *f, unsigned side, uint8_t addr[16], uint16_t *port);

/* Sequence number of side's first payload byte and ISN (0 when unknown). */
uint32_t tcpsm_app_base_seq(const struct tcpsm_flow *f, unsigned side);

/* Time of the flow's newest packet (ns, packet time). Racy read, tcpsm may be
 * ahead of the caller. */
static inline uint64_t tcpsm_app_last_ts(const struct tcpsm_flow *f)
{
	return __atomic_load_n(&f->last_ts, __ATOMIC_RELAXED);
}

#endif
