/* tcpsm flow table: the instance's private open-addressing table (linear
 * probing, backward-shift deletion, keyed by the direction-free 5-tuple),
 * the flow pool, flow creation (with eviction or refusal when full) and flow
 * end (out of both tables, then handed to on_end for retirement). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash_crc.h>
#include <rte_mempool.h>

#include "conf-types.h"
#include "conntable.h"
#include "tcpsm.h"
#include "tsan.h"

void tcpsm_params_from_conf(struct tcpsm_params *p, const struct mp_conf *c)
{
	memset(p, 0, sizeof(*p));
	p->flows = c->flows;
	p->table_full = c->table_full;
	p->midstream = c->midstream;
	p->overlap = c->overlap;
	p->csum_verify = c->checksum == MP_CSUM_VERIFY;
	p->idle_ns = c->idle_timeout_ms * 1000000ULL;
	p->syn_ns = c->syn_timeout_ms * 1000000ULL;
	p->tw_ns = c->time_wait_ms * 1000000ULL;
	p->buf_size = c->buf_size;
	p->buf_pool = c->buf_pool;
	p->buf_free_at_end = c->buf_free_at_end;
}

struct tcpsm_inst *tcpsm_inst_create(const struct tcpsm_params *p, unsigned idx, struct rte_mempool *mp, uint64_t *ctr,
                                     struct mp_conntable *ct, tcpsm_end_fn on_end, void *end_arg)
{
	struct tcpsm_inst *ti;
	uint64_t slots = 16;

	if (!p || p->flows == 0) {
		errno = EINVAL;
		return NULL;
	}
	ti = calloc(1, sizeof(*ti));
	if (!ti)
		goto nomem;
	ti->p = *p;
	ti->idx = idx;
	ti->ct = ct;
	ti->on_end = on_end;
	ti->end_arg = end_arg;
	ti->next_id = (uint64_t)idx << 48;
	/* Load factor at most 1/2 keeps linear probes short. */
	while (slots < 2ULL * p->flows)
		slots <<= 1;
	ti->tab = calloc(slots, sizeof(*ti->tab));
	if (!ti->tab)
		goto nomem;
	ti->mask = (uint32_t)(slots - 1);
	if (ctr)
		ti->ctr = ctr;
	else if ((ti->ctr = calloc(TCPSM_C_N, sizeof(uint64_t))))
		ti->own_ctr = 1;
	else
		goto nomem;
	if (mp)
		ti->mp = mp;
	else {
		unsigned n = p->flows + p->flows / 4 + 1;
		ti->arr = calloc(n, sizeof(*ti->arr));
		ti->free_stk = calloc(n, sizeof(*ti->free_stk));
		if (!ti->arr || !ti->free_stk)
			goto nomem;
		for (unsigned i = 0; i < n; i++)
			ti->free_stk[i] = &ti->arr[n - 1 - i];
		ti->n_free = n;
	}
	for (unsigned l = 0; l < TCPSM_L_N; l++)
		TAILQ_INIT(&ti->lists[l]);
	TAILQ_INIT(&ti->reclaimq);
	int r = tcpsm_reasm_setup(ti);
	if (r < 0) {
		tcpsm_inst_destroy(ti);
		errno = -r;
		return NULL;
	}
	return ti;
nomem:
	if (ti) {
		free(ti->tab);
		if (ti->ctr != ctr)
			free(ti->ctr);
		free(ti->arr);
		free(ti->free_stk);
		free(ti);
	}
	errno = ENOMEM;
	return NULL;
}

void tcpsm_inst_destroy(struct tcpsm_inst *ti)
{
	if (!ti)
		return;
	ti->on_end = NULL; /* ended flows go straight back to the pool */
	for (unsigned l = 0; l < TCPSM_L_N; l++)
		while (!TAILQ_EMPTY(&ti->lists[l]))
			tcpsm_flow_end(ti, TAILQ_FIRST(&ti->lists[l]), TCPSM_END_OPEN);
	tcpsm_reasm_teardown(ti);
	if (ti->own_ctr)
		free(ti->ctr);
	free(ti->tab);
	if (!ti->mp) {
		free(ti->arr);
		free(ti->free_stk);
	}
	free(ti);
}

uint32_t tcpsm_key_hash(const struct tcpsm_key *k)
{
	uint32_t h = rte_hash_crc(k, sizeof(*k), 0x5bd1e995u);
	/* Spread the low bits used as the slot index. */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

struct tcpsm_flow *tcpsm_table_find(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash)
{
	for (uint32_t i = hash & ti->mask;; i = (i + 1) & ti->mask) {
		struct tcpsm_slot *s = &ti->tab[i];
		if (!s->f)
			return NULL;
		if (s->hash == hash && memcmp(&s->f->key, k, sizeof(*k)) == 0)
			return s->f;
	}
}

static void table_insert(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	uint32_t i = f->hash & ti->mask;
	while (ti->tab[i].f)
		i = (i + 1) & ti->mask;
	ti->tab[i].hash = f->hash;
	ti->tab[i].f = f;
}

/* Backward-shift deletion: no tombstones, so probes stay short forever. */
static void table_remove(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	uint32_t i = f->hash & ti->mask;
	while (ti->tab[i].f != f) {
		if (!ti->tab[i].f)
			return;
		i = (i + 1) & ti->mask;
	}
	ti->tab[i].f = NULL;
	for (uint32_t j = (i + 1) & ti->mask; ti->tab[j].f; j = (j + 1) & ti->mask) {
		uint32_t home = ti->tab[j].hash & ti->mask;
		/* Entry j may move into hole i unless its home lies cyclically
		 * in (i, j]. */
		int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		ti->tab[i] = ti->tab[j];
		ti->tab[j].f = NULL;
		i = j;
	}
}

static struct tcpsm_flow *pool_get(struct tcpsm_inst *ti)
{
	void *o;
	if (ti->mp) {
		if (rte_mempool_get(ti->mp, &o) != 0)
			return NULL;
		MP_TSAN_ACQUIRE(o); /* freed by the call_rcu thread (tcpsm.c) */
		return o;
	}
	return ti->n_free ? ti->free_stk[--ti->n_free] : NULL;
}

void tcpsm_flow_free(struct tcpsm_flow *f)
{
	struct tcpsm_inst *ti = f->ti;
	tcpsm_reasm_release(ti, f);
	if (ti->mp)
		rte_mempool_put(ti->mp, f);
	else
		ti->free_stk[ti->n_free++] = f;
}

/* Makes room for one flow. @return 0, or -ENOSPC. */
static int make_room(struct tcpsm_inst *ti)
{
	struct tcpsm_flow *v;
	if (ti->n_active < ti->p.flows)
		return 0;
	if (ti->p.table_full != MP_FULL_EVICT)
		return -ENOSPC;
	/* Closed flows only wait out TIME_WAIT: cheapest to let go. Then the
	 * oldest half-open one. Established flows are never evicted. */
	if ((v = TAILQ_FIRST(&ti->lists[TCPSM_L_CLOSED]))) {
		tcpsm_flow_end(ti, v, v->end);
		return 0;
	}
	if ((v = TAILQ_FIRST(&ti->lists[TCPSM_L_HALF]))) {
		tcpsm_flow_end(ti, v, TCPSM_END_EVICTED);
		return 0;
	}
	return -ENOSPC;
}

struct tcpsm_flow *tcpsm_flow_new(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash, uint64_t ts)
{
	struct tcpsm_flow *f;

	if (make_room(ti) < 0) {
		tcpsm_ctr(ti, TCPSM_C_TABLE_FULL_REFUSED, 1);
		return NULL;
	}
	if (!(f = pool_get(ti))) {
		tcpsm_ctr(ti, TCPSM_C_POOL_EMPTY, 1);
		return NULL;
	}
	memset(f, 0, sizeof(*f));
	f->ti = ti;
	f->key = *k;
	f->hash = hash;
	f->id = ti->next_id++;
	f->first_ts = f->last_ts = ts;
	f->s[0].state = MP_TCP_ST_CLOSED;
	f->s[1].state = MP_TCP_ST_LISTEN;
	table_insert(ti, f);
	ti->n_active++;
	f->list = TCPSM_L_N;
	tcpsm_list_set(ti, f, TCPSM_L_HALF, ts);
	tcpsm_ctr(ti, TCPSM_C_FLOWS_NEW, 1);
	return f;
}

void tcpsm_flow_publish(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	if (!ti->ct || f->in_ct)
		return;
	/* Everything a reader takes as fixed (key, roles, midstream, first_ts)
	 * is written before this; cds_lfht's add orders it for readers, and
	 * the annotation tells TSan, which cannot see into liburcu. */
	MP_TSAN_RELEASE(f);
	if (mp_conntable_add(ti->ct, &f->ln, f->hash, &f->key) == 0)
		f->in_ct = 1;
	else
		tcpsm_ctr(ti, TCPSM_C_CONNTABLE_DUP, 1);
}

void tcpsm_flow_end(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned reason)
{
	uint32_t ev = 0;
	static const unsigned end_ctr[] = {
	    [TCPSM_END_NONE] = TCPSM_C_END_OPEN,       [TCPSM_END_FIN] = TCPSM_C_END_FIN,
	    [TCPSM_END_RST] = TCPSM_C_END_RST,         [TCPSM_END_TIMEOUT] = TCPSM_C_END_TIMEOUT,
	    [TCPSM_END_EVICTED] = TCPSM_C_END_EVICTED, [TCPSM_END_OPEN] = TCPSM_C_END_OPEN,
	};

	table_remove(ti, f);
	TAILQ_REMOVE(&ti->lists[f->list], f, tq);
	if (f->in_rq) {
		TAILQ_REMOVE(&ti->reclaimq, f, rq);
		f->in_rq = 0;
	}
	f->list = TCPSM_L_N;
	ti->n_active--;
	if (f->in_ct) {
		mp_conntable_del(ti->ct, &f->ln);
		f->in_ct = 0;
	}
	if (!f->closed) {
		ev |= MP_ON_CONN_END;
		if (reason == TCPSM_END_TIMEOUT)
			ev |= MP_ON_TIMEOUT;
		f->closed = 1;
	}
	f->end = (uint8_t)reason;
	tcpsm_ctr(ti, end_ctr[reason < TCPSM_END_OPEN + 1 ? reason : 0], 1);
	tcpsm_ctr(ti, TCPSM_C_MISSED_BYTES, tcpsm_side_missed(&f->s[0]) + tcpsm_side_missed(&f->s[1]));
	if (ti->on_end)
		ti->on_end(ti, f, ev, ti->end_arg);
	else
		tcpsm_flow_free(f);
}

/* ---- RCU table callbacks ------------------------------------------------ */

int tcpsm_conn_match(const struct cds_lfht_node *node, const void *key)
{
	const struct tcpsm_flow *f = caa_container_of(node, struct tcpsm_flow, ln);
	MP_TSAN_ACQUIRE(f); /* pairs with tcpsm_flow_publish */
	return memcmp(&f->key, key, sizeof(f->key)) == 0;
}

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void tcpsm_conn_snap(const struct cds_lfht_node *node, struct mp_conn_snap *o)
{
	const struct tcpsm_flow *f = caa_container_of(node, struct tcpsm_flow, ln);
	MP_TSAN_ACQUIRE(f); /* pairs with tcpsm_flow_publish */
	/* Key, roles and first_ts never change while the flow is published;
	 * the rest is written by tcpsm as we read (see conntable.h). */
	const uint8_t *ca = f->cli_is_a ? f->key.a : f->key.b, *sa = f->cli_is_a ? f->key.b : f->key.a;
	memset(o, 0, sizeof(*o));
	memcpy(o->cli_addr, ca, 16);
	memcpy(o->svr_addr, sa, 16);
	o->cli_port = f->cli_is_a ? f->key.pa : f->key.pb;
	o->svr_port = f->cli_is_a ? f->key.pb : f->key.pa;
	o->v6 = f->key.v6;
	o->midstream = f->midstream;
	o->cli_state = RD(f->s[0].state);
	o->svr_state = RD(f->s[1].state);
	for (int i = 0; i < 2; i++) {
		o->pkts[i] = RD(f->s[i].pkts);
		o->bytes[i] = RD(f->s[i].sent.high);
		o->rexmit[i] = RD(f->s[i].rexmit);
	}
	o->first_ts_ns = f->first_ts;
	o->last_ts_ns = RD(f->last_ts);
	o->id = f->id;
	o->inst = f->ti->idx;
}

/* ---- names and records ------------------------------------------------- */

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
