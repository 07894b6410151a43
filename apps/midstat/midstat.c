/* midstat: netstat for the middlebox.
 *
 * Written against the public API like any mOS application: one monitor
 * stream socket per context, buffers off, callbacks on CONN_START,
 * TCP_STATE_CHANGE and CONN_END. The table it prints, though, is read by a
 * thread of its own that is not on the datapath: it walks the RCU connection
 * table without locks every interval. The datapath never waits for it live.
 *
 * Offline (-r), tables are printed at each interval of *capture* time: the
 * reader closes a gate at the next boundary, rx holds the first packet past
 * it, and when the pipeline is quiet the reader prints and moves the gate.
 * That makes the output the same at any speed (golden-file tests rely on it).
 *
 * A trailing BPF expression, as tcpdump takes it, limits what is monitored
 * (mospipe's [input] filter, passed through $MOSPIPE_SET like -m).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "mos_api.h"
#include "mospipe_ext.h"
#include "mtcp_api.h"

#include "conf.h"
#include "pipeline.h"
#include "stage.h"
#include "view.h"

#define MS_ENDED_MAX (1u << 20) /* ended connections kept for --all */

static struct {
	const char *pcap, *ifaces, *conf, *mode;
	double interval;
	int json, all, tty, rows_max, count, health_only;
	enum ms_sort sort;
} opt = {.interval = 1.0, .sort = MS_SORT_AGE};

static int quit; /* set by main and the key handler, read by the reader: atomics */

/* Ended connections (--all): pushed by CONN_END callbacks on app lcores,
 * taken by the reader. One single-producer ring per context. */
struct ended_ring {
	unsigned head, tail; /* head: producer (release), tail: consumer (release) */
	unsigned lost;
	struct ms_row row[4096];
};
static struct ended_ring *ended;
static unsigned n_ctx;
static struct ms_row *ended_all;
static size_t n_ended_all;
static uint64_t n_started, n_ended, n_changes;
static uint64_t n_walks, n_rows_read; /* reader thread only */

static void cb_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m, (void)sock, (void)side, (void)ev, (void)arg;
	__atomic_fetch_add(&n_started, 1, __ATOMIC_RELAXED);
}

static void cb_change(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m, (void)sock, (void)side, (void)ev, (void)arg;
	__atomic_fetch_add(&n_changes, 1, __ATOMIC_RELAXED);
}

static void cb_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side, (void)ev, (void)arg;
	__atomic_fetch_add(&n_ended, 1, __ATOMIC_RELAXED);
	if (!opt.all)
		return;
	struct ended_ring *r = &ended[m->cpu % n_ctx];
	unsigned h = r->head, t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	if (h - t >= 4096) {
		r->lost++;
		return;
	}
	struct ms_row *row = &r->row[h % 4096];
	memset(row, 0, sizeof(*row));
	uint64_t missed[2] = {0, 0}, rxb[2] = {0, 0};
	if (mospipe_flow_snap(m, sock, &row->s, &row->end, missed, rxb) < 0)
		return;
	row->cli_missed = missed[0];
	row->svr_missed = missed[1];
	row->cli_rexmit_bytes = rxb[0];
	row->svr_rexmit_bytes = rxb[1];
	/* Release: the row is written before the reader can see the new head. */
	__atomic_store_n(&r->head, h + 1, __ATOMIC_RELEASE);
}

static void take_ended(void)
{
	for (unsigned c = 0; c < n_ctx; c++) {
		struct ended_ring *r = &ended[c];
		unsigned t = r->tail, h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		for (; t != h; t++)
			if (n_ended_all < MS_ENDED_MAX)
				ended_all[n_ended_all++] = r->row[t % 4096];
		__atomic_store_n(&r->tail, t, __ATOMIC_RELEASE);
	}
}

/* ---- the reader ----------------------------------------------------------- */

struct collect {
	struct ms_row *rows;
	size_t n, cap;
};

static void collect_cb(const struct mp_conn_snap *s, void *arg)
{
	struct collect *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		struct ms_row *r = realloc(c->rows, cap * sizeof(*r));
		if (!r)
			return;
		c->rows = r;
		c->cap = cap;
	}
	memset(&c->rows[c->n], 0, sizeof(c->rows[0]));
	c->rows[c->n++].s = *s;
}

static int cmp_row_id(const void *a, const void *b)
{
	uint64_t x = ((const struct ms_row *)a)->s.id, y = ((const struct ms_row *)b)->s.id;
	return x < y ? -1 : x > y;
}

static void health(struct mp_pipeline *pl, struct ms_health *h, uint64_t ts, double secs)
{
	h->prev = h->now;
	mp_totals(pl, &h->now);
	h->ts_ns = ts;
	h->secs = secs;
	h->n_stages = 0;
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			const struct mp_stage_inst *si = pl->inst[s][i];
			unsigned k = h->n_stages++;
			uint64_t b = mp_ctr_get(si, MP_CC_BUSY_POLLS), idle = mp_ctr_get(si, MP_CC_IDLE_POLLS);
			uint64_t in = mp_ctr_get(si, MP_CC_IN);
			snprintf(h->stage[k].name, sizeof(h->stage[k].name), "%s.%u", mp_stage_names[s], i);
			h->stage[k].busy_pct = b + idle ? 100.0 * (double)b / (double)(b + idle) : 0;
			h->stage[k].cyc_per_pkt = in ? (double)mp_ctr_get(si, MP_CC_BUSY_CYCLES) / (double)in : 0;
			unsigned fill = 0;
			for (unsigned r = 0; r < si->n_in; r++)
				fill += rte_ring_count(si->in[r]);
			h->stage[k].ring_fill = fill;
			h->stage[k].ring_size = si->n_in * pl->conf->ring_size;
		}
}

static void count_cb(const struct mp_conn_snap *s, void *arg)
{
	(void)s;
	(void)arg;
}

static void show(struct mp_pipeline *pl, struct ms_health *h, uint64_t ts, double secs)
{
	struct collect c = {0};
	rcu_thread_online();
	/* Health only: every flow is still snapshotted (all its fields read
	 * while tcpsm writes them), just not kept. */
	size_t live = mp_conntable_walk(mospipe_conntable(), opt.health_only ? count_cb : collect_cb, &c);
	rcu_thread_offline();
	n_walks++;
	n_rows_read += live;
	health(pl, h, ts, secs);
	h->flows = live;
	if (opt.health_only) {
		if (opt.json)
			ms_print_json(stdout, h, NULL, 0);
		else
			ms_print_table(stdout, h, NULL, live, opt.sort, opt.tty, MS_ROWS_NONE);
		return;
	}
	if (opt.all) {
		take_ended();
		/* A connection that has ended may stay in the table a while (TIME_WAIT
		 * until packet time passes it): list it once, as ended. */
		unsigned char *dup = c.n ? calloc(c.n, 1) : NULL;
		if (dup) {
			size_t k = 0;
			qsort(c.rows, c.n, sizeof(*c.rows), cmp_row_id); /* sorted for display below */
			for (size_t i = 0; i < n_ended_all; i++) {
				const struct ms_row *r =
				    bsearch(&ended_all[i], c.rows, c.n, sizeof(*c.rows), cmp_row_id);
				if (r)
					dup[r - c.rows] = 1;
			}
			for (size_t j = 0; j < c.n; j++)
				if (!dup[j])
					c.rows[k++] = c.rows[j];
			c.n = k;
			free(dup);
		}
		for (size_t i = 0; i < n_ended_all; i++) {
			collect_cb(&ended_all[i].s, &c);
			c.rows[c.n - 1] = ended_all[i];
		}
	}
	ms_sort_rows(c.rows, c.n, opt.sort, ts);
	if (opt.json)
		ms_print_json(stdout, h, c.rows, c.n);
	else
		ms_print_table(stdout, h, c.rows, c.n, opt.sort, opt.tty, (unsigned)opt.rows_max);
	free(c.rows);
}

static uint64_t wall_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

static void keys(void)
{
	char k;
	while (read(0, &k, 1) == 1) {
		if (k == 'q' || k == 'Q') {
			__atomic_store_n(&quit, 1, __ATOMIC_RELAXED);
			kill(getpid(), SIGINT);
		} else if (k == 's' || k == 'S') {
			opt.sort = (enum ms_sort)((opt.sort + 1) % MS_SORT_N);
		}
	}
}

static void *reader(void *arg)
{
	struct mp_pipeline *pl = arg;
	static struct ms_health h;
	uint64_t ival = (uint64_t)(opt.interval * 1e9);
	int shown = 0;

	rcu_register_thread();
	rcu_thread_offline();
	if (opt.pcap) {
		/* Offline: step the gate one interval of capture time at a time. */
		uint64_t boundary = 0, prev = 0;
		for (;;) {
			while (!mospipe_quiet() && !mospipe_finished())
				usleep(50);
			if (mospipe_finished())
				break;
			uint64_t next = mospipe_gate_next();
			if (!boundary) {
				if (!next) { /* empty capture or at its end */
					show(pl, &h, mospipe_time(), opt.interval);
					mospipe_gate(0);
					break;
				}
				boundary = next + ival;
				prev = next;
				mospipe_gate(boundary);
				continue;
			}
			if (!next) { /* rx is at the end of the capture: final table */
				show(pl, &h, mospipe_time(), (double)(mospipe_time() - prev) / 1e9);
				mospipe_gate(0);
				break;
			}
			while (boundary < next) {
				/* Boundaries that fall in a silence print the same table. */
				show(pl, &h, boundary, opt.interval);
				prev = boundary;
				boundary += ival;
				if (opt.count && ++shown >= opt.count)
					break;
			}
			if (opt.count && shown >= opt.count) {
				mospipe_gate(0);
				kill(getpid(), SIGINT);
				break;
			}
			mospipe_gate(boundary);
		}
	} else {
		uint64_t last = wall_ns();
		while (!__atomic_load_n(&quit, __ATOMIC_RELAXED) && !mospipe_finished()) {
			struct pollfd p = {.fd = 0, .events = POLLIN};
			int r = poll(&p, opt.tty ? 1 : 0, (int)(opt.interval * 1000));
			if (r > 0)
				keys();
			uint64_t now = wall_ns();
			if (now - last < ival && !__atomic_load_n(&quit, __ATOMIC_RELAXED))
				continue;
			show(pl, &h, now, (double)(now - last) / 1e9);
			last = now;
			if (opt.count && ++shown >= opt.count) {
				kill(getpid(), SIGINT);
				break;
			}
		}
	}
	rcu_unregister_thread();
	return NULL;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: midstat -r FILE | -i IF[,IF] [-c pipeline.conf] [options] [expression]\n"
	           "netstat for the middlebox: every TCP connection crossing it, both endpoints' states.\n"
	           "The expression, a BPF filter as tcpdump takes it (man pcap-filter), selects the packets\n"
	           "that are monitored: midstat -r x.pcap 'tcp port 80'.\n\n"
	           "  -r, --read FILE        offline: read a pcap/pcapng on packet time; a table per interval of\n"
	           "                         capture time and a final table at the end\n"
	           "  -i, --iface IF[,IF]    live: monitor these interfaces (AF_PACKET or AF_XDP)\n"
	           "  -c, --conf FILE        pipeline.conf (inline mode, lcore mapping, ...)\n"
	           "  -m, --mode MODE        monitor (default) or inline (forward between two interfaces)\n"
	           "  -n, --interval SECS    table interval (default 1; capture time offline)\n"
	           "      --count N          stop after N tables\n"
	           "  -a, --all              also list connections that ended, with how they ended\n"
	           "  -j, --json             one JSON object per connection per interval, plus a health object\n"
	           "  -s, --sort KEY         age (default), packets, bytes, state\n"
	           "      --rows N           at most N rows per table (0 = all)\n"
	           "      --health-only      print only the pipeline's health each interval (the table is still\n"
	           "                         walked: its flow count is the number of rows read)\n"
	           "      --version          print the version and exit\n"
	           "  -h, --help             this text (see also: man ./apps/midstat/midstat.1)\n\n"
	           "On a terminal the table is redrawn in place: s cycles the sort key, q quits.\n"
	           "Exit status: 0 done, 1 failure, 2 bad arguments, missing capture or interface.\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "midstat: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see midstat --help)\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"read", required_argument, 0, 'r'},
	    {"iface", required_argument, 0, 'i'},
	    {"conf", required_argument, 0, 'c'},
	    {"mode", required_argument, 0, 'm'},
	    {"interval", required_argument, 0, 'n'},
	    {"count", required_argument, 0, 1},
	    {"all", no_argument, 0, 'a'},
	    {"json", no_argument, 0, 'j'},
	    {"sort", required_argument, 0, 's'},
	    {"rows", required_argument, 0, 2},
	    {"health-only", no_argument, 0, 3},
	    {"help", no_argument, 0, 'h'},
	    {"version", no_argument, 0, 4},
	    {0, 0, 0, 0},
	};
	int o;
	char *end;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":r:i:c:m:n:ajs:h", lo, NULL)) != -1) {
		switch (o) {
		case 'r': opt.pcap = optarg; break;
		case 'i': opt.ifaces = optarg; break;
		case 'c': opt.conf = optarg; break;
		case 'm':
			if (strcmp(optarg, "monitor") && strcmp(optarg, "inline"))
				return bad("--mode '%s': use monitor or inline", optarg);
			opt.mode = optarg;
			break;
		case 'n':
			opt.interval = strtod(optarg, &end);
			if (*end || !(opt.interval >= 0.001 && opt.interval <= 86400))
				return bad("--interval '%s': give seconds between 0.001 and 86400", optarg);
			break;
		case 1:
			opt.count = (int)strtol(optarg, &end, 10);
			if (*end || opt.count < 0)
				return bad("--count '%s': give a number of tables", optarg);
			break;
		case 2:
			opt.rows_max = (int)strtol(optarg, &end, 10);
			if (*end || opt.rows_max < 0)
				return bad("--rows '%s': give a number of rows", optarg);
			break;
		case 3: opt.health_only = 1; break;
		case 'a': opt.all = 1; break;
		case 'j': opt.json = 1; break;
		case 's': {
			int k;
			for (k = 0; k < MS_SORT_N && strcmp(optarg, ms_sort_name((enum ms_sort)k)); k++)
				;
			if (k == MS_SORT_N)
				return bad("--sort '%s': use age, packets, bytes or state", optarg);
			opt.sort = (enum ms_sort)k;
			break;
		}
		case 'h': usage(stdout); return 0;
		case 4: printf("midstat %s (mospipe)\n", MOSPIPE_VERSION); return 0;
		case ':': return bad("option %s needs a value", argv[optind - 1]);
		default: return bad("unknown option '%s'", argv[optind - 1]);
		}
	}
	/* What follows the options is a filter expression, its words joined by
	 * spaces as tcpdump does. */
	static char filter[1024];
	for (size_t n = 0; optind < argc; optind++) {
		int k = snprintf(filter + n, sizeof(filter) - n, "%s%s", n ? " " : "", argv[optind]);
		if (k < 0 || (size_t)k >= sizeof(filter) - n)
			return bad("%s", "the filter expression is too long");
		n += (size_t)k;
	}
	if (strchr(filter, ';'))
		return bad("filter '%s': ';' is not part of the filter language (man pcap-filter)", filter);
	if (!!opt.pcap + !!opt.ifaces > 1)
		return bad("%s", "give either -r FILE or -i IF, not both");
	if (!opt.pcap && !opt.ifaces && !opt.conf && !getenv("MOSPIPE_INPUT"))
		return bad("%s", "nothing to watch: give -r FILE, -i IF[,IF] or -c pipeline.conf");

	static char input[4096];
	if (opt.pcap) {
		if (access(opt.pcap, R_OK) != 0)
			return bad("cannot read capture '%s'", opt.pcap);
		snprintf(input, sizeof(input), "pcap:%s", opt.pcap);
	} else if (opt.ifaces) {
		char buf[1024], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", opt.ifaces);
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			char p[300];
			snprintf(p, sizeof(p), "/sys/class/net/%s", t);
			if (access(p, F_OK) != 0)
				return bad("interface '%s' does not exist (see `ip link`)", t);
		}
		snprintf(input, sizeof(input), "iface:%s", opt.ifaces);
	}
	/* The stack takes its input from the environment when the conf has none:
	 * that is how any API application is pointed at a capture. */
	if (*input)
		setenv("MOSPIPE_INPUT", input, 1);
	/* -m and the filter are appended to what the caller may already have
	 * set in $MOSPIPE_SET, which mtcp_init() applies. */
	if (opt.mode || *filter) {
		static char set[8192];
		const char *old = getenv("MOSPIPE_SET");
		int n = snprintf(set, sizeof(set), "%s", old ? old : "");
		if (opt.mode)
			n += snprintf(set + n, sizeof(set) - (size_t)n, "%spipeline.mode=%s", n ? ";" : "", opt.mode);
		if (*filter && n < (int)sizeof(set))
			n += snprintf(set + n, sizeof(set) - (size_t)n, "%sinput.filter=%s", n ? ";" : "", filter);
		if (n >= (int)sizeof(set))
			return bad("%s", "$MOSPIPE_SET with -m and the filter is too long");
		setenv("MOSPIPE_SET", set, 1);
	}
	opt.tty = !opt.json && isatty(1);

	/* MOSPIPE_SET (and -m, passed through it) are applied by mtcp_init(). */
	if (mtcp_init(opt.conf) < 0)
		return 2;
	struct mtcp_conf mc;
	mtcp_getconf(&mc);
	n_ctx = mc.num_cores > 0 ? (unsigned)mc.num_cores : 1;
	ended = calloc(n_ctx, sizeof(*ended));
	ended_all = opt.all ? calloc(MS_ENDED_MAX, sizeof(*ended_all)) : NULL;
	if (!ended || (opt.all && !ended_all)) {
		fprintf(stderr, "midstat: out of memory\n");
		return 1;
	}
	mctx_t ctx[64];
	for (unsigned c = 0; c < n_ctx && c < 64; c++) {
		ctx[c] = mtcp_create_context((int)c);
		int s = ctx[c] ? mtcp_socket(ctx[c], AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
		int zero = 0;
		if (s < 0 || mtcp_setsockopt(ctx[c], s, SOL_MONSOCKET, MOS_CLIBUF, &zero, sizeof(zero)) < 0 ||
		    mtcp_setsockopt(ctx[c], s, SOL_MONSOCKET, MOS_SVRBUF, &zero, sizeof(zero)) < 0 ||
		    mtcp_register_callback(ctx[c], s, MOS_ON_CONN_START, MOS_HK_SND, cb_start) < 0 ||
		    mtcp_register_callback(ctx[c], s, MOS_ON_TCP_STATE_CHANGE, MOS_HK_SND, cb_change) < 0 ||
		    mtcp_register_callback(ctx[c], s, MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV, cb_change) < 0 ||
		    mtcp_register_callback(ctx[c], s, MOS_ON_CONN_END, MOS_HK_RCV, cb_end) < 0) {
			fprintf(stderr, "midstat: setting up context %u failed: %s\n", c, strerror(errno));
			return 1;
		}
	}
	struct mp_pipeline *pl = mospipe_pipeline();
	/* The pipeline exists now (built by the first context), not running
	 * before mtcp_app_join. */
	if (!mospipe_conntable()) {
		fprintf(stderr,
		        "midstat: the pipeline keeps no connection table ([pipeline] conntable = no), and midstat "
		        "lists what it holds: set conntable = auto (the default) or yes\n");
		for (unsigned c = 0; c < n_ctx && c < 64; c++)
			mtcp_destroy_context(ctx[c]);
		mtcp_destroy();
		return 2;
	}
	if (opt.pcap)
		mospipe_gate(1); /* hold the first packet until the reader has seen its time */
	struct termios saved;
	int raw = opt.tty && tcgetattr(0, &saved) == 0;
	if (raw) {
		struct termios t = saved;
		t.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
		t.c_cc[VMIN] = 0;
		t.c_cc[VTIME] = 0;
		tcsetattr(0, TCSANOW, &t);
	}
	pthread_t th;
	if (pthread_create(&th, NULL, reader, pl) != 0) {
		fprintf(stderr, "midstat: cannot start the reader thread\n");
		return 1;
	}
	mtcp_app_join(ctx[0]);
	for (unsigned c = 1; c < n_ctx && c < 64; c++)
		mtcp_app_join(ctx[c]);
	__atomic_store_n(&quit, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	if (!opt.pcap && !opt.json) {
		/* Live: a last table of what ended (--all) after the input stopped. */
		static struct ms_health h;
		rcu_register_thread();
		rcu_thread_offline();
		show(pl, &h, wall_ns(), opt.interval);
		rcu_unregister_thread();
	}
	/* With --json stdout stays JSON lines: the summary goes to stderr. */
	fprintf(opt.json ? stderr : stdout, "midstat: %llu connections started, %llu ended, %llu state changes\n",
	        (unsigned long long)n_started, (unsigned long long)n_ended, (unsigned long long)n_changes);
	/* How hard the reader worked, and the datapath's own rate: for the stress
	 * test and for anyone sizing an interval. Always stderr (goldens: stdout). */
	double dp = pl->end_tsc > pl->start_tsc ? (double)(pl->end_tsc - pl->start_tsc) / (double)pl->tsc_hz : 0;
	fprintf(stderr, "midstat: reader: %llu table walks, %llu rows read; datapath: %.3f s, %.0f connections/s\n",
	        (unsigned long long)n_walks, (unsigned long long)n_rows_read, dp,
	        dp > 0 ? (double)n_started / dp : 0.0);
	for (unsigned c = 0; c < n_ctx && c < 64; c++)
		mtcp_destroy_context(ctx[c]);
	mtcp_destroy();
	free(ended);
	free(ended_all);
	return 0;
}
