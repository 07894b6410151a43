/* pktcount: the packet-counter application of the bench — MOS_ON_PKT_IN on
 * every flow (MOS_HK_RCV), a per-flow counter kept in the flow's user
 * context, summed into per-context totals at MOS_ON_CONN_END.
 *
 * usage: pktcount CONF
 * CONF is a pipeline.conf (the bench writes one: mapping, [input] source).
 * Prints one JSON line: {"app": "pktcount", "pkts": N, "flows": N,
 * "seconds": S} with seconds from the first context to the last join.
 * Exit status: 0 ok, 1 API failure, 2 bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mos_api.h>
#include <mtcp_api.h>

#define MAX_CTX 64

struct totals {
	uint64_t pkts, flows, live;
} __attribute__((aligned(64)));

static struct totals tot[MAX_CTX];

static void on_pkt(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	/* The counter lives in the pointer itself: no allocation per flow. */
	uintptr_t n = (uintptr_t)mtcp_get_uctx(mctx, sock);
	mtcp_set_uctx(mctx, sock, (void *)(n + 1));
}

static void on_end(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_CLI)
		return; /* raised once per side: count the flow once */
	struct totals *t = &tot[mctx->cpu];
	t->pkts += (uintptr_t)mtcp_get_uctx(mctx, sock);
	t->flows++;
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

	if (argc != 2) {
		fprintf(stderr, "usage: pktcount CONF\n");
		return 2;
	}
	if (mtcp_init(argv[1]) < 0) {
		perror("pktcount: mtcp_init");
		return 1;
	}
	if (mtcp_getconf(&mc) < 0 || mc.num_cores < 1 || mc.num_cores > MAX_CTX) {
		fprintf(stderr, "pktcount: bad configuration\n");
		return 1;
	}
	double t0 = now_s();
	for (int i = 0; i < mc.num_cores; i++) {
		ctx[i] = mtcp_create_context(i);
		if (!ctx[i]) {
			perror("pktcount: mtcp_create_context");
			return 1;
		}
		int s = mtcp_socket(ctx[i], AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
		if (s < 0 || mtcp_register_callback(ctx[i], s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt) < 0 ||
		    mtcp_register_callback(ctx[i], s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
			perror("pktcount: monitor socket");
			return 1;
		}
	}
	for (int i = 0; i < mc.num_cores; i++)
		mtcp_app_join(ctx[i]);
	double t = now_s() - t0;
	uint64_t pkts = 0, flows = 0;
	for (int i = 0; i < mc.num_cores; i++) {
		pkts += tot[i].pkts;
		flows += tot[i].flows;
	}
	mtcp_destroy();
	printf("{\"app\": \"pktcount\", \"pkts\": %llu, \"flows\": %llu, \"seconds\": %.6f}\n",
	       (unsigned long long)pkts, (unsigned long long)flows, t);
	return 0;
}
