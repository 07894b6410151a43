/* The receiver's model: a byte enters a side's stream only if that side's
 * TCP stack would take it (DESIGN.md §3, "Adversarial input"; issue #11).
 *
 * For every segment, before either emulated stack runs (tcpsm_sm.c), the
 * receiver's stack decides, modelled on a target (tcp.policy: Linux by
 * default, or Windows; per network in [policy], per flow from the API):
 *
 *   DROP  the whole segment is refused (Linux: tcp_validate_incoming(),
 *         tcp_ack() < 0, tcp_check_req(), tcp_rcv_synsent_state_process()):
 *         neither stack moves, nothing enters the stream;
 *   OLD   wholly left of the window (tcp_sequence()): the sender's stack
 *         still sees its retransmission, the receiver ignores it;
 *   TAKE  processed; the first `take` bytes of its payload are data (fewer
 *         than all when the data alone is refused: past the FIN, outside
 *         the window, on a SYN).
 *
 * Each refusal and ambiguity is counted by case and raises MOS_ON_ERROR with
 * its reason (enum tcpsm_err in mp_meta.err). stages/tcpsm/README.md has the
 * table: each case, what Linux does (kernel function), what mospipe does.
 *
 * What the model knows comes from the wire: a check runs only when what it
 * needs was seen (the handshake for window scaling and timestamps, the
 * receiver's own segments for what it sent); a flow picked up mid-stream is
 * checked less, never guessed at. A box that misses packets the host got
 * (a lossy SPAN port) can refuse a real segment: the counters show it.
 *
 * After both stacks ran on a taken segment, tcpsm_accept_commit() moves the
 * model on (RCV.NXT, bytes held out of order, TS.Recent, the FIN), and
 * tcpsm_accept_stream() puts the taken bytes into the receiver's buffer,
 * without the urgent byte when tcp.urgent = remove (tcp_urg(),
 * tcp_recvmsg(): a socket with SO_OOBINLINE off skips it).
 */
#include <string.h>

#include "conf-types.h"
#include "meta-types.h"
#include "reasm.h"
#include "tcpsm-int.h"

#define BEFORE(a, b) ((int32_t)((a) - (b)) < 0)
#define AFTER(a, b) ((int32_t)((a) - (b)) > 0)

/* ---- policies ------------------------------------------------------------------ */

/* The [policy] network holding addr, longest prefix first; tcp.policy when
 * none does. */
static unsigned policy_of(const struct tcpsm_params *p, const uint8_t *addr, int v6)
{
	unsigned best = p->policy;
	int best_len = -1;
	for (unsigned i = 0; i < p->n_policy_nets; i++) {
		const struct mp_policy_net *n = &p->policy_nets[i];
		if (n->v6 != v6 || (int)n->plen <= best_len)
			continue;
		unsigned full = n->plen / 8, rest = n->plen % 8;
		if (memcmp(n->addr, addr, full))
			continue;
		if (rest && ((addr[full] ^ n->addr[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		best = n->policy;
		best_len = n->plen;
	}
	return best;
}

void tcpsm_accept_init(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	for (unsigned x = 0; x < 2; x++) {
		int is_a = (x == MP_SIDE_CLI) == (f->cli_is_a != 0);
		f->s[x].rcv.policy = (uint8_t)policy_of(&ti->p, is_a ? f->key.a : f->key.b, f->key.v6);
	}
}

/* The app reads the policy from the control word once it set one; before,
 * from the side, which tcpsm wrote before the flow reached any other stage
 * and changes only after such a set (ctl_apply()). */
unsigned tcpsm_flow_policy(const struct tcpsm_flow *f, unsigned side)
{
	uint32_t ctl = tcpsm_flow_ctl(f);
	if (ctl & TCPSM_CTL_TPOLSET(side))
		return (ctl & TCPSM_CTL_TPOLWIN(side)) ? MP_POLICY_WINDOWS : MP_POLICY_LINUX;
	return f->s[side & 1].rcv.policy;
}

void tcpsm_flow_set_policy(struct tcpsm_flow *f, unsigned side, unsigned policy)
{
	side &= 1;
	if (policy == MP_POLICY_WINDOWS)
		tcpsm_flow_ctl_set(f, TCPSM_CTL_TPOLSET(side) | TCPSM_CTL_TPOLWIN(side));
	else {
		tcpsm_flow_ctl_clear(f, TCPSM_CTL_TPOLWIN(side));
		tcpsm_flow_ctl_set(f, TCPSM_CTL_TPOLSET(side));
	}
}

/* ---- decisions ----------------------------------------------------------------- */

static const unsigned err_ctr[TCPSM_ERR_N] = {
    [TCPSM_ERR_NO_ACK] = TCPSM_C_REFUSED_NO_ACK,
    [TCPSM_ERR_SYN_DATA] = TCPSM_C_REFUSED_SYN_DATA,
    [TCPSM_ERR_WINDOW] = TCPSM_C_REFUSED_WINDOW,
    [TCPSM_ERR_PAWS] = TCPSM_C_REFUSED_PAWS,
    [TCPSM_ERR_ACK_UNSENT] = TCPSM_C_REFUSED_ACK_UNSENT,
    [TCPSM_ERR_ACK_OLD] = TCPSM_C_REFUSED_ACK_OLD,
    [TCPSM_ERR_HANDSHAKE] = TCPSM_C_REFUSED_HANDSHAKE,
    [TCPSM_ERR_RST_INWIN] = TCPSM_C_RST_CHALLENGED,
    [TCPSM_ERR_RST_OUT] = TCPSM_C_RST_OUT_OF_WINDOW,
    [TCPSM_ERR_AFTER_RST] = TCPSM_C_REFUSED_AFTER_RST,
    [TCPSM_ERR_AFTER_FIN] = TCPSM_C_REFUSED_AFTER_FIN,
    [TCPSM_ERR_SYN_EST] = TCPSM_C_REFUSED_SYN_EST,
    [TCPSM_ERR_TTL] = TCPSM_C_REFUSED_TTL,
};

static void refuse(struct tcpsm_inst *ti, struct tcpsm_acc *a, unsigned err)
{
	a->verdict = TCPSM_V_DROP;
	a->take = 0;
	a->fin = 0;
	a->rst = 0;
	a->err = (uint8_t)err;
	if (err_ctr[err])
		tcpsm_ctr(ti, err_ctr[err], 1);
}

/* The data alone is refused (or its tail, from `keep` bytes on). */
static void refuse_data(struct tcpsm_inst *ti, struct tcpsm_acc *a, uint32_t keep, unsigned err)
{
	if (keep >= a->take)
		return;
	a->take = keep;
	a->fin = 0; /* a FIN rides on the last byte: dropped with it */
	a->err = (uint8_t)err;
	tcpsm_ctr(ti, err_ctr[err], 1);
}

/* Before the receiver saw the sender's sequence space: an RST is believed
 * only when it acknowledges exactly what the receiver sent (RFC 793 in
 * SYN-SENT; rejects the classic spoofed RST with seq 0 and a wrong ACK);
 * else when it lands where the receiver expects the sender's next byte. */
static int rst_acceptable_blind(const struct tcpsm_side *s, const struct tcpsm_side *r, const struct mp_meta *md)
{
	if (!(s->flags & TCPSM_SF_SEQ))
		return (md->tcp_flags & MP_TH_ACK) && (r->flags & TCPSM_SF_SEQ) && md->ack == r->nxt;
	uint32_t exp = (r->flags & TCPSM_SF_ACK) ? r->ack : s->nxt;
	if (md->seq == exp || md->seq == s->nxt)
		return 1;
	/* A SYN aborted by its sender with the SYN's own sequence number. */
	return (s->flags & TCPSM_SF_SYN) && s->nxt == s->isn + 1 && md->seq == s->isn;
}

/* The receiver's RCV.NXT, set from what is known when not yet (mid-stream:
 * its last ACK, else this first segment of the sender). @return 1 when known. */
static int rcv_nxt(struct tcpsm_side *r, const struct mp_meta *md, uint32_t *nxt)
{
	struct tcpsm_rcv *rc = &r->rcv;
	if (!(rc->flags & TCPSM_RF_NXT)) {
		if (r->flags & TCPSM_SF_ACK)
			rc->nxt = r->ack;
		else if (md->pay_len || (md->tcp_flags & MP_TH_FIN))
			rc->nxt = md->seq;
		else
			return 0;
		rc->flags |= TCPSM_RF_NXT;
	}
	*nxt = rc->nxt;
	return 1;
}

static int has_ts(const struct mp_meta *md)
{
	return (md->opt.present & MP_TO_TS) != 0;
}

/* RFC 7323 PAWS (tcp_paws_discard(), tcp_paws_check()): Linux refuses a
 * timestamp more than one tick older than TS.Recent unless TS.Recent is 0;
 * Windows (Snort's stream5 ValidTimestamp) none older at all, but takes 0. */
static int paws_fails(const struct tcpsm_rcv *rc, uint32_t tsval)
{
	if (rc->policy == MP_POLICY_WINDOWS)
		return tsval != 0 && (int32_t)(tsval - rc->ts_recent) < 0;
	return rc->ts_recent != 0 && (int32_t)(rc->ts_recent - tsval) > 1;
}

void tcpsm_accept(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                  struct tcpsm_acc *a)
{
	struct tcpsm_side *s = &f->s[side], *r = &f->s[side ^ 1];
	struct tcpsm_rcv *rc = &r->rcv;
	uint8_t th = md->tcp_flags;
	unsigned syn = th & MP_TH_SYN, ack = th & MP_TH_ACK, rst = th & MP_TH_RST, fin = th & MP_TH_FIN;
	uint32_t seq = md->seq, len = md->pay_len, nxt = 0;
	int is_linux = rc->policy != MP_POLICY_WINDOWS;

	memset(a, 0, sizeof(*a));
	a->verdict = TCPSM_V_TAKE;
	a->take = len;
	a->fin = fin != 0;

	if (ti->p.min_ttl && md->opt.ttl < ti->p.min_ttl) {
		refuse(ti, a, TCPSM_ERR_TTL);
		return;
	}
	if (rc->flags & TCPSM_RF_RST) {
		/* Reset: no socket any more (the host answers with an RST). */
		refuse(ti, a, len || syn || fin ? TCPSM_ERR_AFTER_RST : TCPSM_ERR_NONE);
		return;
	}
	/* Both SYNs seen: window scaling and timestamps are known. */
	int hs = (s->flags & r->flags & TCPSM_SF_SYN) != 0;

	switch (r->state) {
	case MP_TCP_ST_CLOSED:
	case MP_TCP_ST_LISTEN:
		if (rc->flags & TCPSM_RF_FIN)
			break; /* closed after the FIN exchange */
		/* A listener takes the SYN, not its payload: without a Fast Open
		 * cookie the data waits for the client to send it again
		 * (tcp_conn_request()); a SYN-ACK's payload likewise. */
		if (syn && len)
			refuse_data(ti, a, 0, TCPSM_ERR_SYN_DATA);
		return;
	case MP_TCP_ST_SYN_SENT:
		if (!(r->flags & TCPSM_SF_SYN)) {
			/* Its SYN was not seen (a SYN-ACK came first): nothing to
			 * check against but the SYN-ACK's payload. */
			if (syn && len)
				refuse_data(ti, a, 0, TCPSM_ERR_SYN_DATA);
			return;
		}
		/* tcp_rcv_synsent_state_process(): the ACK must cover the SYN and
		 * nothing more; an RST counts only with such an ACK; then only a
		 * SYN moves it on, and its payload is not taken. */
		if (ack && (!AFTER(md->ack, r->isn) || AFTER(md->ack, r->nxt))) {
			refuse(ti, a, rst ? TCPSM_ERR_RST_OUT : TCPSM_ERR_HANDSHAKE);
			return;
		}
		if (rst) {
			if (ack) {
				a->rst = 1;
				return;
			}
			{
				refuse(ti, a, TCPSM_ERR_RST_OUT);
				return;
			}
		}
		if (!syn) {
			refuse(ti, a, TCPSM_ERR_HANDSHAKE);
			return;
		}
		if (len)
			refuse_data(ti, a, 0, TCPSM_ERR_SYN_DATA);
		if (AFTER(md->ack, r->isn + 1)) {
			/* The server took the data of the SYN (Fast Open), which
			 * the box left out: a hole at the stream's start. */
			tcpsm_ctr(ti, TCPSM_C_SYN_DATA_ACKED, 1);
		}
		return;
	case MP_TCP_ST_SYN_RCVD:
		if (syn && !ack) {
			if (len)
				refuse_data(ti, a, 0, TCPSM_ERR_SYN_DATA); /* a SYN again */
			return;
		}
		if (!ack && !rst) {
			refuse(ti, a, TCPSM_ERR_NO_ACK);
			return;
		} /* tcp_check_req() */
		if (rst) {
			/* A SYN its sender aborts with the SYN's own sequence
			 * number (several stacks and tools do): Linux's request
			 * sock ignores it (left of its window), but nothing was
			 * exchanged and nothing more will be: the flow ends here,
			 * as Zeek and Suricata end it. */
			if ((s->flags & TCPSM_SF_SYN) && s->nxt == s->isn + 1 && seq == s->isn) {
				a->rst = 1;
				return;
			}
			/* A request is reset by an RST in its window. */
			uint32_t w = (r->flags & TCPSM_SF_WIN) ? (r->win ? r->win : 1) : 1;
			if (rcv_nxt(r, md, &nxt) && (int32_t)(seq - nxt) >= 0 && (uint32_t)(seq - nxt) < w) {
				a->rst = 1;
				return;
			}
			if (!(rc->flags & TCPSM_RF_NXT) && rst_acceptable_blind(s, r, md)) {
				a->rst = 1;
				return;
			}
			{
				refuse(ti, a, TCPSM_ERR_RST_OUT);
				return;
			}
		}
		/* tcp_check_req(): the ACK of the handshake acknowledges exactly
		 * the SYN-ACK, or the host answers with an RST. */
		if ((r->flags & TCPSM_SF_SYN) && md->ack != r->isn + 1) {
			refuse(ti, a, TCPSM_ERR_HANDSHAKE);
			return;
		}
		break;
	default: break;
	}

	/* ---- a synchronized receiver (tcp_rcv_established(), tcp_rcv_state_process()) ---- */
	if (!ack && !rst && !syn) {
		refuse(ti, a, TCPSM_ERR_NO_ACK);
		return;
	}

	/* Step 0, RFC 7323: PAWS, when both SYNs carried timestamps. A pure
	 * ACK is let through (tcp_disordered_ack() keeps duplicate ACKs); an
	 * RST passes whatever its timestamp. */
	if (!rst && has_ts(md) && (s->xflags & r->xflags & TCPSM_XF_TS) && (rc->flags & TCPSM_RF_TSR) &&
	    (len || syn || fin) && paws_fails(rc, md->opt.tsval)) {
		refuse(ti, a, TCPSM_ERR_PAWS);
		return;
	}

	int have_nxt = rcv_nxt(r, md, &nxt);
	/* The window: the furthest right edge it advertised (ACK + window,
	 * scaled as the handshake said; tcp_sequence(): RCV.WUP + RCV.WND),
	 * which a reordered older ACK does not pull back. */
	int win_known = hs && (r->xflags & TCPSM_XF_RWE);
	uint32_t wup = r->ack, re = r->rwe;
	uint32_t end = seq + len + (syn ? 1 : 0) + (fin ? 1 : 0);
	/* RFC 5961 3.2 as Linux extends it: RCV.NXT - 1 once the FIN was
	 * taken, but only in CLOSE_WAIT, LAST_ACK and CLOSING
	 * (tcp_reset_check()), and the right edge of its last SACK. A
	 * TIME_WAIT receiver is a timewait socket that takes an RST at
	 * exactly RCV.NXT and nothing else (tcp_timewait_state_process()):
	 * the RST a closed client sends for a late segment of the server,
	 * seq = that segment's ACK = the client's FIN, leaves it in TIME_WAIT. */
	unsigned rst_st = r->state;
	int rst_fin1 = rst_st == MP_TCP_ST_CLOSE_WAIT || rst_st == MP_TCP_ST_LAST_ACK || rst_st == MP_TCP_ST_CLOSING;
	int rst_exact =
	    rst && have_nxt &&
	    (seq == nxt || (is_linux && rst_fin1 && (rc->flags & TCPSM_RF_FIN) && seq == nxt - 1) ||
	     (is_linux && rst_st != MP_TCP_ST_TIME_WAIT && (r->xflags & TCPSM_XF_SACK) && seq == r->sack_max));

	/* Step 1: the sequence number. */
	if (win_known && (BEFORE(end, wup) || AFTER(seq, re))) {
		if (rst) {
			if (is_linux && rst_exact && (rc->flags & TCPSM_RF_FIN))
				a->rst = 1;
			else
				refuse(ti, a, TCPSM_ERR_RST_OUT);
			return;
		}
		if (syn && !(s->flags & TCPSM_SF_SYN && seq == s->isn)) {
			refuse(ti, a, TCPSM_ERR_SYN_EST);
			goto syn_pending;
		}
		if (BEFORE(end, wup) || (syn && seq == s->isn)) {
			a->verdict = TCPSM_V_OLD; /* a retransmission it ignores */
			a->take = 0;
			tcpsm_ctr(ti, TCPSM_C_OLD_SEGMENTS, 1);
			return;
		}
		{
			refuse(ti, a, TCPSM_ERR_WINDOW);
			return;
		}
	}

	/* Step 2: RST. */
	if (rst) {
		if (have_nxt ? rst_exact : rst_acceptable_blind(s, r, md))
			a->rst = 1;
		else
			refuse(ti, a, win_known || have_nxt ? TCPSM_ERR_RST_INWIN : TCPSM_ERR_RST_OUT);
		return;
	}

	/* Step 4: SYN in a synchronized state. A SYN or SYN-ACK repeating the
	 * handshake's is a retransmission; any other gets a challenge ACK
	 * (Linux, RFC 5961 4.2) and opens no new sequence space. Windows resets
	 * when it lands on RCV.NXT (Snort's stream5 RepeatedSyn). */
	if (syn) {
		/* Crossed SYNs: the SYN-ACK that completes a simultaneous open
		 * (tcp_validate_incoming(): SYN_RECV, seq + 1 == RCV.NXT and the
		 * ACK == SND.NXT) passes. */
		if (r->state == MP_TCP_ST_SYN_RCVD && ack && have_nxt && seq + 1 == nxt && md->ack == r->nxt && !len)
			goto synced;
		/* The SYN-ACK of a client the box took for established when it
		 * missed that SYN-ACK (snd_update(): its bare ACK came first):
		 * the handshake's, late, when the server sent no SYN before. */
		if (ack && !(s->flags & TCPSM_SF_SYN) && (r->flags & TCPSM_SF_SYN) && md->ack == r->isn + 1) {
			if (len)
				refuse_data(ti, a, 0, TCPSM_ERR_SYN_DATA);
			return;
		}
		if ((s->flags & TCPSM_SF_SYN) && seq == s->isn) {
			a->verdict = TCPSM_V_OLD;
			a->take = 0;
			return;
		}
		if (!is_linux && have_nxt && seq == nxt) {
			a->rst = 1;
			a->take = 0;
			a->fin = 0;
			a->err = TCPSM_ERR_SYN_EST;
			tcpsm_ctr(ti, TCPSM_C_REFUSED_SYN_EST, 1);
			return;
		}
		refuse(ti, a, TCPSM_ERR_SYN_EST);
		goto syn_pending;
	}

synced:
	/* Step 5: the ACK (tcp_ack()), when the receiver's own sending was
	 * seen from its SYN: nothing it never sent, nothing older than the
	 * window allows (RFC 5961 5.2: max_window bounded by what was acked). */
	if (ack && (r->flags & (TCPSM_SF_SYN | TCPSM_SF_SEQ)) == (TCPSM_SF_SYN | TCPSM_SF_SEQ)) {
		if (AFTER(md->ack, r->nxt)) {
			refuse(ti, a, TCPSM_ERR_ACK_UNSENT);
			return;
		}
		if (is_linux && (s->flags & TCPSM_SF_ACK)) {
			uint32_t una = s->ack;
			uint32_t acked = AFTER(una, r->isn + 1) ? una - (r->isn + 1) : 0;
			uint32_t maxw = s->max_win < acked ? s->max_win : acked;
			if (BEFORE(md->ack, una - maxw)) {
				refuse(ti, a, TCPSM_ERR_ACK_OLD);
				return;
			}
		}
	}

	/* Step 7: the data. */
	if (len) {
		uint32_t off = seq + (syn ? 1 : 0);
		if (rc->flags & TCPSM_RF_FIN) {
			/* Past the FIN it took, the reader has had its EOF. */
			if (!BEFORE(off, rc->fin))
				refuse_data(ti, a, 0, TCPSM_ERR_AFTER_FIN);
			else if (AFTER(off + len, rc->fin))
				refuse_data(ti, a, rc->fin - off, TCPSM_ERR_AFTER_FIN);
		}
		if (a->take && win_known && have_nxt) {
			/* tcp_data_queue(): in order into a zero window, or out of
			 * order from the right edge on: dropped. A segment starting
			 * inside the window is taken whole, even past it. */
			if (!AFTER(off, nxt) && AFTER(off + len, nxt) && re == nxt)
				refuse_data(ti, a, 0, TCPSM_ERR_WINDOW);
			else if (AFTER(off, nxt) && !BEFORE(off, re))
				refuse_data(ti, a, 0, TCPSM_ERR_WINDOW);
		}
	}
	return;

syn_pending:
	/* If the host answers this SYN with a SYN-ACK after all, its old
	 * connection was gone: tcpsm_process() starts a new flow then. */
	rc->syn = seq;
	rc->flags |= TCPSM_RF_SYN;
}

/* ---- moving the model on --------------------------------------------------------- */

/* The bytes [l, r) the receiver now has: in order (RCV.NXT moves, over held
 * ranges it reaches) or held out of order. @return 1 when some are new. */
static int rcv_add(struct tcpsm_rcv *rc, uint32_t l, uint32_t r)
{
	if (!BEFORE(rc->nxt, r))
		return 0;
	for (unsigned i = 0; i < rc->n_ooo; i++)
		if (!BEFORE(l, rc->ooo[i].l) && !AFTER(r, rc->ooo[i].r))
			return 0; /* held already */
	/* Data over the held FIN (a segment [finq, finq + 1)) replaces it, as
	 * tcp_data_queue_ofo() replaces or erases a held segment a new one
	 * covers: from before it, or from its start and longer. */
	if ((rc->flags & TCPSM_RF_FINQ) &&
	    ((BEFORE(l, rc->finq) && !BEFORE(r, rc->finq + 1)) || (l == rc->finq && AFTER(r, rc->finq + 1))))
		rc->flags &= (uint16_t)~TCPSM_RF_FINQ;
	if (!AFTER(l, rc->nxt)) {
		rc->nxt = r;
		unsigned k = 0;
		for (unsigned i = 0; i < rc->n_ooo; i++) {
			if (!AFTER(rc->ooo[i].l, rc->nxt)) {
				if (AFTER(rc->ooo[i].r, rc->nxt))
					rc->nxt = rc->ooo[i].r;
			} else {
				rc->ooo[k++] = rc->ooo[i];
			}
		}
		rc->n_ooo = (uint8_t)k;
		if ((rc->flags & TCPSM_RF_FINQ) && rc->nxt == rc->finq) {
			/* In order up to the FIN it held: it takes the FIN now. */
			rc->flags = (uint16_t)((rc->flags & ~TCPSM_RF_FINQ) | TCPSM_RF_FIN);
			rc->fin = rc->finq;
			rc->nxt = rc->finq + 1;
		}
		return 1;
	}
	/* Merge with what it touches, keep sorted by l; when full, the two
	 * furthest ranges become their hull. */
	struct tcpsm_range t[TCPSM_RCV_OOO + 1];
	unsigned n = 0, i = 0;
	while (i < rc->n_ooo && BEFORE(rc->ooo[i].r, l))
		t[n++] = rc->ooo[i++];
	for (; i < rc->n_ooo && !AFTER(rc->ooo[i].l, r); i++) {
		if (BEFORE(rc->ooo[i].l, l))
			l = rc->ooo[i].l;
		if (AFTER(rc->ooo[i].r, r))
			r = rc->ooo[i].r;
	}
	t[n].l = l;
	t[n++].r = r;
	while (i < rc->n_ooo)
		t[n++] = rc->ooo[i++];
	if (n > TCPSM_RCV_OOO) {
		t[TCPSM_RCV_OOO - 1].r = t[TCPSM_RCV_OOO].r;
		n = TCPSM_RCV_OOO;
	}
	memcpy(rc->ooo, t, n * sizeof(t[0]));
	rc->n_ooo = (uint8_t)n;
	return 1;
}

int tcpsm_accept_commit(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned side, const struct mp_meta *md,
                        const struct tcpsm_acc *a)
{
	int fresh = 0;
	struct tcpsm_side *s = &f->s[side], *r = &f->s[side ^ 1];
	struct tcpsm_rcv *rc = &r->rcv, *sc = &s->rcv;
	uint8_t th = md->tcp_flags;
	(void)ti;

	/* The sender as a receiver: what it acknowledges it has. */
	if ((th & MP_TH_ACK) && !(th & MP_TH_RST)) {
		if (!(sc->flags & TCPSM_RF_NXT)) {
			sc->nxt = md->ack;
			sc->flags |= TCPSM_RF_NXT;
		} else if (AFTER(md->ack, sc->nxt)) {
			rcv_add(sc, sc->nxt, md->ack);
		}
		if (md->opt.n_sack) {
			uint32_t m = md->opt.sack[0][1];
			for (unsigned i = 1; i < md->opt.n_sack && i < MP_MAX_SACK; i++)
				if (AFTER(md->opt.sack[i][1], m))
					m = md->opt.sack[i][1];
			s->sack_max = m;
			s->xflags |= TCPSM_XF_SACK;
		} else {
			s->xflags &= (uint8_t)~TCPSM_XF_SACK;
		}
	}
	if ((s->flags & TCPSM_SF_WIN) && s->win > s->max_win)
		s->max_win = s->win;
	if ((s->flags & (TCPSM_SF_ACK | TCPSM_SF_WIN)) == (TCPSM_SF_ACK | TCPSM_SF_WIN)) {
		uint32_t e = s->ack + s->win;
		if (!(s->xflags & TCPSM_XF_RWE) || AFTER(e, s->rwe)) {
			s->rwe = e;
			s->xflags |= TCPSM_XF_RWE;
		}
	}
	if ((th & MP_TH_SYN) && has_ts(md))
		s->xflags |= TCPSM_XF_TS;

	if (a->rst) {
		rc->flags |= TCPSM_RF_RST;
		return 0;
	}
	/* TS.Recent: from a segment at or left of the last ACK it sent
	 * (tcp_replace_ts_recent(): !after(seq, rcv_wup)), never backwards. */
	if (has_ts(md)) {
		uint32_t wup = (r->flags & TCPSM_SF_ACK) ? r->ack : rc->nxt;
		if ((th & MP_TH_SYN) || !(rc->flags & TCPSM_RF_TSR) ||
		    (!AFTER(md->seq, wup) && (int32_t)(md->opt.tsval - rc->ts_recent) >= 0)) {
			rc->ts_recent = md->opt.tsval;
			rc->flags |= TCPSM_RF_TSR;
		}
	}
	uint32_t off = md->seq;
	if (th & MP_TH_SYN) {
		if (!(rc->flags & TCPSM_RF_NXT) || !AFTER(rc->nxt, md->seq + 1) || r->state <= MP_TCP_ST_SYN_RCVD) {
			rc->nxt = md->seq + 1;
			rc->n_ooo = 0;
			rc->flags |= TCPSM_RF_NXT;
		}
		off++;
	}
	if (!(rc->flags & TCPSM_RF_NXT))
		return 0;
	if (a->take)
		fresh = rcv_add(rc, off, off + a->take);
	if (a->fin) {
		uint32_t fs = off + a->take;
		if (rc->nxt == fs && !(rc->flags & TCPSM_RF_FIN)) {
			rc->fin = fs;
			rc->nxt = fs + 1;
			rc->flags |= TCPSM_RF_FIN;
		} else if (AFTER(fs, rc->nxt) && !(rc->flags & TCPSM_RF_FIN)) {
			rc->finq = fs; /* taken when the bytes before it come */
			rc->flags |= TCPSM_RF_FINQ;
		}
	}
	return fresh;
}

/* ---- the stream ------------------------------------------------------------------ */

/* Urgent bytes taken out before sequence number x (the last TCPSM_URG_KEEP
 * are remembered; older ones are taken to lie before x). */
static uint32_t urg_before(const struct tcpsm_rcv *rc, uint32_t x)
{
	uint32_t n = rc->urg_n;
	unsigned kept = rc->urg_n < TCPSM_URG_KEEP ? rc->urg_n : TCPSM_URG_KEEP;
	for (unsigned i = 0; i < kept; i++)
		if (!BEFORE(rc->urg_at[TCPSM_URG_KEEP - 1 - i], x))
			n--;
	return n;
}

/* tcp_check_urg() with a prompt reader: a pointer to a byte not yet
 * received, and beyond the one awaited, becomes the urgent byte (BSD
 * convention, tcp_stdurg = 0: the byte before the pointer). */
static void urg_pointer(struct tcpsm_inst *ti, struct tcpsm_rcv *rc, const struct mp_meta *md)
{
	uint32_t ptr = md->seq + md->opt.urp - (md->opt.urp ? 1 : 0);
	if (!(rc->flags & TCPSM_RF_NXT) || BEFORE(ptr, rc->nxt))
		return;
	if ((rc->flags & TCPSM_RF_URG) && !AFTER(ptr, rc->urg))
		return;
	/* A byte taken out already but not yet in order (it came out of
	 * order) is inline for Linux once a newer pointer replaces it. */
	if (rc->urg_n && !BEFORE(rc->urg_at[TCPSM_URG_KEEP - 1], rc->nxt))
		tcpsm_ctr(ti, TCPSM_C_URGENT_AMBIGUOUS, 1);
	rc->urg = ptr;
	rc->flags |= TCPSM_RF_URG;
}

unsigned tcpsm_accept_stream(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned rside, const struct mp_meta *md,
                             const uint8_t *payload, uint32_t take, uint32_t cap, uint32_t *ev)
{
	struct tcpsm_rcv *rc = &f->s[rside].rcv;
	uint32_t seq = md->seq + ((md->tcp_flags & MP_TH_SYN) ? 1 : 0), flags = 0;
	unsigned err = 0;
	if (md->tcp_flags & MP_TH_URG)
		urg_pointer(ti, rc, md);
	if (!take)
		return 0;
	if (cap > take)
		cap = take;
	/* The urgent byte, when it is in this segment. */
	int in = (rc->flags & TCPSM_RF_URG) && !BEFORE(rc->urg, seq) && BEFORE(rc->urg, seq + take);
	if (in) {
		rc->flags &= (uint16_t)~TCPSM_RF_URG;
		err = TCPSM_ERR_URGENT;
		if (ti->p.urgent == MP_URGENT_INLINE) {
			tcpsm_ctr(ti, TCPSM_C_URGENT_INLINE, 1);
		} else {
			tcpsm_ctr(ti, TCPSM_C_URGENT_REMOVED, 1);
			memmove(&rc->urg_at[0], &rc->urg_at[1], (TCPSM_URG_KEEP - 1) * sizeof(rc->urg_at[0]));
			rc->urg_at[TCPSM_URG_KEEP - 1] = rc->urg;
			rc->urg_n++;
		}
	}
	if (!rc->urg_n) {
		flags = tcpsm_reasm_data(ti, f, rside, seq, payload, take, payload ? cap : 0, ev);
	} else {
		/* Pieces between the urgent bytes taken out, each at its place
		 * in the stream: a sequence number less the bytes taken out
		 * before it. */
		uint32_t a = seq, e = seq + take;
		while (BEFORE(a, e)) {
			uint32_t b = e;
			for (unsigned i = 0; i < TCPSM_URG_KEEP && i < rc->urg_n; i++) {
				uint32_t u = rc->urg_at[TCPSM_URG_KEEP - 1 - i];
				if (!BEFORE(u, a) && BEFORE(u, b))
					b = u;
			}
			if (BEFORE(a, b)) {
				uint32_t o = a - seq, n = b - a;
				uint32_t c = cap > o ? (cap - o < n ? cap - o : n) : 0;
				flags |= tcpsm_reasm_data(ti, f, rside, a - urg_before(rc, a),
				                          payload ? payload + o : NULL, n, payload ? c : 0, ev);
			}
			a = b == e ? e : b + 1; /* over the byte taken out */
		}
	}
	if (flags & REASM_F_BEYOND) {
		tcpsm_ctr(ti, TCPSM_C_REASM_BEYOND, 1);
		err = err ? err : TCPSM_ERR_BEYOND;
	}
	if (flags & REASM_F_RUNS)
		tcpsm_ctr(ti, TCPSM_C_REASM_RUNS_FULL, 1);
	/* The buffer's own errors (tcpsm_reasm_data() counted them). */
	if (!err && (flags & REASM_F_DIFF))
		err = TCPSM_ERR_OVERLAP;
	if (!err && (flags & REASM_F_FULL))
		err = TCPSM_ERR_BUF_FULL;
	if (!err && (flags & REASM_F_NOMEM))
		err = TCPSM_ERR_NOMEM;
	if (err)
		*ev |= MP_ON_ERROR;
	return err;
}
