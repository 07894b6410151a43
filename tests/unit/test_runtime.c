/* Unit tests of the stage runtime: per-flow order through fan-out, ring-full
 * accounting (freed and counted), control mbufs held rather than dropped,
 * metadata in the private area, and a whole pipeline run on a 2-lcore mapping
 * with several stages per lcore over a capture the test writes itself.
 * Runs in one process (CK_NOFORK): EAL can be initialised only once. */
#include <check.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "conf.h"
#include "pcapin.h"
#include "pipeline.h"
#include "stage.h"

static struct rte_mempool *pool;
static struct mp_conf conf;
static char pcap_path[256];
static unsigned pcap_pkts;

/* A fake instance with `n` output rings of `size` slots on slot 0. */
static struct mp_stage_inst *fake_inst(unsigned n, unsigned size)
{
	static const struct mp_stage_type t = {.name = "fake", .id = MP_ST_CLASSIFY};
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
			mp_meta(b[nb++])->ctrl.arg = f;
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
			unsigned f = md->ctrl.arg;
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
	struct mp_pipeline *pl = mp_pipeline_create(&conf);
	ck_assert_ptr_nonnull(pl);
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
	         "[mempool]\nmbufs = 8191\n[tcp]\nflows = 4096\nbuf_pool = 16M\n[pipeline]\nring_size = "
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
	tcase_add_test(t, ring_full_frees_and_counts);
	tcase_add_test(t, ctrl_held_not_dropped);
	tcase_add_test(t, pipeline_runs_and_conserves);
	tcase_add_test(t, pcapfile_reader);
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
