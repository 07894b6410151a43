/* gen: writes the benchmark workload (runtime/gen.h) to a pcap file so that
 * mospipe and its peers can run on identical bytes. See bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static const char usage[] =
    "usage: gen -w FILE [-n flows] [-s size] [-r rexmit_fraction] [-p packets | -c connections]\n"
    "           [--seed S] [--gbps G] [--servers N] [--pattern STR ...] [--ns]\n"
    "  -w FILE        pcap to write (Ethernet)\n"
    "  -n flows       concurrent connections (default 192000)\n"
    "  -s size        bytes each server sends, suffix k/m allowed (default 64k)\n"
    "  -r fraction    fraction of data segments retransmitted (default 0.01)\n"
    "  -p packets     stop after this many frames (default 1000000 unless -c)\n"
    "  -c conns       start this many connections and write them to their end\n"
    "  --seed S       random seed (default 1): same seed, same bytes\n"
    "  --gbps G       packet time advances at G Gbit/s of frames (default 60)\n"
    "  --servers N    server addresses 172.16.0.1..N (default 8)\n"
    "  --pattern STR  plant STR in every download (\\xHH and \\\\ escapes); up to 16\n"
    "  --syn-flood N  mix N spoofed SYNs into the traffic (suffix k/m: powers of 1024)\n"
    "  --ack-flood N  mix N spoofed bare ACKs into the traffic\n"
    "  --flood-sources N  spoofed addresses in 100.64.0.0/10 (default 1000000)\n"
    "  --flood-data N payload bytes on each spoofed ACK (default 0)\n"
    "  --ns           nanosecond timestamps (default microsecond pcap)\n";

static void die_usage(const char *what, const char *arg)
{
	if (arg)
		fprintf(stderr, "gen: %s: '%s' (gen -h for usage)\n", what, arg);
	else
		fprintf(stderr, "gen: %s (gen -h for usage)\n", what);
	exit(2);
}

static uint64_t parse_u64(const char *s, const char *what, int suffix)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		die_usage(what, s);
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		die_usage(what, s);
	if (suffix && (*end == 'k' || *end == 'K')) {
		v <<= 10;
		end++;
	} else if (suffix && (*end == 'm' || *end == 'M')) {
		v <<= 20;
		end++;
	}
	if (*end)
		die_usage(what, s);
	return v;
}

static double parse_double(const char *s, const char *what)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end)
		die_usage(what, s);
	return v;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes \xHH and \\ escapes. @return the length, or -1 when malformed. */
static int unescape(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	while (*s) {
		uint8_t c = (uint8_t)*s++;
		if (c == '\\') {
			if (*s == '\\') {
				s++;
			} else if (*s == 'x' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
				c = (uint8_t)(hexval(s[1]) << 4 | hexval(s[2]));
				s += 3;
			} else {
				return -1;
			}
		}
		if (n == cap)
			return -1;
		out[n++] = c;
	}
	return (int)n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"seed", required_argument, NULL, 'S'},
	    {"gbps", required_argument, NULL, 'G'},
	    {"servers", required_argument, NULL, 'V'},
	    {"pattern", required_argument, NULL, 'P'},
	    {"ns", no_argument, NULL, 'N'},
	    {"syn-flood", required_argument, NULL, 'Y'},
	    {"ack-flood", required_argument, NULL, 'A'},
	    {"flood-sources", required_argument, NULL, 'F'},
	    {"flood-data", required_argument, NULL, 'D'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static uint8_t pat[GEN_MAX_PATTERNS][GEN_MAX_PATTERN_LEN];
	static char pat_arg[GEN_MAX_PATTERNS][1024];
	struct gen_params gp;
	const char *file = NULL;
	int nano = 0, have_p = 0, have_c = 0, c;

	gen_params_default(&gp);
	while ((c = getopt_long(argc, argv, "w:n:s:r:p:c:h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': file = optarg; break;
		case 'n': {
			uint64_t v = parse_u64(optarg, "bad flow count", 0);
			if (v == 0 || v > 100000000)
				die_usage("flow count must be within 1..100000000", optarg);
			gp.flows = (uint32_t)v;
			break;
		}
		case 's': {
			uint64_t v = parse_u64(optarg, "bad size", 1);
			if (v > (1u << 30))
				die_usage("size must be at most 1g", optarg);
			gp.size = (uint32_t)v;
			break;
		}
		case 'r': gp.rexmit = parse_double(optarg, "bad retransmission fraction"); break;
		case 'p':
			gp.max_pkts = parse_u64(optarg, "bad packet count", 1);
			if (gp.max_pkts == 0)
				die_usage("packet count must be at least 1", optarg);
			have_p = 1;
			break;
		case 'c':
			gp.max_conns = parse_u64(optarg, "bad connection count", 1);
			if (gp.max_conns == 0)
				die_usage("connection count must be at least 1", optarg);
			have_c = 1;
			break;
		case 'S': gp.seed = parse_u64(optarg, "bad seed", 0); break;
		case 'Y': gp.flood_syns = parse_u64(optarg, "bad SYN flood count", 1); break;
		case 'A': gp.flood_acks = parse_u64(optarg, "bad ACK flood count", 1); break;
		case 'F': gp.flood_sources = (uint32_t)parse_u64(optarg, "bad flood source count", 0); break;
		case 'D': gp.flood_data = (uint32_t)parse_u64(optarg, "bad flood data size", 0); break;
		case 'G': gp.gbps = parse_double(optarg, "bad rate"); break;
		case 'V': gp.servers = (uint32_t)parse_u64(optarg, "bad server count", 0); break;
		case 'P': {
			if (gp.n_patterns == GEN_MAX_PATTERNS)
				die_usage("at most 16 --pattern", optarg);
			int n = unescape(optarg, pat[gp.n_patterns], GEN_MAX_PATTERN_LEN);
			if (n <= 0)
				die_usage("pattern must be 1..256 bytes (escapes: \\xHH, \\\\)", optarg);
			snprintf(pat_arg[gp.n_patterns], sizeof(pat_arg[0]), "%s", optarg);
			gp.pattern[gp.n_patterns].bytes = pat[gp.n_patterns];
			gp.pattern[gp.n_patterns].len = (uint16_t)n;
			gp.pattern[gp.n_patterns].offset = GEN_PAT_AUTO;
			gp.n_patterns++;
			break;
		}
		case 'N': nano = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: die_usage("bad option", NULL);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument", argv[optind]);
	if (!file)
		die_usage("no output file: give -w FILE", NULL);
	if (have_p && have_c)
		die_usage("give -p or -c, not both", NULL);
	if (!have_p && !have_c)
		gp.max_pkts = 1000000;

	struct gen *g = gen_create(&gp);
	if (!g) {
		if (errno == EINVAL)
			die_usage(gen_strerror(), NULL);
		fprintf(stderr, "gen: %s\n", strerror(errno));
		return 1;
	}

	pcap_t *pd = pcap_open_dead_with_tstamp_precision(
	    DLT_EN10MB, 65535, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
	pcap_dumper_t *d = pd ? pcap_dump_open(pd, file) : NULL;
	if (!d) {
		fprintf(stderr, "gen: cannot write %s: %s\n", file, pd ? pcap_geterr(pd) : "pcap_open_dead failed");
		gen_destroy(g);
		if (pd)
			pcap_close(pd);
		return 1;
	}
	static uint8_t frame[GEN_MAX_FRAME];
	uint64_t ts;
	int n;
	while ((n = gen_next(g, frame, sizeof(frame), &ts)) > 0) {
		struct pcap_pkthdr h;
		h.ts.tv_sec = (time_t)(ts / 1000000000ull);
		h.ts.tv_usec = (suseconds_t)(nano ? ts % 1000000000ull : ts % 1000000000ull / 1000);
		h.caplen = h.len = (bpf_u_int32)n;
		pcap_dump((u_char *)d, &h, frame);
	}
	int bad = pcap_dump_flush(d) != 0 || ferror(pcap_dump_file(d));
	pcap_dump_close(d);
	pcap_close(pd);
	if (bad) {
		fprintf(stderr, "gen: error writing %s: %s\n", file, strerror(errno));
		gen_destroy(g);
		return 1;
	}

	struct gen_stats st;
	gen_stats_get(g, &st);
	double span = st.pkts ? (double)(st.last_ts_ns - gp.start_ns) / 1e9 : 0.0;
	printf("gen: wrote %s: %" PRIu64 " packets, %" PRIu64 " bytes of frames, %" PRIu64
	       " bytes of TCP payload, %.6f s of packet time\n",
	       file, st.pkts, st.bytes, st.payload, span);
	printf("gen: %u flows concurrent, %u-byte downloads, seed %" PRIu64 ": %" PRIu64
	       " connections started, %" PRIu64 " finished\n",
	       gp.flows, gp.size, gp.seed, st.conns_started, st.conns_finished);
	if (st.flood_syns + st.flood_acks)
		printf("gen: flood: %" PRIu64 " spoofed SYNs, %" PRIu64 " spoofed ACKs\n", st.flood_syns,
		       st.flood_acks);
	printf("gen: %" PRIu64 " data segments, %" PRIu64 " retransmitted (%.3f%%)\n", st.data_segs, st.rexmits,
	       st.data_segs ? 100.0 * (double)st.rexmits / (double)st.data_segs : 0.0);
	for (unsigned k = 0; k < gp.n_patterns; k++) {
		uint32_t off = gen_pattern_offset(g, k), end = off + gp.pattern[k].len - 1;
		printf("gen: pattern %u '%s' at server stream offset %u (%s): planted %" PRIu64
		       ", expected matches %" PRIu64 "\n",
		       k, pat_arg[k], off, off / GEN_SEG != end / GEN_SEG ? "straddles two segments" : "in one segment",
		       st.pat_planted[k], st.pat_expect[k]);
	}
	gen_destroy(g);
	return 0;
}
