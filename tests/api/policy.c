/* The receivers' model through the API (issue #11), on mkpcap.py's `policy`
 * capture: three flows carry the same crafted segments (a fake "EVIL"
 * without ACK, then a held "BB" that a longer "XXXX" at the same start
 * covers). Per client port:
 *   41001  server 10.0.0.2, tcp.policy (linux): the stream is what Linux
 *          reads, HEAD.AAAAXXXX
 *   41002  server 10.0.0.3, which policy.conf's [policy] makes windows:
 *          HEAD.AAAABBXX, and MOS_SVRPOLICY reads windows
 *   41003  server 10.0.0.2, the app sets MOS_SVRPOLICY = windows at
 *          CONN_START: HEAD.AAAABBXX from then on
 * Every flow's fake segment raises MOS_ON_ERROR with MOS_ERROR_REASON
 * no_ack, the covered bytes "overlap". Misuse: bad values, a read-only
 * option, a passive socket. Prints one line per flow and a failure count. */
#include "common.h"

static int fails;

struct fl {
	int port;
	char stream[64];
	size_t len;
	char errs[128];
	int svr_pol, cli_pol, done;
};
static struct fl fls[8];
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
	if (nfl == 8)
		return NULL;
	fls[nfl].port = port;
	return &fls[nfl++];
}

static int get_int(mctx_t m, int sock, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, opt, &v, &l) == 0 && l == sizeof(v));
	return v;
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct fl *f = fl_of(m, sock);
	if (!f)
		return;
	if (f->port == 41003) {
		int v = MOS_POLICY_WINDOWS;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_SVRPOLICY, &v, sizeof(v)) == 0);
		CHECK(get_int(m, sock, MOS_SVRPOLICY) == MOS_POLICY_WINDOWS);
		v = 7;
		errno = 0;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_CLIPOLICY, &v, sizeof(v)) < 0 && errno == EINVAL);
		v = 0;
		errno = 0;
		CHECK(mtcp_setsockopt(m, sock, SOL_MONSOCKET, MOS_ERROR_REASON, &v, sizeof(v)) < 0 &&
		      errno == ENOPROTOOPT);
	}
	CHECK(get_int(m, sock, MOS_ERROR_REASON) == MOS_ERR_NONE);
}

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct fl *f = fl_of(m, sock);
	ssize_t n;
	if (!f || f->done)
		return;
	while ((n = mtcp_peek(m, sock, MOS_SIDE_SVR, f->stream + f->len, sizeof(f->stream) - 1 - f->len)) > 0)
		f->len += (size_t)n;
}

static void on_error(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct fl *f = fl_of(m, sock);
	if (!f)
		return;
	size_t k = strlen(f->errs);
	snprintf(f->errs + k, sizeof(f->errs) - k, "%s%s", k ? "," : "",
	         mos_error_name(get_int(m, sock, MOS_ERROR_REASON)));
	on_data(m, sock, side, ev, arg);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct fl *f = fl_of(m, sock);
	if (!f || f->done)
		return;
	on_data(m, sock, side, ev, arg);
	f->svr_pol = get_int(m, sock, MOS_SVRPOLICY);
	f->cli_pol = get_int(m, sock, MOS_CLIPOLICY);
	f->done = 1;
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_ERROR, MOS_HK_RCV, on_error) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
		fprintf(stderr, "policy: setup failed: %s\n", strerror(errno));
		return 1;
	}
	/* No per-socket default: [policy] in pipeline.conf is per network. */
	int v = 0;
	socklen_t l = sizeof(v);
	errno = 0;
	CHECK(mtcp_getsockopt(m, s, SOL_MONSOCKET, MOS_SVRPOLICY, &v, &l) < 0 && errno == ENOPROTOOPT);
	/* The overlap option takes the target's policy back. */
	v = MOS_OVERLAP_POLICY_TARGET;
	CHECK(mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_SVROVERLAP, &v, sizeof(v)) == 0);
	mtcp_app_join(m);
	for (int i = 0; i < nfl; i++)
		fprintf(out, "port %d svr %s cli %s stream %.*s errors %s\n", fls[i].port,
		        fls[i].svr_pol == MOS_POLICY_WINDOWS ? "windows" : "linux",
		        fls[i].cli_pol == MOS_POLICY_WINDOWS ? "windows" : "linux", (int)fls[i].len, fls[i].stream,
		        fls[i].errs[0] ? fls[i].errs : "-");
	fprintf(out, "policy: %d failures\n", fails);
	api_finish();
	return 0;
}
