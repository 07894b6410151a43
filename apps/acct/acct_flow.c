/* acct: the callbacks. Every packet of a flow reaches acct_on_pkt() at
 * MOS_HK_SND (side = its sender). There:
 *   - charging: the segment's payload is placed in the sender's sequence
 *     space; bytes never seen before are charged to the subscriber, bytes
 *     seen before (a retransmission, or the old part of a partly new
 *     segment) are counted as retransmitted and not charged;
 *   - comparison: each old byte is compared with the first copy, read with
 *     mtcp_ppeek() from the receiver's buffer (overlap policy FIRST keeps the
 *     first copy there); a difference is the free-riding attack of Go et
 *     al., NDSS'14, and gets an abuse record (and a reset with
 *     --on-abuse reset);
 *   - trimming: the receiver's buffer is consumed with mtcp_peek() down to
 *     the last acct_keep bytes, so that it never fills up and those bytes
 *     stay readable for the next comparisons.
 * Why acct keeps its own record of the sequence space rather than use
 * MOS_ON_REXMIT: the stack raises REXMIT only for a segment made entirely of
 * old bytes; a partly new segment must be charged for its new bytes only,
 * and its old part compared too (that is how the Quantum-Insert capture of
 * the corpus overlaps an injected response).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <mospipe_ext.h>

#include "acct.h"

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

struct aside {
	uint64_t high; /* one past the highest byte seen: the anchor that unwraps offsets */
	uint64_t ack;  /* the peer's cumulative acknowledgment of this stream (offset) */
	uint32_t base; /* sequence number of stream offset 0 */
	uint8_t have_base, have_ack, n;
	struct {
		uint64_t s, e;
	} r[ACCT_RANGES]; /* sequence space seen: sorted, disjoint, not adjacent */
	uint64_t charged, rexmit;
};

struct aflow {
	uint32_t sub;   /* entry in the context's table */
	int32_t pfx;    /* its prefix in the file, -1 */
	uint8_t who;    /* the subscriber's side, MOS_SIDE_CLI/SVR; 2 = unmatched */
	uint8_t nobuf;  /* bit r: the stack keeps no bytes that side r receives */
	uint8_t reset;  /* reset asked (inline) */
	uint8_t family; /* 4 or 6 */
	uint16_t reports;
	uint16_t port[2];
	uint8_t addr[2][16];
	uint64_t abuse, start_ns;
	/* [r]: an estimate of what acct has consumed of the bytes side r
	 * receives, never below the truth (trim()). */
	uint64_t eaten[2];
	struct aside s[2];
};

/* After its MOS_ON_CONN_END a flow's record is freed (no later event would
 * tell us when to), but packets may still come: a retransmitted FIN in
 * TIME_WAIT, data after a RST the box believed. The user context then holds
 * a tag instead of a pointer — bit 0 set (malloc'ed pointers are aligned),
 * the subscriber's side in bits 1-2, its table entry above — so that such
 * payload is still charged to the subscriber. */
#define ENDED_TAG(f) ((void *)(uintptr_t)(1u | ((uintptr_t)(f)->who << 1) | ((uintptr_t)(f)->sub << 3)))
#define IS_ENDED(u) (((uintptr_t)(u)&1u) != 0)
static int warned_reset;

/* ---- sequence space ------------------------------------------------------------ */

/* The 64-bit offset nearest to `anchor` with these low 32 bits (pkt_info's
 * offset and TCP's sequence numbers are 32-bit). */
static int64_t unwrap(uint32_t off32, uint64_t anchor)
{
	return (int64_t)anchor + (int32_t)(off32 - (uint32_t)anchor);
}

/* Adds [a, b) to the side's seen ranges. Writes the parts of [a, b) that were
 * already seen to old[] (at most ACCT_RANGES pieces) and returns how many
 * bytes were new. *merged gets the bytes of a hole that had to be closed to
 * stay within ACCT_RANGES runs (charged now: they are in the sequence space
 * the sender has used). */
static uint64_t seen_add(struct aside *s, uint64_t a, uint64_t b, uint64_t old[][2], unsigned *n_old, uint64_t *merged)
{
	uint64_t oldb = 0, lo = a, hi = b;
	unsigned i = 0, j, no = 0;
	*merged = 0;
	while (i < s->n && s->r[i].e < a)
		i++;
	/* r[i..j) overlap or touch [a, b): they merge with it. */
	for (j = i; j < s->n && s->r[j].s <= b; j++) {
		uint64_t x = s->r[j].s > a ? s->r[j].s : a, y = s->r[j].e < b ? s->r[j].e : b;
		if (x < y) {
			old[no][0] = x;
			old[no][1] = y;
			no++;
			oldb += y - x;
		}
		if (s->r[j].s < lo)
			lo = s->r[j].s;
		if (s->r[j].e > hi)
			hi = s->r[j].e;
	}
	*n_old = no;
	unsigned removed = j - i;
	if (removed == 0) {
		/* A new run at position i. */
		if (s->n == ACCT_RANGES) {
			/* Merge the two neighbours (old runs or the new one) with the
			 * smallest hole between them. */
			uint64_t tmp[ACCT_RANGES + 1][2];
			unsigned m = 0;
			for (unsigned k = 0; k <= s->n; k++) {
				if (k == i) {
					tmp[m][0] = a;
					tmp[m][1] = b;
					m++;
				}
				if (k < s->n) {
					tmp[m][0] = s->r[k].s;
					tmp[m][1] = s->r[k].e;
					m++;
				}
			}
			unsigned best = 0;
			for (unsigned k = 1; k + 1 < m; k++)
				if (tmp[k + 1][0] - tmp[k][1] < tmp[best + 1][0] - tmp[best][1])
					best = k;
			*merged = tmp[best + 1][0] - tmp[best][1];
			tmp[best][1] = tmp[best + 1][1];
			memmove(&tmp[best + 1], &tmp[best + 2], (m - best - 2) * sizeof(tmp[0]));
			for (unsigned k = 0; k < ACCT_RANGES; k++) {
				s->r[k].s = tmp[k][0];
				s->r[k].e = tmp[k][1];
			}
			return (b - a) - oldb;
		}
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
		s->n++;
	} else if (removed > 1) {
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n -= removed - 1;
	}
	s->r[i].s = lo;
	s->r[i].e = hi;
	return (b - a) - oldb;
}

/* ---- the flow record ------------------------------------------------------------- */

static void addr_of(const struct sockaddr *sa, uint8_t *fam, uint8_t addr[16], uint16_t *port)
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		*fam = 6;
		memcpy(addr, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		*fam = 4;
		memcpy(addr, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	}
}

static struct aflow *flow_new(struct actx *c, mctx_t mctx, int sock, uint64_t t)
{
	struct aflow *f = calloc(1, sizeof(*f));
	union {
		struct sockaddr_in6 s6[2];
		char raw[2 * sizeof(struct sockaddr_in6)];
	} sa;
	socklen_t al = sizeof(sa);
	if (!f)
		return NULL;
	if (mtcp_getpeername(mctx, sock, (struct sockaddr *)&sa, &al, MOS_SIDE_BOTH) < 0) {
		free(f);
		return NULL;
	}
	uint8_t fam = 4;
	for (int i = 0; i < 2; i++)
		addr_of((const struct sockaddr *)(sa.raw + i * (al / 2)), &fam, f->addr[i], &f->port[i]);
	f->family = fam;
	f->start_ns = t;

	struct acct_key k = {.family = fam, .plen = fam == 4 ? 32 : 128};
	int32_t pfx = -1;
	f->who = 2;
	if (acct_o.subs_path) {
		for (int sd = MOS_SIDE_CLI; sd <= MOS_SIDE_SVR && f->who == 2; sd++) {
			struct acct_key a = k;
			memcpy(a.addr, f->addr[sd], 16);
			if (acct_subs_match(&a, &k, &pfx))
				f->who = (uint8_t)sd;
		}
	} else {
		memcpy(k.addr, f->addr[MOS_SIDE_CLI], 16);
		f->who = MOS_SIDE_CLI;
	}
	f->pfx = pfx;
	c->st.flows++;
	if (f->who == 2) {
		c->st.unmatched_flows++;
	} else {
		int over;
		f->sub = acct_tab_get(&c->tab, &k, pfx, &over);
		if (over)
			c->st.overflow_flows++;
		c->tab.e[f->sub].cur.flows++;
		acct_tab_touch(&c->tab, f->sub);
	}
	mtcp_set_uctx(mctx, sock, f);
	return f;
}

/* "subscriber":..,"src_ip":..,"src_port":..,"dest_ip":..,"dest_port":.. */
static void flow_json(struct acct_buf *b, const struct actx *c, const struct aflow *f)
{
	char a[2][INET6_ADDRSTRLEN];
	if (f->who == 2)
		acct_bprintf(b, "\"subscriber\":null");
	else
		acct_bkey(b, &c->tab.e[f->sub].key, c->tab.e[f->sub].pfx);
	for (int i = 0; i < 2; i++)
		inet_ntop(f->family == 4 ? AF_INET : AF_INET6, f->addr[i], a[i], sizeof(a[i]));
	acct_bprintf(b, ",\"src_ip\":\"%s\",\"src_port\":%u,\"dest_ip\":\"%s\",\"dest_port\":%u", a[0], f->port[0],
	             a[1], f->port[1]);
}

/* ---- charging --------------------------------------------------------------------- */

static void charge(struct actx *c, struct aflow *f, int side, uint64_t new_b, uint64_t old_b)
{
	f->s[side].charged += new_b;
	f->s[side].rexmit += old_b;
	c->st.charged[side] += new_b;
	c->st.rexmit[side] += old_b;
	if (f->who == 2) {
		c->st.unmatched_bytes += new_b;
		return;
	}
	struct acct_ent *e = &c->tab.e[f->sub];
	if (side == f->who) {
		e->cur.up += new_b;
		e->cur.up_rexmit += old_b;
	} else {
		e->cur.down += new_b;
		e->cur.down_rexmit += old_b;
	}
	acct_tab_touch(&c->tab, f->sub);
}

/* ---- abuse ------------------------------------------------------------------------- */

struct diff {
	uint64_t first;    /* stream offset of the first differing byte */
	uint64_t run_end;  /* end of the compared run that holds it */
	uint64_t n;        /* differing bytes */
	uint64_t compared; /* bytes compared in the segment */
};

static void abuse(struct actx *c, struct aflow *f, mctx_t mctx, int sock, int side, const struct pkt_info *p,
                  int64_t off, uint64_t t, const struct diff *d)
{
	const char *action = "none";
	c->st.abuse_segments++;
	if (!f->abuse++)
		c->st.abuse_flows++;
	if (f->who != 2) {
		c->tab.e[f->sub].cur.abuse++;
		acct_tab_touch(&c->tab, f->sub);
	}
	if (acct_o.on_abuse == ACCT_ON_ABUSE_RESET && !f->reset) {
		/* Drop the segment so the tunnelled bytes do not reach the
		 * receiver, then RST both ends (both fail in monitor mode). */
		mtcp_setlastpkt(mctx, sock, side, 0, NULL, 0, MOS_DROP);
		if (mtcp_reset_conn(mctx, sock) == 0) {
			f->reset = 1;
			c->st.resets++;
			action = "reset";
		} else {
			f->reset = 2; /* tried once for this flow */
			c->st.reset_failed++;
			if (!__atomic_exchange_n(&warned_reset, 1, __ATOMIC_RELAXED))
				fprintf(stderr,
				        "acct: --on-abuse reset: cannot reset a connection (%s)%s; abuse is only "
				        "reported\n",
				        strerror(errno), errno == ENOTSUP ? ": run inline (-m inline)" : "");
		}
	}
	if (f->reports >= acct_o.max_reports)
		return;
	f->reports++;
	c->st.abuse_reports++;

	/* Both copies from the first differing byte on, up to --sample bytes of
	 * the compared run. */
	uint64_t want = d->run_end - d->first;
	if (want > acct_o.sample)
		want = acct_o.sample;
	ssize_t got = mtcp_ppeek(mctx, sock, side ^ 1, c->cbuf, want, d->first);
	size_t n = got > 0 ? (size_t)got : 0;
	const uint8_t *mine = p->payload + (d->first - (uint64_t)off);

	char line[12288];
	struct acct_buf b = {line, 0, sizeof(line)};
	acct_bprintf(&b, "{\"event\":\"abuse\",");
	acct_bts(&b, "ts", t);
	acct_bprintf(&b, ",");
	flow_json(&b, c, f);
	acct_bprintf(&b,
	             ",\"sender\":\"%s\",\"offset\":%" PRIu64 ",\"segment_offset\":%" PRId64 ",\"segment_len\":%u"
	             ",\"compared_bytes\":%" PRIu64 ",\"differing_bytes\":%" PRIu64 ",\"first\":",
	             side == MOS_SIDE_CLI ? "client" : "server", d->first, off, (unsigned)p->payloadlen, d->compared,
	             d->n);
	acct_bhex(&b, (const uint8_t *)c->cbuf, n);
	acct_bprintf(&b, ",\"rexmit\":");
	acct_bhex(&b, mine, n);
	acct_bprintf(&b, ",\"action\":\"%s\"}", action);
	acct_emit(line, acct_buf_ok(&b) ? b.n : strlen(line));
}

/* Compares the old pieces of the segment with the first copies the receiver
 * (side ^ 1) holds. cap: payload bytes present in the capture. */
static void compare(struct actx *c, struct aflow *f, mctx_t mctx, int sock, int side, const struct pkt_info *p,
                    int64_t off, unsigned cap, uint64_t old[][2], unsigned n_old, uint64_t t)
{
	struct diff d = {.first = UINT64_MAX};
	uint64_t budget = acct_o.compare ? acct_o.compare : UINT64_MAX;
	int64_t ce = off + (int64_t)cap; /* end of the captured payload; the old pieces start at >= 0 */
	uint64_t cap_end = ce < 0 ? 0 : (uint64_t)ce;
	for (unsigned i = 0; i < n_old; i++) {
		uint64_t x = old[i][0], y = old[i][1];
		if ((f->nobuf & (1u << (side ^ 1))) || !acct_keep) {
			c->st.unverified += y - x;
			continue;
		}
		uint64_t yc = y < cap_end ? y : cap_end;
		if (yc < y) { /* cut by the capture's snaplen: nothing to compare */
			c->st.unverified += y - (x > yc ? x : yc);
			if (x >= yc)
				continue;
		}
		uint64_t pos = x;
		while (pos < yc) {
			uint64_t want = yc - pos;
			if (want > sizeof(c->cbuf))
				want = sizeof(c->cbuf);
			if (want > budget)
				want = budget;
			ssize_t n = want ? mtcp_ppeek(mctx, sock, side ^ 1, c->cbuf, want, pos) : -1;
			if (n <= 0)
				break; /* not held any more (or never stored), or budget spent */
			const uint8_t *mine = p->payload + (pos - (uint64_t)off);
			if (memcmp(c->cbuf, mine, (size_t)n)) {
				for (ssize_t k = 0; k < n; k++)
					if ((uint8_t)c->cbuf[k] != mine[k]) {
						if (d.first == UINT64_MAX) {
							d.first = pos + (uint64_t)k;
							d.run_end = pos + (uint64_t)n;
						}
						d.n++;
					}
			}
			d.compared += (uint64_t)n;
			budget -= (uint64_t)n;
			pos += (uint64_t)n;
		}
		c->st.unverified += yc - pos;
	}
	c->st.compared += d.compared;
	if (d.n)
		abuse(c, f, mctx, sock, side, p, off, t, &d);
}

/* ---- the receiver's buffer ----------------------------------------------------------- */

/* Consumes what side r has received down to the last `keep` bytes.
 * Asking the stack (MOS_INFO_*BUF) at every packet would cost more than the
 * rest of the callback, so it is asked only when what may be unconsumed —
 * at most what the sender has sent since the last time, f->s[r ^ 1].high
 * minus f->eaten[r] — passes keep + keep/2: the buffer (2 x keep) is then
 * never more than three quarters full because of us. */
static void trim(struct actx *c, struct aflow *f, mctx_t mctx, int sock, int r, uint64_t keep)
{
	struct tcp_buf_info bi;
	socklen_t l = sizeof(bi);
	uint64_t high = f->s[r ^ 1].high;
	if (f->nobuf & (1u << r))
		return;
	if (keep && high - f->eaten[r] <= keep + keep / 2)
		return;
	if (mtcp_getsockopt(mctx, sock, SOL_MONSOCKET, r == MOS_SIDE_CLI ? MOS_INFO_CLIBUF : MOS_INFO_SVRBUF, &bi, &l) <
	    0) {
		f->nobuf |= (uint8_t)(1u << r); /* buffering off for this side */
		return;
	}
	uint32_t avail = bi.tcpbi_next_byte_expected - bi.tcpbi_last_byte_read;
	/* What stays unconsumed is at most this: delivered <= high. */
	f->eaten[r] = high - (avail < keep ? avail : keep);
	if (avail <= keep)
		return;
	uint64_t want = avail - keep;
	while (want) {
		ssize_t n = mtcp_peek(mctx, sock, r, c->pbuf, want < sizeof(c->pbuf) ? want : sizeof(c->pbuf));
		if (n == 0)
			break;
		if (n < 0) {
			if (errno != ENODATA)
				break;
			/* Bytes the stack could not keep (pool or window full):
			 * the reader continues after them. */
			c->st.peek_missed += (uint64_t)-n;
			want = (uint64_t)-n >= want ? 0 : want - (uint64_t)-n;
			continue;
		}
		want -= (uint64_t)n;
	}
}

/* ---- callbacks ------------------------------------------------------------------------ */

/* A packet of a flow whose CONN_END has passed: its payload is charged in
 * full (nothing is left to tell a retransmission from new bytes; over-
 * charging a rare retransmission after the close is the safe side). */
static void after_end(struct actx *c, mctx_t mctx, int sock, int side, uintptr_t tag)
{
	struct pkt_info p;
	c->st.after_end_pkts++;
	if (mtcp_getlastpkt(mctx, sock, side, &p) < 0 || !p.tcph || !p.payloadlen ||
	    (((const uint8_t *)p.tcph)[13] & TH_RST))
		return;
	struct aflow f = {.who = (uint8_t)((tag >> 1) & 3), .sub = (uint32_t)(tag >> 3)};
	c->st.after_end_bytes += p.payloadlen;
	c->st.payload_bytes += p.payloadlen;
	charge(c, &f, side, p.payloadlen, 0);
}

/* A TCP packet of no connection. After a followed flow's CONN_END, mospipe
 * (as mOS, which destroys the stream then) raises its later packets as
 * MOS_ON_ORPHAN: data behind a RST the box believed, a retransmission in
 * TIME_WAIT. The flow's record is gone; the payload is charged in full to
 * whichever of the packet's addresses is a known subscriber, the sender's
 * first (up), else the receiver's (down): not charging would let two
 * colluding endpoints send free data behind a RST. Packets of no known
 * subscriber (never part of a charged flow) are left alone. */
void acct_on_orphan(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct actx *c = &acct_ctx[mctx->cpu];
	struct pkt_info p;
	uint64_t t = 0;
	(void)ev;
	(void)arg;
	mospipe_event_time(mctx, &t);
	acct_time(c, t);
	if (mtcp_getlastpkt(mctx, sock, side, &p) < 0 || !p.iph || !p.tcph || !p.payloadlen ||
	    (((const uint8_t *)p.tcph)[13] & TH_RST))
		return;
	const uint8_t *ip = (const uint8_t *)p.iph;
	uint8_t fam = (ip[0] >> 4) == 6 ? 6 : 4;
	unsigned alen = fam == 6 ? 16 : 4, so = fam == 6 ? 8 : 12;
	for (int d = 0; d < 2; d++) {
		struct acct_key a = {.family = fam, .plen = fam == 4 ? 32 : 128}, k;
		int32_t pfx = -1;
		memcpy(a.addr, ip + so + (unsigned)d * alen, alen);
		k = a;
		if (acct_o.subs_path && !acct_subs_match(&a, &k, &pfx))
			continue;
		uint32_t i = acct_tab_find(&c->tab, &k);
		if (i == UINT32_MAX)
			continue;
		/* The subscriber is the client: it sent this (up) or got it (down). */
		struct aflow f = {.who = MOS_SIDE_CLI, .sub = i};
		c->st.packets++;
		c->st.after_end_pkts++;
		c->st.after_end_bytes += p.payloadlen;
		c->st.payload_bytes += p.payloadlen;
		charge(c, &f, d == 0 ? MOS_SIDE_CLI : MOS_SIDE_SVR, p.payloadlen, 0);
		return;
	}
}

void acct_on_pkt(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct actx *c = &acct_ctx[mctx->cpu];
	uint64_t t = 0;
	struct pkt_info p;
	(void)ev;
	(void)arg;
	mospipe_event_time(mctx, &t);
	acct_time(c, t);
	c->st.packets++;

	struct aflow *f = mtcp_get_uctx(mctx, sock);
	if (IS_ENDED(f)) {
		after_end(c, mctx, sock, side, (uintptr_t)f);
		return;
	}
	if (!f && !(f = flow_new(c, mctx, sock, t)))
		return;
	if (mtcp_getlastpkt(mctx, sock, side, &p) < 0 || !p.tcph)
		return;
	uint8_t th = ((const uint8_t *)p.tcph)[13];
	struct aside *s = &f->s[side], *o = &f->s[side ^ 1];

	/* pkt_info.offset = seq - (the stream's first sequence number). */
	uint32_t base = p.seq - (uint32_t)p.offset;
	if (!s->have_base || base != s->base) {
		/* A new sequence space for this side (first packet, or the
		 * sender started over with another ISN): what was seen in the
		 * old one says nothing about the new one. */
		if (s->have_base)
			s->n = 0, s->high = 0, s->have_ack = 0, f->eaten[side ^ 1] = 0;
		s->base = base;
		s->have_base = 1;
	}
	if ((th & TH_ACK) && o->have_base) {
		int64_t a = unwrap(p.ack_seq - o->base, o->high);
		if (a >= 0 && (!o->have_ack || (uint64_t)a > o->ack)) {
			o->ack = (uint64_t)a;
			o->have_ack = 1;
		}
	}
	if ((th & TH_RST) || !p.payloadlen)
		return; /* a RST's payload is not stream data (RFC 9293 3.5.3) */

	unsigned len = p.payloadlen;
	unsigned cap = len;
	if (p.payload && p.ethh) {
		/* Payload bytes present: the frame may be cut by the snaplen. */
		size_t hdr = (size_t)(p.payload - (const uint8_t *)p.ethh);
		cap = p.eth_len > hdr ? (unsigned)(p.eth_len - hdr) : 0;
		if (cap > len)
			cap = len;
	}
	c->st.payload_bytes += len;
	int64_t off = unwrap(p.seq + ((th & TH_SYN) ? 1u : 0u) - s->base, s->high);
	int64_t end = off + (int64_t)len;
	if (end <= 0)
		return; /* all before the first byte we know of (picked up mid-stream) */
	uint64_t a = off < 0 ? 0 : (uint64_t)off, b = (uint64_t)end;

	/* A keepalive probe of BSD/Windows stacks: one byte just below what the
	 * peer acknowledged, nothing newer sent — the byte is garbage by design. */
	if (len == 1 && s->have_ack && b == s->ack && b == s->high) {
		c->st.keepalives++;
		return;
	}
	uint64_t old[ACCT_RANGES][2], merged;
	unsigned n_old;
	uint64_t new_b = seen_add(s, a, b, old, &n_old, &merged);
	if (merged)
		c->st.gap_merged += merged;
	if (b > s->high)
		s->high = b;
	charge(c, f, side, new_b + merged, (b - a) - new_b);
	if (n_old)
		compare(c, f, mctx, sock, side, &p, off, cap, old, n_old, t);
	if (f->reset != 1 && acct_keep)
		trim(c, f, mctx, sock, side ^ 1, acct_keep);
}

void acct_on_end(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg)
{
	struct actx *c = &acct_ctx[mctx->cpu];
	struct aflow *f = mtcp_get_uctx(mctx, sock);
	uint64_t t = 0;
	(void)side;
	(void)ev;
	(void)arg;
	if (!f || IS_ENDED(f))
		return;
	mospipe_event_time(mctx, &t);
	acct_time(c, t);
	/* Read what is left so the stack can free the buffers now. */
	for (int r = MOS_SIDE_CLI; r <= MOS_SIDE_SVR && acct_keep; r++)
		if (!(f->nobuf & (1u << r)))
			trim(c, f, mctx, sock, r, 0);
	if (acct_o.per_flow) {
		char line[2048];
		struct acct_buf b = {line, 0, sizeof(line)};
		acct_bprintf(&b, "{\"event\":\"flow\",");
		acct_bts(&b, "start", f->start_ns);
		acct_bprintf(&b, ",");
		acct_bts(&b, "end", t);
		acct_bprintf(&b, ",");
		flow_json(&b, c, f);
		acct_bprintf(&b,
		             ",\"client_bytes\":%" PRIu64 ",\"server_bytes\":%" PRIu64
		             ",\"client_rexmit_bytes\":%" PRIu64 ",\"server_rexmit_bytes\":%" PRIu64
		             ",\"abuse\":%" PRIu64 ",\"reset\":%s}",
		             f->s[0].charged, f->s[1].charged, f->s[0].rexmit, f->s[1].rexmit, f->abuse,
		             f->reset == 1 ? "true" : "false");
		acct_emit(line, acct_buf_ok(&b) ? b.n : strlen(line));
	}
	mtcp_set_uctx(mctx, sock, ENDED_TAG(f));
	free(f);
}

void acct_on_timer(mctx_t mctx, int id, int side, event_t ev, filter_arg_t *arg)
{
	struct actx *c = &acct_ctx[mctx->cpu];
	uint64_t t = 0, iv = acct_o.interval_ns;
	(void)id;
	(void)side;
	(void)ev;
	(void)arg;
	if (mospipe_event_time(mctx, &t) < 0 || !iv)
		return;
	acct_time(c, t);
	/* Again at the next boundary: an idle context still closes its
	 * intervals, so the merged ones are not held back by it. */
	uint64_t us = ((t / iv + 1) * iv - t) / 1000 + 1;
	struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
	mtcp_settimer(mctx, ACCT_TIMER_ID, &tv, acct_on_timer);
}
