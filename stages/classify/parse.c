/* classify's parser: link layer by pcap DLT, 802.1Q/802.1ad tags, MPLS label
 * stacks, PPPoE sessions, IPv4 (RFC 791) and IPv6 (RFC 8200) with extension
 * headers, TCP (RFC 9293) with its options (RFC 7323, RFC 2018), the TCP
 * checksum over the pseudo-header, and the symmetric flow hash.
 *
 * Two lengths matter and are kept apart on purpose. The IP length fields say
 * how long the datagram is (so Ethernet trailer padding is never payload);
 * the capture says how many bytes we actually have (a snaplen-cut capture
 * still yields a usable TCP segment as long as the TCP header is complete).
 * Every read is bounds-checked against the readable view; nothing reads past
 * it (the unit tests sweep every truncation prefix under ASan).
 */
#include <string.h>

#include <pcap/dlt.h>
#include <rte_ip.h>

#include "hash.h"
#include "parse.h"

/* Link types not named (or named differently per platform) in <pcap/dlt.h>. */
#define CLS_DLT_RAW_BSDOS 14   /* DLT_RAW on BSD/OS */
#define CLS_LINKTYPE_RAW 101   /* LINKTYPE_RAW as stored in pcap files */
#define CLS_DLT_LINUX_SLL2 276 /* DLT_LINUX_SLL2, missing from old headers */

#define ET_IPV4 0x0800
#define ET_IPV6 0x86dd

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_UDPLITE_ 136
#define IPPROTO_ICMP_ 1
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_AH_ 51

/* An IPv6 chain longer than this is refused: no legitimate sender needs it
 * and it bounds the work an attacker can make us do per packet. */
#define CLS_MAX_EXT_HDRS 16

/* The readable window over the packet, and how much was captured. */
struct pctx {
	const uint8_t *p;
	uint32_t view;    /* bytes readable at p */
	uint32_t cap;     /* bytes captured (>= view; > view only for multi-segment mbufs) */
	uint32_t wirelen; /* original frame length when known, else 0 */
	uint32_t in;      /* CLS_IN_* */
	struct cls_info *info;
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* 1 when [off, off + len) is inside the readable view. */
static inline int have(const struct pctx *c, uint32_t off, uint32_t len)
{
	return (uint64_t)off + len <= c->view;
}

/* The reason for a header that is not readable: the capture ends before it
 * (the given truncation reason), or it lies beyond the view of a longer
 * multi-segment packet. */
static inline int cut(const struct pctx *c, uint32_t off, uint32_t len, int trunc)
{
	return (uint64_t)off + len <= c->cap ? CLS_HDR_TOO_LONG : trunc;
}

/* Follows an EtherType through VLAN tags (IEEE 802.1Q, 802.1ad and the
 * pre-standard 0x9100/0x9200 QinQ types, any depth), MPLS label stacks
 * (RFC 3032; the payload's IP version is read from its first nibble, as
 * routers do) and PPPoE sessions (RFC 2516).
 * @return 0 with *l3 and *et set to an IP EtherType, or a reason. */
static int follow_ethertype(const struct pctx *c, uint32_t off, uint16_t et, uint32_t *l3, uint16_t *etp)
{
	const uint8_t *p = c->p;

	for (;;) {
		if (et == 0x8100 || et == 0x88a8 || et == 0x9100 || et == 0x9200) {
			if (!have(c, off, 4))
				return cut(c, off, 4, CLS_L2_TRUNCATED);
			et = rd16(p + off + 2);
			off += 4;
			continue;
		}
		if (et == 0x8847 || et == 0x8848) {
			int bos;
			do {
				if (!have(c, off, 4))
					return cut(c, off, 4, CLS_L2_TRUNCATED);
				bos = p[off + 2] & 1;
				off += 4;
			} while (!bos);
			if (!have(c, off, 1))
				return cut(c, off, 1, CLS_L2_TRUNCATED);
			unsigned v = p[off] >> 4;
			if (v == 4)
				et = ET_IPV4;
			else if (v == 6)
				et = ET_IPV6;
			else
				return CLS_NON_IP; /* pseudowire (RFC 4385) or unknown */
			break;
		}
		if (et == 0x8864) {
			if (!have(c, off, 8))
				return cut(c, off, 8, CLS_L2_TRUNCATED);
			uint16_t ppp = rd16(p + off + 6);
			off += 8;
			if (ppp == 0x0021)
				et = ET_IPV4;
			else if (ppp == 0x0057)
				et = ET_IPV6;
			else
				return CLS_NON_IP; /* LCP, IPCP, ... */
			break;
		}
		break;
	}
	if (et != ET_IPV4 && et != ET_IPV6)
		return CLS_NON_IP;
	*l3 = off;
	*etp = et;
	return 0;
}

/* IP carried with no protocol field: the version nibble decides. */
static int by_version(const struct pctx *c, uint32_t off, uint32_t *l3, uint16_t *et)
{
	if (!have(c, off, 1))
		return cut(c, off, 1, CLS_IP_TRUNCATED);
	unsigned v = c->p[off] >> 4;
	if (v != 4 && v != 6)
		return CLS_IP_VERSION_BAD;
	*l3 = off;
	*et = v == 4 ? ET_IPV4 : ET_IPV6;
	return 0;
}

/* Finds the IP header after the link header of a pcap link type. */
static int parse_link(const struct pctx *c, int dlt, uint32_t *l3, uint16_t *et)
{
	const uint8_t *p = c->p;

	switch (dlt) {
	case DLT_EN10MB:
		if (!have(c, 0, 14))
			return cut(c, 0, 14, CLS_L2_TRUNCATED);
		/* An EtherType below 0x0600 is an 802.3 length (LLC follows): not IP. */
		return follow_ethertype(c, 14, rd16(p + 12), l3, et);
	case DLT_LINUX_SLL: /* 16-byte cooked header, protocol at 14 */
		if (!have(c, 0, 16))
			return cut(c, 0, 16, CLS_L2_TRUNCATED);
		return follow_ethertype(c, 16, rd16(p + 14), l3, et);
	case CLS_DLT_LINUX_SLL2: /* 20-byte cooked header, protocol first */
		if (!have(c, 0, 20))
			return cut(c, 0, 20, CLS_L2_TRUNCATED);
		return follow_ethertype(c, 20, rd16(p), l3, et);
	case DLT_NULL:
	case DLT_LOOP: {
		/* 4-byte address family: host order of the writer for DLT_NULL,
		 * network order for DLT_LOOP; accept both. AF_INET6 is 10, 24,
		 * 28 or 30 depending on the OS. */
		if (!have(c, 0, 4))
			return cut(c, 0, 4, CLS_L2_TRUNCATED);
		uint32_t be = rd32(p), le = (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
		uint32_t fam = be < 256 ? be : le;
		if (fam == 2) {
			int r = by_version(c, 4, l3, et);
			return r ? r : (*et == ET_IPV4 ? 0 : CLS_IP_VERSION_BAD);
		}
		if (fam == 10 || fam == 24 || fam == 28 || fam == 30) {
			int r = by_version(c, 4, l3, et);
			return r ? r : (*et == ET_IPV6 ? 0 : CLS_IP_VERSION_BAD);
		}
		return CLS_NON_IP;
	}
	case DLT_RAW:
#if DLT_RAW != CLS_DLT_RAW_BSDOS
	case CLS_DLT_RAW_BSDOS:
#endif
	case CLS_LINKTYPE_RAW: return by_version(c, 0, l3, et);
	case DLT_IPV4:
		*l3 = 0;
		*et = ET_IPV4;
		return 0;
	case DLT_IPV6:
		*l3 = 0;
		*et = ET_IPV6;
		return 0;
	default: return CLS_LINK_UNSUPPORTED;
	}
}

/* The datagram's length from its length field; 0 there is what captures of
 * TSO/GSO sends (and RFC 2675 jumbograms) show, so the frame length stands in. */
static uint32_t ip_len_field(const struct pctx *c, uint32_t off, uint32_t field)
{
	if (field)
		return field;
	if (c->info)
		c->info->notes |= CLS_N_LEN_ZERO;
	uint32_t n = c->cap - off;
	return n > 65535 ? 65535 : n;
}

/* IPv4 options (RFC 791 sec. 3.1) as a host checks them before anything
 * else sees the datagram (Linux: ip_options_compile, then ip_rcv_options):
 * an option list a host refuses makes the datagram one no endpoint takes.
 * Refused: an option that does not fit (length < 2 or past the header), a
 * source route (loose or strict) -- a host drops it unless configured to
 * accept source routing, which hosts are not by default
 * (accept_source_route) -- or two of them, a record-route or timestamp
 * option with a bad pointer, a second one of either, a timestamp whose
 * overflow count is full, a router alert shorter than 4 bytes, and CIPSO,
 * which a host without CIPSO domains configured (the default) refuses
 * (cipso_v4_validate). Other kinds (security, stream id, unknown ones) a
 * receiving host takes. @return 1 when a host takes the list. */
static int ipv4_opts_taken(const uint8_t *o, uint32_t n)
{
	int rr = 0, ts = 0;
	for (uint32_t i = 0; i < n;) {
		uint8_t kind = o[i];
		if (kind == 0) /* end of list */
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 2 > n || o[i + 1] < 2 || o[i + 1] > n - i)
			return 0;
		uint32_t len = o[i + 1];
		const uint8_t *x = o + i;
		switch (kind) {
		case 131: /* LSRR */
		case 137: /* SSRR */ return 0;
		case 7: /* record route */
			if (rr++ || len < 3 || x[2] < 4 || (x[2] <= len && x[2] + 3u > len))
				return 0;
			break;
		case 68: /* timestamp */
			if (ts++ || len < 4 || x[2] < 5)
				return 0;
			if (x[2] <= len) {
				unsigned flg = x[3] & 15;
				if (x[2] + 3u > len || ((flg == 1 || flg == 3) && x[2] + 7u > len))
					return 0;
			} else if ((x[3] & 15) != 3 && x[3] >> 4 == 15) {
				return 0; /* overflow count would wrap */
			}
			break;
		case 148: /* router alert */
			if (len < 4)
				return 0;
			break;
		case 134: /* CIPSO */ return 0;
		default: break;
		}
		i += len;
	}
	return 1;
}

/* IPv4, RFC 791 sec. 3.1. Sets *l4, *ip_end and *proto. */
static int parse_ipv4(const struct pctx *c, uint32_t off, struct mp_meta *md, uint32_t *l4, uint32_t *ip_end,
                      uint8_t *proto)
{
	const uint8_t *p = c->p + off;

	if (!have(c, off, 20))
		return cut(c, off, 20, CLS_IP_TRUNCATED);
	if (p[0] >> 4 != 4)
		return CLS_IP_VERSION_BAD;
	md->flags |= MP_MF_IPV4;
	md->l3_off = (uint16_t)off;
	memcpy(md->src, p + 12, 4);
	memcpy(md->dst, p + 16, 4);
	md->ip_proto = p[9];
	md->opt.ttl = p[8];
	uint32_t ihl = (uint32_t)(p[0] & 15) * 4;
	if (ihl < 20)
		return CLS_IPV4_IHL_SHORT;
	if (!have(c, off, ihl))
		return cut(c, off, ihl, CLS_IP_TRUNCATED);
	/* A host checks the header checksum before anything else of the
	 * datagram (Linux: ip_rcv_core, then fragments and TCP see nothing of
	 * it), so a bad one is a packet no endpoint takes: never monitored. */
	if ((c->in & CLS_IN_IPCSUM_BAD) ||
	    ((c->in & CLS_IN_IPCSUM) && __rte_raw_cksum_reduce(__rte_raw_cksum(p, ihl, 0)) != 0xffff))
		return CLS_IPV4_CSUM_BAD;
	uint32_t tot = ip_len_field(c, off, rd16(p + 2));
	if (tot < ihl)
		return CLS_IP_LEN_BAD;
	if (c->wirelen && off + tot > c->wirelen)
		return CLS_IP_LEN_BAD;
	if (ihl > 20 && !ipv4_opts_taken(p + 20, ihl - 20))
		return CLS_IPV4_OPT_REFUSED;
	*ip_end = off + tot;
	*proto = p[9];
	*l4 = off + ihl;

	/* Fragments (RFC 791 sec. 3.2): offset in 8-byte units. Lengths that
	 * are not a multiple of 8, empty pieces and datagrams ending past 64K
	 * are not refused here: what a receiver does with them (Linux trims,
	 * discards the whole datagram, or drops it when rebuilt: ip_frag_queue,
	 * ip_frag_reasm) is reassembly's to model (ipfrag.c). */
	uint16_t fo = rd16(p + 6);
	uint32_t foff = (uint32_t)(fo & 0x1fff) * 8;
	int mf = !!(fo & 0x2000);
	if (mf || foff) {
		md->l4_off = (uint16_t)*l4;
		if (c->info) {
			c->info->frag_off = 0;
			c->info->frag_first = foff == 0;
			c->info->frag_mf = (uint8_t)mf;
			c->info->frag_at = foff;
			c->info->frag_id = rd16(p + 4);
			c->info->ecn = p[1] & 3;
		}
		return CLS_FRAG;
	}

	/* IPsec AH in transport mode (RFC 4302 sec. 2.2): length in 4-byte
	 * words minus 2; TCP behind it is still monitorable. */
	if (*proto == IPPROTO_AH_) {
		if (*l4 + 2 > *ip_end)
			return CLS_IP_LEN_BAD;
		if (!have(c, *l4, 2))
			return cut(c, *l4, 2, CLS_IP_TRUNCATED);
		uint32_t alen = ((uint32_t)c->p[*l4 + 1] + 2) * 4;
		if (*l4 + alen > *ip_end)
			return CLS_IP_LEN_BAD;
		*proto = c->p[*l4];
		*l4 += alen;
	}
	return 0;
}

/* IPv6, RFC 8200 sec. 3 and 4: walks the extension header chain to the
 * upper-layer header. Sets *l4, *ip_end and *proto. */
static int parse_ipv6(const struct pctx *c, uint32_t off, struct mp_meta *md, uint32_t *l4, uint32_t *ip_end,
                      uint8_t *proto)
{
	const uint8_t *p = c->p;

	if (!have(c, off, 40))
		return cut(c, off, 40, CLS_IP_TRUNCATED);
	if (p[off] >> 4 != 6)
		return CLS_IP_VERSION_BAD;
	md->flags |= MP_MF_IPV6;
	md->l3_off = (uint16_t)off;
	memcpy(md->src, p + off + 8, 16);
	memcpy(md->dst, p + off + 24, 16);
	md->opt.ttl = p[off + 7];
	uint32_t plen = rd16(p + off + 4);
	if (plen == 0) {
		uint32_t n = ip_len_field(c, off, 0);
		plen = n > 40 ? n - 40 : 0;
	}
	*ip_end = off + 40 + plen;
	if (c->wirelen && *ip_end > c->wirelen)
		return CLS_IP_LEN_BAD;

	uint8_t nh = p[off + 6];
	uint32_t nh_at = off + 6; /* where nh was read: rewritten when a fragment header is taken out */
	uint32_t e = off + 40;
	for (unsigned n = 0;; n++) {
		uint32_t len;
		md->ip_proto = nh;
		switch (nh) {
		case 0: /* hop-by-hop: only right after the fixed header (sec. 4.3) */
			if (n)
				return CLS_IPV6_EXT_BAD;
			/* fall through */
		case 43:  /* routing, sec. 4.4 */
		case 60:  /* destination options, sec. 4.6 */
		case 135: /* mobility, RFC 6275 */
		case 139: /* HIP, RFC 7401 */
		case 140: /* shim6, RFC 5533 */
		case 51:  /* AH, RFC 4302: length in 4-byte words minus 2 */
			if (e + 2 > *ip_end)
				return CLS_IPV6_EXT_BAD;
			if (!have(c, e, 2))
				return cut(c, e, 2, CLS_IP_TRUNCATED);
			len = nh == 51 ? ((uint32_t)p[e + 1] + 2) * 4 : ((uint32_t)p[e + 1] + 1) * 8;
			break;
		case 44: { /* fragment, sec. 4.5 */
			if (e + 8 > *ip_end)
				return CLS_IPV6_EXT_BAD;
			if (!have(c, e, 8))
				return cut(c, e, 8, CLS_IP_TRUNCATED);
			uint16_t fo = rd16(p + e + 2);
			uint32_t foff = fo & 0xfff8u;
			int m = fo & 1;
			if (foff || m) {
				uint32_t fl = *ip_end - (e + 8);
				md->ip_proto = p[e];
				md->l4_off = (uint16_t)(e + 8);
				/* A piece past 64K, or one with more to come whose
				 * length is not a multiple of 8, is dropped alone
				 * by a receiver (Linux's ip6_frag_queue answers a
				 * parameter problem); an empty one reaches
				 * reassembly, which discards its datagram. */
				if (foff + fl > 65535 || (m && fl % 8))
					return CLS_FRAG_BAD;
				if (c->info) {
					c->info->frag_off = (uint16_t)e;
					c->info->frag_nh_off = (uint16_t)nh_at;
					c->info->frag_first = foff == 0;
					c->info->frag_mf = (uint8_t)m;
					c->info->frag_at = foff;
					c->info->frag_id = rd32(p + e + 4);
					c->info->ecn = (uint8_t)(rd16(p + off) >> 4 & 3);
				}
				return CLS_FRAG;
			}
			/* An atomic fragment (RFC 6946) is a whole datagram. */
			len = 8;
			break;
		}
		default:
			*proto = nh;
			*l4 = e;
			return 0;
		}
		if (e + len > *ip_end || n + 1 >= CLS_MAX_EXT_HDRS)
			return CLS_IPV6_EXT_BAD;
		if (!have(c, e, len))
			return cut(c, e, len, CLS_IP_TRUNCATED);
		nh = p[e];
		nh_at = e;
		e += len;
	}
}

/* TCP options, RFC 9293 sec. 3.2: EOL ends the list, NOP is one byte, every
 * other option has a length byte covering kind and length. An option that
 * does not fit the header (or claims a length below 2) ends the list: the
 * options before it stand and the segment is taken, as Linux's
 * tcp_parse_options does ("don't parse partial options", "silly
 * options"), so its payload is monitored (noted CLS_N_OPT_OVERRUN). A known
 * option with the wrong length is ignored, as Linux does too. */
static void parse_tcp_opts(const struct pctx *c, uint32_t o, uint32_t end, struct mp_tcp_opts *opt)
{
	const uint8_t *p = c->p;

	while (o < end) {
		uint8_t kind = p[o];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		uint32_t len = o + 2 <= end ? p[o + 1] : 0;
		if (len < 2 || o + len > end) {
			if (c->info)
				c->info->notes |= CLS_N_OPT_OVERRUN;
			return;
		}
		int ok = 1;
		switch (kind) {
		case 2: /* MSS, RFC 9293 sec. 3.7.1 */
			if ((ok = len == 4)) {
				opt->present |= MP_TO_MSS;
				opt->mss = rd16(p + o + 2);
			}
			break;
		case 3: /* window scale, RFC 7323 sec. 2.2 */
			if ((ok = len == 3)) {
				opt->present |= MP_TO_WSCALE;
				opt->wscale = p[o + 2];
			}
			break;
		case 4: /* SACK permitted, RFC 2018 sec. 2 */
			if ((ok = len == 2))
				opt->present |= MP_TO_SACKOK;
			break;
		case 5: /* SACK blocks, RFC 2018 sec. 3 */
			if ((ok = len >= 10 && (len - 2) % 8 == 0)) {
				unsigned n = (len - 2) / 8;
				if (n > MP_MAX_SACK)
					n = MP_MAX_SACK;
				opt->present |= MP_TO_SACK;
				opt->n_sack = (uint8_t)n;
				for (unsigned i = 0; i < n; i++) {
					opt->sack[i][0] = rd32(p + o + 2 + 8 * i);
					opt->sack[i][1] = rd32(p + o + 6 + 8 * i);
				}
			}
			break;
		case 8: /* timestamps, RFC 7323 sec. 3.2 */
			if ((ok = len == 10)) {
				opt->present |= MP_TO_TS;
				opt->tsval = rd32(p + o + 2);
				opt->tsecr = rd32(p + o + 6);
			}
			break;
		default: break;
		}
		if (!ok && c->info)
			c->info->notes |= CLS_N_OPT_IGNORED;
		o += len;
	}
}

/* TCP header, RFC 9293 sec. 3.1. l4len is the segment length by the IP
 * length; the capture may hold less (snaplen) or more (trailer padding). */
static int parse_tcp(const struct pctx *c, uint32_t l4, uint32_t ip_end, struct mp_meta *md)
{
	const uint8_t *p = c->p + l4;
	uint32_t l4len = ip_end - l4;

	if (l4len < 20)
		return CLS_TCP_TRUNCATED;
	if (!have(c, l4, 20))
		return cut(c, l4, 20, CLS_TCP_TRUNCATED);
	md->sport = rd16(p);
	md->dport = rd16(p + 2);
	uint32_t doff = (uint32_t)(p[12] >> 4) * 4;
	if (doff < 20)
		return CLS_TCP_DOFF_SHORT;
	if (doff > l4len)
		return CLS_TCP_DOFF_LONG;
	if (!have(c, l4, doff))
		return cut(c, l4, doff, CLS_TCP_TRUNCATED);
	parse_tcp_opts(c, l4 + 20, l4 + doff, &md->opt);
	md->seq = rd32(p + 4);
	md->ack = rd32(p + 8);
	md->tcp_flags = p[13];
	md->win = rd16(p + 14);
	md->opt.urp = rd16(p + 18);
	md->pay_off = (uint16_t)(l4 + doff);
	md->pay_len = (uint16_t)(l4len - doff);
	uint32_t have_pay = c->cap - (l4 + doff);
	md->pay_cap = (uint16_t)(have_pay < md->pay_len ? have_pay : md->pay_len);
	md->flags |= MP_MF_TCP;
	return 0;
}

/* Teredo (RFC 4380 sec. 5.1.1): IPv6 in UDP over IPv4. The server is on port
 * 3544, but a client talks to relays and peers on any port, so a datagram
 * is also Teredo when its IPv6 source or destination has the Teredo prefix
 * 2001:0::/32 (sec. 2.6). The IPv6 packet may be preceded by an authentication indicator
 * (0x0001, id and auth lengths, id, auth value, 8-byte nonce, confirmation
 * byte) and then an origin indication (0x0000 + 6 bytes), in that order.
 * Only a datagram that is exactly one IPv6 packet counts, so that other UDP
 * on the port is not mistaken for it. @return the inner IPv6 header's offset,
 * or 0. */
#define TEREDO_PORT 3544
static uint32_t teredo_ipv6(const struct pctx *c, uint32_t off, uint32_t end)
{
	const uint8_t *p = c->p;

	if (off + 4 <= end && have(c, off, 4) && p[off] == 0 && p[off + 1] == 1)
		off += 4 + (uint32_t)p[off + 2] + p[off + 3] + 9;
	if (off + 8 <= end && have(c, off, 2) && p[off] == 0 && p[off + 1] == 0)
		off += 8;
	if (off + 40 > end || !have(c, off, 40) || p[off] >> 4 != 6)
		return 0;
	return off + 40 + rd16(p + off + 4) == end ? off : 0;
}

/* A UDP datagram at l4: when it is Teredo carrying a well-formed TCP
 * segment, md describes that inner segment (IPv6 addresses, TCP ports,
 * offsets into the same frame) and the result is CLS_OK. Anything else in
 * the tunnel (bubbles, ICMPv6, fragments, malformed inner headers) stays
 * UDP orphan traffic, md untouched. One level only: no Teredo in Teredo. */
static int parse_teredo(const struct pctx *c, uint32_t l4, uint32_t ip_end, struct mp_meta *md)
{
	static const uint8_t pfx[4] = {0x20, 0x01, 0x00, 0x00};
	if (!(md->flags & MP_MF_IPV4) || l4 + 8 > ip_end || !have(c, l4, 8))
		return CLS_UDP;
	uint32_t ulen = rd16(c->p + l4 + 4);
	if (ulen < 8 || l4 + ulen > ip_end)
		return CLS_UDP;
	uint32_t in = teredo_ipv6(c, l4 + 8, l4 + ulen);
	if (!in || (md->sport != TEREDO_PORT && md->dport != TEREDO_PORT && memcmp(c->p + in + 8, pfx, 4) != 0 &&
	            memcmp(c->p + in + 24, pfx, 4) != 0))
		return CLS_UDP;
	struct mp_meta t = *md;
	uint32_t il4 = 0, iend = 0;
	uint8_t iproto = 0;
	t.flags &= (uint16_t)~MP_MF_IPV4;
	memset(t.src, 0, sizeof(t.src));
	memset(t.dst, 0, sizeof(t.dst));
	if (parse_ipv6(c, in, &t, &il4, &iend, &iproto) != 0 || iproto != IPPROTO_TCP_ || iend > l4 + ulen)
		return CLS_UDP;
	t.ip_proto = iproto;
	t.l4_off = (uint16_t)il4;
	if (parse_tcp(c, il4, iend, &t) != 0)
		return CLS_UDP;
	*md = t;
	if (c->info)
		c->info->notes |= CLS_N_TEREDO;
	return CLS_OK;
}

int cls_parse_view(const uint8_t *pkt, uint32_t view_len, uint32_t caplen, int dlt, struct mp_meta *md,
                   struct cls_info *info)
{
	struct pctx c = {pkt, view_len < caplen ? view_len : caplen, caplen, 0, 0, info};
	uint32_t l3 = 0, l4 = 0, ip_end = 0;
	uint16_t et = 0;
	uint8_t proto = 0;
	int r;

	/* No clear here: the stage that allocated the mbuf zeroed its metadata
	 * (meta-types.h), and the parser only sets fields. */
	if (info) {
		c.wirelen = info->wirelen;
		c.in = info->in;
		memset(info, 0, sizeof(*info));
		info->wirelen = c.wirelen;
		info->in = c.in;
	}
	r = parse_link(&c, dlt, &l3, &et);
	if (r)
		goto done;
	r = et == ET_IPV4 ? parse_ipv4(&c, l3, md, &l4, &ip_end, &proto) : parse_ipv6(&c, l3, md, &l4, &ip_end, &proto);
	if (info)
		info->ip_end = ip_end;
	if (r)
		goto done;
	md->ip_proto = proto;
	md->l4_off = (uint16_t)l4;
	switch (proto) {
	case IPPROTO_TCP_: r = parse_tcp(&c, l4, ip_end, md); break;
	case IPPROTO_UDP_:
	case IPPROTO_UDPLITE_:
		/* Ports only, for the hash: UDP is not ours to validate. */
		if (l4 + 4 <= ip_end && have(&c, l4, 4)) {
			md->sport = rd16(pkt + l4);
			md->dport = rd16(pkt + l4 + 2);
		}
		r = proto == IPPROTO_UDP_ ? parse_teredo(&c, l4, ip_end, md) : CLS_UDP;
		break;
	case IPPROTO_ICMP_:
	case IPPROTO_ICMPV6_: r = CLS_ICMP; break;
	default:
		r = CLS_OTHER_L4; /* incl. ESP (50) and IPv6 no-next-header (59) */
		break;
	}
done:
	if (r > 0 && r < CLS_N_BAD) {
		/* Malformed: forwarded, never monitored. Partial fields stay
		 * (addresses help the hash); TCP fields are not trusted. */
		md->anomaly = (uint8_t)r;
		md->flags |= MP_MF_UNMON;
		md->flags &= (uint16_t)~MP_MF_TCP;
	} else if (r == CLS_FRAG) {
		md->flags |= MP_MF_UNMON;
	} else if (r >= CLS_NON_TCP_) {
		md->flags |= MP_MF_ORPHAN;
	}
	/* Fragments hash by addresses only (their ports are in one piece at
	 * most); everything else by addresses and ports. The hash is the
	 * parser's to write on every path: rx may have left its fan-out hash
	 * there, and a packet without addresses hashes to 0. */
	md->hash = 0;
	if (md->flags & (MP_MF_IPV4 | MP_MF_IPV6)) {
		unsigned alen = md->flags & MP_MF_IPV4 ? 4 : 16;
		uint16_t sp = r == CLS_FRAG ? 0 : md->sport, dp = r == CLS_FRAG ? 0 : md->dport;
		/* Keyed (runtime/hash.h): collisions cannot be computed
		 * offline. Zero-padded copies of the addresses. */
		uint64_t a[2] = {0, 0}, b[2] = {0, 0};
		memcpy(a, md->src, alen);
		memcpy(b, md->dst, alen);
		md->hash = mp_hash_mix(mp_sym_hash((const uint8_t *)a, sp, (const uint8_t *)b, dp, alen));
	}
	return r;
}

uint32_t cls_pseudo_sum(const struct mp_meta *md)
{
	uint8_t ph[40];
	uint32_t seg = cls_tcp_seg_len(md);

	if (md->flags & MP_MF_IPV4) {
		memcpy(ph, md->src, 4);
		memcpy(ph + 4, md->dst, 4);
		ph[8] = 0;
		ph[9] = md->ip_proto;
		ph[10] = (uint8_t)(seg >> 8);
		ph[11] = (uint8_t)seg;
		return __rte_raw_cksum(ph, 12, 0);
	}
	memcpy(ph, md->src, 16);
	memcpy(ph + 16, md->dst, 16);
	ph[32] = (uint8_t)(seg >> 24);
	ph[33] = (uint8_t)(seg >> 16);
	ph[34] = (uint8_t)(seg >> 8);
	ph[35] = (uint8_t)seg;
	ph[36] = ph[37] = ph[38] = 0;
	ph[39] = md->ip_proto;
	return __rte_raw_cksum(ph, 40, 0);
}

int cls_csum_finish(struct mp_meta *md, uint16_t seg_sum)
{
	/* One's complement sum over pseudo-header and segment, checksum field
	 * included, is all ones when the checksum is right. */
	uint16_t s = __rte_raw_cksum_reduce(cls_pseudo_sum(md) + seg_sum);
	if (s == 0xffff)
		return CLS_OK;
	md->flags |= MP_MF_BADCSUM;
	md->anomaly = CLS_TCP_CSUM_BAD;
	return CLS_TCP_CSUM_BAD;
}

int cls_parse(const uint8_t *pkt, uint32_t caplen, int dlt, int verify_csum, struct mp_meta *md)
{
	struct cls_info info = {.in = verify_csum ? CLS_IN_IPCSUM : 0};
	int r = cls_parse_view(pkt, caplen, caplen, dlt, md, &info);
	if (r != CLS_OK || !verify_csum)
		return r;
	uint32_t seg = cls_tcp_seg_len(md);
	if ((uint64_t)md->l4_off + seg > caplen)
		return CLS_OK; /* cut by snaplen: cannot be verified, not bad */
	return cls_csum_finish(md, __rte_raw_cksum_reduce(__rte_raw_cksum(pkt + md->l4_off, seg, 0)));
}

const char *cls_result_name(int r)
{
	static const char *const bad[] = {
	    "ok",
#define CLS_NAME_MALFORMED(name) name,
#define CLS_NAME_PLAIN(name)
#define CLS_NAME_DROP(name)
#define CLS_NAME_INJECTED(name)
#define MP_CTR(id, name, kind, help) CLS_NAME_##kind(name)
#include "classify_counters.def"
#undef MP_CTR
	};
	if (r >= 0 && r < CLS_N_BAD)
		return bad[r];
	switch (r) {
	case CLS_UDP: return "udp";
	case CLS_ICMP: return "icmp";
	case CLS_OTHER_L4: return "other_l4";
	case CLS_NON_IP: return "non_ip";
	case CLS_LINK_UNSUPPORTED: return "link_unsupported";
	case CLS_FRAG: return "fragment";
	default: return "?";
	}
}
