/* mospipe_flow_info() (include/mospipe_ext.h, section "streamdump"): when a
 * flow started, the time of the packet being handled and how the flow ended,
 * for tools that file connections away (apps/streamdump). A public struct of
 * plain fields, because struct mp_conn_snap (what mospipe_flow_snap() fills)
 * is internal.
 *
 * Concurrency: called on the app lcore that runs the callback. `end` and
 * `midstream` are written by tcpsm before the event that reports them leaves
 * tcpsm (the ring hand-off orders them); first_ts never changes after the
 * flow is created; last_ts is a single aligned 64-bit word tcpsm keeps
 * updating, read untorn, possibly newer than the event (documented). */
#include <errno.h>
#include <string.h>

#include "app-types.h"
#include "app.h"
#include "conntable.h"
#include "meta-types.h"
#include "mospipe_ext.h"
#include "tcpsm.h"

int mospipe_flow_info(mctx_t mctx, int sock, struct mospipe_flow_info *out)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai)
		return -1;
	if (!mp_api_active(ai, sock))
		return -1;
	if (!out) {
		errno = EINVAL;
		return -1;
	}
	const struct tcpsm_flow *f = mp_api_cur_flow(ai);
	if (!f) {
		errno = EBADF;
		return -1;
	}
	struct mp_conn_snap snap;
	tcpsm_flow_snap(f, &snap);
	memset(out, 0, sizeof(*out));
	out->id = snap.id;
	out->first_ns = snap.first_ts_ns;
	out->last_ns = snap.last_ts_ns;
	const struct mp_meta *md = ai->cur_md;
	out->now_ns = md && md->kind == MP_PKT_DATA ? md->ts_ns : 0;
	unsigned end = tcpsm_flow_end_reason(f);
	out->end = end ? tcpsm_end_name(end) : NULL;
	out->midstream = snap.midstream;
	return 0;
}
