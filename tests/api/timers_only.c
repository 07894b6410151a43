/* Timers on an application that registers nothing: no socket, so the
 * events stage bypasses every packet and none brings time to the app stage
 * (mOS's midstat-style monitor prints from such a timer). A 1 s timer set
 * at setup, re-armed from its own callback, prints its context and time
 * (mtcp_cb_get_ts, us, 32 bits); run.sh checks them against the capture:
 * the first packet's time plus k seconds for every k up to the last
 * packet's time, none missing, none late. Before the events stage sent
 * MP_CTRL_TIME mbufs, such a timer never fired.
 *
 *   timers_only CONF OUT [2]   with 2: two contexts (one thread each, as
 *                              mOS applications do), each with its timer */
#include <pthread.h>

#include "common.h"

static int fails;
static long fires[2];

static void on_timer(mctx_t m, int id, int side, event_t ev, filter_arg_t *arg)
{
	struct timeval tv = {1, 0};
	(void)side;
	(void)arg;
	CHECK(ev == MOS_ON_TIMEOUT && id == 7 + m->cpu);
	fires[m->cpu & 1]++;
	fprintf(out, "ctx %d timer at %u\n", m->cpu, mtcp_cb_get_ts(m));
	CHECK(mtcp_settimer(m, id, &tv, on_timer) == 0);
}

static void *run(void *arg)
{
	int cpu = (int)(long)arg;
	struct timeval tv = {1, 0};
	mctx_t m = mtcp_create_context(cpu);
	CHECK(m && mtcp_settimer(m, 7 + cpu, &tv, on_timer) == 0);
	if (m)
		mtcp_app_join(m);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 3 ? atoi(argv[3]) : 1;
	if (argc < 3 || n < 1 || n > 2) {
		fprintf(stderr, "usage: timers_only CONF OUT [1|2]\n");
		return 2;
	}
	out = fopen(argv[2], "w");
	if (!out || mtcp_init(argv[1]) < 0) {
		fprintf(stderr, "timers_only: init failed: %s\n", strerror(errno));
		return 2;
	}
	pthread_t th[2];
	for (long i = 0; i < n; i++)
		pthread_create(&th[i], NULL, run, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	fprintf(out, "fires %ld %ld\ntimers_only: %d failures\n", fires[0], fires[1], fails);
	mtcp_destroy();
	fclose(out);
	return fails != 0;
}
