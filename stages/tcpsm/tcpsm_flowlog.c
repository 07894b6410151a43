/* tcpsm flow log: state and end names, flow-log records (one per connection
 * when it ends) and their JSON lines. The records travel through the
 * pipeline's record log (runtime/reclog.h: a service the runtime runs, which
 * tcpsm declares in its stage type), whose writer thread calls
 * tcpsm_flowrec_line; each instance's records keep the order its flows
 * ended in. Calls nothing else of tcpsm (README.md, "Layers"). */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tcpsm-int.h"

const char *tcpsm_state_name(unsigned st)
{
	static const char *const n[MP_TCP_ST_N] = {
	    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
	    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
	};
	return st < MP_TCP_ST_N ? n[st] : "?";
}

const char *tcpsm_end_name(unsigned end)
{
	switch (end) {
	case TCPSM_END_FIN: return "fin";
	case TCPSM_END_RST: return "rst";
	case TCPSM_END_TIMEOUT: return "timeout";
	case TCPSM_END_EVICTED: return "evicted";
	case TCPSM_END_OPEN: return "open";
	default: return "?";
	}
}

void tcpsm_flowrec_fill(struct tcpsm_flowrec *r, const struct tcpsm_flow *f)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->cli, f->cli_is_a ? f->key.a : f->key.b, 16);
	memcpy(r->svr, f->cli_is_a ? f->key.b : f->key.a, 16);
	r->cli_port = f->cli_is_a ? f->key.pa : f->key.pb;
	r->svr_port = f->cli_is_a ? f->key.pb : f->key.pa;
	r->v6 = f->key.v6;
	r->cli_state = f->s[0].state;
	r->svr_state = f->s[1].state;
	r->end = f->end;
	r->midstream = f->midstream;
	r->first_ts = f->first_ts;
	r->last_ts = f->last_ts;
	for (int i = 0; i < 2; i++) {
		r->pkts[i] = f->s[i].pkts;
		r->bytes[i] = tcpsm_side_bytes(&f->s[i]);
		r->missed[i] = tcpsm_side_missed(&f->s[i]);
		r->rexmit[i] = f->s[i].rexmit;
		r->rexmit_bytes[i] = f->s[i].rexmit_bytes;
	}
}

unsigned tcpsm_flow_end_reason(const struct tcpsm_flow *f)
{
	return f->end;
}

/* ---- the line ------------------------------------------------------------- */

static void fmt_ep(char *out, size_t len, const uint8_t *a, uint16_t port, int v6)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

int tcpsm_flowrec_format(const struct tcpsm_flowrec *r, char *buf, size_t len)
{
	char cli[64], svr[64];
	fmt_ep(cli, sizeof(cli), r->cli, r->cli_port, r->v6);
	fmt_ep(svr, sizeof(svr), r->svr, r->svr_port, r->v6);
	return snprintf(buf, len,
	                "{\"cli\":\"%s\",\"svr\":\"%s\",\"cli_state\":\"%s\",\"svr_state\":\"%s\",\"end\":\"%s\","
	                "\"first_ts\":%" PRIu64 ".%06" PRIu64 ",\"last_ts\":%" PRIu64 ".%06" PRIu64 ",\"midstream\":%s,"
	                "\"cli_pkts\":%" PRIu64 ",\"cli_bytes\":%" PRIu64 ",\"cli_missed\":%" PRIu64
	                ",\"cli_rexmit\":%" PRIu64 ",\"cli_rexmit_bytes\":%" PRIu64 ","
	                "\"svr_pkts\":%" PRIu64 ",\"svr_bytes\":%" PRIu64 ",\"svr_missed\":%" PRIu64
	                ",\"svr_rexmit\":%" PRIu64 ",\"svr_rexmit_bytes\":%" PRIu64 "}\n",
	                cli, svr, tcpsm_state_name(r->cli_state), tcpsm_state_name(r->svr_state),
	                tcpsm_end_name(r->end), r->first_ts / 1000000000u, (r->first_ts % 1000000000u) / 1000u,
	                r->last_ts / 1000000000u, (r->last_ts % 1000000000u) / 1000u, r->midstream ? "true" : "false",
	                r->pkts[0], r->bytes[0], r->missed[0], r->rexmit[0], r->rexmit_bytes[0], r->pkts[1],
	                r->bytes[1], r->missed[1], r->rexmit[1], r->rexmit_bytes[1]);
}

int tcpsm_flowrec_line(const void *rec, char *line, unsigned len)
{
	return tcpsm_flowrec_format(rec, line, len);
}

int tcpsm_flowrec_sheddable(const struct tcpsm_flowrec *r)
{
	if (r->end == TCPSM_END_EVICTED)
		return 1;
	return r->bytes[0] + r->bytes[1] == 0 && r->end != TCPSM_END_FIN && r->end != TCPSM_END_RST;
}
