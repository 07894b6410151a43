/* The ids tool's extension to the mOS API (include/mospipe_ext.h, section
 * "ids"): the full packet time of the event a callback handles, for the
 * timestamps of EVE alerts. mOS's own clocks are 32-bit and wrap. */
#include <errno.h>

#include "app-types.h"
#include "app.h"
#include "meta-types.h"
#include "mospipe_ext.h"

int mospipe_event_time(mctx_t mctx, uint64_t *ns)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai)
		return -1;
	if (!ns) {
		errno = EINVAL;
		return -1;
	}
	/* The packet (or control mbuf) being dispatched carries its time;
	 * control mbufs get tcpsm's clock when raised (tcpsm.c). */
	*ns = ai->cur_md ? ai->cur_md->ts_ns : ai->now_ns;
	return 0;
}
