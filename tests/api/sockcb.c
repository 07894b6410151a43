/* Sockets made from a callback (mtcp_api.h: "or from a callback of that
 * context"), and the [api] limits.
 *
 *   sockcb CONF OUT K FILTER
 *
 * Stream socket A (no filter) registers MOS_ON_CONN_START at MOS_HK_SND and
 * prints every flow it starts. Its callback for the K-th flow makes stream
 * socket B with stream_syn_filter FILTER, registering CONN_START and
 * CONN_END on it, and raw socket R with raw_pkt_filter "udp" and PKT_IN at
 * MOS_NULL; the flows B follows and R's packets are printed. run.sh checks
 * them against tcpdump: with one lcore and burst 1 the events stage sees
 * the sockets from the next packet on, so B follows exactly the flows
 * matching FILTER whose first packet comes after the K-th flow's, and R
 * gets exactly the UDP packets after that packet. Also checked here: the
 * limit of [api] sockets (ENFILE beyond it); run.sh also runs it with
 * [api] follow = 1, where A, made first and taking every flow, leaves B
 * none. */
#include "common.h"

static int fails, k_made, nk;
static const char *filter;
static long raw_pkts;

static void on_b(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)arg;
	fprintf(out, "B %s %s\n", ev == MOS_ON_CONN_START ? "start" : "end",
	        api_flow_name(m, sock, name, sizeof(name)));
}

static void on_raw(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)arg;
	CHECK(ev & MOS_ON_PKT_IN);
	raw_pkts++;
}

static void on_a(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)ev;
	(void)arg;
	fprintf(out, "A start %s\n", api_flow_name(m, sock, name, sizeof(name)));
	if (++nk != k_made)
		return;
	int b = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	int r = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_RAW, 0);
	CHECK(b > 0 && r > b);
	union monitor_filter ft;
	memset(&ft, 0, sizeof(ft));
	ft.stream_syn_filter = (char *)filter;
	CHECK(mtcp_bind_monitor_filter(m, b, &ft) == 0);
	memset(&ft, 0, sizeof(ft));
	ft.raw_pkt_filter = "udp";
	CHECK(mtcp_bind_monitor_filter(m, r, &ft) == 0);
	CHECK(mtcp_register_callback(m, b, MOS_ON_CONN_START, MOS_HK_SND, on_b) == 0);
	CHECK(mtcp_register_callback(m, b, MOS_ON_CONN_END, MOS_HK_RCV, on_b) == 0);
	CHECK(mtcp_register_callback(m, r, MOS_ON_PKT_IN, MOS_NULL, on_raw) == 0);
	/* [api] sockets = 3 in run.sh's conf: A, B and R, no more. */
	errno = 0;
	CHECK(mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) == -1 && errno == ENFILE);
	fprintf(out, "made after %s\n", name);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: sockcb CONF OUT K FILTER\n");
		return 2;
	}
	k_made = atoi(argv[3]);
	filter = argv[4];
	mctx_t m = api_start(argc, argv);
	int a = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(a == 0 && mtcp_register_callback(m, a, MOS_ON_CONN_START, MOS_HK_SND, on_a) == 0);
	mtcp_app_join(m);
	fprintf(out, "raw %ld\nsockcb: %d failures\n", raw_pkts, fails);
	api_finish();
	return fails != 0;
}
