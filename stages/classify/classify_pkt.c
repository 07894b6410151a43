/* classify, one packet: a contiguous view of its headers for the parser
 * (parse.c), the IPv4 header and TCP checksums (RX offload verdicts where a
 * port gave them, else computed over every segment), and what it is,
 * counted. Used by the stage (classify.c) for every packet and by
 * classify_frag.c for the datagrams it rebuilds.
 */
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "classify-int.h"
#include "meta.h"
#include "parse.h"

/* Folded raw sum of [off, off + len) over all segments of m. Our own loop
 * because DPDK 22.11's rte_raw_cksum_mbuf truncates a segment's unfolded sum
 * to 16 bits before byte-swapping it after an odd-length segment, which
 * loses carries (the unit test with 7-byte segments shows it).
 * @return 0, or -1 when the range is outside the packet. */
static int cksum_mbuf(const struct rte_mbuf *m, uint32_t off, uint32_t len, uint16_t *out)
{
	uint32_t sum = 0, done = 0;

	if ((uint64_t)off + len > rte_pktmbuf_pkt_len(m))
		return -1;
	for (; m && off >= rte_pktmbuf_data_len(m); m = m->next)
		off -= rte_pktmbuf_data_len(m);
	for (; m && done < len; m = m->next, off = 0) {
		uint32_t n = rte_pktmbuf_data_len(m) - off;
		if (n > len - done)
			n = len - done;
		uint32_t s =
		    __rte_raw_cksum_reduce(__rte_raw_cksum(rte_pktmbuf_mtod_offset(m, const uint8_t *, off), n, 0));
		/* After an odd number of bytes this segment's words straddle the
		 * pairing of the segment start: swap (RFC 1071 sec. 2(B)). */
		sum += done & 1 ? rte_bswap16((uint16_t)s) : s;
		done += n;
	}
	if (done != len)
		return -1;
	*out = __rte_raw_cksum_reduce(sum);
	return 0;
}

/* A contiguous view of the first bytes of m for the parser: the data itself
 * when its first segment holds them, else a copy in buf (CLS_VIEW bytes).
 * @return the view (NULL when m cannot be read), its length in *vlen. */
const uint8_t *cls_header_view(struct rte_mbuf *m, uint8_t *buf, uint32_t *vlen)
{
	uint32_t cap = rte_pktmbuf_pkt_len(m);
	uint32_t want = cap < CLS_VIEW ? cap : CLS_VIEW;

	if (rte_pktmbuf_data_len(m) >= want) {
		*vlen = rte_pktmbuf_data_len(m);
		return rte_pktmbuf_mtod(m, const uint8_t *);
	}
	*vlen = want;
	return rte_pktmbuf_read(m, 0, want, buf);
}

int cls_classify_mbuf(struct cls_burst *b, struct rte_mbuf *m, struct mp_meta *md, int dlt, uint32_t wirelen,
                      struct cls_info *info)
{
	uint8_t buf[CLS_VIEW];
	uint32_t cap = rte_pktmbuf_pkt_len(m);
	uint32_t vlen;
	const uint8_t *v = cls_header_view(m, buf, &vlen);
	int verify = b->verify;

	/* A port with RX checksum offload has checked the IPv4 header (BAD
	 * is bad; GOOD and NONE, "wrong in the packet but the data is
	 * whole", need no second look); without a verdict (pcap and
	 * af_packet ports, rebuilt datagrams) the parser checks it. */
	uint64_t ipf = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	info->wirelen = wirelen;
	info->in = !verify                                 ? 0
	           : ipf == RTE_MBUF_F_RX_IP_CKSUM_BAD     ? CLS_IN_IPCSUM_BAD
	           : ipf == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN ? CLS_IN_IPCSUM
	                                                   : 0;
	int r = v ? cls_parse_view(v, vlen, cap, dlt, md, info) : CLS_HDR_TOO_LONG;

	/* A port with RX checksum offload already verified the TCP checksum of
	 * a plain (not tunnelled, not reassembled) segment: GOOD needs no
	 * second pass over the payload, BAD is bad. Without a verdict (pcap
	 * and af_packet ports, Teredo inner segments, rebuilt datagrams) we
	 * verify. */
	uint64_t l4f =
	    !(md->flags & MP_MF_REASM) && !(info->notes & CLS_N_TEREDO) ? m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK : 0;
	if (r == CLS_OK && verify && l4f == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		cls_count(b, CC_CSUM_OFFLOADED, 1);
	} else if (r == CLS_OK && verify && l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		cls_count(b, CC_CSUM_OFFLOADED, 1);
		md->flags |= MP_MF_BADCSUM;
		md->anomaly = CLS_TCP_CSUM_BAD;
		r = CLS_TCP_CSUM_BAD;
	} else if (r == CLS_OK && verify) {
		uint32_t seg = cls_tcp_seg_len(md);
		uint16_t sum;
		if ((uint64_t)md->l4_off + seg > cap)
			cls_count(b, CC_CSUM_UNVERIFIED, 1); /* snaplen: not bad, just unknown */
		else if (cksum_mbuf(m, md->l4_off, seg, &sum) == 0)
			r = cls_csum_finish(md, sum);
	}
	if (info->notes & CLS_N_OPT_IGNORED)
		cls_count(b, CC_TCP_OPT_IGNORED, 1);
	if (info->notes & CLS_N_OPT_OVERRUN)
		cls_count(b, CC_TCP_OPT_OVERRUN, 1);
	if (info->notes & CLS_N_LEN_ZERO)
		cls_count(b, CC_IP_LEN_ZERO, 1);
	if (info->notes & CLS_N_TEREDO)
		cls_count(b, CC_TEREDO_DECAP, 1);

	unsigned c;
	switch (r) {
	case CLS_OK: c = CC_TCP; break;
	case CLS_UDP: c = CC_UDP; break;
	case CLS_ICMP: c = CC_ICMP; break;
	case CLS_OTHER_L4: c = CC_OTHER_L4; break;
	case CLS_NON_IP: c = CC_NON_IP; break;
	case CLS_LINK_UNSUPPORTED: c = CC_LINK_UNSUPPORTED; break;
	case CLS_FRAG: c = CC_FRAGMENTS; break;
	default: c = CC_L2_TRUNCATED + (unsigned)(r - 1); break;
	}
	cls_count(b, c, 1);
	return r;
}
