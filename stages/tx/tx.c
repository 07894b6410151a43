/* tx: the end of the pipeline. Inline mode sends each packet out of the port
 * paired with its input port (tx instance i uses queue i of every port);
 * monitor mode frees it. Packets an application dropped by verdict are freed
 * and counted; control mbufs are retired. Optionally writes everything that
 * leaves the box to a pcap file (-w), one file per tx instance (FILE, FILE.1…).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "pipeline.h"
#include "stage.h"

enum tx_ctr {
	TX_CTR_BASE_ = MP_CC_N - 1,
#define MP_CTR(id, name, help) TX_##id,
#define MP_DROP(id, name, help) TX_##id,
#include "tx_counters.def"
#undef MP_CTR
#undef MP_DROP
};

static const struct mp_ctr_desc tx_ctrs[] = {
#define MP_CTR(id, name, help) {name, help, 0},
#define MP_DROP(id, name, help) {name, help, 1},
#include "tx_counters.def"
#undef MP_CTR
#undef MP_DROP
};

struct tx_priv {
	pcap_t *pcap;
	pcap_dumper_t *dump;
	uint16_t queue[MP_MAX_PORTS];
	uint8_t buf[65536];
};

static int tx_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct tx_priv *tp = rte_zmalloc("tx_priv", sizeof(*tp), RTE_CACHE_LINE_SIZE);
	if (!tp)
		return -ENOMEM;
	si->priv = tp;
	for (unsigned p = 0; p < pl->n_ports; p++) {
		struct rte_eth_dev_info info;
		uint16_t nq = 1;
		if (pl->port[p].kind != MP_PORT_GEN && !pl->port[p].pf &&
		    rte_eth_dev_info_get(pl->port[p].id, &info) == 0 && info.nb_tx_queues)
			nq = info.nb_tx_queues;
		tp->queue[p] = (uint16_t)(si->idx % nq);
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

static unsigned tx_poll(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct tx_priv *tp = si->priv;
	struct rte_mbuf *b[256];
	struct rte_mbuf *out[MP_MAX_PORTS][256];
	unsigned nout[MP_MAX_PORTS] = {0};
	unsigned released = 0, ctrl = 0, vdrop = 0, written = 0;
	int inl = pl->conf->mode == MP_MODE_INLINE;

	unsigned n = mp_in_burst(si, b, pl->conf->burst);
	if (!n)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		struct mp_meta *md = mp_meta(m);
		if (unlikely(md->kind == MP_PKT_CTRL)) {
			if (md->ctrl.type == MP_CTRL_RETIRE && md->flow && pl->flow_retire)
				pl->flow_retire(pl, md->flow);
			rte_pktmbuf_free(m);
			ctrl++;
			continue;
		}
		if (unlikely(md->flags & MP_MF_CONN_END) && md->flow && pl->flow_ended)
			pl->flow_ended(pl, md->flow);
		if (unlikely(md->flags & MP_MF_REASM)) {
			/* A datagram classify rebuilt from fragments, for monitoring
			 * only: the original fragments were forwarded unchanged, so
			 * this copy never leaves the box, even inline. */
			rte_pktmbuf_free(m);
			released++;
			continue;
		}
		if (unlikely(md->verdict == MP_VERDICT_DROP)) {
			rte_pktmbuf_free(m);
			vdrop++;
			continue;
		}
		if (tp->dump) {
			write_pcap(tp, m);
			written++;
		}
		/* A generator port (MP_PORT_GEN) has no device to send to: its
		 * packets are released as in monitor mode. */
		if (inl && pl->port[pl->port[md->port].peer].kind != MP_PORT_GEN &&
		    !pl->port[pl->port[md->port].peer].pf) {
			unsigned peer = pl->port[md->port].peer;
			out[peer][nout[peer]++] = m;
		} else {
			rte_pktmbuf_free(m);
			released++;
		}
	}
	if (inl)
		for (unsigned p = 0; p < pl->n_ports; p++) {
			unsigned k = 0, tries = 0;
			while (k < nout[p] && tries++ < 64)
				k +=
				    rte_eth_tx_burst(pl->port[p].id, tp->queue[p], out[p] + k, (uint16_t)(nout[p] - k));
			mp_ctr_add(si, TX_SENT, k);
			if (k < nout[p]) {
				rte_pktmbuf_free_bulk(out[p] + k, nout[p] - k);
				mp_ctr_add(si, TX_TX_FAILED, nout[p] - k);
			}
		}
	if (released)
		mp_ctr_add(si, TX_RELEASED, released);
	if (ctrl)
		mp_ctr_add(si, TX_CTRL, ctrl);
	if (vdrop)
		mp_ctr_add(si, TX_VERDICT, vdrop);
	if (written)
		mp_ctr_add(si, TX_PCAP_WRITTEN, written);
	return n;
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
    .name = "tx",
    .id = MP_ST_TX,
    .ctrs = tx_ctrs,
    .n_ctrs = RTE_DIM(tx_ctrs),
    .init = tx_init,
    .poll = tx_poll,
    .fini = tx_fini,
};
