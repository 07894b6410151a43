/* Symmetric hashing: the same value for both directions of a flow, so that
 * one instance of each later stage owns the whole flow. */
#ifndef MP_HASH_H
#define MP_HASH_H

#include <stdint.h>
#include <string.h>
#include <rte_hash_crc.h>

/* Hash of an unordered pair of (address, port) endpoints. alen is 4 or 16.
 * Addresses may sit at any alignment inside a packet: they are copied into an
 * aligned key first, since the CRC loads 8 bytes at a time. */
static inline uint32_t mp_sym_hash(const uint8_t *a, uint16_t pa, const uint8_t *b, uint16_t pb, unsigned alen)
{
	int cmp = memcmp(a, b, alen);
	if (cmp > 0 || (cmp == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;
		a = b;
		pa = pb;
		b = t;
		pb = tp;
	}
	uint64_t key[5];
	memcpy(key, a, alen);
	memcpy((uint8_t *)key + alen, b, alen);
	uint32_t ports = ((uint32_t)pa << 16) | pb;
	memcpy((uint8_t *)key + 2 * alen, &ports, 4);
	return rte_hash_crc(key, 2 * alen + 4, 0x9e3779b9u);
}

/* Finalizer so that hash % n spreads well for small n. */
static inline uint32_t mp_hash_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

#endif

#include <rte_mbuf.h>

/* Best-effort symmetric hash of the IP addresses of a packet, for rx's
 * fan-out to several classify instances: only addresses, so that every
 * fragment of a datagram lands on the same instance. Never fails: what it
 * cannot parse hashes to 0. classify does the real, validated parse. */
static inline uint32_t mp_rx_addr_hash(const struct rte_mbuf *m, int dlt)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = rte_pktmbuf_data_len(m), off = 0;
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
