/* classify: the stage that parses every packet (parse.c), counts what is
 * malformed or not TCP, verifies IPv4 header and TCP checksums, reassembles
 * IP fragments (classify_frag.c) and hands everything on to the tcpsm
 * instance that owns the flow (fan-out by the symmetric hash). Malformed
 * packets go on flagged MP_MF_UNMON (never monitored), non-TCP ones flagged
 * MP_MF_ORPHAN.
 *
 * What a receiver would not take is not monitored: a wrong IPv4 header
 * checksum, an IP length longer than the frame on the wire (its length live,
 * the capture record's original length offline, mp_pkt_ext.wirelen), and
 * the other malformed classes of classify_counters.def. Inline, such packets
 * are dropped ([security] unparsable = drop, the default) or forwarded
 * unmonitored (forward). Why drop by default: every malformed class is
 * either dropped by a Linux receiver anyway (bad checksums, lengths, header
 * lengths: ip_rcv_core, tcp_v4_rcv), so dropping changes nothing it sees, or
 * is a packet the stack cannot inspect (headers past the parser's window, an
 * IPv6 chain longer than it follows) that some receiver may still take --
 * forwarding those is a way past the box. `forward` is for a box that must
 * never be the reason a packet is lost.
 *
 * IP fragments are held until their datagram completes, then the rebuilt
 * datagram (a new packet flagged MP_MF_REASM, counted as "injected")
 * enters the pipeline carrying the original fragments (mp_pkt_ext.held); tx
 * forwards them with the rebuilt datagram's verdict and frees the copy.
 *
 * [input] filter (a BPF expression, also mospipe's and midstat's trailing
 * arguments): compiled with libpcap for each input port's link type at init
 * and run on the raw frame before anything else. A packet that does not
 * match is not monitored: in monitor mode classify frees it, counted as the
 * drop reason "filtered"; inline, it is forwarded untouched, flagged
 * MP_MF_UNMON, parsed only for the flow hash that keeps a flow's packets in
 * order on their way to tx. IP fragments are the exception: the filter
 * judges the datagram they make, once it is rebuilt.
 */
#include <errno.h>
#include <stdio.h>

#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "classify-int.h"
#include "parse.h"
#include "pipeline.h"
#include "stage.h"

#define MP_CTR_STAGE cls
#define MP_CTR_DEF "classify_counters.def"
#define MP_CTR_DESCS_ONLY
#include "counters-gen.h"

/* Malformed reasons come first in the .def, in reason-code order. */
_Static_assert((int)CC_L2_TRUNCATED == (int)MP_CC_N, "malformed reasons must open classify_counters.def");
_Static_assert(CC_HDR_TOO_LONG - CC_L2_TRUNCATED == CLS_HDR_TOO_LONG - 1, "reason codes follow the .def order");

static void cls_priv_free(struct cls_priv *cp)
{
	for (unsigned i = 0; i < cp->n_bpf; i++)
		mp_bpf_free(cp->bpf[i]);
	cls_frag_fini(cp);
	rte_free(cp);
}

/* Compiles [input] filter for the link type of each port (once per link
 * type). @return 0, or -EINVAL (-ENOMEM) after printing libpcap's reason. */
static int filter_setup(struct mp_stage_inst *si, struct cls_priv *cp)
{
	const struct mp_pipeline *pl = si->pl;
	const char *expr = pl->conf->filter;
	for (unsigned p = 0; p < pl->n_ports && p < MP_MAX_PORTS; p++) {
		const struct mp_bpf *f = NULL;
		for (unsigned k = 0; k < p && !f; k++)
			if (pl->port[k].dlt == pl->port[p].dlt)
				f = cp->filter[k];
		if (!f) {
			char err[512];
			struct mp_bpf *b = mp_bpf_compile_pcap(expr, pl->port[p].dlt, err, sizeof(err));
			if (!b) {
				int e = errno == ENOMEM ? ENOMEM : EINVAL;
				fprintf(stderr, "mospipe: filter '%s': %s\n", expr, err);
				return -e;
			}
			cp->bpf[cp->n_bpf++] = b;
			f = b;
		}
		cp->filter[p] = f;
	}
	return 0;
}

static int classify_init(struct mp_stage_inst *si)
{
	const struct mp_conf *conf = si->pl->conf;
	int socket = (int)rte_lcore_to_socket_id(si->lcore);
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	struct cls_priv *cp = rte_zmalloc_socket("cls_priv", sizeof(*cp), RTE_CACHE_LINE_SIZE, socket);
	if (!cp) {
		fprintf(stderr,
		        "mospipe: classify.%u: out of memory for its state (%zu bytes; raise EAL -m in [eal] args)\n",
		        si->idx, sizeof(*cp));
		return -ENOMEM;
	}
	cp->inl = conf->mode == MP_MODE_INLINE;
	cp->drop_unparse = cp->inl && conf->unparsable == MP_UNPARSABLE_DROP;
	int r = cls_frag_init(si, cp);
	if (r < 0) {
		rte_free(cp);
		return r;
	}
	if (*conf->filter) {
		r = filter_setup(si, cp);
		if (r < 0) {
			cls_priv_free(cp);
			return r;
		}
	}
	si->priv = cp;
	return 0;
}

/* Inline mode, a packet the filter did not match: forwarded untouched and
 * unmonitored, parsed only for its flow hash, so that it keeps its place
 * among its flow's packets on the way to tx. */
static void unmatched_inline(struct rte_mbuf *m, struct mp_meta *md, int dlt)
{
	uint8_t buf[CLS_VIEW];
	uint32_t vlen;
	const uint8_t *v = cls_header_view(m, buf, &vlen);
	if (v)
		cls_parse_view(v, vlen, rte_pktmbuf_pkt_len(m), dlt, md, NULL);
	md->flags = (uint16_t)((md->flags | MP_MF_UNMON) & ~MP_MF_TCP);
}

/* A packet the [input] filter did not match that is an IP fragment: the
 * filter cannot judge a piece (a port filter never matches one past the
 * first), so fragments go to reassembly and the filter judges the datagram
 * they make. Only these packets pay for this parse. */
static int unmatched_fragment(struct rte_mbuf *m, struct mp_meta *md, int dlt)
{
	uint8_t buf[CLS_VIEW];
	uint32_t vlen;
	const uint8_t *v = cls_header_view(m, buf, &vlen);
	return v && cls_parse_view(v, vlen, rte_pktmbuf_pkt_len(m), dlt, md, NULL) == CLS_FRAG;
}

/* A malformed packet inline under [security] unparsable = drop: freed
 * (with the fragments it carries when it is a rebuilt datagram). A bad TCP
 * checksum is not in this class: the segment is parsed, reaches tcpsm
 * flagged, changes nothing, and the receiver drops it itself. */
static int drop_unparsable(struct cls_burst *b, const struct cls_priv *cp, struct rte_mbuf *m, int r)
{
	if (!cp->drop_unparse || r <= CLS_OK || r >= CLS_N_BAD || r == CLS_TCP_CSUM_BAD)
		return 0;
	cls_count(b, CC_UNPARSABLE, mp_pkt_free(m));
	return 1;
}

static unsigned classify_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct cls_priv *cp = si->priv;
	struct rte_mbuf *in[256];
	struct rte_mbuf *out[256]; /* at most one packet out per packet in */
	struct cls_burst b = {.si = si, .verify = pl->conf->checksum == MP_CSUM_VERIFY};
	unsigned no = 0;
	uint64_t now_ns = 0; /* the burst's latest packet time */

	unsigned n = mp_in_burst(si, in, pl->conf->burst);
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = in[i];
		struct mp_meta *md = mp_meta(m);
		struct cls_info info;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(in[i + 1], void *));
		if (unlikely(md->kind == MP_PKT_CTRL)) {
			out[no++] = m;
			cls_count(&b, CC_CTRL, 1);
			continue;
		}
		if (md->ts_ns > now_ns)
			now_ns = md->ts_ns;
		int dlt = pl->port[md->port].dlt;
		const struct mp_bpf *flt = cp->filter[md->port];
		if (flt && !mp_bpf_match(flt, m) && !unmatched_fragment(m, md, dlt)) {
			if (!cp->inl) {
				rte_pktmbuf_free(m);
				cls_count(&b, CC_FILTERED, 1);
				continue;
			}
			unmatched_inline(m, md, dlt);
			out[no++] = m;
			cls_count(&b, CC_FILTERED_PASSED, 1);
			continue;
		}
		int r = cls_classify_mbuf(&b, m, md, dlt, md->pkt.wirelen, &info);
		if (r == CLS_FRAG) {
			m = cls_frag_feed(&b, m, md, &info, dlt);
			if (!m)
				continue;
			if (mp_meta(m)->flags & MP_MF_REASM) {
				r = mp_meta(m)->anomaly ? mp_meta(m)->anomaly : CLS_OK;
				if (flt && !mp_bpf_match(flt, m)) {
					/* The filter judges the datagram, not its pieces:
					 * not monitored, and (monitor mode) freed with the
					 * fragments it carries. */
					if (!cp->inl) {
						cls_count(&b, CC_FILTERED, mp_pkt_free(m));
						continue;
					}
					mp_meta(m)->flags = (uint16_t)((mp_meta(m)->flags | MP_MF_UNMON) & ~MP_MF_TCP);
					cls_count(&b, CC_FILTERED_PASSED, 1);
				}
			}
		}
		if (unlikely(drop_unparsable(&b, cp, m, r)))
			continue;
		out[no++] = m;
	}
	b.now_ms = now_ns / 1000000u;
	cls_frag_expire(&b);
	for (unsigned k = 0; k < CLS_N_CTRS; k++)
		if (b.cnt[k])
			mp_ctr_add(si, MP_CC_N + k, b.cnt[k]);
	mp_out_send(si, 0, out, no);
	return n;
}

/* End of input: datagrams still incomplete never will be; their fragments
 * are freed, counted (frag_end). */
static int classify_drain(struct mp_stage_inst *si)
{
	struct cls_burst b = {.si = si};
	if (si->priv)
		cls_frag_flush(&b);
	for (unsigned k = 0; k < CLS_N_CTRS; k++)
		if (b.cnt[k])
			mp_ctr_add(si, MP_CC_N + k, b.cnt[k]);
	return 0;
}

static void classify_fini(struct mp_stage_inst *si)
{
	struct cls_priv *cp = si->priv;
	if (!cp)
		return;
	cls_priv_free(cp);
	si->priv = NULL;
}

const struct mp_stage_type mp_stage_classify = {
    .id = MP_ST_CLASSIFY,
    .ctrs = cls_ctrs,
    .n_ctrs = RTE_DIM(cls_ctrs),
    .init = classify_init,
    .poll = classify_poll,
    .drain = classify_drain,
    .fini = classify_fini,
};
