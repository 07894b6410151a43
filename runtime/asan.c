/* ASan builds: the poisoning hooks of our mempool driver (asan.h,
 * runtime/mbufpool.c). The range of object addresses a pool ever held is
 * kept so that it can be unpoisoned when the pool goes away: DPDK frees a
 * pool's memory before it calls the driver's free, and that memory (DPDK's
 * heap) is handed out again, which must not find it poisoned. */
#include <stdint.h>

#include "asan.h"

#ifdef MP_ASAN
/* Concurrency: any lcore puts and gets (the ring is multi-producer and
 * multi-consumer); lo/hi grow while the pool is populated, on the thread
 * creating it, and only widen after that, with compare-and-swap. */
void mp_asan_range_init(struct mp_asan_range *r)
{
	r->lo = UINTPTR_MAX;
	r->hi = 0;
	r->armed = 0;
}

void mp_asan_range_fini(struct mp_asan_range *r)
{
	if (r->hi > r->lo)
		MP_ASAN_UNPOISON((void *)r->lo, r->hi - r->lo);
}

static void widen(struct mp_asan_range *r, uintptr_t a, uintptr_t e)
{
	uintptr_t v = __atomic_load_n(&r->lo, __ATOMIC_RELAXED);
	while (a < v && !__atomic_compare_exchange_n(&r->lo, &v, a, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	v = __atomic_load_n(&r->hi, __ATOMIC_RELAXED);
	while (e > v && !__atomic_compare_exchange_n(&r->hi, &v, e, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void mp_asan_put(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)objs[i];
		if (a < r->lo || a + elt > r->hi)
			widen(r, a, a + elt);
		if (__atomic_load_n(&r->armed, __ATOMIC_RELAXED))
			MP_ASAN_POISON(objs[i], elt);
	}
}

void mp_asan_get(struct mp_asan_range *r, size_t elt, void *const *objs, unsigned n)
{
	__atomic_store_n(&r->armed, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < n; i++)
		MP_ASAN_UNPOISON(objs[i], elt);
}

unsigned mp_san_pool_cache(unsigned want)
{
	(void)want;
	return 0;
}
#else
unsigned mp_san_pool_cache(unsigned want)
{
	return want;
}
#endif
