/* app: not yet implemented beyond forwarding; it already runs as a full
 * stage instance (rings, counters, drain) so that mappings are exercised. */
#include "passthru.h"
#include "pipeline.h"

static unsigned app_poll(struct mp_stage_inst *si)
{
	return mp_passthru_poll(si, 0);
}

const struct mp_stage_type mp_stage_app = {
    .name = "app",
    .id = MP_ST_APP,
    .poll = app_poll,
};
