/* The key of the flow hash (hash.h): its storage and how a run gets one. */
#include <errno.h>
#include <sys/random.h>
#include <time.h>

#include "hash.h"

/* Used until a pipeline sets one: unit tests on plain memory get stable
 * values. Any fixed key is as predictable as the old CRC, which is why every
 * pipeline replaces it (conf [pipeline] hash_key, default random). */
struct mp_hash_key mp_hash_key_g = {{
    0x9e3779b97f4a7c15ull,
    0xbf58476d1ce4e5b9ull,
    0x94d049bb133111ebull,
    0xd6e8feb86659fd93ull,
    0xa0761d6478bd642full,
    0xe7037ed1a0b428dbull,
    0x8ebc6af09c88c6e3ull,
    0x589965cc75374cc3ull,
    0x1d8e4e27c47d124full,
    0xc2b2ae3d27d4eb4full,
}};

/* splitmix64: expands one seed into the key words. */
static uint64_t next64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t mp_hash_key_set(uint64_t seed)
{
	if (seed == 0) {
		/* getrandom blocks only before the kernel's pool is initialised
		 * (early boot); fall back to the clock rather than wait. */
		if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec;
		}
		if (seed == 0)
			seed = 1;
	}
	uint64_t s = seed;
	for (unsigned i = 0; i <= MP_HASH_WORDS; i++)
		mp_hash_key_g.k[i] = next64(&s);
	return seed;
}
