/* The parsed pipeline.conf. Every field has a default (runtime/conf_keys.def),
 * so a zero-line file (or none) gives a working single-lcore monitor. */
#ifndef MP_CONF_TYPES_H
#define MP_CONF_TYPES_H

#include <stdint.h>
#include "stage-types.h"

enum mp_mode { MP_MODE_MONITOR = 0, MP_MODE_INLINE = 1 };
enum mp_full { MP_FULL_EVICT = 0, MP_FULL_REFUSE = 1 };
enum mp_csum { MP_CSUM_VERIFY = 0, MP_CSUM_IGNORE = 1 };
/* How much of a mapped capture is checked for damage before the run. */
enum mp_auto { MP_AUTO = 0, MP_YES = 1, MP_NO = 2 }; /* keys of auto | yes | no */
enum mp_pcapcheck { MP_PCAPCHECK_START = 0, MP_PCAPCHECK_WHOLE = 1, MP_PCAPCHECK_NONE = 2 };
/* How -i opens a live interface ([ports] driver). */
enum mp_portdrv { MP_PORTDRV_AUTO = 0, MP_PORTDRV_AF_XDP = 1, MP_PORTDRV_AF_PACKET = 2 };
enum mp_fanout { MP_FANOUT_HASH = 0, MP_FANOUT_INDEX = 1 };
enum mp_overlap { MP_OVERLAP_FIRST = 0, MP_OVERLAP_LAST = 1, MP_OVERLAP_TARGET = 2 };
/* The receiver a stream is modelled on (tcp.policy, [policy]). */
enum mp_policy { MP_POLICY_LINUX = 0, MP_POLICY_WINDOWS = 1, MP_POLICY_N };
enum mp_urgent { MP_URGENT_REMOVE = 0, MP_URGENT_INLINE = 1 };

/* One line of [policy]: hosts of this network are modelled on `policy`. */
#define MP_MAX_POLICY_NETS 64
struct mp_policy_net {
	uint8_t addr[16]; /* network order, IPv4 in the first 4 bytes */
	uint8_t plen;     /* prefix length */
	uint8_t v6;
	uint8_t policy; /* enum mp_policy */
	uint8_t pad_;
};
/* Same order as stages/classify/ipfrag.h's enum ipf_policy. */
enum mp_fragpol { MP_FRAGPOL_LINUX = 0, MP_FRAGPOL_BSD = 1, MP_FRAGPOL_FIRST = 2, MP_FRAGPOL_LAST = 3 };
enum mp_unparsable { MP_UNPARSABLE_DROP = 0, MP_UNPARSABLE_FORWARD = 1 };

#define MP_CONF_STR 1024
#define MP_MAX_PORTS 16
#define MP_MAX_PER_LCORE (MP_ST_N * MP_MAX_INST)

/* A number suffix and what it multiplies by (mp_parse_scaled). */
struct mp_unit {
	const char *sfx; /* matched without regard to case */
	uint64_t mul;
};

struct mp_lcore_map {
	unsigned lcore; /* EAL lcore id (= CPU id) */
	unsigned n;     /* stage instances it runs, round-robin */
	struct {
		uint8_t stage; /* enum mp_stage_id */
		uint8_t inst;
	} item[MP_MAX_PER_LCORE];
};

struct mp_conf {
	/* [pipeline] */
	unsigned mode;
	unsigned burst;
	unsigned ring_size;
	unsigned telemetry;
	uint64_t hash_key; /* 0: random per run (runtime/hash.h) */
	/* [input] */
	char input[MP_CONF_STR];
	char filter[MP_CONF_STR]; /* BPF expression: packets that do not match are not monitored */
	uint64_t pcap_eof_idle_ms;
	unsigned pcap_mmap;
	unsigned pcap_check; /* enum mp_pcapcheck */
	unsigned conntable;  /* enum mp_auto: pipeline.conntable */
	/* [ports] */
	char pairs[MP_CONF_STR];
	unsigned rx_desc, tx_desc;
	unsigned ring_frames, ring_block; /* AF_PACKET ring of -i ports */
	unsigned port_driver;             /* enum mp_portdrv */
	/* [mempool] */
	unsigned mbufs, mbuf_cache, data_room;
	/* [eal] */
	char eal_args[MP_CONF_STR];
	/* [tcp] */
	unsigned flows;
	unsigned table_full;
	uint64_t idle_timeout_ms, syn_timeout_ms, time_wait_ms;
	unsigned checksum;
	unsigned fanout; /* enum mp_fanout */
	unsigned midstream;
	unsigned overlap; /* enum mp_overlap */
	unsigned policy;  /* enum mp_policy */
	unsigned urgent;  /* enum mp_urgent */
	unsigned min_ttl;
	uint64_t buf_size, buf_pool;
	/* mOS's buffer count (mos.conf no_ring_buffers, mtcp_setconf) when
	 * buf_pool came from one, 0 otherwise: what mtcp_getconf() reports. */
	uint32_t mos_buffers;
	unsigned buf_free_at_end;
	unsigned buf_history; /* tcp.buf_history: 0 = a packet's bytes only at its own events */
	unsigned prefault;    /* enum mp_auto: tcp.prefault, the flow state written at start-up */
	unsigned frag_flows;
	uint64_t frag_timeout_ms;
	unsigned frag_mbufs;
	unsigned frag_policy; /* enum mp_fragpol */
	/* [api] */
	unsigned api_sockets, api_follow, api_timers;
	/* [security] */
	unsigned unparsable; /* enum mp_unparsable */
	/* [output] */
	char write_pcap[MP_CONF_STR];
	char counters_json[MP_CONF_STR];
	char flow_log[MP_CONF_STR];

	/* [policy]: per network, longest prefix first when looked up */
	unsigned n_policy_nets;
	struct mp_policy_net policy_nets[MP_MAX_POLICY_NETS];

	/* [lcores], resolved */
	unsigned n_lcores;
	struct mp_lcore_map lc[MP_MAX_LCORES];
	unsigned n_inst[MP_ST_N]; /* instances of each stage */
	unsigned lcores_line;     /* line of the [lcores] header, 0 if none */
	char path[512];           /* file it came from, "" when none */
};

#endif
