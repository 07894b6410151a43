/* Access to the per-packet metadata in the mbuf private area. */
#ifndef MP_META_H
#define MP_META_H

#include <rte_mbuf.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include "meta-types.h"

/* Private area size requested from the mempool: the metadata, rounded up as
 * rte_pktmbuf_pool_create requires. */
#define MP_META_PRIV_SIZE RTE_ALIGN_CEIL(sizeof(struct mp_meta), RTE_MBUF_PRIV_ALIGN)

static inline struct mp_meta *mp_meta(struct rte_mbuf *m)
{
	return (struct mp_meta *)rte_mbuf_to_priv(m);
}

/* The one clear of a packet's metadata, by the stage that allocated the mbuf
 * (meta-types.h says which); no later stage clears again. Sixteen-byte
 * stores rather than memset: for this size gcc emits `rep stosq`, whose
 * start-up alone cost rx ~20 cycles a packet (perf annotate of rx_poll). */
static inline void mp_meta_reset(struct mp_meta *md)
{
#ifdef __SSE2__
	_Static_assert(sizeof(*md) % 8 == 0, "the metadata is cleared in 16- and 8-byte stores");
	char *p = (char *)md;
	const __m128i z = _mm_setzero_si128();
	size_t i = 0;
	for (; i + 16 <= sizeof(*md); i += 16)
		_mm_storeu_si128((__m128i *)(void *)(p + i), z);
	if (i < sizeof(*md))
		_mm_storel_epi64((__m128i *)(void *)(p + i), z);
#else
	memset(md, 0, sizeof(*md));
#endif
}

/* Frees a packet, with the original fragments a rebuilt datagram holds
 * (mp_pkt_ext.held). @return the packets freed (1 + those held). */
static inline unsigned mp_pkt_free(struct rte_mbuf *m)
{
	struct mp_meta *md = mp_meta(m);
	unsigned n = 1;
	if (md->kind == MP_PKT_DATA && (md->flags & MP_MF_REASM)) {
		struct rte_mbuf *h = md->pkt.held;
		while (h) {
			struct rte_mbuf *next = mp_meta(h)->pkt.held;
			rte_pktmbuf_free(h);
			h = next;
			n++;
		}
	}
	rte_pktmbuf_free(m);
	return n;
}

#endif
