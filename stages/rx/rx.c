/* rx: polls this instance's ports (port p belongs to instance p % n_rx),
 * stamps each mbuf with its packet time and input port, and hands bursts to
 * classify, fanned out by a symmetric address hash so that both directions
 * of a flow, and every fragment of a datagram, reach one classify instance.
 *
 * End of input: a pcap port is finished once it has delivered as many packets
 * as the pre-scan counted (less the ones the PMD reported as errors), or, as a
 * safety net, when it stays silent for [input] pcap_eof_idle.
 *
 * A mapped capture (MP_PORT_PCAP with port->pf, runtime/pcapin.h) has no
 * ethdev either: rx attaches each mbuf to its record in the mapping and the
 * port is finished at the end of the file.
 *
 * A generator port (MP_PORT_GEN, `[input] source = gen:...`) has no ethdev:
 * rx fills freshly allocated mbufs with runtime/gen.h's frames and their packet
 * times, and the port is finished when the generator is done.
 *
 * Replicated pipelines on live interfaces (fanout = index, n rx instances):
 * each port has a queue pair per instance, and instance i polls the queues
 * q with q % n == i of every port. The kernel spreads frames over a port's
 * queues by its own hash (PACKET_FANOUT; a NIC's RSS hash need not be
 * symmetric) and rolls a frame over to another queue when one is full, so
 * a flow's frames may come in on different instances. Each instance takes
 * the frames whose address hash (rx_addr_hash, as the file split uses)
 * falls to it and hands the others to their instance through that
 * instance's hand-off ring (multi-producer, single consumer), which it
 * empties before it polls its queues. At a stop, an instance ends only
 * once every instance has stopped polling and its ring is empty.
 *
 * Once every port of the instance is finished, or the pipeline is stopped,
 * rx tells the runtime (mp_stage_input_ended) and sends nothing more.
 *
 * Its own state that others may ask about (rx.h: the offline gate, the
 * input's packet time) lives in struct rx_priv, one per instance; the
 * accessors at the end of this file are the only way in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "gen.h"
#include "input.h"
#include "mbufpool.h"
#include "pcapin.h"
#include "pipeline.h"
#include "rx.h"
#include "rx_hash.h"
#include "rx_split.h"
#include "stage.h"

#define MP_CTR_STAGE rx
#define MP_CTR_PREFIX RX_
#define MP_CTR_DEF "rx_counters.def"
#include "counters-gen.h"

struct rx_port {
	struct mp_port *p;
	/* A capture rx maps itself: this instance's cursor in it. */
	struct mp_pcapfile cur;
	/* Or, split over the rx instances (replicated pipelines on one file):
	 * the walk they share (rx_split.h; instance 0 owns it), this instance's
	 * number in it and its place. Each takes the records whose address
	 * hash falls to it (both directions of a flow, and every fragment of a
	 * datagram). */
	struct rxs *split;
	uint16_t split_i;
	struct rxs_cur sc;
	uint64_t got;      /* packets received */
	uint64_t last_tsc; /* last time it delivered or was checked */
	int finished;
	uint16_t next_q; /* the receive queue polled next (round robin) */
	/* Its queues this instance polls: q_first, q_first + q_step, ... (0 and
	 * 1: all); q_step > 1: replicated pipelines on the port's queues. */
	uint16_t q_first, q_step;
	uint8_t stats_owner; /* this instance accounts the port's statistics */
	uint64_t k_tsc;      /* MP_PORT_IFACE: when kernel_missed() last ran */
	uint64_t k_missed;   /* ... and what it had added to port_missed */
};

/* Polls in a row the hand-off ring may serve before the own queues get one. */
#define RX_STEER_RUN 8

struct rx_priv {
	unsigned n;
	unsigned next;
	uint64_t idle_tsc;  /* pcap_eof_idle in TSC cycles */
	uint64_t check_tsc; /* how often to read port stats while waiting */
	struct rx_port port[MP_MAX_PORTS];
	/* Packets held back by the offline gate (mospipe_gate), in order. */
	unsigned n_stash, stash_pos;
	struct rte_mbuf *stash[256];
	int ended; /* mp_stage_input_ended called: nothing more to send */
	/* Replicated pipelines on live ports' queues: this instance's hand-off
	 * ring (others put frames of its flows there), and the others'. */
	struct rte_ring *steer;
	struct rte_ring *steer_to[MP_MAX_INST];
	uint8_t ports_stopped; /* stopped polling its queues (release) */
	uint8_t steer_run;     /* polls in a row the hand-off ring served (RX_STEER_RUN) */
	/* What rx.h's accessors read from other threads: written by this
	 * instance's lcore only (gate_ns: by rx_gate_set), each an atomic
	 * store; the orders are those rx.h states. */
	uint64_t gate_ns;     /* deliver no capture packet later than this (0 = open) */
	uint64_t gate_next;   /* time of the first packet held at the gate, 0 = none */
	uint32_t gate_held;   /* packets held at the gate */
	uint8_t gate_eof;     /* holds the end of its input until the gate opens */
	uint8_t gate_starved; /* a shared file's next block waits on an instance that lags (split_rx) */
	uint8_t done_input;   /* ended, as the accessors see it */
	uint64_t last_ts;     /* packet time last passed on */
};

static struct rx_priv *rx_of(const struct mp_pipeline *pl, unsigned i);

static int rx_init(struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	struct rx_priv *rp = rte_zmalloc("rx_priv", sizeof(*rp), RTE_CACHE_LINE_SIZE);
	if (!rp) {
		fprintf(stderr,
		        "mospipe: rx.%u: out of memory for its port list (%zu bytes; raise EAL -m in [eal] args)\n",
		        si->idx, sizeof(*rp));
		return -ENOMEM;
	}
	unsigned n_rx = pl->n_inst[MP_ST_RX];
	/* Captures rx reads itself are read by every instance, each taking its
	 * share, when the pipelines are replicated (fanout = index: instance i
	 * feeds only instance i downstream); other ports go round robin. */
	int split = n_rx > 1 && pl->conf->fanout == MP_FANOUT_INDEX;
	for (unsigned i = 0; i < pl->n_ports; i++) {
		struct mp_port *p = &pl->port[i];
		if (split && p->pf) {
			struct rx_port *rpp = &rp->port[rp->n++];
			rpp->p = p;
			rpp->split_i = (uint16_t)si->idx;
			rpp->stats_owner = 1;
			/* Instances are set up in order, before any polls. */
			struct rx_priv *r0 = si->idx ? rx_of(pl, 0) : NULL;
			for (unsigned k = 0; r0 && k < r0->n; k++)
				if (r0->port[k].p == p)
					rpp->split = r0->port[k].split;
			if (!si->idx)
				rpp->split = rxs_create(p->pf, n_rx, p->dlt, p->idx);
			if (!rpp->split) {
				fprintf(stderr, "mospipe: rx.%u: out of memory for the walk of %s\n", si->idx, p->name);
				for (unsigned k = 0; k + 1 < rp->n && !si->idx; k++)
					rxs_free(rp->port[k].split);
				rte_free(rp);
				return -ENOMEM;
			}
		} else if (split && (p->kind == MP_PORT_IFACE || p->kind == MP_PORT_ETHDEV)) {
			/* Its queues q with q % n_rx == idx (input.c refuses a
			 * port with fewer queues than rx instances; a NIC's get
			 * a symmetric RSS key). */
			struct rx_port *rpp = &rp->port[rp->n++];
			rpp->p = p;
			rpp->q_first = (uint16_t)si->idx;
			rpp->q_step = (uint16_t)n_rx;
			rpp->stats_owner = i % n_rx == si->idx;
		} else if (i % n_rx == si->idx) {
			struct rx_port *rpp = &rp->port[rp->n++];
			rpp->p = p;
			rpp->stats_owner = 1;
			if (p->pf)
				rpp->cur = *p->pf;
		}
	}
	for (unsigned k = 0; k < rp->n && !rp->steer; k++) {
		if (rp->port[k].q_step < 2)
			continue;
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "rxs%u_%" PRIxPTR, si->idx, (uintptr_t)pl & 0xffffffffffu);
		rp->steer = rte_ring_create(name, 4096, (int)rte_socket_id(), RING_F_SC_DEQ);
		if (!rp->steer) {
			fprintf(stderr,
			        "mospipe: rx.%u: cannot make its hand-off ring: %s (raise EAL -m in [eal] args)\n",
			        si->idx, rte_strerror(rte_errno));
			rte_free(rp);
			return -ENOMEM;
		}
	}
	rp->idle_tsc = pl->conf->pcap_eof_idle_ms * (pl->tsc_hz / 1000);
	rp->check_tsc = pl->tsc_hz / 1000;
	uint64_t now = rte_rdtsc();
	for (unsigned i = 0; i < rp->n; i++)
		rp->port[i].last_tsc = now;
	si->priv = rp;
	return 0;
}

/* The record number of the next frame net_pcap delivers on a port whose
 * capture has cut records (else 0, unused). net_pcap loses a record only at
 * the end of a burst (no mbuf, or a frame it cannot chain) and counts it
 * (rx_nombuf, ierrors), so the records before this burst are those
 * delivered plus those lost. */
static uint64_t cut_index(const struct rx_port *rpp)
{
	struct rte_eth_stats st;
	if (likely(rpp->p->cuts == NULL) || rte_eth_stats_get(rpp->p->id, &st) != 0)
		return rpp->got;
	return rpp->got + st.ierrors + st.rx_nombuf + st.imissed;
}

/* Decides whether a silent pcap port has delivered all it will. */
static void check_eof(struct mp_stage_inst *si, struct rx_port *rpp, uint64_t now)
{
	struct rx_priv *rp = si->priv;
	struct rte_eth_stats st;
	if (now - rpp->last_tsc < rp->check_tsc)
		return;
	if (rte_eth_stats_get(rpp->p->id, &st) == 0 && rpp->got + st.ierrors + st.imissed >= rpp->p->expect) {
		rpp->finished = 1;
		return;
	}
	if (now - rpp->last_tsc >= rp->idle_tsc) {
		rpp->finished = 1;
		mp_ctr_add(si, RX_EOF_IDLE, 1);
	}
}

/* Fills up to burst new mbufs from a generator port; packet times are the
 * generator's. @return the frames received (0 also when the pool is empty,
 * counted as no_mbuf like a NIC's rx_nombuf). */
static uint16_t gen_rx(struct mp_stage_inst *si, struct rx_port *rpp, struct rte_mbuf **b, unsigned burst)
{
	uint8_t *data[256];
	uint16_t len[256];
	uint64_t ts[256];

	if (gen_done(rpp->p->gen)) {
		rpp->finished = 1;
		return 0;
	}
	/* No flow control of its own: rx_poll asks for no more than the next
	 * ring can take and every stage does the same (back-pressure), so the
	 * generator never outruns the pipeline and nothing is dropped. */
	if (unlikely(rte_pktmbuf_alloc_bulk(si->pl->pool, b, burst) != 0)) {
		mp_ctr_add(si, RX_NO_MBUF, 1);
		return 0;
	}
	/* A frame is at most GEN_MAX_FRAME (1514) bytes: it fits one mbuf of
	 * the default data room; gen_burst() writes nothing into a smaller one. */
	uint16_t cap = rte_pktmbuf_tailroom(b[0]);
	for (unsigned i = 0; i < burst; i++)
		data[i] = rte_pktmbuf_mtod(b[i], uint8_t *);
	uint64_t t0 = rte_rdtsc();
	unsigned n = gen_burst(rpp->p->gen, data, cap, len, ts, burst);
	mp_ctr_add(si, RX_GEN_CYCLES, rte_rdtsc() - t0);
	/* The generator's checksums are right by construction (test_gen): like
	 * a NIC with RX checksum offload it says so, unless rxcsum=0. */
	uint64_t olf = rpp->p->rx_csum_good ? RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD : 0;
	for (unsigned i = 0; i < n; i++) {
		b[i]->data_len = len[i];
		b[i]->pkt_len = len[i];
		b[i]->ol_flags |= olf;
		mp_meta(b[i])->ts_ns = ts[i];
	}
	if (n < burst) {
		rte_pktmbuf_free_bulk(b + n, burst - n);
		if (n == 0 && !gen_done(rpp->p->gen))
			mp_ctr_add(si, RX_PORT_ERRORS, 1); /* mbufs too small for a frame */
		rpp->finished = n == 0;
	}
	return (uint16_t)n;
}

/* Copies a frame larger than one mbuf's data room into m and as many chained
 * mbufs as it needs (TSO captures). @return 0, or -1 (m as it was, no chain)
 * when the pool ran dry. */
static int copy_chained(struct rte_mempool *mp, struct rte_mbuf *m, const uint8_t *d, uint32_t len)
{
	struct rte_mbuf *last = m;
	uint16_t room = rte_pktmbuf_tailroom(m);
	uint32_t k = len < room ? len : room;
	rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), d, k);
	m->data_len = (uint16_t)k;
	m->pkt_len = len;
	for (uint32_t off = k; off < len;) {
		struct rte_mbuf *seg = rte_pktmbuf_alloc(mp);
		if (!seg) {
			rte_pktmbuf_free(m->next);
			m->next = NULL;
			m->nb_segs = 1;
			return -1;
		}
		uint16_t r = rte_pktmbuf_tailroom(seg);
		uint32_t c = len - off < r ? len - off : r;
		rte_memcpy(rte_pktmbuf_mtod(seg, uint8_t *), d + off, c);
		seg->data_len = (uint16_t)c;
		last->next = seg;
		last = seg;
		m->nb_segs++;
		off += c;
	}
	return 0;
}

/* file_rx for a file the rx instances share (rpp->split): this instance's
 * records from the walk's lists, into b[n..burst) (allocated). */
static uint16_t split_rx(struct mp_stage_inst *si, struct rx_port *rpp, struct rte_mbuf **b, unsigned burst, unsigned n)
{
	struct rx_priv *rp = si->priv;
	struct rte_mempool *mp = si->pl->pool;
	/* Walk ahead: the next block, if no other instance is walking it,
	 * before the instances need it. */
	rxs_help(rpp->split, rpp->split_i);
	int x = RXS_OK;
	while (n < burst) {
		struct mp_pcaprec r;
		x = rxs_peek(rpp->split, rpp->split_i, &rpp->sc, &r);
		if (x != RXS_OK) {
			if (x == RXS_WAIT || x == RXS_FULL)
				break; /* another instance walks the next block, or lags */
			rpp->finished = 1;
			/* Counted once: by the instance that walked to the damage. */
			if (x == RXS_BAD && rxs_ended_by(rpp->split, rpp->split_i, &rpp->sc)) {
				mp_ctr_add(si, RX_PORT_ERRORS, 1);
				rpp->p->damaged = 1; /* read after the lcores are joined */
			}
			break;
		}
		struct rte_mbuf *m = b[n];
		if (likely(r.caplen <= UINT16_MAX)) {
			mp_mbuf_attach_bytes(m, r.data, (uint16_t)r.caplen); /* no copy */
		} else if (copy_chained(mp, m, r.data, r.caplen) < 0) {
			mp_ctr_add(si, RX_NO_MBUF, 1); /* this record again, with fresh mbufs */
			break;
		}
		rxs_take(&rpp->sc);
		mp_meta(m)->ts_ns = r.ts_ns;
		mp_meta(m)->pkt.wirelen = r.wirelen;
		n++;
	}
	/* Held back by an instance that lags a ring of blocks behind: when
	 * that one holds packets at the offline gate, this one is stopped at
	 * it too (its next record comes after the held one: rx_gate_waiting),
	 * else it is waiting on a reader that moves. Once per burst. */
	if (rp->gate_starved != (x == RXS_FULL))
		__atomic_store_n(&rp->gate_starved, x == RXS_FULL, __ATOMIC_RELEASE);
	if (n < burst)
		rte_pktmbuf_free_bulk(b + n, burst - n);
	return (uint16_t)n;
}

/* Fills up to burst mbufs from a mapped capture file (port->pf): each mbuf
 * attached to its record's bytes in the mapping (mbufpool.h; copying them
 * was ~60% of rx's 700 cycles/packet on the bench pcap), a frame above
 * 65,535 bytes copied into chained mbufs; packet time from the record.
 * @return the frames received; the port is finished at the end of the file.
 * Waits (returns 0, counts no_mbuf) when the pool is empty: offline input is
 * never dropped. */
static uint16_t file_rx(struct mp_stage_inst *si, struct rx_port *rpp, struct rte_mbuf **b, unsigned burst)
{
	struct mp_pcapfile *pf = &rpp->cur;
	struct rte_mempool *mp = si->pl->pool;
	unsigned n = 0;
	if (unlikely(rte_pktmbuf_alloc_bulk(mp, b, burst) != 0)) {
		mp_ctr_add(si, RX_NO_MBUF, 1);
		return 0;
	}
	if (rpp->split)
		return split_rx(si, rpp, b, burst, n);
	while (n < burst) {
		const uint8_t *d;
		uint32_t len;
		uint64_t ts;
		uint64_t save = pf->pos;
		mp_pcapfile_prefetch(pf);
		if (!mp_pcapfile_next(pf, &d, &len, &ts)) {
			rpp->finished = 1;
			if (pf->bad) {
				mp_ctr_add(si, RX_PORT_ERRORS, 1);
				rpp->p->damaged = 1; /* read after the lcores are joined */
			}
			break;
		}
		struct rte_mbuf *m = b[n];
		if (likely(len <= UINT16_MAX)) {
			mp_mbuf_attach_bytes(m, d, (uint16_t)len); /* no copy */
		} else if (copy_chained(mp, m, d, len) < 0) {
			pf->pos = save; /* retry this frame later with fresh mbufs */
			mp_ctr_add(si, RX_NO_MBUF, 1);
			break;
		}
		mp_meta(m)->ts_ns = ts;
		mp_meta(m)->pkt.wirelen = pf->wirelen;
		n++;
	}
	if (n < burst)
		rte_pktmbuf_free_bulk(b + n, burst - n);
	return (uint16_t)n;
}

/* From an ethdev port: its receive queues in turn, until one gives frames
 * (all of them are polled before rx reports nothing). */
static uint16_t port_rx(struct rx_port *rpp, struct rte_mbuf **b, unsigned burst)
{
	unsigned nq = rpp->p->n_rxq ? rpp->p->n_rxq : 1, step = rpp->q_step ? rpp->q_step : 1;
	unsigned cnt = nq > rpp->q_first ? (nq - rpp->q_first + step - 1) / step : 0;
	for (unsigned k = 0; k < cnt; k++) {
		uint16_t i = rpp->next_q;
		rpp->next_q = (uint16_t)(i + 1u >= cnt ? 0 : i + 1u);
		uint16_t q = (uint16_t)(rpp->q_first + i * step);
		uint16_t n = rte_eth_rx_burst(rpp->p->id, q, b, (uint16_t)burst);
		if (n)
			return n;
	}
	return 0;
}

/* Replicated pipelines on a port's queues: keeps in b the frames whose
 * address hash falls to this instance and hands the others to theirs.
 * @return the frames kept (in order). */
static unsigned steer(struct mp_stage_inst *si, struct rx_port *rpp, struct rte_mbuf **b, unsigned n)
{
	struct rx_priv *rp = si->priv;
	unsigned n_rx = rpp->q_step, kept = 0, moved = 0, full = 0;
	struct rte_mbuf *other[MP_MAX_INST][256];
	unsigned n_other[MP_MAX_INST] = {0};
	for (unsigned i = 0; i < n; i++) {
		unsigned j = mp_meta(b[i])->hash % n_rx; /* set by rx_poll */
		if (j == si->idx)
			b[kept++] = b[i];
		else
			other[j][n_other[j]++] = b[i];
	}
	for (unsigned j = 0; j < n_rx; j++) {
		if (!n_other[j])
			continue;
		if (!rp->steer_to[j]) /* every instance's init ran before any poll */
			rp->steer_to[j] = rx_of(si->pl, j)->steer;
		/* To steer_in on instance j's lcore (tsan.h), as mp_out_send. */
		for (unsigned x = 0; x < n_other[j]; x++)
			MP_TSAN_RELEASE(other[j][x]);
		unsigned k = rte_ring_enqueue_burst(rp->steer_to[j], (void **)other[j], n_other[j], NULL);
		moved += k;
		if (k < n_other[j]) {
			rte_pktmbuf_free_bulk(other[j] + k, n_other[j] - k);
			full += n_other[j] - k;
		}
	}
	if (moved)
		mp_ctr_add(si, RX_STEERED, moved);
	if (full)
		mp_ctr_add(si, MP_CC_RING_FULL, full);
	return kept;
}

/* Frames other instances handed to this one: on to classify. */
static unsigned steer_in(struct mp_stage_inst *si, unsigned burst)
{
	struct rx_priv *rp = si->priv;
	struct rte_mbuf *b[256];
	unsigned n = rte_ring_dequeue_burst(rp->steer, (void **)b, burst, NULL);
	for (unsigned i = 0; i < n; i++)
		MP_TSAN_ACQUIRE(b[i]); /* from steer() on the instance that read it */
	if (n) {
		mp_ctr_add(si, RX_STEERED_IN, n);
		mp_out_send(si, 0, b, n);
	}
	return n;
}

/* A live interface's frames that rx never saw (AF_PACKET's ring overflowed,
 * or the kernel's backlog dropped them; the PMD reports neither): the
 * kernel's count of frames the interface received since the port started,
 * less the PMD's. While rx runs, frames may wait in the rings, so only what
 * exceeds their capacity is sure to be lost; at the end (final), the rings
 * are never read again and the difference is the count. Added to
 * port_missed as it grows. The kernel's count is read first, so a frame
 * arriving in between can only make it lower. */
static void kernel_missed(struct mp_stage_inst *si, struct rx_port *rpp, int final)
{
	const struct mp_port *p = rpp->p;
	uint64_t k;
	struct rte_eth_stats st;
	if (p->kind != MP_PORT_IFACE || p->k_base == UINT64_MAX || mp_port_kernel_rx(p, &k) < 0 ||
	    rte_eth_stats_get(p->id, &st) != 0)
		return;
	uint64_t seen = k - p->k_base, missed = seen > st.ipackets ? seen - st.ipackets : 0;
	uint64_t waiting = final ? 0 : (uint64_t)p->ring_cap * (p->n_rxq ? p->n_rxq : 1);
	missed = missed > waiting ? missed - waiting : 0;
	if (missed > rpp->k_missed) {
		mp_ctr_add(si, RX_PORT_MISSED, missed - rpp->k_missed);
		rpp->k_missed = missed;
	}
}

static void account_port_stats(struct mp_stage_inst *si)
{
	struct rx_priv *rp = si->priv;
	for (unsigned i = 0; i < rp->n; i++) {
		struct rte_eth_stats st;
		if (rp->port[i].p->kind == MP_PORT_GEN || rp->port[i].p->pf || !rp->port[i].stats_owner)
			continue;
		if (rte_eth_stats_get(rp->port[i].p->id, &st) == 0) {
			mp_ctr_add(si, RX_PORT_MISSED, st.imissed);
			mp_ctr_add(si, RX_PORT_ERRORS, st.ierrors);
			mp_ctr_add(si, RX_NO_MBUF, st.rx_nombuf);
		}
		kernel_missed(si, &rp->port[i], 1);
	}
}

/* The input ended (or rx was told to stop): no more packets from here. */
static void end_input(struct mp_stage_inst *si)
{
	struct rx_priv *rp = si->priv;
	account_port_stats(si);
	rp->ended = 1;
	__atomic_store_n(&rp->ports_stopped, 1, __ATOMIC_RELEASE);
	/* Release: after the last packet was passed on (rx_gate_waiting). */
	__atomic_store_n(&rp->done_input, 1, __ATOMIC_RELEASE);
	mp_stage_input_ended(si);
}

/* How many of b[0..n) the offline gate lets through (all when it is open). */
static unsigned gate_cut(struct rx_priv *rp, struct rte_mbuf **b, unsigned n)
{
	/* Acquire: pairs with the release in rx_gate_set so that a reader
	 * moving the gate has finished reading before packets move on. */
	uint64_t g = __atomic_load_n(&rp->gate_ns, __ATOMIC_ACQUIRE);
	unsigned i = 0;
	if (!g)
		return n;
	while (i < n && mp_meta(b[i])->ts_ns <= g)
		i++;
	return i;
}

static void gate_publish(struct mp_stage_inst *si)
{
	struct rx_priv *rp = si->priv;
	uint64_t next = rp->n_stash ? mp_meta(rp->stash[rp->stash_pos])->ts_ns : 0;
	__atomic_store_n(&rp->gate_held, rp->n_stash, __ATOMIC_RELAXED);
	__atomic_store_n(&rp->gate_next, next, __ATOMIC_RELEASE);
}

/* Delivers what the gate now lets through of the held packets.
 * @return packets delivered; *held set when some are still held. */
static unsigned gate_release(struct mp_stage_inst *si, unsigned burst, int all, int *held)
{
	struct rx_priv *rp = si->priv;
	unsigned k = all ? rp->n_stash : gate_cut(rp, rp->stash + rp->stash_pos, rp->n_stash);
	if (k > burst && !all)
		k = burst;
	if (k) {
		__atomic_store_n(&rp->last_ts, mp_meta(rp->stash[rp->stash_pos + k - 1])->ts_ns, __ATOMIC_RELAXED);
		mp_out_send(si, 0, rp->stash + rp->stash_pos, k);
		rp->stash_pos += k;
		rp->n_stash -= k;
	}
	if (!rp->n_stash)
		rp->stash_pos = 0;
	gate_publish(si);
	*held = rp->n_stash != 0;
	return k;
}

/* While this instance reads no file record (packets held at the gate, no
 * room downstream), it still walks the next blocks of the files it shares:
 * the other instances may be waiting for them. */
static void split_help(struct rx_priv *rp)
{
	for (unsigned k = 0; k < rp->n; k++)
		if (rp->port[k].split && !rp->port[k].finished)
			rxs_help(rp->port[k].split, rp->port[k].split_i);
}

static unsigned rx_poll(struct mp_stage_inst *si)
{
	struct rx_priv *rp = si->priv;
	struct mp_pipeline *pl = si->pl;
	struct rte_mbuf *b[256];
	unsigned burst = pl->conf->burst;

	if (rp->ended)
		return 0;
	if (unlikely(__atomic_load_n(&pl->stop, __ATOMIC_RELAXED))) {
		int held;
		if (rp->n_stash)
			return gate_release(si, burst, 1, &held);
		/* Stopped polling: this instance hands no frame on from here. */
		__atomic_store_n(&rp->ports_stopped, 1, __ATOMIC_RELEASE);
		if (rp->steer) {
			/* End only once no instance can hand this one a frame:
			 * all stopped polling (each after its last hand-off),
			 * and the ring is empty. */
			int all = 1;
			for (unsigned j = 0; j < pl->n_inst[MP_ST_RX]; j++)
				all &= __atomic_load_n(&rx_of(pl, j)->ports_stopped, __ATOMIC_ACQUIRE);
			unsigned k = steer_in(si, burst);
			if (k || !all)
				return k;
		}
		end_input(si);
		return 0;
	}
	/* Free mbufs ahead of the ports' need (runtime/mbufpool.c). */
	mp_mbuf_pool_keep(pl->pool, pl->pool_lazy);
	/* Back-pressure: take from the ports only what classify can accept; a
	 * live port then drops at the door (port_missed), a capture waits. */
	unsigned room = mp_out_room(si);
	if (room < burst)
		burst = room;
	if (burst == 0) {
		split_help(rp);
		return 0;
	}
	if (unlikely(rp->n_stash)) {
		int held;
		unsigned k = gate_release(si, burst, 0, &held);
		if (held)
			split_help(rp);
		if (held || k)
			return k;
	}
	/* The hand-off ring first, but never more than RX_STEER_RUN polls in
	 * a row while this instance's own queues wait: a sibling whose queue
	 * floods this instance's flows (or frames with no address, which all
	 * hash alike) cannot starve the queue it reads (under ASan, rx.0 took
	 * 2,784 frames from its net_null queue in 1.5 s against 6.1 M for
	 * rx.1). Not plain turns: the ring holds frames the kernel rolled over
	 * from a full queue, newer than that queue's backlog, and a flow's
	 * frames come through both; turns interleave old and new and reorder
	 * more of a flow's frames inside the box (replicated_test under ASan
	 * failed 3 runs of 12 with turns, 0 of 8 with the ring first). */
	int steer_tried = 0;
	if (rp->steer && rp->steer_run < RX_STEER_RUN) {
		unsigned k = steer_in(si, burst);
		steer_tried = 1;
		if (k) {
			rp->steer_run++;
			return k;
		}
	}
	rp->steer_run = 0;
	for (unsigned k = 0; k < rp->n; k++) {
		struct rx_port *rpp = &rp->port[rp->next];
		rp->next = rp->next + 1 == rp->n ? 0 : rp->next + 1;
		if (rpp->finished)
			continue;
		int is_gen = rpp->p->kind == MP_PORT_GEN, is_file = rpp->p->pf != NULL;
		uint64_t rec = cut_index(rpp);
		uint16_t n = is_gen    ? gen_rx(si, rpp, b, burst)
		             : is_file ? file_rx(si, rpp, b, burst)
		                       : port_rx(rpp, b, burst);
		uint64_t now = rte_rdtsc();
		if (rpp->p->kind == MP_PORT_IFACE && rpp->stats_owner && now - rpp->k_tsc > rte_get_tsc_hz()) {
			rpp->k_tsc = now; /* once a second: telemetry shows it live */
			kernel_missed(si, rpp, 0);
		}
		if (n == 0) {
			if (rpp->p->kind == MP_PORT_PCAP && !is_file)
				check_eof(si, rpp, now);
			continue;
		}
		rpp->got += n;
		rpp->last_tsc = now;
		uint64_t live_ns = mp_live_ns(pl, now);
		uint64_t bytes = 0;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = b[i];
			struct mp_meta *md = mp_meta(m);
			uint64_t gen_ts = md->ts_ns;
			uint32_t wl = md->pkt.wirelen;
			mp_meta_reset(md);
			md->kind = MP_PKT_DATA;
			md->port = (uint16_t)(rpp->p - pl->port);
			bytes += rte_pktmbuf_pkt_len(m);
			/* The frame's length on the wire (classify holds the IP
			 * length against it): a live frame is whole; a capture
			 * record says its original length (net_pcap drops it:
			 * the pre-scan kept those of the records it cut). */
			if (is_file)
				md->pkt.wirelen = wl;
			else if (unlikely(rpp->p->cuts != NULL))
				md->pkt.wirelen = mp_pcap_cuts_len(rpp->p->cuts, rec + i, rte_pktmbuf_pkt_len(m));
			else
				md->pkt.wirelen = rte_pktmbuf_pkt_len(m);
			if (is_gen || is_file)
				md->ts_ns = gen_ts;
			else if (pl->ts_off >= 0 && (m->ol_flags & pl->ts_flag))
				/* net_pcap stores pcap time in microseconds. */
				md->ts_ns = *RTE_MBUF_DYNFIELD(m, pl->ts_off, uint64_t *) * 1000ULL;
			else
				md->ts_ns = live_ns;
		}
		/* The address hash: classify's fan-out by hash, and the hand-off
		 * between replicated pipelines on a port's queues (steer). With
		 * fanout = index and no queues to steer between (a generator's
		 * part, a file split by the same hash before rx) no one reads it. */
		if ((si->out[0].n > 1 && !si->fanout_index) || rpp->q_step > 1)
			for (uint16_t i = 0; i < n; i++)
				mp_meta(b[i])->hash = rx_addr_hash(b[i], rpp->p->dlt);
		mp_ctr_add(si, MP_CC_IN, n);
		mp_ctr_add(si, RX_BYTES, bytes);
		unsigned pass = n;
		if (unlikely(__atomic_load_n(&rp->gate_ns, __ATOMIC_RELAXED)) && rpp->p->kind != MP_PORT_IFACE &&
		    rpp->p->kind != MP_PORT_ETHDEV) {
			pass = gate_cut(rp, b, n);
			if (pass < n) {
				memcpy(rp->stash, b + pass, (n - pass) * sizeof(b[0]));
				rp->n_stash = n - pass;
				rp->stash_pos = 0;
				gate_publish(si);
			}
		}
		if (rpp->q_step > 1)
			pass = steer(si, rpp, b, pass);
		if (pass) {
			__atomic_store_n(&rp->last_ts, mp_meta(b[pass - 1])->ts_ns, __ATOMIC_RELAXED);
			mp_out_send(si, 0, b, pass);
		}
		return n;
	}
	if (rp->steer && !steer_tried) {
		unsigned k = steer_in(si, burst);
		if (k)
			return k;
	}
	int all = rp->n > 0;
	for (unsigned k = 0; k < rp->n; k++)
		if (!rp->port[k].finished)
			all = 0;
	if (rp->n == 0 || all) {
		/* A gated offline input also holds its end until the gate opens, so
		 * a reader can see the last state before flows are ended. */
		if (__atomic_load_n(&rp->gate_ns, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&rp->gate_eof, 1, __ATOMIC_RELEASE);
			return 0;
		}
		end_input(si);
	}
	return 0;
}

static void rx_fini(struct mp_stage_inst *si)
{
	struct rx_priv *rp = si->priv;
	for (unsigned k = 0; rp && si->idx == 0 && k < rp->n; k++)
		rxs_free(rp->port[k].split); /* instance 0's (rx_init) */
	if (rp && rp->steer) {
		/* Nothing is left after a stop (rx_poll); a failed start may. */
		struct rte_mbuf *m;
		while (rte_ring_dequeue(rp->steer, (void **)&m) == 0) {
			MP_TSAN_ACQUIRE(m);
			rte_pktmbuf_free(m);
		}
		rte_ring_free(rp->steer);
	}
	rte_free(rp);
	si->priv = NULL;
}

/* ---- rx.h: the accessors --------------------------------------------------- */

/* Instance i's state, NULL before its init and after its fini. */
static struct rx_priv *rx_of(const struct mp_pipeline *pl, unsigned i)
{
	return pl->inst[MP_ST_RX][i] ? pl->inst[MP_ST_RX][i]->priv : NULL;
}

void rx_gate_set(struct mp_pipeline *pl, uint64_t ns)
{
	for (unsigned i = 0; i < pl->n_inst[MP_ST_RX]; i++) {
		struct rx_priv *rp = rx_of(pl, i);
		if (rp)
			__atomic_store_n(&rp->gate_ns, ns, __ATOMIC_RELEASE);
	}
}

uint64_t rx_gate_next(const struct mp_pipeline *pl)
{
	uint64_t next = 0;
	for (unsigned i = 0; i < pl->n_inst[MP_ST_RX]; i++) {
		const struct rx_priv *rp = rx_of(pl, i);
		uint64_t t = rp ? __atomic_load_n(&rp->gate_next, __ATOMIC_ACQUIRE) : 0;
		if (t && (!next || t < next))
			next = t;
	}
	return next;
}

int rx_gate_waiting(const struct mp_pipeline *pl)
{
	for (unsigned i = 0; i < pl->n_inst[MP_ST_RX]; i++) {
		const struct rx_priv *rp = rx_of(pl, i);
		if (rp && !__atomic_load_n(&rp->done_input, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&rp->gate_next, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&rp->gate_eof, __ATOMIC_ACQUIRE) &&
		    !__atomic_load_n(&rp->gate_starved, __ATOMIC_ACQUIRE))
			return 0;
	}
	return 1;
}

uint64_t rx_gate_held(const struct mp_pipeline *pl)
{
	uint64_t held = 0;
	for (unsigned i = 0; i < pl->n_inst[MP_ST_RX]; i++) {
		const struct rx_priv *rp = rx_of(pl, i);
		if (rp)
			held += __atomic_load_n(&rp->gate_held, __ATOMIC_ACQUIRE);
	}
	return held;
}

uint64_t rx_time(const struct mp_pipeline *pl)
{
	/* The newest over the instances: with several, each passes on its own
	 * ports' packets, and the input's time is the furthest any got. */
	uint64_t t = 0;
	for (unsigned i = 0; i < pl->n_inst[MP_ST_RX]; i++) {
		const struct rx_priv *rp = rx_of(pl, i);
		uint64_t v = rp ? __atomic_load_n(&rp->last_ts, __ATOMIC_RELAXED) : 0;
		if (v > t)
			t = v;
	}
	return t;
}

const struct mp_stage_type mp_stage_rx = {
    .id = MP_ST_RX,
    .ctrs = rx_ctrs,
    .n_ctrs = RTE_DIM(rx_ctrs),
    .init = rx_init,
    .poll = rx_poll,
    .fini = rx_fini,
};
