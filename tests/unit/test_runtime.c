/* Unit tests of the stage runtime: per-flow order through fan-out (for any
 * burst size), ring-full accounting (freed and counted), control mbufs held
 * rather than dropped and taken on top of a burst, the feedback edge (each mbuf back to the instance that
 * owns its flow, taken round-robin), metadata in the private area, and a
 * whole pipeline run on a 2-lcore mapping with several stages per lcore over
 * a capture the test writes itself (its feedback rings wired and sized to
 * hold the whole mbuf pool). Runs in one process (CK_NOFORK): EAL can be
 * initialised only once. */
#include <check.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_thash.h>

#include "conf.h"
#include "input.h"
#include "mbufpool.h"
#include "pcapin.h"
#include "pipeline.h"
#include "rx_hash.h"
#include "rx_split.h"
#include "stage.h"
#include "tsccal.h"

static struct rte_mempool *pool;
static struct mp_conf conf;
static char pcap_path[256];
static unsigned pcap_pkts;

/* A fake instance with `n` output rings of `size` slots on slot 0. */
static struct mp_stage_inst *fake_inst(unsigned n, unsigned size)
{
	static const struct mp_stage_type t = {.id = MP_ST_CLASSIFY};
	struct mp_stage_inst *si = calloc(1, sizeof(*si));
	si->type = &t;
	si->ctr = calloc(MP_CC_N, sizeof(uint64_t));
	si->out[0].n = n;
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		static unsigned uniq;
		snprintf(name, sizeof(name), "tr%u", uniq++);
		si->out[0].r[i] = rte_ring_create(name, size, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		ck_assert_ptr_nonnull(si->out[0].r[i]);
	}
	return si;
}

static void free_inst(struct mp_stage_inst *si)
{
	for (unsigned i = 0; i < si->out[0].n; i++) {
		struct rte_mbuf *m;
		while (rte_ring_sc_dequeue(si->out[0].r[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(si->out[0].r[i]);
	}
	for (unsigned i = 0; i < si->n_hold[0]; i++)
		rte_pktmbuf_free(si->hold[0][i]);
	free(si->ctr);
	free(si);
}

static struct rte_mbuf *pkt(uint32_t hash, uint64_t seq, int ctrl)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	ck_assert_ptr_nonnull(m);
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	md->hash = hash;
	md->kind = ctrl ? MP_PKT_CTRL : MP_PKT_DATA;
	md->ctrl.arg64 = seq; /* test's sequence number */
	return m;
}

START_TEST(meta_in_priv_area)
{
	ck_assert_uint_ge(MP_META_PRIV_SIZE, sizeof(struct mp_meta));
	ck_assert_uint_eq(MP_META_PRIV_SIZE % RTE_MBUF_PRIV_ALIGN, 0);
	ck_assert_uint_eq(rte_pktmbuf_priv_size(pool), MP_META_PRIV_SIZE);
	struct rte_mbuf *m = pkt(7, 1, 0);
	/* The metadata lies between the mbuf header and the packet data. */
	ck_assert_ptr_eq((void *)mp_meta(m), (void *)(m + 1));
	ck_assert((uint8_t *)mp_meta(m) + sizeof(struct mp_meta) <= (uint8_t *)m->buf_addr);
	rte_pktmbuf_free(m);
}
END_TEST

START_TEST(fanout_keeps_flow_order)
{
	const unsigned n_out = 3, flows = 10, per_flow = 40;
	struct mp_stage_inst *si = fake_inst(n_out, 1024);
	uint64_t next[10] = {0};
	/* Interleave flows, send in bursts of 32 as a stage would. */
	struct rte_mbuf *b[32];
	unsigned nb = 0;
	for (unsigned k = 0; k < per_flow; k++)
		for (unsigned f = 0; f < flows; f++) {
			b[nb] = pkt(f * 2654435761u, next[f]++, 0);
			mp_meta(b[nb++])->flow_idx = f;
			if (nb == 32) {
				ck_assert_uint_eq(mp_out_send(si, 0, b, nb), nb);
				nb = 0;
			}
		}
	ck_assert_uint_eq(mp_out_send(si, 0, b, nb), nb);
	ck_assert_uint_eq(si->ctr[MP_CC_OUT], flows * per_flow);
	memset(next, 0, sizeof(next));
	unsigned total = 0;
	for (unsigned r = 0; r < n_out; r++) {
		struct rte_mbuf *m;
		while (rte_ring_sc_dequeue(si->out[0].r[r], (void **)&m) == 0) {
			struct mp_meta *md = mp_meta(m);
			ck_assert_uint_eq(md->hash % n_out, r);
			unsigned f = md->flow_idx;
			ck_assert_uint_eq(md->hash, f * 2654435761u);
			ck_assert_uint_lt(f, flows);
			ck_assert_uint_eq(md->ctrl.arg64, next[f]);
			next[f]++;
			total++;
			rte_pktmbuf_free(m);
		}
	}
	ck_assert_uint_eq(total, flows * per_flow);
	free_inst(si);
}
END_TEST

START_TEST(fanout_index_keeps_instance)
{
	/* Replicated pipelines: instance 4 of 3-way output sends everything to
	 * ring 4 % 3 = 1 whatever the hash, in order; control mbufs held on a
	 * full ring follow the same rule. */
	struct mp_stage_inst *si = fake_inst(3, 64);
	si->idx = 4;
	si->fanout_index = 1;
	struct rte_mbuf *b[32];
	for (unsigned i = 0; i < 32; i++)
		b[i] = pkt(i * 2654435761u, i, 0);
	ck_assert_uint_eq(mp_out_send(si, 0, b, 32), 32);
	ck_assert_uint_eq(rte_ring_count(si->out[0].r[0]), 0);
	ck_assert_uint_eq(rte_ring_count(si->out[0].r[2]), 0);
	ck_assert_uint_eq(rte_ring_count(si->out[0].r[1]), 32);
	for (unsigned i = 0; i < 32; i++) {
		struct rte_mbuf *m;
		ck_assert_int_eq(rte_ring_sc_dequeue(si->out[0].r[1], (void **)&m), 0);
		ck_assert_uint_eq(mp_meta(m)->ctrl.arg64, i);
		rte_pktmbuf_free(m);
	}
	/* The same packets by hash spread over all three rings. */
	si->fanout_index = 0;
	for (unsigned i = 0; i < 32; i++)
		b[i] = pkt(i * 2654435761u, i, 0);
	ck_assert_uint_eq(mp_out_send(si, 0, b, 32), 32);
	for (unsigned r = 0; r < 3; r++)
		ck_assert_uint_gt(rte_ring_count(si->out[0].r[r]), 0);
	free_inst(si);
}
END_TEST

/* tcpsm hands on up to 512 mbufs at once (a burst and the control mbufs it
 * raised); with two downstream instances one of them may get more than the
 * 256 a destination group held: the old mp_out_send then wrote one group
 * over the next, and mbufs went to the wrong ring, twice or never. */
START_TEST(out_send_more_than_a_group)
{
	const unsigned n = 512;
	struct mp_stage_inst *si = fake_inst(2, 1024);
	struct rte_mbuf *b[512];
	uint64_t next[2] = {0, 0};
	/* 400 packets for ring 0 and 112 for ring 1, interleaved. */
	for (unsigned i = 0; i < n; i++) {
		unsigned d = (i % 9 == 4 || i % 9 == 7) && i < 504 ? 1 : 0;
		b[i] = pkt(d, i, i % 50 == 0); /* some control mbufs too */
		mp_meta(b[i])->flow_idx = d;
	}
	ck_assert_uint_eq(mp_out_send(si, 0, b, n), n);
	ck_assert_uint_eq(si->ctr[MP_CC_OUT], n);
	unsigned seen = 0, per[2] = {0, 0};
	for (unsigned r = 0; r < 2; r++) {
		struct rte_mbuf *m;
		while (rte_ring_sc_dequeue(si->out[0].r[r], (void **)&m) == 0) {
			struct mp_meta *md = mp_meta(m);
			ck_assert_uint_eq(md->hash, r);             /* its own ring ... */
			ck_assert_uint_ge(md->ctrl.arg64, next[r]); /* ... in order, once */
			next[r] = md->ctrl.arg64 + 1;
			per[r]++;
			seen++;
			rte_pktmbuf_free(m);
		}
	}
	ck_assert_uint_eq(seen, n);
	ck_assert_uint_gt(per[0], 256);
	ck_assert_uint_eq(per[0] + per[1], n);
	free_inst(si);
}
END_TEST

/* A fake instance with a feedback output to n rings and, for taking back,
 * the same rings as its feedback input. */
static struct mp_stage_inst *fake_fb_inst(unsigned n)
{
	struct mp_stage_inst *si = fake_inst(0, 64);
	si->fb.n = n;
	for (unsigned i = 0; i < n; i++) {
		char name[32];
		static unsigned uniq;
		snprintf(name, sizeof(name), "tfb%u", uniq++);
		si->fb.r[i] = rte_ring_create(name, 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		ck_assert_ptr_nonnull(si->fb.r[i]);
		si->fb_in[si->n_fb_in++] = si->fb.r[i];
	}
	return si;
}

static void free_fb_inst(struct mp_stage_inst *si)
{
	for (unsigned i = 0; i < si->fb.n; i++) {
		struct rte_mbuf *m;
		while (rte_ring_sc_dequeue(si->fb.r[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(si->fb.r[i]);
	}
	free(si->ctr);
	free(si);
}

/* The feedback edge: every mbuf goes back to the instance the flow's packets
 * went to (hash % n, or the instance's own index with fanout = index), in
 * order per flow; mp_fb_take gets them all, round-robin over the rings; it
 * is not input (MP_CC_IN untouched), and nothing counts as out either. */
START_TEST(feedback_to_the_owner)
{
	struct mp_stage_inst *si = fake_fb_inst(3);
	struct rte_mbuf *b[30];
	for (unsigned i = 0; i < 30; i++)
		b[i] = pkt(i * 2654435761u, i, 1);
	ck_assert_uint_eq(mp_fb_send(si, b, 30), 30);
	ck_assert_uint_eq(si->ctr[MP_CC_OUT], 0);
	for (unsigned r = 0; r < 3; r++) {
		struct rte_mbuf *m[30];
		unsigned k = rte_ring_sc_dequeue_burst(si->fb.r[r], (void **)m, 30, NULL);
		ck_assert_uint_gt(k, 0);
		for (unsigned i = 0; i < k; i++) {
			ck_assert_uint_eq(mp_meta(m[i])->hash % 3, r);
			ck_assert(i == 0 || mp_meta(m[i])->ctrl.arg64 > mp_meta(m[i - 1])->ctrl.arg64);
		}
		/* Back into the ring, for mp_fb_take below. */
		ck_assert_uint_eq(rte_ring_sp_enqueue_burst(si->fb.r[r], (void **)m, k, NULL), k);
	}
	struct rte_mbuf *got[64];
	unsigned n = 0, t;
	while ((t = mp_fb_take(si, got + n, 7)) > 0)
		n += t;
	ck_assert_uint_eq(n, 30);
	ck_assert_uint_eq(si->ctr[MP_CC_IN], 0);
	uint64_t mask = 0;
	for (unsigned i = 0; i < n; i++)
		mask |= 1ull << mp_meta(got[i])->ctrl.arg64;
	ck_assert_uint_eq(mask, (1ull << 30) - 1);
	rte_pktmbuf_free_bulk(got, n);
	/* Replicated pipelines: tx.4 hands everything to tcpsm.(4 % 3). */
	si->idx = 4;
	si->fanout_index = 1;
	for (unsigned i = 0; i < 30; i++)
		b[i] = pkt(i * 2654435761u, i, 1);
	ck_assert_uint_eq(mp_fb_send(si, b, 30), 30);
	ck_assert_uint_eq(rte_ring_count(si->fb.r[1]), 30);
	ck_assert_uint_eq(si->ctr[MP_CC_CTRL_LOST], 0);
	free_fb_inst(si);
}
END_TEST

/* Control mbufs come on top of a burst: a stage after tcpsm that took only a
 * burst per poll would leave what tcpsm added on top of its packets in the
 * ring, which then never empties on one lcore. */
START_TEST(in_burst_ctrl_on_top)
{
	struct mp_stage_inst *si = fake_inst(0, 64);
	si->in[si->n_in++] = rte_ring_create("tin0", 128, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	ck_assert_ptr_nonnull(si->in[0]);
	struct rte_mbuf *b[MP_BURST_CAP];
	/* 40 queued, 3 of the first 32 are control mbufs: 35 come out. */
	for (unsigned i = 0; i < 40; i++)
		ck_assert_int_eq(rte_ring_sp_enqueue(si->in[0], pkt(1, i, i == 3 || i == 10 || i == 31)), 0);
	ck_assert_uint_eq(mp_in_burst(si, b, 32), 35);
	for (unsigned i = 0; i < 35; i++)
		ck_assert_uint_eq(mp_meta(b[i])->ctrl.arg64, i);
	ck_assert_uint_eq(si->ctr[MP_CC_IN], 35);
	rte_pktmbuf_free_bulk(b, 35);
	/* Packets only: a burst, no more. */
	ck_assert_uint_eq(mp_in_burst(si, b, 3), 3);
	rte_pktmbuf_free_bulk(b, 3);
	ck_assert_uint_eq(mp_in_burst(si, b, 32), 2);
	rte_pktmbuf_free_bulk(b, 2);
	rte_ring_free(si->in[0]);
	free(si->ctr);
	free(si);
}
END_TEST

START_TEST(ring_full_frees_and_counts)
{
	unsigned avail0 = rte_mempool_avail_count(pool);
	struct mp_stage_inst *si = fake_inst(1, 64); /* 63 usable slots */
	struct rte_mbuf *b[100];
	for (unsigned i = 0; i < 100; i++)
		b[i] = pkt(1, i, 0);
	ck_assert_uint_eq(mp_out_send(si, 0, b, 100), 63);
	ck_assert_uint_eq(si->ctr[MP_CC_RING_FULL], 37);
	ck_assert_uint_eq(si->ctr[MP_CC_OUT], 63);
	/* The 37 refused were freed: only the 63 queued are out of the pool. */
	ck_assert_uint_eq(rte_mempool_avail_count(pool) + 63, avail0);
	/* A datagram rebuilt from fragments carries them (mp_pkt_ext.held):
	 * refused, it goes with them, and they count too (conservation). */
	struct rte_mbuf *r = pkt(1, 500, 0), *f1 = pkt(1, 501, 0), *f2 = pkt(1, 502, 0);
	mp_meta(r)->flags = MP_MF_REASM;
	mp_meta(r)->pkt.held = f1;
	mp_meta(r)->pkt.n_held = 2;
	mp_meta(f1)->pkt.held = f2;
	mp_meta(f2)->pkt.held = NULL;
	ck_assert_uint_eq(mp_out_send(si, 0, &r, 1), 0);
	ck_assert_uint_eq(si->ctr[MP_CC_RING_FULL], 37 + 3);
	ck_assert_uint_eq(rte_mempool_avail_count(pool) + 63, avail0);
	free_inst(si);
	ck_assert_uint_eq(rte_mempool_avail_count(pool), avail0);
}
END_TEST

START_TEST(ctrl_held_not_dropped)
{
	struct mp_stage_inst *si = fake_inst(1, 64);
	struct rte_mbuf *b[63];
	for (unsigned i = 0; i < 63; i++)
		b[i] = pkt(1, i, 0);
	ck_assert_uint_eq(mp_out_send(si, 0, b, 63), 63);
	/* Ring full: a data packet is dropped, control mbufs are held. */
	struct rte_mbuf *c[3] = {pkt(1, 100, 1), pkt(1, 200, 0), pkt(1, 101, 1)};
	ck_assert_uint_eq(mp_out_send(si, 0, c, 3), 0);
	ck_assert_uint_eq(si->n_hold[0], 2);
	ck_assert_uint_eq(si->ctr[MP_CC_RING_FULL], 1);
	ck_assert_int_eq(mp_out_held(si), 1);
	/* Make room: held ones go first, in order, ahead of new packets. */
	struct rte_mbuf *m;
	for (unsigned i = 0; i < 63; i++) {
		ck_assert_int_eq(rte_ring_sc_dequeue(si->out[0].r[0], (void **)&m), 0);
		rte_pktmbuf_free(m);
	}
	struct rte_mbuf *d = pkt(1, 300, 0);
	ck_assert_uint_eq(mp_out_send(si, 0, &d, 1), 1);
	ck_assert_uint_eq(si->n_hold[0], 0);
	uint64_t want[3] = {100, 101, 300};
	for (unsigned i = 0; i < 3; i++) {
		ck_assert_int_eq(rte_ring_sc_dequeue(si->out[0].r[0], (void **)&m), 0);
		ck_assert_uint_eq(mp_meta(m)->ctrl.arg64, want[i]);
		rte_pktmbuf_free(m);
	}
	ck_assert_int_eq(mp_out_held(si), 0);
	free_inst(si);
}
END_TEST

/* Whole pipeline, 2 lcores, several stages per lcore, 2 tcpsm instances. */
START_TEST(pipeline_runs_and_conserves)
{
	struct mp_pipeline *pl = mp_pipeline_create(&conf, NULL);
	ck_assert_ptr_nonnull(pl);
	/* [pipeline] conntable = auto and no application: no reader, no
	 * table (test_tcpsm_stage runs one with conntable = yes). */
	ck_assert_ptr_null(pl->conntable);
	ck_assert_int_eq(mp_pipeline_run(pl), 0);
	struct mp_totals t;
	mp_totals(pl, &t);
	ck_assert_uint_eq(t.rx, pcap_pkts);
	ck_assert_uint_eq(t.rx + t.injected, t.tx + t.drops);
	ck_assert_uint_eq(t.drops, 0);
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			ck_assert_int_eq(pl->inst[s][i]->done, 1);
			for (unsigned k = 0; k < pl->inst[s][i]->n_in; k++)
				ck_assert(rte_ring_empty(pl->inst[s][i]->in[k]));
		}
	/* The feedback edge: one ring per tx x tcpsm instance, each with room
	 * for the whole mbuf pool (so it never refuses), and every flow's
	 * retire mbuf handed back, none lost. */
	uint64_t flows = 0, back = 0;
	for (unsigned j = 0; j < pl->n_inst[MP_ST_TCPSM]; j++) {
		struct mp_stage_inst *ti = pl->inst[MP_ST_TCPSM][j];
		ck_assert_uint_eq(ti->n_fb_in, pl->n_inst[MP_ST_TX]);
		for (unsigned k = 0; k < ti->n_fb_in; k++)
			ck_assert_uint_ge(rte_ring_get_capacity(ti->fb_in[k]), conf.mbufs);
		for (unsigned k = 0; k < ti->type->n_ctrs; k++)
			if (!strcmp(ti->type->ctrs[k].name, "flows_new"))
				flows += mp_ctr_get(ti, MP_CC_N + k);
	}
	for (unsigned i = 0; i < pl->n_inst[MP_ST_TX]; i++) {
		struct mp_stage_inst *xi = pl->inst[MP_ST_TX][i];
		ck_assert_uint_eq(xi->fb.n, pl->n_inst[MP_ST_TCPSM]);
		ck_assert_uint_eq(mp_ctr_get(xi, MP_CC_CTRL_LOST), 0);
		for (unsigned k = 0; k < xi->type->n_ctrs; k++)
			if (!strcmp(xi->type->ctrs[k].name, "back_retire"))
				back += mp_ctr_get(xi, MP_CC_N + k);
	}
	ck_assert_uint_eq(flows, 16);
	ck_assert_uint_eq(back, flows);
	/* Both tcpsm instances exist and together saw everything. */
	ck_assert_uint_eq(pl->n_inst[MP_ST_TCPSM], 2);
	uint64_t in = mp_ctr_get(pl->inst[MP_ST_TCPSM][0], MP_CC_IN) + mp_ctr_get(pl->inst[MP_ST_TCPSM][1], MP_CC_IN);
	ck_assert_uint_ge(in, pcap_pkts);
	char *json;
	size_t len;
	FILE *f = open_memstream(&json, &len);
	ck_assert_int_eq(mp_report_json(pl, f), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(json, "\"stage\": \"tcpsm\", \"instance\": 1, \"lcore\": 1"));
	free(json);
	mp_pipeline_destroy(pl);
}
END_TEST

/* Sets counter `name` of instance si (common or the stage's own) to v. */
static void set_ctr(struct mp_stage_inst *si, const char *name, uint64_t v)
{
	static const char *const common[] = {"in", "out", "busy_polls", "idle_polls", "busy_cycles", "ring_full"};
	for (unsigned k = 0; k < RTE_DIM(common); k++)
		if (!strcmp(common[k], name)) {
			si->ctr[k] = v;
			return;
		}
	for (unsigned k = 0; k < si->type->n_ctrs; k++)
		if (!strcmp(si->type->ctrs[k].name, name)) {
			si->ctr[MP_CC_N + k] = v;
			return;
		}
	ck_abort_msg("stage %s has no counter %s", mp_stage_names[si->type->id], name);
}

/* mp_totals sums by counter kind (the README's conservation law), never by
 * name: rx = rx's "in"; tx = what tx sent or released (kind OUT); injected =
 * what classify and app made (kind INJECTED); drops = every DROP counter of
 * every stage, by reason; plain counters count in no total. */
START_TEST(totals_by_kind)
{
	static const struct mp_stage_type *const types[MP_ST_N] = {
#define T_(ID, name) [MP_ST_##ID] = &mp_stage_##name,
	    MP_STAGE_LIST(T_)
#undef T_
	};
	struct mp_pipeline *pl = calloc(1, sizeof(*pl));
	for (int s = 0; s < MP_ST_N; s++) {
		struct mp_stage_inst *si = calloc(1, sizeof(*si));
		pl->inst[s][0] = si;
		si->type = types[s];
		ck_assert_int_eq(si->type->id, s);
		si->ctr = calloc(MP_CC_N + si->type->n_ctrs, sizeof(uint64_t));
		pl->n_inst[s] = 1;
	}
	set_ctr(pl->inst[MP_ST_RX][0], "in", 100);
	set_ctr(pl->inst[MP_ST_RX][0], "bytes", 6000);
	set_ctr(pl->inst[MP_ST_RX][0], "no_mbuf", 9);    /* plain */
	set_ctr(pl->inst[MP_ST_CLASSIFY][0], "in", 100); /* a later stage's "in" is no rx */
	set_ctr(pl->inst[MP_ST_CLASSIFY][0], "injected", 2);
	set_ctr(pl->inst[MP_ST_CLASSIFY][0], "filtered", 5);
	set_ctr(pl->inst[MP_ST_CLASSIFY][0], "tcp", 90); /* plain */
	set_ctr(pl->inst[MP_ST_TCPSM][0], "ring_full", 3);
	set_ctr(pl->inst[MP_ST_APP][0], "injected", 4);
	set_ctr(pl->inst[MP_ST_TX][0], "sent", 54);
	set_ctr(pl->inst[MP_ST_TX][0], "released", 40);
	set_ctr(pl->inst[MP_ST_TX][0], "back_retire", 7); /* plain: control mbufs are no packets */
	set_ctr(pl->inst[MP_ST_TX][0], "back_ended", 2);
	set_ctr(pl->inst[MP_ST_TX][0], "verdict_drop", 3);
	set_ctr(pl->inst[MP_ST_TX][0], "tx_failed", 1);
	struct mp_totals t;
	mp_totals(pl, &t);
	ck_assert_uint_eq(t.rx, 100);
	ck_assert_uint_eq(t.rx_bytes, 6000);
	ck_assert_uint_eq(t.injected, 6);
	ck_assert_uint_eq(t.tx, 94);
	ck_assert_uint_eq(t.drops, 12);
	ck_assert_uint_eq(t.rx + t.injected, t.tx + t.drops);
	uint64_t by[4] = {0};
	static const char *const reasons[] = {"ring_full", "filtered", "verdict_drop", "tx_failed"};
	for (unsigned i = 0; i < t.n_drops; i++)
		for (unsigned r = 0; r < 4; r++)
			if (!strcmp(t.drop[i].name, reasons[r]))
				by[r] += t.drop[i].n;
	ck_assert_uint_eq(by[0], 3);
	ck_assert_uint_eq(by[1], 5);
	ck_assert_uint_eq(by[2], 3);
	ck_assert_uint_eq(by[3], 1);
	for (int s = 0; s < MP_ST_N; s++) {
		free(pl->inst[s][0]->ctr);
		free(pl->inst[s][0]);
	}
	free(pl);
}
END_TEST

/* Writes a capture of `n` TCP packets over 16 flows, both directions. */
/* rx's own capture reader (runtime/pcapin.c): both byte orders, micro- and
 * nanosecond stamps (delivered at microsecond precision, as net_pcap does),
 * pcapng refused so that net_pcap reads it, a truncated record stops. */
static void put32(FILE *f, uint32_t v, int swap)
{
	if (swap)
		v = __builtin_bswap32(v);
	fwrite(&v, 4, 1, f);
}

static void write_raw(const char *path, uint32_t magic, int swap, int truncate)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	put32(f, magic, swap);
	put32(f, 0x00040002u, swap); /* version 2.4 (two 16-bit halves, order irrelevant here) */
	put32(f, 0, swap);
	put32(f, 0, swap);
	put32(f, 65535, swap);
	put32(f, 1, swap);
	for (uint32_t i = 0; i < 3; i++) {
		uint8_t d[60];
		memset(d, (int)(0xa0 + i), sizeof(d));
		put32(f, 1700000000u + i, swap);
		put32(f, 123456789u % 1000000000u, swap);
		put32(f, 60 - i, swap);
		put32(f, 60, swap);
		fwrite(d, 1, truncate && i == 2 ? 10 : 60 - i, f);
	}
	fclose(f);
}

/* What rx meets in the part of a damaged file the scan before the run
 * left unchecked (mp_pcapfile_scan_until stopped early): the reader stops
 * at the record the scan refuses, after the same n_before packets. */
static void reader_meets_damage(const char *path, uint64_t n_before)
{
	char err[512];
	struct mp_pcapfile *pf = mp_pcapfile_open(path, err, sizeof(err));
	ck_assert_msg(pf != NULL, "%s", err);
	uint64_t count = 99, upto = 0;
	int stop = 1;
	/* Stopped at once: nothing checked, nothing refused. */
	ck_assert_int_eq(mp_pcapfile_scan_until(pf, path, &stop, 0, &count, &upto, err, sizeof(err)), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_uint_eq(upto, 24);
	/* Told to check the whole file first, it refuses it as the scan does. */
	ck_assert_int_eq(mp_pcapfile_scan_until(pf, path, &stop, UINT64_MAX, &count, &upto, err, sizeof(err)), -EINVAL);
	const uint8_t *d;
	uint32_t len;
	uint64_t ts, n = 0;
	while (mp_pcapfile_next(pf, &d, &len, &ts))
		n++;
	ck_assert_uint_eq(n, n_before);
	ck_assert_int_eq(pf->bad, 1);
	mp_pcapfile_close(pf);
}

START_TEST(pcapfile_reader)
{
	char path[128], err[512];
	snprintf(path, sizeof(path), "/tmp/mp_test_pcapfile_%d.pcap", (int)getpid());
	for (int v = 0; v < 4; v++) {
		int swap = v & 1, nano = v >> 1;
		write_raw(path, nano ? 0xa1b23c4du : 0xa1b2c3d4u, swap, 0);
		struct mp_pcapfile *pf = mp_pcapfile_open(path, err, sizeof(err));
		ck_assert_msg(pf != NULL, "%s", err);
		const uint8_t *d;
		uint32_t len;
		uint64_t ts;
		for (uint32_t i = 0; i < 3; i++) {
			ck_assert_int_eq(mp_pcapfile_next(pf, &d, &len, &ts), 1);
			ck_assert_uint_eq(len, 60 - i);
			ck_assert_uint_eq(pf->wirelen, 60); /* the record's original length */
			ck_assert_uint_eq(d[0], 0xa0 + i);
			ck_assert_uint_eq(d[len - 1], 0xa0 + i);
			/* The same fraction field: in a nanosecond file it is
			 * 123456 us (truncated), in a microsecond one taken whole. */
			uint64_t us = nano ? 123456u : 123456789u;
			ck_assert_uint_eq(ts, ((uint64_t)(1700000000u + i) * 1000000u + us) * 1000u);
		}
		ck_assert_int_eq(mp_pcapfile_next(pf, &d, &len, &ts), 0);
		ck_assert_int_eq(pf->bad, 0);
		mp_pcapfile_close(pf);
		/* The pre-scan lists the records the capture cut (1 and 2), for
		 * net_pcap ports, which keep only the captured length (libpcap
		 * reads the file the fixture writes natively, microseconds). */
		if (v != 0)
			continue;
		struct mp_pcap_cuts cuts;
		memset(&cuts, 0, sizeof(cuts));
		uint64_t count;
		int dlt;
		ck_assert_int_eq(mp_pcap_prescan(path, &count, &dlt, &cuts, err, sizeof(err)), 0);
		ck_assert_uint_eq(count, 3);
		ck_assert_uint_eq(cuts.n, 2);
		ck_assert_uint_eq(mp_pcap_cuts_len(&cuts, 0, 60), 60);
		ck_assert_uint_eq(mp_pcap_cuts_len(&cuts, 1, 59), 60);
		ck_assert_uint_eq(mp_pcap_cuts_len(&cuts, 2, 58), 60);
		ck_assert_uint_eq(mp_pcap_cuts_len(&cuts, 3, 58), 58);
		mp_pcap_cuts_free(&cuts);
	}
	/* Before version 2.3 the record's two length fields came in the other
	 * order (libpcap's sf-pcap.c reads them so): the mapped reader must cut
	 * records where libpcap does, or its count and the pre-scan's differ
	 * (found by tests/fuzz/fuzz_pcap, input in tests/fuzz/regress/pcap). */
	{
		FILE *o = fopen(path, "wb");
		put32(o, 0xa1b2c3d4u, 0);
		put32(o, 0x00020002u, 0); /* version 2.2 */
		put32(o, 0, 0);
		put32(o, 0, 0);
		put32(o, 65535, 0);
		put32(o, 1, 0);
		for (uint32_t i = 0; i < 3; i++) {
			uint8_t dd[60];
			memset(dd, (int)(0xb0 + i), sizeof(dd));
			put32(o, 1700000000u + i, 0);
			put32(o, 0, 0);
			put32(o, 60, 0);     /* the original length first */
			put32(o, 50 - i, 0); /* then the captured one */
			fwrite(dd, 1, 50 - i, o);
		}
		fclose(o);
		struct mp_pcapfile *pf2 = mp_pcapfile_open(path, err, sizeof(err));
		ck_assert_msg(pf2 != NULL, "%s", err);
		const uint8_t *d2;
		uint32_t len2;
		uint64_t ts2, count;
		int dlt2;
		for (uint32_t i = 0; i < 3; i++) {
			ck_assert_int_eq(mp_pcapfile_next(pf2, &d2, &len2, &ts2), 1);
			ck_assert_uint_eq(len2, 50 - i);
			ck_assert_uint_eq(pf2->wirelen, 60);
			ck_assert_uint_eq(d2[len2 - 1], 0xb0 + i);
		}
		ck_assert_int_eq(mp_pcapfile_next(pf2, &d2, &len2, &ts2), 0);
		ck_assert_int_eq(pf2->bad, 0);
		mp_pcapfile_close(pf2);
		ck_assert_int_eq(mp_pcap_prescan(path, &count, &dlt2, NULL, err, sizeof(err)), 0);
		ck_assert_uint_eq(count, 3); /* libpcap agrees */
		pf2 = mp_pcapfile_open(path, err, sizeof(err));
		count = 0;
		ck_assert_int_eq(mp_pcapfile_scan(pf2, path, &count, err, sizeof(err)), 0);
		ck_assert_uint_eq(count, 3); /* and so does the scan of a mapped file */
		mp_pcapfile_close(pf2);
	}
	/* The scan refuses what libpcap refuses (a record cut short, a partial
	 * header, a captured length above libpcap's 262,144), after the same
	 * number of packets, in libpcap's words. */
	{
		uint64_t count = 0;
		int dlt2;
		write_raw(path, 0xa1b2c3d4u, 0, 1);
		ck_assert_int_eq(mp_pcap_prescan(path, &count, &dlt2, NULL, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "damaged after 2 packets: truncated dump file"));
		struct mp_pcapfile *pf2 = mp_pcapfile_open(path, err, sizeof(err));
		ck_assert_int_eq(mp_pcapfile_scan(pf2, path, &count, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err,
		                     "damaged after 2 packets: truncated dump file; tried to read 58 captured bytes, "
		                     "only got 10") != NULL,
		              "%s", err);
		mp_pcapfile_close(pf2);
		reader_meets_damage(path, 2);
		write_raw(path, 0xa1b2c3d4u, 0, 0);
		FILE *o = fopen(path, "ab");
		fwrite("0123456789", 1, 10, o); /* a partial record header */
		fclose(o);
		ck_assert_int_eq(mp_pcap_prescan(path, &count, &dlt2, NULL, err, sizeof(err)), -EINVAL);
		pf2 = mp_pcapfile_open(path, err, sizeof(err));
		ck_assert_int_eq(mp_pcapfile_scan(pf2, path, &count, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err,
		                     "damaged after 3 packets: truncated dump file; tried to read 16 header bytes, "
		                     "only got 10") != NULL,
		              "%s", err);
		mp_pcapfile_close(pf2);
		reader_meets_damage(path, 3);
		write_raw(path, 0xa1b2c3d4u, 0, 0);
		o = fopen(path, "ab");
		put32(o, 1700000003u, 0);
		put32(o, 0, 0);
		put32(o, 262145, 0);
		put32(o, 262145, 0);
		static uint8_t big[262145];
		fwrite(big, 1, sizeof(big), o);
		fclose(o);
		ck_assert_int_eq(mp_pcap_prescan(path, &count, &dlt2, NULL, err, sizeof(err)), -EINVAL);
		pf2 = mp_pcapfile_open(path, err, sizeof(err));
		ck_assert_int_eq(mp_pcapfile_scan(pf2, path, &count, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, "damaged after 3 packets: invalid packet capture length 262145") != NULL,
		              "%s", err);
		mp_pcapfile_close(pf2);
		reader_meets_damage(path, 3);
	}
	write_raw(path, 0xa1b2c3d4u, 0, 1);
	struct mp_pcapfile *pf = mp_pcapfile_open(path, err, sizeof(err));
	ck_assert_ptr_nonnull(pf);
	const uint8_t *d;
	uint32_t len;
	uint64_t ts;
	ck_assert_int_eq(mp_pcapfile_next(pf, &d, &len, &ts), 1);
	ck_assert_int_eq(mp_pcapfile_next(pf, &d, &len, &ts), 1);
	ck_assert_int_eq(mp_pcapfile_next(pf, &d, &len, &ts), 0);
	ck_assert_int_eq(pf->bad, 1);
	mp_pcapfile_close(pf);
	write_raw(path, 0x0a0d0d0au, 0, 0); /* a pcapng section header block */
	ck_assert_ptr_null(mp_pcapfile_open(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "not a classic pcap file"));
	unlink(path);
	ck_assert_ptr_null(mp_pcapfile_open(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

static int write_capture(const char *path, unsigned n)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	if (!d)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		uint8_t f[74] = {0};
		unsigned flow = i % 16, dir = (i / 16) & 1;
		f[12] = 0x08;
		f[14] = 0x45;
		f[17] = 60;
		f[22] = 64;
		f[23] = 6;
		uint8_t a[4] = {10, 0, 0, (uint8_t)(1 + flow)}, b[4] = {10, 0, 1, 1};
		memcpy(f + 26, dir ? b : a, 4);
		memcpy(f + 30, dir ? a : b, 4);
		f[34] = dir ? 0 : 0x30;
		f[35] = dir ? 80 : (uint8_t)flow;
		f[36] = dir ? 0x30 : 0;
		f[37] = dir ? (uint8_t)flow : 80;
		f[46] = 0x50;
		f[47] = 0x10;
		struct pcap_pkthdr h = {
		    .ts = {.tv_sec = 1000 + i, .tv_usec = 0}, .caplen = sizeof(f), .len = sizeof(f)};
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(p);
	return 0;
}

/* The packet pool filled as it is used (runtime/mbufpool.c): 20,000 mbufs
 * start with one chunk populated, grow when the free ones run low, every
 * object handed out is a ready mbuf of the pool (as rte_pktmbuf_pool_create
 * makes them: data room, private area, headroom), and all 20,000 can be
 * taken and given back. */
START_TEST(mbuf_pool_grows_as_used)
{
	struct mp_mbuf_lazy *lz = NULL;
	const unsigned n = 20000;
	struct rte_mempool *mp = mp_mbuf_pool_create("t_lazy", n, 0, MP_META_PRIV_SIZE, 2176, 0, 0, &lz);
	ck_assert_ptr_nonnull(mp);
	ck_assert_ptr_nonnull(lz); /* --no-huge --no-pci */
	ck_assert_uint_eq(mp->populated_size, 8192);
	ck_assert_uint_eq(rte_mempool_avail_count(mp), 8192);
	/* Nothing to do while plenty is free. */
	mp_mbuf_pool_keep(mp, lz);
	ck_assert_uint_eq(mp->populated_size, 8192);

	struct rte_mbuf **b = calloc(n, sizeof(*b));
	ck_assert_ptr_nonnull(b);
	unsigned got = 0;
	while (got < n) {
		mp_mbuf_pool_keep(mp, lz);
		if (rte_pktmbuf_alloc_bulk(mp, b + got, 32) != 0)
			break;
		got += 32;
	}
	/* keep() grew it ahead of need: no allocation failed before the end. */
	ck_assert_uint_ge(got, n - 32);
	ck_assert_uint_eq(mp->populated_size, n);
	while (got < n && (b[got] = rte_pktmbuf_alloc(mp)))
		got++;
	ck_assert_uint_eq(got, n);
	ck_assert_ptr_null(rte_pktmbuf_alloc(mp));
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = b[i];
		ck_assert_ptr_eq(m->pool, mp);
		ck_assert_uint_eq(m->buf_len, 2176);
		ck_assert_uint_eq(m->priv_size, MP_META_PRIV_SIZE);
		ck_assert_uint_eq(m->data_off, RTE_PKTMBUF_HEADROOM);
		ck_assert_uint_eq(rte_pktmbuf_tailroom(m), 2176 - RTE_PKTMBUF_HEADROOM);
		ck_assert_ptr_eq(m->buf_addr, (char *)m + sizeof(*m) + MP_META_PRIV_SIZE);
		memset(rte_pktmbuf_mtod(m, char *), 0xa5, rte_pktmbuf_tailroom(m));
	}
	rte_pktmbuf_free_bulk(b, n);
	ck_assert_uint_eq(rte_mempool_avail_count(mp), n);
	ck_assert_int_eq(mp_mbuf_pool_grow(mp, lz), 0); /* full */
	free(b);
	mp_mbuf_pool_free(mp, lz);

	/* Whole (an AF_XDP port registers the pool's memory once): every
	 * object made at start, in one region of DPDK memory, as net_af_xdp
	 * takes it (from the first object, populated_size objects long). */
	mp = mp_mbuf_pool_create("t_whole", n, 0, MP_META_PRIV_SIZE, 2176, 0, 1, &lz);
	ck_assert_ptr_nonnull(mp);
	ck_assert_ptr_null(lz);
	ck_assert_uint_eq(mp->populated_size, n);
	ck_assert_uint_eq(mp->nb_mem_chunks, 1);
	mp_mbuf_pool_free(mp, lz);
}
END_TEST

/* A file of n records of varied sizes (64 to 1,514 bytes, addresses from
 * 64 hosts) over many of rx_split.h's blocks; cut short in its last record
 * when cut. */
static int write_split_capture(const char *path, unsigned n, int cut)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	if (!d)
		return -1;
	static uint8_t f[1514];
	uint32_t x = 7;
	for (unsigned i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		unsigned len = 64 + (x >> 8) % (sizeof(f) - 63);
		memset(f, 0, sizeof(f));
		f[12] = 0x08;
		f[14] = 0x45;
		f[23] = 6;
		f[26] = 10, f[29] = (uint8_t)(x >> 20) % 64;
		f[30] = 10, f[31] = 1, f[33] = (uint8_t)(x >> 26);
		f[40] = (uint8_t)i;
		struct pcap_pkthdr h = {.ts = {.tv_sec = 1000 + i, .tv_usec = 0}, .caplen = len, .len = len};
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(p);
	if (cut) {
		FILE *t = fopen(path, "r+");
		if (!t || fseek(t, 0, SEEK_END) != 0)
			return -1;
		long end = ftell(t);
		fclose(t);
		if (truncate(path, end - 20) != 0)
			return -1;
	}
	return 0;
}

/* The walk replicated pipelines share (stages/rx/rx_split.c), against
 * libpcap reading the same file: n instances polled in turn (a few records
 * each, as rx's bursts) get between them every record libpcap reads, once,
 * each instance those whose address hash falls to it, in file order; at a
 * record cut short, every instance ends with RXS_BAD after its records
 * before it (libpcap's error), and exactly one counts the damage. */
START_TEST(split_walk_against_libpcap)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/mp_test_split_%d.pcap", (int)getpid());
	for (int cut = 0; cut < 2; cut++)
		for (unsigned n = 2; n <= 3; n++)
			for (int ix = 0; ix < 3; ix++) {
				if (cut && ix == 2)
					continue;            /* a whole scan refuses the file: no run */
				const unsigned recs = 20000; /* ~16 MB: 30 blocks */
				ck_assert_int_eq(write_split_capture(path, recs, cut), 0);
				char err[256];
				pcap_t *lp = pcap_open_offline(path, err);
				ck_assert_ptr_nonnull(lp);
				struct mp_pcapfile *f = mp_pcapfile_open(path, err, sizeof(err));
				ck_assert_ptr_nonnull(f);
				/* ix 1: the blocks of the first 5 MB sorted from a scan's
			 * index (a scan stopped as EAL came up), the rest walked;
			 * ix 2: the whole file from the index. */
				struct mp_pcapidx *x = ix ? mp_pcapidx_create(1) : NULL;
				if (ix) {
					int stop = 1;
					uint64_t count, upto;
					ck_assert_ptr_nonnull(x);
					ck_assert_int_eq(mp_pcapfile_scan_idx(f, path, ix == 1 ? &stop : NULL, 5u << 20,
					                                      &count, &upto, x, err, sizeof(err)),
					                 0);
					ck_assert_uint_eq(x->n, count);
					if (ix == 1)
						ck_assert(upto > 5u << 20 && upto < f->size - (4u << 20));
					else
						ck_assert_uint_eq(count, recs);
				}
				struct rxs *s = rxs_create(f, n, 1, x);
				ck_assert_ptr_nonnull(s);
				struct rxs_cur c[3] = {{0, 0}, {0, 0}, {0, 0}};
				int st[3] = {RXS_WAIT, RXS_WAIT, RXS_WAIT};
				const uint8_t *last[3] = {NULL, NULL, NULL};
				unsigned got = 0, ended = 0, counted = 0;
				struct pcap_pkthdr *h;
				const u_char *data;
				int lr;
				/* libpcap's records, in order: each must be the next one
			 * of the instance its hash falls to. */
				while ((lr = pcap_next_ex(lp, &h, &data)) == 1) {
					unsigned want = mp_addr_hash_raw(data, h->caplen, 1) % n;
					struct mp_pcaprec r;
					int x;
					unsigned spins = 0;
					/* Poll the others as rx does (they walk ahead and
				 * move past blocks with nothing for them), then the
				 * owner until it has it. */
					struct mp_pcaprec o;
					for (unsigned j = 0; j < n; j++)
						if (j != want)
							(void)rxs_peek(s, j, &c[j], &o);
					while ((x = rxs_peek(s, want, &c[want], &r)) == RXS_WAIT || x == RXS_FULL) {
						for (unsigned j = 0; j < n; j++)
							if (j != want)
								(void)rxs_peek(s, j, &c[j], &o);
						ck_assert_uint_lt(++spins, 1000);
					}
					ck_assert_int_eq(x, RXS_OK);
					ck_assert_uint_eq(r.caplen, h->caplen);
					ck_assert_uint_eq(r.ts_ns, (uint64_t)h->ts.tv_sec * 1000000000ull);
					ck_assert_int_eq(memcmp(r.data, data, h->caplen), 0);
					ck_assert(r.data > last[want]); /* file order */
					last[want] = r.data;
					rxs_take(&c[want]);
					got++;
				}
				ck_assert_int_eq(lr, cut ? PCAP_ERROR : PCAP_ERROR_BREAK);
				/* Nothing more for anyone: each ends as libpcap did. */
				for (unsigned spins = 0; ended < n; spins++) {
					ck_assert_uint_lt(spins, 1000);
					for (unsigned j = 0; j < n; j++) {
						if (st[j] == RXS_END || st[j] == RXS_BAD)
							continue;
						struct mp_pcaprec r;
						st[j] = rxs_peek(s, j, &c[j], &r);
						ck_assert_int_ne(st[j], RXS_OK);
						if (st[j] == RXS_WAIT) {
							rxs_help(s, j);
							continue;
						}
						ck_assert_int_eq(st[j], cut ? RXS_BAD : RXS_END);
						ended++;
						counted += rxs_ended_by(s, j, &c[j]);
					}
				}
				ck_assert_uint_eq(counted, 1);
				ck_assert_uint_eq(got, cut ? recs - 1 : recs);
				rxs_free(s);
				mp_pcapidx_free(x);
				mp_pcapfile_close(f);
				pcap_close(lp);
			}
	unlink(path);
}
END_TEST

/* An instance that reads nothing (held at the offline gate) holds back the
 * walk a ring of blocks (RXS_SLOTS) later: the other one, whose next record
 * lies beyond, gets RXS_FULL (rx then counts itself stopped at the gate:
 * its record comes after the held one), never a record out of order; once
 * the first reads on, the second gets its records. Two flows: one instance's
 * for the first 12 MB of the file, then the other's. */
START_TEST(split_walk_full_ring)
{
	char path[64];
	snprintf(path, sizeof(path), "/tmp/mp_test_split_full_%d.pcap", (int)getpid());
	static uint8_t f[1514];
	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	f[14] = 0x45;
	f[23] = 6;
	f[26] = 10, f[30] = 10;
	/* Two hosts whose address hashes fall to instances 0 and 1. */
	uint8_t host[2] = {0, 0};
	for (unsigned h = 1, found = 0; found != 3; h++) {
		f[33] = (uint8_t)h;
		unsigned j = mp_addr_hash_raw(f, sizeof(f), 1) % 2;
		if (!(found & (1u << j)))
			host[j] = (uint8_t)h;
		found |= 1u << j;
	}
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	pcap_dumper_t *d = pcap_dump_open(p, path);
	ck_assert_ptr_nonnull(d);
	unsigned n_first = 8000, n_second = 100; /* 8000 x 1.5 KB: 12 MB, 23 blocks */
	for (unsigned i = 0; i < n_first + n_second; i++) {
		f[33] = host[i < n_first ? 0 : 1];
		struct pcap_pkthdr h = {
		    .ts = {.tv_sec = 1000 + i, .tv_usec = 0}, .caplen = sizeof(f), .len = sizeof(f)};
		pcap_dump((u_char *)d, &h, f);
	}
	pcap_dump_close(d);
	pcap_close(p);
	char err[256];
	struct mp_pcapfile *pf = mp_pcapfile_open(path, err, sizeof(err));
	ck_assert_ptr_nonnull(pf);
	struct rxs *s = rxs_create(pf, 2, 1, NULL);
	ck_assert_ptr_nonnull(s);
	struct rxs_cur c0 = {0, 0}, c1 = {0, 0};
	struct mp_pcaprec r;
	int x = RXS_WAIT;
	for (unsigned spins = 0; spins < 100 && x != RXS_FULL; spins++)
		x = rxs_peek(s, 1, &c1, &r);
	ck_assert_int_eq(x, RXS_FULL);
	/* Instance 0 reads its 8,000; then instance 1 has its 100, in order. */
	for (unsigned i = 0; i < n_first; i++) {
		ck_assert_int_eq(rxs_peek(s, 0, &c0, &r), RXS_OK);
		ck_assert_uint_eq(r.ts_ns, (1000ull + i) * 1000000000ull);
		rxs_take(&c0);
		(void)rxs_peek(s, 1, &c1, &r);
	}
	for (unsigned i = 0; i < n_second; i++) {
		unsigned spins = 0;
		while ((x = rxs_peek(s, 1, &c1, &r)) != RXS_OK) {
			ck_assert(x == RXS_WAIT || x == RXS_FULL);
			(void)rxs_peek(s, 0, &c0, &r);
			ck_assert_uint_lt(++spins, 100);
		}
		ck_assert_uint_eq(r.ts_ns, (1000ull + n_first + i) * 1000000000ull);
		rxs_take(&c1);
	}
	ck_assert_int_eq(rxs_peek(s, 1, &c1, &r), RXS_END);
	ck_assert_int_eq(rxs_peek(s, 0, &c0, &r), RXS_END);
	rxs_free(s);
	mp_pcapfile_close(pf);
	unlink(path);
}
END_TEST

/* The RSS key ports of replicated pipelines get (input.c, mp_rss_sym_key):
 * by DPDK's own Toeplitz hash (rte_softrss, what an RSS NIC computes), a
 * flow's two directions hash the same, for IPv4 and IPv6 TCP tuples, so both
 * land on one queue. A key that is not symmetric (the bytes 1..40) fails the
 * same check: the comparison has teeth. */
START_TEST(rss_key_is_symmetric)
{
	uint8_t key[40], plain[40];
	ck_assert_uint_eq(mp_rss_sym_key(key, sizeof(key)), 40);
	ck_assert_uint_eq(mp_rss_sym_key(key, 41), 40); /* an even count only */
	for (unsigned k = 0; k < sizeof(plain); k++)
		plain[k] = (uint8_t)(k + 1);
	unsigned differ_plain = 0;
	uint32_t x = 12345;
	for (unsigned n = 0; n < 2000; n++) {
		uint32_t w[4];
		for (unsigned k = 0; k < 4; k++) {
			x = x * 1103515245u + 12345u;
			w[k] = x;
		}
		union rte_thash_tuple a, b;
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		a.v4.src_addr = w[0];
		a.v4.dst_addr = w[1];
		a.v4.sport = (uint16_t)w[2];
		a.v4.dport = (uint16_t)(w[2] >> 16);
		b.v4.src_addr = a.v4.dst_addr;
		b.v4.dst_addr = a.v4.src_addr;
		b.v4.sport = a.v4.dport;
		b.v4.dport = a.v4.sport;
		ck_assert_uint_eq(rte_softrss((uint32_t *)&a, RTE_THASH_V4_L4_LEN, key),
		                  rte_softrss((uint32_t *)&b, RTE_THASH_V4_L4_LEN, key));
		differ_plain += rte_softrss((uint32_t *)&a, RTE_THASH_V4_L4_LEN, plain) !=
		                rte_softrss((uint32_t *)&b, RTE_THASH_V4_L4_LEN, plain);
		/* IPv6: addresses from the same draws, in the host-order words
		 * rte_softrss takes (rte_thash_load_v6_addrs' layout). */
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		for (unsigned k = 0; k < 16; k++) {
			a.v6.src_addr[k] = (uint8_t)(w[k % 4] >> (k % 3 * 8));
			a.v6.dst_addr[k] = (uint8_t)(w[(k + 1) % 4] >> (k % 4 * 8));
		}
		a.v6.sport = (uint16_t)w[3];
		a.v6.dport = (uint16_t)(w[3] >> 16);
		memcpy(b.v6.src_addr, a.v6.dst_addr, 16);
		memcpy(b.v6.dst_addr, a.v6.src_addr, 16);
		b.v6.sport = a.v6.dport;
		b.v6.dport = a.v6.sport;
		ck_assert_uint_eq(rte_softrss((uint32_t *)&a, RTE_THASH_V6_L4_LEN, key),
		                  rte_softrss((uint32_t *)&b, RTE_THASH_V6_L4_LEN, key));
	}
	ck_assert_uint_gt(differ_plain, 1900);
}
END_TEST

/* The TSC's ticks a second against the kernel's CLOCK_MONOTONIC_RAW over
 * ms milliseconds: the median of three windows. */
static double kernel_tsc_hz(long ms)
{
	double hz[3];
	for (int k = 0; k < 3; k++) {
		struct timespec a, b, w = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
		clock_gettime(CLOCK_MONOTONIC_RAW, &a);
		uint64_t t0 = rte_rdtsc();
		clock_nanosleep(CLOCK_MONOTONIC, 0, &w, NULL);
		clock_gettime(CLOCK_MONOTONIC_RAW, &b);
		uint64_t t1 = rte_rdtsc();
		hz[k] = (double)(t1 - t0) / ((double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	}
	double lo = hz[0] < hz[1] ? hz[0] : hz[1], hi = hz[0] < hz[1] ? hz[1] : hz[0];
	return hz[2] < lo ? lo : hz[2] > hi ? hi : hz[2];
}

/* An offline input (this test's capture): where DPDK had to measure the
 * TSC it slept 10 ms, not 100 (tsccal.h), and the frequency it found is
 * the kernel's clock's, within DPDK's rounding to 10 MHz (5 MHz) and 0.2%. */
START_TEST(tsc_hz_against_the_kernel_clock)
{
	long win = mp_eal_tsccal_ns();
	ck_assert(win == 0 || win == MP_TSCCAL_OFFLINE_NS);
	double ref = kernel_tsc_hz(150), hz = (double)rte_get_tsc_hz();
	fprintf(stderr, "tsc: DPDK %.0f Hz (calibration window %ld ns, 0 = DPDK's own or none), kernel clock %.0f Hz\n",
	        hz, win, ref);
	ck_assert_msg(hz > ref - 5e6 - ref * 0.002 && hz < ref + 5e6 + ref * 0.002,
	              "DPDK %.0f Hz, kernel clock %.0f Hz", hz, ref);
}
END_TEST

static double since_ms(const struct timespec *a)
{
	struct timespec b;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void *sleep_100ms(void *arg)
{
	struct timespec a, w = {.tv_sec = 0, .tv_nsec = 100000000L};
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(nanosleep(&w, NULL), 0);
	*(double *)arg = since_ms(&a);
	return NULL;
}

/* The shortening takes exactly one sleep: the arming thread's next one of
 * 100 ms. Another thread's, a sleep of another length, and a sleep after
 * the disarm sleep what they asked (the kernel's clock says how long). */
START_TEST(tsccal_takes_only_the_armed_sleep)
{
	struct timespec a, w100 = {.tv_sec = 0, .tv_nsec = 100000000L}, w50 = {.tv_sec = 0, .tv_nsec = 50000000L};
	double other = 0;
	pthread_t t;

	mp_tsccal_arm(5000000L);
	ck_assert_int_eq(pthread_create(&t, NULL, sleep_100ms, &other), 0);
	pthread_join(t, NULL);
	ck_assert_msg(other >= 100.0, "another thread slept %.1f ms of 100", other);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(nanosleep(&w50, NULL), 0);
	ck_assert_double_ge(since_ms(&a), 50.0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(nanosleep(&w100, NULL), 0);
	double armed = since_ms(&a);
	ck_assert_msg(armed >= 5.0 && armed < 100.0, "the armed sleep took %.1f ms", armed);
	ck_assert_int_eq(mp_tsccal_disarm(), 5000000L);

	mp_tsccal_arm(5000000L);
	ck_assert_int_eq(mp_tsccal_disarm(), 0); /* no sleep came */
	clock_gettime(CLOCK_MONOTONIC, &a);
	ck_assert_int_eq(nanosleep(&w100, NULL), 0);
	ck_assert_double_ge(since_ms(&a), 100.0);
	/* The errors of nanosleep pass through: a bad request is EINVAL. */
	struct timespec bad = {.tv_sec = 0, .tv_nsec = 1000000000L};
	errno = 0;
	ck_assert_int_eq(nanosleep(&bad, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

int main(void)
{
	char err[1024];
	snprintf(pcap_path, sizeof(pcap_path), "/tmp/mp_test_runtime_%d.pcap", (int)getpid());
	pcap_pkts = 5000;
	if (write_capture(pcap_path, pcap_pkts) < 0) {
		fprintf(stderr, "cannot write %s\n", pcap_path);
		return EXIT_FAILURE;
	}

	mp_conf_defaults(&conf);
	char text[1024];
	int two = mp_lcore_exists(1);
	snprintf(text, sizeof(text),
	         "[eal]\nargs = --no-huge -m 256 --no-pci --no-shconf\n[input]\nsource = pcap:%s\n"
	         "[mempool]\nmbufs = 8191\n[tcp]\nflows = 4096\nchecksum = ignore\n[pipeline]\nring_size = "
	         "64\n[lcores]\n0 = rx classify tcpsm.0 events\n%s = "
	         "tcpsm.1 app tx\n",
	         pcap_path, two ? "1" : "0");
	if (mp_conf_parse_buf(&conf, "test", text, err, sizeof(err)) < 0 ||
	    mp_conf_finish(&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILURE;
	}
	if (mp_eal_setup(&conf, "test_runtime") < 0)
		return EXIT_FAILURE;
	pool = rte_pktmbuf_pool_create("test_pool", 4096, 0, MP_META_PRIV_SIZE, 2048, 0);
	if (!pool)
		return EXIT_FAILURE;

	Suite *s = suite_create("runtime");
	TCase *t = tcase_create("stages");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, meta_in_priv_area);
	tcase_add_test(t, fanout_keeps_flow_order);
	tcase_add_test(t, fanout_index_keeps_instance);
	tcase_add_test(t, out_send_more_than_a_group);
	tcase_add_test(t, feedback_to_the_owner);
	tcase_add_test(t, in_burst_ctrl_on_top);
	tcase_add_test(t, ring_full_frees_and_counts);
	tcase_add_test(t, ctrl_held_not_dropped);
	tcase_add_test(t, pipeline_runs_and_conserves);
	tcase_add_test(t, pcapfile_reader);
	tcase_add_test(t, totals_by_kind);
	tcase_add_test(t, mbuf_pool_grows_as_used);
	tcase_add_test(t, rss_key_is_symmetric);
	tcase_add_test(t, split_walk_against_libpcap);
	tcase_add_test(t, split_walk_full_ring);
	tcase_add_test(t, tsc_hz_against_the_kernel_clock);
	tcase_add_test(t, tsccal_takes_only_the_armed_sleep);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rte_mempool_free(pool);
	mp_eal_cleanup();
	unlink(pcap_path);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
