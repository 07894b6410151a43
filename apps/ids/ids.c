/* ids — a signature IDS/IPS over reassembled TCP streams, written only
 * against mospipe's public API (mos_api.h, mtcp_api.h, mospipe_ext.h).
 *
 * Suricata/Snort rules (-S) are compiled into one Hyperscan database per
 * direction (engine.c). Each flow side gets a Hyperscan stream, fed at
 * MOS_ON_CONN_NEW_DATA with the side's new in-order bytes (mtcp_peek), so a
 * pattern is found once whatever segments, retransmissions or overlaps
 * carried it: the stack hands every stream byte to the application once, as
 * the receiver's TCP (Linux by default) would. Alerts are EVE JSON lines in
 * DIR/eve.json (-l). Inline (-m inline), a drop rule drops the packet that
 * completed the match (mtcp_setlastpkt MOS_DROP) and resets the flow
 * (mtcp_reset_conn); in monitor mode it alerts with action "allowed", as
 * Suricata does in IDS mode.
 *
 * Threads: each app context (one per app-stage instance) has its own
 * Hyperscan scratch, peek buffer and counters (struct ctx_state); a flow's
 * callbacks run on one context only. eve.json is shared: every line is built
 * in a local buffer and written with one fwrite (stdio locks per call).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mos_api.h>
#include <mospipe_ext.h>
#include <mtcp_api.h>

#include "engine.h"
#include "eve.h"
#include "rules.h"

#define MAX_CTX 64
#define MAX_RULE_FILES 64
#define PEEK_BUF 65536

struct ctx_state {
	struct ids_thread *th;
	uint64_t flows, blocked, drop_failed, peek_errors, last_ns;
	char buf[PEEK_BUF];
} __attribute__((aligned(64)));

struct flow {
	struct ids_side *side[2]; /* by enum ids_dir */
	uint8_t blocked, established;
	struct eve_flow ef;
};

/* uctx of a flow whose CONN_END was handled. mOS makes CONN_END a flow's last
 * event, but mospipe may still deliver one after it (e.g. NEW_DATA for a
 * segment that follows a RST, corpus rst-inject-rae.pcap): such events must
 * not start a new state that no CONN_END would free. Static: never freed. */
static char flow_ended;

/* What the alert callback needs about the event being handled. */
struct alert_ctx {
	struct ctx_state *c;
	struct flow *f;
	mctx_t mctx;
	int sock, side; /* the callback's socket and side (for mtcp_setlastpkt) */
	enum ids_dir dir;
};

static struct {
	struct ids_rules rs;
	struct ids_engine *eng;
	FILE *eve;
	int live;
	struct ctx_state *cs;
	unsigned n_ctx;
	volatile sig_atomic_t sig;
} g;

/* ---- alerts -------------------------------------------------------------------------- */

static uint64_t event_ns(struct ctx_state *c, mctx_t mctx)
{
	uint64_t ns;
	if (mospipe_event_time(mctx, &ns) < 0)
		ns = c->last_ns;
	if (ns > c->last_ns)
		c->last_ns = ns;
	return ns;
}

static void eve_write(const char *line, size_t n)
{
	/* One call per line: stdio serialises calls on a FILE, so lines from
	 * different contexts never interleave. */
	fwrite(line, 1, n, g.eve);
	if (g.live)
		fflush(g.eve);
}

static int on_alert(void *vctx, const struct ids_rule *r, uint64_t end)
{
	struct alert_ctx *a = vctx;
	int blocked = 0;
	(void)end;
	if (r->action == IDS_DROP) {
		/* The packet being handled delivered the last byte of the match
		 * (or the flow is ending): drop it and reset both ends. In monitor
		 * mode both calls fail with ENOTSUP and the alert says "allowed". */
		if (mtcp_setlastpkt(a->mctx, a->sock, a->side, 0, NULL, 0, MOS_DROP) == 0) {
			blocked = 1;
			if (mtcp_reset_conn(a->mctx, a->sock) < 0)
				a->c->drop_failed++;
		} else if (errno != ENOTSUP) {
			a->c->drop_failed++; /* no packet (idle timeout, end of input) */
		}
	}
	char line[EVE_LINE_MAX];
	size_t n = eve_alert(line, sizeof(line), event_ns(a->c, a->mctx), &a->f->ef, a->dir, r, blocked);
	eve_write(line, n);
	if (blocked) {
		a->f->blocked = 1;
		a->c->blocked++;
	}
	return blocked;
}

/* ---- flows ---------------------------------------------------------------------------- */

static enum ids_dir dir_of_side(int side)
{
	/* A side's receive buffer holds what the other side sends: the server
	 * receives the to_server stream. */
	return side == MOS_SIDE_SVR ? IDS_TO_SERVER : IDS_TO_CLIENT;
}

static void tuple_of(const struct flow *f, enum ids_dir d, struct ids_tuple *t)
{
	const struct eve_flow *e = &f->ef;
	t->v6 = e->v6;
	memcpy(t->src, d == IDS_TO_SERVER ? e->cli : e->svr, 16);
	memcpy(t->dst, d == IDS_TO_SERVER ? e->svr : e->cli, 16);
	t->sport = d == IDS_TO_SERVER ? e->cport : e->sport;
	t->dport = d == IDS_TO_SERVER ? e->sport : e->cport;
}

static void addr_of(const struct sockaddr *sa, uint8_t *ip, uint16_t *port, uint8_t *v6)
{
	memset(ip, 0, 16);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(ip, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
		*v6 = 1;
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memcpy(ip, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		*v6 = 0;
	}
}

static int both_established(mctx_t mctx, int sock)
{
	int st[2];
	socklen_t l = sizeof(int);
	for (int s = 0; s < 2; s++) {
		l = sizeof(int);
		if (mtcp_getsockopt(mctx, sock, SOL_MONSOCKET, s ? MOS_TCP_STATE_SVR : MOS_TCP_STATE_CLI, &st[s], &l) <
		    0)
			return 0;
		if (st[s] < TCP_ST_ESTABLISHED)
			return 0;
	}
	return 1;
}

/* The flow's state, made at its first event: both sides opened now, so that
 * a direction no rule applies to stops being buffered before its data. */
static struct flow *flow_get(struct ctx_state *c, mctx_t mctx, int sock)
{
	struct flow *f = mtcp_get_uctx(mctx, sock);
	if (f)
		return (void *)f == &flow_ended ? NULL : f;
	struct sockaddr_in6 sa[2];
	socklen_t al = sizeof(sa);
	if (mtcp_getpeername(mctx, sock, (struct sockaddr *)sa, &al, MOS_SIDE_BOTH) < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	unsigned one = al / 2;
	addr_of((const struct sockaddr *)sa, f->ef.cli, &f->ef.cport, &f->ef.v6);
	addr_of((const struct sockaddr *)((const char *)sa + one), f->ef.svr, &f->ef.sport, &f->ef.v6);
	f->ef.start_ns = event_ns(c, mctx);
	f->ef.id = eve_flow_id(&f->ef);
	f->established = (uint8_t)both_established(mctx, sock);
	for (int d = 0; d < 2; d++) {
		struct ids_tuple t;
		tuple_of(f, (enum ids_dir)d, &t);
		f->side[d] = ids_side_open(g.eng, c->th, (enum ids_dir)d, &t, f->established);
		if (!f->side[d]) {
			/* Nothing to look for in these bytes: no buffer for them. */
			int zero = 0;
			mtcp_setsockopt(mctx, sock, SOL_MONSOCKET, d == IDS_TO_SERVER ? MOS_SVRBUF : MOS_CLIBUF, &zero,
			                sizeof(zero));
		}
	}
	mtcp_set_uctx(mctx, sock, f);
	c->flows++;
	return f;
}

/* Scans what side `side` received since the last call. */
static void inspect(struct ctx_state *c, struct flow *f, mctx_t mctx, int sock, int side)
{
	enum ids_dir d = dir_of_side(side);
	struct ids_side *s = f->side[d];
	if (!s || f->blocked)
		return;
	if (!f->established && both_established(mctx, sock)) {
		f->established = 1;
		for (int k = 0; k < 2; k++)
			if (f->side[k])
				ids_side_set_established(f->side[k]);
	}
	struct alert_ctx a = {.c = c, .f = f, .mctx = mctx, .sock = sock, .side = side, .dir = d};
	for (;;) {
		ssize_t n = mtcp_peek(mctx, sock, side, c->buf, sizeof(c->buf));
		if (n > 0) {
			if (ids_side_scan(g.eng, c->th, s, (const uint8_t *)c->buf, (size_t)n, on_alert, &a))
				return;
		} else if (n == 0) {
			return;
		} else if (errno == ENODATA) {
			ids_side_gap(g.eng, c->th, s, (uint64_t)-n); /* bytes the stack never got */
		} else {
			c->peek_errors++;
			return;
		}
	}
}

static void on_start(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side, (void)ev, (void)arg;
	flow_get(&g.cs[mctx->cpu], mctx, sock);
}

static void on_data(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev, (void)arg;
	struct ctx_state *c = &g.cs[mctx->cpu];
	struct flow *f = flow_get(c, mctx, sock);
	if (f)
		inspect(c, f, mctx, sock, side);
}

static void on_end(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev, (void)arg;
	struct ctx_state *c = &g.cs[mctx->cpu];
	struct flow *f = mtcp_get_uctx(mctx, sock);
	if (!f || (void *)f == &flow_ended) {
		/* the other side's CONN_END already closed it, or nothing began */
		mtcp_set_uctx(mctx, sock, &flow_ended);
		return;
	}
	for (int s = MOS_SIDE_CLI; s <= MOS_SIDE_SVR; s++)
		inspect(c, f, mctx, sock, s); /* bytes that came with the last packets */
	for (int d = 0; d < 2; d++) {
		/* End of stream: matches anchored at the end ($) now. */
		struct alert_ctx a = {.c = c, .f = f, .mctx = mctx, .sock = sock, .side = side, .dir = (enum ids_dir)d};
		ids_side_close(g.eng, c->th, f->side[d], f->blocked ? NULL : on_alert, &a);
		f->side[d] = NULL;
	}
	free(f);
	mtcp_set_uctx(mctx, sock, &flow_ended);
}

/* ---- command line ---------------------------------------------------------------------- */

static void usage(FILE *o)
{
	fprintf(o,
	        "usage: ids -S RULES [-S RULES...] (-r FILE | -i IF[,IF] | -c pipeline.conf) [-l DIR] [options]\n"
	        "Signature IDS/IPS over reassembled TCP streams: Suricata/Snort rules, Hyperscan, EVE JSON alerts.\n\n"
	        "  -S, --rules FILE         rules file (repeatable); rules it cannot honour are reported and skipped\n"
	        "  -l, --log-dir DIR        write alerts to DIR/eve.json, appending (default: .)\n"
	        "  -T, --test               load and compile the rules, report, exit (0: some rules loaded)\n"
	        "      --strict             exit 2 if any rule is skipped\n"
	        "      --var NAME=VALUE     define a rule variable, e.g. --var HOME_NET=[10.0.0.0/8]\n"
	        "      --classification F   classification.config for classtype (category, severity)\n"
	        "  -h, --help               this text (see also: man ids)\n\n"
	        "mospipe's options (every mospipe tool has them):\n"
	        "  -r, --read FILE[,FILE]   offline: read pcap files on packet time\n"
	        "  -i, --iface IF[,IF]      live: monitor interfaces, or bridge two with -m inline\n"
	        "  -c, --conf FILE          pipeline.conf (lcores, buffers, timeouts, ...)\n"
	        "  -m, --mode MODE          monitor (default) or inline: drop rules drop and reset (IPS)\n"
	        "  -s, --set SEC.KEY=VAL    any pipeline.conf key, e.g. --set tcp.checksum=ignore\n"
	        "  -C, --checksum MODE      tcp.checksum: verify (default) or ignore\n"
	        "      --lcores MAP         lcore mapping (replaces [lcores])\n\n"
	        "Exit status: 0 done, 1 runtime failure, 2 bad arguments, unreadable files, or no rule loaded.\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "ids: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see ids --help)\n");
	return 2;
}

/* Every file of a "pcap:A,B" input must be readable; interfaces must exist. */
static int check_input(void)
{
	const char *in = getenv("MOSPIPE_INPUT");
	/* Anything but a capture is live: eve.json is flushed line by line. */
	g.live = !in || strncmp(in, "pcap:", 5) != 0;
	if (!in)
		return 0;
	int pcap = !strncmp(in, "pcap:", 5), iface = !strncmp(in, "iface:", 6);
	if (!pcap && !iface)
		return 0;
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", in + (pcap ? 5 : 6));
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (pcap) {
			FILE *f = fopen(t, "rb");
			if (!f) {
				fprintf(stderr, "ids: cannot read capture '%s': %s\n", t, strerror(errno));
				return -1;
			}
			fclose(f);
		} else {
			char p[300];
			snprintf(p, sizeof(p), "/sys/class/net/%s", t);
			if (access(p, F_OK) != 0) {
				fprintf(stderr, "ids: interface '%s' does not exist (see `ip link`)\n", t);
				return -1;
			}
		}
	}
	return 0;
}

static void on_sig(int s)
{
	g.sig = s;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"rules", required_argument, 0, 'S'}, {"log-dir", required_argument, 0, 'l'},
	    {"test", no_argument, 0, 'T'},        {"strict", no_argument, 0, 1},
	    {"var", required_argument, 0, 2},     {"classification", required_argument, 0, 3},
	    {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
	};
	const char *conf = NULL, *rule_files[MAX_RULE_FILES], *logdir = ".", *cls = NULL;
	unsigned n_rule_files = 0;
	int test = 0, strict = 0, o;

	ids_rules_init(&g.rs, stderr);
	if (mospipe_args(&argc, argv, "l", &conf) < 0)
		return 2;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":S:l:Th", lo, NULL)) != -1) {
		switch (o) {
		case 'S':
			if (n_rule_files == MAX_RULE_FILES)
				return bad("more than %s rules files", "64");
			rule_files[n_rule_files++] = optarg;
			break;
		case 'l': logdir = optarg; break;
		case 'T': test = 1; break;
		case 1: strict = 1; break;
		case 2:
			if (ids_rules_set_var(&g.rs, optarg) < 0)
				return 2;
			break;
		case 3: cls = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': return bad("option %s needs a value", argv[optind - 1]);
		default: return bad("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!n_rule_files)
		return bad("%s", "no rules: give -S RULES");
	if (cls && ids_rules_load_classification(&g.rs, cls) < 0)
		return 2;
	for (unsigned i = 0; i < n_rule_files; i++)
		if (ids_rules_load(&g.rs, rule_files[i]) < 0)
			return 2;
	if (!g.rs.n_rule) {
		fprintf(stderr, "ids: no rule loaded (%u skipped)\n", g.rs.n_skipped);
		return 2;
	}
	g.eng = ids_engine_new(&g.rs);
	if (!g.eng) {
		if (!g.rs.n_rule)
			fprintf(stderr, "ids: no rule loaded (%u skipped)\n", g.rs.n_skipped);
		return 2;
	}
	fprintf(stderr,
	        "ids: %u rules loaded, %u skipped; Hyperscan: %u to_server and %u to_client patterns, %zu + %zu bytes "
	        "of stream state per flow\n",
	        g.rs.n_rule, g.rs.n_skipped, ids_engine_patterns(g.eng, IDS_TO_SERVER),
	        ids_engine_patterns(g.eng, IDS_TO_CLIENT), ids_engine_stream_size(g.eng, IDS_TO_SERVER),
	        ids_engine_stream_size(g.eng, IDS_TO_CLIENT));
	if (strict && g.rs.n_skipped) {
		fprintf(stderr, "ids: --strict: %u rules skipped\n", g.rs.n_skipped);
		return 2;
	}
	if (test)
		return 0;

	if (!getenv("MOSPIPE_INPUT") && !conf)
		return bad("%s", "nothing to inspect: give -r FILE, -i IF[,IF] or -c pipeline.conf");
	if (check_input() < 0)
		return 2;
	struct stat st;
	if (stat(logdir, &st) < 0 || !S_ISDIR(st.st_mode))
		return bad("log directory '%s' does not exist (create it, or give another -l)", logdir);
	char path[4096];
	snprintf(path, sizeof(path), "%s/eve.json", logdir);
	g.eve = fopen(path, "a");
	if (!g.eve) {
		fprintf(stderr, "ids: cannot open %s: %s\n", path, strerror(errno));
		return 2;
	}

	if (mtcp_init(conf) < 0) {
		fprintf(stderr, "ids: the stack did not start: %s (see the line above)\n", strerror(errno));
		return 2;
	}
	struct mtcp_conf mc;
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1 || mc.num_cores > MAX_CTX) {
		fprintf(stderr, "ids: the pipeline has %d app instances (1..%d supported)\n", mc.num_cores, MAX_CTX);
		return 1;
	}
	g.n_ctx = (unsigned)mc.num_cores;
	g.cs = aligned_alloc(64, g.n_ctx * sizeof(*g.cs));
	if (!g.cs) {
		fprintf(stderr, "ids: out of memory\n");
		return 1;
	}
	memset(g.cs, 0, g.n_ctx * sizeof(*g.cs));
	mctx_t ctx[MAX_CTX];
	if (mtcp_register_signal(SIGINT, on_sig) != on_sig || mtcp_register_signal(SIGTERM, on_sig) != on_sig) {
		fprintf(stderr, "ids: cannot install signal handlers\n");
		return 1;
	}
	double t0 = now_s();
	for (unsigned i = 0; i < g.n_ctx; i++) {
		g.cs[i].th = ids_thread_new(g.eng);
		ctx[i] = g.cs[i].th ? mtcp_create_context((int)i) : NULL;
		int s = ctx[i] ? mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
		int zero = 0, ok = s >= 0;
		/* A direction no rule looks at is never buffered. */
		for (int d = 0; ok && d < 2; d++)
			if (!ids_engine_dir_used(g.eng, (enum ids_dir)d))
				ok = mtcp_setsockopt(ctx[i], s, SOL_MONSOCKET,
				                     d == IDS_TO_SERVER ? MOS_SVRBUF : MOS_CLIBUF, &zero,
				                     sizeof(zero)) == 0;
		if (!ok || mtcp_register_callback(ctx[i], s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
		    mtcp_register_callback(ctx[i], s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
		    mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
			fprintf(stderr, "ids: setting up app context %u failed: %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (unsigned i = 0; i < g.n_ctx; i++)
		mtcp_app_join(ctx[i]);
	double up = now_s() - t0;

	struct ids_counters tot;
	memset(&tot, 0, sizeof(tot));
	uint64_t flows = 0, blocked = 0, drop_failed = 0, peek_errors = 0, last = 0;
	for (unsigned i = 0; i < g.n_ctx; i++) {
		const struct ids_counters *c = ids_thread_counters(g.cs[i].th);
		const uint64_t *a = (const uint64_t *)c;
		uint64_t *b = (uint64_t *)&tot;
		for (size_t k = 0; k < sizeof(tot) / sizeof(uint64_t); k++)
			b[k] += a[k];
		flows += g.cs[i].flows;
		blocked += g.cs[i].blocked;
		drop_failed += g.cs[i].drop_failed;
		peek_errors += g.cs[i].peek_errors;
		if (g.cs[i].last_ns > last)
			last = g.cs[i].last_ns;
	}
	char line[EVE_LINE_MAX];
	size_t n = eve_stats(line, sizeof(line), last, up, &tot, flows, blocked, g.rs.n_rule, g.rs.n_skipped, g.n_ctx);
	eve_write(line, n);
	int werr = fflush(g.eve) != 0 || ferror(g.eve);
	fclose(g.eve);
	fprintf(stderr,
	        "ids: %llu flows, %llu sides inspected (%llu skipped), %llu bytes scanned, %llu gaps (%llu bytes), "
	        "%llu alerts (%llu blocked) in %.3f s%s\n",
	        (unsigned long long)flows, (unsigned long long)tot.sides, (unsigned long long)tot.sides_skipped,
	        (unsigned long long)tot.bytes, (unsigned long long)tot.gaps, (unsigned long long)tot.gap_bytes,
	        (unsigned long long)tot.alerts, (unsigned long long)blocked, up, g.sig ? " (stopped by a signal)" : "");
	if (tot.state_full || tot.inexact || tot.anchored_after_gap || tot.match_overflow || tot.hs_errors ||
	    drop_failed || peek_errors)
		fprintf(stderr,
		        "ids: not exact: state_full %llu, inexact %llu, anchored_after_gap %llu, match_overflow %llu, "
		        "hs_errors %llu, drop_failed %llu, peek_errors %llu\n",
		        (unsigned long long)tot.state_full, (unsigned long long)tot.inexact,
		        (unsigned long long)tot.anchored_after_gap, (unsigned long long)tot.match_overflow,
		        (unsigned long long)tot.hs_errors, (unsigned long long)drop_failed,
		        (unsigned long long)peek_errors);
	for (unsigned i = 0; i < g.n_ctx; i++)
		mtcp_destroy_context(ctx[i]);
	mtcp_destroy();
	for (unsigned i = 0; i < g.n_ctx; i++)
		ids_thread_free(g.cs[i].th);
	free(g.cs);
	ids_engine_free(g.eng);
	ids_rules_free(&g.rs);
	if (werr) {
		fprintf(stderr, "ids: writing %s failed\n", path);
		return 1;
	}
	return 0;
}
