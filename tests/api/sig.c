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

/* sig CONF OUT early: the handler is registered right after mtcp_init and
 * SIGINT comes before the first context (the pipeline is built there, which
 * takes a while for large tables): the stop must not be lost (join returns,
 * nothing read) and the application's handler must still be its own. */
static int early(int argc, char **argv)
{
	out = fopen(argv[2], "w");
	if (!out || mtcp_init(argv[1]) < 0 || mtcp_register_signal(SIGINT, on_sig) != on_sig) {
		fprintf(stderr, "sig early: setup failed: %s\n", strerror(errno));
		return 1;
	}
	(void)argc;
	kill(getpid(), SIGINT);
	int first = got_sig;
	got_sig = 0;
	mctx_t m = mtcp_create_context(0);
	int s = m ? mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
		fprintf(stderr, "sig early: context failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	/* A second SIGINT now reaches the application's handler, not the
	 * default one (which would have ended the process). */
	kill(getpid(), SIGINT);
	int ok = first == SIGINT && got_sig == SIGINT && starts == ends && starts < 50000;
	fprintf(out, "early signal %d, then %d; flows started %ld, ended %ld\nsig: %s\n", first, (int)got_sig, starts,
	        ends, ok ? "ok" : "FAILED");
	api_finish();
	return !ok;
}

int main(int argc, char **argv)
{
	if (argc > 3 && !strcmp(argv[3], "early"))
		return early(argc, argv);
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
