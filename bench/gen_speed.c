/* gen-speed: how fast gen_next() makes frames on this machine (one thread,
 * default workload unless told otherwise). Not a test: prints, asserts nothing.
 * usage: gen-speed [packets] [flows] [size] [rexmit]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "gen.h"

int main(int argc, char **argv)
{
	struct gen_params p;
	gen_params_default(&p);
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	if (argc > 2)
		p.flows = (uint32_t)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		p.size = (uint32_t)strtoul(argv[3], NULL, 10);
	if (argc > 4)
		p.rexmit = strtod(argv[4], NULL);
	static const uint8_t pat[] = "needle";
	p.n_patterns = 1;
	p.pattern[0].bytes = pat;
	p.pattern[0].len = 6;
	p.pattern[0].offset = GEN_PAT_AUTO;
	struct gen *g = gen_create(&p);
	if (!g) {
		fprintf(stderr, "gen-speed: %s\n", gen_strerror());
		return 2;
	}
	/* A burst of 32 distinct buffers, as rx would fill mbufs. */
	static uint8_t buf[32][2048];
	uint8_t *fr[32];
	uint16_t len[32];
	uint64_t ts[32];
	for (int i = 0; i < 32; i++)
		fr[i] = buf[i];
	struct timespec a, b;
	uint64_t got = 0, sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (got < n) {
		unsigned k = gen_burst(g, fr, 2048, len, ts, 32);
		if (k == 0)
			break;
		sink += buf[k - 1][len[k - 1] - 1];
		got += k;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	struct gen_stats st;
	gen_stats_get(g, &st);
	double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("gen-speed: %u flows, %u-byte downloads: %llu frames in %.3f s = %.2f Mpps, %.1f Gbps of frames "
	       "(%.1f Gbps on the wire), %.1f ns/frame, %llu conns finished (sink %llu)\n",
	       p.flows, p.size, (unsigned long long)got, s, (double)got / s / 1e6, (double)st.bytes * 8 / s / 1e9,
	       (double)(st.bytes + 24 * st.pkts) * 8 / s / 1e9, s * 1e9 / (double)got,
	       (unsigned long long)st.conns_finished, (unsigned long long)sink);
	gen_destroy(g);
	return 0;
}
