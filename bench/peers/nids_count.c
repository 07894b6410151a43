/* nids_count: the libnids peer of bench/run. Reads a pcap with libnids (IP
 * defragmentation, TCP reassembly), counts packets and per-flow bytes of both
 * directions, checksums not verified (mospipe's peer runs with -C ignore).
 * With -p PATTERN (repeatable) it also runs a Hyperscan stream-mode search
 * over each direction's reassembled bytes, as bench/apps/hs_search does over
 * mospipe, and reports the matches.
 *
 * Prints one JSON line: {"tool": "libnids", "pkts", "flows", "bytes",
 * "matches", "seconds", "pps"}; seconds is nids_run() alone.
 * Exit status: 0 ok, 2 bad usage, unreadable file or bad pattern.
 */
#include <hs/hs.h>
#include <nids.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAT 16

static uint64_t n_pkts, n_flows, n_bytes, n_matches;
static hs_database_t *db;
static hs_scratch_t *scratch;

/* Per connection: one Hyperscan stream per direction. */
struct conn {
	hs_stream_t *st[2];
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
	(void)id;
	(void)from;
	(void)to;
	(void)flags;
	(void)ctx;
	n_matches++;
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
	for (int d = 0; d < 2; d++)
		if (c->st[d])
			hs_close_stream(c->st[d], scratch, on_match, NULL);
	free(c);
	ts->user = NULL;
}

static void on_tcp(struct tcp_stream *ts, void **arg)
{
	(void)arg;
	switch (ts->nids_state) {
	case NIDS_JUST_EST:
		ts->client.collect++;
		ts->server.collect++;
		n_flows++;
		if (db) {
			struct conn *c = calloc(1, sizeof(*c));
			if (c && (hs_open_stream(db, 0, &c->st[0]) != HS_SUCCESS ||
			          hs_open_stream(db, 0, &c->st[1]) != HS_SUCCESS)) {
				fprintf(stderr, "nids_count: cannot open a Hyperscan stream\n");
				exit(1);
			}
			ts->user = c;
		}
		break;
	case NIDS_DATA: {
		/* server.count_new: bytes the client sent; client.count_new: the server's. */
		struct half_stream *h[2] = {&ts->server, &ts->client};
		for (int d = 0; d < 2; d++) {
			if (!h[d]->count_new)
				continue;
			n_bytes += (uint64_t)h[d]->count_new;
			struct conn *c = ts->user;
			if (c)
				hs_scan_stream(c->st[d], h[d]->data, (unsigned)h[d]->count_new, 0, scratch, on_match,
				               NULL);
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

int main(int argc, char **argv)
{
	const char *pat[MAX_PAT];
	unsigned npat = 0, streams = 1u << 20;
	int o;

	while ((o = getopt(argc, argv, "p:n:h")) != -1) {
		switch (o) {
		case 'p':
			if (npat == MAX_PAT) {
				fprintf(stderr, "nids_count: at most %d patterns\n", MAX_PAT);
				return 2;
			}
			pat[npat++] = optarg;
			break;
		case 'n': streams = (unsigned)strtoul(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: nids_count [-p LITERAL]... [-n STREAMS] FILE.pcap\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: nids_count [-p LITERAL]... [-n STREAMS] FILE.pcap\n");
		return 2;
	}
	if (npat) {
		unsigned flags[MAX_PAT], ids[MAX_PAT];
		size_t lens[MAX_PAT];
		hs_compile_error_t *ce = NULL;
		for (unsigned i = 0; i < npat; i++) {
			flags[i] = 0;
			ids[i] = i;
			lens[i] = strlen(pat[i]);
		}
		if (hs_compile_lit_multi(pat, flags, ids, lens, npat, HS_MODE_STREAM, NULL, &db, &ce) != HS_SUCCESS) {
			fprintf(stderr, "nids_count: pattern: %s\n", ce ? ce->message : "compile failed");
			hs_free_compile_error(ce);
			return 2;
		}
		if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
			fprintf(stderr, "nids_count: cannot allocate Hyperscan scratch\n");
			return 2;
		}
	}
	nids_params.filename = argv[optind];
	nids_params.n_tcp_streams = (int)streams;
	nids_params.n_hosts = 4096;
	nids_params.scan_num_hosts = 0; /* no port-scan detection */
	nids_params.pcap_filter = NULL;
	static struct nids_chksum_ctl nochk = {0, 0, NIDS_DONT_CHKSUM, 0};
	nids_register_chksum_ctl(&nochk, 1);
	if (!nids_init()) {
		fprintf(stderr, "nids_count: %s: %s\n", argv[optind], nids_errbuf);
		return 2;
	}
	nids_register_ip(on_ip);
	nids_register_tcp(on_tcp);
	double t0 = now_s();
	nids_run();
	double t = now_s() - t0;
	printf("{\"tool\": \"libnids\", \"pkts\": %llu, \"flows\": %llu, \"bytes\": %llu, \"matches\": %llu, "
	       "\"seconds\": %.6f, \"pps\": %.0f}\n",
	       (unsigned long long)n_pkts, (unsigned long long)n_flows, (unsigned long long)n_bytes,
	       (unsigned long long)n_matches, t, t > 0 ? (double)n_pkts / t : 0.0);
	nids_exit();
	if (scratch)
		hs_free_scratch(scratch);
	if (db)
		hs_free_database(db);
	return 0;
}
