/* The packet buffer pool, filled as it is used.
 *
 * rte_pktmbuf_pool_create writes every mbuf of the pool before the first
 * packet: at the default 65,535 mbufs that is ~160 MB of first touches, and
 * it was 1.2-1.5 s of the 2 s `mospipe -r samples/sample.pcap` took (the
 * same run with 4,096 mbufs: 0.5 s; bench/README.md, "Start-up").
 *
 * Here, when no device can DMA into the pool (no hugepages, no PCI: the
 * vdevs we run on copy with the CPU), the pool's memory is a reserved
 * anonymous mapping (transparent huge pages where the kernel gives them)
 * and the mempool is populated a chunk at a time: the first at start, the
 * next when the free objects in the pool's ring fall under a low-water mark
 * (mp_mbuf_pool_keep, called by rx before it takes packets). Objects are
 * initialised (rte_pktmbuf_init) by our mempool driver's populate hook before
 * DPDK enqueues them, so no lcore can take an object that is not ready.
 * The pool's size ([mempool] mbufs) is still the bound on packets in
 * flight; memory grows towards it only as the traffic needs.
 *
 * With hugepages or PCI devices the pool is made as before, whole, in DPDK
 * memory (a NIC needs IOVA-contiguous objects); so it is with an AF_XDP
 * port: DPDK's net_af_xdp registers the pool's memory with the kernel as
 * the socket's UMEM once, from its first object over populated_size
 * objects, so a chunk added later would lie outside it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include "asan.h"
#include "mbufpool.h"
#include "meta.h"
#include "tsan.h"

/* Objects per growth step: ~20 MB of 2 KiB mbufs. */
#define POOL_CHUNK_OBJS 8192u

/* ---- the mempool driver ------------------------------------------------------ */

/* Our populate: DPDK's helper, with each object made an mbuf before DPDK
 * adds it to the pool (obj_cb enqueues it: from then on any lcore may take
 * it). Pools that are not pktmbuf pools pass through untouched. */
struct pop_arg {
	rte_mempool_populate_obj_cb_t *cb;
	void *cb_arg;
	unsigned idx;
};

static void init_then_add(struct rte_mempool *mp, void *opaque, void *obj, rte_iova_t iova)
{
	struct pop_arg *a = opaque;
	/* rte_pktmbuf_init reads the object's IOVA from its header, which
	 * DPDK's callback writes next: write it first. */
	((struct rte_mempool_objhdr *)RTE_PTR_SUB(obj, sizeof(struct rte_mempool_objhdr)))->iova = iova;
	rte_pktmbuf_init(mp, NULL, obj, a->idx++);
	a->cb(mp, a->cb_arg, obj, iova);
}

int mp_mbuf_populate(struct rte_mempool *mp, unsigned max_objs, void *vaddr, rte_iova_t iova, size_t len,
                     rte_mempool_populate_obj_cb_t *obj_cb, void *obj_cb_arg)
{
	/* (DPDK rounds the private size up to a cache line.) */
	if (mp->private_data_size < sizeof(struct rte_pktmbuf_pool_private) || mp->elt_size < sizeof(struct rte_mbuf))
		return rte_mempool_op_populate_helper(mp, 0, max_objs, vaddr, iova, len, obj_cb, obj_cb_arg);
	struct pop_arg a = {obj_cb, obj_cb_arg, mp->populated_size};
	return rte_mempool_op_populate_helper(mp, 0, max_objs, vaddr, iova, len, init_then_add, &a);
}

/* The one driver every pool we create uses, in every build: DPDK's ring
 * driver (a multi-producer, multi-consumer ring), our populate hook, and in
 * sanitizer builds a hook per object crossing the ring: TSan is told of the
 * hand-off (released on put, acquired on get: tsan.h), ASan poisons a free
 * object and unpoisons a taken one (asan.h). Per-lcore mempool caches are
 * inline code and stay on one thread; ASan builds run without them. */
struct ring_pool {
	struct rte_ring *r;
	struct mp_asan_range asan; /* empty outside ASan builds */
};

static int ring_alloc(struct rte_mempool *mp)
{
	char name[RTE_RING_NAMESIZE + RTE_MEMPOOL_NAMESIZE];
	struct ring_pool *p = rte_zmalloc("mp_ring_pool", sizeof(*p), 0);
	if (!p)
		return -ENOMEM;
	snprintf(name, sizeof(name), "m_%.*s", (int)RTE_RING_NAMESIZE - 3, mp->name);
	p->r = rte_ring_create(name, rte_align32pow2(mp->size + 1), mp->socket_id, 0);
	if (!p->r) {
		int e = rte_errno;
		rte_free(p);
		return -e;
	}
	mp_asan_range_init(&p->asan);
	mp->pool_data = p;
	return 0;
}

static void ring_free(struct rte_mempool *mp)
{
	struct ring_pool *p = mp->pool_data;
	mp_asan_range_fini(&p->asan);
	rte_ring_free(p->r);
	rte_free(p);
}

static int ring_enqueue(struct rte_mempool *mp, void *const *objs, unsigned n)
{
	struct ring_pool *p = mp->pool_data;
	for (unsigned i = 0; i < n; i++)
		MP_TSAN_RELEASE(objs[i]);
	mp_asan_put(&p->asan, mp->elt_size, objs, n);
	return rte_ring_mp_enqueue_bulk(p->r, objs, n, NULL) == 0 ? -ENOBUFS : 0;
}

static int ring_dequeue(struct rte_mempool *mp, void **objs, unsigned n)
{
	struct ring_pool *p = mp->pool_data;
	if (rte_ring_mc_dequeue_bulk(p->r, objs, n, NULL) == 0)
		return -ENOBUFS;
	for (unsigned i = 0; i < n; i++)
		MP_TSAN_ACQUIRE(objs[i]);
	mp_asan_get(&p->asan, mp->elt_size, (void *const *)objs, n);
	return 0;
}

static unsigned ring_count(const struct rte_mempool *mp)
{
	const struct ring_pool *p = mp->pool_data;
	return rte_ring_count(p->r);
}

static struct rte_mempool_ops ring_ops = {
    .name = "mp_mbuf_ring",
    .alloc = ring_alloc,
    .free = ring_free,
    .enqueue = ring_enqueue,
    .dequeue = ring_dequeue,
    .get_count = ring_count,
    .populate = mp_mbuf_populate,
};
RTE_MEMPOOL_REGISTER_OPS(ring_ops);

const char *mp_san_pool_ops(void)
{
#if defined(MP_ASAN) || defined(MP_TSAN)
	return ring_ops.name;
#else
	return NULL; /* DPDK's default */
#endif
}

/* ---- the pool --------------------------------------------------------------- */

/* Populates the next chunk. Caller holds the lock. @return objects added. */
static int grow_locked(struct rte_mempool *mp, struct mp_mbuf_lazy *lz)
{
	if (lz->done == lz->n_chunks)
		return 0;
	int r = rte_mempool_populate_virt(mp, lz->base + (size_t)lz->done * lz->chunk_bytes, lz->chunk_bytes,
	                                  getpagesize(), NULL, NULL);
	if (r <= 0)
		return r < 0 ? r : -ENOSPC;
	lz->done++;
	if (lz->done == lz->n_chunks || mp->populated_size >= mp->size)
		__atomic_store_n(&lz->full, 1, __ATOMIC_RELEASE);
	return r;
}

struct rte_mempool *mp_mbuf_pool_create(const char *name, unsigned n, unsigned cache, uint16_t priv_size,
                                        uint16_t data_room, int socket, int whole, struct mp_mbuf_lazy **lazy)
{
	*lazy = NULL;
	if (whole || rte_eal_has_hugepages() || rte_eal_has_pci())
		return rte_pktmbuf_pool_create_by_ops(name, n, cache, priv_size, data_room, socket, mp_san_pool_ops());

	struct rte_pktmbuf_pool_private priv = {.mbuf_data_room_size = data_room, .mbuf_priv_size = priv_size};
	unsigned elt = (unsigned)sizeof(struct rte_mbuf) + priv_size + data_room;
	struct mp_mbuf_lazy *lz = rte_zmalloc("mbuf_lazy", sizeof(*lz), RTE_CACHE_LINE_SIZE);
	struct rte_mempool *mp = NULL;
	if (!lz) {
		rte_errno = ENOMEM;
		return NULL;
	}
	rte_spinlock_init(&lz->lock);
	/* Objects may span pages: nothing DMAs into them. */
	mp = rte_mempool_create_empty(name, n, elt, cache, sizeof(priv), socket, RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mp)
		goto fail;
	if (rte_mempool_set_ops_byname(mp, ring_ops.name, NULL) != 0) {
		rte_errno = EINVAL;
		goto fail;
	}
	rte_pktmbuf_pool_init(mp, &priv);

	size_t pg = (size_t)getpagesize();
	size_t total_elt = (size_t)mp->header_size + mp->elt_size + mp->trailer_size;
	unsigned per = n < POOL_CHUNK_OBJS ? n : POOL_CHUNK_OBJS;
	/* A chunk's start is page-aligned (so cache-aligned): per objects fit. */
	lz->chunk_bytes = (per * total_elt + pg - 1) / pg * pg;
	lz->n_chunks = (n + per - 1) / per;
	size_t bytes = lz->chunk_bytes * lz->n_chunks;
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		rte_errno = ENOMEM;
		goto fail;
	}
	(void)madvise(m, bytes, MADV_HUGEPAGE);
	lz->base = m;
	/* Grow while a quarter of a chunk is still free: rx takes a burst at a
	 * time and the per-lcore caches hold some, so the pool never runs dry
	 * for want of a chunk it could have had. */
	lz->low = per / 4;
	int r = grow_locked(mp, lz);
	if (r <= 0) {
		rte_errno = -r;
		goto fail;
	}
	*lazy = lz;
	return mp;
fail:;
	int e = rte_errno;
	if (mp)
		rte_mempool_free(mp);
	if (lz->base)
		munmap(lz->base, lz->chunk_bytes * lz->n_chunks);
	rte_free(lz);
	rte_errno = e;
	return NULL;
}

int mp_mbuf_pool_grow(struct rte_mempool *mp, struct mp_mbuf_lazy *lz)
{
	if (!lz || __atomic_load_n(&lz->full, __ATOMIC_ACQUIRE))
		return 0;
	if (!rte_spinlock_trylock(&lz->lock))
		return 0; /* another rx instance is at it */
	int r = grow_locked(mp, lz);
	rte_spinlock_unlock(&lz->lock);
	return r;
}

void mp_mbuf_pool_keep_slow(struct rte_mempool *mp, struct mp_mbuf_lazy *lz)
{
	/* The pool's ring only (rte_mempool_avail_count also walks every
	 * lcore's cache): what the caches hold is extra margin. */
	if (rte_mempool_get_ops(mp->ops_index)->get_count(mp) < lz->low)
		(void)mp_mbuf_pool_grow(mp, lz);
}

void mp_mbuf_pool_free(struct rte_mempool *mp, struct mp_mbuf_lazy *lz)
{
	rte_mempool_free(mp);
	if (lz) {
		munmap(lz->base, lz->chunk_bytes * lz->n_chunks);
		rte_free(lz);
	}
}

void mp_mbuf_ext_noop_free(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
}

int mp_mbuf_unshare(struct rte_mbuf *m)
{
	if (!RTE_MBUF_HAS_EXTBUF(m))
		return 0;
	uint16_t len = m->data_len;
	const void *src = rte_pktmbuf_mtod(m, const void *);
	if (m->nb_segs != 1 || (uint32_t)RTE_PKTMBUF_HEADROOM + len > rte_pktmbuf_data_room_size(m->pool))
		return -ENOSPC;
	uint64_t olf = m->ol_flags & ~RTE_MBUF_F_EXTERNAL;
	uint32_t pkt_len = m->pkt_len;
	rte_pktmbuf_detach(m); /* back to its own room; the mapped bytes stay */
	memcpy(rte_pktmbuf_mtod(m, void *), src, len);
	m->data_len = len;
	m->pkt_len = pkt_len;
	m->ol_flags = olf;
	return 0;
}
