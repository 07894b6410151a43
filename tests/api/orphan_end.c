/* MOS_ON_ORPHAN with stream sockets that want little: a TCP packet is an
 * orphan when it belongs to no flow, or comes after its flow's CONN_END
 * (mOS destroys the stream then), and only then. Registering the orphan
 * callback must not send every packet of every followed flow to the app
 * stage: before CONN_END the flow's packets are no orphans, and those no
 * callback wants are bypassed (events' `bypassed` counter, run.sh).
 *
 *   orphan_end CONF OUT   prints "conn_end N orphans M orphan_payload B"
 *   with every orphan's time (us) and payload length. */
#include "common.h"

static int fails;
static long ends, orphans, orphan_payload;

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m;
	(void)sock;
	(void)side;
	(void)ev;
	(void)arg;
	ends++;
}

static void on_orphan(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)arg;
	CHECK(ev == MOS_ON_ORPHAN && side == MOS_SIDE_BOTH);
	CHECK(mtcp_getlastpkt(m, sock, side, &p) == 0);
	if (!p.tcph)
		return;
	orphans++;
	orphan_payload += p.payloadlen;
	fprintf(out, "orphan at %u payload %u\n", mtcp_cb_get_ts(m), (unsigned)p.payloadlen);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	CHECK(s >= 0);
	CHECK(mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) == 0);
	CHECK(mtcp_register_callback(m, s, MOS_ON_ORPHAN, MOS_NULL, on_orphan) == 0);
	mtcp_app_join(m);
	fprintf(out, "conn_end %ld orphans %ld orphan_payload %ld\n", ends, orphans, orphan_payload);
	fprintf(out, "orphan_end: %d failures\n", fails);
	api_finish();
	return fails != 0;
}
