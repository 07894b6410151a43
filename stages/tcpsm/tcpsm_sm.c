/* tcpsm state machines: for every segment, the sender's emulated stack is
 * updated first (MOS_HK_SND events), then the receiver's (MOS_HK_RCV), after
 * RFC 793 §3.9 "Event processing", seen from a monitor: states change on
 * what the endpoints *send* and *receive* as observed on the wire.
 *
 * Sequence accounting is per side, as byte offsets from the side's first
 * payload byte (64-bit, so wrap-around and > 4 GiB streams need no special
 * cases): the set of offsets sent (retransmission detection, "bytes"), and
 * the new bytes a snaplen cut away; "missed" = holes never sent + those.
 */
#include <errno.h>
#include <string.h>

#include "conf-types.h"
#include "meta-types.h"
#include "tcpsm.h"
#include "tcpsm_app.h"

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_GE(a, b) ((int32_t)((a) - (b)) >= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)

/* Segments further than this from what a side sent so far are not used to
 * extend its range (garbage sequence numbers must not invent gigabytes). */
#define TCPSM_MAX_JUMP (1u << 30)

/* ---- interval sets ------------------------------------------------------ */

/* Adds [l, r). @return the bytes not covered before. */
static uint64_t ivs_add(struct tcpsm_ivs *s, uint64_t l, uint64_t r)
{
	uint64_t added;
	unsigned i, j, n = s->n;

	if (r > s->high)
		TCPSM_WR(s->high, r); /* read by connection-table readers */
	if (r <= s->front)
		return 0;
	if (l < s->front)
		l = s->front;
	added = r - l;
	/* Merge every range overlapping or touching [l, r) into it. */
	for (i = 0; i < n && s->iv[i].r < l; i++)
		;
	for (j = i; j < n && s->iv[j].l <= r; j++) {
		uint64_t ol = s->iv[j].l > l ? s->iv[j].l : l, or = s->iv[j].r < r ? s->iv[j].r : r;
		if (or > ol)
			added -= or -ol;
		if (s->iv[j].l < l)
			l = s->iv[j].l;
		if (s->iv[j].r > r)
			r = s->iv[j].r;
	}
	s->seen += added;
	if (l <= s->front) {
		/* Contiguous with the front: ranges i..j-1 are absorbed. */
		s->front = r;
		memmove(&s->iv[i], &s->iv[j], (n - j) * sizeof(s->iv[0]));
		s->n = (uint8_t)(n - (j - i));
		return added;
	}
	if (j - i >= 1) {
		s->iv[i].l = l;
		s->iv[i].r = r;
		memmove(&s->iv[i + 1], &s->iv[j], (n - j) * sizeof(s->iv[0]));
		s->n = (uint8_t)(n - (j - i) + 1);
		return added;
	}
	/* A new range at i. When full, give up the lowest hole: everything up
	 * to the end of the first range counts as covered from now on. */
	if (n == TCPSM_IVS_N) {
		s->front = s->iv[0].r;
		memmove(&s->iv[0], &s->iv[1], (n - 1) * sizeof(s->iv[0]));
		n--;
		i = i ? i - 1 : 0;
		if (l <= s->front) {
			s->front = r > s->front ? r : s->front;
			s->n = (uint8_t)n;
			return added;
		}
	}
	memmove(&s->iv[i + 1], &s->iv[i], (n - i) * sizeof(s->iv[0]));
	s->iv[i].l = l;
	s->iv[i].r = r;
	s->n = (uint8_t)(n + 1);
	return added;
}

/* Offset of sequence number seq in side s (may be negative: before base). */
static int64_t seq_off(const struct tcpsm_side *s, uint32_t seq)
{
	uint32_t front_seq = s->base_seq + (uint32_t)s->sent.front;
	return (int64_t)s->sent.front + (int32_t)(seq - front_seq);
}

/* Extends side s's range to offset off without marking anything sent (FINs
 * and ACKs after a capture gap show how far the stream went), but by no more
 * than the receiver r could have accepted: a bare sequence number further
 * ahead is more likely bogus than a real gap. */
static void extend_high(struct tcpsm_side *s, const struct tcpsm_side *r, int64_t off)
{
	uint64_t lim = (r->flags & TCPSM_SF_WIN) && r->win > 65535 ? r->win : 65535;
	if (off > 0 && (uint64_t)off > s->sent.high && (uint64_t)off - s->sent.high <= lim)
		TCPSM_WR(s->sent.high, (uint64_t)off);
}

/* ---- helpers ------------------------------------------------------------ */

static void key_from_md(const struct mp_meta *md, struct tcpsm_key *k, int *src_is_a)
{
	unsigned alen = (md->flags & MP_MF_IPV6) ? 16 : 4;
	int c = memcmp(md->src, md->dst, alen);
	memset(k, 0, sizeof(*k));
	k->v6 = alen == 16;
	*src_is_a = c < 0 || (c == 0 && md->sport <= md->dport);
	if (*src_is_a) {
		memcpy(k->a, md->src, alen);
		memcpy(k->b, md->dst, alen);
		k->pa = md->sport;
		k->pb = md->dport;
	} else {
		memcpy(k->a, md->dst, alen);
		memcpy(k->b, md->src, alen);
		k->pa = md->dport;
		k->pb = md->sport;
	}
}

struct tcpsm_flow *tcpsm_lookup(struct tcpsm_inst *ti, const struct mp_meta *md)
{
	struct tcpsm_key k;
	int src_is_a;
	key_from_md(md, &k, &src_is_a);
	return tcpsm_table_find(ti, &k, tcpsm_md_hash(md));
}

/* Who is the server of a connection first seen mid-stream? A SYN-ACK's
 * sender; otherwise the only well-known port (< 1024), otherwise the lower
 * port; on a tie the receiver. @return 1 when the sender is the client. */
static int guess_sender_is_client(const struct mp_meta *md)
{
	unsigned sp = md->sport, dp = md->dport;
	if ((md->tcp_flags & (MP_TH_SYN | MP_TH_ACK)) == (MP_TH_SYN | MP_TH_ACK))
		return 0;
	if ((sp < 1024) != (dp < 1024))
		return dp < 1024;
	if (sp != dp)
		return dp < sp;
	return 1;
}

static int is_closed_state(unsigned st)
{
	return st == MP_TCP_ST_CLOSED || st == MP_TCP_ST_TIME_WAIT;
}

/* Does this segment acknowledge side r's FIN? */
static int acks_fin(const struct mp_meta *md, const struct tcpsm_side *r)
{
	return (md->tcp_flags & MP_TH_ACK) && (r->flags & TCPSM_SF_FIN) && SEQ_GE(md->ack, r->fin_seq + 1);
}

/* RFC 5961 spirit: an RST is believed only when it lands where the receiver
 * expects the sender's next byte (within its window). When the sender's
 * sequence space is unknown (e.g. it has only been sent a SYN), the RST must
 * acknowledge exactly what the receiver sent, as RFC 793 asks in SYN-SENT:
 * this is what rejects the classic spoofed RST with seq 0 and a wrong ACK. */
static int rst_acceptable(const struct tcpsm_side *s, const struct tcpsm_side *r, const struct mp_meta *md)
{
	if (!(s->flags & TCPSM_SF_SEQ))
		return (md->tcp_flags & MP_TH_ACK) && (r->flags & TCPSM_SF_SEQ) && md->ack == r->nxt;
	uint32_t exp = (r->flags & TCPSM_SF_ACK) ? r->ack : s->nxt;
	if (md->seq == exp || md->seq == s->nxt)
		return 1;
	/* A SYN aborted by its sender with the SYN's own sequence number
	 * (seen from several stacks and tools): nothing else was sent. */
	if ((s->flags & TCPSM_SF_SYN) && s->nxt == s->isn + 1 && md->seq == s->isn)
		return 1;
	uint32_t wnd = (r->flags & TCPSM_SF_WIN) ? r->win : 0;
	if (wnd == 0)
		wnd = 1;
	return SEQ_GE(md->seq, exp) && (uint32_t)(md->seq - exp) < wnd;
}

static void side_init_seq(struct tcpsm_side *s, uint32_t base)
{
	s->flags |= TCPSM_SF_SEQ;
	s->base_seq = base;
	s->nxt = base;
	memset(&s->sent, 0, sizeof(s->sent));
	s->uncap = 0;
}

static void count_rexmit(struct tcpsm_inst *ti, struct tcpsm_side *s, uint32_t *ev, unsigned len)
{
	if (*ev & MP_ON_REXMIT)
		return;
	*ev |= MP_ON_REXMIT;
	TCPSM_WR(s->rexmit, s->rexmit + 1);
	s->rexmit_bytes += len;
	tcpsm_ctr(ti, TCPSM_C_REXMIT_SEGS, 1);
	tcpsm_ctr(ti, TCPSM_C_REXMIT_BYTES, len);
}

/* ---- the sender's stack (MOS_HK_SND) ------------------------------------ */

struct seg {
	uint64_t new_cap; /* captured payload bytes never seen before */
	int64_t data_off; /* offset of the first payload byte */
	unsigned cap;     /* payload bytes present */
	int rst_ok;       /* an RST that was accepted */
};

static uint32_t snd_update(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                           struct seg *sg)
{
	struct tcpsm_side *s = &f->s[side], *r = &f->s[side ^ 1];
	uint8_t th = md->tcp_flags, old = s->state;
	uint32_t ev = MP_ON_PKT_IN, len = md->pay_len;

	if (th & MP_TH_RST) {
		if (rst_acceptable(s, r, md)) {
			sg->rst_ok = 1;
			TCPSM_WR(s->state, MP_TCP_ST_CLOSED);
			tcpsm_ctr(ti, TCPSM_C_RST_ACCEPTED, 1);
		} else
			tcpsm_ctr(ti, TCPSM_C_RST_OUT_OF_WINDOW, 1);
		goto out; /* an RST's sequence number and payload are not data */
	}

	if (th & MP_TH_SYN) {
		/* A SYN-ACK after its own SYN (simultaneous open) re-sends the
		 * SYN but is not a retransmission: it answers a new segment. */
		int again = (s->flags & TCPSM_SF_SYN) && (!(th & MP_TH_ACK) || (s->flags & TCPSM_SF_SYNACK));
		if (again) {
			if (md->seq != s->isn && s->state <= MP_TCP_ST_SYN_RCVD && !(r->flags & TCPSM_SF_ACK)) {
				/* A new attempt with a new ISN before anything was
				 * acknowledged: follow it. */
				s->isn = md->seq;
				side_init_seq(s, md->seq + 1);
			} else if (md->seq != s->isn) {
				/* Another ISN after the handshake went on: not this
				 * connection's sequence space; believe none of it. */
				goto out;
			}
			count_rexmit(ti, s, &ev, len);
		} else if (s->flags & TCPSM_SF_SYN) {
			if (md->seq != s->isn)
				goto out; /* a SYN-ACK with another ISN: bogus */
			s->flags |= TCPSM_SF_SYNACK;
			if (s->state == MP_TCP_ST_CLOSED || s->state == MP_TCP_ST_LISTEN ||
			    s->state == MP_TCP_ST_SYN_SENT)
				TCPSM_WR(s->state, MP_TCP_ST_SYN_RCVD);
		} else {
			s->flags |= TCPSM_SF_SYN | TCPSM_SF_ISN | ((th & MP_TH_ACK) ? TCPSM_SF_SYNACK : 0);
			if (!(s->flags & TCPSM_SF_SEQ) || s->base_seq != md->seq + 1)
				side_init_seq(s, md->seq + 1);
			s->isn = md->seq;
			if (md->opt.present & MP_TO_WSCALE) {
				uint8_t ws = md->opt.wscale;
				if (ws > 14) {
					ws = 14;
					tcpsm_ctr(ti, TCPSM_C_WSCALE_CLAMPED, 1);
				}
				s->wscale = ws;
				s->flags |= TCPSM_SF_WS;
			}
			if (!(th & MP_TH_ACK)) {
				if (s->state == MP_TCP_ST_CLOSED || s->state == MP_TCP_ST_LISTEN ||
				    s->state == MP_TCP_ST_SYN_RCVD) {
					if (s->state != MP_TCP_ST_SYN_RCVD && side == MP_SIDE_CLI)
						ev |= MP_ON_CONN_START;
					TCPSM_WR(s->state, MP_TCP_ST_SYN_SENT);
				}
			} else if (s->state == MP_TCP_ST_CLOSED || s->state == MP_TCP_ST_LISTEN ||
			           s->state == MP_TCP_ST_SYN_SENT)
				TCPSM_WR(s->state, MP_TCP_ST_SYN_RCVD);
		}
		if (SEQ_GT(md->seq + 1, s->nxt))
			s->nxt = md->seq + 1;
	}

	if (!(s->flags & TCPSM_SF_SEQ))
		side_init_seq(s, md->seq); /* first packet of a side seen mid-stream */

	uint32_t data_seq = md->seq + ((th & MP_TH_SYN) ? 1 : 0);
	int64_t off = seq_off(s, data_seq);
	sg->data_off = off;
	if (len) {
		int64_t l = off < 0 ? 0 : off, rr = off + (int64_t)len;
		unsigned cap = md->pay_cap < len ? md->pay_cap : len;
		int64_t cr = off + (int64_t)cap; /* end of the captured part */
		uint64_t added = 0;
		if (cr < l)
			cr = l;
		sg->cap = cap;
		if (rr > l && ((uint64_t)rr <= s->sent.high || (uint64_t)rr - s->sent.high < TCPSM_MAX_JUMP)) {
			/* Captured and snaplen-cut parts separately: the cut
			 * bytes that are new are missed for good. */
			if (cr > l)
				sg->new_cap = ivs_add(&s->sent, (uint64_t)l, (uint64_t)cr);
			added = sg->new_cap;
			if (rr > cr) {
				uint64_t cut = ivs_add(&s->sent, (uint64_t)cr, (uint64_t)rr);
				s->uncap += cut;
				added += cut;
			}
		}
		if (!added)
			count_rexmit(ti, s, &ev, len);
		if (SEQ_GT(data_seq + len, s->nxt))
			s->nxt = data_seq + len;
	} else if (!(s->flags & TCPSM_SF_FIN) || SEQ_LT(data_seq, s->fin_seq))
		extend_high(s, r, off); /* after its FIN a side's ACKs sit one past it */

	/* An endpoint in SYN_RCVD that acknowledges its peer's data (beyond
	 * the peer's SYN) has received an acceptable ACK from that peer and is
	 * ESTABLISHED (RFC 9293 3.10.7.4), even when the capture missed the
	 * peer's segments (one-sided captures). */
	if (s->state == MP_TCP_ST_SYN_RCVD && (th & (MP_TH_ACK | MP_TH_SYN)) == MP_TH_ACK &&
	    (r->flags & TCPSM_SF_ISN) && SEQ_GT(md->ack, r->isn + 1))
		TCPSM_WR(s->state, MP_TCP_ST_ESTABLISHED);

	if (th & MP_TH_FIN) {
		uint32_t fs = data_seq + len;
		extend_high(s, r, seq_off(s, fs));
		if (s->flags & TCPSM_SF_FIN) {
			if (fs == s->fin_seq && !len)
				count_rexmit(ti, s, &ev, 0);
		} else {
			s->flags |= TCPSM_SF_FIN;
			s->fin_seq = fs;
			/* The stream ends at the FIN: bare ACKs seen before it (its
			 * first copy was lost before the box) may have stretched the
			 * range one past the end. */
			int64_t end = seq_off(s, fs);
			if (end >= 0 && s->sent.high > (uint64_t)end)
				TCPSM_WR(s->sent.high, (uint64_t)end);
			switch (s->state) {
			case MP_TCP_ST_SYN_SENT:
			case MP_TCP_ST_SYN_RCVD:
			case MP_TCP_ST_ESTABLISHED: TCPSM_WR(s->state, MP_TCP_ST_FIN_WAIT_1); break;
			case MP_TCP_ST_CLOSE_WAIT:
				/* FIN sent before the peer's FIN arrived there
				 * (simultaneous close): CLOSING, not LAST_ACK. */
				TCPSM_WR(s->state, acks_fin(md, r) ? MP_TCP_ST_LAST_ACK : MP_TCP_ST_CLOSING);
				break;
			default: break;
			}
		}
		if (SEQ_GT(fs + 1, s->nxt))
			s->nxt = fs + 1;
	}

	if (th & MP_TH_ACK) {
		/* Only forward: a delayed segment carries an older ACK, and taking
		 * it would make a stale RST (answering that segment) look in-window. */
		if (!(s->flags & TCPSM_SF_ACK) || SEQ_GT(md->ack, s->ack))
			s->ack = md->ack;
		s->flags |= TCPSM_SF_ACK;
		/* The ACK tells where the peer's stream is: the start of its
		 * sequence space if we have not seen it send yet. */
		if (!(r->flags & TCPSM_SF_SEQ)) {
			side_init_seq(r, md->ack);
			if (th & MP_TH_SYN) {
				r->isn = md->ack - 1;
				r->flags |= TCPSM_SF_ISN;
			}
		}
	}
	s->win = (uint32_t)md->win << (((s->flags & r->flags & TCPSM_SF_WS) && !(th & MP_TH_SYN)) ? s->wscale : 0);
	s->flags |= TCPSM_SF_WIN;
out:
	if (s->state != old) {
		ev |= MP_ON_TCP_STATE_CHANGE;
		tcpsm_ctr(ti, TCPSM_C_STATE_CHANGES, 1);
	}
	return ev;
}

/* ---- the receiver's stack (MOS_HK_RCV) ---------------------------------- */

static uint32_t rcv_update(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                           const uint8_t *payload, const struct seg *sg)
{
	struct tcpsm_side *r = &f->s[side ^ 1];
	uint8_t th = md->tcp_flags, old = r->state;
	uint32_t ev = MP_ON_PKT_IN;

	if (th & MP_TH_RST) {
		if (sg->rst_ok)
			TCPSM_WR(r->state, MP_TCP_ST_CLOSED);
		goto out;
	}
	if ((th & (MP_TH_SYN | MP_TH_ACK)) == MP_TH_SYN) {
		if (r->state == MP_TCP_ST_LISTEN || r->state == MP_TCP_ST_CLOSED) {
			TCPSM_WR(r->state, MP_TCP_ST_SYN_RCVD);
			if (side == MP_SIDE_CLI)
				ev |= MP_ON_CONN_START;
		} else if (r->state == MP_TCP_ST_SYN_SENT)
			TCPSM_WR(r->state, MP_TCP_ST_SYN_RCVD); /* simultaneous open */
	} else if (th & MP_TH_ACK) {
		int acks_syn = !(r->flags & TCPSM_SF_ISN) || SEQ_GE(md->ack, r->isn + 1);
		switch (r->state) {
		case MP_TCP_ST_SYN_SENT:
			/* SYN-ACK; or, when the SYN-ACK was not captured, any
			 * segment acknowledging its SYN. */
			if (acks_syn && (!(r->flags & TCPSM_SF_ISN) || md->ack == r->isn + 1 || !(th & MP_TH_SYN)))
				TCPSM_WR(r->state, MP_TCP_ST_ESTABLISHED);
			break;
		case MP_TCP_ST_SYN_RCVD:
			if (acks_syn)
				TCPSM_WR(r->state, MP_TCP_ST_ESTABLISHED);
			break;
		case MP_TCP_ST_FIN_WAIT_1:
			if (acks_fin(md, r))
				TCPSM_WR(r->state, MP_TCP_ST_FIN_WAIT_2);
			break;
		case MP_TCP_ST_CLOSING:
			if (acks_fin(md, r))
				TCPSM_WR(r->state, MP_TCP_ST_TIME_WAIT);
			break;
		case MP_TCP_ST_LAST_ACK:
			if (acks_fin(md, r))
				TCPSM_WR(r->state, MP_TCP_ST_CLOSED);
			break;
		default: break;
		}
	}
	if (th & MP_TH_FIN) {
		switch (r->state) {
		case MP_TCP_ST_SYN_SENT:
		case MP_TCP_ST_SYN_RCVD:
		case MP_TCP_ST_ESTABLISHED: TCPSM_WR(r->state, MP_TCP_ST_CLOSE_WAIT); break;
		case MP_TCP_ST_FIN_WAIT_1: TCPSM_WR(r->state, MP_TCP_ST_CLOSING); break;
		case MP_TCP_ST_FIN_WAIT_2: TCPSM_WR(r->state, MP_TCP_ST_TIME_WAIT); break;
		default: break;
		}
	}
	if (sg->new_cap)
		ev |= MP_ON_CONN_NEW_DATA;
	if (md->pay_len && ti->reasm)
		tcpsm_reasm_data(ti, f, side ^ 1, md->seq + ((th & MP_TH_SYN) ? 1 : 0), payload, md->pay_len,
		                 payload ? sg->cap : 0, &ev);
out:
	if (r->state != old) {
		ev |= MP_ON_TCP_STATE_CHANGE;
		tcpsm_ctr(ti, TCPSM_C_STATE_CHANGES, 1);
	}
	return ev;
}

/* ---- one packet ---------------------------------------------------------- */

static void snap(struct mp_meta *md, const struct tcpsm_flow *f, unsigned hook)
{
	md->st[hook][0] = f->s[0].state;
	md->st[hook][1] = f->s[1].state;
}

static void orphan(struct tcpsm_inst *ti, struct mp_meta *md)
{
	md->flags |= MP_MF_ORPHAN;
	md->ev[MP_HOOK_SND] = MP_ON_ORPHAN;
	tcpsm_ctr(ti, TCPSM_C_ORPHANS, 1);
}

int tcpsm_process(struct tcpsm_inst *ti, struct mp_meta *md, const uint8_t *payload)
{
	struct tcpsm_key k;
	struct tcpsm_flow *f;
	struct seg sg;
	int src_is_a;
	unsigned side;
	uint8_t th = md->tcp_flags;

	if (md->kind != MP_PKT_DATA)
		return 0;
	md->flow = NULL;
	md->ev[0] = md->ev[1] = 0;
	if ((md->flags & (MP_MF_UNMON | MP_MF_ORPHAN)) || !(md->flags & MP_MF_TCP)) {
		tcpsm_ctr(ti, TCPSM_C_PASSED_UNMON, 1);
		return 0;
	}
	if (md->ts_ns > ti->now_ns)
		ti->now_ns = md->ts_ns;
	key_from_md(md, &k, &src_is_a);
	uint32_t hash = tcpsm_md_hash(md);
	f = tcpsm_table_find(ti, &k, hash);
	if (f && tcpsm_flow_expired(ti, f, md->ts_ns)) {
		/* Its timer ran out before this packet (expiry runs once per
		 * burst, this packet may share the burst): the flow ended then. */
		tcpsm_flow_expire(ti, f);
		f = NULL;
	}

	if (ti->p.csum_verify && (md->flags & MP_MF_BADCSUM)) {
		/* A corrupt segment says nothing reliable: no state, no counts. */
		tcpsm_ctr(ti, TCPSM_C_BADCSUM_IGNORED, 1);
		if (f) {
			md->flow = f;
			md->side = (uint8_t)(src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR);
			snap(md, f, MP_HOOK_SND);
			snap(md, f, MP_HOOK_RCV);
		}
		return 0;
	}

	if (f && f->closed && (th & (MP_TH_SYN | MP_TH_ACK | MP_TH_RST)) == MP_TH_SYN) {
		side = src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR;
		struct tcpsm_side *o = &f->s[side];
		if (f->end == TCPSM_END_FIN && (o->flags & TCPSM_SF_SEQ) && SEQ_LT(md->seq, o->nxt)) {
			/* RFC 1122 4.2.2.13 / RFC 6191: in TIME_WAIT only a SYN
			 * beyond the old sequence space opens a new connection;
			 * this one is an old duplicate of the closed one. */
			md->flow = f;
			md->side = (uint8_t)side;
			if (md->ts_ns > f->last_ts)
				TCPSM_WR(f->last_ts, md->ts_ns);
			TCPSM_WR(o->pkts, o->pkts + 1);
			md->ev[MP_HOOK_SND] = MP_ON_PKT_IN;
			count_rexmit(ti, o, &md->ev[MP_HOOK_SND], md->pay_len);
			md->ev[MP_HOOK_RCV] = MP_ON_PKT_IN;
			snap(md, f, MP_HOOK_SND);
			snap(md, f, MP_HOOK_RCV);
			return 0;
		}
		/* A new connection on the tuple of a closed one (TIME_WAIT or
		 * after RST): the old one ends now. */
		tcpsm_ctr(ti, TCPSM_C_FLOWS_REUSED, 1);
		tcpsm_flow_end(ti, f, f->end);
		f = NULL;
	}

	if (!f) {
		int sender_cli, mid;
		if ((th & (MP_TH_SYN | MP_TH_ACK | MP_TH_RST)) == MP_TH_SYN) {
			sender_cli = 1;
			mid = 0;
		} else if ((th & MP_TH_RST) || !ti->p.midstream) {
			orphan(ti, md);
			return 0;
		} else {
			sender_cli = guess_sender_is_client(md);
			mid = 1;
		}
		f = tcpsm_flow_new(ti, &k, hash, md->ts_ns);
		if (!f) {
			orphan(ti, md);
			return -ENOSPC;
		}
		f->cli_is_a = (uint8_t)(sender_cli ? src_is_a : !src_is_a);
		f->pkt_hash = md->hash;
		if (mid) {
			f->midstream = 1;
			tcpsm_ctr(ti, TCPSM_C_FLOWS_MIDSTREAM, 1);
			if (th & MP_TH_SYN) {
				/* SYN-ACK first: the client's SYN was not seen. */
				f->s[MP_SIDE_CLI].state = MP_TCP_ST_SYN_SENT;
				f->s[MP_SIDE_SVR].state = MP_TCP_ST_LISTEN;
			} else {
				f->s[0].state = f->s[1].state = MP_TCP_ST_ESTABLISHED;
			}
		}
		tcpsm_flow_publish(ti, f);
	}

	side = src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR;
	md->flow = f;
	md->side = (uint8_t)side;
	if (md->ts_ns > f->last_ts)
		TCPSM_WR(f->last_ts, md->ts_ns);
	TCPSM_WR(f->s[side].pkts, f->s[side].pkts + 1);

	tcpsm_app_apply(f); /* the app's per-flow requests (tcpsm_app.h) */
	memset(&sg, 0, sizeof(sg));
	md->ev[MP_HOOK_SND] = snd_update(ti, f, side, md, &sg);
	if (f->midstream && f->s[side].pkts == 1 && f->s[side ^ 1].pkts == 0)
		md->ev[MP_HOOK_SND] |= MP_ON_CONN_START;
	snap(md, f, MP_HOOK_SND);
	md->ev[MP_HOOK_RCV] = rcv_update(ti, f, side, md, payload, &sg);
	snap(md, f, MP_HOOK_RCV);

	if (!f->closed && is_closed_state(f->s[0].state) && is_closed_state(f->s[1].state) &&
	    (sg.rst_ok || f->s[0].state == MP_TCP_ST_TIME_WAIT || f->s[1].state == MP_TCP_ST_TIME_WAIT ||
	     ((f->s[0].flags & TCPSM_SF_FIN) && (f->s[1].flags & TCPSM_SF_FIN)))) {
		f->closed = 1;
		f->end = sg.rst_ok ? TCPSM_END_RST : TCPSM_END_FIN;
		md->ev[MP_HOOK_SND] |= MP_ON_CONN_END;
		md->ev[MP_HOOK_RCV] |= MP_ON_CONN_END;
		tcpsm_list_set(ti, f, TCPSM_L_CLOSED, md->ts_ns);
		if ((f->s[0].buf || f->s[1].buf) && !f->in_rq) {
			TAILQ_INSERT_TAIL(&ti->reclaimq, f, rq);
			f->in_rq = 1;
			if (ti->p.buf_free_at_end)
				md->flags |= MP_MF_CONN_END; /* tx reports it: tcpsm_reasm_reclaim_ended() */
		}
	} else if (!f->closed) {
		unsigned l = TCPSM_L_EST;
		for (int i = 0; i < 2; i++)
			if (f->s[i].state <= MP_TCP_ST_SYN_RCVD)
				l = TCPSM_L_HALF;
		tcpsm_list_set(ti, f, l, md->ts_ns);
	}
	return 0;
}
