/* The parsed pipeline.conf. Every field has a default (runtime/conf_keys.def),
 * so a zero-line file (or none) gives a working single-lcore monitor. */
#ifndef MP_CONF_TYPES_H
#define MP_CONF_TYPES_H

#include <stdint.h>
#include "stage-types.h"

enum mp_mode { MP_MODE_MONITOR = 0, MP_MODE_INLINE = 1 };
enum mp_full { MP_FULL_EVICT = 0, MP_FULL_REFUSE = 1 };
enum mp_csum { MP_CSUM_VERIFY = 0, MP_CSUM_IGNORE = 1 };
enum mp_fanout { MP_FANOUT_HASH = 0, MP_FANOUT_INDEX = 1 };
enum mp_overlap { MP_OVERLAP_FIRST = 0, MP_OVERLAP_LAST = 1 };

#define MP_CONF_STR 1024
#define MP_MAX_PORTS 16
#define MP_MAX_PER_LCORE (MP_ST_N * MP_MAX_INST)

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
	/* [input] */
	char input[MP_CONF_STR];
	uint64_t pcap_eof_idle_ms;
	unsigned pcap_mmap;
	/* [ports] */
	char pairs[MP_CONF_STR];
	unsigned rx_desc, tx_desc;
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
	unsigned overlap;
	uint64_t buf_size, buf_pool;
	unsigned buf_free_at_end;
	unsigned frag_flows;
	uint64_t frag_timeout_ms;
	/* [output] */
	char write_pcap[MP_CONF_STR];
	char counters_json[MP_CONF_STR];
	char flow_log[MP_CONF_STR];

	/* [lcores], resolved */
	unsigned n_lcores;
	struct mp_lcore_map lc[MP_MAX_LCORES];
	unsigned n_inst[MP_ST_N]; /* instances of each stage */
	unsigned lcores_line;     /* line of the [lcores] header, 0 if none */
	char path[512];           /* file it came from, "" when none */
};

#endif
