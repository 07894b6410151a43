/* classify: the stage that parses every packet (parse.c), counts what is
 * malformed or not TCP, verifies TCP checksums, reassembles IP fragments and
 * hands everything on to the tcpsm instance that owns the flow (fan-out by
 * the symmetric hash). It never frees a packet: malformed ones go on flagged
 * MP_MF_UNMON (inline mode forwards them unmonitored), non-TCP ones flagged
 * MP_MF_ORPHAN.
 *
 * IP fragments: a middlebox must forward them unchanged, so the original
 * fragments go on unmonitored and a copy of each is fed to DPDK's
 * rte_ip_frag. When a datagram completes, the rebuilt packet (a multi-segment
 * mbuf flagged MP_MF_REASM, counted as "injected") enters the pipeline right
 * after the fragment that completed it; tx frees it instead of sending it.
 * The reassembly table runs on packet time, so offline results do not depend
 * on replay speed.
 */
#include <rte_errno.h>
#include <rte_ip_frag.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "parse.h"
#include "pipeline.h"
#include "stage.h"

enum cls_ctr {
	CLS_CTR_BASE_ = MP_CC_N - 1,
#define CLS_BAD(id, name, help) CC_##id,
#define MP_CTR(id, name, help) CC_##id,
#include "classify_counters.def"
#undef CLS_BAD
#undef MP_CTR
	CC_END_,
};

#define CLS_N_CTRS (CC_END_ - MP_CC_N)

static const struct mp_ctr_desc cls_ctrs[] = {
#define CLS_BAD(id, name, help) {name, help, 0},
#define MP_CTR(id, name, help) {name, help, 0},
#include "classify_counters.def"
#undef CLS_BAD
#undef MP_CTR
};

/* Malformed reasons come first in the .def, in reason-code order. */
_Static_assert((int)CC_L2_TRUNCATED == (int)MP_CC_N, "malformed reasons must open classify_counters.def");
_Static_assert(CC_HDR_TOO_LONG - CC_L2_TRUNCATED == CLS_HDR_TOO_LONG - 1, "reason codes follow the .def order");

/* Bytes of a multi-segment packet copied out for the parser: any sane header
 * stack (tags, labels, IPv6 extension headers, TCP with options) fits. */
#define CLS_VIEW 1024

/* Largest l2_len / l3_len an mbuf can describe (7 and 9 bits). */
#define CLS_MAX_L2 127u
#define CLS_MAX_L3 511u

struct cls_priv {
	struct rte_ip_frag_tbl *frag;
	struct rte_ip_frag_death_row dr;
};

static int classify_init(struct mp_stage_inst *si)
{
	const struct mp_conf *conf = si->pl->conf;
	int socket = (int)rte_lcore_to_socket_id(si->lcore);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	struct cls_priv *cp = rte_zmalloc_socket("cls_priv", sizeof(*cp), RTE_CACHE_LINE_SIZE, socket);
	if (!cp) {
		fprintf(stderr, "mospipe: classify %u: out of memory\n", si->idx);
		return -ENOMEM;
	}
	/* Buckets of 4 entries; the table holds at least frag_flows datagrams.
	 * The table's "cycles" are our packet-time milliseconds. */
	uint32_t flows = conf->frag_flows;
	/* rte_ip_frag logs its allocation at INFO under USER1, on every run:
	 * keep it out of our output (init runs on the main thread, before any
	 * lcore, so changing the level for the call is safe). */
	int lvl = rte_log_get_level(RTE_LOGTYPE_USER1);
	if (lvl > (int)RTE_LOG_WARNING)
		rte_log_set_level(RTE_LOGTYPE_USER1, RTE_LOG_WARNING);
	cp->frag = rte_ip_frag_table_create((flows + 3) / 4, 4, flows, conf->frag_timeout_ms, socket);
	if (lvl > (int)RTE_LOG_WARNING)
		rte_log_set_level(RTE_LOGTYPE_USER1, (uint32_t)lvl);
	if (!cp->frag) {
		fprintf(stderr,
		        "mospipe: classify %u: cannot create an IP reassembly table for %u datagrams "
		        "([tcp] ip_frag_flows): %s\n",
		        si->idx, flows, rte_strerror(rte_errno));
		rte_free(cp);
		return -ENOMEM;
	}
	si->priv = cp;
	return 0;
}

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

/* Parses one packet through a contiguous view of its headers and verifies
 * the TCP checksum over all its segments. Counts into cnt[]. */
static int classify_mbuf(struct rte_mbuf *m, struct mp_meta *md, int dlt, int verify, uint32_t wirelen,
                         struct cls_info *info, uint32_t *cnt)
{
	uint8_t buf[CLS_VIEW];
	uint32_t cap = rte_pktmbuf_pkt_len(m);
	uint32_t want = cap < CLS_VIEW ? cap : CLS_VIEW;
	const uint8_t *v;
	uint32_t vlen;

	if (rte_pktmbuf_data_len(m) >= want) {
		v = rte_pktmbuf_mtod(m, const uint8_t *);
		vlen = rte_pktmbuf_data_len(m);
	} else {
		v = rte_pktmbuf_read(m, 0, want, buf);
		vlen = want;
	}
	info->wirelen = wirelen;
	int r = v ? cls_parse_view(v, vlen, cap, dlt, md, info) : CLS_HDR_TOO_LONG;

	/* A port with RX checksum offload already verified the TCP checksum of
	 * a plain (not tunnelled, not reassembled) segment: GOOD needs no
	 * second pass over the payload, BAD is bad. Without a verdict (pcap
	 * and af_packet ports, Teredo inner segments, rebuilt datagrams whose
	 * flags are the first fragment's) we verify. */
	uint64_t l4f = wirelen == 0 && !(info->notes & CLS_N_TEREDO) ? m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK : 0;
	if (r == CLS_OK && verify && l4f == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		cnt[CC_CSUM_OFFLOADED - MP_CC_N]++;
	} else if (r == CLS_OK && verify && l4f == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
		cnt[CC_CSUM_OFFLOADED - MP_CC_N]++;
		md->flags |= MP_MF_BADCSUM;
		md->anomaly = CLS_TCP_CSUM_BAD;
		r = CLS_TCP_CSUM_BAD;
	} else if (r == CLS_OK && verify) {
		uint32_t seg = cls_tcp_seg_len(md);
		uint16_t sum;
		if ((uint64_t)md->l4_off + seg > cap)
			cnt[CC_CSUM_UNVERIFIED - MP_CC_N]++; /* snaplen: not bad, just unknown */
		else if (cksum_mbuf(m, md->l4_off, seg, &sum) == 0)
			r = cls_csum_finish(md, sum);
	}
	if (info->notes & CLS_N_OPT_IGNORED)
		cnt[CC_TCP_OPT_IGNORED - MP_CC_N]++;
	if (info->notes & CLS_N_LEN_ZERO)
		cnt[CC_IP_LEN_ZERO - MP_CC_N]++;
	if (info->notes & CLS_N_TEREDO)
		cnt[CC_TEREDO_DECAP - MP_CC_N]++;

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
	cnt[c - MP_CC_N]++;
	return r;
}

/* Feeds a copy of fragment m to the reassembly table.
 * @return the reassembled datagram when m completed one, else NULL. */
static struct rte_mbuf *frag_feed(struct mp_stage_inst *si, struct rte_mbuf *m, const struct mp_meta *md,
                                  const struct cls_info *info, uint32_t *cnt)
{
	struct cls_priv *cp = si->priv;
	uint32_t l2 = md->l3_off, l3 = (uint32_t)md->l4_off - md->l3_off;
	int v6 = !!(md->flags & MP_MF_IPV6);

	/* What rte_ip_frag can rebuild: the whole fragment captured, header
	 * lengths an mbuf can describe, and for IPv6 the fragment header right
	 * after the fixed header (it assumes so). */
	if (info->ip_end > rte_pktmbuf_pkt_len(m) || l2 > CLS_MAX_L2 || l3 > CLS_MAX_L3 ||
	    (v6 && info->frag_off != md->l3_off + sizeof(struct rte_ipv6_hdr))) {
		cnt[CC_FRAG_UNSUPPORTED - MP_CC_N]++;
		return NULL;
	}
	/* Copy the datagram only: trailer padding must not become data. */
	struct rte_mbuf *c = rte_pktmbuf_copy(m, si->pl->pool, 0, info->ip_end);
	if (unlikely(!c)) {
		cnt[CC_FRAG_NO_MBUF - MP_CC_N]++;
		return NULL;
	}
	c->l2_len = l2 & CLS_MAX_L2;
	c->l3_len = l3 & CLS_MAX_L3;
	/* The death row takes up to MAX_FRAG + 1 mbufs per call and is not
	 * bounds-checked by DPDK: empty it before it could overflow. */
	if (cp->dr.cnt + RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1 > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN)
		rte_ip_frag_free_death_row(&cp->dr, 0);

	uint64_t tms = md->ts_ns / 1000000u;
	struct rte_mbuf *r;
	if (v6) {
		struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(c, struct rte_ipv6_hdr *, l2);
		r = rte_ipv6_frag_reassemble_packet(cp->frag, &cp->dr, c, tms, ip,
		                                    (struct rte_ipv6_fragment_ext *)(ip + 1));
	} else {
		struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(c, struct rte_ipv4_hdr *, l2);
		r = rte_ipv4_frag_reassemble_packet(cp->frag, &cp->dr, c, tms, ip);
	}
	if (!r)
		return NULL;
	/* The rebuilt datagram is a new packet, seen when its last piece was. */
	struct mp_meta *rmd = mp_meta(r);
	mp_meta_reset(rmd);
	rmd->ts_ns = md->ts_ns;
	rmd->port = md->port;
	rmd->kind = MP_PKT_DATA;
	rmd->flags = MP_MF_REASM;
	return r;
}

static unsigned classify_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct cls_priv *cp = si->priv;
	struct rte_mbuf *b[256];
	struct rte_mbuf *out[512]; /* a reassembled datagram may follow each packet */
	uint32_t cnt[CLS_N_CTRS] = {0};
	unsigned no = 0;
	int verify = pl->conf->checksum == MP_CSUM_VERIFY;

	unsigned n = mp_in_burst(si, b, pl->conf->burst);
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		struct mp_meta *md = mp_meta(m);
		struct cls_info info;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(b[i + 1], void *));
		out[no++] = m;
		if (unlikely(md->kind == MP_PKT_CTRL)) {
			cnt[CC_CTRL - MP_CC_N]++;
			continue;
		}
		int dlt = pl->port[md->port].dlt;
		if (classify_mbuf(m, md, dlt, verify, 0, &info, cnt) != CLS_FRAG || !cp)
			continue;
		struct rte_mbuf *rm = frag_feed(si, m, md, &info, cnt);
		if (!rm)
			continue;
		/* The rebuilt packet is whole: its length is its wire length. */
		classify_mbuf(rm, mp_meta(rm), dlt, verify, rte_pktmbuf_pkt_len(rm), &info, cnt);
		cnt[CC_INJECTED - MP_CC_N]++;
		out[no++] = rm;
	}
	if (cp && cp->dr.cnt)
		rte_ip_frag_free_death_row(&cp->dr, 0);
	for (unsigned k = 0; k < CLS_N_CTRS; k++)
		if (cnt[k])
			mp_ctr_add(si, MP_CC_N + k, cnt[k]);
	/* mp_out_send takes at most 256 at once. */
	for (unsigned k = 0; k < no; k += 256)
		mp_out_send(si, 0, out + k, no - k < 256 ? no - k : 256);
	return n;
}

static void classify_fini(struct mp_stage_inst *si)
{
	struct cls_priv *cp = si->priv;
	if (!cp)
		return;
	rte_ip_frag_free_death_row(&cp->dr, 0);
	/* Frees the copies of datagrams that never completed. */
	rte_ip_frag_table_destroy(cp->frag);
	rte_free(cp);
	si->priv = NULL;
}

const struct mp_stage_type mp_stage_classify = {
    .name = "classify",
    .id = MP_ST_CLASSIFY,
    .ctrs = cls_ctrs,
    .n_ctrs = RTE_DIM(cls_ctrs),
    .init = classify_init,
    .poll = classify_poll,
    .fini = classify_fini,
};
