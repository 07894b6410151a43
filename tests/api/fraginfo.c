/* MOS_FRAGINFO_* with out-of-order data (capture: mkpcap.py ooo). The client
 * sends bytes [0, 100), then [200, 250) out of order, then the hole
 * [100, 200); 64 pure ACKs from the server pad between them so that tcpsm (burst = 1,
 * options.conf),
 * running a few packets ahead of the app stage, has not stored the next
 * segment when the callback looks. Nothing is peeked, so fragments are all
 * stored bytes from offset 0. At MOS_ON_PKT_IN (MOS_HK_RCV) of each data
 * segment the callback prints the server buffer's fragments; it also checks
 * *optlen sizing: room for one fragment returns the first one only, room for
 * none is EINVAL while there are fragments. */
#include <inttypes.h>

#include "common.h"

static int fails;

static void on_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	struct tcp_ring_fragment fr[8], one[2];
	socklen_t l;
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_SVR || mtcp_getlastpkt(m, sock, side, &p) < 0 || p.payloadlen == 0)
		return;
	l = sizeof(fr);
	if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_SVRBUF, fr, &l) < 0) {
		fprintf(out, "FAIL getsockopt: %s\n", strerror(errno));
		fails++;
		return;
	}
	CHECK(l % sizeof(fr[0]) == 0);
	fprintf(out, "segment %" PRIu64 "+%u: %u fragments", p.offset, p.payloadlen, (unsigned)(l / sizeof(fr[0])));
	for (unsigned i = 0; i < l / sizeof(fr[0]); i++)
		fprintf(out, " [%" PRIu64 ",+%u]", fr[i].offset, fr[i].len);
	fprintf(out, "\n");
	if (l == 0)
		return;
	l = sizeof(one[0]) + sizeof(one[0]) / 2; /* room for one and a half */
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_SVRBUF, one, &l) == 0);
	CHECK(l == sizeof(one[0]) && one[0].offset == fr[0].offset && one[0].len == fr[0].len);
	l = sizeof(one[0]) - 1;
	errno = 0;
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_SVRBUF, one, &l) == -1 && errno == EINVAL);
	/* The client's buffer received nothing: no fragments. */
	l = sizeof(fr);
	CHECK(mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_FRAGINFO_CLIBUF, fr, &l) == 0 && l == 0);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_RCV, on_pkt) < 0) {
		fprintf(stderr, "fraginfo: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	fprintf(out, "fraginfo: %d failures\n", fails);
	api_finish();
	return 0;
}
