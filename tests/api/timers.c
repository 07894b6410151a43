/* Timers in packet time when few packets reach the app stage: a 1 s timer,
 * re-armed from its own callback, on an application that follows flows only
 * for MOS_ON_CONN_START and MOS_ON_CONN_END (so long stretches of the capture
 * bring the app stage nothing). Each firing prints its time (mtcp_cb_get_ts,
 * us, 32 bits); run.sh checks them against the capture: the first TCP
 * packet's time (its CONN_START: timers set at setup count from the app's
 * first event) plus k seconds for every k up to the last packet's time, none missing,
 * none late (a timer's time is its deadline), none in a timer callback with
 * a packet (mtcp_getlastpkt gives ENODATA). */
#include "common.h"

static int fails;
static long fires;

static void on_timer(mctx_t m, int id, int side, event_t ev, filter_arg_t *arg)
{
	struct timeval tv = {1, 0};
	struct pkt_info p;
	(void)side;
	(void)arg;
	CHECK(ev == MOS_ON_TIMEOUT);
	errno = 0;
	CHECK(mtcp_getlastpkt(m, 0, MOS_NULL, &p) == -1 && errno == ENODATA);
	fires++;
	fprintf(out, "timer at %u\n", mtcp_cb_get_ts(m));
	CHECK(mtcp_settimer(m, id, &tv, on_timer) == 0);
}

static void on_ev(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	struct timeval tv = {1, 0};
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(s >= 0 && mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_ev) == 0 &&
	      mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_ev) == 0);
	CHECK(mtcp_settimer(m, 1, &tv, on_timer) == 0);
	mtcp_app_join(m);
	fprintf(out, "fires %ld\ntimers: %d failures\n", fires, fails);
	api_finish();
	return fails != 0;
}
