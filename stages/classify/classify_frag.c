/* classify's IP fragments: the mbuf side of ipfrag.c. Every fragment that
 * can be reassembled is held in the table until its datagram completes (or
 * is given up: the fragments are then freed and counted by reason); then the
 * datagram is rebuilt as a receiver rebuilds it -- the headers of the piece
 * at offset 0 (IPv4: length, offset and checksum set; IPv6: the fragment
 * header taken out, the header before it naming what followed it) and the
 * pieces' bytes in order -- into a new multi-segment mbuf flagged
 * MP_MF_REASM, which carries the original fragments in arrival order
 * (mp_pkt_ext.held) through the pipeline. tx forwards the fragments (inline)
 * or drops them with the rebuilt datagram's verdict, so an application's
 * drop verdict stops them too.
 *
 * What holding costs (inline): a fragment leaves the box when the last
 * piece of its datagram has arrived, not when it arrived itself: the first
 * fragment is delayed by the datagram's spread (last arrival - first
 * arrival), at most [tcp] ip_frag_timeout; a datagram that never completes
 * is never forwarded. The receiver could not have delivered the datagram
 * earlier, so nothing above IP waits longer; what changes is that a
 * receiver sees only complete, consistent fragment sets (and nothing of the
 * datagrams the model discards, which it would have discarded too).
 *
 * Time: packet time in milliseconds (pcap time offline), so offline results
 * do not depend on replay speed. Live, a datagram is given up at the first
 * packet after its time is over (an idle link keeps it, within the caps).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_random.h>

#include "classify-int.h"
#include "parse.h"
#include "pipeline.h"
#include "stage.h"

/* Fragments one datagram may have: a 64K datagram in 1480-byte pieces has
 * 45; every insertion walks the datagram's pieces, so this bounds the work
 * an attacker gets per fragment. Linux has no such count (its memory
 * threshold allows a few thousand); a datagram cut finer is discarded. */
#define CLS_FRAG_MAX_PER_DGRAM 1024

/* The drop counter of each reason, and the datagram counter. */
static const unsigned drop_ctr[IPF_R_N] = {
    [IPF_R_TIMEOUT] = CC_FRAG_TIMEOUT, [IPF_R_OVERLAP] = CC_FRAG_OVERLAP, [IPF_R_INVALID] = CC_FRAG_INVALID,
    [IPF_R_ECN] = CC_FRAG_ECN,         [IPF_R_MANY] = CC_FRAG_TOO_MANY,   [IPF_R_END] = CC_FRAG_END,
    [IPF_R_TINY] = CC_FRAG_TINY,       [IPF_R_CAP] = CC_FRAG_CAP,         [IPF_R_EVICTED] = CC_FRAG_EVICTED,
};
static const unsigned fail_ctr[IPF_R_N] = {
    [IPF_R_TIMEOUT] = CC_REASM_TIMEOUT, [IPF_R_OVERLAP] = CC_REASM_OVERLAP, [IPF_R_INVALID] = CC_REASM_INVALID,
    [IPF_R_ECN] = CC_REASM_ECN,         [IPF_R_MANY] = CC_REASM_TOO_MANY,   [IPF_R_END] = CC_REASM_END,
    [IPF_R_EVICTED] = CC_REASM_EVICTED,
};

/* Not a reason ipfrag.c knows: the datagram completed but no mbuf could
 * hold its rebuilt copy. */
#define CLS_R_NO_MBUF IPF_R_N

static void on_drop(void *ctx, void *pkt, unsigned reason)
{
	struct cls_burst *b = ctx;
	rte_pktmbuf_free(pkt);
	cls_count(b, reason == CLS_R_NO_MBUF ? CC_FRAG_NO_MBUF : drop_ctr[reason], 1);
}

static void on_fail(void *ctx, unsigned reason)
{
	struct cls_burst *b = ctx;
	if (reason == CLS_R_NO_MBUF)
		cls_count(b, CC_REASM_NO_MBUF, 1);
	else if (fail_ctr[reason])
		cls_count(b, fail_ctr[reason], 1);
}

static const struct ipf_ops frag_ops = {.drop = on_drop, .fail = on_fail};

int cls_frag_init(struct mp_stage_inst *si, struct cls_priv *cp)
{
	const struct mp_conf *conf = si->pl->conf;
	unsigned n_cls = si->pl->n_inst[MP_ST_CLASSIFY] ? si->pl->n_inst[MP_ST_CLASSIFY] : 1;
	/* Held fragments come from the packet pool: left unchecked, a flood
	 * of fragments that never complete would starve every port. */
	uint32_t cap = conf->frag_mbufs;
	if (cap == 0) {
		cap = conf->mbufs / 4 / n_cls;
		if (cap > 4096)
			cap = 4096;
		if (cap < 16)
			cap = 16;
	}
	if ((uint64_t)cap * n_cls > conf->mbufs / 2) {
		fprintf(stderr,
		        "mospipe: [tcp] ip_frag_mbufs = %u for each of %u classify instance(s) would let fragments "
		        "hold more than half of the %u mbufs of [mempool] mbufs: lower ip_frag_mbufs to at most %u or "
		        "raise [mempool] mbufs\n",
		        cap, n_cls, conf->mbufs, conf->mbufs / 2 / n_cls);
		return -EINVAL;
	}
	struct ipf_params p = {
	    .max_dgrams = conf->frag_flows,
	    .max_pkts = cap,
	    .max_per_dgram = CLS_FRAG_MAX_PER_DGRAM,
	    .timeout_ms = conf->frag_timeout_ms,
	    .policy = conf->frag_policy,
	    /* Over a cap, inline: the oldest datagram goes, so that a flood of
	     * fragments that never complete evicts its own state (a receiver
	     * never saw any of it: nothing leaves before its datagram is
	     * whole). Monitor mode keeps Linux's rule, dropping the new
	     * fragment, because the receiver does see every fragment. */
	    .evict = conf->mode == MP_MODE_INLINE,
	    .seed = rte_rand(),
	};
	cp->frag = ipf_create(&p, &frag_ops);
	if (!cp->frag) {
		fprintf(stderr,
		        "mospipe: classify.%u: out of memory for an IP reassembly table of %u datagrams and %u "
		        "fragments (lower [tcp] ip_frag_flows or ip_frag_mbufs)\n",
		        si->idx, conf->frag_flows, cap);
		return -ENOMEM;
	}
	return 0;
}

void cls_frag_fini(struct cls_priv *cp)
{
	struct cls_burst b;
	memset(&b, 0, sizeof(b));
	ipf_destroy(cp->frag, &b);
	cp->frag = NULL;
}

/* Reads n bytes at off of m into dst. @return 0, or -1 past its end. */
static int read_at(const struct rte_mbuf *m, uint32_t off, uint32_t n, uint8_t *dst)
{
	uint8_t tmp[64];
	const uint8_t *p = n <= sizeof(tmp) ? rte_pktmbuf_read(m, off, n, tmp) : NULL;
	if (p) {
		memcpy(dst, p, n);
		return 0;
	}
	if ((uint64_t)off + n > rte_pktmbuf_pkt_len(m))
		return -1;
	for (; m && off >= rte_pktmbuf_data_len(m); m = m->next)
		off -= rte_pktmbuf_data_len(m);
	for (; m && n; m = m->next, off = 0) {
		uint32_t k = rte_pktmbuf_data_len(m) - off;
		if (k > n)
			k = n;
		memcpy(dst, rte_pktmbuf_mtod_offset(m, const uint8_t *, off), k);
		dst += k;
		n -= k;
	}
	return n ? -1 : 0;
}

/* IPv6 offset-0 fragment: does it hold the whole upper-layer header (TCP
 * 20 bytes, UDP 8, ICMPv6 8, anything else 1) after the extension headers
 * that follow the fragment header? A chain that cannot be followed counts
 * as holding it, as Linux's ipv6frag_thdr_truncated says. @return 1 when
 * it does not (RFC 7112: the receiver drops the fragment). */
static int v6_first_tiny(const struct rte_mbuf *m, uint32_t at, uint32_t end, uint8_t nh)
{
	for (unsigned n = 0; n < 16; n++) {
		uint8_t h[2];
		uint32_t len;
		switch (nh) {
		case 0:
		case 43:
		case 60:
		case 135:
		case 139:
		case 140:
		case 44:
		case 51:
			if (at + 2 > end || read_at(m, at, 2, h) < 0)
				return 0;
			len = nh == 44 ? 8 : nh == 51 ? ((uint32_t)h[1] + 2) * 4 : ((uint32_t)h[1] + 1) * 8;
			nh = h[0];
			at += len;
			continue;
		case 6: return at + 20 > end;
		case 17:
		case 58: return at + 8 > end;
		default: return at + 1 > end;
		}
	}
	return 0;
}

/* The chain being built for a rebuilt datagram. */
struct build {
	struct rte_mempool *mp;
	struct rte_mbuf *head, *last;
	const struct rte_mbuf *src; /* the packet giving the headers */
};

/* Appends n bytes to the chain, adding segments as needed. @return 0 or -1. */
static int put(struct build *b, const uint8_t *p, uint32_t n)
{
	while (n) {
		if (!b->last || rte_pktmbuf_tailroom(b->last) == 0) {
			struct rte_mbuf *s = rte_pktmbuf_alloc(b->mp);
			if (!s)
				return -1;
			if (!b->head) {
				b->head = s;
			} else {
				b->last->next = s;
				b->head->nb_segs++;
			}
			b->last = s;
		}
		uint32_t room = rte_pktmbuf_tailroom(b->last), k = n < room ? n : room;
		memcpy(rte_pktmbuf_mtod_offset(b->last, uint8_t *, b->last->data_len), p, k);
		b->last->data_len = (uint16_t)(b->last->data_len + k);
		b->head->pkt_len += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* Appends bytes [at, at + len) of packet m. */
static int put_from(struct build *b, const struct rte_mbuf *m, uint32_t at, uint32_t len)
{
	if ((uint64_t)at + len > rte_pktmbuf_pkt_len(m))
		return -1;
	for (; m && at >= rte_pktmbuf_data_len(m); m = m->next)
		at -= rte_pktmbuf_data_len(m);
	for (; m && len; m = m->next, at = 0) {
		uint32_t k = rte_pktmbuf_data_len(m) - at;
		if (k > len)
			k = len;
		if (put(b, rte_pktmbuf_mtod_offset(m, const uint8_t *, at), k) < 0)
			return -1;
		len -= k;
	}
	return len ? -1 : 0;
}

static int piece_cb(void *ctx, void *pkt, uint32_t at, uint32_t off, uint32_t len)
{
	(void)off;
	return put_from(ctx, pkt, at, len);
}

/* Links the datagram's fragments through their metadata, in arrival order. */
struct take {
	struct rte_mbuf *first, *last;
	unsigned n;
};

static void take_cb(void *ctx, void *pkt)
{
	struct take *t = ctx;
	struct rte_mbuf *m = pkt;
	mp_meta(m)->pkt.held = NULL;
	if (t->last)
		mp_meta(t->last)->pkt.held = m;
	else
		t->first = m;
	t->last = m;
	t->n++;
}

/* Builds the completed datagram. @return it (the table still holds the
 * fragments), or NULL with *why set (the caller discards them). */
static struct rte_mbuf *rebuild(struct cls_burst *b, struct ipf_tbl *t, unsigned *why)
{
	struct rte_mbuf *h = ipf_done_head(t);
	const struct mp_meta *hm = mp_meta(h);
	uint32_t len = ipf_done_len(t), l3 = hm->l3_off;
	int v6 = !!(hm->flags & MP_MF_IPV6);
	/* The bytes before the data: link and IP headers (IPv6: up to the
	 * fragment header, which goes). */
	uint32_t hdr = v6 ? (uint32_t)hm->l4_off - 8 : hm->l4_off;
	uint8_t hb[CLS_MAX_HDR];
	*why = IPF_R_INVALID;
	if (hdr > sizeof(hb) || read_at(h, 0, hdr, hb) < 0)
		return NULL;
	if (!v6) {
		uint32_t ihl = hdr - l3;
		if (ihl + len > 65535) /* Linux ip_frag_reasm: "Oversized IP packet" */
			return NULL;
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(hb + l3);
		ip->total_length = rte_cpu_to_be_16((uint16_t)(ihl + len));
		ip->fragment_offset = 0;
		if (ipf_done_ce(t))
			ip->type_of_service |= 3;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = (uint16_t)~__rte_raw_cksum_reduce(__rte_raw_cksum(ip, ihl, 0));
	} else {
		/* The next-header byte that named the fragment header now names
		 * what the fragment header said followed it (where that byte is
		 * was kept in the fragment's pay_off by cls_frag_feed). */
		uint8_t fh[8];
		uint32_t nh_at = hm->pay_off, plen = hdr - l3 - 40 + len;
		if (plen > 65535 || nh_at >= hdr || read_at(h, hdr, 8, fh) < 0)
			return NULL;
		hb[nh_at] = fh[0];
		hb[l3 + 4] = (uint8_t)(plen >> 8);
		hb[l3 + 5] = (uint8_t)plen;
		if (ipf_done_ce(t))
			hb[l3 + 1] |= 0x30; /* ECN bits: the low two of the traffic class */
	}
	*why = CLS_R_NO_MBUF;
	struct build bd = {.mp = b->si->pl->pool, .src = h};
	if (put(&bd, hb, hdr) < 0 || ipf_done_pieces(t, piece_cb, &bd) != 0) {
		if (bd.head)
			rte_pktmbuf_free(bd.head);
		return NULL;
	}
	return bd.head;
}

struct rte_mbuf *cls_frag_feed(struct cls_burst *b, struct rte_mbuf *m, struct mp_meta *md, const struct cls_info *info,
                               int dlt)
{
	struct cls_priv *cp = b->si->priv;
	int v6 = !!(md->flags & MP_MF_IPV6);
	uint32_t at = md->l4_off;
	/* Only a whole fragment can be reassembled (a capture may cut it) and
	 * only headers a rebuilt copy can hold. */
	if (info->ip_end > rte_pktmbuf_pkt_len(m) || at > CLS_MAX_HDR || info->ip_end < at) {
		cls_count(b, CC_FRAG_UNSUPPORTED, 1);
		return m;
	}
	/* Where the rebuilt IPv6 header must name the next header: kept in the
	 * fragment's own metadata (pay_off means nothing for a fragment). */
	md->pay_off = v6 ? info->frag_nh_off : 0;
	struct ipf_frag f = {
	    .src = md->src,
	    .dst = md->dst,
	    .id = info->frag_id,
	    .v6 = (uint8_t)v6,
	    .proto = md->ip_proto,
	    .mf = info->frag_mf,
	    .ecn = info->ecn,
	    .off = info->frag_at,
	    .len = info->ip_end - at,
	    .at = at,
	    .pkt = m,
	};
	if (v6 && info->frag_first)
		f.tiny = (uint8_t)v6_first_tiny(m, at, info->ip_end, md->ip_proto);
	int r = ipf_add(cp->frag, &f, md->ts_ns / 1000000u, b);
	if (r == IPF_DUP)
		cls_count(b, CC_FRAG_DUP, 1);
	if (r != IPF_DONE)
		return NULL;
	unsigned why;
	struct rte_mbuf *rm = rebuild(b, cp->frag, &why);
	if (!rm) {
		ipf_done_discard(cp->frag, why, b);
		return NULL;
	}
	struct take tk = {NULL, NULL, 0};
	ipf_done_take(cp->frag, take_cb, &tk);
	/* The rebuilt datagram is a new packet, seen when its last piece was. */
	struct mp_meta *rmd = mp_meta(rm);
	mp_meta_reset(rmd);
	rmd->ts_ns = md->ts_ns;
	rmd->port = md->port;
	rmd->kind = MP_PKT_DATA;
	rmd->flags = MP_MF_REASM;
	rmd->pkt.held = tk.first;
	rmd->pkt.n_held = (uint16_t)tk.n;
	cls_count(b, CC_INJECTED, 1);
	struct cls_info ri;
	/* The rebuilt packet is whole: its length is its wire length. */
	int rr = cls_classify_mbuf(b, rm, rmd, dlt, rte_pktmbuf_pkt_len(rm), &ri);
	if (rr == CLS_FRAG) /* a fragment inside a fragment: not followed */
		rmd->flags |= MP_MF_UNMON;
	return rm;
}

void cls_frag_expire(struct cls_burst *b)
{
	struct cls_priv *cp = b->si->priv;
	if (b->now_ms)
		ipf_expire(cp->frag, b->now_ms, b);
}

void cls_frag_flush(struct cls_burst *b)
{
	struct cls_priv *cp = b->si->priv;
	ipf_flush(cp->frag, b);
}
