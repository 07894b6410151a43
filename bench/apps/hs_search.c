/* hs_search: Hyperscan stream-mode string search over reassembled streams —
 * the DPI application of the bench. One Hyperscan stream per flow side,
 * opened at MOS_ON_CONN_START; at MOS_ON_CONN_NEW_DATA the new in-order
 * bytes of each side are scanned where the stack holds them
 * (mospipe_peek_spans(), the zero-copy read; HS_SEARCH_COPY=1 reads them
 * with the copying mtcp_peek() instead, to measure the difference); streams
 * close at MOS_ON_CONN_END (end-anchored matches are reported there).
 *
 * usage: hs_search CONF LITERAL...
 * Prints one JSON line: {"app": "hs_search", "matches": [per literal],
 * "bytes": N, "missed": N, "flows": N, "seconds": S}.
 * Exit status: 0 ok, 1 API or Hyperscan failure, 2 bad usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs/hs.h>
#include <mos_api.h>
#include <mospipe_ext.h>
#include <mtcp_api.h>

static int use_copy; /* HS_SEARCH_COPY=1: mtcp_peek into a buffer */

#define MAX_CTX 64
#define MAX_PAT 16

struct ctx_state {
	hs_scratch_t *scratch;
	uint64_t matches[MAX_PAT];
	uint64_t bytes, missed, flows;
	char buf[65536];
} __attribute__((aligned(64)));

struct flow {
	hs_stream_t *st[2]; /* by MOS_SIDE_CLI / MOS_SIDE_SVR: whose bytes */
};

static hs_database_t *db;
static unsigned n_pat;
static struct ctx_state cs[MAX_CTX];

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *c)
{
	(void)from;
	(void)to;
	(void)flags;
	((struct ctx_state *)c)->matches[id]++;
	return 0;
}

static struct flow *flow_of(mctx_t mctx, int sock)
{
	struct flow *f = mtcp_get_uctx(mctx, sock);
	if (f)
		return f;
	f = calloc(1, sizeof(*f));
	if (!f || hs_open_stream(db, 0, &f->st[0]) != HS_SUCCESS || hs_open_stream(db, 0, &f->st[1]) != HS_SUCCESS) {
		fprintf(stderr, "hs_search: out of memory for a flow\n");
		exit(1);
	}
	mtcp_set_uctx(mctx, sock, f);
	cs[mctx->cpu].flows++;
	return f;
}

static void on_start(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	flow_of(mctx, sock);
}

static void on_data(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct ctx_state *c = &cs[mctx->cpu];
	struct flow *f = flow_of(mctx, sock);
	for (int s = MOS_SIDE_CLI; s <= MOS_SIDE_SVR; s++) {
		ssize_t n;
		if (!use_copy) {
			struct mospipe_span sp[2];
			while ((n = mospipe_peek_spans(mctx, sock, s, sp, (size_t)1 << 30)) != 0) {
				if (n < 0 && errno == ENODATA) {
					c->missed += (uint64_t)-n;
					continue;
				}
				if (n < 0)
					break;
				c->bytes += (uint64_t)n;
				for (int i = 0; i < 2 && sp[i].len; i++)
					hs_scan_stream(f->st[s], (const char *)sp[i].p, (unsigned)sp[i].len, 0,
					               c->scratch, on_match, c);
			}
			continue;
		}
		while ((n = mtcp_peek(mctx, sock, s, c->buf, sizeof(c->buf))) != 0) {
			if (n < 0 && errno == ENODATA) {
				c->missed += (uint64_t)-n; /* a gap: the stream goes on after it */
				continue;
			}
			if (n < 0)
				break; /* this side has no buffer */
			c->bytes += (uint64_t)n;
			hs_scan_stream(f->st[s], c->buf, (unsigned)n, 0, c->scratch, on_match, c);
		}
	}
}

static void on_end(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	struct ctx_state *c = &cs[mctx->cpu];
	struct flow *f = mtcp_get_uctx(mctx, sock);
	if (!f)
		return;
	on_data(mctx, sock, side, ev, arg); /* bytes that came with the last packets */
	for (int s = 0; s < 2; s++)
		hs_close_stream(f->st[s], c->scratch, on_match, c);
	free(f);
	mtcp_set_uctx(mctx, sock, NULL);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	struct mtcp_conf mc;
	mctx_t ctx[MAX_CTX];
	unsigned flags[MAX_PAT], ids[MAX_PAT];
	size_t lens[MAX_PAT];
	hs_compile_error_t *ce = NULL;

	if (argc < 3 || argc - 2 > MAX_PAT) {
		fprintf(stderr, "usage: hs_search CONF LITERAL... (1 to %d literals)\n", MAX_PAT);
		return 2;
	}
	n_pat = (unsigned)(argc - 2);
	use_copy = getenv("HS_SEARCH_COPY") && atoi(getenv("HS_SEARCH_COPY")) > 0;
	for (unsigned i = 0; i < n_pat; i++) {
		flags[i] = 0;
		ids[i] = i;
		lens[i] = strlen(argv[i + 2]);
	}
	if (hs_compile_lit_multi((const char *const *)(argv + 2), flags, ids, lens, n_pat, HS_MODE_STREAM, NULL, &db,
	                         &ce) != HS_SUCCESS) {
		fprintf(stderr, "hs_search: %s\n", ce ? ce->message : "cannot compile the literals");
		hs_free_compile_error(ce);
		return 2;
	}
	if (mtcp_init(argv[1]) < 0) {
		perror("hs_search: mtcp_init");
		return 1;
	}
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1 || mc.num_cores > MAX_CTX) {
		fprintf(stderr, "hs_search: bad configuration\n");
		return 1;
	}
	double t0 = now_s();
	for (int i = 0; i < mc.num_cores; i++) {
		if (hs_alloc_scratch(db, &cs[i].scratch) != HS_SUCCESS) {
			fprintf(stderr, "hs_search: cannot allocate Hyperscan scratch\n");
			return 1;
		}
		ctx[i] = mtcp_create_context(i);
		if (!ctx[i]) {
			perror("hs_search: mtcp_create_context");
			return 1;
		}
		int s = mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
		if (s < 0 || mtcp_register_callback(ctx[i], s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
		    mtcp_register_callback(ctx[i], s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
		    mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
			perror("hs_search: monitor socket");
			return 1;
		}
	}
	for (int i = 0; i < mc.num_cores; i++)
		mtcp_app_join(ctx[i]);
	double t = now_s() - t0;
	uint64_t m[MAX_PAT] = {0}, bytes = 0, missed = 0, flows = 0;
	for (int i = 0; i < mc.num_cores; i++) {
		for (unsigned p = 0; p < n_pat; p++)
			m[p] += cs[i].matches[p];
		bytes += cs[i].bytes;
		missed += cs[i].missed;
		flows += cs[i].flows;
		hs_free_scratch(cs[i].scratch);
	}
	mtcp_destroy();
	printf("{\"app\": \"hs_search\", \"matches\": [");
	for (unsigned p = 0; p < n_pat; p++)
		printf("%s%llu", p ? ", " : "", (unsigned long long)m[p]);
	printf("], \"bytes\": %llu, \"missed\": %llu, \"flows\": %llu, \"seconds\": %.6f}\n", (unsigned long long)bytes,
	       (unsigned long long)missed, (unsigned long long)flows, t);
	hs_free_database(db);
	return 0;
}
