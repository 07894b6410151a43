/* classify's internal header: the instance state and the per-burst context
 * shared by classify.c (the stage) and classify_frag.c (IP fragments). No
 * other stage includes it (scripts/check-layers.sh).
 *
 * Concurrency: an instance's state is used by its lcore only (init and fini
 * on the main thread, before and after).
 */
#ifndef CLS_INT_H
#define CLS_INT_H

#include <stdint.h>

#include "bpf.h"
#include "conf-types.h"
#include "ipfrag.h"
#include "stage-types.h"

struct rte_mbuf;
struct mp_meta;
struct cls_info;

#define MP_CTR_STAGE cls
#define MP_CTR_PREFIX CC_
#define MP_CTR_DEF "classify_counters.def"
#define MP_CTR_ENUM_ONLY
#include "counters-gen.h"

#define CLS_N_CTRS CC_N

/* Bytes of a multi-segment packet copied out for the parser: any sane header
 * stack (tags, labels, IPv6 extension headers, TCP with options) fits. Also
 * the most header bytes a rebuilt datagram takes from its first fragment. */
#define CLS_VIEW 1024
#define CLS_MAX_HDR CLS_VIEW

struct cls_priv {
	struct ipf_tbl *frag;
	/* [input] filter for each port (NULL: every packet is monitored), one
	 * compilation per distinct link type, owned in bpf[]. */
	const struct mp_bpf *filter[MP_MAX_PORTS];
	struct mp_bpf *bpf[MP_MAX_PORTS];
	unsigned n_bpf;
	int inl;          /* inline mode: unmatched packets are forwarded, not freed */
	int drop_unparse; /* inline, [security] unparsable = drop */
};

/* One poll's view: counters are summed here and added once per burst. */
struct cls_burst {
	struct mp_stage_inst *si;
	uint32_t cnt[CLS_N_CTRS];
	uint64_t now_ms; /* packet time of the burst's latest packet */
	int verify;      /* [tcp] checksum = verify */
};

static inline void cls_count(struct cls_burst *b, unsigned id, uint32_t n)
{
	b->cnt[id - MP_CC_N] += n;
}

/* classify_pkt.c: a contiguous view of the first bytes of m for the
 * parser: the data itself when its first segment holds them, else a copy in
 * buf (CLS_VIEW bytes). @return the view (NULL when m cannot be read), its
 * length in *vlen. */
const uint8_t *cls_header_view(struct rte_mbuf *m, uint8_t *buf, uint32_t *vlen);

/* classify_pkt.c: parses m (fills md, info), checks its checksums and
 * counts what it is. @return the parser's result (parse.h). */
int cls_classify_mbuf(struct cls_burst *b, struct rte_mbuf *m, struct mp_meta *md, int dlt, uint32_t wirelen,
                      struct cls_info *info);

/* classify_frag.c */
int cls_frag_init(struct mp_stage_inst *si, struct cls_priv *cp);
void cls_frag_fini(struct cls_priv *cp);
/* Takes fragment m (parsed, CLS_FRAG): held, dropped (counted), or passed
 * on unmonitored when it cannot be reassembled. @return m to pass on, the
 * rebuilt datagram (carrying its fragments) when m completed one, or NULL. */
struct rte_mbuf *cls_frag_feed(struct cls_burst *b, struct rte_mbuf *m, struct mp_meta *md, const struct cls_info *info,
                               int dlt);
/* Gives up the datagrams whose time is over at b->now_ms. */
void cls_frag_expire(struct cls_burst *b);
/* Gives up every datagram (end of input). */
void cls_frag_flush(struct cls_burst *b);

#endif
