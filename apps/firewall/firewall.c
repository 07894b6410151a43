/* firewall: a stateful inline firewall on the mOS API (firewall.1).
 *
 * This file is the control side: the command line, the stack's start and
 * end, the reporter thread (per-rule counters as JSON lines every interval,
 * at each reload and at exit) and rule reloads on SIGHUP. The verdicts are
 * given by the callbacks in dp.c; rules.c parses and matches.
 *
 * SIGHUP is handled with sigaction here, not mtcp_register_signal() (which
 * stops the pipeline for every signal it registers): the handler only sets a
 * flag, the reporter thread loads the file and swaps the rule set (the
 * contract is in firewall.h). SIGINT/SIGTERM keep the stack's own handling:
 * the pipeline drains and mtcp_app_join() returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mos_api.h"
#include "mospipe_ext.h"
#include "mtcp_api.h"

#include "firewall.h"

static const char usage[] =
    "usage: firewall -R RULES (-r PCAP | -i IF,IF -m inline) [-o FILE] [-I SECS] [mospipe options]\n"
    "       firewall -R RULES --check [--eval 'PROTO SRC [SPORT] -> DST [DPORT] [STATE]']...\n"
    "\n"
    "A stateful firewall on the mospipe stack: inline (-i A,B -m inline) it forwards between two\n"
    "interfaces what its rules allow; offline (-r) it counts what they would do.\n"
    "\n"
    "  -R, --rules FILE     the rules (first match wins; see firewall(1)); reloaded on SIGHUP\n"
    "  -o, --output FILE    JSON lines: counters per rule (default: stdout)\n"
    "  -I, --interval SECS  counters every SECS seconds of wall time (default 10; 0: only at\n"
    "                       reloads and at exit)\n"
    "      --check          parse RULES, print them as JSON lines and exit (0 valid, 2 not)\n"
    "      --eval TUPLE     with --check: which rule decides this packet, e.g.\n"
    "                       --eval 'tcp 10.0.0.1 40000 -> 10.0.0.2 80 new'\n"
    "  -h, --help           this text\n"
    "\n"
    "mospipe options: -r FILE, -i IF[,IF], -m monitor|inline, -c pipeline.conf, --set SEC.KEY=VAL,\n"
    "  -l LCORE-MAP, -w OUT.pcap, -C verify|ignore, --flow-log FILE, --counters-json FILE.\n"
    "The firewall sets tcp.midstream=no (packets of connections it did not see open are out of\n"
    "state); --set tcp.midstream=yes lets `established` rules admit them.\n"
    "Exit status: 0 ok, 1 the stack failed at run time, 2 bad arguments, rules or files.\n";

static struct {
	const char *rules, *output;
	double interval;
	int check;
	const char *eval[64];
	int n_eval;
} opt = {.interval = 10};

static FILE *out;
static unsigned n_ctx = 1;
/* Set by the SIGHUP handler, on whatever thread the signal lands, taken by
 * the reporter: a lock-free atomic (async-signal-safe; sig_atomic_t alone
 * says nothing across threads). */
static int got_hup;
static int stop_reporter; /* atomics: main sets, reporter reads */

static void die2(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die2(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "firewall: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(2);
}

static double wall_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Error exits (die2, a stack that did not start) free the rules too: the
 * sanitizer runs count every leak. No callback runs before mtcp_app_join()
 * nor after it returned. */
static void free_rules(void)
{
	fw_rules_free(fw_cur);
	fw_cur = NULL;
}

static void on_hup(int sig)
{
	int e = errno;
	(void)sig;
	__atomic_store_n(&got_hup, 1, __ATOMIC_RELEASE);
	errno = e;
}

/* ---- reports --------------------------------------------------------------- */

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static struct fw_ctr sum_ctr(const struct fw_ruleset *rs, unsigned i)
{
	struct fw_ctr s = {0, 0, 0};
	for (unsigned j = 0; j < rs->n_ctx; j++) {
		const struct fw_ctr *k = &rs->ctr[(size_t)j * rs->stride + i];
		s.conns += ld(&k->conns);
		s.pkts += ld(&k->pkts);
		s.bytes += ld(&k->bytes);
	}
	return s;
}

static void put_ctr(FILE *o, struct fw_ctr s)
{
	fprintf(o, "\"conns\":%llu,\"pkts\":%llu,\"bytes\":%llu", (unsigned long long)s.conns,
	        (unsigned long long)s.pkts, (unsigned long long)s.bytes);
}

static void put_str(FILE *o, const char *s)
{
	char buf[2 * FW_LINE_MAX + 64];
	fw_json_str(buf, sizeof(buf), s);
	fputs(buf, o);
}

/* "gen":..,"default":{..},"rules":[..],"kept":{..} of one rule set. */
static void put_ruleset(FILE *o, const struct fw_ruleset *rs)
{
	fprintf(o, "\"gen\":%u,\"default\":{\"action\":\"%s\",\"line\":%u,", rs->gen, fw_action_name(rs->def_action),
	        rs->def_line);
	put_ctr(o, sum_ctr(rs, FW_CTR_DEFAULT(rs)));
	fprintf(o, "},\"rules\":[");
	for (unsigned i = 0; i < rs->n; i++) {
		const struct fw_rule *r = &rs->r[i];
		fprintf(o, "%s{\"rule\":%u,\"line\":%u,\"action\":\"%s\",\"text\":", i ? "," : "", i + 1, r->line,
		        fw_action_name(r->action));
		put_str(o, r->text);
		fputc(',', o);
		put_ctr(o, sum_ctr(rs, i));
		fputc('}', o);
	}
	struct fw_ctr k = sum_ctr(rs, FW_CTR_KEPT(rs));
	fprintf(o, "],\"kept\":{\"pkts\":%llu,\"bytes\":%llu}", (unsigned long long)k.pkts,
	        (unsigned long long)k.bytes);
}

/* The counters of the contexts (since start, across reloads). */
static void put_global(FILE *o)
{
	uint64_t inv[FW_INV_N] = {0}, non_ip = 0, ndp = 0, rst = 0, resets = 0, errors = 0, reasm = 0;
	int enf = -1;
	for (unsigned j = 0; j < n_ctx; j++) {
		const struct fw_ctx *c = &fw_ctx[j];
		for (int k = 0; k < FW_INV_N; k++)
			inv[k] += ld(&c->invalid[k]);
		non_ip += ld(&c->non_ip);
		ndp += ld(&c->ndp);
		rst += ld(&c->rst_sent);
		resets += ld(&c->conn_resets);
		errors += ld(&c->errors);
		reasm += ld(&c->reassembled);
		int e = __atomic_load_n(&c->enforced, __ATOMIC_RELAXED);
		if (e > enf)
			enf = e;
	}
	fprintf(o, ",\"invalid\":{");
	for (int k = 0; k < FW_INV_N; k++)
		fprintf(o, "%s\"%s\":%llu", k ? "," : "", fw_invalid_name[k], (unsigned long long)inv[k]);
	fprintf(o,
	        "},\"passed\":{\"non_ip\":%llu,\"ndp\":%llu},\"reassembled\":%llu,\"rst_sent\":%llu,"
	        "\"conn_resets\":%llu,\"errors\":%llu,\"enforced\":%s",
	        (unsigned long long)non_ip, (unsigned long long)ndp, (unsigned long long)reasm, (unsigned long long)rst,
	        (unsigned long long)resets, (unsigned long long)errors,
	        enf < 0 ? "null"
	        : enf   ? "true"
	                : "false");
}

static void report(const char *event, double seconds)
{
	const struct fw_ruleset *rs = __atomic_load_n(&fw_cur, __ATOMIC_ACQUIRE);
	fprintf(out, "{\"event\":\"%s\",\"time\":%.3f,", event, wall_now());
	if (seconds >= 0)
		fprintf(out, "\"seconds\":%.6f,", seconds);
	put_ruleset(out, rs);
	put_global(out);
	fprintf(out, "}\n");
	fflush(out);
}

/* ---- reload -------------------------------------------------------------- */

/* Waits until no callback can still use the rule set that was in force
 * before the last store to fw_cur (firewall.h). */
static void grace(void)
{
	for (unsigned j = 0; j < n_ctx; j++) {
		uint64_t s = __atomic_load_n(&fw_ctx[j].seq, __ATOMIC_SEQ_CST);
		if (!(s & 1))
			continue;
		while (__atomic_load_n(&fw_ctx[j].seq, __ATOMIC_ACQUIRE) == s) {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
	}
}

static void reload(void)
{
	char err[1024];
	struct fw_ruleset *old = fw_cur;
	struct fw_ruleset *nr = fw_rules_load(opt.rules, n_ctx, err, sizeof(err));
	fprintf(out, "{\"event\":\"reload\",\"time\":%.3f,", wall_now());
	if (!nr) {
		fprintf(stderr, "firewall: reload refused, the rules of generation %u stay in force: %s\n", old->gen,
		        err);
		fprintf(out, "\"ok\":false,\"gen\":%u,\"error\":", old->gen);
		put_str(out, err);
		fprintf(out, "}\n");
		fflush(out);
		return;
	}
	nr->gen = old->gen + 1;
	__atomic_store_n(&fw_cur, nr, __ATOMIC_SEQ_CST);
	grace();
	/* Nothing counts into the old set any more: its counters are final. */
	fprintf(out, "\"ok\":true,\"gen\":%u,\"rules\":%u,\"previous\":{", nr->gen, nr->n);
	put_ruleset(out, old);
	fprintf(out, "}}\n");
	fflush(out);
	fprintf(stderr, "firewall: reloaded %s: generation %u, %u rules, default %s\n", opt.rules, nr->gen, nr->n,
	        fw_action_name(nr->def_action));
	fw_rules_free(old);
}

static void *reporter(void *arg)
{
	(void)arg;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double next = opt.interval;
	while (!__atomic_load_n(&stop_reporter, __ATOMIC_ACQUIRE)) {
		struct timespec ts = {0, 50 * 1000 * 1000}, now;
		nanosleep(&ts, NULL);
		if (__atomic_exchange_n(&got_hup, 0, __ATOMIC_ACQUIRE))
			reload();
		clock_gettime(CLOCK_MONOTONIC, &now);
		double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9;
		if (opt.interval > 0 && el >= next) {
			report("stats", -1);
			while (next <= el)
				next += opt.interval;
		}
	}
	return NULL;
}

/* ---- command line -------------------------------------------------------------- */

static void parse_own(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"rules", required_argument, NULL, 'R'},
	    {"output", required_argument, NULL, 'o'},
	    {"interval", required_argument, NULL, 'I'},
	    {"check", no_argument, NULL, 'k'},
	    {"eval", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":R:o:I:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'R': opt.rules = optarg; break;
		case 'o': opt.output = optarg; break;
		case 'I': {
			char *end;
			errno = 0;
			opt.interval = strtod(optarg, &end);
			if (*end || errno || !(opt.interval >= 0) || opt.interval > 86400)
				die2("bad interval '%s' (seconds, 0 to 86400; 0 = only at reloads and exit)", optarg);
			break;
		}
		case 'k': opt.check = 1; break;
		case 'e':
			if (opt.n_eval == 64)
				die2("at most 64 --eval options");
			opt.eval[opt.n_eval++] = optarg;
			break;
		case 'h': fputs(usage, stdout); exit(0);
		case ':': die2("option %s needs a value (see firewall --help)", argv[optind - 1]);
		default: {
			char o[3] = {'-', (char)optopt, 0};
			die2("unknown option '%s' (see firewall --help)", optopt ? o : argv[optind - 1]);
		}
		}
	}
	if (optind < argc)
		die2("unexpected argument '%s' (see firewall --help)", argv[optind]);
	if (!opt.rules)
		die2("no rules: give -R FILE (see firewall --help)");
	if (opt.n_eval && !opt.check)
		die2("--eval goes with --check");
}

static int check_mode(struct fw_ruleset *rs)
{
	/* A rule's JSON is at most about 4x its line ("::," becomes
	 * "\"::/128\","), plus the line itself as text. */
	static char buf[8 * FW_LINE_MAX];
	for (unsigned i = 0; i < rs->n; i++) {
		if (fw_rule_json(&rs->r[i], i, buf, sizeof(buf)) < 0) {
			fprintf(stderr, "firewall: %s:%u: the rule is too long to print as JSON\n", opt.rules,
			        rs->r[i].line);
			return 1;
		}
		printf("%s\n", buf);
	}
	printf("{\"rules_file\":");
	put_str(stdout, opt.rules);
	printf(",\"rules\":%u,\"default\":\"%s\",\"default_line\":%u}\n", rs->n, fw_action_name(rs->def_action),
	       rs->def_line);
	for (int k = 0; k < opt.n_eval; k++) {
		struct fw_tuple t;
		unsigned st;
		char err[512];
		if (fw_parse_tuple(opt.eval[k], &t, &st, err, sizeof(err)) < 0)
			die2("--eval '%s': %s", opt.eval[k], err);
		int r = fw_match(rs, &t, st);
		printf("{\"eval\":");
		put_str(stdout, opt.eval[k]);
		if (r < 0)
			printf(",\"rule\":null,\"line\":%u,\"action\":\"%s\",\"by\":\"default\"}\n", rs->def_line,
			       fw_action_name(rs->def_action));
		else
			printf(",\"rule\":%d,\"line\":%u,\"action\":\"%s\",\"by\":\"rule\"}\n", r + 1, rs->r[r].line,
			       fw_action_name(rs->r[r].action));
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	char err[1024];
	static char set[8192];

	/* First: a SIGHUP during the stack's start (seconds under a sanitizer)
	 * must not kill the firewall; it is acted on once the reporter runs. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);

	/* Out-of-state packets are dropped only if the stack does not adopt
	 * connections it never saw open: midstream off, unless the user's
	 * --set (applied after this) says otherwise. */
	const char *env = getenv("MOSPIPE_SET");
	snprintf(set, sizeof(set), "tcp.midstream=no%s%s", env && *env ? ";" : "", env ? env : "");
	setenv("MOSPIPE_SET", set, 1);
	if (mospipe_args(&argc, argv, NULL, &conf) < 0)
		return 2;
	parse_own(argc, argv);

	struct fw_ruleset *rs = fw_rules_load(opt.rules, 1, err, sizeof(err));
	if (!rs) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	fw_cur = rs;
	atexit(free_rules);
	if (opt.check)
		return check_mode(rs);
	if (!getenv("MOSPIPE_INPUT") && !conf)
		die2("no input: give -r FILE, or -i IF,IF with -m inline (see firewall --help)");
	out = stdout;
	if (opt.output && !(out = fopen(opt.output, "w")))
		die2("%s: %s", opt.output, strerror(errno));

	if (mtcp_init(conf) < 0) {
		int e = errno;
		fprintf(stderr, "firewall: the stack did not start: %s\n", strerror(e));
		return e == ENOENT || e == EINVAL || e == ENODEV ? 2 : 1;
	}
	struct mtcp_conf mc;
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1) {
		fprintf(stderr, "firewall: mtcp_getconf: %s\n", strerror(errno));
		return 1;
	}
	if (mc.num_cores > FW_MAX_CTX) {
		fprintf(stderr, "firewall: %d app instances configured, at most %d supported\n", mc.num_cores,
		        FW_MAX_CTX);
		return 2;
	}
	n_ctx = (unsigned)mc.num_cores;
	if (fw_rules_counters(rs, n_ctx) < 0) {
		fprintf(stderr, "firewall: out of memory for the counters\n");
		return 1;
	}

	mctx_t ctx[FW_MAX_CTX];
	for (unsigned i = 0; i < n_ctx; i++) {
		ctx[i] = mtcp_create_context((int)i);
		if (!ctx[i] || fw_dp_setup(ctx[i]) < 0) {
			fprintf(stderr, "firewall: setting up context %u: %s\n", i, strerror(errno));
			return 1;
		}
	}
	fprintf(out, "{\"event\":\"start\",\"time\":%.3f,\"rules_file\":", wall_now());
	put_str(out, opt.rules);
	fprintf(out, ",\"gen\":%u,\"rules\":%u,\"default\":\"%s\",\"contexts\":%u,\"pid\":%d}\n", rs->gen, rs->n,
	        fw_action_name(rs->def_action), n_ctx, (int)getpid());
	fflush(out);

	pthread_t th;
	if (pthread_create(&th, NULL, reporter, NULL)) {
		fprintf(stderr, "firewall: cannot start the reporter thread\n");
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < n_ctx; i++)
		mtcp_app_join(ctx[i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__atomic_store_n(&stop_reporter, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	report("final", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
	mtcp_destroy();
	free_rules();
	if (out != stdout)
		fclose(out);
	return 0;
}
