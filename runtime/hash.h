/* The flow hash: keyed and symmetric. The same value for both directions of
 * a flow, so that one instance of each later stage owns the whole flow; and
 * a function of a secret key drawn at random for each run, so that tuples
 * that collide (one tcpsm table slot, one instance) cannot be computed
 * offline. An unkeyed CRC could: CRC is linear, its collisions do not even
 * depend on the seed.
 *
 * The family is multiply-shift in its multilinear form (Dietzfelbinger et
 * al. 1997; Lemire and Kaser, "Strongly universal string hashing is fast",
 * 2014): the tuple as 32-bit words x_i, 64-bit random keys k_i, and
 * h = (k_0 + sum k_(i+1) * x_i mod 2^64) >> 32. For two distinct tuples and a
 * random key, h collides with probability about 2^-32, and any b bits of it
 * with about 2^-b: what an attacker who does not know the key can hope for.
 * It costs one multiply-add per word (3 for IPv4, 9 for IPv6), about what
 * the CRC cost. Learning the key from timing (adaptive attacks) is outside
 * what a universal family promises; the key is never printed.
 *
 * Concurrency: the key is process-wide. mp_hash_key_set() runs on the main
 * thread when a pipeline is created, before any lcore or thread that hashes
 * is launched (the launch orders it before their reads); afterwards it is
 * read-only. When capture files are scanned for replicated pipelines, it
 * runs first before the scan threads start (runtime/input.c), and the
 * pipeline sets the same seed again once they are joined. Until it is set (unit tests on plain memory), a fixed default
 * key is used. */
#ifndef MP_HASH_H
#define MP_HASH_H

#include <stdint.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mp_addr_cmp assumes a little-endian CPU"
#endif

/* Words of the longest tuple: two IPv6 addresses and the two ports. */
#define MP_HASH_WORDS 9

struct mp_hash_key {
	uint64_t k[MP_HASH_WORDS + 1];
};

extern struct mp_hash_key mp_hash_key_g;

/* Sets the process-wide key from a 64-bit seed (expanded); seed 0 draws a
 * random one from the kernel (getrandom). Main thread, before packets flow.
 * @return the seed in force (for logs of tests; never printed by mospipe). */
uint64_t mp_hash_key_set(uint64_t seed);

/* memcmp(a, b, alen) < 0, == 0, > 0 as -1, 0, 1, for alen 4 or 16: as
 * big-endian words, inline. The libc call (alen is not a constant where
 * it is called from) was 39 cycles of every packet's classify. */
static inline int mp_addr_cmp(const uint8_t *a, const uint8_t *b, unsigned alen)
{
	uint64_t x[2] = {0, 0}, y[2] = {0, 0};
	if (alen == 4) {
		uint32_t u, v;
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		x[0] = __builtin_bswap32(u);
		y[0] = __builtin_bswap32(v);
	} else {
		memcpy(x, a, 16);
		memcpy(y, b, 16);
		for (unsigned i = 0; i < 2; i++) {
			x[i] = __builtin_bswap64(x[i]);
			y[i] = __builtin_bswap64(y[i]);
		}
	}
	if (x[0] != y[0])
		return x[0] < y[0] ? -1 : 1;
	return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Hash of an unordered pair of (address, port) endpoints. alen is 4 or 16;
 * addresses may sit at any alignment. */
static inline uint32_t mp_sym_hash(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb, unsigned alen)
{
	int cmp = mp_addr_cmp(a, b, alen);
	if (cmp > 0 || (cmp == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;
		a = b;
		pa = pb;
		b = t;
		pb = tp;
	}
	const uint64_t *k = mp_hash_key_g.k;
	uint32_t w[MP_HASH_WORDS];
	unsigned n = alen / 2; /* address words of both endpoints */
	memcpy(w, a, alen);
	memcpy((uint8_t *)w + alen, b, alen);
	uint64_t h = k[0] + k[n + 1] * (((uint64_t)pa << 16) | pb);
	for (unsigned i = 0; i < n; i++)
		h += k[i + 1] * w[i];
	return (uint32_t)(h >> 32);
}

/* Finalizer so that hash % n spreads well for small n (a bijection: it
 * neither adds nor removes collisions). */
static inline uint32_t mp_hash_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* Best-effort symmetric hash of the IP addresses of a frame of link type dlt
 * (a link-layer parse that finds them before anything is validated), for
 * rx's fan-out to several instances: only addresses, so that every fragment
 * of a datagram lands on the same instance. Never fails: what it cannot
 * parse hashes to 0. classify does the real, validated parse
 * (stages/classify/parse.c). Here, not in rx, because a capture's scan
 * (runtime/pcapin.c) sorts records by it before rx runs. */
static inline uint32_t mp_addr_hash_raw(const uint8_t *p, uint32_t len, int dlt)
{
	uint32_t off = 0;
	uint16_t et = 0x0800;

	if (dlt == 1) { /* Ethernet, VLAN/QinQ, MPLS */
		if (len < 14)
			return 0;
		et = (uint16_t)(p[12] << 8 | p[13]);
		off = 14;
		while ((et == 0x8100 || et == 0x88a8 || et == 0x9100) && off + 4 <= len) {
			et = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
			off += 4;
		}
		if (et == 0x8847) {
			while (off + 4 <= len && !(p[off + 2] & 1))
				off += 4;
			off += 4;
			if (off >= len)
				return 0;
			et = (p[off] >> 4) == 6 ? 0x86dd : 0x0800;
		}
	} else if (dlt == 113) { /* Linux SLL */
		if (len < 16)
			return 0;
		et = (uint16_t)(p[14] << 8 | p[15]);
		off = 16;
	} else if (dlt == 0 || dlt == 108) { /* BSD loopback: 4-byte family */
		off = 4;
		if (len < 5)
			return 0;
		et = (p[4] >> 4) == 6 ? 0x86dd : 0x0800;
	} else { /* raw IP */
		if (len < 1)
			return 0;
		et = (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
	}
	if (et == 0x0800 && off + 20 <= len)
		return mp_hash_mix(mp_sym_hash(p + off + 12, 0, p + off + 16, 0, 4));
	if (et == 0x86dd && off + 40 <= len)
		return mp_hash_mix(mp_sym_hash(p + off + 8, 0, p + off + 24, 0, 16));
	return 0;
}

#endif
