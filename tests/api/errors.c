/* API rules: misuse gives -1 and the documented errno, never a crash; UDE
 * dedup and nesting, the two-argument mtcp_define_event, child events
 * raised from a filter, timers in packet time, getsockopt in callbacks.
 * Prints one line per check group and "errors: N failures". */
#include <unistd.h>

#include "common.h"

static int fails;
static mctx_t M;
static int n_nested, n_child, n_timer, n_start, n_cb_checks;
static event_t ude_a, ude_nested, child;

static bool f_true(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	CHECK(mtcp_raise_event(m, child) == 0);
	CHECK(mtcp_raise_event(m, MOS_ON_CONN_START) == -1 && errno == EINVAL);
	return true;
}

static bool f_port80(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)ev;
	CHECK(arg && arg->len == 4 && memcmp(arg->arg, "test", 4) == 0);
	return mtcp_getlastpkt(m, sock, side, &p) == 0 && p.tcph;
}

static void on_nested(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)arg;
	CHECK(ev == ude_nested);
	n_nested++;
}

static void on_child(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)arg;
	CHECK(ev == child);
	n_child++;
}

static void on_timer(mctx_t m, int id, int side, event_t ev, filter_arg_t *arg)
{
	(void)arg;
	struct pkt_info p;
	CHECK(m == M && id == 7 && side == MOS_NULL && ev == MOS_ON_TIMEOUT);
	CHECK(mtcp_cb_get_ts(m) != 0);
	/* A timer has no packet (mos_api.h), whatever packet moved time. */
	errno = 0;
	CHECK(mtcp_getlastpkt(m, 0, MOS_NULL, &p) == -1 && errno == ENODATA);
	n_timer++;
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char buf[16];
	int st = -1, v;
	socklen_t l = sizeof(st);
	(void)ev;
	(void)arg;
	n_start++;
	if (n_start > 1)
		return;
	n_cb_checks++;
	/* Options on the active socket. */
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &st, &l) == 0 &&
	      (st == TCP_ST_SYN_SENT || st == TCP_ST_ESTABLISHED));
	CHECK(mtcp_getsockopt(m, sock, SOL_SOCKET, MOS_TCP_STATE_CLI, &st, &l) == -1 && errno == ENOPROTOOPT);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, 0x55, &st, &l) == -1 && errno == ENOPROTOOPT);
	/* Options mOS lists but never implemented. */
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_SEQ_REMAP, &st, &l) == -1 && errno == ENOPROTOOPT);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAG_CLIBUF, &st, &l) == -1 && errno == ENOPROTOOPT);
	st = 1;
	CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SEQ_REMAP, &st, sizeof(st)) == -1 && errno == ENOPROTOOPT);
	l = 1;
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &st, &l) == -1 && errno == EINVAL);
	CHECK(mtcp_getsockopt(m, sock + 1, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &st, &l) == -1 && errno == EBADF);
	/* Peeking: bad side, bad buffer, nothing yet. */
	CHECK(mtcp_peek(m, sock, 5, buf, sizeof(buf)) == -1 && errno == EINVAL);
	CHECK(mtcp_peek(m, sock, side, NULL, sizeof(buf)) == -1 && errno == EINVAL);
	CHECK(mtcp_peek(m, sock, MOS_SIDE_SVR, buf, sizeof(buf)) == 0);
	CHECK(mtcp_ppeek(m, sock, MOS_SIDE_SVR, buf, sizeof(buf), 0) == -1 && errno == ENODATA);
	/* Monitor mode: packets cannot be changed. */
	CHECK(mtcp_setlastpkt(m, sock, side, 0, NULL, 0, MOS_DROP) == -1 && errno == ENOTSUP);
	CHECK(mtcp_reset_conn(m, sock) == -1 && errno == ENOTSUP);
	v = 7;
	CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_STOP_MON, &v, sizeof(v)) == -1 && errno == EINVAL);
	v = MOS_OVERLAP_POLICY_LAST;
	CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVROVERLAP, &v, sizeof(v)) == 0);
	l = sizeof(v);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_SVROVERLAP, &v, &l) == 0 && v == MOS_OVERLAP_POLICY_LAST);
	/* A socket may be made from a callback (mtcp_api.h) and its filter
	 * bound while that callback runs; a socket already in use keeps its
	 * filter (the events stage reads it). */
	int ns = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(ns >= 0);
	union monitor_filter ft;
	memset(&ft, 0, sizeof(ft));
	ft.stream_syn_filter = "tcp port 9";
	CHECK(mtcp_bind_monitor_filter(m, ns, &ft) == 0);
	CHECK(mtcp_bind_monitor_filter(m, 0, &ft) == -1 && errno == EPERM);
	CHECK(mtcp_close(m, ns) == 0);
	/* A timer from a callback, in packet time. */
	struct timeval tv = {0, 1000};
	CHECK(mtcp_settimer(m, 7, &tv, on_timer) == 0);
	CHECK(mtcp_settimer(m, 7, NULL, on_timer) == -1 && errno == EINVAL);
}

int main(int argc, char **argv)
{
	char buf[16];
	/* mtcp_init errors leave nothing behind: a real init follows. */
	out = stderr;
	CHECK(mtcp_init("/nonexistent/pipeline.conf") == -1 && errno == ENOENT);
	FILE *bad = fopen("/tmp/mos_api_bad.conf", "w");
	if (bad) {
		fputs("[tcp]\nflows = many\n", bad);
		fclose(bad);
		CHECK(mtcp_init("/tmp/mos_api_bad.conf") == -1 && errno == EINVAL);
		unlink("/tmp/mos_api_bad.conf");
	}
	CHECK(mtcp_create_context(0) == NULL && errno == EPERM);
	CHECK(mtcp_getconf(NULL) == -1 && errno == EPERM);
	M = api_start(argc, argv);
	mctx_t m = M;
	struct mtcp_conf conf;

	/* Lifecycle misuse. */
	CHECK(mtcp_init(argv[1]) == -1 && errno == EALREADY);
	CHECK(mtcp_getconf(&conf) == 0 && conf.num_cores >= 1);
	CHECK(mtcp_setconf(&conf) == -1 && errno == EBUSY);
	CHECK(mtcp_getconf(NULL) == -1 && errno == EINVAL);
	CHECK(mtcp_create_context(0) == NULL && errno == EEXIST);
	CHECK(mtcp_create_context(99) == NULL && errno == EINVAL);
	/* Sockets. */
	CHECK(mtcp_socket(m, AF_INET, MOS_SOCK_STREAM, 0) == -1 && errno == EPROTONOSUPPORT);
	CHECK(mtcp_socket(NULL, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) == -1 && errno == EINVAL);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	int r = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_RAW, 0);
	CHECK(s >= 0 && r >= 0 && s != r);
	union monitor_filter ft;
	memset(&ft, 0, sizeof(ft));
	ft.stream_syn_filter = "dst port 80 and";
	CHECK(mtcp_bind_monitor_filter(m, s, &ft) == -1 && errno == EINVAL);
	ft.stream_syn_filter = "tcp port 80";
	CHECK(mtcp_bind_monitor_filter(m, s, &ft) == 0);
	CHECK(mtcp_bind_monitor_filter(m, 30, &ft) == -1 && errno == EBADF);
	/* Registrations. */
	CHECK(mtcp_register_callback(m, s, MOS_ON_CONN_START, 12345, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, UINT64_C(1) << 40, MOS_HK_SND, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, 29, MOS_ON_CONN_START, MOS_HK_SND, on_start) == -1 && errno == EBADF);
	CHECK(mtcp_register_callback(m, r, MOS_ON_PKT_IN, MOS_HK_SND, on_start) == -1 && errno == EINVAL);
	/* Pairs that can never fire are refused, as mOS refused them (its
	 * scalable_event.c: no flow-state event at MOS_NULL, no NEW_DATA or
	 * ERROR at a stream hook; mospipe also raises NEW_DATA and ERROR at
	 * MOS_HK_RCV, so only MOS_HK_SND refuses them), and the reserved
	 * built-ins that are never raised. REXMIT at MOS_HK_RCV is valid (the
	 * guide registers it there). */
	CHECK(mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_SND, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_ERROR, MOS_HK_SND, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_NULL, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_REXMIT, MOS_NULL, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_PKT_OUT, MOS_HK_RCV, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_DEBUG_MESSAGE, MOS_HK_SND, on_start) == -1 && errno == EINVAL);
	CHECK(mtcp_register_callback(m, s, MOS_ON_REXMIT, MOS_HK_RCV, on_start) == 0);
	CHECK(mtcp_unregister_callback(m, s, MOS_ON_REXMIT, MOS_HK_RCV) == 0);
	CHECK(mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) == 0);
	/* UDEs: the 3- and 2-argument forms, dedup, nesting, children. */
	static filter_arg_t fa = {"test", 4};
	CHECK(mtcp_define_event(MOS_ON_CONN_START, NULL, NULL) == 0 && errno == EINVAL);
	ude_a = mtcp_define_event(MOS_ON_CONN_START, f_true);
	CHECK(ude_a != 0 && mtcp_define_event(MOS_ON_CONN_START, f_true, NULL) == ude_a);
	child = mtcp_alloc_event(ude_a);
	ude_nested = mtcp_define_event(ude_a, f_port80, &fa);
	CHECK(child != 0 && ude_nested != 0 && ude_nested != ude_a);
	CHECK(mtcp_register_callback(m, s, ude_nested, MOS_HK_SND, on_nested) == 0);
	CHECK(mtcp_register_callback(m, s, child, MOS_HK_SND, on_child) == 0);
	/* Callback-only calls at setup. */
	CHECK(mtcp_peek(m, s, MOS_SIDE_CLI, buf, sizeof(buf)) == -1 && errno == EPERM);
	CHECK(mtcp_raise_event(m, child) == -1 && errno == EPERM);
	CHECK(mtcp_getlastpkt(m, s, 0, NULL) == -1 && errno == EPERM);
	mtcp_set_uctx(m, s, &fails);
	CHECK(mtcp_get_uctx(m, s) == &fails);
	fprintf(out, "setup checks done\n");

	mtcp_app_join(m);
	fprintf(out, "conn_start=%d nested=%d child=%d timer=%d cb_checks=%d\n", n_start, n_nested, n_child, n_timer,
	        n_cb_checks);
	CHECK(n_start > 0 && n_nested == n_start && n_child == n_start && n_timer == 1);
	mtcp_app_join(m); /* returns at once */
	CHECK(mtcp_destroy() == 0);
	CHECK(mtcp_destroy() == -1 && errno == EPERM);
	fprintf(out, "errors: %d failures\n", fails);
	if (out != stdout)
		fclose(out);
	return fails != 0;
}
