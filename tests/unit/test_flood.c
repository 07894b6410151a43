/* Unit tests of what a flood meets (issue #11 §2), on plain memory: the
 * eviction order of a full flow table (closed, then unconfirmed: half-open
 * and mid-stream flows nobody confirmed, least recently active first;
 * established never), the keyed symmetric flow hash, and the reassembly
 * pool under pressure (fair share per side, reclaim from the least recently
 * active flows, refusal of a pool too small for the flow table). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu-qsbr.h>

#include "conf-types.h"
#include "conntable.h"
#include "hash.h"
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
static struct ended ends[4096];
static unsigned n_ends, n_ends_total;
static struct tcpsm_inst *ti;
static uint64_t now;

static void on_end_cb(struct tcpsm_inst *t, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	(void)t;
	(void)arg;
	if (n_ends < 4096) {
		tcpsm_flowrec_fill(&ends[n_ends].rec, f);
		ends[n_ends++].ev = ev;
	}
	n_ends_total++;
	tcpsm_flow_free(f);
}

static struct tcpsm_params defparams(unsigned flows)
{
	struct tcpsm_params p;
	memset(&p, 0, sizeof(p));
	p.flows = flows;
	p.table_full = MP_FULL_EVICT;
	p.midstream = 1;
	p.csum_verify = 1;
	p.idle_ns = 300000 * MS;
	p.syn_ns = 30000 * MS;
	p.tw_ns = 1000 * MS;
	return p;
}

static void start(struct tcpsm_params p)
{
	n_ends = n_ends_total = 0;
	now = T0;
	ti = tcpsm_inst_create(&p, 0, NULL, NULL, on_end_cb, NULL);
	ck_assert_ptr_nonnull(ti);
}

static void stop(void)
{
	tcpsm_inst_destroy(ti);
	ti = NULL;
}

static uint64_t ctr(unsigned id)
{
	return ti->ctr[id];
}

/* A packet between client 10.C.C.C:cport and server 10.0.0.2:80, hashed as
 * classify would (keyed, symmetric). */
struct ep {
	uint32_t cli; /* client address, host order */
	uint16_t cport;
};

static struct mp_meta pkt(struct ep e, int from_cli, uint8_t th, uint32_t seq, uint32_t ack, uint16_t len)
{
	struct mp_meta md;
	uint8_t c[4] = {(uint8_t)(e.cli >> 24), (uint8_t)(e.cli >> 16), (uint8_t)(e.cli >> 8), (uint8_t)e.cli};
	uint8_t s[4] = {10, 0, 0, 2};
	memset(&md, 0, sizeof(md));
	md.kind = MP_PKT_DATA;
	md.flags = MP_MF_IPV4 | MP_MF_TCP;
	md.ip_proto = 6;
	md.ts_ns = now;
	memcpy(md.src, from_cli ? c : s, 4);
	memcpy(md.dst, from_cli ? s : c, 4);
	md.sport = from_cli ? e.cport : 80;
	md.dport = from_cli ? 80 : e.cport;
	md.tcp_flags = th;
	md.seq = seq;
	md.ack = ack;
	md.win = 65535;
	md.pay_len = md.pay_cap = len;
	md.hash = mp_hash_mix(mp_sym_hash(md.src, md.sport, md.dst, md.dport, 4));
	return md;
}

static struct mp_meta last;
static const uint8_t *payload;

static struct tcpsm_flow *go(struct ep e, int from_cli, uint8_t th, uint32_t seq, uint32_t ack, uint16_t len)
{
	last = pkt(e, from_cli, th, seq, ack, len);
	tcpsm_process(ti, &last, len ? payload : NULL);
	return last.flow;
}

static struct ep ep(unsigned n)
{
	return (struct ep){0x0a010000u + n / 60000, (uint16_t)(1024 + n % 60000)};
}

/* Client ISN 1000, server ISN 5000. */
static struct tcpsm_flow *handshake(struct ep e)
{
	go(e, 1, S_, 1000, 0, 0);
	go(e, 0, S_ | A_, 5000, 1001, 0);
	return go(e, 1, A_, 1001, 5001, 0);
}

/* A connection picked up mid-stream and confirmed: the server's data, then
 * the client's ACK of it. */
static struct tcpsm_flow *midstream_confirmed(struct ep e)
{
	go(e, 0, A_ | P_, 7000, 2000, 100);
	return go(e, 1, A_, 2000, 7100, 0);
}

static int alive(struct ep e)
{
	struct mp_meta md = pkt(e, 1, A_, 0, 0, 0);
	return tcpsm_lookup(ti, &md) != NULL;
}

/* ---- eviction order ------------------------------------------------------ */

/* README "Eviction": a full table first ends a closed flow, then the least
 * recently active unconfirmed flow (half-open or unconfirmed mid-stream),
 * and never an established one: the new flow is then refused. */
START_TEST(eviction_order)
{
	start(defparams(7));
	struct ep est = ep(1), mid = ep(2), closed = ep(3), half1 = ep(4), unc = ep(5), half2 = ep(6), unc2 = ep(7);
	handshake(est);
	now += MS;
	ck_assert_uint_eq(midstream_confirmed(mid)->list, TCPSM_L_EST);
	now += MS;
	handshake(closed);
	go(closed, 1, R_, 1001, 0, 0); /* exact RST: closed, waits out time_wait */
	now += MS;
	go(half1, 1, S_, 1000, 0, 0);
	now += MS;
	struct tcpsm_flow *f = go(unc, 1, A_, 3000, 9000, 0); /* a spoofed ACK */
	ck_assert_uint_eq(f->midstream, 1);
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	now += MS;
	go(half2, 1, S_, 1000, 0, 0);
	now += MS;
	go(unc2, 0, A_ | P_, 3000, 9000, 10); /* one-sided data: unconfirmed too */
	ck_assert_uint_eq(ti->n_active, 7);

	/* Newcomers, each a spoofed ACK from a new source. */
	struct ep order[5] = {closed, half1, unc, half2, unc2};
	for (unsigned i = 0; i < 5; i++) {
		now += MS;
		ck_assert_ptr_nonnull(go(ep(100 + i), 1, A_, 1, 1, 0));
		ck_assert_uint_eq(n_ends, i + 1);
		ck_assert_uint_eq(ends[i].rec.cli_port, order[i].cport);
		ck_assert(!alive(order[i]));
	}
	ck_assert_uint_eq(ends[0].rec.end, TCPSM_END_RST); /* a closed flow keeps its reason */
	for (unsigned i = 1; i < 5; i++)
		ck_assert_uint_eq(ends[i].rec.end, TCPSM_END_EVICTED);
	ck_assert_uint_eq(ctr(TCPSM_C_EVICTED_CLOSED), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_EVICTED_HALF), 2);
	ck_assert_uint_eq(ctr(TCPSM_C_EVICTED_UNCONF), 2);
	ck_assert_uint_eq(ctr(TCPSM_C_END_EVICTED), 4);
	/* The newcomers are unconfirmed themselves: the next one evicts the
	 * oldest of them, never the established flows. */
	now += MS;
	ck_assert_ptr_nonnull(go(ep(200), 1, A_, 1, 1, 0));
	ck_assert_uint_eq(ends[5].rec.cli_port, ep(100).cport);
	ck_assert(alive(est) && alive(mid));
	ck_assert_uint_eq(ctr(TCPSM_C_TABLE_FULL_REFUSED), 0);
	stop();
}
END_TEST

START_TEST(established_never_evicted)
{
	start(defparams(2));
	handshake(ep(1));
	midstream_confirmed(ep(2));
	now += MS;
	ck_assert_ptr_null(go(ep(3), 1, S_, 1000, 0, 0));
	ck_assert(last.flags & MP_MF_ORPHAN);
	ck_assert_ptr_null(go(ep(4), 1, A_, 1, 1, 0));
	ck_assert_uint_eq(ctr(TCPSM_C_TABLE_FULL_REFUSED), 2);
	ck_assert_uint_eq(n_ends, 0);
	ck_assert(alive(ep(1)) && alive(ep(2)));
	stop();
}
END_TEST

/* 10,000 spoofed ACKs from distinct sources against a 64-flow table that
 * holds a real connection: the flood only ever evicts its own state. */
START_TEST(spoofed_ack_flood)
{
	start(defparams(64));
	struct tcpsm_flow *real = handshake(ep(0));
	struct tcpsm_flow *mid = midstream_confirmed(ep(1));
	for (unsigned i = 0; i < 10000; i++) {
		now += 1000; /* 1 Mpps */
		ck_assert_ptr_nonnull(go(ep(10 + i), 1, A_, i * 7919u, i * 104729u, 0));
		if (i % 1000 == 0) {
			/* The real download goes on among the flood. */
			ck_assert_ptr_eq(go(ep(0), 0, A_, 5001 + i, 1001, 0), real);
			ck_assert_ptr_eq(go(ep(1), 0, A_, 7100 + i, 2000, 0), mid);
		}
	}
	ck_assert_uint_eq(ctr(TCPSM_C_EVICTED_UNCONF), 10000 - 62);
	ck_assert_uint_eq(ctr(TCPSM_C_EVICTED_HALF), 0);
	ck_assert_uint_eq(ctr(TCPSM_C_TABLE_FULL_REFUSED), 0);
	ck_assert(alive(ep(0)) && alive(ep(1)));
	ck_assert_uint_eq(real->end, TCPSM_END_NONE);
	stop();
}
END_TEST

/* Unconfirmed until one side acknowledges what the other sent; the idle
 * timeout (not the SYN one) applies all along. */
START_TEST(midstream_confirmation)
{
	start(defparams(16));
	struct ep e = ep(1);
	struct tcpsm_flow *f = go(e, 1, A_ | P_, 2000, 7000, 10);
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	go(e, 1, A_ | P_, 2010, 7000, 10); /* the same side again */
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	go(e, 0, A_, 7000, 2000, 0); /* the server, acknowledging nothing new */
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	go(e, 0, A_, 7000, 2050, 0); /* acknowledges bytes never sent: no proof */
	ck_assert_uint_eq(f->list, TCPSM_L_UNCONF);
	ck_assert_uint_eq(tcpsm_expire(ti, now + 30000 * MS, 10), 0); /* not the SYN timeout */
	go(e, 0, A_, 7000, 2020, 0);                                  /* acknowledges the client's 20 bytes */
	ck_assert_uint_eq(f->list, TCPSM_L_EST);
	ck_assert_uint_eq(f->confirmed, 1);
	go(e, 1, A_, 2020, 7000, 0);
	ck_assert_uint_eq(f->list, TCPSM_L_EST); /* stays confirmed */

	/* SYN-ACK first: the client's ACK of the server's SYN confirms it. */
	struct ep g = ep(2);
	f = go(g, 0, S_ | A_, 5000, 1001, 0);
	ck_assert_uint_eq(f->list, TCPSM_L_HALF);
	go(g, 1, A_, 1001, 5001, 0);
	ck_assert_uint_eq(f->list, TCPSM_L_EST);

	/* One direction only, idle: ends on the idle timeout. */
	struct ep h = ep(3);
	now += MS;
	go(h, 0, A_ | P_, 1, 1, 10);
	uint64_t t = now;
	ck_assert_uint_eq(tcpsm_expire(ti, t + 300000 * MS - 1, 10), 2); /* e and g, idle since earlier */
	ck_assert_uint_eq(tcpsm_expire(ti, t + 300000 * MS, 10), 1);
	ck_assert_uint_eq(ends[n_ends - 1].rec.end, TCPSM_END_TIMEOUT);
	stop();
}
END_TEST

/* When the flow-log writer falls behind, a flood's records go first: those
 * of evicted flows and of flows that ended with no byte and no FIN or RST. */
START_TEST(flood_records_sheddable)
{
	start(defparams(2));
	handshake(ep(1));
	payload = (const uint8_t *)"0123456789";
	go(ep(1), 1, A_ | P_, 1001, 5001, 10);
	go(ep(2), 1, S_, 1000, 0, 0);
	now += MS;
	go(ep(3), 1, A_, 1, 1, 0); /* evicts ep(2), half-open */
	ck_assert_uint_eq(n_ends, 1);
	ck_assert(tcpsm_flowrec_sheddable(&ends[0].rec));
	tcpsm_end_all(ti, 10); /* ep(1) with data, ep(3) empty: "open" */
	ck_assert_uint_eq(n_ends, 3);
	for (unsigned i = 1; i < 3; i++)
		ck_assert_int_eq(tcpsm_flowrec_sheddable(&ends[i].rec), ends[i].rec.cli_port == ep(3).cport);
	/* A real connection closed without data is kept: it ended by FIN. */
	struct tcpsm_flowrec r = ends[1].rec;
	memset(r.bytes, 0, sizeof(r.bytes));
	r.end = TCPSM_END_FIN;
	ck_assert(!tcpsm_flowrec_sheddable(&r));
	stop();
}
END_TEST

/* Flows in retirement hold objects beyond the table; under a flood's churn
 * (a quarter of that slack held) new flows are published in the RCU
 * table only once confirmed, so that the flood's skip the grace period. */
static struct tcpsm_flow *held[20000];
static unsigned n_held;

static void hold_cb(struct tcpsm_inst *t, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	(void)t;
	(void)ev;
	(void)arg;
	held[n_held++] = f; /* "in retirement": not back in the pool yet */
}

START_TEST(churn_defers_publication)
{
	rcu_register_thread();
	struct mp_conntable *ct = mp_conntable_create(64, tcpsm_conn_snap, tcpsm_conn_match);
	struct tcpsm_params p = defparams(16);
	unsigned slack = tcpsm_pool_size(&p) - p.flows;
	n_held = 0;
	now = T0;
	ti = tcpsm_inst_create(&p, 0, NULL, ct, hold_cb, NULL);
	ck_assert_ptr_nonnull(ti);
	tcpsm_pool_watch(ti);
	ck_assert(!ti->pool_low);
	struct tcpsm_flow *f = go(ep(0), 1, S_, 1000, 0, 0);
	ck_assert(f->published && f->in_ct); /* no churn: at once */
	/* A flood: every new flow evicts one, which stays in retirement. */
	unsigned i = 1;
	while (n_held <= slack / 4) {
		now += 1000;
		ck_assert_ptr_nonnull(go(ep(i), 1, A_, i, i, 0));
		i++;
	}
	tcpsm_pool_watch(ti);
	ck_assert(ti->pool_low);
	f = go(ep(i), 1, A_, 5, 5, 0);
	ck_assert(!f->published && !f->in_ct); /* unconfirmed: not listed */
	struct ep real = ep(i + 1);
	f = go(real, 1, S_, 1000, 0, 0);
	ck_assert(!f->published);
	go(real, 0, S_ | A_, 5000, 1001, 0);
	ck_assert(!f->published);
	go(real, 1, A_, 1001, 5001, 0); /* established: listed now */
	ck_assert(f->published && f->in_ct);
	ck_assert_uint_eq(mp_conntable_count(ct), ti->n_active - 1); /* all but the unconfirmed one */
	/* Back to normal once retirement catches up. */
	for (unsigned k = 0; k < n_held; k++)
		tcpsm_flow_free(held[k]);
	n_held = 0;
	tcpsm_pool_watch(ti);
	ck_assert(!ti->pool_low);
	ti->on_end = NULL;
	tcpsm_inst_destroy(ti);
	ti = NULL;
	synchronize_rcu();
	mp_conntable_destroy(ct);
	rcu_unregister_thread();
}
END_TEST

/* ---- keyed symmetric hash ------------------------------------------------ */

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)rs;
}

static uint32_t h4(uint32_t a, uint16_t pa, uint32_t b, uint16_t pb)
{
	return mp_hash_mix(mp_sym_hash((const uint8_t *)&a, pa, (const uint8_t *)&b, pb, 4));
}

START_TEST(hash_symmetric)
{
	for (unsigned k = 0; k < 4; k++) {
		mp_hash_key_set(k + 1);
		for (unsigned i = 0; i < 20000; i++) {
			uint32_t a = rnd(), b = i % 7 ? rnd() : a; /* equal addresses too */
			uint16_t pa = (uint16_t)rnd(), pb = (uint16_t)rnd();
			ck_assert_uint_eq(h4(a, pa, b, pb), h4(b, pb, a, pa));
			/* Fragments hash by addresses only, ports 0: both ways too. */
			ck_assert_uint_eq(h4(a, 0, b, 0), h4(b, 0, a, 0));
			uint8_t x[16], y[16];
			for (unsigned j = 0; j < 16; j++) {
				x[j] = (uint8_t)rnd();
				y[j] = j < 15 || i % 5 ? (uint8_t)rnd() : x[j];
			}
			ck_assert_uint_eq(mp_sym_hash(x, pa, y, pb, 16), mp_sym_hash(y, pb, x, pa, 16));
			/* Unaligned addresses, as inside a packet. */
			uint8_t buf[40];
			memcpy(buf + 1, x, 16);
			memcpy(buf + 19, y, 16);
			ck_assert_uint_eq(mp_sym_hash(buf + 1, pa, buf + 19, pb, 16), mp_sym_hash(x, pa, y, pb, 16));
		}
	}
}
END_TEST

/* mp_addr_cmp orders addresses as libc's memcmp does (the order decides
 * which endpoint is "a" in the hash and the flow key), on IPv4 and IPv6,
 * unaligned, with common prefixes of every length. */
START_TEST(addr_cmp_is_memcmp)
{
	for (unsigned i = 0; i < 200000; i++) {
		uint8_t buf[40];
		for (unsigned j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)rnd();
		const uint8_t *x = buf + 1, *y = buf + 19;
		unsigned alen = i & 1 ? 16 : 4, same = (i >> 1) % (alen + 1);
		memcpy(buf + 19, buf + 1, same); /* a common prefix of `same` bytes */
		int want = memcmp(x, y, alen), got = mp_addr_cmp(x, y, alen);
		ck_assert_msg((want > 0) - (want < 0) == got, "alen %u prefix %u: memcmp %d, mp_addr_cmp %d", alen,
		              same, want, got);
	}
}
END_TEST

/* The same key gives the same values (reproducible runs with a fixed
 * [pipeline] hash_key); another key gives others. */
START_TEST(hash_keyed_stable)
{
	enum { N = 5000 };
	static uint32_t a[N], b[N], v1[N];
	static uint16_t pa[N], pb[N];
	for (unsigned i = 0; i < N; i++) {
		a[i] = rnd();
		b[i] = rnd();
		pa[i] = (uint16_t)rnd();
		pb[i] = (uint16_t)rnd();
	}
	ck_assert_uint_eq(mp_hash_key_set(42), 42);
	for (unsigned i = 0; i < N; i++)
		v1[i] = h4(a[i], pa[i], b[i], pb[i]);
	mp_hash_key_set(7);
	unsigned same = 0;
	for (unsigned i = 0; i < N; i++)
		same += h4(a[i], pa[i], b[i], pb[i]) == v1[i];
	ck_assert_uint_le(same, 2);
	mp_hash_key_set(42);
	for (unsigned i = 0; i < N; i++)
		ck_assert_uint_eq(h4(a[i], pa[i], b[i], pb[i]), v1[i]);
	/* Seed 0 draws a key: two runs differ. */
	uint64_t s1 = mp_hash_key_set(0);
	for (unsigned i = 0; i < 16; i++)
		v1[i] = h4(a[i], pa[i], b[i], pb[i]);
	uint64_t s2 = mp_hash_key_set(0);
	ck_assert_uint_ne(s1, 0);
	ck_assert_uint_ne(s1, s2);
	same = 0;
	for (unsigned i = 0; i < 16; i++)
		same += h4(a[i], pa[i], b[i], pb[i]) == v1[i];
	ck_assert_uint_lt(same, 16);
}
END_TEST

/* What an attacker precomputes against one key is worthless against
 * another: 64 tuples found (by search, knowing key 1) to share one slot of a
 * 2^16-slot table spread out under a different key, as random tuples do.
 * (Against the old CRC hash such a set collides whatever the seed: its
 * collisions depend only on the xor of the tuples.) */
START_TEST(hash_precomputed_collisions_do_not_transfer)
{
	enum { WANT = 64, MASK = 0xffff };
	uint32_t srv = 0x0a000002u, cli[WANT];
	uint16_t port[WANT];
	unsigned n = 0;
	mp_hash_key_set(1);
	uint32_t target = h4(0x0b000001u, 1024, srv, 80) & MASK;
	for (uint32_t c = 0x0b000001u; n < WANT; c++)
		for (uint16_t p = 1024; p < 1064 && n < WANT; p++)
			if ((h4(c, p, srv, 80) & MASK) == target) {
				cli[n] = c;
				port[n++] = p;
			}
	for (uint64_t key = 2; key < 12; key++) {
		mp_hash_key_set(key);
		static uint8_t slot[MASK + 1];
		memset(slot, 0, sizeof(slot));
		unsigned worst = 0;
		for (unsigned i = 0; i < WANT; i++) {
			unsigned s = h4(cli[i], port[i], srv, 80) & MASK;
			if (++slot[s] > worst)
				worst = slot[s];
		}
		/* 64 random values in 65,536 slots: two in one slot happens
		 * (birthday), three almost never. */
		ck_assert_uint_le(worst, 3);
	}
	mp_hash_key_set(1);
}
END_TEST

/* ---- reassembly memory --------------------------------------------------- */

#define CHUNK_BYTES 4608u /* 4096 data + 512 bitmap */

static struct tcpsm_params bufparams(unsigned flows, uint64_t buf_size, uint64_t buf_pool)
{
	struct tcpsm_params p = defparams(flows);
	p.buf_size = buf_size;
	p.buf_pool = buf_pool;
	return p;
}

static uint32_t pool_total(void)
{
	uint32_t fr, tot;
	reasm_pool_stats(*(struct reasm_pool **)ti->reasm, &fr, &tot, NULL);
	return tot;
}

static uint32_t pool_free(void)
{
	uint32_t fr, tot;
	reasm_pool_stats(*(struct reasm_pool **)ti->reasm, &fr, &tot, NULL);
	return fr;
}

/* A pool that cannot give every side of a full table its first chunks (a
 * data chunk and the slot map that reaches the window and the readers'
 * slack) is refused, saying what to set; 0 sizes it for the table exactly. */
START_TEST(pool_too_small_refused)
{
	char msg[512] = "";
	uint64_t bytes;
	struct tcpsm_params p = bufparams(8, 4096, 31 * CHUNK_BYTES);
	ck_assert_int_eq(tcpsm_buf_check(&p, &bytes, msg, sizeof(msg)), -EINVAL);
	ck_assert_msg(strstr(msg, "[tcp] buf_pool = 140K holds 31 reassembly chunks of 4608 bytes"), "%s", msg);
	ck_assert_ptr_nonnull(
	    strstr(msg, "flows = 8 needs (2 sides x 2 chunks (data and slot map) for buf_size = 4K)"));
	ck_assert_ptr_nonnull(strstr(msg, "set buf_pool to at least 144K (or 0: sized for flows), flows to at most 7"));
	errno = 0;
	ck_assert_ptr_null(tcpsm_inst_create(&p, 0, NULL, NULL, on_end_cb, NULL));
	ck_assert_int_eq(errno, EINVAL);

	p.buf_pool = 32 * CHUNK_BYTES;
	ck_assert_int_eq(tcpsm_buf_check(&p, &bytes, msg, sizeof(msg)), 0);
	start(p);
	ck_assert_uint_eq(pool_total(), 32);
	stop();
	p.buf_pool = 0;
	ck_assert_int_eq(tcpsm_buf_check(&p, &bytes, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(bytes, 32 * CHUNK_BYTES);
	start(p);
	ck_assert_uint_eq(pool_total(), 32);
	stop();
	/* Reassembly off: nothing to check. */
	p = bufparams(8, 0, 1);
	ck_assert_int_eq(tcpsm_buf_check(&p, &bytes, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(bytes, 0);
	/* The defaults pass: 262144 flows, 64K windows, buf_pool 0. */
	p = bufparams(262144, 65536, 0);
	ck_assert_int_eq(tcpsm_buf_check(&p, &bytes, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(bytes, 2ULL * 2 * 262144 * CHUNK_BYTES);
}
END_TEST

/* Every client stream carries the same bytes: stream[o] at offset o. */
static uint8_t stream[131072 + 2048];

/* Client data of len bytes at stream offset off (client ISN 1000). */
static struct tcpsm_flow *cdata(struct ep e, uint32_t off, uint16_t len)
{
	if (!stream[1])
		for (unsigned i = 0; i < sizeof(stream); i++)
			stream[i] = (uint8_t)(i * 131 + i / 251);
	payload = stream + off;
	return go(e, 1, A_ | P_, 1001 + off, 5001, len);
}

static uint64_t srv_held(struct tcpsm_flow *f)
{
	return ((struct reasm *)f->s[MP_SIDE_SVR].buf)->held;
}

static const struct reasm_totals *srv_tot(struct tcpsm_flow *f)
{
	return reasm_totals(f->s[MP_SIDE_SVR].buf);
}

/* A dry pool takes back the chunks of idle sides (no reader, nothing held:
 * nobody can read their window) of other open flows: no byte lost anywhere. */
START_TEST(dry_pool_reclaims_idle_sides)
{
	start(bufparams(4, 8192, 0)); /* 16 chunks */
	ck_assert_uint_eq(pool_total(), 16);
	struct tcpsm_flow *f[3];
	for (unsigned i = 0; i < 3; i++) {
		now += MS;
		f[i] = handshake(ep(i));
		cdata(ep(i), 0, 1448);
		cdata(ep(i), 1448, 1448);
		cdata(ep(i), 2896, 1448);
		cdata(ep(i), 4344, 1448); /* into its second chunk; the first went back */
		ck_assert_uint_eq(reasm_chunks(f[i]->s[MP_SIDE_SVR].buf), 2);
	}
	/* A flow an app reads and never releases keeps every chunk. */
	now += MS;
	struct tcpsm_flow *h = handshake(ep(9));
	tcpsm_flow_ctl_set(h, TCPSM_CTL_READER(MP_SIDE_SVR));
	uint32_t o = 0;
	while (pool_free() > 0 && o < 96 * 1024) {
		cdata(ep(9), o, 1024); /* data chunks and the map, up to 16 of 16 */
		o += 1024;
	}
	ck_assert_uint_eq(pool_free(), 0);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0);
	now += MS;
	for (unsigned k = 0; k < 4 && !ctr(TCPSM_C_BUF_RECLAIMED_IDLE); k++) {
		cdata(ep(9), o, 1024); /* on into a new chunk: the pool is dry */
		o += 1024;
	}
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_RECLAIMED_IDLE), 0);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_HELD_DROPPED), 0);
	ck_assert_uint_eq(srv_tot(h)->delivered, o);
	ck_assert_uint_eq(srv_tot(h)->missed, 0);
	/* The least recently active gave first. */
	ck_assert_uint_eq(reasm_chunks(f[0]->s[MP_SIDE_SVR].buf), 0);
	/* Those flows go on storing, each again taking chunks. */
	for (unsigned i = 0; i < 3; i++) {
		cdata(ep(i), 5792, 1448);
		ck_assert_uint_eq(srv_tot(f[i])->delivered, 7240);
		ck_assert_uint_eq(srv_tot(f[i])->missed, 0);
	}
	stop();
}
END_TEST

/* A side an app reads is never taken back (a callback for an earlier packet
 * may still read it), and what it reads after other flows were reclaimed for
 * it is exactly what was sent. */
START_TEST(reader_bytes_survive_reclaim)
{
	start(bufparams(4, 16384, 0)); /* 16 chunks */
	struct tcpsm_flow *r = handshake(ep(1));
	tcpsm_flow_ctl_set(r, TCPSM_CTL_READER(MP_SIDE_SVR)); /* an app peeks it */
	for (uint32_t o = 0; o < 36000; o += 1000)
		cdata(ep(1), o, 1000); /* 9 data chunks and the map, none released */
	struct tcpsm_flow *b = handshake(ep(2)), *c = handshake(ep(3));
	for (uint32_t o = 0; o < 6000; o += 1000) {
		cdata(ep(2), o, 1000);
		cdata(ep(3), o, 1000); /* their second chunk and a map each, idle (no reader) */
	}
	now += MS;
	struct tcpsm_flow *d = handshake(ep(4));
	cdata(ep(4), 0, 1000);
	ck_assert_uint_eq(pool_free(), 0);
	struct reasm *rb = r->s[MP_SIDE_SVR].buf;
	ck_assert_uint_eq(reasm_chunks(rb), 10);

	/* d needs a chunk: idle b and c give theirs, r (least recently
	 * active, but read by an app) keeps all. */
	cdata(ep(4), 1000, 4000);
	ck_assert_uint_eq(reasm_chunks(rb), 10);
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_RECLAIMED_IDLE), 0);
	/* r goes on: its next chunk comes from the pool. */
	cdata(ep(1), 36000, 3000);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0);
	uint8_t got[39000];
	ck_assert_int_eq(reasm_peek(rb, got, sizeof(got)), 39000);
	ck_assert(memcmp(got, stream, 39000) == 0);
	/* The reclaimed sides store on, from their edge. */
	cdata(ep(2), 6000, 1000);
	ck_assert_uint_eq(srv_tot(b)->delivered, 7000);
	ck_assert_uint_eq(srv_tot(b)->missed + srv_tot(c)->missed + srv_tot(d)->missed, 0);
	stop();
}
END_TEST

/* Once its reader has released the flow's newest mbuf (every callback
 * returned: tcpsm_flow_release() with that mbuf's number), a read side is
 * idle like any other: a dry pool takes its chunks back, its window starts
 * at the edge from then on, and a socket whose cursor was behind reads a gap
 * of exactly the bytes it lost, then the new bytes. */
START_TEST(released_reader_side_reclaimed)
{
	start(bufparams(16, 16384, 0)); /* 64 chunks */
	struct tcpsm_flow *r = handshake(ep(1));
	tcpsm_flow_ctl_set(r, TCPSM_CTL_READER(MP_SIDE_SVR));
	for (uint32_t o = 0; o < 36000; o += 1000)
		cdata(ep(1), o, 1000); /* 9 data chunks and the map, none released */
	struct reasm *rb = r->s[MP_SIDE_SVR].buf;
	ck_assert_uint_eq(reasm_chunks(rb), 10);
	/* Other read flows, never released, take the rest of the pool. */
	unsigned nb = 0;
	uint32_t o = 0;
	while (pool_free() > 0 && nb < 6) {
		nb++;
		now += MS;
		struct tcpsm_flow *b = handshake(ep(1 + nb));
		tcpsm_flow_ctl_set(b, TCPSM_CTL_READER(MP_SIDE_SVR));
		for (o = 0; pool_free() > 0 && o < 60000; o += 1000)
			cdata(ep(1 + nb), o, 1000);
	}
	ck_assert_uint_eq(pool_free(), 0);
	/* Not released yet: the last one's next chunk cannot come from r. */
	uint64_t idle0 = ctr(TCPSM_C_BUF_RECLAIMED_IDLE);
	now += MS;
	for (unsigned k = 0; k < 8 && !ctr(TCPSM_C_BUF_POOL_EXHAUSTED) && o < 60000; k++) {
		cdata(ep(1 + nb), o, 1000); /* on into a new chunk */
		o += 1000;
	}
	ck_assert_uint_eq(reasm_chunks(rb), 10);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_RECLAIMED_IDLE), idle0);
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0); /* those bytes were lost: counted */

	/* The app has returned from r's last callback. */
	struct mp_meta md;
	memset(&md, 0, sizeof(md));
	md.kind = MP_PKT_DATA;
	md.pkt.fpkt = r->npkt;
	tcpsm_flow_release(r, &md);
	now += MS;
	/* Other flows (nobody reads them) find the pool dry, each within its
	 * receiver's window; past the back-off of the walk above (256 dry
	 * inserts) the next walk takes r's. */
	uint64_t exhausted = ctr(TCPSM_C_BUF_POOL_EXHAUSTED);
	for (unsigned i = 0; i < 8 && reasm_chunks(rb); i++) {
		handshake(ep(8 + i));
		for (uint32_t oc = 0; oc < 60000 && reasm_chunks(rb); oc += 1000)
			cdata(ep(8 + i), oc, 1000);
	}
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), exhausted + 200); /* they lost bytes meanwhile */
	ck_assert_uint_eq(reasm_chunks(rb), 0);
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_RECLAIMED_IDLE), idle0);
	/* r goes on: its window starts at 36000 now. */
	cdata(ep(1), 36000, 1000);
	uint8_t got[2000];
	struct reasm_info ri;
	reasm_info(rb, &ri);
	ck_assert_uint_eq(ri.delivered, 37000);
	/* As a callback for that packet reads (its edge in the metadata). */
	const struct reasm_edge *e = (const struct reasm_edge *)(const void *)&r->s[MP_SIDE_SVR].edge;
	ck_assert_uint_eq(e->end, 37000);
	ck_assert_uint_eq(e->back, 1000);
	errno = 0;
	ck_assert_int_eq(reasm_ppeek_at(rb, e, got, 1000, 35000), -1); /* out of the window */
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(reasm_ppeek_at(rb, e, got, 1000, 36000), 1000);
	ck_assert(memcmp(got, stream + 36000, 1000) == 0);
	stop();
}
END_TEST

/* A closed flow an app reads: the packet that raises its CONN_END gets
 * TCPSM_P_ENDED whatever buf_free_at_end says (the stage glue then sends
 * MP_CTRL_ENDED behind it). Its chunks stay while a CONN_END callback may
 * still read them, even when the pool runs dry, and go back once tx has
 * handed the ENDED back (end_seen, set by the glue on tcpsm's lcore):
 * with buf_free_at_end = no when the pool runs dry (reclaim_closed), with
 * yes at once (tcpsm_reasm_reclaim_ended). */
static struct tcpsm_flow *closed_reader_flow(struct ep e, uint32_t len)
{
	struct tcpsm_flow *r = handshake(e);
	tcpsm_flow_ctl_set(r, TCPSM_CTL_READER(MP_SIDE_SVR)); /* an app peeks it */
	for (uint32_t o = 0; o < len; o += 1000)
		cdata(e, o, 1000);
	struct mp_meta fin[3] = {pkt(e, 1, F_ | A_, 1001 + len, 5001, 0), pkt(e, 0, F_ | A_, 5001, 1002 + len, 0),
	                         pkt(e, 1, A_, 1002 + len, 5002, 0)};
	unsigned ended = 0;
	for (unsigned i = 0; i < 3; i++)
		ended += tcpsm_process(ti, &fin[i], NULL) == TCPSM_P_ENDED;
	ck_assert_uint_eq(ended, 1);
	ck_assert(r->closed);
	ck_assert(!r->end_seen); /* the glue's, once ENDED is back */
	ck_assert_uint_gt(reasm_chunks(r->s[MP_SIDE_SVR].buf), 0);
	return r;
}

START_TEST(closed_reader_waits_for_ended)
{
	/* buf_free_at_end = no: kept until the pool runs dry. */
	struct tcpsm_params p = bufparams(4, 16384, 0); /* 16 chunks */
	p.buf_free_at_end = 0;
	start(p);
	struct tcpsm_flow *r = closed_reader_flow(ep(1), 12000);
	uint32_t kept = reasm_chunks(r->s[MP_SIDE_SVR].buf);
	now += MS;
	struct tcpsm_flow *h = handshake(ep(2));
	tcpsm_flow_ctl_set(h, TCPSM_CTL_READER(MP_SIDE_SVR));
	uint32_t o = 0;
	while (pool_free() > 0 && o < 96 * 1024) {
		cdata(ep(2), o, 1000);
		o += 1000;
	}
	ck_assert_uint_eq(pool_free(), 0);
	for (unsigned k = 0; k < 8; k++, o += 1000)
		cdata(ep(2), o, 1000); /* dry: r's reader may still read, r keeps all */
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), kept);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_RECLAIMED), 0);
	ck_assert_uint_gt(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0);
	tcpsm_reasm_reclaim_ended(ti); /* with no, never at once */
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), kept);
	r->end_seen = 1; /* MP_CTRL_ENDED came back */
	tcpsm_reasm_reclaim_ended(ti);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_ENDED_RECLAIMED), 0);
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), kept);
	uint64_t missed = srv_tot(h)->missed;
	cdata(ep(2), o, 1000); /* dry again: now r gives its chunks */
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), 0);
	ck_assert_uint_ge(ctr(TCPSM_C_BUF_RECLAIMED), kept);
	ck_assert_uint_eq(srv_tot(h)->missed, missed); /* that byte found room */
	stop();

	/* buf_free_at_end = yes: back at once, without waiting for a dry pool. */
	p.buf_free_at_end = 1;
	start(p);
	r = closed_reader_flow(ep(1), 12000);
	kept = reasm_chunks(r->s[MP_SIDE_SVR].buf);
	tcpsm_reasm_reclaim_ended(ti);
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), kept);
	r->end_seen = 1;
	tcpsm_reasm_reclaim_ended(ti);
	ck_assert_uint_eq(reasm_chunks(r->s[MP_SIDE_SVR].buf), 0);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_ENDED_RECLAIMED), kept);
	stop();
}
END_TEST

/* Stale flows that pin chunks with bytes held out of order (what an
 * attacker sends to exhaust the pool) lose them, least recently active
 * first and only while above their fair share, so that an active flow under
 * its share keeps every new byte. */
START_TEST(dry_pool_drops_stale_held_bytes)
{
	start(bufparams(8, 16384, 0)); /* 32 chunks */
	struct tcpsm_flow *a[5];
	for (unsigned i = 0; i < 5; i++) {
		now += MS;
		a[i] = handshake(ep(10 + i));
		/* Held out of order in chunks 0-3, and the map: 5 chunks. */
		cdata(ep(10 + i), 100, 1000);
		cdata(ep(10 + i), 4096, 1000);
		cdata(ep(10 + i), 8192, 1000);
		cdata(ep(10 + i), 12288, 1000);
	}
	/* Two flows an app reads: l (3 data chunks, the map) and m (2, the map). */
	now += MS;
	struct tcpsm_flow *l = handshake(ep(1)), *m = handshake(ep(2));
	tcpsm_flow_ctl_set(l, TCPSM_CTL_READER(MP_SIDE_SVR));
	tcpsm_flow_ctl_set(m, TCPSM_CTL_READER(MP_SIDE_SVR));
	for (uint32_t o = 0; o < 9000; o += 1000)
		cdata(ep(1), o, 1000);
	for (uint32_t o = 0; o < 5000; o += 1000)
		cdata(ep(2), o, 1000);
	ck_assert_uint_eq(pool_free(), 0);
	ck_assert_uint_eq(srv_held(a[0]), 4000);

	now += MS;
	for (uint32_t o = 9000; o < 13000; o += 1000)
		cdata(ep(1), o, 1000); /* l's chunk 3, under its share (32 / 7): the pool is dry */
	ck_assert_uint_eq(srv_tot(l)->delivered, 13000);
	ck_assert_uint_eq(srv_tot(l)->missed, 0);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 0);
	/* The oldest attacker flow paid, and only it. */
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_RECLAIMED_HELD), 5);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_HELD_DROPPED), 4000);
	ck_assert_uint_eq(srv_held(a[0]), 0);
	for (unsigned i = 1; i < 5; i++)
		ck_assert_uint_eq(srv_held(a[i]), 4000);
	/* Its dropped bytes are holes again: missed when its stream passes
	 * them, unless they are sent again. */
	cdata(ep(10), 0, 1000);
	cdata(ep(10), 1000, 3096);
	cdata(ep(10), 4096, 1000); /* re-sent: stored again */
	ck_assert_uint_eq(srv_tot(a[0])->delivered, 5096);
	stop();
}
END_TEST

/* A side already at its fair share takes nobody's bytes when the pool is
 * dry: it loses its own new ones (counted). */
START_TEST(fair_share_caps_a_hog)
{
	/* 4 flows: a pool of 4 x 2 sides x 2 chunks (a side's slots reach its
	 * window and the readers' slack: a map chunk with its first data one). */
	start(bufparams(4, 16384, 0));
	ck_assert_uint_eq(pool_total(), 16);
	struct tcpsm_flow *a[3];
	for (unsigned i = 0; i < 3; i++) {
		now += MS;
		a[i] = handshake(ep(10 + i));
		cdata(ep(10 + i), 4096, 1000); /* held: a map and 3 data chunks each */
		cdata(ep(10 + i), 8192, 1000);
		cdata(ep(10 + i), 12288, 1000);
	}
	now += MS;
	struct tcpsm_flow *h = handshake(ep(1));
	cdata(ep(1), 0, 1000); /* chunk 0, in order */
	cdata(ep(1), 4096, 1000);
	cdata(ep(1), 8192, 1000); /* map + 3: 16 of 16 used, 4 sides */
	ck_assert_uint_eq(pool_free(), 0);
	ck_assert_uint_eq(reasm_chunks(h->s[MP_SIDE_SVR].buf), 4);
	now += MS;
	cdata(ep(1), 12288, 500); /* a fifth chunk: above 16 / 4 */
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_SHARE_FULL), 1);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_POOL_EXHAUSTED), 1);
	ck_assert(last.ev[MP_HOOK_RCV] & MP_ON_ERROR);
	ck_assert_uint_eq(ctr(TCPSM_C_BUF_HELD_DROPPED), 0);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(srv_held(a[i]), 3000);
	stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flood");
	TCase *t = tcase_create("eviction");
	tcase_add_test(t, eviction_order);
	tcase_add_test(t, established_never_evicted);
	tcase_add_test(t, spoofed_ack_flood);
	tcase_add_test(t, midstream_confirmation);
	tcase_add_test(t, flood_records_sheddable);
	tcase_add_test(t, churn_defers_publication);
	suite_add_tcase(s, t);
	t = tcase_create("hash");
	tcase_add_test(t, hash_symmetric);
	tcase_add_test(t, addr_cmp_is_memcmp);
	tcase_add_test(t, hash_keyed_stable);
	tcase_add_test(t, hash_precomputed_collisions_do_not_transfer);
	suite_add_tcase(s, t);
	t = tcase_create("memory");
	tcase_add_test(t, pool_too_small_refused);
	tcase_add_test(t, dry_pool_reclaims_idle_sides);
	tcase_add_test(t, reader_bytes_survive_reclaim);
	tcase_add_test(t, released_reader_side_reclaimed);
	tcase_add_test(t, closed_reader_waits_for_ended);
	tcase_add_test(t, dry_pool_drops_stale_held_bytes);
	tcase_add_test(t, fair_share_caps_a_hog);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
