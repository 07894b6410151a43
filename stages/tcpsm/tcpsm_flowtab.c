/* tcpsm flow table, the lowest layer of the stage: the instance's private
 * open-addressing table (linear probing, backward-shift deletion, keyed by
 * the direction-free 5-tuple), the flow pool and its slot numbers, every
 * list a flow sits on (timer lists, reclaim and buffer queues), flow
 * creation (with eviction or refusal when full) and flow end (out of the tables and lists,
 * then handed to on_end for retirement); and the accessors of tcpsm.h that
 * read a flow. Calls nothing else of tcpsm (README.md, "Layers"). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#include <rte_ring.h>

#include "asan.h"
#include "conf-types.h"
#include "conntable.h"
#include "tcpsm-int.h"
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
	p->buf_nohist = !c->buf_history;
	p->prefault = c->prefault == MP_YES; /* auto: tcpsm_init, which sees the ports */
	p->policy = c->policy;
	p->urgent = c->urgent;
	p->min_ttl = c->min_ttl;
	p->n_policy_nets = c->n_policy_nets;
	memcpy(p->policy_nets, c->policy_nets, sizeof(p->policy_nets));
}

unsigned tcpsm_pool_size(const struct tcpsm_params *p)
{
	/* Room for the table's flows plus those ended but not yet retired.
	 * An ended flow comes back after its control mbuf crossed the
	 * pipeline and an RCU grace period: liburcu's call_rcu thread runs
	 * its callbacks in batches 10 ms apart, so a full table evicting at
	 * the packet rate of a flood (1-2 M/s here) has 10-40K flows in
	 * retirement at once, more when that thread waits for a CPU. With
	 * the former flows / 16 + 256 a 16K table refused 85% of new flows
	 * under 1 M SYNs + 1 M ACKs for want of an object (flow_pool_empty),
	 * real connections among them; at flows / 16 with a floor of 16K, the
	 * default table still refused 1.3% of 20 M on this loaded 2-core VM
	 * (bench/flood.py). */
	unsigned slack = p->retire_slack ? p->retire_slack : p->flows / 4 > 16384 ? p->flows / 4 : 16384;
	return p->flows + slack + 256;
}

unsigned tcpsm_flow_slots(const struct mp_conf *c)
{
	struct tcpsm_params p;
	tcpsm_params_from_conf(&p, c);
	return tcpsm_pool_size(&p);
}

/* An anonymous mapping of bytes, untouched (pages come on first write, and
 * as transparent huge pages where the kernel gives them), or NULL. */
static void *map_lazy(size_t bytes)
{
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* The flow table is walked at random by flow hash: huge pages spare
	 * the TLB misses (no hugetlbfs on the machines we run on). */
	(void)madvise(m, bytes, MADV_HUGEPAGE);
	return m;
}

/* [tcp] prefault: every page of [m, m + bytes) written now, so that no
 * packet waits for its fault. The kernel does it in one call since Linux
 * 5.14 (MADV_POPULATE_WRITE, no store of ours); before, a store per page
 * (the mapping is fresh: zeroes, and zero is written). On this project's
 * VM a first touch costs what the host pays to back the guest's page:
 * 0.39 s of a 4 M-frame run at 192K flows went to faults in
 * tcpsm_flow_new, 224 cycles a packet (bench/README.md, "Memory floor").
 * @return 0, or -errno if the kernel could not give the pages. */
static int prefault(void *m, size_t bytes)
{
	if (madvise(m, bytes, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	for (size_t o = 0; o < bytes; o += 4096)
		((volatile char *)m)[o] = 0;
	return 0;
}

static int prefault_all(struct tcpsm_inst *ti, uint64_t tab_pages)
{
	int r;
	/* Written whole now, the table may as well be on huge pages: every
	 * packet's slot is a random one, and with 4 KiB pages nearly each is a
	 * TLB miss (a nested page walk in a VM). Lazy, it keeps 4 KiB pages. */
	(void)madvise(ti->tab, ti->tab_bytes, MADV_HUGEPAGE);
	if ((r = prefault(ti->arr, ti->arr_bytes)) < 0 || (r = prefault(ti->tab, ti->tab_bytes)) < 0 ||
	    (r = prefault(ti->free_ring, ti->free_ring_bytes)) < 0) {
		fprintf(stderr,
		        "mospipe: [tcp] prefault: the kernel could not give the flow state's %zu MiB (%s): lower "
		        "[tcp] flows, or set prefault = no\n",
		        (ti->arr_bytes + ti->tab_bytes + ti->free_ring_bytes) >> 20, strerror(-r));
		return r;
	}
	/* Every table page is written: none can map the zero page now. */
	memset(ti->tab_pg, 0xff, (tab_pages + 63) / 64 * sizeof(*ti->tab_pg));
	memset((void *)ti->rel, 0, ti->n_obj * sizeof(*ti->rel));
	return 0;
}

int tcpsm_flowtab_init(struct tcpsm_inst *ti)
{
	uint64_t slots = 16;
	unsigned n = tcpsm_pool_size(&ti->p);

	/* Load factor at most 1/2 keeps linear probes short. */
	while (slots < 2ULL * ti->p.flows)
		slots <<= 1;
	/* Pages come on first write, never read before it (tab_pg,
	 * tcpsm_tab_pg_used); 4 KiB ones, so a run's memory follows its flows. */
	ti->tab_bytes = (size_t)slots * sizeof(*ti->tab);
	ti->tab = mmap(NULL, ti->tab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ti->tab == MAP_FAILED) {
		ti->tab = NULL;
		return -ENOMEM;
	}
	uint64_t pages = (slots + TCPSM_TAB_PG_SLOTS - 1) / TCPSM_TAB_PG_SLOTS;
	if (!(ti->tab_pg = calloc((pages + 63) / 64, sizeof(*ti->tab_pg))))
		return -ENOMEM;
	ti->mask = (uint32_t)(slots - 1);
	if (!(ti->rel = calloc(n, sizeof(*ti->rel))))
		return -ENOMEM;
	/* The objects: reserved, not touched. A default table (262144 flows
	 * and the retire slack) used to be a DPDK mempool initialised in full
	 * at start, ~300 MB written before the first packet; now a run that
	 * sees 40 flows touches a few pages. The free ring: multi-producer
	 * (the call_rcu thread gives retired flows back), single consumer. */
	ti->n_obj = n;
	ti->arr_bytes = (size_t)n * sizeof(struct tcpsm_flow);
	ssize_t rb = rte_ring_get_memsize_elem(sizeof(void *), rte_align32pow2(n + 1)); /* RING_F_EXACT_SZ */
	if (rb < 0)
		return -EINVAL;
	ti->free_ring_bytes = (size_t)rb;
	if (!(ti->arr = map_lazy(ti->arr_bytes)) || !(ti->free_ring = map_lazy(ti->free_ring_bytes)))
		return -ENOMEM;
	int r;
	if (ti->p.prefault && (r = prefault_all(ti, pages)) < 0)
		return r;
	if (rte_ring_init(ti->free_ring, "tcpsm_free", n, RING_F_SC_DEQ | RING_F_EXACT_SZ) != 0)
		return -EINVAL;
	for (unsigned l = 0; l < TCPSM_L_N; l++)
		TAILQ_INIT(&ti->lists[l]);
	TAILQ_INIT(&ti->reclaimq);
	TAILQ_INIT(&ti->bufq);
	return 0;
}

void tcpsm_flowtab_fini(struct tcpsm_inst *ti)
{
	if (ti->tab)
		munmap(ti->tab, ti->tab_bytes);
	ti->tab = NULL;
	free(ti->tab_pg);
	ti->tab_pg = NULL;
	free((void *)ti->rel);
	ti->rel = NULL;
	if (ti->arr) {
		/* Shadow of the objects ever handed out, before the pages go
		 * (the range may be mapped again). */
		MP_ASAN_UNPOISON(ti->arr, (size_t)ti->n_bumped * sizeof(struct tcpsm_flow));
		munmap(ti->arr, ti->arr_bytes);
	}
	if (ti->free_ring)
		munmap(ti->free_ring, ti->free_ring_bytes);
	ti->arr = NULL;
	ti->free_ring = NULL;
}

struct tcpsm_flow *tcpsm_table_find(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash)
{
	for (uint32_t i = hash & ti->mask;; i = (i + 1) & ti->mask) {
		struct tcpsm_slot *s = &ti->tab[i];
		if (!tcpsm_tab_pg_used(ti, i) || !s->f)
			return NULL;
		if (s->hash == hash && memcmp(&s->f->key, k, sizeof(*k)) == 0)
			return s->f;
	}
}

static void table_insert(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	uint32_t i = f->hash & ti->mask;
	while (tcpsm_tab_pg_used(ti, i) && ti->tab[i].f)
		i = (i + 1) & ti->mask;
	uint32_t pg = i / TCPSM_TAB_PG_SLOTS;
	ti->tab_pg[pg >> 6] |= 1ull << (pg & 63);
	ti->tab[i].hash = f->hash;
	ti->tab[i].f = f;
}

/* Backward-shift deletion: no tombstones, so probes stay short forever. */
static void table_remove(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	uint32_t i = f->hash & ti->mask;
	for (;; i = (i + 1) & ti->mask) {
		if (!tcpsm_tab_pg_used(ti, i) || !ti->tab[i].f)
			return;
		if (ti->tab[i].f == f)
			break;
	}
	ti->tab[i].f = NULL;
	for (uint32_t j = (i + 1) & ti->mask; tcpsm_tab_pg_used(ti, j) && ti->tab[j].f; j = (j + 1) & ti->mask) {
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

/* A flow object: a freed one first (its pages are warm), else the next
 * never used. Owning thread only. */
static struct tcpsm_flow *pool_get(struct tcpsm_inst *ti)
{
	void *o;
	if (rte_ring_sc_dequeue(ti->free_ring, &o) == 0) {
		MP_TSAN_ACQUIRE(o); /* freed by the call_rcu thread (tcpsm.c) */
		MP_ASAN_UNPOISON(o, sizeof(struct tcpsm_flow));
		return o;
	}
	if (ti->n_bumped == ti->n_obj)
		return NULL;
	struct tcpsm_flow *f = &ti->arr[ti->n_bumped];
	/* Each object keeps its slot for life: flow creation keeps it. */
	f->slot = ti->slot_base + ti->n_bumped++;
	return f;
}

/* A quarter, not a half: once new flows stop being published, the table's
 * published flows still retire through the grace period as they are
 * evicted, so at most slack / 4 + flows are then in retirement: within the
 * slack for tables up to 3/4 of it (12K flows at the 16K floor). */
void tcpsm_pool_watch(struct tcpsm_inst *ti)
{
	unsigned n = tcpsm_pool_size(&ti->p);
	unsigned avail = rte_ring_count(ti->free_ring) + (ti->n_obj - ti->n_bumped);
	unsigned used = n - (avail < n ? avail : n);
	unsigned retiring = used > ti->n_active ? used - ti->n_active : 0;
	ti->pool_low = retiring > (n - ti->p.flows) / 4;
}

void tcpsm_flowtab_put(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	/* Poisoned while free (runtime/asan.h): a stage or reader touching a
	 * retired flow is reported, except the seqlock readers that retry. */
	MP_ASAN_POISON(f, sizeof(*f));
	/* Room for every object: the put cannot fail. */
	rte_ring_mp_enqueue(ti->free_ring, f);
}

void tcpsm_list_set(struct tcpsm_inst *ti, struct tcpsm_flow *f, unsigned list, uint64_t ts)
{
	if (f->list < TCPSM_L_N)
		TAILQ_REMOVE(&ti->lists[f->list], f, tq);
	f->list = (uint8_t)list;
	f->list_ts = ts;
	TAILQ_INSERT_TAIL(&ti->lists[list], f, tq);
}

void tcpsm_rq_add(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	tcpsm_bq_del(ti, f); /* closed: the reclaim queue's from now on */
	if (f->in_rq)
		return;
	TAILQ_INSERT_TAIL(&ti->reclaimq, f, rq);
	f->in_rq = 1;
}

void tcpsm_bq_add(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	if (f->in_bq)
		return;
	TAILQ_INSERT_TAIL(&ti->bufq, f, bq);
	f->in_bq = 1;
	f->bq_ts = f->last_ts;
}

void tcpsm_bq_del(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	if (!f->in_bq)
		return;
	TAILQ_REMOVE(&ti->bufq, f, bq);
	f->in_bq = 0;
}

void tcpsm_bq_requeue(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	tcpsm_bq_del(ti, f);
	tcpsm_bq_add(ti, f);
}

void tcpsm_rq_del(struct tcpsm_inst *ti, struct tcpsm_flow *f)
{
	if (!f->in_rq)
		return;
	TAILQ_REMOVE(&ti->reclaimq, f, rq);
	f->in_rq = 0;
}

/* Makes room for one flow when the table is full (README.md, "Eviction"):
 *  1. a closed flow (TIME_WAIT, after RST), the earliest closed: its
 *     connection is over, it only waits for stragglers;
 *  2. an unconfirmed flow, the least recently active of the half-open ones
 *     (no handshake completed) and of those picked up mid-stream that were
 *     never confirmed (TCPSM_L_UNCONF): what a flood of SYNs or spoofed
 *     ACKs creates, and what it evicts first, its own oldest state;
 *  3. nothing: established, confirmed flows are never evicted; the new flow
 *     is refused (counted) and passes as an orphan.
 * Each step looks at list heads only: O(1). @return 0, or -ENOSPC. */
static int make_room(struct tcpsm_inst *ti)
{
	struct tcpsm_flow *v, *u;
	if (ti->n_active < ti->p.flows)
		return 0;
	if (ti->p.table_full != MP_FULL_EVICT)
		return -ENOSPC;
	if ((v = TAILQ_FIRST(&ti->lists[TCPSM_L_CLOSED]))) {
		tcpsm_ctr(ti, TCPSM_C_EVICTED_CLOSED, 1);
		tcpsm_flow_end(ti, v, v->end);
		return 0;
	}
	v = TAILQ_FIRST(&ti->lists[TCPSM_L_HALF]);
	u = TAILQ_FIRST(&ti->lists[TCPSM_L_UNCONF]);
	if (u && (!v || u->list_ts < v->list_ts))
		v = u;
	if (v) {
		tcpsm_ctr(ti, v == u ? TCPSM_C_EVICTED_UNCONF : TCPSM_C_EVICTED_HALF, 1);
		tcpsm_flow_end(ti, v, TCPSM_END_EVICTED);
		return 0;
	}
	return -ENOSPC;
}

struct tcpsm_flow *tcpsm_flow_new(struct tcpsm_inst *ti, const struct tcpsm_key *k, uint32_t hash, uint64_t ts)
{
	struct tcpsm_flow *f;

	/* The object first: without one, evicting a flow would only lose it. */
	if (!(f = pool_get(ti))) {
		tcpsm_ctr(ti, TCPSM_C_POOL_EMPTY, 1);
		return NULL;
	}
	if (make_room(ti) < 0) {
		tcpsm_flowtab_put(ti, f);
		tcpsm_ctr(ti, TCPSM_C_TABLE_FULL_REFUSED, 1);
		return NULL;
	}
	uint32_t slot = f->slot;
	memset(f, 0, sizeof(*f));
	f->slot = slot;
	f->ti = ti;
	/* The object's previous flow was retired: nothing releases it any more. */
	atomic_store_explicit(&ti->rel[slot - ti->slot_base], 0, memory_order_relaxed);
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
	f->published = 1;
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
	tcpsm_rq_del(ti, f);
	tcpsm_bq_del(ti, f);
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
		tcpsm_flowtab_put(ti, f); /* teardown: the buffer pool goes next */
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
	tcpsm_flow_snap(f, o);
}

/* ---- tcpsm.h accessors --------------------------------------------------- */

void tcpsm_flow_snap(const struct tcpsm_flow *f, struct mp_conn_snap *o)
{
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

uint32_t tcpsm_flow_ctl(const struct tcpsm_flow *f)
{
	return __atomic_load_n(&f->ctl, __ATOMIC_ACQUIRE);
}

void tcpsm_flow_ctl_set(struct tcpsm_flow *f, uint32_t bits)
{
	/* Release: a size stored by tcpsm_flow_want_size() before is seen by
	 * tcpsm's acquire load of the word that shows the RESIZE bit. */
	__atomic_fetch_or(&f->ctl, bits, __ATOMIC_RELEASE);
}

void tcpsm_flow_ctl_clear(struct tcpsm_flow *f, uint32_t bits)
{
	__atomic_fetch_and(&f->ctl, ~bits, __ATOMIC_RELAXED);
}

void tcpsm_flow_want_size(struct tcpsm_flow *f, unsigned side, uint32_t size)
{
	__atomic_store_n(&f->want_size[side & 1], size, __ATOMIC_RELAXED);
}

uint32_t tcpsm_flow_slot(const struct tcpsm_flow *f)
{
	return f->slot;
}

struct reasm *tcpsm_flow_buf(const struct tcpsm_flow *f, unsigned side)
{
	return (struct reasm *)__atomic_load_n(&f->s[side & 1].buf, __ATOMIC_ACQUIRE);
}

int tcpsm_flow_addr(const struct tcpsm_flow *f, unsigned side, uint8_t addr[16], uint16_t *port)
{
	int a = (side == 0) == (f->cli_is_a != 0);
	memcpy(addr, a ? f->key.a : f->key.b, 16);
	*port = a ? f->key.pa : f->key.pb;
	return f->key.v6;
}

uint32_t tcpsm_flow_base_seq(const struct tcpsm_flow *f, unsigned side)
{
	return f->s[side & 1].base_seq;
}

uint64_t tcpsm_flow_missed(const struct tcpsm_flow *f, unsigned side)
{
	return tcpsm_side_missed(&f->s[side & 1]);
}

uint64_t tcpsm_flow_rexmit_bytes(const struct tcpsm_flow *f, unsigned side)
{
	return f->s[side & 1].rexmit_bytes;
}
