/* evnids: libnids on the evasion tests' capture, for the record (issue #11
 * asks how a peer fares on the same traffic). Reads a pcap with libnids'
 * defaults (IP defragmentation, checksums verified, urgent data not
 * collected) and writes, per connection, the client-to-server bytes it
 * reassembled:
 *
 *   evnids CAPTURE OUTDIR      -> OUTDIR/<client port>.nids
 *
 * A connection libnids never tracked has no file (counted as a miss).
 */
#include <nids.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *outdir;

struct acc {
	unsigned char *buf;
	size_t len, cap;
};

static void put(struct acc *a, const char *d, size_t n)
{
	if (a->len + n > a->cap) {
		size_t c = a->cap ? a->cap * 2 : 4096;
		while (c < a->len + n)
			c *= 2;
		unsigned char *b = realloc(a->buf, c);
		if (!b)
			return;
		a->buf = b;
		a->cap = c;
	}
	memcpy(a->buf + a->len, d, n);
	a->len += n;
}

static void flush(struct tcp_stream *ts)
{
	struct acc *a = ts->user;
	if (!a)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%u.nids", outdir, (unsigned)ts->addr.source);
	FILE *o = fopen(path, "wb");
	if (o) {
		if (a->len)
			fwrite(a->buf, 1, a->len, o);
		fclose(o);
	}
	free(a->buf);
	free(a);
	ts->user = NULL;
}

static void on_tcp(struct tcp_stream *ts, void **param)
{
	(void)param;
	switch (ts->nids_state) {
	case NIDS_JUST_EST:
		ts->server.collect = 1;
		ts->user = calloc(1, sizeof(struct acc));
		break;
	case NIDS_DATA:
		if (ts->server.count_new && ts->user)
			put(ts->user, ts->server.data, (size_t)ts->server.count_new);
		break;
	default: /* close, reset, timeout, exiting */ flush(ts); break;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: evnids CAPTURE OUTDIR\n");
		return 2;
	}
	outdir = argv[2];
	nids_params.filename = argv[1];
	nids_params.device = NULL;
	nids_params.scan_num_hosts = 0;
	nids_params.n_tcp_streams = 4096;
	if (!nids_init()) {
		fprintf(stderr, "evnids: %s\n", nids_errbuf);
		return 1;
	}
	nids_register_tcp((void *)on_tcp);
	nids_run();
	nids_exit();
	return 0;
}
