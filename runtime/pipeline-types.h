/* The running pipeline: conf, mempool, ports, stage instances and rings, the
 * services the runtime runs for the stages, and the creation parameter of
 * the application stages.
 *
 * Not a mailbox: stages talk only through the rings of the topology
 * (pipeline.c's downstream[] and feedback[]), the metadata in the mbuf, and
 * accessors the owning stage exports in its public header (STYLE.md,
 * "Channels between stages"). A stage reads these fields; it writes none of
 * them (scripts/check-layers.sh fails when one does): they are set by
 * mp_pipeline_create before any init, `stop` by mp_pipeline_stop. */
#ifndef MP_PIPELINE_TYPES_H
#define MP_PIPELINE_TYPES_H

#include <stdint.h>
#include "conf-types.h"
#include "stage-types.h"

struct rte_mempool;
struct mp_mbuf_lazy;
struct gen;
struct mp_pcapfile;
struct mp_pcap_cuts;
struct mp_conntable;
struct mp_reclog;

enum mp_port_kind {
	MP_PORT_ETHDEV = 0, /* any DPDK port given by EAL arguments */
	MP_PORT_PCAP = 1,   /* net_pcap reading a file: has an end */
	MP_PORT_IFACE = 2,  /* a live interface: net_af_xdp or net_af_packet */
	/* runtime/gen.h's workload generator inside rx (no ethdev, no file I/O):
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
	/* pf read by replicated pipelines: what the scan before the run learnt
	 * of its records (runtime/pcapin.h), else NULL. */
	struct mp_pcapidx *idx;
	/* pf: rx stopped at a record libpcap refuses, in the part of the file
	 * the scan before the run left unchecked (runtime/input.c). */
	uint8_t damaged;
	/* MP_PORT_PCAP read by net_pcap: the records the capture cut, with
	 * their original lengths (runtime/pcapin.h); NULL when none was. */
	struct mp_pcap_cuts *cuts;
	char name[256]; /* file, interface or generator spec */
	/* MP_PORT_IFACE: the kernel's count of frames the interface received
	 * (rx_packets + rx_dropped) when the port started (mp_port_kernel_rx). */
	uint64_t k_base;
	/* Receive queues (rx polls them all): 1, or for MP_PORT_IFACE the
	 * queue pairs its vdev has, among which the kernel spreads the frames
	 * (PACKET_FANOUT). */
	uint16_t n_rxq;
	uint32_t ring_cap; /* MP_PORT_IFACE: frames each queue's kernel ring holds */
	uint8_t xdp;       /* MP_PORT_IFACE: opened through net_af_xdp (else net_af_packet) */
};

struct mp_lcore_run {
	unsigned lcore;
	unsigned n;
	struct mp_stage_inst *inst[MP_MAX_PER_LCORE];
	struct mp_pipeline *pl;
	/* Passes of the lcore's loop over its instances so far, and whether
	 * it left the loop: written by the lcore (atomically), read by
	 * mospipe_quiet, which waits for whole passes (mp_lcores_pass). */
	uint64_t loops;
	int ended;
};

struct mp_pipeline {
	struct mp_conf *conf;
	struct rte_mempool *pool;
	struct mp_mbuf_lazy *pool_lazy; /* growth state of pool, or NULL (mbufpool.h) */
	unsigned n_ports;
	struct mp_port port[MP_MAX_PORTS];
	unsigned n_inst[MP_ST_N];
	struct mp_stage_inst *inst[MP_ST_N][MP_MAX_INST];
	unsigned n_runs;
	struct mp_lcore_run run[MP_MAX_LCORES];
	/* Set by a signal or by the API to stop rx (mp_pipeline_stop); read by
	 * rx instances. */
	volatile int stop;
	/* Live time: ns = base_ns + (tsc - base_tsc) * 1e9 / tsc_hz. */
	uint64_t tsc_hz, base_tsc, base_ns;
	/* Offset of DPDK's rx timestamp dynfield, -1 when no port provides it. */
	int ts_off;
	uint64_t ts_flag;
	uint64_t start_tsc, end_tsc;

	/* ---- services --------------------------------------------------------
	 * Run by the runtime for every stage that may use them, not channels
	 * between two stages: made by mp_pipeline_create when some stage type
	 * asks for them (struct mp_stage_svc) before any init, freed by
	 * mp_pipeline_destroy after every fini. Their concurrency contracts are
	 * in their headers. */
	/* The RCU connection table (runtime/conntable.h): tcpsm instances
	 * publish their flows, midstat and other readers walk it
	 * (mospipe_conntable()). NULL when no stage publishes connections. */
	struct mp_conntable *conntable;
	/* The flow log ([output] flow_log, runtime/reclog.h): fixed-size records
	 * pushed by tcpsm instances, written as lines by the log's own thread.
	 * NULL when the key is empty. */
	struct mp_reclog *flowlog;

	/* The application's API state (struct mp_api, stages/app): the creation
	 * parameter of mp_pipeline_create, read by the events and app stages
	 * (their inits take it; app's poll checks it); never written after
	 * creation. NULL for the mospipe command. */
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
	uint64_t port_missed; /* lost at the ports, before rx: frames the ports saw = rx + port_missed */
};

#endif
