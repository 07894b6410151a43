/* mospipe: the stack with no application. Reads pipeline.conf (optional),
 * applies command-line overrides, runs the pipeline until the input ends or a
 * signal arrives, and prints the counters. A trailing BPF expression, as
 * tcpdump takes it, sets [input] filter. Manual: apps/mospipe/mospipe.1.
 * Exit status: 0 done, 1 runtime failure, 2 bad arguments, conf or input. */
#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_version.h>

#include "conf.h"
#include "pipeline.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: mospipe [-c pipeline.conf] [-r FILE[,FILE] | -i IF[,IF]] [options] [expression]\n"
	           "Runs the mospipe stack (flow tracking, no application) and prints its counters.\n"
	           "The expression, a BPF filter as tcpdump takes it (man pcap-filter), selects the packets\n"
	           "that are monitored: mospipe -r x.pcap 'tcp port 80'  ([input] filter).\n\n"
	           "  -c, --conf FILE          pipeline.conf to read (default: none, built-in defaults)\n"
	           "  -r, --read FILE[,FILE]   offline: read pcap/pcapng files on packet time\n"
	           "  -i, --iface IF[,IF]      live: AF_PACKET or AF_XDP on these interfaces\n"
	           "  -m, --mode MODE          monitor (default) or inline (forward between paired ports)\n"
	           "  -w, --write FILE         write what leaves the box to a pcap file\n"
	           "  -C, --checksum MODE      verify (default) or ignore TCP checksums\n"
	           "  -l, --lcores MAP         stage mapping, e.g. \"0=rx,classify,tcpsm;1=events,app,tx\"\n"
	           "  -s, --set SEC.KEY=VAL    set any pipeline.conf key (repeatable)\n"
	           "      --flow-log FILE      one JSON line per connection when it ends (- = stdout)\n"
	           "      --counters-json FILE final counters as JSON\n"
	           "  -q, --quiet              do not print the counters\n"
	           "      --help-conf          list every pipeline.conf key with its default\n"
	           "      --version            print the version and exit\n"
	           "  -h, --help               this text (see also: man ./apps/mospipe/mospipe.1)\n\n"
	           "The input may also come from [input] source in the conf or from\n"
	           "MOSPIPE_INPUT=pcap:FILE or iface:IF[,IF]. Exit status: 0 ok, 1 failure, 2 bad usage.\n");
}

struct override {
	char sec[32], key[64];
	const char *val;
};

int main(int argc, char **argv)
{
	static struct mp_conf conf;
	static struct override ov[256];
	unsigned nov = 0;
	const char *conf_path = NULL;
	char err[1200];
	int quiet = 0;
	const char *lcmap = NULL;

	static const struct option lo[] = {
	    {"conf", required_argument, 0, 'c'},
	    {"read", required_argument, 0, 'r'},
	    {"iface", required_argument, 0, 'i'},
	    {"mode", required_argument, 0, 'm'},
	    {"write", required_argument, 0, 'w'},
	    {"checksum", required_argument, 0, 'C'},
	    {"lcores", required_argument, 0, 'l'},
	    {"set", required_argument, 0, 's'},
	    {"flow-log", required_argument, 0, 1},
	    {"counters-json", required_argument, 0, 2},
	    {"help-conf", no_argument, 0, 3},
	    {"quiet", no_argument, 0, 'q'},
	    {"help", no_argument, 0, 'h'},
	    {"version", no_argument, 0, 4},
	    {0, 0, 0, 0},
	};
#define OV(s, k, v)                                                                                                    \
	do {                                                                                                           \
		if (nov == 256) {                                                                                      \
			fprintf(stderr, "mospipe: too many options\n");                                                \
			return 2;                                                                                      \
		}                                                                                                      \
		snprintf(ov[nov].sec, sizeof(ov[nov].sec), "%s", s);                                                   \
		snprintf(ov[nov].key, sizeof(ov[nov].key), "%s", k);                                                   \
		ov[nov++].val = v;                                                                                     \
	} while (0)

	int o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":c:r:i:m:w:C:l:s:qh", lo, NULL)) != -1) {
		static char inbuf[2][MP_CONF_STR + 8];
		switch (o) {
		case 'c': conf_path = optarg; break;
		case 'r':
			snprintf(inbuf[0], sizeof(inbuf[0]), "pcap:%s", optarg);
			OV("input", "source", inbuf[0]);
			break;
		case 'i':
			snprintf(inbuf[1], sizeof(inbuf[1]), "iface:%s", optarg);
			OV("input", "source", inbuf[1]);
			break;
		case 'm': OV("pipeline", "mode", optarg); break;
		case 'w': OV("output", "pcap", optarg); break;
		case 'C': OV("tcp", "checksum", optarg); break;
		case 1: OV("output", "flow_log", optarg); break;
		case 2: OV("output", "counters_json", optarg); break;
		case 'l': lcmap = optarg; break;
		case 's': {
			char *eq = strchr(optarg, '='), *dot = strchr(optarg, '.');
			if (!eq || !dot || dot > eq) {
				fprintf(stderr, "mospipe: --set %s: expected SECTION.KEY=VALUE\n", optarg);
				return 2;
			}
			char sec[32], key[64];
			snprintf(sec, sizeof(sec), "%.*s", (int)(dot - optarg), optarg);
			snprintf(key, sizeof(key), "%.*s", (int)(eq - dot - 1), dot + 1);
			OV(sec, key, eq + 1);
			break;
		}
		case 'q': quiet = 1; break;
		case 3: mp_conf_print_help(stdout); return 0;
		case 4: printf("mospipe %s (%s, %s)\n", MOSPIPE_VERSION, rte_version(), pcap_lib_version()); return 0;
		case 'h': usage(stdout); return 0;
		case ':':
			fprintf(stderr, "mospipe: option %s needs a value (see mospipe --help)\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "mospipe: unknown option '%s' (see mospipe --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	/* What follows the options is a filter expression, its words joined by
	 * spaces as tcpdump does: `mospipe -r x.pcap tcp and port 80`. */
	static char filter[MP_CONF_STR];
	for (size_t n = 0; optind < argc; optind++) {
		int k = snprintf(filter + n, sizeof(filter) - n, "%s%s", n ? " " : "", argv[optind]);
		if (k < 0 || (size_t)k >= sizeof(filter) - n) {
			fprintf(stderr, "mospipe: filter expression longer than %zu characters\n", sizeof(filter) - 1);
			return 2;
		}
		n += (size_t)k;
	}
	if (*filter)
		OV("input", "filter", filter);

	mp_conf_defaults(&conf);
	if (conf_path && mp_conf_load(&conf, conf_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "mospipe: %s\n", err);
		return 2;
	}
	if (mp_conf_apply_env(&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "mospipe: %s\n", err);
		return 2;
	}
	for (unsigned i = 0; i < nov; i++)
		if (mp_conf_set(&conf, ov[i].sec, ov[i].key, ov[i].val, err, sizeof(err)) < 0) {
			fprintf(stderr, "mospipe: command line: %s\n", err);
			return 2;
		}
	if (lcmap) {
		/* The command line's map replaces the file's. */
		char buf[MP_CONF_STR], *save = NULL;
		conf.n_lcores = 0;
		conf.lcores_line = 0;
		snprintf(buf, sizeof(buf), "%s", lcmap);
		for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(t, '=');
			if (!eq) {
				fprintf(stderr, "mospipe: --lcores: '%s' is not LCORE=STAGE,STAGE...\n", t);
				return 2;
			}
			*eq = 0;
			if (mp_conf_set_lcore(&conf, t, eq + 1, err, sizeof(err)) < 0) {
				fprintf(stderr, "mospipe: --lcores: %s\n", err);
				return 2;
			}
		}
	}
	if (mp_conf_finish(&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "mospipe: %s\n", err);
		return 2;
	}
	if (mp_eal_setup(&conf, argv[0]) < 0)
		return 2;
	struct mp_pipeline *pl = mp_pipeline_create(&conf, NULL);
	if (!pl) {
		mp_eal_cleanup();
		return 2;
	}
	mp_report_telemetry_register(pl);
	mp_pipeline_handle_signals(pl);
	int rc = mp_pipeline_run(pl) < 0 ? 1 : 0;

	if (!quiet)
		mp_report_print(pl, stdout);
	if (*conf.counters_json) {
		FILE *f = fopen(conf.counters_json, "w");
		if (!f || mp_report_json(pl, f) < 0) {
			fprintf(stderr, "mospipe: --counters-json %s: cannot write: %s\n", conf.counters_json,
			        strerror(errno));
			rc = 1;
		}
		if (f)
			fclose(f);
	}
	mp_pipeline_destroy(pl);
	mp_eal_cleanup();
	return rc;
}
