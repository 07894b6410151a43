/* rx's external face: what other stages and the mOS API extensions may ask
 * of the input stage. The offline gate (mospipe_gate: rx delivers no capture
 * packet later than a given packet time) and the input's packet time are
 * rx's own state, kept per instance in its private state; these accessors
 * are the only way in.
 *
 * Threading: any thread, while the pipeline exists (after
 * mp_pipeline_create, before mp_pipeline_destroy). Each value is one
 * aligned word an rx instance stores atomically; the accessors load them
 * atomically, with the order each one states.
 */
#ifndef RX_H
#define RX_H

#include <stdint.h>

struct mp_pipeline;

/* Moves the offline gate: from now on rx instances deliver no packet of a
 * capture file or generator whose time is later than ns (0 = open, the
 * default); live ports are never held. Release: what the caller did before
 * (e.g. reading the connection table) happens before rx delivers the
 * packets the new gate lets through. */
void rx_gate_set(struct mp_pipeline *pl, uint64_t ns);

/* @return the earliest packet time an rx instance holds at the gate (the
 * next packet it would deliver), 0 when none holds one. Acquire. */
uint64_t rx_gate_next(const struct mp_pipeline *pl);

/* @return 1 when every rx instance is stopped at the gate (holds a packet
 * past it, or holds the end of its input until the gate opens) or has
 * ended its input; 0 while one may still deliver. Acquire. */
int rx_gate_waiting(const struct mp_pipeline *pl);

/* @return packets rx instances received and hold at the gate (not yet
 * passed on): part of what is in flight. */
uint64_t rx_gate_held(const struct mp_pipeline *pl);

/* @return the input's packet time: the newest time of a packet an rx
 * instance has passed on (0 before the first). Relaxed: a reader that must
 * see the final value reads it after rx is done (tcpsm's drain does). */
uint64_t rx_time(const struct mp_pipeline *pl);

#endif
