/* TSan builds only (make TSAN=1): the tokens the RCU annotations of tsan.h
 * release and acquire. Objects crossing a mempool are annotated by the
 * pool's driver (runtime/mbufpool.c). */
#include "tsan.h"

#ifdef MP_TSAN
char mp_tsan_rcu_token, mp_tsan_barrier_token;
#endif
