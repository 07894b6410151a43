/* nids_ids: the libnids peer of apps/ids for the bench (bench/tools/ids.py).
 * The same rules and the same matching engine (apps/ids/rules.c, engine.c:
 * Hyperscan databases per direction, one stream per flow side) fed by
 * libnids' reassembly instead of mospipe's, so that the two differ only in
 * how the bytes reach the engine. Checksums are not verified (ids runs with
 * tcp.checksum=ignore next to it).
 *
 *   nids_ids -S RULES [-n STREAMS] [-o ALERTS] FILE.pcap
 *
 * Prints one JSON line: {"tool", "pkts", "flows", "bytes", "alerts",
 * "seconds", "pps"}; seconds is nids_run() alone. With -o, one line per alert
 * "SRC SPORT DST DPORT SID" (the sender of the matching bytes first).
 * Exit status: 0 ok, 2 bad usage, unreadable file or no rule loaded.
 */
#include <arpa/inet.h>
#include <nids.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "rules.h"

static struct ids_rules rs;
static struct ids_engine *eng;
static struct ids_thread *th;
static uint64_t n_pkts, n_flows, n_bytes, n_alerts;
static FILE *alog;

struct conn {
	struct ids_side *side[2]; /* by enum ids_dir */
	struct ids_tuple tu[2];
};

struct actx {
	const struct ids_tuple *tu;
};

static int on_alert(void *c, const struct ids_rule *r, uint64_t end)
{
	const struct ids_tuple *t = ((struct actx *)c)->tu;
	(void)end;
	n_alerts++;
	if (alog) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, t->src, a, sizeof(a));
		inet_ntop(AF_INET, t->dst, b, sizeof(b));
		fprintf(alog, "%s %u %s %u %u\n", a, t->sport, b, t->dport, r->sid);
	}
	return 0;
}

static void on_ip(void *data, int len)
{
	(void)data;
	(void)len;
	n_pkts++;
}

static void close_conn(struct tcp_stream *ts)
{
	struct conn *c = ts->user;
	if (!c)
		return;
	for (int d = 0; d < 2; d++) {
		struct actx a = {&c->tu[d]};
		ids_side_close(eng, th, c->side[d], on_alert, &a);
	}
	free(c);
	ts->user = NULL;
}

static void on_tcp(struct tcp_stream *ts, void **arg)
{
	(void)arg;
	switch (ts->nids_state) {
	case NIDS_JUST_EST: {
		ts->client.collect++;
		ts->server.collect++;
		n_flows++;
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			fprintf(stderr, "nids_ids: out of memory\n");
			exit(1);
		}
		/* tuple4: saddr/source is the client. */
		struct ids_tuple *ts_ = &c->tu[IDS_TO_SERVER], *tc = &c->tu[IDS_TO_CLIENT];
		memcpy(ts_->src, &ts->addr.saddr, 4);
		memcpy(ts_->dst, &ts->addr.daddr, 4);
		ts_->sport = ts->addr.source;
		ts_->dport = ts->addr.dest;
		memcpy(tc->src, &ts->addr.daddr, 4);
		memcpy(tc->dst, &ts->addr.saddr, 4);
		tc->sport = ts->addr.dest;
		tc->dport = ts->addr.source;
		for (int d = 0; d < 2; d++)
			c->side[d] = ids_side_open(eng, th, (enum ids_dir)d, &c->tu[d], 1);
		ts->user = c;
		break;
	}
	case NIDS_DATA: {
		struct conn *c = ts->user;
		/* server.count_new: bytes the client sent (to_server). */
		struct half_stream *h[2] = {&ts->server, &ts->client};
		for (int d = 0; c && d < 2; d++) {
			if (!h[d]->count_new)
				continue;
			n_bytes += (uint64_t)h[d]->count_new;
			struct actx a = {&c->tu[d]};
			if (c->side[d])
				ids_side_scan(eng, th, c->side[d], (const uint8_t *)h[d]->data, (size_t)h[d]->count_new,
				              on_alert, &a);
		}
		break;
	}
	default: close_conn(ts); break;
	}
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int usage(void)
{
	fprintf(stderr, "usage: nids_ids -S RULES [-n STREAMS] [-o ALERTS] FILE.pcap\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *rules = NULL, *out = NULL;
	unsigned streams = 1u << 20;
	int o;
	while ((o = getopt(argc, argv, "S:n:o:h")) != -1) {
		switch (o) {
		case 'S': rules = optarg; break;
		case 'n': streams = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'o': out = optarg; break;
		default: return usage();
		}
	}
	if (!rules || optind + 1 != argc)
		return usage();
	ids_rules_init(&rs, stderr);
	if (ids_rules_load(&rs, rules) < 0)
		return 2;
	eng = rs.n_rule ? ids_engine_new(&rs) : NULL;
	if (!eng) {
		fprintf(stderr, "nids_ids: no rule loaded (%u skipped)\n", rs.n_skipped);
		return 2;
	}
	th = ids_thread_new(eng);
	if (!th) {
		fprintf(stderr, "nids_ids: cannot allocate Hyperscan scratch\n");
		return 2;
	}
	if (out && !(alog = fopen(out, "w"))) {
		perror(out);
		return 2;
	}
	nids_params.filename = argv[optind];
	nids_params.n_tcp_streams = (int)streams;
	nids_params.n_hosts = 4096;
	nids_params.scan_num_hosts = 0;
	nids_params.pcap_filter = NULL;
	static struct nids_chksum_ctl nochk = {0, 0, NIDS_DONT_CHKSUM, 0};
	nids_register_chksum_ctl(&nochk, 1);
	if (!nids_init()) {
		fprintf(stderr, "nids_ids: %s: %s\n", argv[optind], nids_errbuf);
		return 2;
	}
	nids_register_ip(on_ip);
	nids_register_tcp(on_tcp);
	double t0 = now_s();
	nids_run();
	double t = now_s() - t0;
	printf("{\"tool\": \"libnids+ids-engine\", \"pkts\": %llu, \"flows\": %llu, \"bytes\": %llu, \"alerts\": %llu, "
	       "\"seconds\": %.6f, \"pps\": %.0f}\n",
	       (unsigned long long)n_pkts, (unsigned long long)n_flows, (unsigned long long)n_bytes,
	       (unsigned long long)n_alerts, t, t > 0 ? (double)n_pkts / t : 0.0);
	nids_exit();
	if (alog)
		fclose(alog);
	ids_thread_free(th);
	ids_engine_free(eng);
	ids_rules_free(&rs);
	return 0;
}
