/* The equivalence tracer (tests/regress/equiv.py): every built-in event at
 * every hook where it can fire, on one stream socket, with what the
 * callback can observe of its flow at that moment — both sides' states,
 * the packet, each side's buffer info and fragments, and on NEW_DATA the
 * bytes mtcp_peek returns (length and hash of each call) and an mtcp_ppeek
 * of the window's start. One line per callback, prefixed by the flow, each
 * written with one call so that lines of flows on several app lcores do
 * not mix. Run once per mapping and burst size, the per-flow sequences must
 * be identical (DESIGN.md §3: the application cannot tell the mapping). */
#include <inttypes.h>
#include <stdarg.h>

#include "common.h"

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

struct line {
	char s[8192];
	size_t n;
};

static void add(struct line *l, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->s + l->n, sizeof(l->s) - l->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n = l->n + (size_t)k < sizeof(l->s) ? l->n + (size_t)k : sizeof(l->s) - 1;
}

static void side_state(struct line *l, mctx_t m, int sock, int sd)
{
	struct tcp_buf_info bi;
	struct tcp_ring_fragment fr[8];
	socklen_t len = sizeof(bi);
	if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, sd ? MOS_INFO_SVRBUF : MOS_INFO_CLIBUF, &bi, &len) < 0) {
		add(l, " %s:-", sd ? "S" : "C");
		return;
	}
	add(l, " %s:r%u,e%u,h%u", sd ? "S" : "C", bi.tcpbi_last_byte_read - bi.tcpbi_init_seq,
	    bi.tcpbi_next_byte_expected - bi.tcpbi_init_seq, bi.tcpbi_last_byte_received - bi.tcpbi_init_seq);
	len = sizeof(fr);
	if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, sd ? MOS_FRAGINFO_SVRBUF : MOS_FRAGINFO_CLIBUF, fr, &len) == 0)
		for (unsigned i = 0; i < len / sizeof(fr[0]); i++)
			add(l, ",[%" PRIu64 "+%u]", fr[i].offset, fr[i].len);
}

static void on_ev(mctx_t m, int sock, int side, event_t ev, int hook)
{
	static __thread char buf[65536];
	char name[128];
	struct line l = {.n = 0};
	int cli = -1, svr = -1;
	socklen_t sl = sizeof(int);
	struct pkt_info p;
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &cli, &sl);
	sl = sizeof(int);
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_SVR, &svr, &sl);
	int plen = -1;
	uint32_t seq = 0;
	if (mtcp_getlastpkt(m, sock, side, &p) == 0) {
		plen = p.payloadlen;
		seq = p.seq;
	}
	add(&l, "%s %s %s %s %s/%s len=%d seq=%u", api_flow_name(m, sock, name, sizeof(name)), api_ev_name(ev),
	    hook ? "RCV" : "SND", side == MOS_SIDE_CLI ? "CLI" : "SVR", mos_tcp_state_name(cli),
	    mos_tcp_state_name(svr), plen, seq);
	for (int sd = 0; sd < 2; sd++)
		side_state(&l, m, sock, sd);
	if (ev == MOS_ON_CONN_NEW_DATA || ev == MOS_ON_CONN_END) {
		ssize_t n;
		int k = 0;
		while ((n = mtcp_peek(m, sock, side, buf, sizeof(buf))) != 0 && k++ < 64) {
			if (n < 0) {
				add(&l, " gap%zd", -n);
				continue;
			}
			add(&l, " peek%zd:%016" PRIx64, n, fnv(buf, (size_t)n, 0xcbf29ce484222325ull));
		}
		/* The window from its start, as ppeek gives it. */
		struct tcp_ring_fragment fr[1];
		socklen_t len = sizeof(fr);
		if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, side ? MOS_FRAGINFO_SVRBUF : MOS_FRAGINFO_CLIBUF, fr,
		                    &len) == 0 &&
		    len) {
			n = mtcp_ppeek(m, sock, side, buf, fr[0].len < sizeof(buf) ? fr[0].len : sizeof(buf),
			               fr[0].offset);
			add(&l, " ppeek@%" PRIu64 ":%zd:%016" PRIx64, fr[0].offset, n,
			    n > 0 ? fnv(buf, (size_t)n, 0xcbf29ce484222325ull) : 0);
		}
	}
	add(&l, "\n");
	fwrite(l.s, 1, l.n, out);
}

static void on_snd(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)arg;
	on_ev(m, sock, side, ev, 0);
}

static void on_rcv(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)arg;
	on_ev(m, sock, side, ev, 1);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	event_t snd = MOS_ON_PKT_IN | MOS_ON_CONN_START | MOS_ON_TCP_STATE_CHANGE | MOS_ON_REXMIT | MOS_ON_CONN_END;
	event_t rcv = snd | MOS_ON_CONN_NEW_DATA | MOS_ON_ERROR;
	if (s < 0 || mtcp_register_callback(m, s, snd, MOS_HK_SND, on_snd) < 0 ||
	    mtcp_register_callback(m, s, rcv, MOS_HK_RCV, on_rcv) < 0) {
		fprintf(stderr, "eqtrace: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	api_finish();
	return 0;
}
