/* The running pipeline: conf, mempool, ports, stage instances and rings. */
#ifndef MP_PIPELINE_TYPES_H
#define MP_PIPELINE_TYPES_H

#include <stdint.h>
#include "conf-types.h"
#include "stage-types.h"

struct rte_mempool;
struct gen;

enum mp_port_kind {
	MP_PORT_ETHDEV = 0, /* any DPDK port given by EAL arguments */
	MP_PORT_PCAP = 1,   /* net_pcap reading a file: has an end */
	MP_PORT_IFACE = 2,  /* net_af_packet on a live interface */
	/* bench/gen.h's workload generator inside rx (no ethdev, no file I/O):
	 * one per rx instance, generator part i of n_rx; has an end when a
	 * pkts= or conns= limit is given. Inline tx has nowhere to send its
	 * packets and releases them as in monitor mode. */
	MP_PORT_GEN = 3,
};

struct mp_port {
	uint16_t id;            /* DPDK port id */
	uint16_t peer;          /* inline: where its packets leave */
	uint8_t kind;           /* enum mp_port_kind */
	int dlt;                /* pcap link type (DLT_EN10MB for live ports) */
	uint64_t expect;        /* pcap: packets the file holds (pre-scanned) */
	struct gen *gen;        /* MP_PORT_GEN: the generator rx polls (owned by the pipeline) */
	uint8_t rx_csum_good;   /* MP_PORT_GEN: mark frames RX_L4_CKSUM_GOOD (gen: rxcsum=1) */
	struct mp_pcapfile *pf; /* MP_PORT_PCAP read by rx itself (no ethdev), else NULL */
	char name[256];         /* file, interface or generator spec */
};

struct mp_lcore_run {
	unsigned lcore;
	unsigned n;
	struct mp_stage_inst *inst[MP_MAX_PER_LCORE];
	struct mp_pipeline *pl;
};

struct mp_pipeline {
	struct mp_conf *conf;
	struct rte_mempool *pool;
	unsigned n_ports;
	struct mp_port port[MP_MAX_PORTS];
	unsigned n_inst[MP_ST_N];
	struct mp_stage_inst *inst[MP_ST_N][MP_MAX_INST];
	unsigned n_runs;
	struct mp_lcore_run run[MP_MAX_LCORES];
	/* Set by a signal or by the API to stop rx; read by rx instances. */
	volatile int stop;
	/* Live time: ns = base_ns + (tsc - base_tsc) * 1e9 / tsc_hz. */
	uint64_t tsc_hz, base_tsc, base_ns;
	/* Offset of DPDK's rx timestamp dynfield, -1 when no port provides it. */
	int ts_off;
	uint64_t ts_flag;
	/* Per-stage shared state (e.g. tcpsm's flow log), owned by that stage. */
	void *stage_shared[MP_ST_N];
	uint64_t start_tsc, end_tsc;
	/* Called by tx for each MP_CTRL_RETIRE mbuf, with its mp_meta.flow (set
	 * by tcpsm at init; may be called from any lcore). */
	void (*flow_retire)(struct mp_pipeline *pl, void *flow);
	/* Called by tx for each packet marked MP_MF_CONN_END: the app has run
	 * the flow's CONN_END callbacks, so its buffers will not be read again
	 * (set by tcpsm; any lcore). */
	void (*flow_ended)(struct mp_pipeline *pl, void *flow);
	/* Offline pacing (mospipe_gate): rx instances deliver no capture packet
	 * later than gate_ns (0 = open); each publishes the time of the packet it
	 * holds (gate_next, 0 = none) and whether it holds the end of input. */
	uint64_t gate_ns;
	uint64_t gate_next[MP_MAX_INST];
	uint8_t gate_eof[MP_MAX_INST];
	uint32_t gate_held[MP_MAX_INST]; /* packets held (received, not yet passed on) */
	uint64_t last_ts;                /* packet time rx last delivered */
	/* Hook for applications (issue: events/app API); NULL for mospipe. */
	void *app;
};

/* Totals for the conservation law rx + injected = tx + sum(drops) + in flight. */
#define MP_MAX_DROP_KINDS 64
struct mp_totals {
	uint64_t rx, injected, tx;
	uint64_t rx_bytes; /* frame bytes received */
	unsigned n_drops;
	struct {
		const char *name;
		uint64_t n;
	} drop[MP_MAX_DROP_KINDS];
	uint64_t drops;
};

#endif
