/* mtcp_getconf / mtcp_setconf and mOS's own mos.conf (run.sh writes one in
 * mOS's format). Prints the configuration after mtcp_init(); with a third
 * argument N, mtcp_setconf() sets rcvbuf_size = N, tcp_timeout = 30 and
 * max_concurrency = 2048 before the first context, and prints it again;
 * then prints the buffer size the first flow got (MOS_CLIBUF at its
 * CONN_START), which shows that what was set reached the pipeline. */
#include "common.h"

static int fails, shown;

static void print_conf(const char *when)
{
	struct mtcp_conf c;
	CHECK(mtcp_getconf(&c) == 0);
	fprintf(
	    out,
	    "%s: num_cores %d max_concurrency %d max_num_buffers %d rcvbuf_size %d tcp_timewait %d tcp_timeout %d\n",
	    when, c.num_cores, c.max_concurrency, c.max_num_buffers, c.rcvbuf_size, c.tcp_timewait, c.tcp_timeout);
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	int v = -1;
	socklen_t l = sizeof(v);
	(void)side;
	(void)ev;
	(void)arg;
	if (shown++)
		return;
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_CLIBUF, &v, &l) == 0);
	fprintf(out, "first flow: MOS_CLIBUF %d\n", v);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	out = fopen(argv[2], "w");
	if (!out || mtcp_init(argv[1]) < 0) {
		fprintf(stderr, "conf: mtcp_init(%s): %s\n", argv[1], strerror(errno));
		return 2;
	}
	print_conf("init");
	if (argc > 3) {
		struct mtcp_conf c;
		CHECK(mtcp_getconf(&c) == 0);
		c.rcvbuf_size = atoi(argv[3]);
		c.tcp_timeout = 30;
		c.max_concurrency = 2048;
		CHECK(mtcp_setconf(&c) == 0);
		print_conf("setconf");
	}
	mctx_t m = mtcp_create_context(0);
	CHECK(m != NULL);
	if (argc > 3) {
		struct mtcp_conf c;
		CHECK(mtcp_getconf(&c) == 0);
		errno = 0;
		CHECK(mtcp_setconf(&c) == -1 && errno == EBUSY); /* the pipeline exists now */
	}
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(s >= 0 && mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) == 0);
	mtcp_app_join(m);
	fprintf(out, "conf: %d failures\n", fails);
	api_finish();
	return fails != 0;
}
