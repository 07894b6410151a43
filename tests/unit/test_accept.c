/* Unit tests of the receiver's model (stages/tcpsm/tcpsm_accept.c): for each
 * case of stages/tcpsm/README.md's table, a segment the receiving host's
 * stack refuses leaves the stream it receives alone (and is counted, with
 * MOS_ON_ERROR and its reason), one it takes gets in. Packets are mp_meta
 * values built by hand with their payload; the stream is read from the
 * receiver's buffer as an application would (reader mode). The decisive
 * checks against a real Linux receiver are tests/evasion/. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-types.h"
#include "meta-types.h"
#include "reasm.h"
#include "tcpsm-int.h"

#define MS 1000000ULL
#define T0 (1700000000ULL * 1000000000ULL)
#define S_ MP_TH_SYN
#define A_ MP_TH_ACK
#define F_ MP_TH_FIN
#define R_ MP_TH_RST
#define P_ MP_TH_PSH
#define U_ MP_TH_URG
#define CLI MP_SIDE_CLI
#define SVR MP_SIDE_SVR

static struct tcpsm_inst *ti;
static uint64_t now;
static struct mp_meta last;

static void on_end_cb(struct tcpsm_inst *t, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	(void)t;
	(void)ev;
	(void)arg;
	tcpsm_flow_free(f);
}

static struct tcpsm_params params(void)
{
	struct tcpsm_params p;
	memset(&p, 0, sizeof(p));
	p.flows = 64;
	p.table_full = MP_FULL_EVICT;
	p.midstream = 1;
	p.csum_verify = 1;
	p.overlap = MP_OVERLAP_TARGET;
	p.idle_ns = 300000 * MS;
	p.syn_ns = 30000 * MS;
	p.tw_ns = 1000 * MS;
	p.buf_size = 65536;
	p.buf_pool = 4 << 20;
	return p;
}

static void start(struct tcpsm_params p)
{
	now = T0;
	ti = tcpsm_inst_create(&p, 0, NULL, NULL, on_end_cb, NULL);
	ck_assert_ptr_nonnull(ti);
	/* Reader mode on both sides from the first byte, so that the test can
	 * read the streams as an application does. */
	ti->new_ctl = TCPSM_CTL_READER(0) | TCPSM_CTL_READER(1);
}

static void setup(void)
{
	start(params());
}

static void teardown(void)
{
	tcpsm_inst_destroy(ti);
	ti = NULL;
}

static uint64_t ctr(unsigned id)
{
	return ti->ctr[id];
}

/* Client 10.0.0.1:40000, server 10.0.0.2:80. */
static struct mp_meta pkt(int from_cli, uint8_t th, uint32_t seq, uint32_t ack, const char *data)
{
	struct mp_meta md;
	uint8_t c[4] = {10, 0, 0, 1}, s[4] = {10, 0, 0, 2};
	memset(&md, 0, sizeof(md));
	md.kind = MP_PKT_DATA;
	md.flags = MP_MF_IPV4 | MP_MF_TCP;
	md.ip_proto = 6;
	md.ts_ns = now;
	memcpy(md.src, from_cli ? c : s, 4);
	memcpy(md.dst, from_cli ? s : c, 4);
	md.sport = from_cli ? 40000 : 80;
	md.dport = from_cli ? 80 : 40000;
	md.tcp_flags = th;
	md.seq = seq;
	md.ack = ack;
	md.win = 1000;
	md.opt.ttl = 64;
	md.pay_len = md.pay_cap = (uint16_t)(data ? strlen(data) : 0);
	md.hash = 77;
	return md;
}

static struct tcpsm_flow *send_md(struct mp_meta *md, const char *data)
{
	now += MS;
	md->ts_ns = now;
	tcpsm_process(ti, md, (const uint8_t *)data);
	last = *md;
	return md->flow;
}

static struct tcpsm_flow *go(int from_cli, uint8_t th, uint32_t seq, uint32_t ack, const char *data)
{
	struct mp_meta md = pkt(from_cli, th, seq, ack, data);
	return send_md(&md, data);
}

/* With timestamp option tsval. */
static struct tcpsm_flow *go_ts(int from_cli, uint8_t th, uint32_t seq, uint32_t ack, const char *data, uint32_t tsval)
{
	struct mp_meta md = pkt(from_cli, th, seq, ack, data);
	md.opt.present |= MP_TO_TS;
	md.opt.tsval = tsval;
	return send_md(&md, data);
}

/* Client ISN 1000, server ISN 5000, windows 1000 (no scaling). */
static struct tcpsm_flow *handshake(void)
{
	go(1, S_, 1000, 0, NULL);
	go(0, S_ | A_, 5000, 1001, NULL);
	return go(1, A_, 1001, 5001, NULL);
}

/* Everything side receives, read as its application would; gaps as '~'. */
static const char *stream(struct tcpsm_flow *f, unsigned side)
{
	static char out[4096];
	size_t n = 0;
	struct reasm *r = f->s[side].buf;
	if (!r)
		return "";
	for (;;) {
		char b[1024];
		ssize_t k = reasm_peek(r, b, sizeof(b));
		if (k == 0)
			break;
		if (k < 0) {
			for (ssize_t i = 0; i < -k && n < sizeof(out) - 1; i++)
				out[n++] = '~';
			continue;
		}
		memcpy(out + n, b, (size_t)k < sizeof(out) - 1 - n ? (size_t)k : sizeof(out) - 1 - n);
		n += (size_t)k;
	}
	out[n] = 0;
	return out;
}

#define REFUSED(why)                                                                                                   \
	do {                                                                                                           \
		ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_ERROR);                                                         \
		ck_assert_uint_eq(last.err, why);                                                                      \
		ck_assert(!(last.ev[MP_HOOK_RCV] & MP_ON_CONN_NEW_DATA));                                              \
	} while (0)

/* ---- flags ----------------------------------------------------------------- */

START_TEST(no_ack_refused)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, P_, 1006, 0, "EVIL"); /* tcp_rcv_established: !th->ack -> discard */
	REFUSED(TCPSM_ERR_NO_ACK);
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_NO_ACK), 1);
	go(1, A_ | P_, 1006, 5001, "GOOD");
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_NEW_DATA);
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD");
}
END_TEST

START_TEST(syn_data_not_taken)
{
	go(1, S_, 1000, 0, "EVIL"); /* no Fast Open: the listener keeps none of it */
	ck_assert_uint_eq(last.err, TCPSM_ERR_SYN_DATA);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_ERROR);
	go(0, S_ | A_, 5000, 1001, NULL); /* acknowledges the SYN only */
	struct tcpsm_flow *f = go(1, A_ | P_, 1001, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "GOOD");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_SYN_DATA), 1);
	/* The SYN's bytes were on the wire: the real ones re-send that space. */
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
}
END_TEST

START_TEST(synack_data_not_taken)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, NULL);
	go(0, S_ | A_, 5000, 1001, "EVIL"); /* tcp_rcv_synsent_state_process(): not queued */
	ck_assert_uint_eq(last.err, TCPSM_ERR_SYN_DATA);
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_ESTABLISHED);
	go(1, A_, 1001, 5001, NULL);
	go(0, A_ | P_, 5001, 1001, "GOOD");
	ck_assert_str_eq(stream(f, CLI), "GOOD");
}
END_TEST

START_TEST(handshake_wrong_ack)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, NULL);
	go(0, S_ | A_, 5000, 1001, NULL);
	/* tcp_check_req(): the ACK must acknowledge the SYN-ACK exactly. */
	go(1, A_ | P_, 1001, 5777, "EVIL");
	REFUSED(TCPSM_ERR_HANDSHAKE);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_SYN_RCVD);
	go(1, A_ | P_, 1001, 5001, "GOOD");
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_ESTABLISHED);
	ck_assert_str_eq(stream(f, SVR), "GOOD");
}
END_TEST

START_TEST(synsent_needs_synack)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, NULL);
	/* The client waits for a SYN-ACK: data without SYN, or a SYN-ACK
	 * acknowledging something else, is refused. */
	go(0, A_ | P_, 5001, 1001, "EVIL");
	REFUSED(TCPSM_ERR_HANDSHAKE);
	go(0, S_ | A_, 5000, 1777, NULL);
	REFUSED(TCPSM_ERR_HANDSHAKE);
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_SYN_SENT);
	go(0, S_ | A_, 5000, 1001, NULL);
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_ESTABLISHED);
}
END_TEST

/* The box missed the SYN-ACK (arkime no-syn-ack): the client's bare ACK
 * shows it got one; data it sends before any ACK of the sort is out of
 * state (apps/firewall drops it); the SYN-ACK coming late is the
 * handshake's, not a SYN inside the connection. */
START_TEST(missed_synack)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, NULL);
	go(1, A_ | P_, 1001, 1, "EARLY"); /* before any SYN-ACK */
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_SYN_SENT);
	go(1, A_, 1001, 5001, NULL); /* the handshake's last ACK */
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_ESTABLISHED);
	go(0, A_ | P_, 5001, 1001, "RESPONSE");
	ck_assert_uint_eq(last.err, 0);
	ck_assert_str_eq(stream(f, CLI), "RESPONSE");
	go(0, S_ | A_, 5000, 1001, NULL); /* late */
	ck_assert_uint_eq(last.err, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_SYN_EST), 0);
}
END_TEST

/* ---- window ------------------------------------------------------------------ */

START_TEST(window_right_edge)
{
	struct tcpsm_flow *f = handshake();        /* the server's window: 1000 from 1001 */
	go(1, A_ | P_, 1001 + 1000, 5001, "EVIL"); /* at the right edge: out */
	ck_assert_uint_eq(last.err, TCPSM_ERR_WINDOW);
	go(1, A_ | P_, 1001 + 5000, 5001, "FAR!");
	REFUSED(TCPSM_ERR_WINDOW);
	go(1, A_ | P_, 1001 + 990, 5001, "INWINDOW-STRADDLE"); /* starts inside: taken whole */
	ck_assert_uint_eq(last.err, 0);
	char body[991];
	memset(body, 'x', 990);
	body[990] = 0;
	go(1, A_ | P_, 1001, 5001, body);
	const char *st = stream(f, SVR);
	ck_assert_uint_eq(strlen(st), 990 + 17);
	ck_assert_str_eq(st + 990, "INWINDOW-STRADDLE");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_WINDOW), 2);
}
END_TEST

START_TEST(window_scaled)
{
	struct mp_meta md = pkt(1, S_, 1000, 0, NULL);
	md.opt.present = MP_TO_WSCALE;
	md.opt.wscale = 7;
	struct tcpsm_flow *f = send_md(&md, NULL);
	md = pkt(0, S_ | A_, 5000, 1001, NULL);
	md.opt.present = MP_TO_WSCALE;
	md.opt.wscale = 7;
	send_md(&md, NULL);
	go(1, A_, 1001, 5001, NULL);
	md = pkt(0, A_, 5001, 1001, NULL); /* server's window: 1000 << 7 */
	send_md(&md, NULL);
	go(1, A_ | P_, 1001 + 30000, 5001, "IN"); /* inside the scaled window */
	ck_assert_uint_eq(last.err, 0);
	/* Inside too, but beyond the box's 64K buffer: taken by the model,
	 * not kept (a hole later), and the edge does not move. */
	go(1, A_ | P_, 1001 + 100000, 5001, "IN");
	ck_assert_uint_eq(last.err, TCPSM_ERR_BEYOND);
	ck_assert_uint_eq(ctr(TCPSM_C_REASM_BEYOND), 1);
	go(1, A_ | P_, 1001 + 128000, 5001, "OUT");
	ck_assert_uint_eq(last.err, TCPSM_ERR_WINDOW);
	(void)f;
}
END_TEST

START_TEST(zero_window)
{
	struct tcpsm_flow *f = handshake();
	char full[1001];
	memset(full, 'f', 1000);
	full[1000] = 0;
	go(1, A_ | P_, 1001, 5001, full); /* fills the server's 1000 bytes */
	struct mp_meta md = pkt(0, A_, 5001, 2001, NULL);
	md.win = 0; /* the application reads nothing */
	send_md(&md, NULL);
	go(1, A_ | P_, 2001, 5001, "EVIL"); /* tcp_data_queue(): zero window, in order: dropped */
	ck_assert_uint_eq(last.err, TCPSM_ERR_WINDOW);
	ck_assert_uint_eq(strlen(stream(f, SVR)), 1000);
	/* A reordered older ACK with a smaller window does not pull the
	 * right edge back. */
	md = pkt(0, A_, 5001, 2001, NULL); /* the window opens: edge 3001 */
	send_md(&md, NULL);
	md = pkt(0, A_, 5001, 1501, NULL);
	md.win = 100;
	send_md(&md, NULL);
	go(1, A_ | P_, 2001 + 900, 5001, "EDGE");
	ck_assert_uint_eq(last.err, 0);
	go(1, A_ | P_, 2001, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "GOOD");
}
END_TEST

START_TEST(old_segment)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(0, A_, 5001, 1006, NULL);
	go(1, A_ | P_, 1001, 5001, "XXXX"); /* left of the window: a retransmission ignored */
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert(!(last.ev[MP_HOOK_RCV] & MP_ON_ERROR));
	ck_assert_uint_eq(ctr(TCPSM_C_OLD_SEGMENTS), 1);
	ck_assert_str_eq(stream(f, SVR), "HEAD.");
}
END_TEST

/* ---- PAWS ---------------------------------------------------------------------- */

static struct tcpsm_flow *handshake_ts(void)
{
	go_ts(1, S_, 1000, 0, NULL, 1000);
	go_ts(0, S_ | A_, 5000, 1001, NULL, 777);
	return go_ts(1, A_, 1001, 5001, NULL, 1001);
}

START_TEST(paws_linux)
{
	struct tcpsm_flow *f = handshake_ts();
	go_ts(1, A_ | P_, 1001, 5001, "HEAD.", 1005);
	go_ts(0, A_, 5001, 1006, NULL, 780);
	go_ts(1, A_ | P_, 1006, 5001, "EVIL", 900); /* older than TS.Recent 1005 */
	REFUSED(TCPSM_ERR_PAWS);
	go_ts(1, A_ | P_, 1006, 5001, "ZERO", 0); /* 0 is older too (Linux) */
	ck_assert_uint_eq(last.err, TCPSM_ERR_PAWS);
	go_ts(1, A_ | P_, 1006, 5001, "GOOD", 1004); /* one tick older: tolerated */
	ck_assert_uint_eq(last.err, 0);
	go(1, A_ | P_, 1010, 5001, ".NOTS"); /* no timestamp at all: taken */
	ck_assert_uint_eq(last.err, 0);
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD.NOTS");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_PAWS), 2);
	/* An RST passes PAWS (it is still checked for its sequence number). */
	go_ts(1, R_ | A_, 1015, 5001, NULL, 1);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
}
END_TEST

START_TEST(paws_windows)
{
	struct tcpsm_params p = params();
	p.policy = MP_POLICY_WINDOWS;
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake_ts();
	ck_assert_uint_eq(f->s[SVR].rcv.policy, MP_POLICY_WINDOWS);
	go_ts(1, A_ | P_, 1001, 5001, "HEAD.", 1005);
	go_ts(0, A_, 5001, 1006, NULL, 780);
	go_ts(1, A_ | P_, 1006, 5001, "OLD1", 1004); /* no tick of slack (stream5 ValidTimestamp) */
	ck_assert_uint_eq(last.err, TCPSM_ERR_PAWS);
	go_ts(1, A_ | P_, 1006, 5001, "ZERO", 0); /* but 0 is taken */
	ck_assert_uint_eq(last.err, 0);
	ck_assert_str_eq(stream(f, SVR), "HEAD.ZERO");
}
END_TEST

/* ---- acknowledgments --------------------------------------------------------------- */

START_TEST(ack_unsent_and_old)
{
	struct tcpsm_flow *f = handshake();
	go(0, A_ | P_, 5001, 1001, "0123456789");
	go(1, A_ | P_, 1001, 5011, "HEAD.");
	go(1, A_ | P_, 1006, 5011 + 50000, "EVIL"); /* tcp_ack(): after snd_nxt */
	REFUSED(TCPSM_ERR_ACK_UNSENT);
	/* Older than snd_una - min(max_window, bytes_acked) = 5011 - 10. */
	go(1, A_ | P_, 1006, 5000, "OLD!");
	REFUSED(TCPSM_ERR_ACK_OLD);
	go(1, A_ | P_, 1006, 5005, "GOOD"); /* old, but within what was acked: taken */
	ck_assert_uint_eq(last.err, 0);
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_ACK_UNSENT), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_ACK_OLD), 1);
}
END_TEST

/* ---- resets ------------------------------------------------------------------------ */

START_TEST(rst_rules)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, R_ | A_, 1006 + 100, 5001, NULL); /* in the window, not RCV.NXT */
	REFUSED(TCPSM_ERR_RST_INWIN);
	go(1, R_ | A_, 1006 + 100000, 5001, NULL); /* outside */
	REFUSED(TCPSM_ERR_RST_OUT);
	go(1, R_, 1006 - 2000, 0, NULL); /* left of it */
	ck_assert_uint_eq(last.err, TCPSM_ERR_RST_OUT);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_ESTABLISHED);
	go(1, A_ | P_, 1006, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD");
	go(1, R_, 1010, 0, NULL); /* exact, no ACK needed */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END);
	/* Nothing enters after the reset (the host has no socket any more). */
	go(1, A_ | P_, 1010, 5001, "EVIL");
	ck_assert_uint_eq(last.err, TCPSM_ERR_AFTER_RST);
	ck_assert_str_eq(stream(f, SVR), "");
	ck_assert_uint_eq(ctr(TCPSM_C_RST_CHALLENGED), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 2);
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_AFTER_RST), 1);
}
END_TEST

START_TEST(rst_after_fin_and_sack)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, NULL); /* the server took the FIN: RCV.NXT 1002 */
	go(1, R_ | A_, 1001, 5001, NULL); /* RCV.NXT - 1 after a FIN: tcp_reset_check() */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
	/* The right edge of the last SACK block is taken too. */
	f = go(1, S_, 2000, 0, NULL);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_REUSED), 1);
	go(0, S_ | A_, 9000, 2001, NULL);
	go(1, A_, 2001, 9001, NULL);
	go(1, A_ | P_, 2011, 9001, "held");
	struct mp_meta md = pkt(0, A_, 9001, 2001, NULL);
	md.opt.n_sack = 1;
	md.opt.sack[0][0] = 2011;
	md.opt.sack[0][1] = 2015;
	send_md(&md, NULL);
	go(1, R_, 2015, 0, NULL);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
}
END_TEST

/* The server closes first; the client's FIN puts it in TIME_WAIT (a timewait
 * socket). A late server segment then draws an RST from the closed client
 * with seq = its ACK = the client's FIN = RCV.NXT - 1: Linux's timewait
 * socket takes an RST at exactly RCV.NXT only (tcp_timewait_state_process();
 * tcp_reset_check()'s RCV.NXT - 1 is for CLOSE_WAIT, LAST_ACK, CLOSING), so
 * the server stays in TIME_WAIT. Seen in tests/inline/flowlog_test.sh: ss
 * showed TIME_WAIT where the box had logged CLOSED. */
START_TEST(rst_time_wait_exact_only)
{
	struct tcpsm_flow *f = handshake();
	go(0, F_ | A_, 5001, 1001, NULL); /* server FIN: FIN_WAIT_1 */
	go(1, A_, 1001, 5002, NULL);      /* client: CLOSE_WAIT, server FIN_WAIT_2 */
	go(1, F_ | A_, 1001, 5002, NULL); /* client FIN: LAST_ACK; server TIME_WAIT */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_TIME_WAIT);
	go(0, A_, 5002, 1002, NULL); /* server's last ACK: client CLOSED */
	ck_assert_uint_eq(f->s[CLI].state, MP_TCP_ST_CLOSED);
	go(1, R_, 1001, 0, NULL); /* RCV.NXT - 1: left of the window */
	ck_assert_uint_eq(last.err, TCPSM_ERR_RST_OUT);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_TIME_WAIT);
	ck_assert_uint_eq(f->end, TCPSM_END_FIN);
	go(1, R_, 1002, 0, NULL); /* exactly RCV.NXT: TIME_WAIT assassination (RFC 1337) */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
}
END_TEST

/* The same RST at RCV.NXT - 1 resets a receiver in LAST_ACK. */
START_TEST(rst_last_ack_fin_minus_one)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, NULL); /* server: CLOSE_WAIT, RCV.NXT 1002 */
	go(0, F_ | A_, 5001, 1002, NULL); /* server: LAST_ACK */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_LAST_ACK);
	go(1, R_, 1001, 0, NULL);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
}
END_TEST

START_TEST(windows_rst_exact_only)
{
	struct tcpsm_params p = params();
	p.policy = MP_POLICY_WINDOWS;
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, NULL);
	go(1, R_ | A_, 1001, 5001, NULL); /* RCV.NXT - 1: not for Windows */
	ck_assert_uint_eq(last.err, TCPSM_ERR_RST_INWIN);
	ck_assert_uint_ne(f->s[SVR].state, MP_TCP_ST_CLOSED);
	go(1, R_ | A_, 1002, 5001, NULL);
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
}
END_TEST

/* ---- FIN ---------------------------------------------------------------------------- */

START_TEST(data_after_fin)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, F_ | A_, 1006, 5001, NULL);
	go(1, A_ | P_, 1006, 5001, "EVIL"); /* at the FIN: the reader has had EOF */
	REFUSED(TCPSM_ERR_AFTER_FIN);
	go(1, A_ | P_, 1007, 5001, "EVIL");
	REFUSED(TCPSM_ERR_AFTER_FIN);
	go(1, A_ | P_, 1003, 5001, "ADXXX"); /* old bytes, then past the FIN: trimmed */
	ck_assert_uint_eq(last.err, TCPSM_ERR_AFTER_FIN);
	ck_assert_str_eq(stream(f, SVR), "HEAD.");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_AFTER_FIN), 3);
	/* The sender's bytes end at the FIN too. */
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[CLI]), 5);
}
END_TEST

START_TEST(fin_out_of_order)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, F_ | A_, 1010, 5001, NULL); /* FIN held beyond a hole */
	go(1, A_ | P_, 1006, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_AFTER_FIN), 0);
	/* The FIN it held is taken once the bytes before it came: data at
	 * its place afterwards is past the reader's EOF. */
	go(1, A_ | P_, 1010, 5001, "EVIL");
	ck_assert_uint_eq(last.err, TCPSM_ERR_AFTER_FIN);
	ck_assert_str_eq(stream(f, SVR), "");
}
END_TEST

/* Data over a FIN held out of order replaces it (tcp_data_queue_ofo): the
 * stream goes on. */
START_TEST(fin_held_replaced)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, F_ | A_, 1010, 5001, NULL);
	go(1, A_ | P_, 1010, 5001, "MORE");
	go(1, A_ | P_, 1006, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOODMORE");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_AFTER_FIN), 0);
}
END_TEST

/* ---- SYN inside the connection ---------------------------------------------------- */

START_TEST(syn_in_established)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	struct reasm *buf = f->s[SVR].buf;
	go(1, S_, 77777, 0, NULL); /* another ISN: RFC 5961 4.2 challenge ACK */
	REFUSED(TCPSM_ERR_SYN_EST);
	go(1, S_ | A_, 1005, 5001, "EVIL"); /* in the window, with data */
	REFUSED(TCPSM_ERR_SYN_EST);
	/* Nothing was re-based nor freed under the reader. */
	ck_assert_ptr_eq(f->s[SVR].buf, buf);
	ck_assert_uint_eq(f->s[CLI].base_seq, 1001);
	go(1, A_ | P_, 1006, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "HEAD.GOOD");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_SYN_EST), 2);
}
END_TEST

START_TEST(syn_in_midstream_flow)
{
	/* Picked up mid-stream; the reader holds bytes not yet read. */
	struct tcpsm_flow *f = go(1, A_ | P_, 3000, 8000, "MIDSTREAM-");
	ck_assert_uint_eq(f->midstream, 1);
	go(0, A_, 8000, 3010, NULL);
	struct reasm *buf = f->s[SVR].buf;
	ck_assert_ptr_nonnull(buf);
	go(1, S_, 123, 0, NULL); /* a SYN: once re-based the side and freed its buffer */
	REFUSED(TCPSM_ERR_SYN_EST);
	ck_assert_ptr_eq(f->s[SVR].buf, buf);
	ck_assert_uint_eq(f->s[CLI].base_seq, 3000);
	go(1, A_ | P_, 3010, 8000, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "MIDSTREAM-GOOD");
	/* The server answers that SYN with a SYN-ACK: its old connection was
	 * gone. The old flow ends (its reader keeps its buffer), a new one
	 * starts. */
	struct tcpsm_flow *g = go(0, S_ | A_, 60000, 124, NULL);
	ck_assert_ptr_ne(g, NULL);
	ck_assert_uint_eq(ctr(TCPSM_C_NEW_CONN_ON_TUPLE), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_END_OPEN), 1);
	go(1, A_ | P_, 124, 60001, "NEW");
	ck_assert_str_eq(stream(last.flow, SVR), "NEW");
}
END_TEST

START_TEST(windows_syn_at_rcv_nxt_resets)
{
	struct tcpsm_params p = params();
	p.policy = MP_POLICY_WINDOWS;
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go(1, S_, 4444, 0, NULL); /* elsewhere: ignored */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_ESTABLISHED);
	go(1, S_, 1006, 0, NULL); /* at RCV.NXT: Windows resets (stream5 RepeatedSyn) */
	ck_assert_uint_eq(f->s[SVR].state, MP_TCP_ST_CLOSED);
	ck_assert_uint_eq(last.err, TCPSM_ERR_SYN_EST);
}
END_TEST

/* ---- urgent data ------------------------------------------------------------------ */

static struct tcpsm_flow *go_urg(int from_cli, uint32_t seq, uint32_t ack, const char *data, uint16_t urp)
{
	struct mp_meta md = pkt(from_cli, A_ | P_ | U_, seq, ack, data);
	md.opt.urp = urp;
	return send_md(&md, data);
}

START_TEST(urgent_removed)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	go_urg(1, 1006, 5001, "ABCD", 2); /* the byte before the pointer: 'B' (tcp_stdurg = 0) */
	ck_assert_uint_eq(last.err, TCPSM_ERR_URGENT);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_ERROR);
	go(1, A_ | P_, 1010, 5001, ".TAIL");
	ck_assert_str_eq(stream(f, SVR), "HEAD.ACD.TAIL");
	/* A pointer into the next segment; then two in turn. */
	go_urg(1, 1015, 5001, "EFGH", 6);
	go(1, A_ | P_, 1019, 5001, "IJKL"); /* 'J' */
	go_urg(1, 1023, 5001, "MN", 1);     /* 'M' */
	go(1, A_ | P_, 1025, 5001, "OP");
	go_urg(1, 1027, 5001, "QR", 2); /* 'R' */
	ck_assert_str_eq(stream(f, SVR), "EFGHIKLNOPQ");
	ck_assert_uint_eq(ctr(TCPSM_C_URGENT_REMOVED), 4);
	/* A retransmission over a byte taken out stays aligned. */
	go(1, A_ | P_, 1023, 5001, "MNOP");
	ck_assert_str_eq(stream(f, SVR), "");
	ck_assert_uint_eq(ctr(TCPSM_C_REASM_INCONSISTENT), 0);
	go(1, A_ | P_, 1029, 5001, "ST");
	ck_assert_str_eq(stream(f, SVR), "ST");
}
END_TEST

START_TEST(urgent_inline)
{
	struct tcpsm_params p = params();
	p.urgent = MP_URGENT_INLINE;
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake();
	go_urg(1, 1001, 5001, "ABCD", 2);
	ck_assert_uint_eq(last.err, TCPSM_ERR_URGENT);
	ck_assert_str_eq(stream(f, SVR), "ABCD");
	ck_assert_uint_eq(ctr(TCPSM_C_URGENT_INLINE), 1);
}
END_TEST

START_TEST(urgent_pointer_cases)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.ABCD");
	/* A retransmission pointing at a byte already received: ignored
	 * (tcp_check_urg(): before(ptr, rcv_nxt)). */
	go_urg(1, 1006, 5001, "ABCD", 2);
	ck_assert_str_eq(stream(f, SVR), "HEAD.ABCD");
	ck_assert_uint_eq(ctr(TCPSM_C_URGENT_REMOVED), 0);
	/* Pointer 0: not decremented, so it names the segment's first byte. */
	go_urg(1, 1010, 5001, "EFGH", 0);
	ck_assert_str_eq(stream(f, SVR), "FGH");
	ck_assert_uint_eq(ctr(TCPSM_C_URGENT_REMOVED), 1);
}
END_TEST

/* ---- TTL and policies ---------------------------------------------------------------- */

START_TEST(min_ttl)
{
	struct tcpsm_params p = params();
	p.min_ttl = 10;
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake();
	struct mp_meta md = pkt(1, A_ | P_, 1001, 5001, "EVIL");
	md.opt.ttl = 3; /* dies on the way (Snort's min_ttl): the box cannot know */
	send_md(&md, "EVIL");
	REFUSED(TCPSM_ERR_TTL);
	go(1, A_ | P_, 1001, 5001, "GOOD");
	ck_assert_str_eq(stream(f, SVR), "GOOD");
	ck_assert_uint_eq(ctr(TCPSM_C_REFUSED_TTL), 1);
}
END_TEST

START_TEST(policy_by_network_and_api)
{
	struct tcpsm_params p = params();
	/* 10.0.0.2/32 (the server) = windows; 10.0.0.0/8 = linux. */
	p.n_policy_nets = 2;
	memset(p.policy_nets, 0, sizeof(p.policy_nets));
	p.policy_nets[0].addr[0] = 10;
	p.policy_nets[0].plen = 8;
	p.policy_nets[0].policy = MP_POLICY_LINUX;
	memcpy(p.policy_nets[1].addr, (uint8_t[]){10, 0, 0, 2}, 4);
	p.policy_nets[1].plen = 32;
	p.policy_nets[1].policy = MP_POLICY_WINDOWS;
	p.policy = MP_POLICY_WINDOWS; /* the default, for addresses outside both */
	teardown();
	start(p);
	struct tcpsm_flow *f = handshake();
	ck_assert_uint_eq(tcpsm_flow_policy(f, SVR), MP_POLICY_WINDOWS);
	ck_assert_uint_eq(tcpsm_flow_policy(f, CLI), MP_POLICY_LINUX);
	/* The server's buffer resolves overlaps as BSD/Windows does. */
	go(1, A_ | P_, 1002, 5001, "AB");
	ck_assert_uint_eq(((struct reasm *)f->s[SVR].buf)->policy, REASM_OVERLAP_BSD);
	/* The app changes it for this flow: from the next packet. */
	tcpsm_flow_set_policy(f, SVR, MP_POLICY_LINUX);
	ck_assert_uint_eq(tcpsm_flow_policy(f, SVR), MP_POLICY_LINUX);
	go(1, A_ | P_, 1002, 5001, "XYZ"); /* same start, longer: Linux takes it */
	ck_assert_uint_eq(f->s[SVR].rcv.policy, MP_POLICY_LINUX);
	ck_assert_uint_eq(((struct reasm *)f->s[SVR].buf)->policy, REASM_OVERLAP_LINUX);
	go(1, A_ | P_, 1001, 5001, "-");
	ck_assert_str_eq(stream(f, SVR), "-XYZ");
}
END_TEST

START_TEST(overlap_target_linux)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, "HEAD.");
	/* Held (4,BB), then a longer run at the same start: Linux replaces it. */
	go(1, A_ | P_, 1010, 5001, "BB");
	go(1, A_ | P_, 1010, 5001, "XXXX");
	ck_assert_uint_eq(last.err, TCPSM_ERR_OVERLAP);
	go(1, A_ | P_, 1006, 5001, "AAAA");
	ck_assert_str_eq(stream(f, SVR), "HEAD.AAAAXXXX");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("accept");
	TCase *t = tcase_create("receiver");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, no_ack_refused);
	tcase_add_test(t, syn_data_not_taken);
	tcase_add_test(t, synack_data_not_taken);
	tcase_add_test(t, handshake_wrong_ack);
	tcase_add_test(t, synsent_needs_synack);
	tcase_add_test(t, missed_synack);
	tcase_add_test(t, window_right_edge);
	tcase_add_test(t, window_scaled);
	tcase_add_test(t, zero_window);
	tcase_add_test(t, old_segment);
	tcase_add_test(t, paws_linux);
	tcase_add_test(t, paws_windows);
	tcase_add_test(t, ack_unsent_and_old);
	tcase_add_test(t, rst_rules);
	tcase_add_test(t, rst_after_fin_and_sack);
	tcase_add_test(t, rst_time_wait_exact_only);
	tcase_add_test(t, rst_last_ack_fin_minus_one);
	tcase_add_test(t, windows_rst_exact_only);
	tcase_add_test(t, data_after_fin);
	tcase_add_test(t, fin_out_of_order);
	tcase_add_test(t, fin_held_replaced);
	tcase_add_test(t, syn_in_established);
	tcase_add_test(t, syn_in_midstream_flow);
	tcase_add_test(t, windows_syn_at_rcv_nxt_resets);
	tcase_add_test(t, urgent_removed);
	tcase_add_test(t, urgent_inline);
	tcase_add_test(t, urgent_pointer_cases);
	tcase_add_test(t, min_ttl);
	tcase_add_test(t, policy_by_network_and_api);
	tcase_add_test(t, overlap_target_linux);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf ? 1 : 0;
}
