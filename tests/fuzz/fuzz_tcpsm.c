/* libFuzzer target: tcpsm's per-packet logic (stages/tcpsm/tcpsm_sm.c and
 * what it calls: flow table, timers, reassembly) fed packet sequences, as
 * classify would describe them, on plain memory (no EAL).
 *
 * Input: byte 0 picks the parameters (mid-stream pick-up, overlap policy,
 * buffer size, a table of 4 or 64 flows); then 14-byte packets: which of a
 * few tuples and which direction, TCP flags, sequence and acknowledgment
 * numbers near or far from the last ones each side used (so handshakes,
 * data, retransmissions, wrap-around and garbage all occur), window,
 * payload and captured lengths, timestamps, time passing (timeouts run).
 * Checked: no crash, no undefined behaviour, no leak; the table never holds
 * more than its capacity; each side's seen-ranges set stays bounded, sorted
 * and disjoint; every packet of a monitored tuple gets a flow and
 * a side and sane state snapshots; every flow ends exactly once, through
 * the end callback, and the instance holds none after the end of input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf-types.h"
#include "meta-types.h"
#include "tcpsm-int.h"
#include "fuzz.h"

static unsigned ended;

static void on_end(struct tcpsm_inst *t, struct tcpsm_flow *f, uint32_t ev, void *arg)
{
	(void)t;
	(void)ev;
	(void)arg;
	ended++;
	tcpsm_flow_free(f);
}

static uint8_t payload[2048];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	struct tcpsm_params p;
	memset(&p, 0, sizeof(p));
	uint8_t c = data[0];
	p.flows = c & 1 ? 4 : 64;
	p.retire_slack = 64; /* on_end frees at once: no grace period to cover */
	p.table_full = (c >> 1) & 1 ? MP_FULL_REFUSE : MP_FULL_EVICT;
	p.midstream = (c >> 2) & 1;
	p.overlap = (c >> 3) & 1;
	p.csum_verify = 1;
	p.idle_ns = 300000000000ull;
	p.syn_ns = 30000000000ull;
	p.tw_ns = 1000000000ull;
	p.buf_size = (c >> 4) & 1 ? 8192 : 0;
	p.buf_pool = 0; /* sized for the table (a smaller pool is refused) */
	p.buf_free_at_end = (c >> 5) & 1;
	p.buf_nohist = (c >> 6) & 1; /* tcp.buf_history = no: trims after each release */
	ended = 0;
	struct tcpsm_inst *ti = tcpsm_inst_create(&p, 0, NULL, NULL, on_end, NULL);
	CHECK(ti);
	uint32_t last_seq[8][2] = {{0}}, last_ack[8][2] = {{0}};
	uint64_t now = 1700000000ull * 1000000000ull;
	for (size_t i = 1; i + 14 <= size; i += 14) {
		const uint8_t *o = data + i;
		unsigned tup = o[0] & 7, dir = (o[0] >> 3) & 1;
		struct mp_meta md;
		memset(&md, 0, sizeof(md));
		md.kind = MP_PKT_DATA;
		md.flags = MP_MF_IPV4 | MP_MF_TCP;
		md.ip_proto = 6;
		uint8_t ca[4] = {10, 0, 0, (uint8_t)(1 + tup)}, sa[4] = {10, 0, 1, 1};
		memcpy(md.src, dir ? sa : ca, 4);
		memcpy(md.dst, dir ? ca : sa, 4);
		md.sport = dir ? 80 : (uint16_t)(40000 + tup);
		md.dport = dir ? (uint16_t)(40000 + tup) : 80;
		md.hash = 1000 + tup;
		md.tcp_flags = o[1];
		/* near the side's last numbers (small steps), or anywhere */
		int32_t ds = (int16_t)(o[2] | o[3] << 8), da = (int16_t)(o[4] | o[5] << 8);
		uint32_t seq = o[0] & 0x40 ? (uint32_t)(o[2] | o[3] << 8 | o[4] << 16 | (uint32_t)o[5] << 24)
		                           : last_seq[tup][dir] + (uint32_t)ds;
		uint32_t ack =
		    o[0] & 0x80 ? last_seq[tup][!dir] + (uint32_t)(da >> 4) : last_ack[tup][dir] + (uint32_t)da;
		md.seq = seq;
		md.ack = ack;
		md.win = (uint16_t)(o[6] | o[7] << 8);
		uint16_t len = (uint16_t)((o[8] | (o[9] & 7) << 8) % 1461);
		md.pay_len = len;
		md.pay_cap = o[9] & 0x80 ? (uint16_t)(len / 3) : len;
		if (o[9] & 0x40) {
			md.opt.present = MP_TO_TS;
			md.opt.tsval = (uint32_t)o[10] << 8 | o[11];
			md.opt.tsecr = o[12];
		}
		if (o[9] & 0x20) {
			md.opt.present |= MP_TO_WSCALE | MP_TO_MSS | MP_TO_SACKOK;
			md.opt.wscale = o[12] & 31;
			md.opt.mss = 1460;
		}
		if (o[9] & 0x10)
			md.flags |= MP_MF_BADCSUM;
		now += (uint64_t)o[13] * (o[13] > 250 ? 60000000000ull : 1000000ull);
		md.ts_ns = now;
		int r = tcpsm_process(ti, &md, md.pay_cap ? payload : NULL);
		CHECK(r == 0 || r == TCPSM_P_ENDED || r == -ENOSPC);
		CHECK(ti->n_active <= p.flows);
		if (md.flow) {
			CHECK(md.side <= 1);
			for (unsigned h = 0; h < MP_HOOK_N; h++)
				for (unsigned s = 0; s < 2; s++)
					CHECK(md.st[h][s] < MP_TCP_ST_N);
			/* The seen-ranges set: bounded, sorted, disjoint, above
			 * the front. (Not below `high`: a FIN pulls `high` back
			 * to where the stream ends, and tcpsm_side_missed() takes
			 * that into account.) */
			const struct tcpsm_flow *f = md.flow;
			for (unsigned s = 0; s < 2; s++) {
				const struct tcpsm_ivs *v = &f->s[s].sent;
				CHECK(v->n <= TCPSM_IVS_N);
				for (unsigned k = 0; k < v->n; k++) {
					CHECK(v->iv[k].l > 0 && v->iv[k].l < v->iv[k].r);
					CHECK(k == 0 || v->iv[k].l > v->iv[k - 1].r);
				}
			}
		}
		if (md.flow && r != TCPSM_P_ENDED) {
			/* The reader, done with this packet at once. */
			tcpsm_flow_release(md.flow, &md);
			if (o[13] & 2)
				tcpsm_reasm_trim_recent(ti);
		}
		last_seq[tup][dir] = seq + len;
		last_ack[tup][dir] = ack;
		if (o[13] & 1)
			tcpsm_expire(ti, now, 64);
	}
	while (tcpsm_end_all(ti, 64))
		;
	CHECK(ti->n_active == 0);
	tcpsm_inst_destroy(ti);
	return 0;
}
