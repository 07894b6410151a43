/* evbox: the mospipe side of the evasion tests. A small mOS API program (the
 * public headers only) that keeps, per connection, the bytes the stack put
 * into the server's receive stream (what mtcp_peek(MOS_SIDE_SVR) returns)
 * and every MOS_ON_ERROR with its reason, and writes them when the
 * connection ends:
 *
 *   evbox [mospipe options: -i IF,IF -m inline | -r FILE, -w, -s ...] OUTDIR
 *
 *   OUTDIR/<client port>.box   the in-order bytes of the client-to-server
 *                              stream (a gap is written as nothing: the
 *                              .info line counts it)
 *   OUTDIR/<client port>.info  one line: "gaps=N errors=R1,R2,..." (reason
 *                              names from mos_error_name())
 *
 * The tests compare .box with what the Linux server's application read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mos_api.h>
#include <mospipe_ext.h>
#include <mtcp_api.h>

static const char *outdir;

struct evflow {
	unsigned cport;
	unsigned char *buf;
	size_t len, cap;
	unsigned long gaps;
	char errs[512];
	size_t errlen;
	int done;
};

static struct evflow *flow_of(mctx_t m, int sock)
{
	struct evflow *f = mtcp_get_uctx(m, sock);
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	struct sockaddr_in6 sa[2];
	socklen_t len = sizeof(sa);
	if (mtcp_getpeername(m, sock, (struct sockaddr *)sa, &len, MOS_SIDE_BOTH) == 0) {
		if (sa[0].sin6_family == AF_INET6) {
			f->cport = ntohs(sa[0].sin6_port);
		} else {
			struct sockaddr_in s4[2];
			memcpy(s4, sa, sizeof(s4));
			f->cport = ntohs(s4[0].sin_port);
		}
	}
	mtcp_set_uctx(m, sock, f);
	return f;
}

static void drain(mctx_t m, int sock, struct evflow *f)
{
	char tmp[65536];
	for (;;) {
		errno = 0;
		ssize_t n = mtcp_peek(m, sock, MOS_SIDE_SVR, tmp, sizeof(tmp));
		if (n == 0 || (n < 0 && errno != ENODATA))
			return;
		if (n < 0) {
			f->gaps++;
			continue;
		}
		if (f->len + (size_t)n > f->cap) {
			size_t c = f->cap ? f->cap * 2 : 65536;
			while (c < f->len + (size_t)n)
				c *= 2;
			unsigned char *b = realloc(f->buf, c);
			if (!b)
				return;
			f->buf = b;
			f->cap = c;
		}
		memcpy(f->buf + f->len, tmp, (size_t)n);
		f->len += (size_t)n;
	}
}

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct evflow *f = flow_of(m, sock);
	if (f && !f->done)
		drain(m, sock, f);
}

static void write_info(const struct evflow *f)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%u.info", outdir, f->cport);
	FILE *o = fopen(path, "w");
	if (o) {
		fprintf(o, "gaps=%lu errors=%s\n", f->gaps, f->errlen ? f->errs : "-");
		fclose(o);
	}
}

static void on_error(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct evflow *f = flow_of(m, sock);
	if (!f)
		return;
	int why = 0;
	socklen_t l = sizeof(why);
	if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_ERROR_REASON, &why, &l) < 0)
		why = -1;
	const char *name = mos_error_name(why);
	int k = snprintf(f->errs + f->errlen, sizeof(f->errs) - f->errlen, "%s%s", f->errlen ? "," : "", name);
	if (k > 0 && f->errlen + (size_t)k < sizeof(f->errs))
		f->errlen += (size_t)k;
	if (f->done)
		write_info(f); /* after CONN_END (data after a reset): the record grows */
	else
		drain(m, sock, f);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct evflow *f = flow_of(m, sock);
	if (!f || f->done)
		return;
	drain(m, sock, f);
	f->done = 1;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%u.box", outdir, f->cport);
	FILE *o = fopen(path, "wb");
	if (o) {
		if (f->len)
			fwrite(f->buf, 1, f->len, o);
		fclose(o);
	}
	write_info(f);
	free(f->buf);
	f->buf = NULL;
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	if (mospipe_args(&argc, argv, NULL, &conf) < 0)
		return 2;
	if (argc != 2) {
		fprintf(stderr, "usage: evbox [-i IF,IF -m inline | -r FILE] [-s SEC.KEY=VAL]... OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	if (mtcp_init(conf) < 0)
		return 1;
	mctx_t m = mtcp_create_context(0);
	int s = m ? mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_ERROR, MOS_HK_RCV, on_error) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
		fprintf(stderr, "evbox: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_register_signal(SIGINT, NULL);
	mtcp_register_signal(SIGTERM, NULL);
	mtcp_app_join(m);
	mtcp_destroy_context(m);
	mtcp_destroy();
	return 0;
}
