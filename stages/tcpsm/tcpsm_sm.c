/* tcpsm state machines: for every segment, the sender's emulated stack is
 * updated first (MOS_HK_SND events), then the receiver's (MOS_HK_RCV), after
 * RFC 793 §3.9 "Event processing", seen from a monitor: states change on
 * what the endpoints *send* and *receive* as observed on the wire.
 *
 * Sequence accounting is per side, as byte offsets from the side's first
 * payload byte (64-bit, so wrap-around and > 4 GiB streams need no special
 * cases): the set of offsets sent (retransmission detection, "bytes"), and
 * the new bytes a snaplen cut away; "missed" = holes never sent + those.
 *
 * Also here, above the flow table, reassembly glue and timers that it drives:
 * creating and destroying an instance, and the control word (tcpsm.h)
 * applied at each packet of a flow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf-types.h"
#include "hash.h"
#include "meta-types.h"
#include "tcpsm-int.h"

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_GE(a, b) ((int32_t)((a) - (b)) >= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)

/* Segments further than this from what a side sent so far are not used to
 * extend its range (garbage sequence numbers must not invent gigabytes). */
#define TCPSM_MAX_JUMP (1u << 30)

/* ---- interval sets ------------------------------------------------------ */

/* Adds [l, r). @return the bytes not covered before. Works on absolute
 * offsets on the stack (at most TCPSM_IVS_N + 1 ranges) and stores them
 * back relative to the front. */
static uint64_t ivs_add(struct tcpsm_ivs *s, uint64_t l, uint64_t r)
{
	uint64_t L[TCPSM_IVS_N + 1], R[TCPSM_IVS_N + 1], added, front = s->front;
	unsigned i, j, k, n = s->n;

	if (r > s->high)
		TCPSM_WR(s->high, r); /* read by connection-table readers */
	if (r <= front)
		return 0;
	if (l < front)
		l = front;
	for (k = 0; k < n; k++) {
		L[k] = front + s->iv[k].l;
		R[k] = front + s->iv[k].r;
	}
	added = r - l;
	/* Merge every range overlapping or touching [l, r) into it. */
	for (i = 0; i < n && R[i] < l; i++)
		;
	for (j = i; j < n && L[j] <= r; j++) {
		uint64_t ol = L[j] > l ? L[j] : l, or = R[j] < r ? R[j] : r;
		if (or > ol)
			added -= or -ol;
		if (L[j] < l)
			l = L[j];
		if (R[j] > r)
			r = R[j];
	}
	s->seen += added;
	/* Ranges i..j-1 become [l, r). */
	if (j == i) {
		memmove(&L[i + 1], &L[i], (n - i) * sizeof(L[0]));
		memmove(&R[i + 1], &R[i], (n - i) * sizeof(R[0]));
		n++;
	} else if (j > i + 1) {
		memmove(&L[i + 1], &L[j], (n - j) * sizeof(L[0]));
		memmove(&R[i + 1], &R[j], (n - j) * sizeof(R[0]));
		n -= j - i - 1;
	}
	L[i] = l;
	R[i] = r;
	/* Contiguous with the front: absorbed. When too many ranges, or the
	 * highest too far for a 32-bit offset, give up the lowest hole:
	 * everything up to the end of the first range counts as covered. */
	k = 0;
	while (k < n && (L[k] <= front || n - k > TCPSM_IVS_N || R[n - 1] - front > UINT32_MAX))
		front = R[k++];
	s->front = front;
	for (j = k; j < n; j++) {
		s->iv[j - k].l = (uint32_t)(L[j] - front);
		s->iv[j - k].r = (uint32_t)(R[j] - front);
	}
	s->n = (uint8_t)(n - k);
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

/* ---- instances ------------------------------------------------------------ */

struct tcpsm_inst *tcpsm_inst_create(const struct tcpsm_params *p, unsigned idx, uint64_t *ctr, struct mp_conntable *ct,
                                     tcpsm_end_fn on_end, void *end_arg)
{
	struct tcpsm_inst *ti;
	int r;

	if (!p || p->flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	ti = calloc(1, sizeof(*ti));
	if (!ti) {
		errno = ENOMEM;
		return NULL;
	}
	ti->p = *p;
	ti->idx = idx;
	ti->ct = ct;
	ti->on_end = on_end;
	ti->end_arg = end_arg;
	ti->next_id = (uint64_t)idx << 48;
	ti->slot_base = idx * tcpsm_pool_size(p);
	if (ctr)
		ti->ctr = ctr;
	else if ((ti->ctr = calloc(TCPSM_C_N, sizeof(uint64_t))))
		ti->own_ctr = 1;
	r = ti->ctr ? tcpsm_flowtab_init(ti) : -ENOMEM;
	if (r == 0)
		r = tcpsm_reasm_setup(ti);
	if (r < 0) {
		tcpsm_inst_destroy(ti);
		errno = -r;
		return NULL;
	}
	return ti;
}

void tcpsm_inst_destroy(struct tcpsm_inst *ti)
{
	if (!ti)
		return;
	ti->on_end = NULL; /* ended flows go straight back to the pool */
	if (ti->tab)
		for (unsigned l = 0; l < TCPSM_L_N; l++)
			while (!TAILQ_EMPTY(&ti->lists[l]))
				tcpsm_flow_end(ti, TAILQ_FIRST(&ti->lists[l]), TCPSM_END_OPEN);
	tcpsm_reasm_teardown(ti);
	tcpsm_flowtab_fini(ti);
	if (ti->own_ctr)
		free(ti->ctr);
	free(ti);
}

/* ---- the control word ------------------------------------------------------ */

/* Applies f's control word (tcpsm.h) to its buffers before the emulated
 * stacks run: a request made from a callback takes effect from the next
 * packet tcpsm processes for the flow (DESIGN.md §3). */
static void ctl_apply(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	/* What tcpsm_flow_ctl() does, inline: this runs for every packet. */
	uint32_t ctl = __atomic_load_n(&f->ctl, __ATOMIC_ACQUIRE);
	if (!(ctl & TCPSM_CTL_INIT)) {
		/* First packet: only tcpsm knows the flow yet. */
		ctl |= ti->new_ctl | TCPSM_CTL_INIT;
		__atomic_fetch_or(&f->ctl, ctl, __ATOMIC_RELAXED);
	}
	for (unsigned x = 0; x < 2; x++)
		if (ctl & TCPSM_CTL_TPOLSET(x)) /* the app's MOS_CLIPOLICY/SVRPOLICY */
			f->s[x].rcv.policy = (ctl & TCPSM_CTL_TPOLWIN(x)) ? MP_POLICY_WINDOWS : MP_POLICY_LINUX;
	if (!(f->s[0].buf || f->s[1].buf))
		return;
	tcpsm_reasm_apply(f, ctl, 0);
	tcpsm_reasm_apply(f, ctl, 1);
}

/* ---- helpers ------------------------------------------------------------ */

static void key_from_md(const struct mp_meta *md, struct tcpsm_key *k, int *src_is_a)
{
	/* Compares and copies of constant sizes: inline, no libc call per
	 * packet. */
	int v6 = (md->flags & MP_MF_IPV6) != 0;
	int c = mp_addr_cmp(md->src, md->dst, v6 ? 16 : 4);
	memset(k, 0, sizeof(*k));
	k->v6 = (uint8_t)v6;
	*src_is_a = c < 0 || (c == 0 && md->sport <= md->dport);
	const uint8_t *a = *src_is_a ? md->src : md->dst, *b = *src_is_a ? md->dst : md->src;
	if (v6) {
		memcpy(k->a, a, 16);
		memcpy(k->b, b, 16);
	} else {
		memcpy(k->a, a, 4);
		memcpy(k->b, b, 4);
	}
	k->pa = *src_is_a ? md->sport : md->dport;
	k->pb = *src_is_a ? md->dport : md->sport;
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
	unsigned cap;     /* payload bytes present (of those taken) */
	unsigned len;     /* payload bytes the receiver takes (tcpsm_accept()) */
	unsigned acc_len; /* payload bytes counted as sent: what the wire carried, less what is no data at all */
	uint8_t th;       /* the flags the stacks act on: a FIN the receiver refuses is not one */
	int rst_ok;       /* the receiver takes the RST (or, Windows, the SYN that resets) */
};

/* The sender's byte accounting (flow log "bytes", "missed", retransmission)
 * of acc_len payload bytes at offset off: what the sender put on the wire,
 * whether or not the receiver takes it (a refused segment's real copy that
 * follows is a retransmission of its sequence space). */
static void account(struct tcpsm_inst *ti, struct tcpsm_side *s, const struct mp_meta *md, int64_t off, struct seg *sg,
                    uint32_t *ev)
{
	unsigned len = sg->acc_len;
	int64_t l = off < 0 ? 0 : off, rr = off + (int64_t)len;
	unsigned cap = md->pay_cap < len ? md->pay_cap : len;
	int64_t cr = off + (int64_t)cap; /* end of the captured part */
	uint64_t added = 0;
	if (cr < l)
		cr = l;
	if (rr > l && ((uint64_t)rr <= s->sent.high || (uint64_t)rr - s->sent.high < TCPSM_MAX_JUMP)) {
		/* Captured and snaplen-cut parts separately: the cut bytes that
		 * are new are missed for good. */
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
		count_rexmit(ti, s, ev, len);
}

static uint32_t snd_update(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                           struct seg *sg)
{
	struct tcpsm_side *s = &f->s[side], *r = &f->s[side ^ 1];
	uint8_t th = sg->th, old = s->state;
	uint32_t ev = MP_ON_PKT_IN, len = sg->len;

	if (th & MP_TH_RST) {
		/* Only an RST the receiver takes gets here (tcpsm_accept()). */
		if (sg->rst_ok) {
			TCPSM_WR(s->state, MP_TCP_ST_CLOSED);
			tcpsm_ctr(ti, TCPSM_C_RST_ACCEPTED, 1);
		}
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
	sg->cap = md->pay_cap < len ? md->pay_cap : len;
	if (sg->acc_len) {
		account(ti, s, md, off, sg, &ev);
		/* What it sent, taken or not (a SYN's data, which a Fast Open
		 * server acknowledges), but bytes that are no data at all. */
		if (SEQ_GT(data_seq + sg->acc_len, s->nxt))
			s->nxt = data_seq + sg->acc_len;
	} else if (!(s->flags & TCPSM_SF_FIN) || SEQ_LT(data_seq, s->fin_seq))
		extend_high(s, r, off); /* after its FIN a side's ACKs sit one past it */

	/* An endpoint in SYN_RCVD that acknowledges its peer's data (beyond
	 * the peer's SYN) has received an acceptable ACK from that peer and is
	 * ESTABLISHED (RFC 9293 3.10.7.4), even when the capture missed the
	 * peer's segments (one-sided captures). */
	if (s->state == MP_TCP_ST_SYN_RCVD && (th & (MP_TH_ACK | MP_TH_SYN)) == MP_TH_ACK &&
	    (r->flags & TCPSM_SF_ISN) && SEQ_GT(md->ack, r->isn + 1))
		TCPSM_WR(s->state, MP_TCP_ST_ESTABLISHED);
	/* Likewise a client in SYN_SENT that sends the handshake's last ACK (a
	 * bare ACK), or acknowledges the server's SYN when its ISN is known: it
	 * got the SYN-ACK the box missed (arkime no-syn-ack). Data it sends
	 * before that stays out of state (apps/firewall drops it). */
	if (s->state == MP_TCP_ST_SYN_SENT && (th & (MP_TH_ACK | MP_TH_SYN | MP_TH_RST | MP_TH_FIN)) == MP_TH_ACK &&
	    (s->flags & TCPSM_SF_SYN) && (!len || ((r->flags & TCPSM_SF_ISN) && SEQ_GE(md->ack, r->isn + 1))))
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
		 * sequence space if we have not seen it send yet; not that of a
		 * client still waiting for the SYN-ACK (it cannot know it). */
		if (!(r->flags & TCPSM_SF_SEQ) && !(s->state == MP_TCP_ST_SYN_SENT && !(th & MP_TH_SYN))) {
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
                           const uint8_t *payload, const struct seg *sg, uint8_t *err)
{
	struct tcpsm_side *r = &f->s[side ^ 1];
	uint8_t th = sg->th, old = r->state;
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
	if (sg->len || (th & MP_TH_URG))
		*err = (uint8_t)tcpsm_accept_stream(ti, f, side ^ 1, md, payload, sg->len, payload ? sg->cap : 0, &ev);
out:
	if (r->state != old) {
		ev |= MP_ON_TCP_STATE_CHANGE;
		tcpsm_ctr(ti, TCPSM_C_STATE_CHANGES, 1);
	}
	return ev;
}

/* ---- one packet ---------------------------------------------------------- */

/* Does this segment (from side) acknowledge something the other side was
 * seen to send (its SYN or bytes)? That confirms a flow picked up
 * mid-stream: two endpoints talk, as far as a monitor can tell. Spoofed
 * ACKs alone never do, so such flows stay evictable (tcpsm_flowtab.c). */
static int confirms(const struct tcpsm_flow *f, unsigned side, const struct mp_meta *md)
{
	const struct tcpsm_side *o = &f->s[side ^ 1];
	if (!(md->tcp_flags & MP_TH_ACK) || !o->pkts || !(o->flags & TCPSM_SF_SEQ))
		return 0;
	uint32_t first = (o->flags & TCPSM_SF_SYN) ? o->isn : o->base_seq;
	return SEQ_GT(md->ack, first) && !SEQ_GT(md->ack, o->nxt);
}

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
			md->flow_idx = f->slot;
			md->side = (uint8_t)(src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR);
			snap(md, f, MP_HOOK_SND);
			snap(md, f, MP_HOOK_RCV);
			tcpsm_reasm_edges(f, md);
		}
		return 0;
	}

	if (f && !f->closed && (th & (MP_TH_SYN | MP_TH_ACK | MP_TH_RST)) == (MP_TH_SYN | MP_TH_ACK)) {
		/* A host answers a SYN it refused inside the connection with a
		 * challenge ACK (tcpsm_accept()); a SYN-ACK to it means the old
		 * connection was gone there: it ends (never closed on the wire:
		 * "open"), a new flow starts from this SYN-ACK, with new buffers
		 * (the old ones stay with the old flow for its readers). */
		unsigned x = src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR;
		const struct tcpsm_rcv *rc = &f->s[x].rcv;
		if ((rc->flags & TCPSM_RF_SYN) && md->ack == rc->syn + 1) {
			tcpsm_ctr(ti, TCPSM_C_NEW_CONN_ON_TUPLE, 1);
			tcpsm_flow_end(ti, f, TCPSM_END_OPEN);
			f = NULL;
		}
	}

	if (f && f->closed && (th & (MP_TH_SYN | MP_TH_ACK | MP_TH_RST)) == MP_TH_SYN) {
		side = src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR;
		struct tcpsm_side *o = &f->s[side];
		if (f->end == TCPSM_END_FIN && (o->flags & TCPSM_SF_SEQ) && SEQ_LT(md->seq, o->nxt)) {
			/* RFC 1122 4.2.2.13 / RFC 6191: in TIME_WAIT only a SYN
			 * beyond the old sequence space opens a new connection;
			 * this one is an old duplicate of the closed one. */
			md->flow = f;
			md->flow_idx = f->slot;
			md->side = (uint8_t)side;
			if (md->ts_ns > f->last_ts)
				TCPSM_WR(f->last_ts, md->ts_ns);
			TCPSM_WR(o->pkts, o->pkts + 1);
			md->ev[MP_HOOK_SND] = MP_ON_PKT_IN;
			count_rexmit(ti, o, &md->ev[MP_HOOK_SND], md->pay_len);
			md->ev[MP_HOOK_RCV] = MP_ON_PKT_IN | MP_ON_REXMIT;
			snap(md, f, MP_HOOK_SND);
			snap(md, f, MP_HOOK_RCV);
			tcpsm_reasm_edges(f, md);
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
		tcpsm_accept_init(ti, f);
		/* Under a flood's churn, only once confirmed (below). */
		if (!ti->pool_low)
			tcpsm_flow_publish(ti, f);
	}

	side = src_is_a == f->cli_is_a ? MP_SIDE_CLI : MP_SIDE_SVR;
	md->flow = f;
	md->flow_idx = f->slot;
	md->side = (uint8_t)side;
	if (md->ts_ns > f->last_ts)
		TCPSM_WR(f->last_ts, md->ts_ns);
	TCPSM_WR(f->s[side].pkts, f->s[side].pkts + 1);

	ctl_apply(ti, f); /* the app's per-flow requests (tcpsm.h) */
	memset(&sg, 0, sizeof(sg));
	/* What the receiver's stack does with it decides what the emulated
	 * stacks see of it (tcpsm_accept.c). */
	struct tcpsm_acc acc;
	tcpsm_accept(ti, f, side, md, &acc);
	md->err = acc.err;
	/* Bytes the sender put on the wire count as sent, taken or not, but
	 * for those that are no data at all (past the FIN, outside the window,
	 * dying before the host, after a reset). */
	unsigned e = acc.err;
	sg.acc_len = e == TCPSM_ERR_WINDOW || e == TCPSM_ERR_TTL || e == TCPSM_ERR_AFTER_RST || e == TCPSM_ERR_AFTER_FIN
	                 ? acc.take
	                 : md->pay_len;
	if (acc.verdict == TCPSM_V_DROP) {
		md->ev[MP_HOOK_SND] = MP_ON_PKT_IN;
		if (sg.acc_len) {
			struct tcpsm_side *ss = &f->s[side];
			if (!(ss->flags & TCPSM_SF_SEQ))
				side_init_seq(ss, md->seq);
			account(ti, ss, md, seq_off(ss, md->seq + ((th & MP_TH_SYN) ? 1 : 0)), &sg,
			        &md->ev[MP_HOOK_SND]);
		}
		md->ev[MP_HOOK_RCV] = MP_ON_PKT_IN | (acc.err ? MP_ON_ERROR : 0);
		if (f->midstream && f->s[side].pkts == 1 && f->s[side ^ 1].pkts == 0)
			md->ev[MP_HOOK_SND] |= MP_ON_CONN_START;
		snap(md, f, MP_HOOK_SND);
		snap(md, f, MP_HOOK_RCV);
		goto timers;
	}
	/* A wholly old segment is still what its sender sent (a FIN on it is
	 * where its stream ends); only its receiver ignores it. */
	sg.len = acc.verdict == TCPSM_V_OLD ? md->pay_len : acc.take;
	sg.th = (uint8_t)(th & ~(acc.fin ? 0 : MP_TH_FIN));
	if (acc.rst) {
		sg.rst_ok = 1;
		sg.th = MP_TH_RST; /* Windows: a SYN at RCV.NXT resets */
	}
	md->ev[MP_HOOK_SND] = snd_update(ti, f, side, md, &sg);
	if (f->midstream && f->s[side].pkts == 1 && f->s[side ^ 1].pkts == 0)
		md->ev[MP_HOOK_SND] |= MP_ON_CONN_START;
	snap(md, f, MP_HOOK_SND);
	if (acc.verdict == TCPSM_V_OLD) {
		md->ev[MP_HOOK_RCV] = MP_ON_PKT_IN;
	} else {
		uint8_t err = 0;
		md->ev[MP_HOOK_RCV] = rcv_update(ti, f, side, md, payload, &sg, &err);
		if (!md->err)
			md->err = err;
		/* New data is what the receiver took that it did not have. */
		if (tcpsm_accept_commit(ti, f, side, md, &acc) && sg.cap)
			md->ev[MP_HOOK_RCV] |= MP_ON_CONN_NEW_DATA;
	}
	/* The receiver sees the retransmission too: mOS raises REXMIT in the
	 * receiver's context (MOS_HK_RCV), where the guide registers it. */
	md->ev[MP_HOOK_RCV] |= md->ev[MP_HOOK_SND] & MP_ON_REXMIT;
	if (md->err)
		md->ev[MP_HOOK_RCV] |= MP_ON_ERROR;
	snap(md, f, MP_HOOK_RCV);

	if (!f->closed && is_closed_state(f->s[0].state) && is_closed_state(f->s[1].state) &&
	    (sg.rst_ok || f->s[0].state == MP_TCP_ST_TIME_WAIT || f->s[1].state == MP_TCP_ST_TIME_WAIT ||
	     ((f->s[0].flags & TCPSM_SF_FIN) && (f->s[1].flags & TCPSM_SF_FIN)))) {
		f->closed = 1;
		f->end = sg.rst_ok ? TCPSM_END_RST : TCPSM_END_FIN;
		md->ev[MP_HOOK_SND] |= MP_ON_CONN_END;
		md->ev[MP_HOOK_RCV] |= MP_ON_CONN_END;
		tcpsm_list_set(ti, f, TCPSM_L_CLOSED, md->ts_ns);
		/* The streams as of CONN_END: the options' bytes are no edges. */
		tcpsm_reasm_edges(f, md);
		if ((f->s[0].buf || f->s[1].buf) && !f->in_rq) {
			tcpsm_rq_add(ti, f);
			/* Closed with buffers: MP_CTRL_ENDED follows the packet
			 * (tcpsm.c, flow_ended). Once tx hands it back no callback
			 * reads the flow's buffers again, so they may go back: at once
			 * with buf_free_at_end, else when the chunk pool runs dry
			 * (tcpsm_reasm.c). */
			return TCPSM_P_ENDED;
		}
		return 0;
	}
timers:
	if (!f->closed) {
		unsigned l = TCPSM_L_EST;
		for (int i = 0; i < 2; i++)
			if (f->s[i].state <= MP_TCP_ST_SYN_RCVD)
				l = TCPSM_L_HALF;
		if (l == TCPSM_L_EST && f->midstream && !f->confirmed &&
		    !(f->confirmed = (uint8_t)confirms(f, side, md)))
			l = TCPSM_L_UNCONF;
		if (l == TCPSM_L_EST && !f->published)
			tcpsm_flow_publish(ti, f);
		tcpsm_list_set(ti, f, l, md->ts_ns);
	}
	/* After the options (md->opt) were read: the edges take their place. */
	tcpsm_reasm_edges(f, md);
	return 0;
}
