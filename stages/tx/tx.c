/* tx: the end of the pipeline. Inline mode sends each packet out of the port
 * paired with its input port (tx instance i uses queue i of every port);
 * monitor mode frees it. Packets an application dropped by verdict are freed
 * and counted. A datagram rebuilt from IP fragments is freed and the
 * fragments it carries (mp_pkt_ext.held) leave in its place, or are dropped
 * with its verdict. Control mbufs (a flow's MP_CTRL_ENDED and
 * MP_CTRL_RETIRE) are handed back to the tcpsm instance that owns the flow
 * on the feedback edge (mp_fb_send): when tx has one, every stage before it
 * is done with what it stands for. Optionally writes everything that leaves
 * the box to a pcap file (-w), one file per tx instance (FILE, FILE.1…).
 *
 * Inline on live ports, tx also measures the box's own latency: from the
 * poll in which rx took a frame (its live time, md->ts_ns) to the moment tx
 * hands it to the port, into a histogram of 8 buckets per power of two
 * (12.5% resolution) per instance; the counters JSON gives its percentiles
 * (tx_report_json). Frames the pipeline made (mtcp_sendpkt) are not in it.
 */
#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "pipeline.h"
#include "stage.h"

#define MP_CTR_STAGE tx
#define MP_CTR_PREFIX TX_
#define MP_CTR_DEF "tx_counters.def"
#include "counters-gen.h"

/* Latency buckets: values below 8 ns one each, then 8 per power of two up
 * to 2^40 ns (18 minutes). */
#define LAT_SUB 8
#define LAT_BUCKETS (LAT_SUB * 39)

struct tx_priv {
	pcap_t *pcap;
	pcap_dumper_t *dump;
	uint16_t queue[MP_MAX_PORTS];
	uint8_t lat_on;          /* inline with a live port: measure */
	uint64_t lat_n, lat_max; /* frames measured, the longest (ns) */
	uint64_t lat[LAT_BUCKETS];
	uint8_t buf[65536];
};

static inline unsigned lat_bucket(uint64_t v)
{
	if (v < LAT_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 3 */
	unsigned i = (e - 2u) * LAT_SUB + (unsigned)((v >> (e - 3u)) & (LAT_SUB - 1));
	return i < LAT_BUCKETS ? i : LAT_BUCKETS - 1;
}

/* The middle of bucket i's range, in ns. */
static uint64_t lat_value(unsigned i)
{
	if (i < LAT_SUB)
		return i;
	unsigned e = i / LAT_SUB + 2u, sub = i % LAT_SUB;
	uint64_t lo = (uint64_t)(LAT_SUB + sub) << (e - 3u), w = 1ull << (e - 3u);
	return lo + w / 2;
}

/* The q-quantile (0..1) of the histogram, in ns (its bucket's middle, at
 * most the longest seen). */
static uint64_t lat_quantile(const struct tx_priv *tp, double q)
{
	uint64_t want = (uint64_t)((double)tp->lat_n * q), seen = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		seen += tp->lat[i];
		if (seen > want) {
			uint64_t v = lat_value(i);
			return v < tp->lat_max ? v : tp->lat_max;
		}
	}
	return tp->lat_max;
}

static int tx_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct tx_priv *tp = rte_zmalloc("tx_priv", sizeof(*tp), RTE_CACHE_LINE_SIZE);
	if (!tp) {
		fprintf(
		    stderr,
		    "mospipe: tx.%u: out of memory for its queues and pcap buffer (%zu bytes; raise EAL -m in [eal] "
		    "args)\n",
		    si->idx, sizeof(*tp));
		return -ENOMEM;
	}
	si->priv = tp;
	for (unsigned p = 0; p < pl->n_ports; p++) {
		struct rte_eth_dev_info info;
		uint16_t nq = 1;
		if (pl->port[p].kind != MP_PORT_GEN && !pl->port[p].pf &&
		    rte_eth_dev_info_get(pl->port[p].id, &info) == 0 && info.nb_tx_queues)
			nq = info.nb_tx_queues;
		tp->queue[p] = (uint16_t)(si->idx % nq);
		if (pl->port[p].kind == MP_PORT_IFACE || pl->port[p].kind == MP_PORT_ETHDEV)
			tp->lat_on = pl->conf->mode == MP_MODE_INLINE;
	}
	const char *w = pl->conf->write_pcap;
	if (*w) {
		char path[MP_CONF_STR + 16];
		if (si->idx == 0)
			snprintf(path, sizeof(path), "%s", w);
		else
			snprintf(path, sizeof(path), "%s.%u", w, si->idx);
		int dlt = pl->n_ports ? pl->port[0].dlt : DLT_EN10MB;
		tp->pcap = pcap_open_dead_with_tstamp_precision(dlt, 65535, PCAP_TSTAMP_PRECISION_NANO);
		tp->dump = tp->pcap ? pcap_dump_open(tp->pcap, path) : NULL;
		if (!tp->dump) {
			fprintf(stderr, "mospipe: -w %s: cannot write: %s\n", path,
			        tp->pcap ? pcap_geterr(tp->pcap) : "out of memory");
			return -EIO;
		}
	}
	return 0;
}

static void write_pcap(struct tx_priv *tp, struct rte_mbuf *m)
{
	struct pcap_pkthdr h;
	uint64_t ts = mp_meta(m)->ts_ns;
	h.ts.tv_sec = (time_t)(ts / 1000000000ULL);
	h.ts.tv_usec = (suseconds_t)(ts % 1000000000ULL); /* ns: file is nano precision */
	h.caplen = h.len = rte_pktmbuf_pkt_len(m);
	if (h.caplen > sizeof(tp->buf))
		h.caplen = sizeof(tp->buf);
	const uint8_t *d = rte_pktmbuf_read(m, 0, h.caplen, tp->buf);
	pcap_dump((u_char *)tp->dump, &h, d);
}

/* Packets waiting to leave through each port, sent when a port's list is
 * full and at the end of a poll. */
struct tx_out {
	struct rte_mbuf *m[MP_MAX_PORTS][256];
	unsigned n[MP_MAX_PORTS];
};

static void tx_flush(struct mp_stage_inst *si, struct tx_out *o, unsigned p)
{
	struct tx_priv *tp = si->priv;
	unsigned k = 0, tries = 0;
	if (tp->lat_on) {
		const struct mp_pipeline *pl = si->pl;
		uint64_t now = mp_live_ns(pl, rte_rdtsc());
		for (unsigned i = 0; i < o->n[p]; i++) {
			const struct mp_meta *md = mp_meta(o->m[p][i]);
			uint8_t kind = pl->port[md->port].kind;
			if ((kind != MP_PORT_IFACE && kind != MP_PORT_ETHDEV) || (md->flags & MP_MF_INJECTED) ||
			    md->ts_ns > now)
				continue;
			uint64_t d = now - md->ts_ns;
			tp->lat[lat_bucket(d)]++;
			tp->lat_n++;
			if (d > tp->lat_max)
				tp->lat_max = d;
		}
	}
	while (k < o->n[p] && tries++ < 64)
		k += rte_eth_tx_burst(si->pl->port[p].id, tp->queue[p], o->m[p] + k, (uint16_t)(o->n[p] - k));
	mp_ctr_add(si, TX_SENT, k);
	if (k < o->n[p]) {
		rte_pktmbuf_free_bulk(o->m[p] + k, o->n[p] - k);
		mp_ctr_add(si, TX_TX_FAILED, o->n[p] - k);
	}
	o->n[p] = 0;
}

static unsigned tx_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct tx_priv *tp = si->priv;
	struct rte_mbuf *b[256];
	struct tx_out out;
	struct rte_mbuf *back[256];
	unsigned released = 0, nback = 0, retire = 0, ended = 0, vdrop = 0, written = 0;
	int inl = pl->conf->mode == MP_MODE_INLINE;

	unsigned n = mp_in_burst(si, b, pl->conf->burst);
	if (!n)
		return 0;
	memset(out.n, 0, sizeof(out.n));
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i], *held = NULL;
		struct mp_meta *md = mp_meta(m);
		if (unlikely(md->kind == MP_PKT_CTRL)) {
			if (md->ctrl.type == MP_CTRL_RETIRE)
				retire++;
			else if (md->ctrl.type == MP_CTRL_ENDED)
				ended++;
			back[nback++] = m;
			continue;
		}
		if (unlikely(md->flags & MP_MF_REASM)) {
			/* A datagram classify rebuilt from fragments, for monitoring
			 * only: it never leaves the box, even inline. The original
			 * fragments it carries do, unchanged, unless an application
			 * dropped the datagram: then they go with it. */
			held = md->pkt.held;
			int drop = md->verdict == MP_VERDICT_DROP;
			rte_pktmbuf_free(m);
			released++;
			if (drop) {
				while (held) {
					struct rte_mbuf *nx = mp_meta(held)->pkt.held;
					rte_pktmbuf_free(held);
					vdrop++;
					held = nx;
				}
				continue;
			}
			if (!held)
				continue;
			m = held;
			md = mp_meta(m);
			held = md->pkt.held;
		} else if (unlikely(md->verdict == MP_VERDICT_DROP)) {
			rte_pktmbuf_free(m);
			vdrop++;
			continue;
		}
		for (;;) {
			if (tp->dump) {
				write_pcap(tp, m);
				written++;
			}
			/* A generator port (MP_PORT_GEN) has no device to send to:
			 * its packets are released as in monitor mode. */
			unsigned peer = pl->port[md->port].peer;
			if (inl && pl->port[peer].kind != MP_PORT_GEN && !pl->port[peer].pf) {
				out.m[peer][out.n[peer]++] = m;
				if (out.n[peer] == RTE_DIM(out.m[peer]))
					tx_flush(si, &out, peer);
			} else {
				rte_pktmbuf_free(m);
				released++;
			}
			if (!held)
				break;
			m = held;
			md = mp_meta(m);
			held = md->pkt.held;
		}
	}
	if (inl)
		for (unsigned p = 0; p < pl->n_ports; p++)
			if (out.n[p])
				tx_flush(si, &out, p);
	if (nback) {
		/* After the packets ahead of them in the burst have left. */
		mp_fb_send(si, back, nback);
		if (retire)
			mp_ctr_add(si, TX_BACK_RETIRE, retire);
		if (ended)
			mp_ctr_add(si, TX_BACK_ENDED, ended);
	}
	if (released)
		mp_ctr_add(si, TX_RELEASED, released);
	if (vdrop)
		mp_ctr_add(si, TX_VERDICT, vdrop);
	if (written)
		mp_ctr_add(si, TX_PCAP_WRITTEN, written);
	return n;
}

/* The box's latency (rx poll to the port) in the instance's object of the
 * counters JSON: "latency_ns": {"frames", "p50", "p90", "p99", "p999",
 * "max"}, when it measured any. */
static void tx_report_json(const struct mp_stage_inst *si, FILE *f)
{
	const struct tx_priv *tp = si->priv;
	if (!tp || !tp->lat_n)
		return;
	fprintf(f,
	        ", \"latency_ns\": {\"frames\": %" PRIu64 ", \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
	        ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64 ", \"max\": %" PRIu64 "}",
	        tp->lat_n, lat_quantile(tp, 0.5), lat_quantile(tp, 0.9), lat_quantile(tp, 0.99),
	        lat_quantile(tp, 0.999), tp->lat_max);
}

static void tx_fini(struct mp_stage_inst *si)
{
	struct tx_priv *tp = si->priv;
	if (!tp)
		return;
	if (tp->dump)
		pcap_dump_close(tp->dump);
	if (tp->pcap)
		pcap_close(tp->pcap);
	rte_free(tp);
	si->priv = NULL;
}

const struct mp_stage_type mp_stage_tx = {
    .id = MP_ST_TX,
    .ctrs = tx_ctrs,
    .n_ctrs = RTE_DIM(tx_ctrs),
    .init = tx_init,
    .poll = tx_poll,
    .fini = tx_fini,
    .report_json = tx_report_json,
};
