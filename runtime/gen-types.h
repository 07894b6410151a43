/* Types of the workload generator (runtime/gen.h): its parameters, its
 * statistics and the patterns it plants. Plain C, no DPDK.
 */
#ifndef GEN_TYPES_H
#define GEN_TYPES_H

#include <stdint.h>

#define GEN_MAX_PATTERNS 16
#define GEN_MAX_PATTERN_LEN 256
#define GEN_MAX_SERVERS 64
#define GEN_PAT_AUTO UINT32_MAX /* gen_pattern.offset: let the generator choose */

/* Defaults (gen_params_default). */
#define GEN_DEF_FLOWS 192000u
#define GEN_DEF_SIZE 65536u
#define GEN_DEF_REXMIT 0.01
#define GEN_DEF_GBPS 60.0
#define GEN_DEF_SERVERS 8u
#define GEN_DEF_START_NS 1700000000000000000ull /* 2023-11-14T22:13:20Z */

/* Frame layout of a full data segment: 14 Ethernet + 20 IPv4 + 20 TCP + 12
 * timestamp option + 1448 payload = 1514 bytes. */
#define GEN_MSS_OPT 1460u /* MSS announced in SYN and SYN-ACK */
#define GEN_SEG 1448u     /* payload per data segment (MSS less the timestamp option) */
#define GEN_MAX_FRAME 1514u

/* A literal planted into every connection's server byte stream.
 * offset: where in the server stream it starts (byte 0 is the first server
 * payload byte, the HTTP response header included), or GEN_PAT_AUTO; auto
 * patterns alternate between straddling a segment boundary (even pattern
 * index) and sitting inside one segment (odd index). */
struct gen_pattern {
	const uint8_t *bytes;
	uint16_t len; /* 1..GEN_MAX_PATTERN_LEN */
	uint32_t offset;
};

struct gen_params {
	uint32_t flows;     /* connections kept concurrent (slots) */
	uint32_t size;      /* HTTP body bytes each server sends */
	double rexmit;      /* fraction of data segments retransmitted, [0, 0.5] */
	uint64_t seed;      /* same seed and params -> same bytes */
	uint64_t max_conns; /* connections to start in all; 0 = no limit */
	uint64_t max_pkts;  /* frames to produce in all; 0 = no limit */
	double gbps;        /* packet time advances as if frames came at this rate */
	uint64_t start_ns;  /* time of the first frame */
	uint32_t servers;   /* server addresses 172.16.0.1.. (1..GEN_MAX_SERVERS) */
	/* Several generators feeding one pipeline (one per rx instance): give
	 * each the same n_parts and its own part in [0, n_parts); their
	 * connections, hence 4-tuples, are disjoint. 0 and 1 mean one part. */
	uint32_t part, n_parts;
	uint32_t n_patterns;
	struct gen_pattern pattern[GEN_MAX_PATTERNS];
	/* A flood mixed into the connections (bench/README.md, "Floods"):
	 * flood_syns SYNs and flood_acks bare ACKs (with flood_data payload
	 * bytes each, 0..GEN_SEG), from flood_sources spoofed addresses in
	 * 100.64.0.0/10 (random ports, sequence and acknowledgment numbers) to
	 * the servers' port 80, spread evenly among the connections' frames
	 * (what is left after the last connection ends goes out then). The
	 * connections' frames are the same bytes as without the flood. */
	uint64_t flood_syns, flood_acks;
	uint32_t flood_sources; /* 1..GEN_MAX_FLOOD_SOURCES; 0 = 1,000,000 */
	uint32_t flood_data;
};

#define GEN_MAX_FLOOD_SOURCES (1u << 22) /* 100.64.0.0/10 */
#define GEN_DEF_FLOOD_SOURCES 1000000u

struct gen_stats {
	uint64_t pkts;           /* frames produced */
	uint64_t bytes;          /* frame bytes (Ethernet header to end of payload) */
	uint64_t payload;        /* TCP payload bytes, retransmissions included */
	uint64_t conns_started;  /* SYNs sent */
	uint64_t conns_finished; /* last ACK of the teardown sent */
	uint64_t data_segs;      /* first transmissions of server data segments */
	uint64_t rexmits;        /* retransmitted server data segments */
	uint64_t last_ts_ns;     /* time of the last frame */
	uint64_t flood_syns;     /* spoofed SYNs sent (gen_params.flood_syns) */
	uint64_t flood_acks;     /* spoofed ACKs sent */
	/* Per pattern: instances planted (their last byte sent at least once),
	 * and exact occurrences of the pattern in all first-transmitted payload
	 * of both directions (>= planted when a pattern occurs inside another
	 * one or in the HTTP text). A stream search over reassembled payload
	 * must report exactly pat_expect[p] matches. */
	uint64_t pat_planted[GEN_MAX_PATTERNS];
	uint64_t pat_expect[GEN_MAX_PATTERNS];
};

struct gen;

#endif
