/* A tiny mOS-style application built outside the tree against the installed
 * library (pkg-config mospipe): counts connections and their end states. */
#include <stdio.h>
#include <stdlib.h>

#include <mos_api.h>
#include <mtcp_api.h>

static int starts, ends;

static void on_start(mctx_t m, int s, int side, event_t e, filter_arg_t *a)
{
	(void)m, (void)s, (void)side, (void)e, (void)a;
	starts++;
}

static void on_end(mctx_t m, int s, int side, event_t e, filter_arg_t *a)
{
	(void)side, (void)e, (void)a;
	int cli = 0;
	socklen_t len = sizeof(cli);
	if (mtcp_getsockopt(m, s, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &cli, &len) == 0)
		ends++;
}

int main(int argc, char **argv)
{
	if (mtcp_init(argc > 1 ? argv[1] : NULL) < 0)
		return 2;
	mctx_t m = mtcp_create_context(0);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0)
		return 1;
	mtcp_app_join(m);
	printf("connections %d ended %d\n", starts, ends);
	mtcp_destroy();
	return 0;
}
