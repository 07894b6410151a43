/* Test of what acct takes its clock from, the extension mospipe_event_time()
 * (include/mospipe_ext.h, section "ids"): outside a callback it fails
 * (EPERM/EACCES), with a NULL pointer EINVAL; in a callback it gives the
 * packet time at full width, which mOS's own clocks truncate:
 * mtcp_cb_get_ts() to 32-bit microseconds, pkt_info.cur_ts to 32-bit
 * milliseconds. Built against the public headers only (acct.mk). Runs on
 * $MOSPIPE_INPUT (a capture in time order); prints the first and last packet
 * time seen (ns) and "ext_time: N failures". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <mos_api.h>
#include <mospipe_ext.h>

static uint64_t first_ns, last_ns, pkts;
static int fails;

#define CHECK(c)                                                                                                       \
	do {                                                                                                           \
		if (!(c)) {                                                                                            \
			printf("FAIL %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #c, errno);                          \
			fails++;                                                                                       \
		}                                                                                                      \
	} while (0)

static void on_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	uint64_t t = 0;
	(void)ev;
	(void)arg;
	CHECK(mospipe_event_time(m, &t) == 0);
	CHECK(mospipe_event_time(m, NULL) == -1 && errno == EINVAL);
	CHECK(mtcp_getlastpkt(m, sock, side, &p) == 0);
	/* The same clock as mOS's, without the truncation. */
	CHECK((uint32_t)(t / 1000) == mtcp_cb_get_ts(m));
	CHECK(t >= last_ns);
	CHECK((uint32_t)(t / 1000000) == p.cur_ts); /* its milliseconds, truncated to 32 bits */
	if (!first_ns)
		first_ns = t;
	last_ns = t;
	pkts++;
}

int main(void)
{
	uint64_t t = 0;
	CHECK(mospipe_event_time(NULL, &t) == -1);
	if (mtcp_init(NULL) < 0) {
		perror("ext_time: mtcp_init");
		return 2;
	}
	mctx_t m = mtcp_create_context(0);
	int s = m ? mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0) : -1;
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt) < 0) {
		perror("ext_time: set-up");
		return 2;
	}
	/* At set-up, not in a callback. */
	CHECK(mospipe_event_time(m, &t) == -1 && errno == EPERM);
	mtcp_app_join(m);
	CHECK(mospipe_event_time(m, &t) == -1 && (errno == EPERM || errno == EACCES));
	mtcp_destroy();
	printf("packets %" PRIu64 " first_ns %" PRIu64 " last_ns %" PRIu64 "\n", pkts, first_ns, last_ns);
	printf("ext_time: %d failures\n", fails);
	return fails ? 1 : 0;
}
