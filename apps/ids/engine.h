/* engine.h — rules (rules.h) matched over reassembled TCP byte streams with
 * Hyperscan: one database per direction (to_server, to_client), one
 * Hyperscan stream per flow side, fed the side's bytes in stream order.
 * Hyperscan finds candidates (every content and pcre is a pattern); the
 * rule's constraints (offset/depth, distance/within, the other items, the
 * header, flow:) are verified per side in stream offsets. No mospipe here:
 * the ids tool and the libnids peer of the bench share this file.
 *
 * What is exact (README.md, "Matching"): a rule fires once per flow side, at
 * the first stream byte where all of its items are satisfied; a match that
 * straddles segments or arrives through retransmission or overlap is found
 * once, because the caller feeds each stream byte once. Not exact, and
 * counted: a within-window lookup whose remembered match ends were
 * overwritten (`inexact`), a full per-side state table (`state_full`),
 * start-anchored pcres after a gap (`anchored_after_gap`).
 *
 * Concurrency: an engine is read-only after ids_engine_new() and may be shared
 * by threads; a thread context is used by one thread; a side is used by one
 * thread at a time (with that thread's context).
 */
#ifndef IDS_ENGINE_H
#define IDS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

struct ids_engine;
struct ids_thread;
struct ids_side;

struct ids_counters {
	uint64_t bytes;              /* stream bytes scanned */
	uint64_t gaps, gap_bytes;    /* holes in a side's stream (bytes the stack never got) */
	uint64_t sides;              /* flow sides inspected (a Hyperscan stream opened) */
	uint64_t sides_skipped;      /* flow sides no rule's header or direction applies to */
	uint64_t candidates;         /* Hyperscan matches examined */
	uint64_t alerts;             /* rules satisfied */
	uint64_t state_full;         /* matches ignored: the side's state table was full */
	uint64_t inexact;            /* within-lookups that may have missed an overwritten end */
	uint64_t anchored_after_gap; /* start-anchored pcre matches ignored after a gap */
	uint64_t match_overflow;     /* scans whose matches did not fit the sort buffer */
	uint64_t hs_errors;          /* Hyperscan calls that failed (stream not opened/scanned) */
};

/* The addresses of a side: its bytes go from (src, sport) to (dst, dport). */
struct ids_tuple {
	uint8_t v6;
	uint8_t src[16], dst[16]; /* network order; IPv4 in the first 4 bytes */
	uint16_t sport, dport;    /* host order */
};

/* Called once for each rule a side satisfies; end is the stream offset just
 * after the byte that completed it. Return nonzero to stop inspecting the
 * side (its flow is blocked): no further rule fires for it. */
typedef int (*ids_alert_fn)(void *ctx, const struct ids_rule *r, uint64_t end);

/* Compiles the rules' databases. A rule Hyperscan refuses (a pcre it cannot
 * compile) is reported with its sid and reason, and dropped from rs. rs must
 * outlive the engine and not change any more.
 * @return the engine; NULL when no rule is left (rs->n_rule == 0, no
 *   message), or after a message (out of memory, Hyperscan failure). */
struct ids_engine *ids_engine_new(struct ids_rules *rs);
void ids_engine_free(struct ids_engine *e);

/* 1 when some rule may match bytes going in direction d. */
int ids_engine_dir_used(const struct ids_engine *e, enum ids_dir d);
/* Bytes of one Hyperscan stream of direction d (0 when unused). */
size_t ids_engine_stream_size(const struct ids_engine *e, enum ids_dir d);
/* Patterns in the database of direction d. */
unsigned ids_engine_patterns(const struct ids_engine *e, enum ids_dir d);

/* Per-thread context (Hyperscan scratch, match buffer, counters).
 * @return NULL on allocation failure. */
struct ids_thread *ids_thread_new(const struct ids_engine *e);
void ids_thread_free(struct ids_thread *t);
struct ids_counters *ids_thread_counters(struct ids_thread *t);

/* Starts inspecting one flow side (direction d, addresses tu).
 * @return the side, or NULL when no rule can apply to it (counted in
 *   sides_skipped) or on failure (hs_errors). */
struct ids_side *ids_side_open(const struct ids_engine *e, struct ids_thread *t, enum ids_dir d,
                               const struct ids_tuple *tu, int established);
/* The flow completed its handshake (rules with flow:established apply from
 * now on). */
void ids_side_set_established(struct ids_side *s);
int ids_side_established(const struct ids_side *s);

/* The next len bytes of the side's stream.
 * @return 1 when the side is stopped (fn asked so, now or before), else 0. */
int ids_side_scan(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, const uint8_t *data, size_t len,
                  ids_alert_fn fn, void *ctx);

/* n bytes of the stream will never come: matching restarts after them (no
 * match spans a gap). */
void ids_side_gap(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, uint64_t n);

/* Stream offset of the side's next byte. */
uint64_t ids_side_pos(const struct ids_side *s);

/* The stream ended: matches anchored at its end ($) are reported (unless the
 * side is stopped), then the side is freed. fn may be NULL. */
void ids_side_close(const struct ids_engine *e, struct ids_thread *t, struct ids_side *s, ids_alert_fn fn, void *ctx);

#endif
