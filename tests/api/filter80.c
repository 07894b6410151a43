/* The mOS guide's monitor scope: a stream socket bound to
 * "dst net NET and dst port 80" (NET from argv[3]) follows only the flows
 * whose first packet matches; prints each flow it sees at MOS_ON_CONN_START. */
#include "common.h"

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)ev;
	(void)arg;
	fprintf(out, "%s\n", api_flow_name(m, sock, name, sizeof(name)));
}

int main(int argc, char **argv)
{
	char expr[256];
	mctx_t m = api_start(argc, argv);
	snprintf(expr, sizeof(expr), "dst net %s and dst port 80", argc > 3 ? argv[3] : "198.51.100.0/24");
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	union monitor_filter ft;
	memset(&ft, 0, sizeof(ft));
	ft.stream_syn_filter = expr;
	if (s < 0 || mtcp_bind_monitor_filter(m, s, &ft) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0) {
		fprintf(stderr, "filter80: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	api_finish();
	return 0;
}
