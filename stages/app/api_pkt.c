/* The mOS API, part 3: changing, dropping and injecting packets (inline
 * mode): mtcp_setlastpkt, mtcp_sendpkt, mtcp_reset_conn. Injected packets
 * leave the app stage right after the packet being handled and are counted
 * under the app counter "injected" (conservation: rx + injected = tx + drops).
 */
#include <errno.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>

#include "app.h"
#include "conf-types.h"
#include "mbufpool.h"
#include "meta.h"
#include "parse.h"
#include "pipeline-types.h"
#include "tcpsm.h"

/* Recomputes the checksums of a contiguous packet after a change. The TCP
 * checksum uses classify's pseudo-header sum and segment length, taken from
 * the metadata (kept current by chomp/insert), so IPv4 options and IPv6
 * extension headers are handled like everywhere else in the stack. */
void mp_api_fix_csum(struct rte_mbuf *m, struct mp_meta *md, int ip, int tcp)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	if (ip && (md->flags & MP_MF_IPV4)) {
		struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(d + md->l3_off);
		ih->hdr_checksum = 0;
		ih->hdr_checksum = rte_ipv4_cksum(ih);
	}
	if (tcp && (md->flags & MP_MF_TCP)) {
		struct rte_tcp_hdr *th = (struct rte_tcp_hdr *)(d + md->l4_off);
		th->cksum = 0;
		uint32_t sum = cls_pseudo_sum(md) + __rte_raw_cksum(th, cls_tcp_seg_len(md), 0);
		th->cksum = (uint16_t)~__rte_raw_cksum_reduce(sum);
	}
}

int mp_api_modify(struct rte_mbuf *m, struct mp_meta *md, off_t offset, const uint8_t *data, uint16_t datalen,
                  int option)
{
	int region = option & (MOS_ETH_HDR | MOS_IP_HDR | MOS_TCP_HDR | MOS_TCP_PAYLOAD);
	int op = option & (MOS_DROP | MOS_OVERWRITE | MOS_CHOMP | MOS_INSERT);
	int ip = (option & MOS_UPDATE_IP_CHKSUM) != 0, tcp = (option & MOS_UPDATE_TCP_CHKSUM) != 0;

	if (op == MOS_DROP) {
		if (region)
			return -EINVAL;
		md->verdict = MP_VERDICT_DROP;
		return 0;
	}
	if (op && __builtin_popcount((unsigned)op) != 1)
		return -EINVAL;
	if (region && __builtin_popcount((unsigned)region) != 1)
		return -EINVAL;
	if (!op) {
		if (region || !(ip || tcp))
			return -EINVAL;
		mp_api_fix_csum(m, md, ip, tcp);
		return 0;
	}
	if (!region || offset < 0 || m->nb_segs > 1)
		return -EINVAL;
	uint32_t len = rte_pktmbuf_pkt_len(m), base, rlen;
	switch (region) {
	case MOS_ETH_HDR:
		base = 0;
		rlen = md->l3_off;
		break;
	case MOS_IP_HDR:
		base = md->l3_off;
		rlen = (uint32_t)(md->l4_off - md->l3_off);
		break;
	case MOS_TCP_HDR:
		base = md->l4_off;
		rlen = (uint32_t)(md->pay_off - md->l4_off);
		break;
	default:
		base = md->pay_off;
		rlen = len > md->pay_off ? len - md->pay_off : 0;
		break;
	}
	if ((region != MOS_TCP_PAYLOAD && !(md->flags & MP_MF_TCP)) ||
	    (region == MOS_TCP_PAYLOAD && !(md->flags & MP_MF_TCP)))
		return -EINVAL;
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	switch (op) {
	case MOS_OVERWRITE:
		if (!data || (uint64_t)offset + datalen > rlen)
			return -EINVAL;
		memcpy(d + base + offset, data, datalen);
		break;
	case MOS_CHOMP:
		if (region != MOS_TCP_PAYLOAD || (uint64_t)offset + datalen > rlen)
			return -EINVAL;
		memmove(d + base + offset, d + base + offset + datalen, rlen - (uint32_t)offset - datalen);
		rte_pktmbuf_trim(m, datalen);
		md->pay_len = (uint16_t)(md->pay_len > datalen ? md->pay_len - datalen : 0);
		md->pay_cap = (uint16_t)(md->pay_cap > datalen ? md->pay_cap - datalen : 0);
		break;
	case MOS_INSERT:
		if (region != MOS_TCP_PAYLOAD || !data || (uint64_t)offset > rlen)
			return -EINVAL;
		if (mp_mbuf_unshare(m) < 0 || rte_pktmbuf_tailroom(m) < datalen)
			return -EINVAL;
		if (!rte_pktmbuf_append(m, datalen))
			return -EINVAL;
		d = rte_pktmbuf_mtod(m, uint8_t *);
		memmove(d + base + offset + datalen, d + base + offset, rlen - (uint32_t)offset);
		memcpy(d + base + offset, data, datalen);
		md->pay_len = (uint16_t)(md->pay_len + datalen);
		md->pay_cap = (uint16_t)(md->pay_cap + datalen);
		break;
	default: return -EINVAL;
	}
	if (ip || tcp)
		mp_api_fix_csum(m, md, ip, tcp);
	return 0;
}

int mtcp_setlastpkt(mctx_t mctx, int sock, int side, off_t offset, byte *data, uint16_t datalen, int option)
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
	if (!ai->cur_m || ai->cur_md->kind != MP_PKT_DATA) {
		errno = ENODATA;
		return -1;
	}
	if (ai->api->conf->mode != MP_MODE_INLINE) {
		errno = ENOTSUP;
		return -1;
	}
	int r = mp_api_modify(ai->cur_m, ai->cur_md, offset, data, datalen, option);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* Builds one TCP packet after the current one: Ethernet header of the
 * current packet (addresses swapped when it goes the other way), then the
 * given IP header, TCP header and payload. @return 0 or -errno. */
static int inject(struct mp_appi *ai, const uint8_t *iph, unsigned iplen, const uint8_t *tcph, unsigned tcplen,
                  const uint8_t *pay, unsigned paylen, int reverse)
{
	struct mp_meta *cmd = ai->cur_md;
	struct rte_mbuf *cm = ai->cur_m;
	if (ai->n_inject == MP_API_MAX_INJECT)
		return -ENOBUFS;
	struct rte_mbuf *m = rte_pktmbuf_alloc(ai->api->pl->pool);
	if (!m)
		return -ENOBUFS;
	unsigned l2 = cmd->l3_off, total = l2 + iplen + tcplen + paylen;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)total);
	if (!d) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	const uint8_t *cd = rte_pktmbuf_mtod(cm, const uint8_t *);
	memcpy(d, cd, l2);
	if (reverse && l2 >= 12) {
		memcpy(d, cd + 6, 6);
		memcpy(d + 6, cd, 6);
	}
	memcpy(d + l2, iph, iplen);
	memcpy(d + l2 + iplen, tcph, tcplen);
	if (paylen)
		memcpy(d + l2 + iplen + tcplen, pay, paylen);
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	md->kind = MP_PKT_DATA;
	md->ts_ns = cmd->ts_ns;
	md->hash = cmd->hash;
	md->flags = (uint16_t)(MP_MF_TCP | MP_MF_INJECTED | (cmd->flags & (MP_MF_IPV4 | MP_MF_IPV6)));
	md->l3_off = (uint16_t)l2;
	md->l4_off = (uint16_t)(l2 + iplen);
	md->pay_off = (uint16_t)(l2 + iplen + tcplen);
	md->pay_len = md->pay_cap = (uint16_t)paylen;
	const struct mp_pipeline *pl = ai->api->pl;
	md->port = reverse && cmd->port < pl->n_ports ? pl->port[cmd->port].peer : cmd->port;
	/* The metadata describes the packet fully, as if classify had parsed
	 * it: the checksum below and any later stage read the addresses there. */
	md->ip_proto = 6; /* TCP */
	if (md->flags & MP_MF_IPV4) {
		uint8_t *ih = d + l2;
		ih[2] = (uint8_t)((iplen + tcplen + paylen) >> 8);
		ih[3] = (uint8_t)(iplen + tcplen + paylen);
		memcpy(md->src, ih + 12, 4);
		memcpy(md->dst, ih + 16, 4);
	} else {
		uint8_t *ih = d + l2;
		ih[4] = (uint8_t)((tcplen + paylen) >> 8);
		ih[5] = (uint8_t)(tcplen + paylen);
		memcpy(md->src, ih + 8, 16);
		memcpy(md->dst, ih + 24, 16);
	}
	mp_api_fix_csum(m, md, 1, 1);
	ai->inject[ai->n_inject++] = m;
	return 0;
}

static int inline_check(struct mp_appi *ai, int sock)
{
	if (!mp_api_active(ai, sock))
		return -1;
	if (ai->api->conf->mode != MP_MODE_INLINE) {
		errno = ENOTSUP;
		return -1;
	}
	if (!ai->cur_m || ai->cur_md->kind != MP_PKT_DATA || !(ai->cur_md->flags & MP_MF_TCP)) {
		errno = ENODATA;
		return -1;
	}
	return 0;
}

int mtcp_sendpkt(mctx_t mctx, int sock, const struct pkt_info *pkt)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai || inline_check(ai, sock) < 0)
		return -1;
	if (!pkt || !pkt->iph || !pkt->tcph) {
		errno = ENODATA;
		return -1;
	}
	const uint8_t *ih = (const uint8_t *)pkt->iph, *th = (const uint8_t *)pkt->tcph;
	int v4 = (ih[0] >> 4) == 4;
	if (v4 != ((ai->cur_md->flags & MP_MF_IPV4) != 0)) {
		errno = ENODATA;
		return -1;
	}
	unsigned iplen = v4 ? (ih[0] & 15u) * 4 : 40, tcplen = (th[12] >> 4) * 4u;
	/* Same source address as the current packet: same direction. */
	const uint8_t *cur = rte_pktmbuf_mtod(ai->cur_m, const uint8_t *) + ai->cur_md->l3_off;
	int reverse = v4 ? memcmp(ih + 12, cur + 12, 4) != 0 : memcmp(ih + 8, cur + 8, 16) != 0;
	int r = inject(ai, ih, iplen, th, tcplen, pkt->payload, pkt->payload ? pkt->payloadlen : 0, reverse);
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

/* A TCP header of 20 bytes: ports, sequence and acknowledgment numbers,
 * flags (window 0, no options). */
static void rst_hdr(uint8_t th[20], uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	memset(th, 0, 20);
	th[0] = (uint8_t)(sport >> 8);
	th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8);
	th[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		th[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		th[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	th[12] = 5 << 4;
	th[13] = flags;
}

int mtcp_reset_conn(mctx_t mctx, int sock)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai || inline_check(ai, sock) < 0)
		return -1;
	/* The RSTs are built once every callback of this packet has returned
	 * (mp_api_reset_send(), from app.c), when its verdict is final: the RST
	 * to the receiver must carry the sequence number it expects next, which
	 * depends on whether this packet reaches it (MOS_DROP before or after
	 * this call). */
	ai->cur_fa->reset = MP_RESET_ASKED;
	return 0;
}

int mp_api_reset_send(struct mp_appi *ai)
{
	struct mp_meta *md = ai->cur_md;
	const uint8_t *d = rte_pktmbuf_mtod(ai->cur_m, const uint8_t *);
	unsigned iplen = (unsigned)(md->l4_off - md->l3_off);
	uint8_t ih[60], rih[60], th[20];
	int r = 0;
	if (iplen > sizeof(ih))
		return -EINVAL;
	memcpy(ih, d + md->l3_off, iplen);
	memcpy(rih, ih, iplen);
	if (md->flags & MP_MF_IPV4) {
		memcpy(rih + 12, ih + 16, 4);
		memcpy(rih + 16, ih + 12, 4);
	} else {
		memcpy(rih + 8, ih + 24, 16);
		memcpy(rih + 24, ih + 8, 16);
	}
	if ((md->tcp_flags & (MP_TH_SYN | MP_TH_ACK | MP_TH_RST)) == MP_TH_SYN) {
		/* A client's SYN: refused as a closed port refuses it (RFC 9293
		 * 3.10.7.1, ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>),
		 * and dropped: the server never hears of the connection. */
		md->verdict = MP_VERDICT_DROP;
		rst_hdr(th, md->dport, md->sport, 0, md->seq + md->pay_len + 1, MP_TH_RST | MP_TH_ACK);
		r = inject(ai, rih, iplen, th, 20, NULL, 0, 1);
	} else {
		/* Toward the receiver, as the sender: at the sequence number it
		 * expects next (RFC 5961 3.2: only that one resets at once; any
		 * other in the window earns a challenge ACK). This packet's own
		 * when it is dropped, else the one after it (as forwarded:
		 * mtcp_setlastpkt may have changed its length). */
		uint32_t next = md->seq;
		if (md->verdict != MP_VERDICT_DROP)
			next += md->pay_len + ((md->tcp_flags & (MP_TH_SYN | MP_TH_FIN)) ? 1 : 0);
		/* A retransmission does not end what the receiver has (dropped
		 * or not): its next is the in-order edge of the stream it
		 * receives as of this packet (the metadata's edge). */
		const struct mp_edge *e = &md->edge[md->side ^ 1];
		uint32_t base = md->flow ? tcpsm_flow_base_seq(md->flow, md->side) : 0;
		if (((md->ev[MP_HOOK_SND] | md->ev[MP_HOOK_RCV]) & MP_ON_REXMIT) && (e->flags & 1u) && base &&
		    !(md->tcp_flags & (MP_TH_SYN | MP_TH_FIN)))
			next = base + (uint32_t)e->end;
		rst_hdr(th, md->sport, md->dport, next, md->ack, MP_TH_RST | (md->tcp_flags & MP_TH_ACK));
		r = inject(ai, ih, iplen, th, 20, NULL, 0, 0);
		if (r == 0 && (md->tcp_flags & MP_TH_ACK)) {
			/* Toward the sender, as the receiver: at what the sender
			 * acknowledged, i.e. what it expects from the receiver. */
			rst_hdr(th, md->dport, md->sport, md->ack, next, MP_TH_RST | MP_TH_ACK);
			r = inject(ai, rih, iplen, th, 20, NULL, 0, 1);
		}
	}
	return r;
}
