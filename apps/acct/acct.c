/* acct: cellular data accounting with retransmission-abuse detection, built
 * on the mOS API only (include/). Charges every TCP byte once per subscriber
 * and direction (retransmitted bytes are not charged), compares retransmitted
 * bytes with the first copy and reports the ones that differ (the
 * free-riding attack of Go et al., NDSS'14), prints usage per interval of
 * packet time, abuse records and a summary as JSON lines. This file: the
 * command line, set-up, the run, the summary. See acct.h for the parts. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mospipe_ext.h>

#include "acct.h"

struct acct_opts acct_o = {
    .interval_ns = 60ull * 1000000000u,
    .sample = 16,
    .max_reports = 10,
    .max_subs = 1000000,
    .on_abuse = ACCT_ON_ABUSE_REPORT,
};
struct actx acct_ctx[ACCT_MAX_CTX];
unsigned acct_nctx;
uint64_t acct_keep;
FILE *acct_out;

static void usage(FILE *f)
{
	fprintf(f, "usage: acct [-r FILE | -i IF[,IF]] [-m inline] [-c pipeline.conf] [options]\n"
	           "Per-subscriber TCP data accounting: every byte charged once per direction (retransmitted\n"
	           "bytes are not charged); retransmissions whose payload differs from the first copy (the\n"
	           "free-riding attack) are reported. JSON lines on stdout (or -o FILE).\n\n"
	           "  -o, --output FILE        write the JSON lines to FILE instead of stdout\n"
	           "      --subscribers FILE   subscribers: one prefix per line with an optional name\n"
	           "                           (\"10.1.0.0/16 alice\"); a flow belongs to the client's longest\n"
	           "                           match, else the server's (default: each client address)\n"
	           "      --interval DUR       usage lines per interval of packet time: 60 (s), 500ms, 5m,\n"
	           "                           1h; 0 = totals only (default 60s)\n"
	           "      --on-abuse ACTION    report (default) or reset: drop the segment and reset the\n"
	           "                           connection (inline mode, -m inline)\n"
	           "      --sample N           bytes of each copy shown in an abuse record (1-1024, default 16)\n"
	           "      --compare N          compare at most N retransmitted bytes per segment (0 = all)\n"
	           "      --window BYTES       bytes kept readable behind the in-order edge for comparison\n"
	           "                           (default half of tcp.buf_size; K/M suffixes)\n"
	           "      --max-reports N      abuse records per flow, more are only counted (default 10)\n"
	           "      --max-subscribers N  subscriber entries per app instance (default 1000000)\n"
	           "      --per-flow           one \"flow\" line per connection when it ends\n"
	           "  -h, --help               this text\n\n"
	           "mospipe options: -r/--read FILE[,FILE], -i/--iface IF[,IF], -m/--mode monitor|inline,\n"
	           "-c/--conf FILE, -s/--set SEC.KEY=VAL, -l/--lcores MAP, -w/--write FILE, -C/--checksum,\n"
	           "--flow-log FILE, --counters-json FILE. Comparison needs reassembly buffers\n"
	           "(tcp.buf_size > 0). Exit status: 0 ok, 1 runtime failure, 2 bad usage or input.\n");
}

static int bad(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "acct: ");
	fprintf(stderr, fmt, a, b);
	fprintf(stderr, " (see acct --help)\n");
	return 2;
}

/* A number with an optional K/M/G suffix (sizes) within [lo, hi]. */
static int parse_num(const char *opt, const char *v, int sizes, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*v || *v == '-')
		goto no;
	unsigned long long x = strtoull(v, &end, 10);
	if (errno || end == v)
		goto no;
	if (sizes && *end) {
		uint64_t m = *end == 'K' || *end == 'k'   ? 1024
		             : *end == 'M' || *end == 'm' ? 1024 * 1024
		             : *end == 'G' || *end == 'g' ? 1024ull * 1024 * 1024
		                                          : 0;
		if (!m || end[1] || x > UINT64_MAX / m)
			goto no;
		x *= m;
	} else if (*end)
		goto no;
	if (x < lo || x > hi)
		goto no;
	*out = x;
	return 0;
no:
	fprintf(stderr, "acct: %s %s: expected %s from %" PRIu64 " to %" PRIu64 " (see acct --help)\n", opt, v,
	        sizes ? "a size in bytes (K/M/G suffixes)" : "a whole number", lo, hi);
	return -1;
}

/* "60", "60s", "500ms", "5m", "1h", "0". */
static int parse_dur(const char *v, uint64_t *ns)
{
	char *end;
	errno = 0;
	if (!*v || *v == '-')
		goto no;
	double x = strtod(v, &end);
	if (errno || end == v || x < 0)
		goto no;
	double mul = 1e9;
	if (!strcmp(end, "ms"))
		mul = 1e6;
	else if (!strcmp(end, "s") || !*end)
		mul = 1e9;
	else if (!strcmp(end, "m"))
		mul = 60e9;
	else if (!strcmp(end, "h"))
		mul = 3600e9;
	else
		goto no;
	x *= mul;
	if (x > 86400e9 * 366 || (x > 0 && x < 1e6))
		goto no;
	*ns = (uint64_t)x;
	return 0;
no:
	fprintf(stderr,
	        "acct: --interval %s: expected a duration from 1ms to 366 days (60, 60s, 500ms, 5m, 1h) or 0 "
	        "(see acct --help)\n",
	        v);
	return -1;
}

/* Is the pipeline's mode inline according to what the command line set?
 * 1 yes, 0 no, -1 unknown (a conf file may set it). */
static int mode_inline(const char *conf)
{
	const char *set = getenv("MOSPIPE_SET"), *p, *last = NULL;
	for (p = set; p && (p = strstr(p, "pipeline.mode=")); p++)
		if (p == set || p[-1] == ';')
			last = p + strlen("pipeline.mode=");
	if (last)
		return !strncmp(last, "inline", 6) && (last[6] == 0 || last[6] == ';');
	return conf ? -1 : 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void summary(double secs)
{
	struct acct_stats t = {0};
	uint64_t subs = 0;
	for (unsigned i = 0; i < acct_nctx; i++) {
		const struct acct_stats *s = &acct_ctx[i].st;
		t.packets += s->packets;
		t.payload_bytes += s->payload_bytes;
		t.flows += s->flows;
		t.after_end_pkts += s->after_end_pkts;
		t.after_end_bytes += s->after_end_bytes;
		for (int d = 0; d < 2; d++) {
			t.charged[d] += s->charged[d];
			t.rexmit[d] += s->rexmit[d];
		}
		t.compared += s->compared;
		t.unverified += s->unverified;
		t.keepalives += s->keepalives;
		t.gap_merged += s->gap_merged;
		t.abuse_segments += s->abuse_segments;
		t.abuse_reports += s->abuse_reports;
		t.abuse_flows += s->abuse_flows;
		t.resets += s->resets;
		t.reset_failed += s->reset_failed;
		t.unmatched_flows += s->unmatched_flows;
		t.unmatched_bytes += s->unmatched_bytes;
		t.overflow_flows += s->overflow_flows;
		t.peek_missed += s->peek_missed;
		if (s->first_ns && (!t.first_ns || s->first_ns < t.first_ns))
			t.first_ns = s->first_ns;
		if (s->last_ns > t.last_ns)
			t.last_ns = s->last_ns;
		subs += acct_ctx[i].tab.n - (acct_ctx[i].tab.overflow ? 1 : 0);
	}
	char line[4096];
	struct acct_buf b = {line, 0, sizeof(line)};
	acct_bprintf(&b, "{\"event\":\"summary\",");
	acct_bts(&b, "first_ts", t.first_ns);
	acct_bprintf(&b, ",");
	acct_bts(&b, "last_ts", t.last_ns);
	acct_bprintf(
	    &b,
	    ",\"packets\":%" PRIu64 ",\"payload_bytes\":%" PRIu64 ",\"flows\":%" PRIu64 ",\"subscribers\":%" PRIu64
	    ",\"client_bytes\":%" PRIu64 ",\"server_bytes\":%" PRIu64 ",\"client_rexmit_bytes\":%" PRIu64
	    ",\"server_rexmit_bytes\":%" PRIu64 ",\"compared_bytes\":%" PRIu64 ",\"unverified_bytes\":%" PRIu64
	    ",\"keepalives\":%" PRIu64 ",\"gap_merged_bytes\":%" PRIu64 ",\"abuse_segments\":%" PRIu64
	    ",\"abuse_reports\":%" PRIu64 ",\"abuse_flows\":%" PRIu64 ",\"resets\":%" PRIu64
	    ",\"reset_failed\":%" PRIu64 ",\"unmatched_flows\":%" PRIu64 ",\"unmatched_bytes\":%" PRIu64
	    ",\"overflow_flows\":%" PRIu64 ",\"after_end_packets\":%" PRIu64 ",\"after_end_bytes\":%" PRIu64
	    ",\"buffer_missed_bytes\":%" PRIu64 ",\"late_lines\":%" PRIu64 ",\"window\":%" PRIu64
	    ",\"interval\":%.6f,\"seconds\":%.6f}",
	    t.packets, t.payload_bytes, t.flows, subs, t.charged[0], t.charged[1], t.rexmit[0], t.rexmit[1], t.compared,
	    t.unverified, t.keepalives, t.gap_merged, t.abuse_segments, t.abuse_reports, t.abuse_flows, t.resets,
	    t.reset_failed, t.unmatched_flows, t.unmatched_bytes, t.overflow_flows, t.after_end_pkts, t.after_end_bytes,
	    t.peek_missed, acct_late_lines(), acct_keep, (double)acct_o.interval_ns / 1e9, secs);
	acct_emit(line, b.n < b.cap ? b.n : strlen(line));
}

int main(int argc, char **argv)
{
	const char *conf = NULL, *out_path = NULL;
	uint64_t window = 0, v;
	int have_window = 0;

	if (mospipe_args(&argc, argv, NULL, &conf) < 0)
		return 2;
	static const struct option lo[] = {
	    {"output", required_argument, 0, 'o'},
	    {"subscribers", required_argument, 0, 1},
	    {"interval", required_argument, 0, 2},
	    {"on-abuse", required_argument, 0, 3},
	    {"sample", required_argument, 0, 4},
	    {"compare", required_argument, 0, 5},
	    {"window", required_argument, 0, 6},
	    {"max-reports", required_argument, 0, 7},
	    {"max-subscribers", required_argument, 0, 8},
	    {"per-flow", no_argument, 0, 9},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":o:h", lo, NULL)) != -1) {
		switch (o) {
		case 'o': out_path = optarg; break;
		case 1: acct_o.subs_path = optarg; break;
		case 2:
			if (parse_dur(optarg, &acct_o.interval_ns) < 0)
				return 2;
			break;
		case 3:
			if (!strcmp(optarg, "report"))
				acct_o.on_abuse = ACCT_ON_ABUSE_REPORT;
			else if (!strcmp(optarg, "reset"))
				acct_o.on_abuse = ACCT_ON_ABUSE_RESET;
			else
				return bad("--on-abuse %s%s: expected report or reset", optarg, "");
			break;
		case 4:
			if (parse_num("--sample", optarg, 0, 1, 1024, &v) < 0)
				return 2;
			acct_o.sample = (unsigned)v;
			break;
		case 5:
			if (parse_num("--compare", optarg, 1, 0, 1u << 30, &v) < 0)
				return 2;
			acct_o.compare = (unsigned)v;
			break;
		case 6:
			if (parse_num("--window", optarg, 1, 0, 1ull << 26, &window) < 0)
				return 2;
			have_window = 1;
			break;
		case 7:
			if (parse_num("--max-reports", optarg, 0, 0, 1u << 30, &v) < 0)
				return 2;
			acct_o.max_reports = (unsigned)v;
			break;
		case 8:
			if (parse_num("--max-subscribers", optarg, 0, 1, 1u << 28, &v) < 0)
				return 2;
			acct_o.max_subs = v;
			break;
		case 9: acct_o.per_flow = 1; break;
		case 'h': usage(stdout); return 0;
		case ':': return bad("option %s needs a value%s", argv[optind - 1], "");
		default: return bad("unknown option %s%s", argv[optind - 1], "");
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'%s", argv[optind], "");
	if (!conf && !getenv("MOSPIPE_INPUT"))
		return bad("no input: give -r FILE or -i IF[,IF] (or -c pipeline.conf with [input] source)%s%s", "",
		           "");
	if (acct_o.on_abuse == ACCT_ON_ABUSE_RESET && mode_inline(conf) == 0)
		return bad("--on-abuse reset needs inline mode: add -m inline%s%s", "", "");
	if (acct_o.subs_path && acct_subs_load(acct_o.subs_path) < 0)
		return 2;
	acct_out = stdout;
	if (out_path && !(acct_out = fopen(out_path, "w"))) {
		fprintf(stderr, "acct: -o %s: %s\n", out_path, strerror(errno));
		return 2;
	}

	if (mtcp_init(conf) < 0) {
		/* mtcp_init() printed what is wrong for a bad conf or input; say
		 * something for the other failures only. */
		int e = errno;
		if (e != ENOENT && e != EINVAL && e != ENODEV)
			fprintf(stderr, "acct: cannot start the stack: %s\n", strerror(e));
		return e == ENOENT || e == EINVAL || e == ENODEV ? 2 : 1;
	}
	struct mtcp_conf mc;
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1) {
		fprintf(stderr, "acct: mtcp_getconf: %s\n", strerror(errno));
		return 1;
	}
	if (mc.num_cores > ACCT_MAX_CTX) {
		fprintf(stderr, "acct: %d app instances configured, at most %d supported\n", mc.num_cores,
		        ACCT_MAX_CTX);
		mtcp_destroy();
		return 2;
	}
	/* What acct keeps readable for comparisons lives in the reassembly
	 * buffer of each side (tcp.buf_size); the rest of it holds what is
	 * still being reassembled. */
	uint64_t bufsz = mc.rcvbuf_size > 0 ? (uint64_t)mc.rcvbuf_size : 0;
	if (have_window && bufsz && window >= bufsz) {
		fprintf(stderr,
		        "acct: --window %" PRIu64 " must be below the reassembly buffer (tcp.buf_size = %" PRIu64
		        "): the rest of the buffer holds what is still being reassembled\n",
		        window, bufsz);
		mtcp_destroy();
		return 2;
	}
	acct_keep = bufsz ? (have_window ? window : bufsz / 2) : 0;
	if (!acct_keep)
		fprintf(stderr,
		        "acct: note: reassembly buffers are off (tcp.buf_size = 0%s): bytes are charged but "
		        "retransmissions are not compared\n",
		        have_window ? " or --window 0" : "");
	mtcp_register_signal(SIGINT, NULL);
	mtcp_register_signal(SIGTERM, NULL);

	double t0 = now_s();
	acct_nctx = (unsigned)mc.num_cores;
	for (unsigned i = 0; i < acct_nctx; i++) {
		struct actx *c = &acct_ctx[i];
		int first = MOS_OVERLAP_POLICY_FIRST;
		c->iv_k = UINT64_MAX;
		if (acct_tab_init(&c->tab, acct_o.max_subs) < 0) {
			fprintf(stderr, "acct: out of memory\n");
			return 1;
		}
		c->mctx = mtcp_create_context((int)i);
		if (!c->mctx) {
			fprintf(stderr, "acct: mtcp_create_context(%u): %s\n", i, strerror(errno));
			return 1;
		}
		c->sock = mtcp_socket(c->mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
		/* The first copy stays in the buffer whatever comes after it: that
		 * is what a retransmission is compared with. */
		if (c->sock < 0 ||
		    mtcp_setsockopt(c->mctx, c->sock, SOL_MONSOCKET, MOS_CLIOVERLAP, &first, sizeof(first)) < 0 ||
		    mtcp_setsockopt(c->mctx, c->sock, SOL_MONSOCKET, MOS_SVROVERLAP, &first, sizeof(first)) < 0 ||
		    mtcp_register_callback(c->mctx, c->sock, MOS_ON_PKT_IN, MOS_HK_SND, acct_on_pkt) < 0 ||
		    mtcp_register_callback(c->mctx, c->sock, MOS_ON_CONN_END, MOS_HK_SND, acct_on_end) < 0 ||
		    mtcp_register_callback(c->mctx, c->sock, MOS_ON_ORPHAN, MOS_NULL, acct_on_orphan) < 0) {
			fprintf(stderr, "acct: monitor socket set-up: %s\n", strerror(errno));
			return 1;
		}
		if (acct_o.interval_ns) {
			/* Set at set-up, the first timer counts from the first packet;
			 * it re-arms itself on interval boundaries. */
			struct timeval tv = {.tv_sec = (time_t)(acct_o.interval_ns / 1000000000u),
			                     .tv_usec = (suseconds_t)(acct_o.interval_ns % 1000000000u / 1000u)};
			if (mtcp_settimer(c->mctx, ACCT_TIMER_ID, &tv, acct_on_timer) < 0) {
				fprintf(stderr, "acct: mtcp_settimer: %s\n", strerror(errno));
				return 1;
			}
		}
	}
	for (unsigned i = 0; i < acct_nctx; i++)
		mtcp_app_join(acct_ctx[i].mctx);
	double secs = now_s() - t0;
	acct_finish();
	summary(secs);
	mtcp_destroy();
	for (unsigned i = 0; i < acct_nctx; i++)
		acct_tab_free(&acct_ctx[i].tab);
	acct_subs_free();
	int rc = 0;
	if (fflush(acct_out) != 0 || ferror(acct_out)) {
		fprintf(stderr, "acct: writing %s failed: %s\n", out_path ? out_path : "stdout", strerror(errno));
		rc = 1;
	}
	if (out_path)
		fclose(acct_out);
	return rc;
}
