/* AddressSanitizer inside our own pools (make SAN=1 builds only).
 *
 * ASan sees malloc and free, but not the two pools that recycle memory
 * under it: DPDK's mempools (mbufs, tcpsm's flow objects) and the
 * reassembly chunk pool (stages/tcpsm/reasm.c). A use after free there reads
 * a recycled object and goes unseen. So in ASan builds a free object is
 * poisoned and an allocated one unpoisoned: a stage touching an mbuf it
 * gave away, or a chunk the pool took back, gets a "use-after-poison"
 * report with both stacks. Outside ASan builds every macro is nothing.
 *
 * Mempools: our ring driver's hooks (runtime/mbufpool.c, "mp_mbuf_ring",
 * with mp_asan_put/get below) and no per-lcore cache, since objects parked in a cache
 * never reach the driver. An object is poisoned from the first time it comes
 * back after the pool handed out anything (DPDK initialises every object of
 * a new pool in place). Code that reads freed memory on purpose (a
 * seqlock reader that retries) says so with MP_NO_ASAN.
 */
#ifndef MP_ASAN_H
#define MP_ASAN_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define MP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MP_ASAN 1
#endif
#endif

#ifdef MP_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
int __asan_address_is_poisoned(void const volatile *addr);
#define MP_ASAN_POISON(p, n) __asan_poison_memory_region((p), (n))
#define MP_ASAN_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#define MP_ASAN_IS_POISONED(p) __asan_address_is_poisoned(p)
#define MP_NO_ASAN __attribute__((no_sanitize_address))
#else
#define MP_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define MP_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#define MP_ASAN_IS_POISONED(p) ((void)(p), 0)
#define MP_NO_ASAN
#endif

/* A mempool's record of its objects for the driver (runtime/mbufpool.c,
 * "mp_mbuf_ring"): the range of addresses it ever held, unpoisoned when the
 * pool goes away (DPDK frees a pool's memory before it calls the driver's
 * free, and that memory is handed out again), and whether anything was
 * taken yet (until then objects go in unpoisoned: DPDK fills a new pool and
 * initialises every object in place). mp_asan_put poisons objects going
 * back, mp_asan_get unpoisons objects taken. Nothing outside ASan builds. */
#ifdef MP_ASAN
#include <stdint.h>
struct mp_asan_range {
	uintptr_t lo, hi;
	int armed;
};
void mp_asan_range_init(struct mp_asan_range *r);
void mp_asan_range_fini(struct mp_asan_range *r);
void mp_asan_put(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n);
void mp_asan_get(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n);
#else
struct mp_asan_range {
	char unused;
};
static inline void mp_asan_range_init(struct mp_asan_range *r)
{
	(void)r;
}
static inline void mp_asan_range_fini(struct mp_asan_range *r)
{
	(void)r;
}
static inline void mp_asan_put(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n)
{
	(void)r, (void)elt, (void)objs, (void)n;
}
static inline void mp_asan_get(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n)
{
	(void)r, (void)elt, (void)objs, (void)n;
}
#endif

/* The mempool driver to create pools with: our ring driver in sanitizer
 * builds (its hooks annotate for TSan and poison for ASan), NULL (DPDK's
 * default) otherwise. Defined in runtime/mbufpool.c. */
const char *mp_san_pool_ops(void);

/* The per-lcore cache size to give a mempool: `want`, or 0 in ASan builds
 * (see above). */
unsigned mp_san_pool_cache(unsigned want);

#endif
