/* An application built outside the tree that uses the extension API through
 * the installed headers only (mospipe_ext.h and what it needs): the
 * zero-copy read (mospipe_peek_spans) next to the copying mtcp_peek on a
 * second socket of the same flows (each socket has its own read offset),
 * mospipe_flow_info, and mospipe_flow_snap with the installed struct
 * mp_conn_snap (conntable.h). Prints the bytes each way read and a check. */
#include <stdio.h>
#include <string.h>

#include <conntable.h>
#include <mospipe_ext.h>

static unsigned long zc_bytes, copy_bytes, mism, snaps, infos;
static unsigned long long zc_sum, copy_sum;

static void on_zc(mctx_t m, int s, int side, event_t e, filter_arg_t *a)
{
	struct mospipe_span sp[2];
	ssize_t n;
	(void)e, (void)a;
	while ((n = mospipe_peek_spans(m, s, side, sp, 1 << 20)) != 0) {
		if (n < 0)
			continue; /* a gap */
		for (int i = 0; i < 2; i++)
			for (size_t k = 0; k < sp[i].len; k++)
				zc_sum = zc_sum * 31 + sp[i].p[k];
		if ((size_t)n != sp[0].len + sp[1].len)
			mism++;
		zc_bytes += (unsigned long)n;
	}
}

static void on_copy(mctx_t m, int s, int side, event_t e, filter_arg_t *a)
{
	static char buf[65536];
	ssize_t n;
	(void)e, (void)a;
	while ((n = mtcp_peek(m, s, side, buf, sizeof(buf))) != 0) {
		if (n < 0)
			continue;
		for (ssize_t k = 0; k < n; k++)
			copy_sum = copy_sum * 31 + (unsigned char)buf[k];
		copy_bytes += (unsigned long)n;
	}
}

static void on_end(mctx_t m, int s, int side, event_t e, filter_arg_t *a)
{
	struct mp_conn_snap sn;
	struct mospipe_flow_info fi;
	(void)side, (void)e, (void)a;
	if (mospipe_flow_snap(m, s, &sn, NULL, NULL, NULL) == 0 && sn.first_ts_ns)
		snaps++;
	if (mospipe_flow_info(m, s, &fi) == 0 && fi.first_ns)
		infos++;
}

int main(int argc, char **argv)
{
	if (mtcp_init(argc > 1 ? argv[1] : NULL) < 0)
		return 2;
	mctx_t m = mtcp_create_context(0);
	int a = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	int b = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (!m || a < 0 || b < 0 || mtcp_register_callback(m, a, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_zc) < 0 ||
	    mtcp_register_callback(m, b, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_copy) < 0 ||
	    mtcp_register_callback(m, a, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0)
		return 2;
	mtcp_app_join(m);
	printf("zero-copy %lu copy %lu same %d spans-ok %d snaps %lu infos %lu\n", zc_bytes, copy_bytes,
	       zc_sum == copy_sum, mism == 0, snaps, infos);
	mtcp_destroy();
	return 0;
}
