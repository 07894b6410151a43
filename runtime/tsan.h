/* ThreadSanitizer annotations for hand-offs TSan cannot see.
 *
 * DPDK (rings, mempools) and liburcu (cds_lfht, call_rcu, grace periods) are
 * not built with TSan, so the happens-before edges they create between our
 * threads are invisible to it, and every object handed over through them
 * would be reported as a race. Each hand-off is annotated at the two ends:
 * MP_TSAN_RELEASE(obj) where the object is given away, MP_TSAN_ACQUIRE(obj)
 * where it is taken. Outside a TSan build (make TSAN=1) both are nothing.
 *
 * MP_TSAN_RCU_READ_DONE / MP_TSAN_RCU_GP_DONE stand for the grace period:
 * every read section ends with a release on one token, and a call_rcu
 * callback (which runs after a grace period, so after every read section
 * that could see the object) acquires it. MP_TSAN_CB_DONE ends a call_rcu
 * callback and MP_TSAN_BARRIER_DONE follows rcu_barrier(), which waits for
 * every callback.
 */
#ifndef MP_TSAN_H
#define MP_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define MP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MP_TSAN 1
#endif
#endif

#ifdef MP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
extern char mp_tsan_rcu_token, mp_tsan_barrier_token; /* runtime/tsan.c */
#define MP_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define MP_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define MP_TSAN_RCU_READ_DONE() __tsan_release(&mp_tsan_rcu_token)
#define MP_TSAN_RCU_GP_DONE() __tsan_acquire(&mp_tsan_rcu_token)
#define MP_TSAN_CB_DONE() __tsan_release(&mp_tsan_barrier_token)
#define MP_TSAN_BARRIER_DONE() __tsan_acquire(&mp_tsan_barrier_token)
#else
#define MP_TSAN_ACQUIRE(p) ((void)(p))
#define MP_TSAN_RELEASE(p) ((void)(p))
#define MP_TSAN_RCU_READ_DONE() ((void)0)
#define MP_TSAN_RCU_GP_DONE() ((void)0)
#define MP_TSAN_CB_DONE() ((void)0)
#define MP_TSAN_BARRIER_DONE() ((void)0)
#endif

#endif
