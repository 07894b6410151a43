/* rx's fan-out hash: a best-effort link-layer parse that finds a packet's IP
 * addresses so that rx can spread packets over several classify instances
 * before anything is validated. rx's alone (classify's parser is the real,
 * validated one, stages/classify/parse.c). */
#ifndef RX_HASH_H
#define RX_HASH_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "hash.h"

/* Best-effort symmetric hash of the IP addresses of a packet, for rx's
 * fan-out to several classify instances: only addresses, so that every
 * fragment of a datagram lands on the same instance. Never fails: what it
 * cannot parse hashes to 0. classify does the real, validated parse. */
static inline uint32_t rx_addr_hash_raw(const uint8_t *p, uint32_t len, int dlt)
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

static inline uint32_t rx_addr_hash(const struct rte_mbuf *m, int dlt)
{
	return rx_addr_hash_raw(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), dlt);
}

#endif
