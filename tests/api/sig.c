/* mtcp_register_signal: SIGINT in the middle of a long capture (sent by
 * the program itself at the 50,000th new flow, so that the test does not
 * depend on how fast the capture is read) stops the pipeline cleanly, then
 * the application's handler runs; mtcp_app_join returns after every flow
 * still open got its MOS_ON_CONN_END. */
#include <signal.h>
#include <unistd.h>

#include "common.h"

static volatile sig_atomic_t got_sig;
static long starts, ends;

static void on_sig(int s)
{
	got_sig = s;
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	/* Halfway through the SYNs: as if the operator pressed ^C. */
	if (++starts == 50000)
		kill(getpid(), SIGINT);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	ends++;
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_signal(SIGINT, on_sig) != on_sig ||
	    mtcp_register_signal(SIGKILL, on_sig) != (mtcp_sighandler_t)SIG_ERR ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
		fprintf(stderr, "sig: setup failed: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "sig: running\n");
	mtcp_app_join(m);
	int ok = got_sig == SIGINT && starts > 0 && starts == ends;
	fprintf(out, "signal %d, flows started %ld, ended %ld\nsig: %s\n", (int)got_sig, starts, ends,
	        ok ? "ok" : "FAILED");
	api_finish();
	return !ok;
}
