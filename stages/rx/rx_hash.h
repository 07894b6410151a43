/* rx's fan-out hash of an mbuf: mp_addr_hash_raw (runtime/hash.h) over its
 * first segment. */
#ifndef RX_HASH_H
#define RX_HASH_H

#include <stdint.h>

#include <rte_mbuf.h>

#include "hash.h"

static inline uint32_t rx_addr_hash(const struct rte_mbuf *m, int dlt)
{
	return mp_addr_hash_raw(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m), dlt);
}

#endif
