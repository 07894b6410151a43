/* The packet buffer pool, filled as it is used (mbufpool.c). */
#ifndef MP_MBUFPOOL_H
#define MP_MBUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_mempool.h>
#include <rte_spinlock.h>

/* A pool populated a chunk at a time (no hugepages, no PCI). */
struct mp_mbuf_lazy {
	int full;            /* every chunk populated: read without the lock */
	unsigned low;        /* grow when the pool's ring holds fewer free objects */
	char *base;          /* reserved mapping of n_chunks * chunk_bytes */
	size_t chunk_bytes;  /* a whole number of pages */
	unsigned n_chunks;   /* chunks reserved */
	unsigned done;       /* chunks populated (under lock) */
	rte_spinlock_t lock; /* growth: one rx instance at a time */
};

/* A pktmbuf pool of n mbufs (as rte_pktmbuf_pool_create_by_ops, with our
 * driver); whole: made and filled at once, in DPDK memory (a device takes
 * its memory as one region). *lazy: the growth state when it is populated
 * lazily, else NULL.
 * @return the pool, or NULL with rte_errno set. */
struct rte_mempool *mp_mbuf_pool_create(const char *name, unsigned n, unsigned cache, uint16_t priv_size,
                                        uint16_t data_room, int socket, int whole, struct mp_mbuf_lazy **lazy);

/* Populates one more chunk now (any lcore; a no-op while another grows it).
 * @return objects added, 0 when full or busy, < 0 on error. */
int mp_mbuf_pool_grow(struct rte_mempool *mp, struct mp_mbuf_lazy *lz);

void mp_mbuf_pool_keep_slow(struct rte_mempool *mp, struct mp_mbuf_lazy *lz);

/* Before taking a burst: grows the pool when its free objects run low. */
static inline void mp_mbuf_pool_keep(struct rte_mempool *mp, struct mp_mbuf_lazy *lz)
{
	if (unlikely(lz != NULL) && !__atomic_load_n(&lz->full, __ATOMIC_RELAXED))
		mp_mbuf_pool_keep_slow(mp, lz);
}

/* Frees the pool and its mapping. */
void mp_mbuf_pool_free(struct rte_mempool *mp, struct mp_mbuf_lazy *lz);

/* The mempool drivers' populate hook (asan.c, tsan.c use it too): makes
 * each object an mbuf before DPDK adds it to a pktmbuf pool. */
int mp_mbuf_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova, size_t len,
                     rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg);

#endif
