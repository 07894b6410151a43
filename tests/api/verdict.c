/* A small mOS-style inline middlebox for tests/inline/verdict_test.sh: real
 * TCP flows through two veths (MOSPIPE_INPUT=iface:A,B, pipeline.mode=inline
 * from MOSPIPE_SET or the conf file).
 *
 *   verdict CONF|- DROP_PORT REDACT_PORT [NOCSUM_PORT]
 *
 * One passive MOS_SOCK_MONITOR_STREAM socket per policy, each scoped with
 * mtcp_bind_monitor_filter to the flows of one server port, and a
 * MOS_ON_PKT_IN callback at MOS_HK_SND (once per packet, side = sender):
 *   - DROP_PORT: every packet of the flow, both directions, is dropped
 *     (mtcp_setlastpkt MOS_DROP); the client sees a stall.
 *   - REDACT_PORT: in server->client data, every occurrence of "SECRET!!"
 *     that lies wholly inside one TCP segment is overwritten with "REDACTED"
 *     (MOS_TCP_PAYLOAD | MOS_OVERWRITE with MOS_UPDATE_IP_CHKSUM |
 *     MOS_UPDATE_TCP_CHKSUM). Same length, so sequence numbers stay valid.
 *     A marker split across two segments is forwarded unchanged: the first
 *     part has already left when the second arrives, and rewriting half a
 *     marker would be worse. That per-segment rule is the whole guarantee;
 *     retransmissions are rewritten again the same way. Client->server data
 *     is never changed.
 *   - NOCSUM_PORT (optional, a negative control): the same overwrite without
 *     the checksum updates, so the receiving kernel discards those segments.
 * Flows of other ports match no socket and bypass the app stage.
 *
 * SIGINT/SIGTERM stop the pipeline (it drains, every flow gets CONN_END);
 * then it prints one line of counts and the pipeline totals:
 *   verdict-app: drop_flows=N dropped=N redact_flows=N rewritten_pkts=N
 *     markers=N nocsum_pkts=N ends=N errors=N signal=N
 *   verdict-totals: rx=N injected=N tx=N drops=N [DROP_REASON=N ...]
 * (the nonzero drop reasons of the pipeline, e.g. verdict_drop).
 * Exit status 0 unless setup or a setlastpkt call failed. */
#include <inttypes.h>
#include <signal.h>

#include "common.h"
#include "pipeline.h"
#include "app-types.h"

static const char MARK[8] = {'S', 'E', 'C', 'R', 'E', 'T', '!', '!'};
static const char REPL[8] = {'R', 'E', 'D', 'A', 'C', 'T', 'E', 'D'};

/* Counts, updated on the app lcore (one app instance), read after join. */
static uint64_t drop_flows, dropped, redact_flows, rewritten_pkts, markers, nocsum_pkts, ends, errors;
static int fails; /* for CHECK() in common.h */
static volatile sig_atomic_t got_sig;

static void on_sig(int s)
{
	got_sig = s;
}

static void on_drop_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m, (void)sock, (void)side, (void)ev, (void)arg;
	drop_flows++;
}

static void on_drop_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev, (void)arg;
	if (mtcp_setlastpkt(m, sock, side, 0, NULL, 0, MOS_DROP) == 0)
		dropped++;
	else {
		errors++;
		fprintf(stderr, "verdict: MOS_DROP failed: %s\n", strerror(errno));
	}
}

/* Overwrites every marker wholly inside this packet's payload; with csum,
 * the IP and TCP checksums are recomputed (on the last change only: the
 * checksum covers the whole segment). */
static void redact(mctx_t m, int sock, int side, int csum, uint64_t *pkts)
{
	struct pkt_info p;
	if (side != MOS_SIDE_SVR)
		return; /* only server->client data */
	if (mtcp_getlastpkt(m, sock, side, &p) < 0) {
		errors++;
		return;
	}
	if (p.payloadlen < sizeof(MARK))
		return;
	const uint8_t *pl = p.payload;
	unsigned found[256], n = 0;
	for (unsigned i = 0; i + sizeof(MARK) <= p.payloadlen && n < 256;) {
		if (pl[i] == 'S' && !memcmp(pl + i, MARK, sizeof(MARK))) {
			found[n++] = i;
			i += sizeof(MARK);
		} else
			i++;
	}
	for (unsigned k = 0; k < n; k++) {
		int opt = MOS_TCP_PAYLOAD | MOS_OVERWRITE;
		if (csum && k == n - 1)
			opt |= MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM;
		if (mtcp_setlastpkt(m, sock, side, found[k], (byte *)REPL, sizeof(REPL), opt) < 0) {
			errors++;
			fprintf(stderr, "verdict: MOS_OVERWRITE at %u of %u failed: %s\n", found[k], p.payloadlen,
			        strerror(errno));
			return;
		}
		markers += csum;
	}
	if (n)
		(*pkts)++;
}

static void on_redact_start(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m, (void)sock, (void)side, (void)ev, (void)arg;
	redact_flows++;
}

static void on_redact_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev, (void)arg;
	redact(m, sock, side, 1, &rewritten_pkts);
}

static void on_nocsum_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)ev, (void)arg;
	redact(m, sock, side, 0, &nocsum_pkts);
}

static void on_end(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	(void)m, (void)sock, (void)side, (void)ev, (void)arg;
	ends++;
}

/* A passive socket following the flows to server port `port`. */
static int policy_socket(mctx_t m, int port, callback_t on_pkt, callback_t on_start)
{
	char expr[64];
	union monitor_filter ft = {0};
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	snprintf(expr, sizeof(expr), "tcp dst port %d", port);
	ft.stream_syn_filter = expr;
	if (s < 0 || mtcp_bind_monitor_filter(m, s, &ft) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt) < 0 ||
	    (on_start && mtcp_register_callback(m, s, MOS_ON_CONN_START, MOS_HK_SND, on_start) < 0) ||
	    mtcp_register_callback(m, s, MOS_ON_CONN_END, MOS_HK_SND, on_end) < 0) {
		fprintf(stderr, "verdict: setup of the port %d socket failed: %s\n", port, strerror(errno));
		return -1;
	}
	return s;
}

int main(int argc, char **argv)
{
	out = stdout;
	if (argc < 4) {
		fprintf(stderr, "usage: %s CONF|- DROP_PORT REDACT_PORT [NOCSUM_PORT]\n", argv[0]);
		return 2;
	}
	int drop_port = atoi(argv[2]), redact_port = atoi(argv[3]), nocsum_port = argc > 4 ? atoi(argv[4]) : 0;
	if (mtcp_init(strcmp(argv[1], "-") ? argv[1] : NULL) < 0) {
		fprintf(stderr, "verdict: mtcp_init: %s\n", strerror(errno));
		return 2;
	}
	mctx_t m = mtcp_create_context(0);
	if (!m) {
		fprintf(stderr, "verdict: mtcp_create_context: %s\n", strerror(errno));
		return 2;
	}
	if (mtcp_register_signal(SIGINT, on_sig) != on_sig || mtcp_register_signal(SIGTERM, on_sig) != on_sig ||
	    policy_socket(m, drop_port, on_drop_pkt, on_drop_start) < 0 ||
	    policy_socket(m, redact_port, on_redact_pkt, on_redact_start) < 0 ||
	    (nocsum_port && policy_socket(m, nocsum_port, on_nocsum_pkt, NULL) < 0))
		return 2;
	fprintf(stderr, "verdict: running (drop %d, redact %d, nocsum %d)\n", drop_port, redact_port, nocsum_port);
	mtcp_app_join(m);

	struct mp_totals t;
	mp_totals(mp_api_cur->pl, &t);
	printf("verdict-app: drop_flows=%" PRIu64 " dropped=%" PRIu64 " redact_flows=%" PRIu64
	       " rewritten_pkts=%" PRIu64 " markers=%" PRIu64 " nocsum_pkts=%" PRIu64 " ends=%" PRIu64
	       " errors=%" PRIu64 " signal=%d\n",
	       drop_flows, dropped, redact_flows, rewritten_pkts, markers, nocsum_pkts, ends, errors, (int)got_sig);
	printf("verdict-totals: rx=%" PRIu64 " injected=%" PRIu64 " tx=%" PRIu64 " drops=%" PRIu64, t.rx, t.injected,
	       t.tx, t.drops);
	for (unsigned i = 0; i < t.n_drops; i++)
		if (t.drop[i].n)
			printf(" %s=%" PRIu64, t.drop[i].name, t.drop[i].n);
	printf("\n");
	fflush(stdout);
	api_finish();
	return errors != 0 || fails != 0;
}
