/* Per-flow options and the other socket kinds, on samples/sample.pcap.
 * Stream socket A follows every flow and, by client port:
 *   43210  MOS_STOP_MON CLI at CONN_START: no more client-side events (its
 *          CONN_END comes at MOS_HK_SND for the server only)
 *   51226  MOS_STOP_MON BOTH: no more events at all (not even CONN_END)
 *   56791  MOS_SVRBUF = 0: server-side peek fails with EINVAL, INFO ENODATA
 *   42202  MOS_CLIBUF = 8192: the client's buffer is resized (a long flow:
 *          the request reaches tcpsm while the flow still has packets)
 *   47530  mtcp_close() of the active socket: nothing more for it
 *   59991  MOS_CLIOVERLAP = LAST, read back
 * and on every NEW_DATA checks MOS_INFO_*BUF, MOS_FRAGINFO_*BUF and
 * MOS_TIMESTAMP against what peek and the packet say. Stream socket B
 * (filter "tcp port 80") counts CONN_STARTs, which must come after A's for
 * the same flow (sockets are walked in creation order). A raw socket with
 * "udp port 53" counts MOS_ON_PKT_IN; A's orphan filter "udp" counts
 * MOS_ON_ORPHAN. A timer set at setup fires once, 1.5 s into the capture;
 * the one it sets for 100 s later is dropped at the end of input. */
#include <inttypes.h>

#include "common.h"

static int fails, A, B, R;
static long raw_dns, orphans, timers, b_starts, order_bad;
static int last_start_sock = -1;

struct fl {
	int port, starts, cli_data, svr_data, ends, svrbuf_einval, info_enodata, resized;
	long peeked[2];
	int overlap;
};
static struct fl fls[64];
static int nfl;

static struct fl *fl_of(mctx_t m, int sock)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	if (mtcp_getpeername(m, sock, (struct sockaddr *)&sa, &l, MOS_SIDE_CLI) < 0)
		return NULL;
	int port = ntohs(sa.sin_port);
	for (int i = 0; i < nfl; i++)
		if (fls[i].port == port)
			return &fls[i];
	if (nfl == 64)
		return NULL;
	fls[nfl].port = port;
	return &fls[nfl++];
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	int v;
	(void)ev;
	(void)arg;
	last_start_sock = A;
	if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
		return;
	struct fl *f = fl_of(m, sock);
	if (!f || f->starts++)
		return;
	switch (f->port) {
	case 43210:
		v = MOS_SIDE_CLI;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_STOP_MON, &v, sizeof(v)) == 0);
		break;
	case 51226:
		v = MOS_SIDE_BOTH;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_STOP_MON, &v, sizeof(v)) == 0);
		break;
	case 56791:
		v = 0;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVRBUF, &v, sizeof(v)) == 0);
		break;
	case 42202:
		v = 8192;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_CLIBUF, &v, sizeof(v)) == 0);
		break;
	case 47530: CHECK(mtcp_close(m, sock) == 0); break;
	case 59991:
		v = MOS_OVERLAP_POLICY_LAST;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_CLIOVERLAP, &v, sizeof(v)) == 0);
		break;
	default: break;
	}
}

static void on_b_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_CLI)
		return;
	b_starts++;
	if (last_start_sock != A)
		order_bad++;
	last_start_sock = B;
}

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char buf[65536];
	struct tcp_buf_info bi;
	struct tcp_ring_fragment fr[4];
	struct pkt_info p;
	uint32_t ts;
	socklen_t l;
	(void)ev;
	(void)arg;
	struct fl *f = fl_of(m, sock);
	if (!f)
		return;
	if (side == MOS_SIDE_CLI)
		f->cli_data++;
	else
		f->svr_data++;
	l = sizeof(ts);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TIMESTAMP, &ts, &l) == 0);
	CHECK(mtcp_getlastpkt(m, sock, side, &p) == 0 && ts == mtcp_cb_get_ts(m));
	l = sizeof(bi);
	int r =
	    mtcp_getsockopt(m, sock, SOL_MONSOCKET, side == MOS_SIDE_CLI ? MOS_INFO_CLIBUF : MOS_INFO_SVRBUF, &bi, &l);
	if (r < 0) {
		CHECK(errno == ENODATA);
		f->info_enodata++;
		if (mtcp_peek(m, sock, side, buf, sizeof(buf)) == -1 && errno == EINVAL)
			f->svrbuf_einval++;
		return;
	}
	l = sizeof(fr);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, side == MOS_SIDE_CLI ? MOS_FRAGINFO_CLIBUF : MOS_FRAGINFO_SVRBUF,
	                      fr, &l) == 0);
	uint32_t unread = bi.tcpbi_next_byte_expected - bi.tcpbi_last_byte_read;
	uint32_t edge = bi.tcpbi_next_byte_expected - bi.tcpbi_init_seq;
	/* The window's in-order run first (from the window start, as mOS lists
	 * its buffer's fragments from its head: it covers the unread bytes and
	 * may start before them), then held out-of-order runs. */
	CHECK(l % sizeof(fr[0]) == 0);
	if (unread)
		CHECK(l >= sizeof(fr[0]) && fr[0].offset + fr[0].len == edge &&
		      fr[0].offset <= (uint32_t)(bi.tcpbi_last_byte_read - bi.tcpbi_init_seq));
	else
		CHECK(l == 0 || fr[0].offset + fr[0].len == edge || fr[0].offset > edge);
	ssize_t n;
	long got = 0;
	while ((n = mtcp_peek(m, sock, side, buf, sizeof(buf))) > 0)
		got += n;
	CHECK(got >= unread); /* tcpsm may have moved on */
	f->peeked[side] += got;
	if (f->port == 59991) {
		int v;
		l = sizeof(v);
		CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_CLIOVERLAP, &v, &l) == 0);
		f->overlap = v;
	}
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct fl *f = fl_of(m, sock);
	if (!f)
		return;
	f->ends++;
	if (f->port == 42202) {
		int v;
		socklen_t l = sizeof(v);
		int rr = mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_CLIBUF, &v, &l);
		fprintf(out, "port %d: MOS_CLIBUF at CONN_END %d\n", f->port, rr == 0 ? v : -1);
		if (rr == 0 && v == 8192)
			f->resized = 1;
	}
}

static void on_raw(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)arg;
	/* mOS passes MOS_SIDE_BOTH at MOS_NULL (its ip_in.c, tcp.c). */
	CHECK(sock == R && side == MOS_SIDE_BOTH && ev == MOS_ON_PKT_IN);
	CHECK(mtcp_getlastpkt(m, sock, side, &p) == 0 && p.iph && !p.tcph);
	raw_dns++;
}

static void on_orphan(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)arg;
	CHECK(sock == A && side == MOS_SIDE_BOTH && ev == MOS_ON_ORPHAN);
	CHECK(mtcp_getlastpkt(m, sock, 0, &p) == 0);
	orphans++;
}

static void on_timer(mctx_t m, int id, int side, event_t ev, filter_arg_t *arg)
{
	struct timeval tv = {100, 0};
	(void)side;
	(void)ev;
	(void)arg;
	timers++;
	fprintf(out, "timer %d at %u\n", id, mtcp_cb_get_ts(m) % 100000000);
	CHECK(mtcp_settimer(m, id, &tv, on_timer) == 0);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	union monitor_filter ft;
	struct timeval tv = {1, 500000};
	A = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	B = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	R = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_RAW, 0);
	memset(&ft, 0, sizeof(ft));
	ft.stream_orphan_filter = "udp";
	CHECK(mtcp_bind_monitor_filter(m, A, &ft) == 0);
	ft.stream_orphan_filter = NULL;
	ft.stream_syn_filter = "tcp port 80";
	CHECK(mtcp_bind_monitor_filter(m, B, &ft) == 0);
	memset(&ft, 0, sizeof(ft));
	ft.raw_pkt_filter = "udp port 53";
	CHECK(mtcp_bind_monitor_filter(m, R, &ft) == 0);
	CHECK(mtcp_register_callback(m, A, MOS_ON_CONN_START, MOS_HK_SND, on_start) == 0);
	CHECK(mtcp_register_callback(m, A, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) == 0);
	CHECK(mtcp_register_callback(m, A, MOS_ON_CONN_END, MOS_HK_RCV, on_end) == 0);
	CHECK(mtcp_register_callback(m, A, MOS_ON_CONN_END, MOS_HK_SND, on_end) == 0);
	CHECK(mtcp_register_callback(m, A, MOS_ON_ORPHAN, MOS_NULL, on_orphan) == 0);
	CHECK(mtcp_register_callback(m, B, MOS_ON_CONN_START, MOS_HK_SND, on_b_start) == 0);
	CHECK(mtcp_register_callback(m, R, MOS_ON_PKT_IN, MOS_NULL, on_raw) == 0);
	CHECK(mtcp_settimer(m, 3, &tv, on_timer) == 0);
	mtcp_app_join(m);

	for (int i = 0; i < nfl; i++) {
		struct fl *f = &fls[i];
		fprintf(out,
		        "port %d: cli_data %d svr_data %d ends %d peeked cli %ld svr %ld svrbuf_einval %d "
		        "info_enodata %d resized %d overlap %d\n",
		        f->port, f->cli_data, f->svr_data, f->ends, f->peeked[0], f->peeked[1], f->svrbuf_einval,
		        f->info_enodata, f->resized, f->overlap);
		switch (f->port) {
		case 43210: CHECK(f->cli_data == 0 && f->svr_data > 0 && f->ends == 1); break; /* SND SVR only */
		case 51226: CHECK(f->cli_data == 0 && f->svr_data == 0 && f->ends == 0); break;
		case 56791: CHECK(f->svr_data > 0 && f->svrbuf_einval == f->svr_data && f->peeked[0] > 0); break;
		case 42202: CHECK(f->resized == 1); break;
		case 47530: CHECK(f->cli_data + f->svr_data + f->ends == 0); break;
		case 59991: CHECK(f->overlap == MOS_OVERLAP_POLICY_LAST); break;
		default: CHECK(f->ends == 2); break;
		}
	}
	fprintf(out, "raw dns %ld orphans %ld b_starts %ld order_bad %ld timers %ld\n", raw_dns, orphans, b_starts,
	        order_bad, timers);
	CHECK(order_bad == 0 && timers == 1);
	fprintf(out, "options: %d failures\n", fails);
	api_finish();
	return fails != 0;
}
