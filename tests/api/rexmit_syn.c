/* The mOS guide's SYN-retransmission counter: a UDE on MOS_ON_REXMIT whose
 * filter looks at the packet (mtcp_getlastpkt) and holds for a SYN without
 * ACK; its callback counts. Registered at MOS_HK_RCV as the guide and the
 * paper do (mOS raises REXMIT in the receiver's context). Prints the count
 * per flow and the total. */
#include "common.h"

static long total;

static bool is_syn(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	(void)ev;
	(void)arg;
	if (mtcp_getlastpkt(m, sock, side, &p) < 0 || !p.tcph)
		return false;
	uint8_t flags = ((const uint8_t *)p.tcph)[13];
	return (flags & 0x12) == 0x02;
}

static void on_syn_rexmit(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)ev;
	(void)arg;
	total++;
	fprintf(out, "%s SYN rexmit\n", api_flow_name(m, sock, name, sizeof(name)));
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	event_t ev = mtcp_define_event(MOS_ON_REXMIT, is_syn);
	if (s < 0 || !ev || mtcp_register_callback(m, s, ev, MOS_HK_RCV, on_syn_rexmit) < 0) {
		fprintf(stderr, "rexmit_syn: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	fprintf(out, "total %ld\n", total);
	api_finish();
	return 0;
}
