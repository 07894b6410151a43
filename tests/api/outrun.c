/* mOS's buffer outrun: a socket that registers MOS_ON_ERROR and never reads
 * (no mtcp_peek) is told, at MOS_HK_RCV with MOS_ERROR_REASON
 * MOS_ERR_OUTRUN, when bytes of a stream it receives leave the buffer
 * unread. Prints the first outrun of each flow and side, and at CONN_END
 * what mtcp_peek then returns (-n: the bytes gone). run.sh checks the flows
 * against tcpdump: every stream longer than the buffer by more than a
 * chunk is outrun, none that fits is. */
#include "common.h"

static int fails;
static long errors_other;

struct seen {
	char name[128];
	int side;
};
static struct seen seen[4096];
static unsigned nseen;

static void on_error(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	int reason = -1;
	socklen_t l = sizeof(reason);
	(void)ev;
	(void)arg;
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_ERROR_REASON, &reason, &l) == 0);
	if (reason != MOS_ERR_OUTRUN) {
		errors_other++;
		return;
	}
	api_flow_name(m, sock, name, sizeof(name));
	for (unsigned i = 0; i < nseen; i++)
		if (seen[i].side == side && !strcmp(seen[i].name, name))
			return;
	if (nseen < sizeof(seen) / sizeof(seen[0])) {
		snprintf(seen[nseen].name, sizeof(seen[nseen].name), "%s", name);
		seen[nseen++].side = side;
	}
	fprintf(out, "outrun %s %s\n", side == MOS_SIDE_CLI ? "cli" : "svr", name);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128], buf[64];
	(void)ev;
	(void)arg;
	(void)side;
	api_flow_name(m, sock, name, sizeof(name));
	for (int s = MOS_SIDE_CLI; s <= MOS_SIDE_SVR; s++) {
		ssize_t n = mtcp_peek(m, sock, s, buf, sizeof(buf));
		if (n < 0)
			fprintf(out, "gone %s %s %zd\n", s == MOS_SIDE_CLI ? "cli" : "svr", name, -n);
	}
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(s >= 0 && mtcp_register_callback(m, s, MOS_ON_ERROR, MOS_HK_RCV, on_error) == 0 &&
	      mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) == 0);
	mtcp_app_join(m);
	fprintf(out, "other errors %ld\noutrun: %d failures\n", errors_other, fails);
	api_finish();
	return fails != 0;
}
