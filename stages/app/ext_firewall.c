/* mospipe_ext.h, section "firewall": what an inline tool needs to know about
 * the packet a callback handles beyond struct pkt_info.
 *
 * mospipe_pkt_reassembled(): classify holds IP fragments until their
 * datagram completes; the datagram it rebuilds enters the pipeline flagged
 * MP_MF_REASM, carrying the fragments, so that tcpsm and the application see
 * whole segments, and tx sends the fragments with its verdict. A tool that
 * counts what crosses the wire must know this packet stands for several:
 * nothing in pkt_info says so. */
#include <errno.h>

#include "app.h"
#include "meta.h"
#include "mospipe_ext.h"

int mospipe_pkt_reassembled(mctx_t mctx)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx); /* sets EPERM / EACCES */
	if (!ai)
		return -1;
	if (!ai->cur_m || !ai->cur_md || ai->cur_md->kind != MP_PKT_DATA) {
		errno = ENODATA;
		return -1;
	}
	return (ai->cur_md->flags & MP_MF_REASM) != 0;
}
