/* TSan builds only (make TSAN=1): a mempool driver that tells TSan about
 * objects changing threads through the pool (see tsan.h). It is the ring
 * driver plus an annotation per object: released on put, acquired on get.
 * Per-lcore mempool caches are inline code (instrumented) and stay on one
 * thread, so only what crosses the shared ring needs this. */
#include <stddef.h>

#include "tsan.h"

#ifdef MP_TSAN
#include <errno.h>
#include <stdio.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "mbufpool.h"

char mp_tsan_rcu_token, mp_tsan_barrier_token;

static int tsan_alloc(struct rte_mempool *mp)
{
	char name[RTE_RING_NAMESIZE + RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "t_%.*s", (int)RTE_RING_NAMESIZE - 3, mp->name);
	struct rte_ring *r = rte_ring_create(name, rte_align32pow2(mp->size + 1), mp->socket_id, 0);
	if (!r)
		return -rte_errno;
	mp->pool_data = r;
	return 0;
}

static void tsan_free(struct rte_mempool *mp)
{
	rte_ring_free(mp->pool_data);
}

static int tsan_enqueue(struct rte_mempool *mp, void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__tsan_release(objs[i]);
	return rte_ring_mp_enqueue_bulk(mp->pool_data, objs, n, NULL) == 0 ? -ENOBUFS : 0;
}

static int tsan_dequeue(struct rte_mempool *mp, void **objs, unsigned n)
{
	if (rte_ring_mc_dequeue_bulk(mp->pool_data, objs, n, NULL) == 0)
		return -ENOBUFS;
	for (unsigned i = 0; i < n; i++)
		__tsan_acquire(objs[i]);
	return 0;
}

static unsigned tsan_count(const struct rte_mempool *mp)
{
	return rte_ring_count(mp->pool_data);
}

static struct rte_mempool_ops tsan_ops = {
    .name = "mp_tsan_ring",
    .alloc = tsan_alloc,
    .free = tsan_free,
    .enqueue = tsan_enqueue,
    .dequeue = tsan_dequeue,
    .get_count = tsan_count,
    .populate = mp_mbuf_populate, /* mbufpool.c */
};
RTE_MEMPOOL_REGISTER_OPS(tsan_ops);

const char *mp_tsan_pool_ops(void)
{
	return tsan_ops.name;
}
#else
const char *mp_tsan_pool_ops(void)
{
	return NULL;
}
#endif
