/* The workload generator of the paper's benchmark (mOS, NSDI'17 §6): N
 * concurrent TCP connections, each a 3-way handshake, a small HTTP GET, an
 * X-byte download in MSS-sized segments acknowledged every second segment,
 * and a FIN teardown both ways; a new connection starts in a slot as soon as
 * the previous one there ends, so N stay concurrent. Slots are served round
 * robin, one frame per visit, their first connections staggered so that flows
 * are at every phase of their life at once.
 *
 * Plain C over plain memory: frames are written into caller buffers (a byte
 * array, a DPDK mbuf's data area), no EAL needed. Everything is a function of
 * the parameters and the seed: the same inputs give the same bytes and times.
 *
 * Concurrency: a generator is used by one thread at a time; distinct
 * generators are independent.
 */
#ifndef GEN_H
#define GEN_H

#include <stddef.h>
#include <stdint.h>

#include "gen-types.h"

/* Fills p with the defaults (192,000 flows, 64 KiB, 1% retransmitted, 60 Gbps
 * of packet time, 8 servers, seed 1, no limits, no patterns). */
void gen_params_default(struct gen_params *p);

/* Checks p and builds a generator (allocates its slots, the shared server
 * stream with the patterns planted, and per-segment checksums).
 * Pattern bytes are copied: the caller's buffers may go after the call.
 * @return the generator, or NULL with errno set: EINVAL for bad parameters
 *   (gen_strerror() says which), ENOMEM. */
struct gen *gen_create(const struct gen_params *p);

/* Why the last gen_create() on this thread failed with EINVAL (static text). */
const char *gen_strerror(void);

/* Writes the next frame (Ethernet, IPv4, TCP) into frame.
 * @param cap   bytes available at frame: must be >= GEN_MAX_FRAME
 * @param ts_ns where to store the frame's time (ns since the epoch); may be NULL
 * @return the frame length (> 0); 0 when the traffic is over (max_pkts
 *   reached, or every one of max_conns connections finished); -ENOSPC when
 *   cap < GEN_MAX_FRAME (nothing consumed). */
int gen_next(struct gen *g, uint8_t *frame, uint16_t cap, uint64_t *ts_ns);

/* Burst form of gen_next(), e.g. into DPDK mbuf data areas: frame i goes to
 * frames[i], its length to lens[i] and its time to ts_ns[i] (ts_ns may be NULL).
 * @param cap bytes available in every frames[i]: must be >= GEN_MAX_FRAME
 * @return frames written (< n only when the traffic is over; 0 also when
 *   cap < GEN_MAX_FRAME). */
unsigned gen_burst(struct gen *g, uint8_t *const frames[], uint16_t cap, uint16_t lens[], uint64_t ts_ns[], unsigned n);

/* @return 1 when gen_next() would return 0, else 0. */
int gen_done(const struct gen *g);

/* Copies the counters so far into st. */
void gen_stats_get(const struct gen *g, struct gen_stats *st);

/* @return where pattern p sits in every connection's server stream (auto
 *   offsets resolved), or GEN_PAT_AUTO when p is out of range. */
uint32_t gen_pattern_offset(const struct gen *g, unsigned p);

/* The server byte stream every connection downloads (HTTP response header,
 * then the body with the patterns planted) and the client's request.
 * @return a pointer valid until gen_destroy(); its length in *len. */
const uint8_t *gen_server_stream(const struct gen *g, uint32_t *len);
const uint8_t *gen_client_request(const struct gen *g, uint32_t *len);

/* Frees g (NULL is fine). */
void gen_destroy(struct gen *g);

#endif
