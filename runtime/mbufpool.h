/* The packet buffer pool, filled as it is used (mbufpool.c). */
#ifndef MP_MBUFPOOL_H
#define MP_MBUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
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

/* ---- frames in memory the pool does not own -------------------------------
 * rx reads a mapped capture without copying: the mbuf is attached to the
 * record's bytes in the mapping as an external buffer (DPDK's extbuf), the
 * mapping outliving every mbuf of the run. The extbuf's shared-info word
 * lives at the start of the mbuf's own data room, unused while attached and
 * in the cache line the metadata's tail shares; freeing the mbuf detaches
 * it (nothing to release). A frame attached so has no headroom or tailroom:
 * what must grow it (the API's MOS_INSERT) takes it into the mbuf's own
 * room first (mp_mbuf_unshare). */
void mp_mbuf_ext_noop_free(void *addr, void *opaque);

static inline void mp_mbuf_attach_bytes(struct rte_mbuf *m, const void *data, uint16_t len)
{
	struct rte_mbuf_ext_shared_info *sh = (struct rte_mbuf_ext_shared_info *)m->buf_addr;
	sh->free_cb = mp_mbuf_ext_noop_free;
	sh->fcb_opaque = NULL;
	rte_mbuf_ext_refcnt_set(sh, 1);
	rte_pktmbuf_attach_extbuf(m, (void *)(uintptr_t)data, RTE_BAD_IOVA, len, sh);
	m->data_len = len;
	m->pkt_len = len;
}

/* Gives an attached single-segment mbuf its bytes in its own data room
 * (after the usual headroom), detached. @return 0 (also when it was not
 * attached), or -ENOSPC when the frame does not fit there. */
int mp_mbuf_unshare(struct rte_mbuf *m);

/* Frees the pool and its mapping. */
void mp_mbuf_pool_free(struct rte_mempool *mp, struct mp_mbuf_lazy *lz);

/* The mempool drivers' populate hook (asan.c, tsan.c use it too): makes
 * each object an mbuf before DPDK adds it to a pktmbuf pool. */
int mp_mbuf_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova, size_t len,
                     rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg);

#endif
