/* The mOS programmer's guide's HTTP-request UDE, rewritten: a UDE on
 * MOS_ON_CONN_NEW_DATA (registered at MOS_NULL, as the guide does) whose
 * filter accumulates the client's bytes in the flow's user context with
 * mtcp_peek until a blank line ends the request header, then fires once per
 * request; the callback prints the request line. */
#include "common.h"

struct req {
	char buf[4096];
	size_t len;
};

static event_t http_req;

static bool is_http_request(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_SVR) /* the server receives requests */
		return false;
	struct req *r = mtcp_get_uctx(m, sock);
	if (!r) {
		r = calloc(1, sizeof(*r));
		mtcp_set_uctx(m, sock, r);
	}
	ssize_t n = mtcp_peek(m, sock, side, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
	if (n <= 0)
		return false;
	r->len += (size_t)n;
	r->buf[r->len] = 0;
	return strstr(r->buf, "\r\n\r\n") != NULL;
}

static void on_request(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	struct req *r = mtcp_get_uctx(m, sock);
	(void)side;
	(void)arg;
	char *eol = strstr(r->buf, "\r\n");
	if (eol)
		*eol = 0;
	fprintf(out, "%s %s %s\n", api_flow_name(m, sock, name, sizeof(name)), ev == http_req ? "REQ" : "?", r->buf);
	/* Keep what followed the header (pipelined requests). */
	char *end = strstr(eol ? eol + 2 : r->buf, "\r\n\r\n");
	size_t used = end ? (size_t)(end + 4 - r->buf) : r->len;
	memmove(r->buf, r->buf + used, r->len - used);
	r->len -= used;
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	free(mtcp_get_uctx(m, sock));
	mtcp_set_uctx(m, sock, NULL);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	http_req = mtcp_define_event(MOS_ON_CONN_NEW_DATA, is_http_request, NULL);
	if (s < 0 || !http_req || mtcp_register_callback(m, s, http_req, MOS_NULL, on_request) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
		fprintf(stderr, "http_ude: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	api_finish();
	return 0;
}
