/* Every built-in event at both hooks on one stream socket: prints one line
 * per callback (flow, event, hook, side, both states at the event, bytes
 * peeked on NEW_DATA, payload length of the packet) so that run.sh compares
 * the exact sequence with tests/api/expected/trace.txt. */
#include "common.h"

/* Per lcore: with two app instances, callbacks run on two lcores. */
static __thread int hook_of_cb;

static void on_ev(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	char name[128], line[512];
	static __thread char buf[65536];
	int cli = -1, svr = -1;
	socklen_t l = sizeof(int);
	struct pkt_info p;
	(void)arg;
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_CLI, &cli, &l);
	l = sizeof(int);
	mtcp_getsockopt(m, sock, SOL_MONSOCKET, MOS_TCP_STATE_SVR, &svr, &l);
	int plen = mtcp_getlastpkt(m, sock, side, &p) == 0 ? p.payloadlen : -1;
	/* One write per line: lines of flows on two lcores must not mix. */
	int ln = snprintf(line, sizeof(line), "%s %s %s %s cli=%s svr=%s len=%d",
	                  api_flow_name(m, sock, name, sizeof(name)), api_ev_name(ev), hook_of_cb ? "RCV" : "SND",
	                  side == MOS_SIDE_CLI ? "CLI" : "SVR", mos_tcp_state_name(cli), mos_tcp_state_name(svr), plen);
	/* What peek returns at one event depends on how far tcpsm ran ahead;
	 * the totals per side at the end do not. */
	struct tot {
		long bytes[2], gaps[2];
		int ends;
	} *t = mtcp_get_uctx(m, sock);
	if (!t) {
		t = calloc(1, sizeof(*t));
		mtcp_set_uctx(m, sock, t);
	}
	if (ev == MOS_ON_CONN_NEW_DATA) {
		ssize_t n;
		while ((n = mtcp_peek(m, sock, side, buf, sizeof(buf))) != 0) {
			if (n < 0)
				t->gaps[side] += -n;
			else
				t->bytes[side] += n;
		}
	}
	if (ev == MOS_ON_CONN_END && ++t->ends == 2) {
		for (int sd = 0; sd < 2; sd++) {
			ssize_t n;
			while ((n = mtcp_peek(m, sock, sd, buf, sizeof(buf))) > 0)
				t->bytes[sd] += n;
		}
		ln +=
		    snprintf(line + ln, sizeof(line) - (size_t)ln, " peeked cli=%ld svr=%ld", t->bytes[0], t->bytes[1]);
		free(t);
		mtcp_set_uctx(m, sock, NULL);
	}
	fprintf(out, "%s\n", line);
}

static void on_snd(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	hook_of_cb = 0;
	on_ev(m, sock, side, ev, arg);
}

static void on_rcv(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	hook_of_cb = 1;
	on_ev(m, sock, side, ev, arg);
}

int main(int argc, char **argv)
{
	mctx_t m = api_start(argc, argv);
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	/* NEW_DATA and ERROR concern the receiver only: registering them at
	 * MOS_HK_SND is refused (they could never fire there). */
	event_t snd = MOS_ON_CONN_START | MOS_ON_TCP_STATE_CHANGE | MOS_ON_REXMIT | MOS_ON_CONN_END;
	event_t all = snd | MOS_ON_CONN_NEW_DATA | MOS_ON_ERROR;
	if (s < 0 || mtcp_register_callback(m, s, snd, MOS_HK_SND, on_snd) < 0 ||
	    mtcp_register_callback(m, s, all, MOS_HK_RCV, on_rcv) < 0) {
		fprintf(stderr, "trace: setup failed: %s\n", strerror(errno));
		return 1;
	}
	mtcp_app_join(m);
	api_finish();
	return 0;
}
