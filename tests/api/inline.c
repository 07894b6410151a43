/* Inline verdicts through the API on a capture (inline mode, output written
 * with [output] pcap): at the client's request (MOS_ON_CONN_NEW_DATA, server
 * side) it
 *   - rewrites "GET /obj/22.txt" into "PUT /obj/22.txt" (MOS_OVERWRITE of the
 *     payload with MOS_UPDATE_TCP_CHKSUM),
 *   - drops the packet carrying "GET /obj/28.txt" (MOS_DROP),
 *   - resets the connection of "GET /obj/24.txt" (mtcp_reset_conn: two RSTs
 *     after the packet, each at the sequence number its receiver expects;
 *     the flow is still followed, as in mOS, and ends by its own packets),
 *   - drops "GET /obj/25.txt" and then resets its connection (the RST to the
 *     server carries the dropped packet's sequence number, which the server
 *     still expects),
 *   - resets 192.168.50.13:50155 at its SYN (MOS_HK_SND, CONN_START): the SYN
 *     is dropped and the client gets RST|ACK, seq 0, ack = ISN + 1 (RFC 9293
 *     3.10.7.1),
 *   - sends a copy of the packet carrying "GET /obj/7.txt" (mtcp_sendpkt).
 * Then prints the pipeline totals and whether rx + injected = tx + drops.
 * run.sh checks the output capture with tcpdump. */
#include <inttypes.h>

#include "common.h"
#include "pipeline.h"
#include "app-types.h"

static int fails, reset_ends;

static void on_data(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct pkt_info p;
	char name[128];
	(void)ev;
	(void)arg;
	if (side != MOS_SIDE_SVR || mtcp_getlastpkt(m, sock, side, &p) < 0 || p.payloadlen < 16)
		return;
	const char *pl = (const char *)p.payload;
	if (!memcmp(pl, "GET /obj/22.txt", 15)) {
		CHECK(mtcp_setlastpkt(m, sock, side, 0, (byte *)"PUT", 3,
		                      MOS_TCP_PAYLOAD | MOS_OVERWRITE | MOS_UPDATE_TCP_CHKSUM) == 0);
		fprintf(out, "%s rewritten\n", api_flow_name(m, sock, name, sizeof(name)));
	} else if (!memcmp(pl, "GET /obj/28.txt", 15)) {
		CHECK(mtcp_setlastpkt(m, sock, side, 0, NULL, 0, MOS_DROP) == 0);
		fprintf(out, "%s dropped\n", api_flow_name(m, sock, name, sizeof(name)));
	} else if (!memcmp(pl, "GET /obj/25.txt", 15)) {
		CHECK(mtcp_setlastpkt(m, sock, side, 0, NULL, 0, MOS_DROP) == 0);
		CHECK(mtcp_reset_conn(m, sock) == 0);
		fprintf(out, "%s dropped and reset\n", api_flow_name(m, sock, name, sizeof(name)));
	} else if (!memcmp(pl, "GET /obj/24.txt", 15)) {
		CHECK(mtcp_reset_conn(m, sock) == 0);
		fprintf(out, "%s reset\n", api_flow_name(m, sock, name, sizeof(name)));
	} else if (!memcmp(pl, "GET /obj/7.txt", 14)) {
		CHECK(mtcp_sendpkt(m, sock, &p) == 0);
		fprintf(out, "%s duplicated\n", api_flow_name(m, sock, name, sizeof(name)));
	}
}

static void on_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)ev;
	(void)arg;
	if (!strcmp(api_flow_name(m, sock, name, sizeof(name)), "192.168.50.13:50155>198.51.100.10:80")) {
		CHECK(mtcp_reset_conn(m, sock) == 0);
		fprintf(out, "%s reset at its SYN\n", name);
	}
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128];
	(void)side;
	(void)ev;
	(void)arg;
	api_flow_name(m, sock, name, sizeof(name));
	if (!strcmp(name, "192.168.50.10:56791>198.51.100.10:80")) {
		reset_ends++;
		fprintf(out, "%s CONN_END after reset\n", name);
	}
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0 || mtcp_register_callback(m, s, MOS_ON_CONN_NEW_DATA, MOS_HK_RCV, on_data) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0) {
		fprintf(stderr, "inline: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	struct mp_totals t;
	mp_totals(mp_api_cur->pl, &t);
	fprintf(out, "totals: rx %" PRIu64 " injected %" PRIu64 " tx %" PRIu64 " drops %" PRIu64 "\n", t.rx, t.injected,
	        t.tx, t.drops);
	CHECK(t.injected == 6 && t.rx + t.injected == t.tx + t.drops);
	CHECK(reset_ends == 1);
	fprintf(out, "inline: %d failures\n", fails);
	api_finish();
	return fails != 0;
}
