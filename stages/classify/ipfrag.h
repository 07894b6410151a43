/* IP fragment reassembly as a receiving host does it, on packet time, over
 * opaque packet handles: the table decides which pieces of which fragment
 * make the datagram and when it is complete; the caller (classify_frag.c)
 * owns the bytes and builds the datagram. Plain C, no EAL, no allocation
 * after creation, so that unit tests and the fuzz target drive it on plain
 * memory.
 *
 * Why not DPDK's rte_ip_frag: it drops a datagram with a duplicate fragment
 * that Linux completes, keeps at most RTE_LIBRTE_IP_FRAG_MAX_FRAG pieces, and
 * has no overlap policy (test_classify pins this).
 *
 * The model (policy LINUX, the default), after Linux's ip_frag_queue,
 * ip6_frag_queue and inet_frag_queue_insert (net/ipv4/ip_fragment.c,
 * net/ipv6/reassembly.c, net/ipv4/inet_fragment.c):
 *  - a datagram is (family, source, destination, id, and for IPv4 the
 *    protocol); its timer starts with its first fragment and is not renewed;
 *  - a last fragment (no MF) fixes the length: one ending before data already
 *    held, or a second last fragment with another end, discards the datagram;
 *    a fragment with MF ending past a known end discards it too; an IPv4
 *    fragment with MF is cut down to a multiple of 8 bytes; an empty piece
 *    discards the datagram;
 *  - pieces are kept in "runs": a fragment appended right after the highest
 *    one joins its run, any other starts a run of its own. A fragment wholly
 *    inside one run is a duplicate: ignored, the datagram kept (whatever its
 *    bytes say: the first copy wins). Any other overlap discards the whole
 *    datagram (RFC 5722 for IPv6; Linux does the same for IPv4);
 *  - complete when the first and the last fragment are in and the pieces
 *    cover the length; ECN codepoints that cannot be mixed (Not-ECT with
 *    ECT or CE, RFC 3168 sec. 5.3) then discard it;
 *  - an IPv6 first fragment without the whole upper-layer header (RFC 7112,
 *    Linux ipv6frag_thdr_truncated) is dropped alone (the caller says so in
 *    ipf_frag.tiny).
 * Other targets: BSD resolves IPv4 overlaps as FreeBSD's ip_reass does (a
 * piece starting at or before the new one keeps its bytes; the new one
 * trims or replaces the pieces starting after it) and IPv6 as Linux; FIRST
 * keeps the first copy of every byte, LAST the last. The length rules above
 * apply to every policy.
 *
 * Every fragment of a datagram is held, duplicates included, in arrival
 * order: the caller forwards them (inline) only once the datagram is
 * complete, so that the receiver sees exactly the sequence that completed
 * ours (a duplicate last fragment changes what a receiver does next).
 *
 * Memory: at most max_dgrams datagrams and max_pkts packets at once, and
 * max_per_dgram packets per datagram (a datagram that needs more is
 * discarded: every insertion walks its pieces, so this bounds the work too).
 * Over a cap, either the new fragment is dropped alone, as Linux drops
 * fragments over ipfrag_high_thresh, or (evict) the oldest datagrams are
 * given up to make room: a flood of fragments that never complete then
 * evicts its own state, not the datagrams of others, which complete in
 * milliseconds (DESIGN.md §3).
 *
 * Concurrency: one table per classify instance, used by its lcore only.
 */
#ifndef CLS_IPFRAG_H
#define CLS_IPFRAG_H

#include <stdint.h>

enum ipf_policy {
	IPF_LINUX = 0,
	IPF_BSD = 1,
	IPF_FIRST = 2,
	IPF_LAST = 3,
};

/* Why packets or a datagram left the table without being rebuilt. */
enum ipf_reason {
	IPF_R_TIMEOUT = 0, /* datagram incomplete when its timer ran out */
	IPF_R_OVERLAP,     /* overlapping fragments: datagram discarded */
	IPF_R_INVALID,     /* lengths that contradict each other, an empty piece, oversized: datagram discarded */
	IPF_R_ECN,         /* ECN codepoints that cannot be mixed: datagram discarded */
	IPF_R_MANY,        /* more fragments than a datagram may have: datagram discarded */
	IPF_R_END,         /* input ended (or the caller gave up) with the datagram incomplete */
	IPF_R_TINY,        /* IPv6 first fragment without the upper-layer header: dropped alone */
	IPF_R_CAP,         /* over max_pkts or max_dgrams: dropped alone */
	IPF_R_EVICTED,     /* the oldest datagram, given up to make room (params.evict) */
	IPF_R_N,
};

struct ipf_params {
	uint32_t max_dgrams;    /* datagrams being reassembled at once */
	uint32_t max_pkts;      /* fragments held at once, all datagrams */
	uint32_t max_per_dgram; /* fragments one datagram may hold */
	uint64_t timeout_ms;    /* a datagram is given up this long after its first fragment */
	unsigned policy;        /* enum ipf_policy */
	/* Over a cap: 0 drops the new fragment, as Linux does over
	 * ipfrag_high_thresh; 1 gives up the oldest datagram to make room. */
	int evict;
	uint64_t seed; /* keys the table's hash (a random value per run) */
};

/* Callbacks, with the ctx given to the call that triggers them. */
struct ipf_ops {
	/* pkt leaves the table unused: the caller frees it (reason: enum ipf_reason). */
	void (*drop)(void *ctx, void *pkt, unsigned reason);
	/* A datagram was given up (reason), after drop() for each of its packets. */
	void (*fail)(void *ctx, unsigned reason);
};

/* One fragment, as the parser found it. */
struct ipf_frag {
	const uint8_t *src, *dst; /* 4 (IPv4) or 16 (IPv6) bytes */
	uint32_t id;              /* identification */
	uint8_t v6;
	uint8_t proto; /* IPv4: protocol field (part of the key) */
	uint8_t mf;    /* more fragments */
	uint8_t ecn;   /* the IP header's ECN bits (0..3) */
	uint8_t tiny;  /* IPv6, offset 0: the upper-layer header is not all in it */
	uint32_t off;  /* offset of its data in the datagram */
	uint32_t len;  /* its data length by the IP length fields */
	uint32_t at;   /* where that data starts in the packet */
	void *pkt;
};

enum ipf_result {
	IPF_HELD = 0, /* the table keeps pkt */
	IPF_GONE = 1, /* pkt was given to ops.drop (maybe with its datagram) */
	IPF_DONE = 2, /* pkt completed a datagram: see ipf_done_* */
	IPF_DUP = 3,  /* the table keeps pkt, whose data it held already (ignored, forwarded with the rest) */
};

/* What ipf_stats() reports (monotonic counts and current levels). */
struct ipf_stats {
	uint64_t dups;     /* fragments whose data was all held already (kept, see above) */
	uint64_t complete; /* datagrams completed */
	uint32_t dgrams;   /* datagrams in the table now */
	uint32_t held;     /* fragments held now */
};

struct ipf_tbl;

/* @return a table, or NULL (invalid params: zero caps or policy; no memory). */
struct ipf_tbl *ipf_create(const struct ipf_params *p, const struct ipf_ops *ops);
/* Frees the table; every packet still held is given to drop() (IPF_R_END). */
void ipf_destroy(struct ipf_tbl *t, void *ctx);

/* Offers a fragment at packet time now_ms. Expires datagrams first.
 * @return enum ipf_result. After IPF_DONE, call ipf_done_* and then exactly
 * one of ipf_done_take / ipf_done_discard before the next ipf_add. */
int ipf_add(struct ipf_tbl *t, const struct ipf_frag *f, uint64_t now_ms, void *ctx);

/* Gives up every datagram whose time is over at now_ms. */
void ipf_expire(struct ipf_tbl *t, uint64_t now_ms, void *ctx);

/* Gives up every datagram (reason IPF_R_END). */
void ipf_flush(struct ipf_tbl *t, void *ctx);

/* The completed datagram: its data length, whether its rebuilt header must
 * say CE, and the packet whose piece starts at offset 0 (its headers are the
 * datagram's, as a receiver rebuilds it). */
uint32_t ipf_done_len(const struct ipf_tbl *t);
int ipf_done_ce(const struct ipf_tbl *t);
void *ipf_done_head(const struct ipf_tbl *t);
/* Calls fn for each piece in offset order: bytes [at, at + len) of pkt are
 * the datagram's data at off. Stops when fn returns non-zero. @return that
 * value, or 0. */
int ipf_done_pieces(const struct ipf_tbl *t, int (*fn)(void *ctx, void *pkt, uint32_t at, uint32_t off, uint32_t len),
                    void *ctx);
/* Calls fn for each packet of the datagram in arrival order and hands them
 * all to the caller; the datagram leaves the table. @return their number. */
unsigned ipf_done_take(struct ipf_tbl *t, void (*fn)(void *ctx, void *pkt), void *ctx);
/* The caller cannot use the completed datagram: every packet goes to drop()
 * and fail() is called with reason. */
void ipf_done_discard(struct ipf_tbl *t, unsigned reason, void *ctx);

void ipf_stats(const struct ipf_tbl *t, struct ipf_stats *out);

/* @return the name of a reason (counter names, messages). */
const char *ipf_reason_name(unsigned reason);

#endif
