/* mOS's one-thread-per-core pattern on two app instances: each thread
 * creates its context (cpu = its index), its socket and callbacks, then
 * joins; packets start once both joined. Every flow must be seen by exactly
 * one context, callbacks of context i must get context i, and the total
 * must equal what one context sees (argv[3]). */
#include <pthread.h>

#include "common.h"

static long starts[2], ends[2], wrong;
static int nflows_expected;

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	__atomic_fetch_add(&starts[m->cpu & 1], 1, __ATOMIC_RELAXED);
	if (mtcp_get_uctx(m, sock))
		__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
	mtcp_set_uctx(m, sock, m);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)side;
	(void)ev;
	(void)arg;
	__atomic_fetch_add(&ends[m->cpu & 1], 1, __ATOMIC_RELAXED);
	if (mtcp_get_uctx(m, sock) != m) /* set by the same context */
		__atomic_fetch_add(&wrong, 1, __ATOMIC_RELAXED);
}

static void *run(void *arg)
{
	int cpu = (int)(long)arg;
	mctx_t m = mtcp_create_context(cpu);
	int s = m ? mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_RCV, on_end) < 0) {
		fprintf(stderr, "threads: setup of context %d failed: %s\n", cpu, strerror(errno));
		exit(1);
	}
	mtcp_app_join(m);
	return NULL;
}

int main(int argc, char **argv)
{
	struct mtcp_conf mc;
	pthread_t th[2];
	if (argc < 4) {
		fprintf(stderr, "usage: threads CONF OUT NFLOWS\n");
		return 2;
	}
	out = fopen(argv[2], "w");
	nflows_expected = atoi(argv[3]);
	if (!out || mtcp_init(argv[1]) < 0 || mtcp_getconf(&mc) < 0) {
		fprintf(stderr, "threads: init failed: %s\n", strerror(errno));
		return 2;
	}
	fprintf(out, "num_cores %d\n", mc.num_cores);
	for (long i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, run, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	long tot = starts[0] + starts[1];
	int ok = mc.num_cores == 2 && starts[0] > 0 && starts[1] > 0 && tot == nflows_expected &&
	         ends[0] == starts[0] && ends[1] == starts[1] && wrong == 0;
	fprintf(out, "context 0: %ld flows, context 1: %ld flows, %ld wrong\nthreads: %s\n", starts[0], starts[1],
	        wrong, ok ? "ok" : "FAILED");
	mtcp_destroy();
	fclose(out);
	return !ok;
}
