/* The mOS API's mospipe options on the receivers' model (issue #11):
 * MOS_CLIPOLICY / MOS_SVRPOLICY, which TCP stack a side is modelled on as a
 * receiver for this flow, and MOS_ERROR_REASON, why the packet of a
 * MOS_ON_ERROR callback raised it (include/mos_api.h). Called by
 * mtcp_getsockopt() / mtcp_setsockopt() (api_flow.c) for these options, on
 * an active socket inside a callback (app lcore). A policy set here travels
 * in the flow's control word (tcpsm.h) and applies from the next packet
 * tcpsm processes for the flow, like the other per-flow options. */
#include <errno.h>
#include <string.h>

#include "app.h"
#include "conf-types.h"
#include "meta-types.h"
#include "mos_api.h"
#include "tcpsm.h"

#define SAME(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME(MOS_POLICY_LINUX, MP_POLICY_LINUX) && SAME(MOS_POLICY_WINDOWS, MP_POLICY_WINDOWS) &&
                   SAME(MOS_POLICY_CNT, MP_POLICY_N),
               "mos_api.h's policies are enum mp_policy");
_Static_assert(SAME(MOS_ERR_NO_ACK, TCPSM_ERR_NO_ACK) && SAME(MOS_ERR_SYN_DATA, TCPSM_ERR_SYN_DATA) &&
                   SAME(MOS_ERR_WINDOW, TCPSM_ERR_WINDOW) && SAME(MOS_ERR_PAWS, TCPSM_ERR_PAWS) &&
                   SAME(MOS_ERR_ACK_UNSENT, TCPSM_ERR_ACK_UNSENT) && SAME(MOS_ERR_ACK_OLD, TCPSM_ERR_ACK_OLD) &&
                   SAME(MOS_ERR_HANDSHAKE, TCPSM_ERR_HANDSHAKE) && SAME(MOS_ERR_RST_INWIN, TCPSM_ERR_RST_INWIN) &&
                   SAME(MOS_ERR_RST_OUT, TCPSM_ERR_RST_OUT) && SAME(MOS_ERR_AFTER_RST, TCPSM_ERR_AFTER_RST) &&
                   SAME(MOS_ERR_AFTER_FIN, TCPSM_ERR_AFTER_FIN) && SAME(MOS_ERR_SYN_EST, TCPSM_ERR_SYN_EST) &&
                   SAME(MOS_ERR_URGENT, TCPSM_ERR_URGENT) && SAME(MOS_ERR_TTL, TCPSM_ERR_TTL) &&
                   SAME(MOS_ERR_OVERLAP, TCPSM_ERR_OVERLAP) && SAME(MOS_ERR_BUF_FULL, TCPSM_ERR_BUF_FULL) &&
                   SAME(MOS_ERR_NOMEM, TCPSM_ERR_NOMEM) && SAME(MOS_ERR_BEYOND, TCPSM_ERR_BEYOND) &&
                   SAME(MOS_ERR_OUTRUN, TCPSM_ERR_OUTRUN) && SAME(MOS_ERR_CNT, TCPSM_ERR_N),
               "mos_api.h's error reasons are enum tcpsm_err");

int mp_api_policy_opt(int optname)
{
	return optname == MOS_CLIPOLICY || optname == MOS_SVRPOLICY || optname == MOS_ERROR_REASON;
}

/* The active socket of a callback and its flow. */
static struct tcpsm_flow *cb_flow(mctx_t mctx, int sock, struct mp_appi **aip)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai) {
		if (errno == EACCES)
			errno = EINVAL;
		return NULL;
	}
	if (!mp_api_active(ai, sock))
		return NULL;
	struct tcpsm_flow *f = mp_api_cur_flow(ai);
	if (!f)
		errno = EBADF;
	*aip = ai;
	return f;
}

int mp_api_policy_getsockopt(mctx_t mctx, int sock, int optname, void *optval, socklen_t *optlen)
{
	struct mp_appi *ai = NULL;
	if (sock < MP_API_SOCK_ACTIVE) {
		/* Per network: pipeline.conf's [policy]; no per-socket default. */
		errno = ENOPROTOOPT;
		return -1;
	}
	struct tcpsm_flow *f = cb_flow(mctx, sock, &ai);
	if (!f)
		return -1;
	int v;
	if (optname == MOS_ERROR_REASON) {
		v = ai->cur_md && ai->cur_md->kind == MP_PKT_DATA ? ai->cur_md->err : MOS_ERR_NONE;
		/* The stack's reason first; else this socket's outrun. */
		const struct mp_fsock *fs = mp_api_active(ai, sock);
		if (v == MOS_ERR_NONE && fs && fs->outrun_now)
			v = MOS_ERR_OUTRUN;
	} else {
		v = (int)tcpsm_flow_policy(f, optname == MOS_SVRPOLICY);
	}
	if (*optlen < (socklen_t)sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(optval, &v, sizeof(int));
	*optlen = sizeof(int);
	return 0;
}

int mp_api_policy_setsockopt(mctx_t mctx, int sock, int optname, int v)
{
	struct mp_appi *ai = NULL;
	if (optname == MOS_ERROR_REASON) {
		errno = ENOPROTOOPT; /* read only */
		return -1;
	}
	if (v < 0 || v >= MOS_POLICY_CNT) {
		errno = EINVAL;
		return -1;
	}
	if (sock < MP_API_SOCK_ACTIVE) {
		errno = ENOPROTOOPT;
		return -1;
	}
	struct tcpsm_flow *f = cb_flow(mctx, sock, &ai);
	if (!f)
		return -1;
	tcpsm_flow_set_policy(f, optname == MOS_SVRPOLICY, (unsigned)v);
	return 0;
}
