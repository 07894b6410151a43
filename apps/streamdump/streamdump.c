/* streamdump: every TCP connection's two reassembled byte streams written to
 * files named as tcpflow names them, gaps listed, plus a JSON-lines index
 * (apps/streamdump/README.md, streamdump.1).
 *
 * Built only on the public API (mos_api.h, mtcp_api.h, mospipe_ext.h). The
 * stack does the TCP work for both endpoints: a byte reaches a file only if
 * the receiving endpoint's emulated stack took it (checksum, window, overlap
 * policy), which is where streamdump and tcpflow, which writes whatever a
 * sender sent, part ways (tests/apps/streamdump/known-differences.tsv).
 *
 * Per connection: MOS_ON_CONN_NEW_DATA (at MOS_HK_RCV) reads the new
 * in-order bytes of both directions with mtcp_peek() and appends them; a
 * negative peek is a gap (bytes the stack will never have), recorded at the
 * stream offset where it falls. MOS_ON_CONN_END (at either hook, whichever
 * comes first) reads what the last packet delivered, closes the files and
 * writes the connection's index line. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <mos_api.h>
#include <mospipe_ext.h>
#include <mtcp_api.h>

#include "sd.h"

#define SD_MAX_CTX 64
#define SD_DEFAULT_WINDOW "8M" /* [tcp] buf_size unless --set says otherwise */

static struct sd_opts opt = {
    .outdir = ".",
    .tmpl = "%A.%a-%B.%b%V%v%C%c",
    .max_bytes = -1,
    .fill = 0,
    .max_gaps = 64,
    .max_wbuf = 2048,
};
static struct sd_ctx *ctxs[SD_MAX_CTX];
/* The user context of a connection already finished. */
#define FLOW_DONE ((struct sd_flow *)&opt)
static unsigned n_ctx;

static struct sd_ctx *ctx_of(mctx_t m)
{
	return m && m->cpu >= 0 && (unsigned)m->cpu < n_ctx ? ctxs[m->cpu] : NULL;
}

/* Outer VLAN id of an Ethernet frame, as tcpflow's %v names it: the tag
 * between the MAC addresses and the L3 header (802.1Q, 802.1ad, QinQ). */
static int frame_vlan(const struct pkt_info *p)
{
	const uint8_t *l2 = (const uint8_t *)p->ethh, *l3 = (const uint8_t *)p->iph;
	if (!l2 || !l3 || l3 - l2 < 18)
		return SD_NO_VLAN;
	unsigned et = (unsigned)l2[12] << 8 | l2[13];
	if (et != 0x8100 && et != 0x88a8 && et != 0x9100 && et != 0x9200)
		return SD_NO_VLAN;
	return ((l2[14] & 0x0f) << 8) | l2[15];
}

/* Addresses of both endpoints: mtcp_getpeername(MOS_SIDE_BOTH) fills an
 * array of two sockaddr_in or two sockaddr_in6, by the flow's family. */
static int addrs_of(mctx_t m, int sock, struct sd_flow *f)
{
	struct sockaddr_in6 sa[2];
	socklen_t len = sizeof(sa);
	if (mtcp_getpeername(m, sock, (struct sockaddr *)sa, &len, MOS_SIDE_BOTH) < 0)
		return -1;
	if (sa[0].sin6_family == AF_INET6) {
		f->v6 = 1;
		memcpy(f->cli, &sa[0].sin6_addr, 16);
		memcpy(f->svr, &sa[1].sin6_addr, 16);
		f->cli_port = ntohs(sa[0].sin6_port);
		f->svr_port = ntohs(sa[1].sin6_port);
	} else {
		struct sockaddr_in s4[2];
		memcpy(s4, sa, sizeof(s4));
		memcpy(f->cli, &s4[0].sin_addr, 4);
		memcpy(f->svr, &s4[1].sin_addr, 4);
		f->cli_port = ntohs(s4[0].sin_port);
		f->svr_port = ntohs(s4[1].sin_port);
	}
	return 0;
}

/* The connection's state, made at its first callback. NULL when out of
 * memory: the connection is counted untracked and skipped. */
static struct sd_flow *flow_get(struct sd_ctx *c, mctx_t m, int sock, int side)
{
	struct sd_flow *f = mtcp_get_uctx(m, sock);
	if (f == FLOW_DONE)
		return NULL;
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f) {
		c->n.untracked++;
		return NULL;
	}
	if (addrs_of(m, sock, f) < 0) {
		free(f);
		c->n.untracked++;
		return NULL;
	}
	struct pkt_info p;
	f->vlan = mtcp_getlastpkt(m, sock, side, &p) == 0 ? frame_vlan(&p) : SD_NO_VLAN;
	struct mospipe_flow_info fi;
	if (mospipe_flow_info(m, sock, &fi) == 0)
		f->first_ns = fi.first_ns;
	f->s[0].fd = f->s[1].fd = -1;
	f->s[1].dir = SD_S2C;
	mtcp_set_uctx(m, sock, f);
	return f;
}

/* Reads every byte the stack holds for both directions into the files.
 * mtcp_peek(MOS_SIDE_SVR) reads what the server receives: the c2s stream. */
static void drain(struct sd_ctx *c, mctx_t m, int sock, struct sd_flow *f)
{
	for (int d = SD_C2S; d <= SD_S2C; d++) {
		int side = d == SD_C2S ? MOS_SIDE_SVR : MOS_SIDE_CLI;
		for (;;) {
			errno = 0;
			ssize_t n = mtcp_peek(m, sock, side, c->buf, sizeof(c->buf));
			if (n == 0)
				break;
			if (n > 0) {
				sd_side_data(c, f, (enum sd_dir)d, c->buf, (size_t)n);
			} else if (errno == ENODATA) {
				sd_side_gap(c, f, (enum sd_dir)d, (uint64_t)-n);
			} else {
				/* Buffering off for this side (a conf with buf_size 0): nothing to read. */
				break;
			}
		}
	}
}

/* At the end of a connection a hole nothing filled is final, but the stack
 * may still hold bytes beyond it (MOS_FRAGINFO lists them; mtcp_peek stops
 * at the hole). Read them with mtcp_ppeek() at their offsets, the hole
 * before them becoming a gap, as tcpflow writes whatever arrived. What
 * ppeek does not return (today it reads only below the in-order edge) is
 * listed as held in the index. */
static void drain_held(struct sd_ctx *c, mctx_t m, int sock, struct sd_flow *f)
{
	for (int d = SD_C2S; d <= SD_S2C; d++) {
		int side = d == SD_C2S ? MOS_SIDE_SVR : MOS_SIDE_CLI;
		int optname = d == SD_C2S ? MOS_FRAGINFO_SVRBUF : MOS_FRAGINFO_CLIBUF;
		int infoname = d == SD_C2S ? MOS_INFO_SVRBUF : MOS_INFO_CLIBUF;
		struct tcp_buf_info bi;
		struct tcp_ring_fragment fr[64];
		socklen_t l = sizeof(bi);
		/* Nothing held out of order (the usual end): skip the walk over
		 * the window's bitmaps that FRAGINFO makes (4% of a run's time). */
		if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, infoname, &bi, &l) < 0 ||
		    bi.tcpbi_last_byte_received == bi.tcpbi_next_byte_expected)
			continue;
		l = sizeof(fr);
		if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, optname, fr, &l) < 0)
			continue;
		struct sd_side *s = &f->s[d];
		for (unsigned i = 0; i < l / sizeof(fr[0]); i++) {
			uint64_t o = fr[i].offset, end = fr[i].offset + fr[i].len;
			if (end <= s->off)
				continue; /* the readable run, already read */
			if (o < s->off)
				o = s->off;
			while (o < end) {
				size_t want = end - o < sizeof(c->buf) ? (size_t)(end - o) : sizeof(c->buf);
				ssize_t k = mtcp_ppeek(m, sock, side, c->buf, want, o);
				if (k <= 0)
					break;
				sd_side_gap(c, f, (enum sd_dir)d, o - s->off);
				sd_side_data(c, f, (enum sd_dir)d, c->buf, (size_t)k);
				o += (uint64_t)k;
			}
			if (o < end)
				sd_side_held(c, f, (enum sd_dir)d, o, end - o);
		}
		/* FRAGINFO gives the lowest 64 runs and cannot page past them
		 * (they count from the read offset, which ppeek does not move):
		 * a full answer may hide more, which the index says. */
		if (l / sizeof(fr[0]) == sizeof(fr) / sizeof(fr[0]))
			f->s[d].heldv.unlisted++;
	}
}

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct sd_ctx *c = ctx_of(m);
	(void)ev;
	(void)arg;
	if (!c)
		return;
	struct sd_flow *f = flow_get(c, m, sock, side);
	if (f)
		drain(c, m, sock, f);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct sd_ctx *c = ctx_of(m);
	(void)ev;
	(void)arg;
	if (!c)
		return;
	/* CONN_END comes at both hooks; the first one finishes the connection. */
	struct sd_flow *f = flow_get(c, m, sock, side);
	if (!f)
		return;
	drain(c, m, sock, f);
	drain_held(c, m, sock, f);
	struct mospipe_flow_info fi;
	int cli = -1, svr = -1;
	socklen_t l = sizeof(int);
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &cli, &l);
	l = sizeof(int);
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_SVR, &svr, &l);
	sd_flow_finish(c, f, mospipe_flow_info(m, sock, &fi) == 0 ? &fi : NULL, cli, svr);
	/* Not NULL: a later CONN_END of this flow must not start a new state. */
	mtcp_set_uctx(m, sock, FLOW_DONE);
}

/* ---- command line ---------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: streamdump -r FILE[,FILE] | -i IF[,IF] [-o DIR] [options]\n"
	           "Writes each TCP connection's two reassembled byte streams into DIR, one file per direction,\n"
	           "named as tcpflow names them (SRCIP.SRCPORT-DSTIP.DSTPORT), plus a JSON-lines index.\n\n"
	           "  -o DIR             output directory (default .; created if missing)\n"
	           "  -b N               keep at most the first N bytes of each direction (tcpflow -b)\n"
	           "  -T TEMPLATE        file name template: %%A/%%a source address/port, %%B/%%b destination,\n"
	           "                     %%V/%%v '--' and VLAN id when tagged, %%C/%%c 'c' and N for the Nth reuse of\n"
	           "                     a name, %%# N always, %%T/%%t connection start (ISO 8601 / epoch), %%%%\n"
	           "                     (default %%A.%%a-%%B.%%b%%V%%v%%C%%c, tcpflow's)\n"
	           "  -X, --index FILE   the index (default DIR/streamdump.json; - = stdout)\n"
	           "      --fill BYTE    byte written into gaps that data follows (default 0: holes, read as NULs)\n"
	           "      --max-gaps N   gaps listed per direction in the index (default 64; the rest counted)\n"
	           "      --max-open N   open files per app context (default: from the descriptor limit)\n"
	           "      --write-buffers N  16 KB write-behind buffers per app context (default 2048; 0: none)\n"
	           "      --no-mtime     do not set the files' times to the connection's start\n"
	           "  -q, --quiet        no summary on stderr\n"
	           "  -h, --help         this text (see also man streamdump)\n\n"
	           "mospipe's options: -r FILE[,FILE] (offline), -i IF[,IF] (live), -c pipeline.conf,\n"
	           "-m monitor|inline, -s/--set SEC.KEY=VAL, -l LCORES, -w FILE, -C verify|ignore (checksums).\n"
	           "Exit status: 0 done, 1 failure, 2 bad arguments, capture, interface or directory.\n");
}

static int bad(const char *fmt, const char *arg)
{
	fprintf(stderr, "streamdump: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see streamdump --help)\n");
	return 2;
}

/* Decimal, as tcpflow's -b reads it ("010" is ten); base 0 (0x..) for --fill. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out, int base)
{
	char *end;
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The input mospipe_args() put in $MOSPIPE_INPUT must exist: a missing
 * capture or interface is the user's mistake (exit 2), not a stack failure. */
static int check_input(void)
{
	const char *in = getenv("MOSPIPE_INPUT");
	char buf[4096], *save = NULL;
	if (!in)
		return 0;
	int pcap = !strncmp(in, "pcap:", 5), ifc = !strncmp(in, "iface:", 6);
	if (!pcap && !ifc)
		return 0;
	snprintf(buf, sizeof(buf), "%s", in + (pcap ? 5 : 6));
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (pcap && access(t, R_OK) != 0)
			return bad("cannot read capture '%s'", t);
		if (ifc) {
			char p[300];
			snprintf(p, sizeof(p), "/sys/class/net/%s", t);
			if (access(p, F_OK) != 0)
				return bad("interface '%s' does not exist (see `ip link`)", t);
		}
	}
	return 0;
}

static int parse(int argc, char **argv, const char **conf)
{
	static const struct option lo[] = {
	    {"index", required_argument, 0, 'X'},
	    {"fill", required_argument, 0, 1},
	    {"max-gaps", required_argument, 0, 2},
	    {"max-open", required_argument, 0, 3},
	    {"no-mtime", no_argument, 0, 4},
	    {"quiet", no_argument, 0, 'q'},
	    {"write-buffers", required_argument, 0, 5},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	uint64_t v;
	int o;
	char badc;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(0);
		}
	/* A reassembly window at least as large as the receivers' windows: a
	 * hole (a segment lost before the box) is then always filled by the
	 * retransmission before the bytes behind it overflow the window, which
	 * would make the stack give the hole up. Linux advertises up to 6 MB by
	 * default (tcp_rmem); with the stack's 64 KB default, uploads through a
	 * lossy link lost bytes (tests/apps/streamdump/netns.sh). Placed first
	 * in $MOSPIPE_SET so that --set tcp.buf_size=N still decides. */
	static char set[8192];
	const char *old = getenv("MOSPIPE_SET");
	snprintf(set, sizeof(set), "tcp.buf_size=%s%s%s", SD_DEFAULT_WINDOW, old && *old ? ";" : "", old ? old : "");
	setenv("MOSPIPE_SET", set, 1);
	if (mospipe_args(&argc, argv, NULL, conf) < 0)
		return 2;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":o:b:T:X:qh", lo, NULL)) != -1) {
		switch (o) {
		case 'o':
			if (!*optarg)
				return bad("%s", "-o needs a directory");
			opt.outdir = optarg;
			break;
		case 'b':
			if (parse_u64(optarg, INT64_MAX, &v, 10) < 0)
				return bad("-b '%s': give a number of bytes (0 or more)", optarg);
			opt.max_bytes = (int64_t)v;
			break;
		case 'T':
			if (!*optarg)
				return bad("%s", "-T needs a template");
			if (sd_tmpl_check(optarg, &badc) < 0) {
				char s[2] = {badc, 0};
				return bad("-T: unknown conversion %%%s (use %%A %%a %%B %%b %%V %%v %%C %%c %%# %%T "
				           "%%t %%%%)",
				           s);
			}
			if (optarg[0] == '/' || strstr(optarg, "..")) {
				return bad("-T '%s': the template names a file inside -o DIR (no leading '/', no '..')",
				           optarg);
			}
			opt.tmpl = optarg;
			break;
		case 'X': opt.index = optarg; break;
		case 1:
			if (parse_u64(optarg, 255, &v, 0) < 0)
				return bad("--fill '%s': give a byte value, 0-255 (0x.. for hex)", optarg);
			opt.fill = (int)v;
			break;
		case 2:
			if (parse_u64(optarg, 100000, &v, 10) < 0)
				return bad("--max-gaps '%s': give a count, 0-100000", optarg);
			opt.max_gaps = (unsigned)v;
			break;
		case 3:
			if (parse_u64(optarg, 1000000, &v, 10) < 0 || v < 1)
				return bad("--max-open '%s': give a count, 1-1000000", optarg);
			opt.max_open = (unsigned)v;
			break;
		case 4: opt.no_mtime = 1; break;
		case 5:
			if (parse_u64(optarg, 1000000, &v, 10) < 0)
				return bad("--write-buffers '%s': give a count, 0-1000000", optarg);
			opt.max_wbuf = (unsigned)v;
			break;
		case 'q': opt.quiet = 1; break;
		case ':': return bad("option %s needs a value", argv[optind - 1]);
		default: return bad("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument '%s'", argv[optind]);
	if (!getenv("MOSPIPE_INPUT") && !*conf)
		return bad("%s", "nothing to read: give -r FILE, -i IF[,IF] or -c pipeline.conf");
	return check_input();
}

/* Open files allowed per context: the descriptor limit (raised to its hard
 * maximum), less a margin for the stack's own descriptors, shared out. */
static unsigned open_cap(unsigned n)
{
	struct rlimit rl;
	rlim_t lim = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		lim = rl.rlim_cur == RLIM_INFINITY ? 65536 : rl.rlim_cur;
	}
	if (lim > 1u << 20)
		lim = 1u << 20;
	lim = lim > 256 ? lim - 128 : lim / 2;
	return (unsigned)(lim / n ? lim / n : 1);
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	int rc = parse(argc, argv, &conf);
	if (rc)
		return rc;
	if (sd_out_open(&opt) < 0)
		return 2;
	if (mtcp_init(conf) < 0)
		return errno == ENOENT || errno == EINVAL || errno == ENODEV ? 2 : 1;
	struct mtcp_conf mc;
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1) {
		fprintf(stderr, "streamdump: cannot read the stack's configuration: %s\n", strerror(errno));
		return 1;
	}
	if (mc.num_cores > SD_MAX_CTX) {
		fprintf(stderr, "streamdump: %d app instances configured, at most %d are supported\n", mc.num_cores,
		        SD_MAX_CTX);
		return 2;
	}
	n_ctx = (unsigned)mc.num_cores;
	unsigned cap = opt.max_open ? opt.max_open : open_cap(n_ctx);
	for (unsigned i = 0; i < n_ctx; i++) {
		struct sd_ctx *c = calloc(1, sizeof(*c));
		if (!c) {
			fprintf(stderr, "streamdump: out of memory\n");
			return 1;
		}
		c->idx = i;
		c->max_open = cap;
		c->max_wbuf = opt.max_wbuf;
		c->mctx = mtcp_create_context((int)i);
		ctxs[i] = c;
		int s = c->mctx ? mtcp_socket(c->mctx, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
		if (s < 0 || mtcp_register_callback(c->mctx, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
		    mtcp_register_callback(c->mctx, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0 ||
		    mtcp_register_callback(c->mctx, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
			fprintf(stderr, "streamdump: setting up context %u failed: %s\n", i, strerror(errno));
			return 1;
		}
	}
	/* Live: ^C or a kill ends the input; every open connection then gets
	 * MOS_ON_CONN_END ("open") and its files and index line are written. */
	mtcp_register_signal(SIGINT, NULL);
	mtcp_register_signal(SIGTERM, NULL);
	for (unsigned i = 0; i < n_ctx; i++)
		mtcp_app_join(ctxs[i]->mctx);

	struct sd_counts t = {0};
	for (unsigned i = 0; i < n_ctx; i++) {
		const struct sd_counts *n = &ctxs[i]->n;
		t.flows += n->flows;
		t.files += n->files;
		t.bytes += n->bytes;
		t.missed += n->missed;
		t.gaps += n->gaps;
		t.held += n->held;
		t.clipped += n->clipped;
		t.write_errors += n->write_errors;
		t.untracked += n->untracked;
		t.reopens += n->reopens;
	}
	sd_out_close(&t);
	for (unsigned i = 0; i < n_ctx; i++)
		mtcp_destroy_context(ctxs[i]->mctx);
	mtcp_destroy();
	for (unsigned i = 0; i < n_ctx; i++) {
		sd_ctx_free_buffers(ctxs[i]);
		free(ctxs[i]);
	}
	if (!opt.quiet)
		fprintf(stderr,
		        "streamdump: %" PRIu64 " connections, %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64
		        " gaps (%" PRIu64 " bytes)%s in %s\n",
		        t.flows, t.files, t.bytes, t.gaps, t.missed, t.write_errors ? ", WRITE ERRORS" : "",
		        opt.outdir);
	return t.write_errors || t.untracked ? 1 : 0;
}
