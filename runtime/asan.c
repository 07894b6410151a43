/* The ASan mempool driver (see asan.h): DPDK's ring driver, plus poisoning
 * of each object as it goes back to the pool and unpoisoning as it leaves.
 * The range of object addresses a pool ever held is kept so that it can be
 * unpoisoned when the pool goes away: DPDK frees a pool's memory before it
 * calls the driver's free, and that memory (DPDK's heap) is handed out
 * again, which must not find it poisoned. */
#include <stdint.h>

#include "asan.h"
#include "tsan.h"

#ifdef MP_ASAN
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "mbufpool.h"

/* A pool's driver data. Concurrency: the ring is multi-producer and
 * multi-consumer (any lcore frees and allocates); lo/hi grow while the pool
 * is populated, on the thread creating it, and only widen after that, with
 * compare-and-swap. */
struct asan_pool {
	struct rte_ring *r;
	uintptr_t lo, hi;
	/* Set at the first allocation. Until then objects go in unpoisoned:
	 * DPDK fills the pool, then initialises every object in it (e.g.
	 * rte_pktmbuf_init through rte_mempool_obj_iter, with a memset ASan
	 * intercepts), before anything is taken out. */
	int armed;
};

static int asan_alloc(struct rte_mempool *mp)
{
	char name[RTE_RING_NAMESIZE + RTE_MEMPOOL_NAMESIZE];
	struct asan_pool *ap = calloc(1, sizeof(*ap));
	if (!ap)
		return -ENOMEM;
	snprintf(name, sizeof(name), "a_%.*s", (int)RTE_RING_NAMESIZE - 3, mp->name);
	ap->r = rte_ring_create(name, rte_align32pow2(mp->size + 1), mp->socket_id, 0);
	if (!ap->r) {
		free(ap);
		return -rte_errno;
	}
	ap->lo = UINTPTR_MAX;
	mp->pool_data = ap;
	return 0;
}

static void asan_free(struct rte_mempool *mp)
{
	struct asan_pool *ap = mp->pool_data;
	if (ap->hi > ap->lo)
		MP_ASAN_UNPOISON((void *)ap->lo, ap->hi - ap->lo);
	rte_ring_free(ap->r);
	free(ap);
}

static void widen(struct asan_pool *ap, uintptr_t a, uintptr_t e)
{
	uintptr_t v = __atomic_load_n(&ap->lo, __ATOMIC_RELAXED);
	while (a < v && !__atomic_compare_exchange_n(&ap->lo, &v, a, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	v = __atomic_load_n(&ap->hi, __ATOMIC_RELAXED);
	while (e > v && !__atomic_compare_exchange_n(&ap->hi, &v, e, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static int asan_enqueue(struct rte_mempool *mp, void *const *objs, unsigned n)
{
	struct asan_pool *ap = mp->pool_data;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)objs[i];
		if (a < ap->lo || a + mp->elt_size > ap->hi)
			widen(ap, a, a + mp->elt_size);
		if (__atomic_load_n(&ap->armed, __ATOMIC_RELAXED))
			MP_ASAN_POISON(objs[i], mp->elt_size);
	}
	return rte_ring_mp_enqueue_bulk(ap->r, objs, n, NULL) == 0 ? -ENOBUFS : 0;
}

static int asan_dequeue(struct rte_mempool *mp, void **objs, unsigned n)
{
	struct asan_pool *ap = mp->pool_data;
	if (rte_ring_mc_dequeue_bulk(ap->r, objs, n, NULL) == 0)
		return -ENOBUFS;
	__atomic_store_n(&ap->armed, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++)
		MP_ASAN_UNPOISON(objs[i], mp->elt_size);
	return 0;
}

static unsigned asan_count(const struct rte_mempool *mp)
{
	const struct asan_pool *ap = mp->pool_data;
	return rte_ring_count(ap->r);
}

static struct rte_mempool_ops asan_ops = {
    .name = "mp_asan_ring",
    .alloc = asan_alloc,
    .free = asan_free,
    .enqueue = asan_enqueue,
    .dequeue = asan_dequeue,
    .get_count = asan_count,
    .populate = mp_mbuf_populate, /* mbufpool.c */
};
RTE_MEMPOOL_REGISTER_OPS(asan_ops);

const char *mp_san_pool_ops(void)
{
	return asan_ops.name;
}

unsigned mp_san_pool_cache(unsigned want)
{
	(void)want;
	return 0;
}
#else
const char *mp_san_pool_ops(void)
{
	return mp_tsan_pool_ops();
}

unsigned mp_san_pool_cache(unsigned want)
{
	return want;
}
#endif
