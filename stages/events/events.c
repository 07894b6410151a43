/* events: not yet implemented beyond forwarding; it already runs as a full
 * stage instance (rings, counters, drain) so that mappings are exercised. */
#include "passthru.h"
#include "pipeline.h"

static unsigned events_poll(struct mp_stage_inst *si)
{
	return mp_passthru_poll(si, 0);
}

const struct mp_stage_type mp_stage_events = {
    .name = "events",
    .id = MP_ST_EVENTS,
    .poll = events_poll,
};
