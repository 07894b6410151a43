/* firewall datapath: the callbacks that give every packet its verdict.
 *
 * TCP (MOS_ON_PKT_IN at MOS_HK_SND: once per packet, side = the sender):
 *  - a client's SYN is the connection's "new" packet: the rules that apply
 *    to new connections decide, once per connection and rule generation;
 *    the verdict sticks to the connection (its active socket's uctx);
 *  - every other packet is "established": it passes only if the connection
 *    was admitted and the handshake has got that far (an ACK or data before
 *    the SYN-ACK is out of state); the rules that name `established` are
 *    evaluated once per connection and generation and may drop or reset it;
 *    otherwise the connection keeps going, across reloads too.
 *  - TCP packets of no connection reach MOS_ON_ORPHAN (the firewall runs
 *    the stack with tcp.midstream = no) and are dropped.
 * Other IP traffic (MOS_ON_ORPHAN) is matched packet by packet, stateless.
 *
 * Per-flow state is 64 bits packed into the uctx pointer (see U_*): no
 * allocation per flow, nothing to free when it ends, so memory stays what
 * the stack's flow table already bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "firewall.h"
#include "mospipe_ext.h"

const char *const fw_invalid_name[FW_INV_N] = {"no_conn", "handshake", "syn_data", "fragment", "malformed"};

struct fw_ruleset *fw_cur;
struct fw_ctx fw_ctx[FW_MAX_CTX];

_Static_assert(sizeof(void *) == 8, "the per-flow state is packed into a 64-bit uctx");

/* Per-flow state in the uctx of the flow's active socket. */
#define U_VALID 1ull       /* a verdict was given */
#define U_ADMITTED 2ull    /* its SYN (or first packet) was allowed */
#define U_EST_DONE 4ull    /* `established` rules evaluated in generation U_GEN */
#define U_HS_DONE 8ull     /* both ends seen ESTABLISHED: no more handshake checks */
#define U_RESET_DONE 16ull /* mtcp_reset_conn called */
#define U_V_SHIFT 5        /* verdict, 2 bits */
#define U_CTR_SHIFT 8      /* counter index, 24 bits */
#define U_GEN_SHIFT 32     /* rule generation of the verdict, 32 bits */
#define U_VERDICT(u) ((unsigned)((u) >> U_V_SHIFT) & 3u)
#define U_CTR(u) ((unsigned)((u) >> U_CTR_SHIFT) & 0xffffffu)
#define U_GEN(u) ((uint32_t)((u) >> U_GEN_SHIFT))
#define U_MAKE(v, ci, gen, flags)                                                                                      \
	(U_VALID | (flags) | ((uint64_t)(v) << U_V_SHIFT) | ((uint64_t)(ci) << U_CTR_SHIFT) |                          \
	 ((uint64_t)(gen) << U_GEN_SHIFT))

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* Single writer per field (the context's lcore): a relaxed store is enough
 * for the reporter's relaxed loads. */
#define BUMP(x, v) __atomic_store_n(&(x), (x) + (v), __ATOMIC_RELAXED)

static inline struct fw_ruleset *enter(struct fw_ctx *c)
{
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_SEQ_CST);
	return __atomic_load_n(&fw_cur, __ATOMIC_SEQ_CST);
}

static inline void leave(struct fw_ctx *c)
{
	/* Release: the reloader that reads this value sees our counters. */
	__atomic_store_n(&c->seq, c->seq + 1, __ATOMIC_RELEASE);
}

static inline struct fw_ctx *ctx_of(mctx_t m)
{
	return &fw_ctx[(unsigned)m->cpu % FW_MAX_CTX];
}

static inline void count(struct fw_ctx *c, struct fw_ruleset *rs, unsigned ci, int conn, uint64_t bytes)
{
	struct fw_ctr *k = &rs->ctr[(size_t)(c - fw_ctx) * rs->stride + ci];
	if (conn)
		BUMP(k->conns, 1);
	BUMP(k->pkts, 1);
	BUMP(k->bytes, bytes);
}

static void drop(struct fw_ctx *c, mctx_t m, int sock, int side)
{
	if (c->enforced == 0)
		return; /* monitor mode: verdicts are counted, not applied */
	if (mtcp_setlastpkt(m, sock, side, 0, NULL, 0, MOS_DROP) == 0)
		__atomic_store_n(&c->enforced, 1, __ATOMIC_RELAXED);
	else if (errno == ENOTSUP)
		__atomic_store_n(&c->enforced, 0, __ATOMIC_RELAXED);
	else
		BUMP(c->errors, 1);
}

static void invalid(struct fw_ctx *c, mctx_t m, int sock, int side, enum fw_invalid why)
{
	BUMP(c->invalid[why], 1);
	drop(c, m, sock, side);
}

/* Answers a SYN as a closed port does (RFC 9293 3.10.7.1: <SEQ=0><ACK=
 * SEG.SEQ+SEG.LEN><CTL=RST,ACK>), so that the client's connect fails at once
 * with ECONNREFUSED. mtcp_reset_conn() does not fit here: a SYN carries no
 * ACK, so it has no sequence number to reset the client with. */
static void send_rst_ack(struct fw_ctx *c, mctx_t m, int sock, const struct pkt_info *p)
{
	uint8_t ip[40], tcp[20];
	const uint8_t *ih = (const uint8_t *)p->iph, *th = (const uint8_t *)p->tcph;
	if (c->enforced == 0)
		return;
	memset(ip, 0, sizeof(ip));
	if ((ih[0] >> 4) == 4) {
		ip[0] = 0x45;
		ip[6] = 0x40; /* DF */
		ip[8] = 64;   /* TTL */
		ip[9] = 6;
		memcpy(ip + 12, ih + 16, 4);
		memcpy(ip + 16, ih + 12, 4);
	} else {
		ip[0] = 0x60;
		ip[6] = 6;
		ip[7] = 64;
		memcpy(ip + 8, ih + 24, 16);
		memcpy(ip + 24, ih + 8, 16);
	}
	uint32_t ack = p->seq + 1 + p->payloadlen;
	memset(tcp, 0, sizeof(tcp));
	memcpy(tcp, th + 2, 2);
	memcpy(tcp + 2, th, 2);
	tcp[8] = (uint8_t)(ack >> 24);
	tcp[9] = (uint8_t)(ack >> 16);
	tcp[10] = (uint8_t)(ack >> 8);
	tcp[11] = (uint8_t)ack;
	tcp[12] = 5 << 4;
	tcp[13] = TH_RST | TH_ACK;
	struct pkt_info r;
	memset(&r, 0, sizeof(r));
	r.iph = (struct iphdr *)ip;
	r.tcph = (struct tcphdr *)tcp;
	if (mtcp_sendpkt(m, sock, &r) == 0)
		BUMP(c->rst_sent, 1);
	else if (errno == ENOTSUP)
		__atomic_store_n(&c->enforced, 0, __ATOMIC_RELAXED);
	else
		BUMP(c->errors, 1);
}

/* The connection's tuple: client first, whichever side sent the packet. */
static void conn_tuple(struct fw_tuple *t, const struct pkt_info *p, int side)
{
	const uint8_t *ih = (const uint8_t *)p->iph, *th = (const uint8_t *)p->tcph;
	unsigned alen = (ih[0] >> 4) == 4 ? 4 : 16, so = alen == 4 ? 12 : 8;
	const uint8_t *s = ih + so, *d = s + alen;
	uint16_t sp = (uint16_t)(th[0] << 8 | th[1]), dp = (uint16_t)(th[2] << 8 | th[3]);
	memset(t, 0, sizeof(*t));
	t->fam = alen == 4 ? 4 : 6;
	t->proto = FW_P_TCP;
	if (side == MOS_SIDE_SVR) {
		const uint8_t *x = s;
		uint16_t y = sp;
		s = d, d = x, sp = dp, dp = y;
	}
	memcpy(t->src, s, alen);
	memcpy(t->dst, d, alen);
	t->sport = sp;
	t->dport = dp;
}

static int tcp_state(mctx_t m, int sock, int opt)
{
	int st = -1;
	socklen_t l = sizeof(st);
	if (mtcp_getsockopt(m, sock, SOL_MONSOCKET, opt, &st, &l) < 0)
		return -1;
	return st;
}

/* MOS_ON_PKT_IN at MOS_HK_SND: every packet of every TCP connection. */
static void on_pkt(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct fw_ctx *c = ctx_of(m);
	struct fw_ruleset *rs = enter(c);
	struct pkt_info p;
	struct fw_tuple t;
	unsigned v, ci;
	int r;
	(void)ev;
	(void)arg;
	if (mtcp_getlastpkt(m, sock, side, &p) < 0 || !p.iph || !p.tcph) {
		BUMP(c->errors, 1);
		goto out;
	}
	/* A datagram rebuilt from fragments stands for them: they leave with
	 * its verdict (the stack holds them until it completes). */
	if (mospipe_pkt_reassembled(m) == 1)
		BUMP(c->reassembled, 1);
	uint8_t fl = ((const uint8_t *)p.tcph)[13];
	uint64_t u = (uint64_t)(uintptr_t)mtcp_get_uctx(m, sock), u0 = u;

	if (side == MOS_SIDE_CLI && (fl & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN) {
		/* State new: the rules decide once per connection and generation;
		 * retransmitted SYNs share the verdict. */
		if (p.payloadlen) {
			invalid(c, m, sock, side, FW_INV_SYN_DATA);
			goto out;
		}
		int fresh = !(u & U_VALID) || U_GEN(u) != rs->gen;
		if (fresh) {
			conn_tuple(&t, &p, side);
			r = fw_match(rs, &t, FW_ST_NEW);
			v = r < 0 ? rs->def_action : rs->r[r].action;
			ci = r < 0 ? FW_CTR_DEFAULT(rs) : (unsigned)r;
			u = U_MAKE(v, ci, rs->gen, v == FW_ALLOW ? U_ADMITTED : 0);
			mtcp_set_uctx(m, sock, (void *)(uintptr_t)u);
		}
		v = U_VERDICT(u);
		count(c, rs, U_CTR(u), fresh, p.ip_len);
		if (v != FW_ALLOW) {
			drop(c, m, sock, side);
			if (v == FW_RESET)
				send_rst_ack(c, m, sock, &p);
		}
		goto out;
	}

	int conn = 0;
	if (!(u & U_VALID)) {
		/* The first packet of a connection seen mid-stream (only with
		 * tcp.midstream = yes): it is established already. */
		conn_tuple(&t, &p, side);
		r = fw_match(rs, &t, FW_ST_EST);
		v = r < 0 ? rs->def_action : rs->r[r].action;
		ci = r < 0 ? FW_CTR_DEFAULT(rs) : (unsigned)r;
		u = U_MAKE(v, ci, rs->gen, (v == FW_ALLOW ? U_ADMITTED : 0) | U_EST_DONE | U_HS_DONE);
		conn = 1;
	} else if (!(u & U_ADMITTED)) {
		/* Its SYN was dropped or answered with a RST: nothing else of
		 * this connection may pass. */
		invalid(c, m, sock, side, FW_INV_NO_CONN);
		goto out;
	} else {
		if (!(u & U_HS_DONE)) {
			int cs = tcp_state(m, sock, MOS_TCP_STATE_CLI), ss = tcp_state(m, sock, MOS_TCP_STATE_SVR);
			/* The client may send nothing but SYNs (and RSTs) until
			 * it has the SYN-ACK; the server no data until it has the
			 * client's ACK. Snapshots are those of this packet. */
			if (!(fl & TH_RST) && ((side == MOS_SIDE_CLI && cs == TCP_ST_SYN_SENT) ||
			                       (side == MOS_SIDE_SVR && p.payloadlen && ss == TCP_ST_SYN_RCVD))) {
				invalid(c, m, sock, side, FW_INV_HANDSHAKE);
				goto out;
			}
			if (cs >= TCP_ST_ESTABLISHED && ss >= TCP_ST_ESTABLISHED)
				u |= U_HS_DONE;
		}
		if (U_GEN(u) != rs->gen || !(u & U_EST_DONE)) {
			/* Once per generation: may an `established` rule stop
			 * this connection? If none matches it goes on, counted
			 * under its admitting rule while that rule is in force. */
			conn_tuple(&t, &p, side);
			r = fw_match(rs, &t, FW_ST_EST);
			if (r >= 0) {
				v = rs->r[r].action;
				ci = (unsigned)r;
				conn = 1;
			} else {
				v = FW_ALLOW;
				ci = U_GEN(u) == rs->gen ? U_CTR(u) : FW_CTR_KEPT(rs);
			}
			u = U_MAKE(v, ci, rs->gen, U_ADMITTED | U_EST_DONE | (u & (U_HS_DONE | U_RESET_DONE)));
		}
	}
	v = U_VERDICT(u);
	count(c, rs, U_CTR(u), conn, p.ip_len);
	if (v == FW_RESET && !(u & U_RESET_DONE) && c->enforced != 0) {
		/* RSTs to both ends, right after this packet, which goes through:
		 * each RST then sits exactly at its receiver's next sequence
		 * number (a gap would earn a challenge ACK, RFC 5961, instead of
		 * a reset). The stack delivers nothing more of the flow. */
		u |= U_RESET_DONE;
		if (mtcp_reset_conn(m, sock) == 0)
			BUMP(c->conn_resets, 1);
		else if (errno == ENOTSUP)
			__atomic_store_n(&c->enforced, 0, __ATOMIC_RELAXED);
		else
			BUMP(c->errors, 1);
	} else if (v != FW_ALLOW) {
		drop(c, m, sock, side);
	}
	if (u != u0)
		mtcp_set_uctx(m, sock, (void *)(uintptr_t)u);
out:
	leave(c);
}

/* What MOS_ON_ORPHAN packets are. */
enum okind { OK_PKT, OK_NON_IP, OK_MALFORMED, OK_FRAGMENT, OK_TCP, OK_NDP };

/* Parses an orphan's L3/L4 headers into t (stateless tuple). */
static enum okind parse_orphan(const struct pkt_info *p, struct fw_tuple *t)
{
	const uint8_t *e = (const uint8_t *)p->ethh, *ih = (const uint8_t *)p->iph;
	if (!ih) {
		/* No IP for the stack: truly not IP (ARP...), or an IP
		 * ethertype whose header it could not parse. */
		unsigned off = 12;
		uint16_t et = 0;
		for (int tags = 0; tags < 3 && e && off + 2 <= p->eth_len; tags++, off += 4) {
			et = (uint16_t)(e[off] << 8 | e[off + 1]);
			if (et != 0x8100 && et != 0x88a8 && et != 0x9100)
				break;
		}
		return et == 0x0800 || et == 0x86dd ? OK_MALFORMED : OK_NON_IP;
	}
	long avail = (long)p->eth_len - (long)(ih - e);
	const uint8_t *l4;
	unsigned proto, l4len;
	memset(t, 0, sizeof(*t));
	if (avail < 1)
		return OK_MALFORMED;
	if ((ih[0] >> 4) == 4) {
		unsigned hl = (ih[0] & 15u) * 4, tot = (unsigned)(ih[2] << 8 | ih[3]);
		if (avail < 20 || hl < 20 || (long)hl > avail || tot < hl)
			return OK_MALFORMED;
		if ((ih[6] & 0x20) || ((ih[6] & 0x1f) | ih[7]))
			return OK_FRAGMENT;
		if ((long)tot < avail)
			avail = tot;
		t->fam = 4;
		memcpy(t->src, ih + 12, 4);
		memcpy(t->dst, ih + 16, 4);
		proto = ih[9];
		l4 = ih + hl;
		l4len = (unsigned)(avail - (long)hl);
	} else if ((ih[0] >> 4) == 6) {
		if (avail < 40)
			return OK_MALFORMED;
		unsigned plen = (unsigned)(ih[4] << 8 | ih[5]);
		if (40 + (long)plen < avail)
			avail = 40 + plen;
		t->fam = 6;
		memcpy(t->src, ih + 8, 16);
		memcpy(t->dst, ih + 24, 16);
		proto = ih[6];
		unsigned off = 40;
		/* Extension headers (RFC 8200 4.1): hop-by-hop, routing, fragment,
		 * destination options, AH. */
		for (int k = 0; k < 8 && (proto == 0 || proto == 43 || proto == 44 || proto == 60 || proto == 51);
		     k++) {
			if ((long)off + 8 > avail)
				return OK_MALFORMED;
			const uint8_t *x = ih + off;
			if (proto == 44) {
				if (((x[2] << 8 | x[3]) & 0xfff9) != 0)
					return OK_FRAGMENT; /* offset or M set: not an atomic fragment */
				off += 8;
			} else {
				off += proto == 51 ? (x[1] + 2u) * 4 : (x[1] + 1u) * 8;
			}
			proto = x[0];
		}
		if ((long)off > avail)
			return OK_MALFORMED;
		l4 = ih + off;
		l4len = (unsigned)(avail - (long)off);
	} else {
		return OK_MALFORMED;
	}
	switch (proto) {
	case 6: return OK_TCP;
	case 17:
		if (l4len < 8)
			return OK_MALFORMED;
		t->proto = FW_P_UDP;
		t->sport = (uint16_t)(l4[0] << 8 | l4[1]);
		t->dport = (uint16_t)(l4[2] << 8 | l4[3]);
		return OK_PKT;
	case 1: t->proto = t->fam == 4 ? FW_P_ICMP : FW_P_ANY; return OK_PKT;
	case 58:
		if (t->fam != 6 || l4len < 1)
			return OK_MALFORMED;
		t->proto = FW_P_ICMP6;
		/* RS, RA, NS, NA, redirect: IPv6 does not work without them. */
		return l4[0] >= 133 && l4[0] <= 137 ? OK_NDP : OK_PKT;
	default:
		/* Any other protocol: only `any` rules (and the default) match;
		 * FW_P_ANY in a tuple meets no tcp/udp/icmp rule. */
		t->proto = FW_P_ANY;
		return OK_PKT;
	}
}

/* MOS_ON_ORPHAN: packets of no TCP connection, TCP or not. */
static void on_orphan(mctx_t m, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct fw_ctx *c = ctx_of(m);
	struct fw_ruleset *rs = enter(c);
	struct pkt_info p;
	struct fw_tuple t;
	(void)ev;
	(void)arg;
	if (mtcp_getlastpkt(m, sock, side, &p) < 0) {
		BUMP(c->errors, 1);
		goto out;
	}
	if (mospipe_pkt_reassembled(m) == 1)
		BUMP(c->reassembled, 1);
	switch (parse_orphan(&p, &t)) {
	case OK_NON_IP: BUMP(c->non_ip, 1); break;
	case OK_NDP: BUMP(c->ndp, 1); break;
	case OK_MALFORMED: invalid(c, m, sock, side, FW_INV_MALFORMED); break;
	case OK_FRAGMENT: invalid(c, m, sock, side, FW_INV_FRAGMENT); break;
	case OK_TCP: invalid(c, m, sock, side, FW_INV_NO_CONN); break;
	case OK_PKT: {
		int r = fw_match(rs, &t, 0);
		unsigned v = r < 0 ? rs->def_action : rs->r[r].action;
		count(c, rs, r < 0 ? FW_CTR_DEFAULT(rs) : (unsigned)r, 0, p.ip_len);
		if (v != FW_ALLOW)
			drop(c, m, sock, side); /* reset on non-TCP traffic drops */
		break;
	}
	}
out:
	leave(c);
}

int fw_dp_setup(mctx_t m)
{
	int zero = 0;
	int s = mtcp_socket(m, AF_INET, MOS_SOCK_MONITOR_STREAM, 0);
	if (s < 0)
		return -1;
	/* The firewall never reads stream bytes: no reassembly buffers. */
	if (mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_CLIBUF, &zero, sizeof(zero)) < 0 ||
	    mtcp_setsockopt(m, s, SOL_MONSOCKET, MOS_SVRBUF, &zero, sizeof(zero)) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_PKT_IN, MOS_HK_SND, on_pkt) < 0 ||
	    mtcp_register_callback(m, s, MOS_ON_ORPHAN, MOS_NULL, on_orphan) < 0)
		return -1;
	__atomic_store_n(&fw_ctx[(unsigned)m->cpu % FW_MAX_CTX].enforced, -1, __ATOMIC_RELAXED);
	return 0;
}
