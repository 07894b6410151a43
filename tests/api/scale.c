/* Event-set scaling through the API: every flow of the capture (100,000
 * concurrent ones in run.sh) registers one of 8 NEW_DATA callbacks on itself
 * at CONN_START, and at its first NEW_DATA swaps it for one of 4 TCP state
 * change callbacks. While all flows are alive (at the first CONN_END) the
 * program prints the app instance's event-set statistics next to the flow
 * count and checks that sets and their memory follow the number of distinct
 * registration combinations (a few dozen), not the number of flows. */
#include <inttypes.h>

#include "common.h"
#include "evset.h"
#include "app-types.h"

static long live, started, peak, got_data, fails, checked;

#define CB(name, body)                                                                                                 \
	static void name(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)                                  \
	{                                                                                                              \
		(void)m;                                                                                               \
		(void)sock;                                                                                            \
		(void)side;                                                                                            \
		(void)ev;                                                                                              \
		(void)arg;                                                                                             \
		body;                                                                                                  \
	}

static callback_t st_cb[4];
static void swap(mctx_t m, int sock, int k)
{
	got_data++;
	if (mtcp_unregister_callback(m, sock, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV) < 0 ||
	    mtcp_register_callback(m, sock, MOS_ON_TCP_STATE_CHANGE, MOS_HK_RCV, st_cb[k % 4]) < 0)
		fails++;
}
CB(d0, swap(m, sock, 0))
CB(d1, swap(m, sock, 1))
CB(d2, swap(m, sock, 2))
CB(d3, swap(m, sock, 3))
CB(d4, swap(m, sock, 4))
CB(d5, swap(m, sock, 5))
CB(d6, swap(m, sock, 6))
CB(d7, swap(m, sock, 7))
CB(s0, )
CB(s1, )
CB(s2, )
CB(s3, )
static callback_t data_cb[8] = {d0, d1, d2, d3, d4, d5, d6, d7};

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	(void)side;
	(void)ev;
	(void)arg;
	started++;
	if (++live > peak)
		peak = live;
	if (mtcp_getpeername(m, sock, (struct sockaddr *)&sa, &l, MOS_SIDE_CLI) < 0 ||
	    mtcp_register_callback(m, sock, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, data_cb[ntohs(sa.sin_port) % 8]) < 0)
		fails++;
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	if (!checked++) {
		struct evs_stats st;
		evs_stats_get(mp_api_cur->appi[0]->evs, &st);
		fprintf(out,
		        "at the first CONN_END: flows alive %ld, event sets alive %" PRIu64 ", set memory %" PRIu64
		        " bytes (%.2f bytes per flow), sets created %" PRIu64 ", changes %" PRIu64 " (%" PRIu64
		        " found interned)\n",
		        live, st.sets_alive, st.bytes, (double)st.bytes / (double)live, st.created, st.changes,
		        st.hits);
		if (st.sets_alive > 40 || st.bytes > 4u << 20)
			fails++, fprintf(out, "FAIL: sets grow with flows\n");
	}
	live--;
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	st_cb[0] = s0, st_cb[1] = s1, st_cb[2] = s2, st_cb[3] = s3;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
		fprintf(stderr, "scale: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	struct evs_stats st;
	evs_stats_get(mp_api_cur->appi[0]->evs, &st);
	fprintf(out,
	        "at the end: flows started %ld, peak concurrent %ld, NEW_DATA swaps %ld, sets alive %" PRIu64
	        ", set memory %" PRIu64 " bytes\n",
	        started, peak, got_data, st.sets_alive, st.bytes);
	int ok = !fails && checked && peak >= 100000 && got_data == started && st.sets_alive <= 2;
	fprintf(out, "scale: %s (%ld flows, peak %ld concurrent)\n", ok ? "ok" : "FAILED", started, peak);
	api_finish();
	return ok ? 0 : 1;
}
