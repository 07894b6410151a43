/* tcpsm as a running stage (EAL, 2 lcores when available, 2 instances):
 * every flow gets exactly one RETIRE control mbuf, and every flow that closes
 * on a packet while holding buffers a reader may peek one ENDED (the run
 * is repeated without readers, in a child process: no ENDED; and with
 * [tcp] buf_free_at_end = no, in another: ENDED still, since the chunks of
 * a closed flow become reclaimable only once it is back), which tx
 * hands back on the feedback edge (one ring per tx x tcpsm instance); what
 * tcpsm has not taken back yet is still in those rings. The flow log (a
 * pipeline service) has one line per connection with the right end reasons,
 * the RCU connection table (another) is empty at the end and can be walked
 * by a reader thread while the pipeline runs. Writes its own capture.
 * CK_NOFORK: one EAL. */
#include <check.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "conf.h"
#include "conntable.h"
#include "pipeline.h"
#include "stage.h"
#include "tcpsm.h"

static struct mp_conf conf;
static char pcap_path[256], log_path[256];
static pcap_dumper_t *dump;
static unsigned n_pkts;

#define N_FIN 40
#define N_RST 10
#define N_OPEN 10

static void frame(unsigned conn, int from_cli, uint8_t flags, uint32_t seq, uint32_t ack, unsigned len, unsigned t_ms)
{
	uint8_t f[14 + 20 + 20 + 64] = {0};
	uint8_t c[4] = {10, 1, (uint8_t)(conn >> 8), (uint8_t)conn}, s[4] = {10, 2, 0, 1};
	uint16_t cp = (uint16_t)(30000 + conn), sp = 80;
	unsigned iplen = 40 + len;
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = (uint8_t)(iplen >> 8);
	f[17] = (uint8_t)iplen;
	f[22] = 64;
	f[23] = 6;
	memcpy(f + 26, from_cli ? c : s, 4);
	memcpy(f + 30, from_cli ? s : c, 4);
	uint16_t a = from_cli ? cp : sp, b = from_cli ? sp : cp;
	f[34] = (uint8_t)(a >> 8);
	f[35] = (uint8_t)a;
	f[36] = (uint8_t)(b >> 8);
	f[37] = (uint8_t)b;
	for (int i = 0; i < 4; i++) {
		f[38 + i] = (uint8_t)(seq >> (24 - 8 * i));
		f[42 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	f[46] = 0x50;
	f[47] = flags;
	f[48] = 0xff;
	f[49] = 0xff;
	memset(f + 54, 'x', len);
	struct pcap_pkthdr h = {
	    .ts = {.tv_sec = 1000 + t_ms / 1000, .tv_usec = (t_ms % 1000) * 1000}, .caplen = 54 + len, .len = 54 + len};
	pcap_dump((u_char *)dump, &h, f);
	n_pkts++;
}

static int write_capture(void)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	dump = pcap_dump_open(p, pcap_path);
	if (!dump)
		return -1;
	unsigned t = 0;
	for (unsigned k = 0; k < N_FIN + N_RST + N_OPEN; k++, t += 10) {
		uint32_t ci = 1000 * k, si = 7000000 + k;
		frame(k, 1, 0x02, ci, 0, 0, t);
		frame(k, 0, 0x12, si, ci + 1, 0, t + 1);
		frame(k, 1, 0x10, ci + 1, si + 1, 0, t + 2);
		frame(k, 1, 0x18, ci + 1, si + 1, 10, t + 3);
		frame(k, 0, 0x18, si + 1, ci + 11, 20, t + 4);
		if (k < N_FIN) {
			frame(k, 1, 0x11, ci + 11, si + 21, 0, t + 5);
			frame(k, 0, 0x11, si + 21, ci + 12, 0, t + 6);
			frame(k, 1, 0x10, ci + 12, si + 22, 0, t + 7);
		} else if (k < N_FIN + N_RST)
			frame(k, 0, 0x04, si + 21, 0, 0, t + 5);
	}
	pcap_dump_close(dump);
	pcap_close(p);
	return 0;
}

static uint64_t stage_ctr(struct mp_pipeline *pl, int st, const char *name)
{
	uint64_t sum = 0;
	for (unsigned i = 0; i < pl->n_inst[st]; i++) {
		struct mp_stage_inst *si = pl->inst[st][i];
		for (unsigned k = 0; k < si->type->n_ctrs; k++)
			if (!strcmp(si->type->ctrs[k].name, name))
				sum += mp_ctr_get(si, MP_CC_N + k);
	}
	return sum;
}

static volatile int reader_stop;
static unsigned long reader_walks, reader_seen;

static void seen_cb(const struct mp_conn_snap *s, void *arg)
{
	(void)arg;
	/* Touch the copy: a freed flow would have shown up under ASan in
	 * the snapshot function already. */
	if (s->cli_port >= 30000)
		reader_seen++;
}

static void *reader(void *arg)
{
	struct mp_pipeline *pl = arg;
	rcu_register_thread();
	/* At least one walk, even if the run is over before we start. */
	do {
		struct mp_conntable *ct = pl->conntable;
		if (ct) {
			mp_conntable_walk(ct, seen_cb, NULL);
			reader_walks++;
		}
		rcu_quiescent_state();
	} while (!__atomic_load_n(&reader_stop, __ATOMIC_ACQUIRE));
	rcu_unregister_thread();
	return NULL;
}

/* A run; with_reader: every flow starts in reader mode on both sides (what
 * the API asks when a stream socket may peek), so that a flow's buffers
 * must wait for its MP_CTRL_ENDED; without, they go back at the close. */
static void run_stage(int with_reader)
{
	struct mp_pipeline *pl = mp_pipeline_create(&conf, NULL);
	ck_assert_ptr_nonnull(pl);
	if (with_reader)
		ck_assert_int_eq(tcpsm_set_new_flow_ctl(pl, TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1)), 0);
	__atomic_store_n(&reader_stop, 0, __ATOMIC_RELEASE);
	reader_walks = 0;
	ck_assert_ptr_nonnull(pl->conntable);
	ck_assert_ptr_nonnull(pl->flowlog);
	/* The feedback edge: every tx instance reaches every tcpsm instance. */
	for (unsigned i = 0; i < pl->n_inst[MP_ST_TX]; i++)
		ck_assert_uint_eq(pl->inst[MP_ST_TX][i]->fb.n, pl->n_inst[MP_ST_TCPSM]);
	for (unsigned j = 0; j < pl->n_inst[MP_ST_TCPSM]; j++)
		ck_assert_uint_eq(pl->inst[MP_ST_TCPSM][j]->n_fb_in, pl->n_inst[MP_ST_TX]);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, reader, pl), 0);
	ck_assert_int_eq(mp_pipeline_run(pl), 0);
	__atomic_store_n(&reader_stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	ck_assert_uint_gt(reader_walks, 0);

	struct mp_totals t;
	mp_totals(pl, &t);
	ck_assert_uint_eq(t.rx, n_pkts);
	ck_assert_uint_eq(t.drops, 0);
	unsigned n_conn = N_FIN + N_RST + N_OPEN;
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "flows_new"), n_conn);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "flows_ended_fin"), N_FIN);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "flows_ended_rst"), N_RST);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "flows_ended_open"), N_OPEN);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "flowlog_lost"), 0);
	/* One retire mbuf per flow and, when a reader may peek, one ENDED per
	 * flow closed by a packet (FIN exchange, RST) with buffers, all handed
	 * back by tx... */
	unsigned n_ended = with_reader ? N_FIN + N_RST : 0;
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TX, "back_retire"), n_conn);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TX, "back_ended"), n_ended);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TX, "ctrl_lost"), 0);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "fb_foreign"), 0);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "ended_nombuf"), 0);
	/* ... and either taken back by tcpsm or still in the feedback rings
	 * (tcpsm does not wait for them: its fini takes the rest). */
	unsigned waiting = 0;
	for (unsigned j = 0; j < pl->n_inst[MP_ST_TCPSM]; j++)
		for (unsigned k = 0; k < pl->inst[MP_ST_TCPSM][j]->n_fb_in; k++)
			waiting += rte_ring_count(pl->inst[MP_ST_TCPSM][j]->fb_in[k]);
	ck_assert_uint_eq(stage_ctr(pl, MP_ST_TCPSM, "took_retire") + stage_ctr(pl, MP_ST_TCPSM, "took_ended") +
	                      waiting,
	                  n_conn + n_ended);
	rcu_register_thread();
	ck_assert_uint_eq(mp_conntable_count(pl->conntable), 0);
	rcu_unregister_thread();
	mp_pipeline_destroy(pl); /* flushes and closes the flow log */

	FILE *f = fopen(log_path, "r");
	ck_assert_ptr_nonnull(f);
	char line[2048];
	unsigned lines = 0, fin = 0, rst = 0, open_ = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		ck_assert_ptr_nonnull(strstr(line, "\"svr\":\"10.2.0.1:80\""));
		ck_assert_ptr_nonnull(strstr(line, "\"cli_bytes\":10,\"cli_missed\":0"));
		ck_assert_ptr_nonnull(strstr(line, "\"svr_bytes\":20,\"svr_missed\":0"));
		if (strstr(line, "\"end\":\"fin\"")) {
			fin++;
			ck_assert_ptr_nonnull(strstr(line, "\"cli_state\":\"TIME_WAIT\",\"svr_state\":\"CLOSED\""));
			ck_assert_ptr_nonnull(strstr(line, "\"cli_pkts\":5,"));
		} else if (strstr(line, "\"end\":\"rst\""))
			rst++;
		else if (strstr(line, "\"end\":\"open\"")) {
			open_++;
			ck_assert_ptr_nonnull(strstr(line, "\"cli_state\":\"ESTABLISHED\""));
		}
	}
	fclose(f);
	ck_assert_uint_eq(lines, n_conn);
	ck_assert_uint_eq(fin, N_FIN);
	ck_assert_uint_eq(rst, N_RST);
	ck_assert_uint_eq(open_, N_OPEN);
}

/* The variant this process runs: EAL (and the input) once per process, so
 * the run with readers re-executes the binary for the run without. */
#define NOREADER_ENV "MP_TEST_TCPSM_STAGE_NOREADER"
#define KEEP_ENV "MP_TEST_TCPSM_STAGE_KEEP" /* buf_free_at_end = no */

START_TEST(stage_retires_and_logs)
{
	run_stage(getenv(NOREADER_ENV) == NULL);
}
END_TEST

/* A variant in a child process (env set). @return its exit status. */
static int run_child(const char *env)
{
	pid_t pid = fork();
	if (pid == 0) {
		setenv(env, "1", 1);
		execl("/proc/self/exe", "test_tcpsm_stage", (char *)NULL);
		_exit(127);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return EXIT_FAILURE;
	return WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_FAILURE;
}

int main(void)
{
	char err[1024], text[2048];
	snprintf(pcap_path, sizeof(pcap_path), "/tmp/mp_test_tcpsm_%d.pcap", (int)getpid());
	snprintf(log_path, sizeof(log_path), "/tmp/mp_test_tcpsm_%d.json", (int)getpid());
	if (write_capture() < 0) {
		fprintf(stderr, "cannot write %s\n", pcap_path);
		return EXIT_FAILURE;
	}
	mp_conf_defaults(&conf);
	int two = mp_lcore_exists(1);
	/* time_wait 0: FIN-closed flows end at the next burst. */
	snprintf(text, sizeof(text),
	         "[eal]\nargs = --no-huge -m 256 --no-pci --no-shconf\n[input]\nsource = pcap:%s\n"
	         "[pipeline]\nconntable = yes\n" /* no application here: the reader thread is ours */
	         "[mempool]\nmbufs = 8191\n[tcp]\nflows = 4096\nchecksum = ignore\ntime_wait = 0\n%s"
	         "[output]\nflow_log = %s\n[lcores]\n0 = rx classify tcpsm.0 events\n%s = tcpsm.1 app tx\n",
	         pcap_path, getenv(KEEP_ENV) ? "buf_free_at_end = no\n" : "", log_path, two ? "1" : "0");
	if (mp_conf_parse_buf(&conf, "test", text, err, sizeof(err)) < 0 ||
	    mp_conf_finish(&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILURE;
	}
	if (mp_eal_setup(&conf, "test_tcpsm_stage") < 0)
		return EXIT_FAILURE;
	Suite *s = suite_create("tcpsm_stage");
	TCase *t = tcase_create("stage");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, stage_retires_and_logs);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mp_eal_cleanup();
	unlink(pcap_path);
	unlink(log_path);
	if (!getenv(NOREADER_ENV) && !getenv(KEEP_ENV)) {
		printf("the same without readers (no ENDED):\n");
		fflush(stdout);
		if (run_child(NOREADER_ENV) != EXIT_SUCCESS)
			failed++;
		printf("the same with buf_free_at_end = no (ENDED still):\n");
		fflush(stdout);
		if (run_child(KEEP_ENV) != EXIT_SUCCESS)
			failed++;
	}
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
