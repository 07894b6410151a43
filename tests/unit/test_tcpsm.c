/* Unit tests of tcpsm's per-packet logic on plain memory (no EAL): both
 * emulated stacks through every transition, retransmission and byte
 * accounting, timeouts on packet time, flow-table limits, flow-log records,
 * reassembly buffers and the RCU connection table. Packets are mp_meta
 * values built by hand, as classify would fill them. */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <urcu-qsbr.h>

#include "conf-types.h"
#include "conntable.h"
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

/* ---- harness ------------------------------------------------------------- */

struct ended {
	struct tcpsm_flowrec rec;
	uint32_t ev;
};
static struct ended ends[2048];
static unsigned n_ends;
static struct tcpsm_inst *ti;

static void on_end_cb(struct tcpsm_inst *t, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	(void)t;
	(void)arg;
	ck_assert_uint_lt(n_ends, 2048);
	tcpsm_flowrec_fill(&ends[n_ends].rec, f);
	ends[n_ends++].ev = ev;
	tcpsm_flow_free(f);
}

static struct tcpsm_params defparams(void)
{
	struct tcpsm_params p;
	memset(&p, 0, sizeof(p));
	p.flows = 64;
	p.table_full = MP_FULL_EVICT;
	p.midstream = 1;
	p.csum_verify = 1;
	p.idle_ns = 300000 * MS;
	p.syn_ns = 30000 * MS;
	p.tw_ns = 1000 * MS;
	return p;
}

static uint16_t cport, sport_;
static uint64_t now;

static void setup_with(struct tcpsm_params p)
{
	n_ends = 0;
	cport = 40000;
	sport_ = 80;
	now = T0;
	ti = tcpsm_inst_create(&p, 0, NULL, NULL, on_end_cb, NULL);
	ck_assert_ptr_nonnull(ti);
}

static void setup(void)
{
	setup_with(defparams());
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

/* Client 10.0.0.1:40000 (cport), server 10.0.0.2:80 unless changed. */

static struct mp_meta pkt(int from_cli, uint8_t th, uint32_t seq, uint32_t ack, uint16_t len)
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
	md.sport = from_cli ? cport : sport_;
	md.dport = from_cli ? sport_ : cport;
	md.tcp_flags = th;
	md.seq = seq;
	md.ack = ack;
	md.win = 65535;
	md.pay_len = md.pay_cap = len;
	md.hash = 77;
	return md;
}

static struct mp_meta last;

static struct tcpsm_flow *go(int from_cli, uint8_t th, uint32_t seq, uint32_t ack, uint16_t len)
{
	last = pkt(from_cli, th, seq, ack, len);
	tcpsm_process(ti, &last, NULL);
	return last.flow;
}

#define CLI(f) ((f)->s[MP_SIDE_CLI].state)
#define SVR(f) ((f)->s[MP_SIDE_SVR].state)

/* Client ISN 1000, server ISN 5000. */
static struct tcpsm_flow *handshake(void)
{
	go(1, S_, 1000, 0, 0);
	go(0, S_ | A_, 5000, 1001, 0);
	return go(1, A_, 1001, 5001, 0);
}

/* ---- state machines ------------------------------------------------------ */

START_TEST(three_way_handshake)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(last.side, MP_SIDE_CLI);
	ck_assert_uint_eq(last.st[MP_HOOK_SND][0], MP_TCP_ST_SYN_SENT);
	ck_assert_uint_eq(last.st[MP_HOOK_SND][1], MP_TCP_ST_LISTEN);
	ck_assert_uint_eq(last.st[MP_HOOK_RCV][1], MP_TCP_ST_SYN_RCVD);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_CONN_START);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_TCP_STATE_CHANGE);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_PKT_IN);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_START);
	ck_assert(f->s[0].flags & TCPSM_SF_SYN);

	ck_assert_ptr_eq(go(0, S_ | A_, 5000, 1001, 0), f);
	ck_assert_uint_eq(last.side, MP_SIDE_SVR);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_RCVD);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_TCP_STATE_CHANGE));
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_TCP_STATE_CHANGE);

	go(1, A_, 1001, 5001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(last.st[MP_HOOK_RCV][1], MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(f->midstream, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_NEW), 1);
	/* Same flow from both directions, data counted per side. */
	ck_assert_ptr_eq(go(1, A_ | P_, 1001, 5001, 100), f);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_NEW_DATA);
	ck_assert_ptr_eq(go(0, A_ | P_, 5001, 1101, 300), f);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 100);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 300);
	ck_assert_uint_eq(f->s[0].pkts, 3);
	ck_assert_uint_eq(f->s[1].pkts, 2);
}
END_TEST

START_TEST(active_close_by_client)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_FIN_WAIT_1);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSE_WAIT);
	go(0, A_, 5001, 1002, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_FIN_WAIT_2);
	go(0, F_ | A_, 5001, 1002, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_LAST_ACK);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_TIME_WAIT);
	ck_assert(!(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END));
	now += 10 * MS;
	go(1, A_, 1002, 5002, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSED);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_CONN_END);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END);
	ck_assert_uint_eq(f->closed, 1);
	/* TIME_WAIT runs on packet time, then the flow ends with "fin" and
	 * no second CONN_END. */
	ck_assert_uint_eq(tcpsm_expire(ti, now + 999 * MS, 100), 0);
	ck_assert_uint_eq(tcpsm_expire(ti, now + 1000 * MS, 100), 1);
	ck_assert_uint_eq(n_ends, 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_FIN);
	ck_assert_uint_eq(ends[0].ev, 0);
	ck_assert_uint_eq(ends[0].rec.cli_state, MP_TCP_ST_TIME_WAIT);
	ck_assert_uint_eq(ends[0].rec.svr_state, MP_TCP_ST_CLOSED);
	ck_assert_uint_eq(ends[0].rec.bytes[0], 0);
	ck_assert_uint_eq(ends[0].rec.missed[1], 0);
	ck_assert_uint_eq(ctr(TCPSM_C_END_FIN), 1);
}
END_TEST

START_TEST(simultaneous_open)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, 0);
	go(0, S_, 5000, 0, 0); /* the server opens too: crossing SYNs */
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_SENT);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_SYN_RCVD);
	go(1, S_ | A_, 1000, 5001, 0);
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	go(0, S_ | A_, 5000, 1001, 0);
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(f->s[0].rexmit + f->s[1].rexmit, 0);
}
END_TEST

START_TEST(simultaneous_close)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, 0);
	go(0, F_ | A_, 5001, 1001, 0); /* sent before the client's FIN arrived */
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSING);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_CLOSING);
	go(1, A_, 1002, 5002, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_TIME_WAIT);
	go(0, A_, 5002, 1002, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_TIME_WAIT);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END);
	ck_assert_uint_eq(f->end, TCPSM_END_FIN);
}
END_TEST

START_TEST(half_close)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, 0);
	go(0, A_, 5001, 1002, 0);
	/* The server keeps sending after the client's FIN. */
	go(0, A_ | P_, 5001, 1002, 500);
	go(0, A_ | P_, 5501, 1002, 500);
	go(1, A_, 1002, 6001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_FIN_WAIT_2);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSE_WAIT);
	go(0, F_ | A_, 6001, 1002, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_LAST_ACK);
	go(1, A_, 1002, 6002, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSED);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 1000);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[1]), 0);
	ck_assert_uint_eq(f->s[1].rexmit, 0);
}
END_TEST

START_TEST(rst_in_window)
{
	struct tcpsm_flow *f = handshake();
	go(0, A_ | P_, 5001, 1001, 100);
	/* Within the client's window but not at RCV.NXT: RFC 5961 3.2, a
	 * challenge ACK (tcp_validate_incoming()); the connection goes on. */
	go(0, R_ | A_, 5101 + 10, 1001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_CHALLENGED), 1);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_ERROR);
	ck_assert_uint_eq(last.err, TCPSM_ERR_RST_INWIN);
	go(0, R_ | A_, 5101, 1001, 0); /* at RCV.NXT: taken */
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_CLOSED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSED);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_ACCEPTED), 1);
	tcpsm_end_all(ti, 10);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_RST);
}
END_TEST

START_TEST(rst_out_of_window)
{
	struct tcpsm_flow *f = handshake();
	go(0, R_ | A_, 5001 + 1000000, 1001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert(!(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END));
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 1);
	go(1, R_, 1001 - 5000, 0, 0); /* behind the server's window */
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 2);
}
END_TEST

/* tests/inline/flowlog_test.sh found: a server segment delayed past the
 * client's FIN still carries the older ACK. Taking it made the client's RST
 * answering that stale segment (seq = the old ACK) look in-window, although
 * the server, like Linux, expects the sequence number after the FIN. */
START_TEST(stale_ack_does_not_reopen_rst_window)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, 100);
	go(0, A_, 5001, 1101, 0);             /* server acknowledges the data */
	go(0, A_ | P_, 5001, 1001, 50);       /* a delayed server segment: older ACK */
	ck_assert_uint_eq(f->s[1].ack, 1101); /* the ACK does not go backwards */
	go(1, R_, 1001, 0, 0);                /* RST answering the stale segment */
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 1);
}
END_TEST

/* Also from flowlog_test.sh: the server's first FIN is lost before the box,
 * its dup-ACKs (seq = FIN + 1) stretch the range one byte past the end; the
 * retransmitted FIN must bring it back: 1000 bytes sent, none missed. */
START_TEST(fin_clamps_range_stretched_by_acks)
{
	struct tcpsm_flow *f = handshake();
	go(0, A_ | P_, 5001, 1001, 1000);
	go(0, A_, 6002, 1001, 0); /* after a FIN the box never saw */
	go(0, F_ | A_, 6001, 1001, 0);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 1000);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[1]), 0);
}
END_TEST

/* More holes at once than before (8): losses before the box leave several
 * segments to be retransmitted; none of their bytes may stay "missed". */
START_TEST(many_holes_filled_are_not_missed)
{
	struct tcpsm_flow *f = handshake();
	uint32_t base = 5001;
	/* Segments 0..15 of 100 bytes; the odd ones are lost at first. */
	for (unsigned i = 0; i < 16; i += 2)
		go(0, A_ | P_, base + i * 100, 1001, 100);
	for (unsigned i = 1; i < 16; i += 2)
		go(0, A_ | P_, base + i * 100, 1001, 100);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 1600);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[1]), 0);
}
END_TEST

/* zeek rst-inject-rae.pcap: a spoofed RST-ACK (seq 0, ack = ISN rather than
 * ISN + 1) before the real SYN-ACK neither kills nor seeds the flow. */
START_TEST(rst_injected_before_synack)
{
	struct tcpsm_flow *f = go(1, S_, 1569339004u, 0, 0);
	go(0, R_ | A_, 0, 1569339004u, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_SYN_SENT);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_RCVD);
	ck_assert(!(f->s[1].flags & TCPSM_SF_SEQ));
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 1);
	go(0, S_ | A_, 1616457233u, 1569339005u, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(f->s[1].base_seq, 1616457234u);
	go(1, A_ | P_, 1569339005u, 1616457234u, 25);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 0);
}
END_TEST

/* A genuine refusal (RST-ACK acking ISN + 1) is accepted. */
START_TEST(rst_refuses_syn)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, 0);
	go(0, R_ | A_, 0, 1001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_CLOSED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_CLOSED);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_CONN_END);
}
END_TEST

START_TEST(syn_and_fin_rexmit)
{
	struct tcpsm_flow *f = go(1, S_, 1000, 0, 0);
	go(1, S_, 1000, 0, 0);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_CONN_START));
	ck_assert_uint_eq(f->s[0].rexmit, 1);
	go(0, S_ | A_, 5000, 1001, 0);
	go(0, S_ | A_, 5000, 1001, 0);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert_uint_eq(f->s[1].rexmit, 1);
	go(1, A_, 1001, 5001, 0);
	go(1, F_ | A_, 1001, 5001, 0);
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	go(1, F_ | A_, 1001, 5001, 0);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert_uint_eq(f->s[0].rexmit, 2);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_FIN_WAIT_1);
	ck_assert_uint_eq(ctr(TCPSM_C_REXMIT_SEGS), 3);
}
END_TEST

START_TEST(time_wait_reuse)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, 0);
	go(0, F_ | A_, 5001, 1002, 0);
	go(1, A_, 1002, 5002, 0);
	ck_assert_uint_eq(f->closed, 1);
	now += 1 * MS; /* well inside TIME_WAIT */
	struct tcpsm_flow *g = go(1, S_, 90000, 0, 0);
	ck_assert_uint_eq(n_ends, 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_FIN);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(CLI(g), MP_TCP_ST_SYN_SENT);
	ck_assert_uint_eq(g->s[0].pkts, 1);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_CONN_START);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_REUSED), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_NEW), 2);
}
END_TEST

/* arkime tcp-reassembly-synthetic 40009: a SYN inside the old sequence
 * space during TIME_WAIT is an old duplicate, not a new connection. */
START_TEST(time_wait_stale_syn)
{
	struct tcpsm_flow *f = handshake();
	go(1, F_ | A_, 1001, 5001, 0);
	go(0, F_ | A_, 5001, 1002, 0);
	go(1, A_, 1002, 5002, 0);
	ck_assert_ptr_eq(go(1, S_, 1000, 0, 0), f);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert_uint_eq(f->s[0].rexmit, 1);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_TIME_WAIT);
	ck_assert_uint_eq(n_ends, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_NEW), 1);
	/* After an RST a same-ISN SYN is a new attempt (zeek pop3 REJ x3). */
	cport = 40001;
	go(1, S_, 1000, 0, 0);
	go(0, R_ | A_, 0, 1001, 0);
	struct tcpsm_flow *g = go(1, S_, 1000, 0, 0);
	ck_assert_uint_eq(n_ends, 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_RST);
	ck_assert_uint_eq(CLI(g), MP_TCP_ST_SYN_SENT);
	cport = 40000;
}
END_TEST

START_TEST(wraparound)
{
	go(1, S_, 0xFFFFFFF0u, 0, 0);
	go(0, S_ | A_, 5000, 0xFFFFFFF1u, 0);
	struct tcpsm_flow *f = go(1, A_, 0xFFFFFFF1u, 5001, 0);
	go(1, A_, 0xFFFFFFF1u, 5001, 10);
	go(1, A_, 0xFFFFFFFBu, 5001, 10); /* crosses 0 */
	go(1, A_, 0x00000005u, 5001, 10);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 30);
	ck_assert_uint_eq(f->s[0].rexmit, 0);
	go(1, A_, 0xFFFFFFFBu, 5001, 10);
	ck_assert_uint_eq(f->s[0].rexmit, 1);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 30);
	go(0, A_, 5001, 0x0000000Fu, 0);
	go(1, F_ | A_, 0x0000000Fu, 5001, 0);
	go(0, A_, 5001, 0x00000010u, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_FIN_WAIT_2);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 0);
}
END_TEST

START_TEST(window_scale_clamp)
{
	struct mp_meta md = pkt(1, S_, 1000, 0, 0);
	md.opt.present = MP_TO_WSCALE;
	md.opt.wscale = 255;
	tcpsm_process(ti, &md, NULL);
	struct tcpsm_flow *f = md.flow;
	ck_assert_uint_eq(f->s[0].wscale, 14);
	ck_assert_uint_eq(ctr(TCPSM_C_WSCALE_CLAMPED), 1);
	md = pkt(0, S_ | A_, 5000, 1001, 0);
	md.opt.present = MP_TO_WSCALE;
	md.opt.wscale = 2;
	tcpsm_process(ti, &md, NULL);
	ck_assert_uint_eq(f->s[1].wscale, 2);
	md = pkt(1, A_, 1001, 5001, 0);
	md.win = 3;
	tcpsm_process(ti, &md, NULL);
	ck_assert_uint_eq(f->s[0].win, 3u << 14);
	/* The scaled window (3 << 14) is what puts a far RST inside it: a
	 * challenge ACK (RFC 5961), not "outside the window"; beyond it, out. */
	go(0, R_ | A_, 5001 + 40000, 1001, 0);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_CHALLENGED), 1);
	go(0, R_ | A_, 5001 + (3u << 14) + 10, 1001, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_RST_OUT_OF_WINDOW), 1);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
}
END_TEST

START_TEST(midstream_pickup)
{
	/* First packet from the server (port 80): roles still come out right. */
	struct tcpsm_flow *f = go(0, A_ | P_, 7000, 2000, 100);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->midstream, 1);
	ck_assert_uint_eq(last.side, MP_SIDE_SVR);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_CONN_START);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_MIDSTREAM), 1);
	go(1, A_ | P_, 2000, 7100, 50);
	ck_assert_uint_eq(last.side, MP_SIDE_CLI);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 50);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[1]), 100);
	tcpsm_end_all(ti, 10);
	ck_assert_uint_eq(ends[0].rec.midstream, 1);
	ck_assert_uint_eq(ends[0].rec.cli_port, 40000);
	ck_assert_uint_eq(ends[0].rec.svr_port, 80);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_OPEN);
	ck_assert(ends[0].ev & MP_ON_CONN_END);
}
END_TEST

/* zeek http-on-irc-port-missing-syn: client on 6669, server on 80. */
START_TEST(midstream_well_known_port)
{
	cport = 6669;
	struct tcpsm_flow *f = go(1, A_ | P_, 2000, 7000, 10);
	cport = 40000;
	ck_assert_uint_eq(last.side, MP_SIDE_CLI);
	ck_assert_uint_eq(f->cli_is_a, 1);
}
END_TEST

/* SYN-ACK first (SYN lost or reordered): its sender is the server. */
START_TEST(midstream_synack_first)
{
	struct tcpsm_flow *f = go(0, S_ | A_, 5000, 1001, 0);
	ck_assert_uint_eq(last.side, MP_SIDE_SVR);
	ck_assert_uint_eq(f->midstream, 1);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_RCVD);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	go(1, S_, 1000, 0, 0); /* the late SYN */
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	go(1, A_, 1001, 5001, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	go(1, A_ | P_, 1001, 5001, 20);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 20);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 0);
}
END_TEST

/* Server side only (one-sided-2745): SYN-ACK, then the server ACKs 67
 * bytes of client data it must have received with the client's ACK of its
 * SYN: it is ESTABLISHED, so the flow is on the idle timeout (300 s), not
 * the half-open one (30 s), and its FIN 36 s later still belongs to it. */
START_TEST(synrcvd_acking_data_is_established)
{
	struct tcpsm_flow *f = go(0, S_ | A_, 5000, 1001, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_RCVD);
	go(0, A_, 5001, 1001, 0); /* acknowledges only the SYN: proves nothing */
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_SYN_RCVD);
	go(0, A_, 5001, 1068, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_TCP_STATE_CHANGE);
	/* Idle timeout; unconfirmed (only the server seen) but not half-open. */
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	now += 36000 * MS;
	ck_assert_ptr_eq(go(0, F_ | A_, 5001, 1068, 0), f);
	ck_assert_uint_eq(n_ends, 0);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_FIN_WAIT_1);
	ck_assert_uint_eq(f->s[MP_SIDE_SVR].pkts, 4);
}
END_TEST

START_TEST(midstream_off_orphans)
{
	struct tcpsm_params p = defparams();
	p.midstream = 0;
	tcpsm_inst_destroy(ti);
	setup_with(p);
	ck_assert_ptr_null(go(1, A_ | P_, 2000, 7000, 10));
	ck_assert(last.flags & MP_MF_ORPHAN);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_ORPHAN);
	ck_assert_uint_eq(ctr(TCPSM_C_ORPHANS), 1);
	ck_assert_uint_eq(ti->n_active, 0);
	/* A SYN still opens a flow. */
	ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	/* A lone RST never does, even with pickup on. */
	tcpsm_inst_destroy(ti);
	setup();
	ck_assert_ptr_null(go(1, R_, 5, 0, 0));
	ck_assert(last.flags & MP_MF_ORPHAN);
}
END_TEST

START_TEST(rexmit_without_buffers)
{
	struct tcpsm_flow *f = handshake();
	go(1, A_, 1001, 5001, 100);
	go(1, A_, 1101, 5001, 100);
	go(1, A_, 1001, 5001, 100); /* only old space */
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert(!(last.ev[MP_HOOK_RCV] & MP_ON_CONN_NEW_DATA));
	go(1, A_, 1151, 5001, 100); /* half old, half new: not a rexmit */
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	go(1, A_, 1401, 5001, 100); /* leaves a hole at 1251..1401 */
	go(1, A_, 1301, 5001, 100); /* fills part of it, out of order */
	ck_assert(!(last.ev[MP_HOOK_SND] & MP_ON_REXMIT));
	ck_assert_uint_eq(f->s[0].rexmit, 1);
	ck_assert_uint_eq(f->s[0].rexmit_bytes, 100);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 500);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 50);
	/* Snaplen: 200 bytes on the wire, 40 captured. */
	struct mp_meta md = pkt(1, A_, 1501, 5001, 200);
	md.pay_cap = 40;
	tcpsm_process(ti, &md, NULL);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 700);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 50 + 160);
	/* A FIN after lost data shows how far the stream went. */
	go(1, F_ | A_, 1801, 5001, 0);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 800);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 50 + 160 + 100);
}
END_TEST

START_TEST(many_holes_bounded)
{
	struct tcpsm_flow *f = handshake();
	/* Every other 10-byte block: more holes than the set keeps. */
	for (unsigned i = 0; i < 20; i++)
		go(1, A_, 1001 + 20 * i, 5001, 10);
	ck_assert_uint_le(f->s[0].sent.n, TCPSM_IVS_N);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 390);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 190);
	ck_assert_uint_eq(f->s[0].rexmit, 0);
}
END_TEST

/* Up to TCPSM_IVS_N holes open at once are exact: each filled later is new
 * data, not a retransmission, and nothing stays missed. (flowlog_test: a
 * 1.5 MB download through 0.5% loss and 1% reordering had more than 8.) */
START_TEST(sixteen_holes_exact)
{
	struct tcpsm_flow *f = handshake();
	for (unsigned i = 0; i <= TCPSM_IVS_N; i++) /* blocks 0, 2, ..., 2N: N holes */
		go(1, A_, 1001 + 20 * i, 5001, 10);
	ck_assert_uint_eq(f->s[0].sent.n, TCPSM_IVS_N);
	for (unsigned i = TCPSM_IVS_N; i > 0; i--) /* filled from the top */
		go(1, A_, 1001 + 20 * i - 10, 5001, 10);
	ck_assert_uint_eq(f->s[0].sent.n, 0);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 20 * TCPSM_IVS_N + 10);
	ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), 0);
	ck_assert_uint_eq(f->s[0].rexmit, 0);
}
END_TEST

/* The set against a byte map: random segments (new, overlapping, repeated)
 * over 3000 bytes; while the map never had more than TCPSM_IVS_N holes,
 * bytes, missed and retransmissions are exact. */
START_TEST(holes_model)
{
	for (unsigned round = 0; round < 200; round++) {
		teardown();
		setup();
		struct tcpsm_flow *f = handshake();
		static uint8_t map[3000];
		memset(map, 0, sizeof(map));
		unsigned seed = 12345u + round, hi = 0, rexmit = 0, maxholes = 0;
		for (unsigned k = 0; k < 60; k++) {
			seed = seed * 1103515245u + 12345u;
			unsigned off = (seed >> 8) % 2900, len = 1 + (seed >> 20) % 100;
			if (off + len > sizeof(map))
				len = (unsigned)sizeof(map) - off;
			unsigned fresh = 0;
			for (unsigned b = off; b < off + len; b++)
				if (!map[b]) {
					map[b] = 1;
					fresh++;
				}
			if (!fresh)
				rexmit++;
			if (off + len > hi)
				hi = off + len;
			unsigned holes = 0;
			for (unsigned b = 1; b < hi; b++)
				holes += !map[b] && map[b - 1] ? 1 : 0;
			holes += !map[0] ? 1 : 0;
			if (holes > maxholes)
				maxholes = holes;
			go(1, A_, 1001 + off, 5001, len);
			if (maxholes > TCPSM_IVS_N)
				break;
			unsigned seen = 0;
			for (unsigned b = 0; b < hi; b++)
				seen += map[b];
			ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), hi);
			ck_assert_uint_eq(tcpsm_side_missed(&f->s[0]), hi - seen);
			ck_assert_uint_eq(f->s[0].rexmit, rexmit);
		}
		ck_assert_uint_le(f->s[0].sent.n, TCPSM_IVS_N);
	}
}
END_TEST

START_TEST(idle_timeout)
{
	handshake();
	uint64_t t = now;
	ck_assert_uint_eq(tcpsm_expire(ti, t + 300000 * MS - 1, 10), 0);
	ck_assert_uint_eq(tcpsm_expire(ti, t + 300000 * MS, 10), 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_TIMEOUT);
	ck_assert_uint_eq(ends[0].ev, MP_ON_CONN_END | MP_ON_TIMEOUT);
	ck_assert_uint_eq(ti->n_active, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_END_TIMEOUT), 1);
}
END_TEST

START_TEST(syn_timeout)
{
	go(1, S_, 1000, 0, 0);
	uint64_t t = now;
	now += 20000 * MS;
	cport = 40001;
	handshake(); /* another flow, established: not affected */
	cport = 40000;
	ck_assert_uint_eq(tcpsm_expire(ti, t + 30000 * MS, 10), 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_TIMEOUT);
	ck_assert_uint_eq(ends[0].rec.cli_state, MP_TCP_ST_SYN_SENT);
	ck_assert_uint_eq(ti->n_active, 1);
}
END_TEST

/* Expiry runs once per burst, so a packet may arrive after its flow's
 * deadline before expiry has run: it must find the flow ended (as if expiry
 * had run just before it), not continue it. modbus-and-non-modbus-p502:
 * SYN, SYN-ACK, client RST, then 15.6 s later data on the same tuple and a
 * server RST: two connections, whatever the burst boundaries. */
START_TEST(expired_flow_ends_before_packet)
{
	handshake();
	go(1, R_, 1001, 0, 0);
	ck_assert_uint_eq(n_ends, 0); /* closed, waiting out time_wait (1 s) */
	now += 15600 * MS;            /* no tcpsm_expire in between */
	struct tcpsm_flow *f = go(1, A_ | P_, 1001, 5001, 109);
	ck_assert_uint_eq(n_ends, 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_RST);
	ck_assert_uint_eq(ends[0].rec.pkts[MP_SIDE_CLI], 3);
	ck_assert_uint_eq(ends[0].rec.bytes[MP_SIDE_CLI], 0);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->midstream, 1);
	ck_assert_uint_eq(last.side, MP_SIDE_CLI);
	ck_assert(last.ev[MP_HOOK_SND] & MP_ON_CONN_START);
	go(0, R_, 5001, 0, 0);
	ck_assert_uint_eq(f->end, TCPSM_END_RST);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[MP_SIDE_CLI]), 109);
	ck_assert_uint_eq(ti->n_active, 1);

	/* Idle timeout likewise: a packet 300 s after the last one starts
	 * a new flow, the old one ends as timed out. */
	cport = 40001;
	handshake();
	now += 300000 * MS;
	f = go(1, A_ | P_, 1001, 5001, 10);
	ck_assert_uint_eq(n_ends, 2); /* other flows wait for tcpsm_expire */
	ck_assert_uint_eq(ends[1].rec.end, TCPSM_END_TIMEOUT);
	ck_assert_uint_eq(ends[1].ev, MP_ON_CONN_END | MP_ON_TIMEOUT);
	ck_assert_uint_eq(f->midstream, 1);
	ck_assert_uint_eq(ti->n_active, 2);
}
END_TEST

START_TEST(packets_refresh_idle)
{
	struct tcpsm_flow *f = handshake();
	now += 200000 * MS;
	go(1, A_, 1001, 5001, 10);
	ck_assert_uint_eq(tcpsm_expire(ti, now + 200000 * MS, 10), 0);
	ck_assert_uint_eq(f->list, TCPSM_L_EST);
	ck_assert_uint_eq(tcpsm_expire(ti, now + 300000 * MS, 10), 1);
}
END_TEST

START_TEST(table_full_evicts_half_open)
{
	struct tcpsm_params p = defparams();
	p.flows = 4;
	tcpsm_inst_destroy(ti);
	setup_with(p);
	cport = 50000;
	handshake(); /* established: never evicted */
	for (unsigned i = 1; i < 4; i++) {
		cport = (uint16_t)(50000 + i);
		now += MS;
		ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	}
	cport = 50009;
	ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	ck_assert_uint_eq(n_ends, 1);
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_EVICTED);
	ck_assert_uint_eq(ends[0].rec.cli_port, 50001); /* the oldest half-open */
	ck_assert(ends[0].ev & MP_ON_CONN_END);
	ck_assert_uint_eq(ctr(TCPSM_C_END_EVICTED), 1);
	ck_assert_uint_eq(ti->n_active, 4);
	cport = 40000;
}
END_TEST

START_TEST(table_full_refuses)
{
	struct tcpsm_params p = defparams();
	p.flows = 2;
	p.table_full = MP_FULL_REFUSE;
	tcpsm_inst_destroy(ti);
	setup_with(p);
	cport = 50000;
	ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	cport = 50001;
	ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	cport = 50002;
	ck_assert_ptr_null(go(1, S_, 1000, 0, 0));
	ck_assert(last.flags & MP_MF_ORPHAN);
	ck_assert_uint_eq(ctr(TCPSM_C_TABLE_FULL_REFUSED), 1);
	ck_assert_uint_eq(n_ends, 0);
	/* Room again once one ends. */
	tcpsm_expire(ti, now + 30000 * MS, 1);
	ck_assert_ptr_nonnull(go(1, S_, 1000, 0, 0));
	cport = 40000;
}
END_TEST

START_TEST(table_many_flows_delete)
{
	/* Insert, look up and delete many flows: backward-shift deletion
	 * must keep every remaining flow findable. */
	struct tcpsm_params p = defparams();
	p.flows = 1000;
	tcpsm_inst_destroy(ti);
	setup_with(p);
	for (unsigned i = 0; i < 1000; i++) {
		cport = (uint16_t)(10000 + i);
		ck_assert_ptr_nonnull(go(1, S_, i, 0, 0));
		if (i % 3 == 0)
			go(0, R_ | A_, 0, i + 1, 0); /* closes it */
	}
	ck_assert_uint_eq(tcpsm_expire(ti, now + 1000 * MS, 2000), 334);
	for (unsigned i = 0; i < 1000; i++) {
		cport = (uint16_t)(10000 + i);
		struct mp_meta md = pkt(1, A_, 0, 0, 0);
		ck_assert((tcpsm_lookup(ti, &md) != NULL) == (i % 3 != 0));
	}
	cport = 40000;
	ck_assert_uint_eq(tcpsm_end_all(ti, 2000), 666);
	ck_assert_uint_eq(ti->n_active, 0);
}
END_TEST

START_TEST(bad_checksum_ignored)
{
	struct mp_meta md = pkt(1, S_, 1000, 0, 0);
	md.flags |= MP_MF_BADCSUM;
	tcpsm_process(ti, &md, NULL);
	ck_assert_ptr_null(md.flow);
	ck_assert_uint_eq(ti->n_active, 0);
	struct tcpsm_flow *f = handshake();
	md = pkt(0, R_ | A_, 5001, 1001, 0);
	md.flags |= MP_MF_BADCSUM;
	tcpsm_process(ti, &md, NULL);
	ck_assert_ptr_eq(md.flow, f);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(f->s[1].pkts, 1);
	ck_assert_uint_eq(ctr(TCPSM_C_BADCSUM_IGNORED), 2);
}
END_TEST

START_TEST(unmonitored_pass_through)
{
	struct mp_meta md = pkt(1, S_, 1000, 0, 0);
	md.flags |= MP_MF_UNMON;
	tcpsm_process(ti, &md, NULL);
	ck_assert_ptr_null(md.flow);
	ck_assert_uint_eq(md.ev[0] | md.ev[1], 0);
	md = pkt(1, S_, 1000, 0, 0);
	md.flags = MP_MF_IPV4; /* not TCP */
	tcpsm_process(ti, &md, NULL);
	ck_assert_ptr_null(md.flow);
	md.kind = MP_PKT_CTRL;
	md.flow = (void *)&md;
	tcpsm_process(ti, &md, NULL);
	ck_assert_ptr_eq(md.flow, &md);
	ck_assert_uint_eq(ti->n_active, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_PASSED_UNMON), 2);
}
END_TEST

START_TEST(flow_log_record)
{
	handshake();
	go(1, A_ | P_, 1001, 5001, 12);
	go(1, A_ | P_, 1001, 5001, 12);
	tcpsm_end_all(ti, 10);
	char line[1024];
	ends[0].rec.first_ts = 1377201676627010000ULL;
	ends[0].rec.last_ts = 1377201680000000000ULL;
	tcpsm_flowrec_format(&ends[0].rec, line, sizeof(line));
	ck_assert_str_eq(line, "{\"cli\":\"10.0.0.1:40000\",\"svr\":\"10.0.0.2:80\",\"cli_state\":\"ESTABLISHED\","
	                       "\"svr_state\":\"ESTABLISHED\",\"end\":\"open\",\"first_ts\":1377201676.627010,"
	                       "\"last_ts\":1377201680.000000,\"midstream\":false,\"cli_pkts\":4,\"cli_bytes\":12,"
	                       "\"cli_missed\":0,\"cli_rexmit\":1,\"cli_rexmit_bytes\":12,\"svr_pkts\":1,"
	                       "\"svr_bytes\":0,\"svr_missed\":0,\"svr_rexmit\":0,\"svr_rexmit_bytes\":0}\n");
	struct tcpsm_flowrec r;
	memset(&r, 0, sizeof(r));
	r.v6 = 1;
	inet_pton(AF_INET6, "2001:db8::1", r.cli);
	inet_pton(AF_INET6, "2001:db8::2", r.svr);
	r.cli_port = 1;
	r.svr_port = 2;
	r.end = TCPSM_END_EVICTED;
	r.cli_state = MP_TCP_ST_TIME_WAIT;
	tcpsm_flowrec_format(&r, line, sizeof(line));
	ck_assert_ptr_nonnull(strstr(line, "\"cli\":\"[2001:db8::1]:1\",\"svr\":\"[2001:db8::2]:2\""));
	ck_assert_ptr_nonnull(strstr(line, "\"cli_state\":\"TIME_WAIT\",\"svr_state\":\"CLOSED\",\"end\":\"evicted\""));
}
END_TEST

START_TEST(state_names)
{
	ck_assert_str_eq(tcpsm_state_name(MP_TCP_ST_CLOSED), "CLOSED");
	ck_assert_str_eq(tcpsm_state_name(MP_TCP_ST_SYN_RCVD), "SYN_RCVD");
	ck_assert_str_eq(tcpsm_state_name(MP_TCP_ST_TIME_WAIT), "TIME_WAIT");
	ck_assert_str_eq(tcpsm_state_name(11), "?");
	ck_assert_str_eq(tcpsm_end_name(TCPSM_END_TIMEOUT), "timeout");
	/* mOS numbering */
	ck_assert_int_eq(MP_TCP_ST_ESTABLISHED, 4);
	ck_assert_int_eq(MP_TCP_ST_TIME_WAIT, 10);
	ck_assert_uint_eq(MP_ON_REXMIT, 1u << 9);
	ck_assert_uint_eq(MP_ON_CONN_END, 1u << 10);
}
END_TEST

/* ---- reassembly buffers -------------------------------------------------- */

START_TEST(reasm_buffers)
{
	struct tcpsm_params p = defparams();
	p.buf_size = 4096;
	p.buf_pool = 0; /* sized for the table (a window's slots reach its slack: a map chunk a side) */
	tcpsm_inst_destroy(ti);
	setup_with(p);
	struct tcpsm_flow *f = handshake();
	uint8_t good[8] = "GOODGOOD", evil[8] = "EVILEVIL";
	struct mp_meta md = pkt(1, A_ | P_, 1001, 5001, 8);
	tcpsm_process(ti, &md, good);
	/* Bytes the client sends land in the server's (receiver's) buffer. */
	ck_assert_ptr_nonnull(f->s[MP_SIDE_SVR].buf);
	ck_assert_ptr_null(f->s[MP_SIDE_CLI].buf);
	ck_assert_uint_eq(reasm_next_seq(f->s[MP_SIDE_SVR].buf), 1009);
	md = pkt(1, A_ | P_, 1001, 5001, 8);
	tcpsm_process(ti, &md, evil);
	ck_assert(md.ev[MP_HOOK_SND] & MP_ON_REXMIT);
	ck_assert(md.ev[MP_HOOK_RCV] & MP_ON_ERROR);
	ck_assert_uint_gt(ctr(TCPSM_C_REASM_INCONSISTENT), 0);
	/* No reader is attached (no app wants the stream): the first copy was
	 * compared, then the window slid on. */
	ck_assert_uint_eq(reasm_totals(f->s[MP_SIDE_SVR].buf)->diff_bytes, 8);
	ck_assert_uint_eq(reasm_totals(f->s[MP_SIDE_SVR].buf)->delivered, 8);
	tcpsm_end_all(ti, 10); /* frees through on_end: buffers back */
}
END_TEST

/* ---- slots and the control word ------------------------------------------ */

/* Every flow has a slot: in the instance's range [idx * S, (idx + 1) * S),
 * unique among live flows, in md->flow_idx of each of its packets, and kept
 * by the object when it is reused for a new flow. */
START_TEST(flow_slots)
{
	struct tcpsm_params p = defparams();
	unsigned S = tcpsm_pool_size(&p);
	struct tcpsm_inst *t1 = tcpsm_inst_create(&p, 1, NULL, NULL, on_end_cb, NULL);
	ck_assert_ptr_nonnull(t1);
	uint32_t seen[16];
	for (unsigned i = 0; i < 16; i++) {
		cport = (uint16_t)(41000 + i);
		struct tcpsm_flow *f = go(1, S_, 1000, 0, 0);
		ck_assert_ptr_nonnull(f);
		seen[i] = tcpsm_flow_slot(f);
		ck_assert_uint_eq(last.flow_idx, seen[i]);
		ck_assert_uint_lt(seen[i], S);
		for (unsigned k = 0; k < i; k++)
			ck_assert_uint_ne(seen[k], seen[i]);
		/* The same tuple in instance 1: a slot of its own range. */
		struct mp_meta md = pkt(1, S_, 1000, 0, 0);
		tcpsm_process(t1, &md, NULL);
		ck_assert_ptr_nonnull(md.flow);
		ck_assert_uint_ge(md.flow_idx, S);
		ck_assert_uint_lt(md.flow_idx, 2 * S);
		/* Later packets carry it too. */
		go(0, S_ | A_, 5000, 1001, 0);
		ck_assert_uint_eq(last.flow_idx, seen[i]);
	}
	/* An RST ends flow 15 (freed at once by on_end_cb); the next new flow
	 * takes the same object back and keeps its slot. */
	cport = 41015;
	go(1, R_ | A_, 1001, 5001, 0);
	ck_assert_uint_eq(n_ends, 0); /* closed, waits out its timer */
	tcpsm_end_all(ti, 1);         /* the closed one goes first */
	ck_assert_uint_eq(n_ends, 1);
	cport = 42000;
	struct tcpsm_flow *g = go(1, S_, 7000, 0, 0);
	ck_assert_uint_eq(tcpsm_flow_slot(g), seen[15]);
	ck_assert_uint_eq(last.flow_idx, seen[15]);
	tcpsm_inst_destroy(t1);
}
END_TEST

/* The bits a pipeline gives every new flow are in its control word from its
 * first packet; a resize asked through the word (size first, then the bit)
 * is applied at the flow's next packet and the one-shot bit cleared. */
START_TEST(control_word)
{
	struct tcpsm_params p = defparams();
	p.buf_size = 4096;
	p.buf_pool = 0; /* sized for the table (a window's slots reach its slack: a map chunk a side) */
	tcpsm_inst_destroy(ti);
	setup_with(p);
	ti->new_ctl = TCPSM_CTL_READER(MP_SIDE_SVR);
	struct tcpsm_flow *f = handshake();
	ck_assert_uint_eq(tcpsm_flow_ctl(f), TCPSM_CTL_INIT | TCPSM_CTL_READER(MP_SIDE_SVR));
	uint8_t data[8] = "ABCDEFGH";
	struct mp_meta md = pkt(1, A_ | P_, 1001, 5001, 8);
	tcpsm_process(ti, &md, data);
	struct reasm *r = tcpsm_flow_buf(f, MP_SIDE_SVR);
	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(tcpsm_flow_buf(f, MP_SIDE_CLI));
	struct reasm_info inf;
	reasm_info(r, &inf);
	ck_assert_uint_eq(inf.size, 4096);
	ck_assert_uint_eq(inf.seq0, 1001);
	ck_assert_uint_eq(inf.consumed, 0); /* reader mode: kept for the reader */
	char buf[16];
	ck_assert_int_eq(reasm_peek(r, buf, sizeof(buf)), 8);
	tcpsm_flow_want_size(f, MP_SIDE_SVR, 8192);
	tcpsm_flow_ctl_set(f, TCPSM_CTL_RESIZE(MP_SIDE_SVR));
	md = pkt(0, A_, 5001, 1009, 0);
	tcpsm_process(ti, &md, NULL);
	reasm_info(r, &inf);
	ck_assert_uint_eq(inf.size, 8192);
	ck_assert(!(tcpsm_flow_ctl(f) & TCPSM_CTL_RESIZE(MP_SIDE_SVR)));
	tcpsm_end_all(ti, 10);
}
END_TEST

/* ---- RCU connection table ------------------------------------------------ */

static void count_cb(const struct mp_conn_snap *s, void *arg)
{
	(void)s;
	(*(unsigned *)arg)++;
}

START_TEST(conntable_publish)
{
	rcu_register_thread();
	struct mp_conntable *ct = mp_conntable_create(16, tcpsm_conn_snap, tcpsm_conn_match);
	ck_assert_ptr_nonnull(ct);
	struct tcpsm_params p = defparams();
	tcpsm_inst_destroy(ti);
	ti = tcpsm_inst_create(&p, 3, NULL, ct, on_end_cb, NULL);
	n_ends = 0;
	struct tcpsm_flow *f = handshake();
	go(1, A_ | P_, 1001, 5001, 42);
	cport = 40001;
	go(1, S_, 1, 0, 0);
	cport = 40000;
	ck_assert_uint_eq(mp_conntable_count(ct), 2);
	struct mp_conn_snap s;
	ck_assert_int_eq(mp_conntable_lookup(ct, f->hash, &f->key, &s), 0);
	ck_assert_uint_eq(s.cli_port, 40000);
	ck_assert_uint_eq(s.svr_port, 80);
	ck_assert_uint_eq(s.cli_addr[3], 1);
	ck_assert_uint_eq(s.cli_state, MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(s.pkts[0], 3);
	ck_assert_uint_eq(s.bytes[0], 42);
	ck_assert_uint_eq(s.inst, 3);
	unsigned n = 0;
	ck_assert_uint_eq(mp_conntable_walk(ct, count_cb, &n), 2);
	ck_assert_uint_eq(n, 2);
	struct mp_conn_snap all[4];
	ck_assert_uint_eq(mp_conntable_snapshot(ct, all, 4), 2);
	tcpsm_end_all(ti, 1);
	ck_assert_uint_eq(mp_conntable_count(ct), 1);
	tcpsm_end_all(ti, 10);
	ck_assert_uint_eq(mp_conntable_count(ct), 0);
	tcpsm_inst_destroy(ti);
	ti = NULL;
	synchronize_rcu();
	mp_conntable_destroy(ct);
	rcu_unregister_thread();
	setup(); /* for teardown */
}
END_TEST

/* A reader must never see a flow before tcpsm knows its client and server
 * (mid-stream pickups set them after creating the flow): tcpsm_flow_new does
 * not link the flow into the RCU table, tcpsm_flow_publish does. */
START_TEST(conntable_publish_after_roles)
{
	rcu_register_thread();
	struct mp_conntable *ct = mp_conntable_create(16, tcpsm_conn_snap, tcpsm_conn_match);
	ck_assert_ptr_nonnull(ct);
	struct tcpsm_params p = defparams();
	tcpsm_inst_destroy(ti);
	ti = tcpsm_inst_create(&p, 0, NULL, ct, on_end_cb, NULL);
	struct tcpsm_key k;
	memset(&k, 0, sizeof(k));
	k.a[3] = 1, k.b[3] = 2, k.pa = 40000, k.pb = 80;
	struct tcpsm_flow *f = tcpsm_flow_new(ti, &k, 1234, 1000);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(mp_conntable_count(ct), 0);
	f->cli_is_a = 0; /* the server (a) spoke first */
	tcpsm_flow_publish(ti, f);
	tcpsm_flow_publish(ti, f); /* idempotent */
	ck_assert_uint_eq(mp_conntable_count(ct), 1);
	struct mp_conn_snap s;
	ck_assert_int_eq(mp_conntable_lookup(ct, 1234, &k, &s), 0);
	ck_assert_uint_eq(s.cli_port, 80);
	ck_assert_uint_eq(s.svr_port, 40000);
	/* A midstream SYN-ACK through the state machine is listed with its roles. */
	cport = 40001;
	go(0, S_ | A_, 5000, 1001, 0);
	cport = 40000;
	ck_assert_uint_eq(mp_conntable_count(ct), 2);
	tcpsm_end_all(ti, 10);
	ck_assert_uint_eq(mp_conntable_count(ct), 0);
	tcpsm_inst_destroy(ti);
	ti = NULL;
	synchronize_rcu();
	mp_conntable_destroy(ct);
	rcu_unregister_thread();
	setup(); /* for teardown */
}
END_TEST

/* Pages of [m, m + bytes) the kernel has in memory (mincore). */
static size_t resident(const void *m, size_t bytes)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (bytes + pg - 1) / pg, k = 0;
	unsigned char *v = calloc(n, 1);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(mincore((void *)m, bytes, v), 0);
	for (size_t i = 0; i < n; i++)
		k += v[i] & 1;
	free(v);
	return k;
}

/* [tcp] prefault: the kernel holds every page of the flow objects, the
 * table and the free ring once the instance exists (none is left to fault
 * on a packet); without it none until flows come, and then the pages they
 * used. Either way flows are tracked the same. */
START_TEST(prefault_writes_flow_state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	tcpsm_inst_destroy(ti);
	struct tcpsm_params p = defparams();
	p.flows = 4096;
	setup_with(p);
	ck_assert_uint_eq(resident(ti->arr, ti->arr_bytes), 0);
	ck_assert_uint_eq(resident(ti->tab, ti->tab_bytes), 0);
	struct tcpsm_flow *f = handshake();
	ck_assert_ptr_nonnull(f);
	/* The flow's page: one transparent huge page at most (map_lazy). */
	ck_assert_uint_le(resident(ti->arr, ti->arr_bytes), (2u << 20) / pg);
	tcpsm_inst_destroy(ti);

	p.prefault = 1;
	setup_with(p);
	ck_assert_uint_eq(resident(ti->arr, ti->arr_bytes), (ti->arr_bytes + pg - 1) / pg);
	ck_assert_uint_eq(resident(ti->tab, ti->tab_bytes), (ti->tab_bytes + pg - 1) / pg);
	ck_assert_uint_eq(resident(ti->free_ring, ti->free_ring_bytes), (ti->free_ring_bytes + pg - 1) / pg);
	/* Every table page counts as written: a lookup reads them, an
	 * insert probes them. */
	ck_assert_ptr_null(tcpsm_table_find(ti, &(struct tcpsm_key){.pa = 1}, 12345));
	f = handshake();
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(CLI(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_uint_eq(SVR(f), MP_TCP_ST_ESTABLISHED);
	ck_assert_ptr_eq(go(1, A_ | P_, 1001, 5001, 100), f);
	ck_assert_uint_eq(tcpsm_side_bytes(&f->s[0]), 100);
	ck_assert_uint_eq(ctr(TCPSM_C_FLOWS_NEW), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tcpsm");
	TCase *t = tcase_create("sm");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, three_way_handshake);
	tcase_add_test(t, prefault_writes_flow_state);
	tcase_add_test(t, active_close_by_client);
	tcase_add_test(t, simultaneous_open);
	tcase_add_test(t, simultaneous_close);
	tcase_add_test(t, half_close);
	tcase_add_test(t, rst_in_window);
	tcase_add_test(t, rst_out_of_window);
	tcase_add_test(t, stale_ack_does_not_reopen_rst_window);
	tcase_add_test(t, fin_clamps_range_stretched_by_acks);
	tcase_add_test(t, many_holes_filled_are_not_missed);
	tcase_add_test(t, rst_injected_before_synack);
	tcase_add_test(t, rst_refuses_syn);
	tcase_add_test(t, syn_and_fin_rexmit);
	tcase_add_test(t, time_wait_reuse);
	tcase_add_test(t, time_wait_stale_syn);
	tcase_add_test(t, wraparound);
	tcase_add_test(t, window_scale_clamp);
	tcase_add_test(t, midstream_pickup);
	tcase_add_test(t, midstream_well_known_port);
	tcase_add_test(t, midstream_synack_first);
	tcase_add_test(t, conntable_publish_after_roles);
	tcase_add_test(t, midstream_off_orphans);
	tcase_add_test(t, rexmit_without_buffers);
	tcase_add_test(t, many_holes_bounded);
	tcase_add_test(t, sixteen_holes_exact);
	tcase_add_test(t, holes_model);
	tcase_add_test(t, idle_timeout);
	tcase_add_test(t, syn_timeout);
	tcase_add_test(t, expired_flow_ends_before_packet);
	tcase_add_test(t, synrcvd_acking_data_is_established);
	tcase_add_test(t, packets_refresh_idle);
	tcase_add_test(t, table_full_evicts_half_open);
	tcase_add_test(t, table_full_refuses);
	tcase_add_test(t, table_many_flows_delete);
	tcase_add_test(t, bad_checksum_ignored);
	tcase_add_test(t, unmonitored_pass_through);
	tcase_add_test(t, flow_log_record);
	tcase_add_test(t, state_names);
	tcase_add_test(t, reasm_buffers);
	tcase_add_test(t, flow_slots);
	tcase_add_test(t, control_word);
	tcase_add_test(t, conntable_publish);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
