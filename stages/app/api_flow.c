/* The mOS API, part 2: what a callback asks about its flow and packet —
 * socket options, stream peeking, the last packet, peer addresses — and
 * user timers. All of it runs on the app lcore inside a callback (timers may
 * also be set at setup). Per-flow options reach tcpsm through the flow's
 * control word (tcpsm.h) and apply from tcpsm's next packet of the flow.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_mbuf.h>

#include "app.h"
#include "conf-types.h"
#include "mospipe_ext.h"
#include "meta.h"
#include "pipeline-types.h"
#include "reasm.h"
#include "tcpsm.h"

/* ---- helpers ---------------------------------------------------------------- */

static struct tcpsm_flow *cur_flow(const struct mp_appi *ai)
{
	return mp_api_cur_flow(ai);
}

/* Side's stream as of the event being handled (tcpsm's edge in the packet's
 * or control mbuf's metadata): every reader call is bounded by it. */
static const struct reasm_edge *cur_edge(const struct mp_appi *ai, unsigned side)
{
	return (const struct reasm_edge *)(const void *)&ai->cur_md->edge[side & 1];
}

/* The buffer of side (bytes side receives) when buffering is on for it. */
static struct reasm *side_buf(const struct mp_appi *ai, struct tcpsm_flow *f, unsigned side, int *off)
{
	uint32_t ctl = tcpsm_flow_ctl(f);
	*off = (ctl & (TCPSM_CTL_BUFOFF(side) | TCPSM_CTL_STOP(side))) != 0 || ai->api->conf->buf_size == 0;
	return *off ? NULL : tcpsm_flow_buf(f, side);
}

/* The context of mctx in the process's API state, or NULL. */
static struct mp_ctx *ctx_of(mctx_t mctx)
{
	struct mp_api *a = mp_api_cur;
	unsigned n = a ? __atomic_load_n(&a->n_ctx, __ATOMIC_ACQUIRE) : 0; /* as live_ctx() in api.c */
	for (unsigned i = 0; mctx && i < n; i++) {
		struct mp_ctx *c = __atomic_load_n(&a->ctx[i], __ATOMIC_ACQUIRE);
		if (c && &c->pub == mctx)
			return c;
	}
	return NULL;
}

/* ---- socket options ------------------------------------------------------------ */

static int put_int(void *optval, socklen_t *optlen, int v)
{
	if (*optlen < (socklen_t)sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(optval, &v, sizeof(int));
	*optlen = sizeof(int);
	return 0;
}

static int passive_getsockopt(struct mp_ctx *c, int sock, int optname, void *optval, socklen_t *optlen)
{
	unsigned ns = mp_ctx_nsock(c);
	if (sock < 0 || (unsigned)sock >= ns || c->psock[sock].kind != MP_SK_STREAM) {
		errno = sock >= 0 && (unsigned)sock < ns ? ENOPROTOOPT : EBADF;
		return -1;
	}
	struct mp_psock *ps = &c->psock[sock];
	switch (optname) {
	case MOS_CLIBUF:
	case MOS_SVRBUF: {
		int v = ps->bufsz[optname == MOS_SVRBUF];
		return put_int(optval, optlen, v < 0 ? (int)c->api->conf->buf_size : v);
	}
	case MOS_CLIOVERLAP:
	case MOS_SVROVERLAP: {
		int v = ps->overlap[optname == MOS_SVROVERLAP];
		return put_int(optval, optlen, v < 0 ? (int)c->api->conf->overlap : v);
	}
	default: errno = ENOPROTOOPT; return -1;
	}
}

int mtcp_getsockopt(mctx_t mctx, int sock, int level, int optname, void *optval, socklen_t *optlen)
{
	struct mp_appi *ai;
	if (!optval || !optlen) {
		errno = EINVAL;
		return -1;
	}
	if (level != SOL_MONSOCKET) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if (mp_api_policy_opt(optname))
		return mp_api_policy_getsockopt(mctx, sock, optname, optval, optlen);
	if (sock < MP_API_SOCK_ACTIVE) {
		/* Passive sockets: at setup or from a callback of the context. */
		struct mp_ctx *c = ctx_of(mctx);
		if (!c) {
			errno = EINVAL;
			return -1;
		}
		return passive_getsockopt(c, sock, optname, optval, optlen);
	}
	if (!(ai = mp_api_cb_appi(mctx))) {
		if (errno == EACCES)
			errno = EINVAL;
		return -1;
	}
	if (!mp_api_active(ai, sock))
		return -1;
	struct tcpsm_flow *f = cur_flow(ai);
	struct mp_meta *md = ai->cur_md;
	unsigned hook = ai->cur_hook == MP_CUR_HK_SND ? MP_HOOK_SND : MP_HOOK_RCV;
	int off;
	switch (optname) {
	case MOS_TCP_STATE_CLI:
	case MOS_TCP_STATE_SVR: return put_int(optval, optlen, md->st[hook][optname == MOS_TCP_STATE_SVR]);
	case MOS_INFO_CLIBUF:
	case MOS_INFO_SVRBUF: {
		unsigned sd = optname == MOS_INFO_SVRBUF;
		struct reasm *r = side_buf(ai, f, sd, &off);
		struct tcp_buf_info bi;
		struct reasm_info inf;
		if (off) {
			errno = ENODATA;
			return -1;
		}
		if (*optlen < (socklen_t)sizeof(bi)) {
			errno = EINVAL;
			return -1;
		}
		memset(&inf, 0, sizeof(inf));
		/* Bytes side sd receives were sent by the other side. As of the
		 * event: the edge in the metadata; the read offset is this
		 * socket's own. */
		if (r)
			reasm_info(r, &inf);
		const struct reasm_edge *e = cur_edge(ai, sd);
		struct mp_fsock *fs = mp_api_active(ai, sock);
		uint32_t seq0 = r ? inf.seq0 : tcpsm_flow_base_seq(f, sd ^ 1);
		uint64_t end = r ? e->end : 0;
		bi.tcpbi_init_seq = seq0;
		bi.tcpbi_last_byte_read = seq0 + (uint32_t)(fs->cur[sd] < end ? fs->cur[sd] : end);
		bi.tcpbi_next_byte_expected = seq0 + (uint32_t)end;
		bi.tcpbi_last_byte_received = seq0 + (uint32_t)(end + (r ? e->ahead : 0));
		memcpy(optval, &bi, sizeof(bi));
		*optlen = sizeof(bi);
		return 0;
	}
	case MOS_FRAGINFO_CLIBUF:
	case MOS_FRAGINFO_SVRBUF: {
		/* Every stored run from the read offset up: the readable in-order
		 * run, then each run held out of order (reasm_frags(): a snapshot,
		 * possibly behind tcpsm by the segments it is storing). *optlen
		 * in: room in bytes; out: bytes used. With more runs than fit, the
		 * first ones (lowest offsets) are returned; no run at all is 0
		 * bytes and success. */
		unsigned sd = optname == MOS_FRAGINFO_SVRBUF;
		struct reasm *r = side_buf(ai, f, sd, &off);
		struct reasm_frag rf[64];
		if (off) {
			errno = ENODATA;
			return -1;
		}
		unsigned room = (unsigned)(*optlen / sizeof(struct tcp_ring_fragment));
		const struct reasm_edge *e = cur_edge(ai, sd);
		unsigned n = r ? reasm_frags_at(r, e, rf, room < 64 ? room : 64) : 0;
		if (n == 0 && room == 0 && r && reasm_frags_at(r, e, rf, 1) > 0) {
			errno = EINVAL; /* no room for even one fragment */
			return -1;
		}
		for (unsigned i = 0; i < n; i++) {
			struct tcp_ring_fragment fr = {.offset = rf[i].off, .len = rf[i].len};
			memcpy((char *)optval + i * sizeof(fr), &fr, sizeof(fr));
		}
		*optlen = (socklen_t)(n * sizeof(struct tcp_ring_fragment));
		return 0;
	}
	case MOS_TIMESTAMP: {
		uint32_t us = (uint32_t)(md->ts_ns / 1000);
		if (*optlen < (socklen_t)sizeof(us)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(optval, &us, sizeof(us));
		*optlen = sizeof(us);
		return 0;
	}
	case MOS_CLIBUF:
	case MOS_SVRBUF: {
		unsigned sd = optname == MOS_SVRBUF;
		struct reasm *r = side_buf(ai, f, sd, &off);
		struct reasm_info inf;
		if (off)
			return put_int(optval, optlen, 0);
		if (!r)
			return put_int(
			    optval, optlen,
			    (int)(ai->cur_fa->want_size[sd] ? ai->cur_fa->want_size[sd] : ai->api->conf->buf_size));
		reasm_info(r, &inf);
		return put_int(optval, optlen, (int)inf.size);
	}
	case MOS_CLIOVERLAP:
	case MOS_SVROVERLAP: {
		unsigned sd = optname == MOS_SVROVERLAP;
		uint32_t ctl = tcpsm_flow_ctl(f);
		int v =
		    (ctl & TCPSM_CTL_POLSET(sd)) ? ((ctl & TCPSM_CTL_POLLAST(sd)) != 0) : (int)ai->api->conf->overlap;
		return put_int(optval, optlen, v);
	}
	default: errno = ENOPROTOOPT; return -1;
	}
}

int mtcp_setsockopt(mctx_t mctx, int sock, int level, int optname, const void *optval, socklen_t optlen)
{
	struct mp_appi *ai;
	int v;
	if (!optval || optlen != sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	if (level != SOL_MONSOCKET) {
		errno = ENOPROTOOPT;
		return -1;
	}
	memcpy(&v, optval, sizeof(int));
	if (mp_api_policy_opt(optname))
		return mp_api_policy_setsockopt(mctx, sock, optname, v);
	int is_buf = optname == MOS_CLIBUF || optname == MOS_SVRBUF;
	int is_ovl = optname == MOS_CLIOVERLAP || optname == MOS_SVROVERLAP;
	if (!is_buf && !is_ovl && optname != MOS_STOP_MON) {
		errno = ENOPROTOOPT;
		return -1;
	}
	uint64_t maxsz = mp_api_cur ? mp_api_cur->conf->buf_size * 16 : 0;
	if ((is_buf && (v < 0 || (uint64_t)v > maxsz)) || (is_ovl && (v < 0 || v >= MOS_OVERLAP_CNT)) ||
	    (optname == MOS_STOP_MON && (v < MOS_SIDE_CLI || v > MOS_SIDE_BOTH))) {
		errno = EINVAL;
		return -1;
	}
	if (sock < MP_API_SOCK_ACTIVE) {
		/* Passive: values for flows created from now on (setup). */
		struct mp_ctx *c = ctx_of(mctx);
		if (!c) {
			errno = EINVAL;
			return -1;
		}
		if (sock < 0 || (unsigned)sock >= mp_ctx_nsock(c)) {
			errno = EBADF;
			return -1;
		}
		struct mp_psock *ps = &c->psock[sock];
		if (ps->kind != MP_SK_STREAM || optname == MOS_STOP_MON) {
			errno = ENOPROTOOPT;
			return -1;
		}
		if (is_buf)
			ps->bufsz[optname == MOS_SVRBUF] = v;
		else
			ps->overlap[optname == MOS_SVROVERLAP] = v;
		return 0;
	}
	if (!(ai = mp_api_cb_appi(mctx))) {
		if (errno == EACCES)
			errno = EINVAL;
		return -1;
	}
	struct mp_fsock *fs = mp_api_active(ai, sock);
	if (!fs)
		return -1;
	struct mp_flowapp *fa = ai->cur_fa;
	struct tcpsm_flow *f = cur_flow(ai);
	if (optname == MOS_STOP_MON) {
		fs->stopped |= (uint8_t)(v == MOS_SIDE_BOTH ? 3 : 1u << v);
		fa->dirty = 1;
		return 0;
	}
	unsigned sd = optname == MOS_SVRBUF || optname == MOS_SVROVERLAP;
	if (is_ovl) {
		tcpsm_flow_ctl_clear(f, TCPSM_CTL_POLLAST(sd) |
		                            (v == MOS_OVERLAP_POLICY_TARGET ? TCPSM_CTL_POLSET(sd) : 0));
		if (v != MOS_OVERLAP_POLICY_TARGET)
			tcpsm_flow_ctl_set(f, TCPSM_CTL_POLSET(sd) | (v ? TCPSM_CTL_POLLAST(sd) : 0));
		return 0;
	}
	if (v == 0) {
		tcpsm_flow_ctl_set(f, TCPSM_CTL_BUFOFF(sd));
		return 0;
	}
	fa->want_size[sd] = (uint32_t)v;
	/* The size travels with the request: tcpsm reads it once it sees the
	 * RESIZE bit, which the set below publishes (release). */
	tcpsm_flow_want_size(f, sd, (uint32_t)v);
	tcpsm_flow_ctl_clear(f, TCPSM_CTL_BUFOFF(sd));
	tcpsm_flow_ctl_set(f, TCPSM_CTL_RESIZE(sd));
	return 0;
}

/* ---- peeking ------------------------------------------------------------------- */

static struct reasm *peek_buf(mctx_t mctx, int sock, int side, char *buf, int *ret)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	*ret = -1;
	if (!ai)
		return NULL;
	if (!mp_api_active(ai, sock))
		return NULL;
	if ((side != MOS_SIDE_CLI && side != MOS_SIDE_SVR) || !buf) {
		errno = EINVAL;
		return NULL;
	}
	int off;
	struct reasm *r = side_buf(ai, cur_flow(ai), (unsigned)side, &off);
	if (off) {
		errno = EINVAL;
		return NULL;
	}
	*ret = 0;
	return r;
}

ssize_t mtcp_peek(mctx_t mctx, int sock, int side, char *buf, size_t len)
{
	int ret;
	struct reasm *r = peek_buf(mctx, sock, side, buf, &ret);
	if (!r || !len)
		return ret;
	struct mp_appi *ai = mp_api_tl;
	struct mp_fsock *fs = mp_api_active(ai, sock);
	return reasm_peek_at(r, cur_edge(ai, (unsigned)side), &fs->cur[side], buf, len);
}

ssize_t mospipe_peek_spans(mctx_t mctx, int sock, int side, struct mospipe_span sp[2], size_t max)
{
	int ret;
	struct reasm *r = peek_buf(mctx, sock, side, (char *)sp, &ret);
	if (!r) {
		if (ret == 0)
			return 0; /* no bytes yet on this side */
		return -1;
	}
	if (!max) {
		errno = EINVAL;
		return -1;
	}
	struct mp_appi *ai = mp_api_tl;
	struct mp_fsock *fs = mp_api_active(ai, sock);
	const uint8_t *p[2] = {NULL, NULL};
	size_t l[2] = {0, 0};
	ssize_t n = reasm_span_at(r, cur_edge(ai, (unsigned)side), &fs->cur[side], p, l, max);
	for (int i = 0; i < 2; i++)
		sp[i] = (struct mospipe_span){.p = p[i], .len = l[i]};
	return n;
}

ssize_t mtcp_ppeek(mctx_t mctx, int sock, int side, char *buf, size_t count, uint64_t off)
{
	int ret;
	struct reasm *r = peek_buf(mctx, sock, side, buf, &ret);
	if (!r) {
		if (ret == 0)
			errno = ENODATA;
		return -1;
	}
	if (!count) {
		errno = EINVAL;
		return -1;
	}
	ssize_t n = reasm_ppeek_at(r, cur_edge(mp_api_tl, (unsigned)side), buf, count, off);
	if (n <= 0) {
		errno = ENODATA;
		return -1;
	}
	return n;
}

/* ---- packet and addresses ------------------------------------------------------ */

int mtcp_getlastpkt(mctx_t mctx, int sock, int side, struct pkt_info *p)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	(void)side;
	if (!ai)
		return -1;
	if (sock >= MP_API_SOCK_ACTIVE ? !mp_api_active(ai, sock)
	                               : (sock < 0 || (unsigned)sock >= mp_ctx_nsock(ai->ctx))) {
		errno = EBADF;
		return -1;
	}
	if (!p) {
		errno = EINVAL;
		return -1;
	}
	struct rte_mbuf *m = ai->cur_m;
	struct mp_meta *md = ai->cur_md;
	if (!m || md->kind != MP_PKT_DATA) {
		errno = ENODATA;
		return -1;
	}
	/* A copy, as mOS makes one (ClonePacketCtx): writing through the
	 * pointers changes nothing that is forwarded (mtcp_setlastpkt does),
	 * and the copy stays valid until the callback returns. */
	uint32_t clen = rte_pktmbuf_pkt_len(m);
	if (clen > sizeof(ai->pktcopy))
		clen = sizeof(ai->pktcopy);
	const uint8_t *src = rte_pktmbuf_read(m, 0, clen, ai->pktcopy);
	if (src && src != ai->pktcopy)
		memcpy(ai->pktcopy, src, clen);
	uint8_t *d = ai->pktcopy;
	memset(p, 0, sizeof(*p));
	p->cur_ts = (uint32_t)(md->ts_ns / 1000000);
	p->in_ifidx = (int8_t)md->port;
	p->eth_len = (uint16_t)rte_pktmbuf_pkt_len(m);
	p->ethh = (struct ethhdr *)d;
	if (md->flags & (MP_MF_IPV4 | MP_MF_IPV6)) {
		p->iph = (struct iphdr *)(d + md->l3_off);
		p->ip_len = (uint16_t)(rte_pktmbuf_pkt_len(m) - md->l3_off);
		if (md->flags & MP_MF_IPV4)
			p->ip_len = (uint16_t)((d[md->l3_off + 2] << 8) | d[md->l3_off + 3]);
	}
	if (md->flags & MP_MF_TCP) {
		p->tcph = (struct tcphdr *)(d + md->l4_off);
		p->payload = d + md->pay_off;
		p->payloadlen = md->pay_len;
		p->seq = md->seq;
		p->ack_seq = md->ack;
		p->window = md->win;
		struct tcpsm_flow *f = md->flow;
		if (f) {
			uint32_t base = tcpsm_flow_base_seq(f, md->side);
			p->offset = (uint32_t)(md->seq - base);
		}
	}
	return 0;
}

static void fill_addr(const struct tcpsm_flow *f, unsigned side, struct sockaddr *sa, socklen_t *used)
{
	uint8_t a[16];
	uint16_t port;
	if (tcpsm_flow_addr(f, side, a, &port)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		memset(s6, 0, sizeof(*s6));
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a, 16);
		*used = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		memset(s4, 0, sizeof(*s4));
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a, 4);
		*used = sizeof(*s4);
	}
}

int mtcp_getpeername(mctx_t mctx, int sock, struct sockaddr *saddr, socklen_t *addrlen, int side)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai || !mp_api_active(ai, sock))
		return -1;
	if (!saddr || !addrlen || side < MOS_SIDE_CLI || side > MOS_SIDE_BOTH) {
		errno = EINVAL;
		return -1;
	}
	struct tcpsm_flow *f = cur_flow(ai);
	uint8_t addr[16];
	uint16_t port;
	socklen_t one = tcpsm_flow_addr(f, 0, addr, &port) ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	socklen_t need = side == MOS_SIDE_BOTH ? 2 * one : one, used;
	if (*addrlen < need) {
		errno = EINVAL;
		return -1;
	}
	if (side == MOS_SIDE_BOTH) {
		fill_addr(f, 0, saddr, &used);
		fill_addr(f, 1, (struct sockaddr *)((uint8_t *)saddr + one), &used);
	} else {
		fill_addr(f, (unsigned)side, saddr, &used);
	}
	*addrlen = need;
	return 0;
}

/* ---- timers ------------------------------------------------------------------- */

int mtcp_settimer(mctx_t mctx, int id, struct timeval *timeout, callback_t cb)
{
	struct mp_appi *ai = NULL;
	struct mp_ctx *c = ctx_of(mctx);
	if (!c) {
		errno = EACCES;
		return -1;
	}
	if (!timeout || !cb || timeout->tv_sec < 0 || timeout->tv_usec < 0) {
		errno = EINVAL;
		return -1;
	}
	struct mp_api *a = c->api;
	if (mp_api_tl && mp_api_tl->in_cb && mp_api_tl->ctx == c)
		ai = mp_api_tl;
	else if (!a->started)
		ai = a->appi[c->idx < a->n_appi ? c->idx : 0];
	else {
		errno = EPERM;
		return -1;
	}
	uint64_t when = ai->now_ns + (uint64_t)timeout->tv_sec * 1000000000ULL + (uint64_t)timeout->tv_usec * 1000ULL;
	for (unsigned i = 0; i < ai->n_timers; i++)
		if (ai->timer[i].id == id && ai->timer[i].ctx == c) {
			ai->timer[i].when_ns = when;
			ai->timer[i].cb = cb;
			mp_app_publish_due(ai);
			return 0;
		}
	if (ai->n_timers == ai->api->n_timers_max) {
		errno = ENOMEM;
		return -1;
	}
	ai->timer[ai->n_timers++] = (struct mp_timer){when, id, cb, c};
	mp_app_publish_due(ai);
	return 0;
}

uint32_t mtcp_cb_get_ts(mctx_t mctx)
{
	struct mp_ctx *c = ctx_of(mctx);
	if (c) {
		struct mp_api *a = c->api;
		struct mp_appi *ai =
		    mp_api_tl && mp_api_tl->ctx == c ? mp_api_tl : a->appi[c->idx < a->n_appi ? c->idx : 0];
		return (uint32_t)(ai->now_ns / 1000);
	}
	errno = EACCES;
	return 0;
}
