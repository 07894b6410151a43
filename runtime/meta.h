/* Access to the per-packet metadata in the mbuf private area. */
#ifndef MP_META_H
#define MP_META_H

#include <rte_mbuf.h>
#include "meta-types.h"

/* Private area size requested from the mempool: the metadata, rounded up as
 * rte_pktmbuf_pool_create requires. */
#define MP_META_PRIV_SIZE RTE_ALIGN_CEIL(sizeof(struct mp_meta), RTE_MBUF_PRIV_ALIGN)

static inline struct mp_meta *mp_meta(struct rte_mbuf *m)
{
	return (struct mp_meta *)rte_mbuf_to_priv(m);
}

/* Resets the metadata of a freshly received packet. */
static inline void mp_meta_reset(struct mp_meta *md)
{
	memset(md, 0, sizeof(*md));
}

#endif
