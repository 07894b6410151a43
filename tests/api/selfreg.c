/* A callback that registers a new event on its own flow mid-connection: at
 * MOS_ON_CONN_START the flows with an even client port register
 * MOS_ON_CONN_NEW_DATA on their active socket; odd ones do not. At the end
 * each flow prints how many NEW_DATA callbacks it got; the program fails if
 * an odd flow got any (the registration leaked to other flows). Halfway
 * through (after 2 NEW_DATA), even flows unregister again. */
#include "common.h"

static int fails;

struct cnt {
	int newdata, even;
};

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct cnt *c = mtcp_get_uctx(m, sock);
	(void)side;
	(void)ev;
	(void)arg;
	CHECK(c && c->even);
	if (c && ++c->newdata == 2)
		CHECK(mtcp_unregister_callback(m, sock, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV) == 0);
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_CLI && side != MOS_SIDE_SVR)
		return;
	if (mtcp_get_uctx(m, sock))
		return; /* CONN_START at RCV too */
	struct cnt *c = calloc(1, sizeof(*c));
	mtcp_set_uctx(m, sock, c);
	if (mtcp_getpeername(m, sock, (struct sockaddr *)&sa, &l, MOS_SIDE_CLI) == 0 && sa.sin_family == AF_INET)
		c->even = ntohs(sa.sin_port) % 2 == 0;
	if (c->even)
		CHECK(mtcp_register_callback(m, sock, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) == 0);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	struct cnt *c = mtcp_get_uctx(m, sock);
	(void)side;
	(void)ev;
	(void)arg;
	if (!c)
		return;
	fprintf(out, "%s %s newdata=%d\n", api_flow_name(m, sock, name, sizeof(name)), c->even ? "even" : "odd",
	        c->newdata);
	free(c);
	mtcp_set_uctx(m, sock, NULL);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
		fprintf(stderr, "selfreg: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	fprintf(out, "selfreg: %d failures\n", fails);
	api_finish();
	return fails != 0;
}
