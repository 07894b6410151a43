/* tcpsm types: the flow (two emulated TCP endpoints), the instance (private
 * flow table, pool, timer lists) and the flow-log record. */
#ifndef TCPSM_TYPES_H
#define TCPSM_TYPES_H

#include <stdint.h>
#include <sys/queue.h>

#include <urcu/call-rcu.h>
#include <urcu/rculfhash.h>

#include "tcpsm_events.h"

struct rte_mempool;
struct mp_conntable;
struct mp_meta;

/* tcpsm counter ids, 0-based (the stage's counters follow the common ones). */
enum tcpsm_ctr {
#define MP_CTR(id, name, help) TCPSM_C_##id,
#include "tcpsm_counters.def"
#undef MP_CTR
	TCPSM_C_N,
};

/* Why a flow ended (flow log "end"). */
enum tcpsm_end {
	TCPSM_END_NONE = 0,
	TCPSM_END_FIN,
	TCPSM_END_RST,
	TCPSM_END_TIMEOUT,
	TCPSM_END_EVICTED,
	TCPSM_END_OPEN,
};

/* Timer lists a flow sits on. Each list is ordered by the time its deadline
 * counts from (a flow moves to the tail when that time changes), so expiry
 * only looks at heads. */
enum tcpsm_list {
	TCPSM_L_HALF = 0, /* handshake not complete: syn_timeout after last packet */
	TCPSM_L_EST,      /* idle_timeout after last packet */
	TCPSM_L_CLOSED,   /* TIME_WAIT / after RST: time_wait after the close */
	TCPSM_L_N,
};

/* Sequence space of one direction that has been seen, as byte offsets from
 * the side's base: everything below `front`, plus up to TCPSM_IVS_N disjoint
 * sorted ranges above it. When a new range does not fit, the lowest hole is
 * given up (treated as seen), so counts stay bounded and exact up to
 * TCPSM_IVS_N holes at once. */
#define TCPSM_IVS_N 8
struct tcpsm_ivs {
	uint64_t front; /* [0, front) seen (or given up) */
	uint64_t high;  /* highest end ever added */
	uint64_t seen;  /* bytes really added (given-up holes excluded) */
	uint8_t n;
	uint8_t pad_[7];
	struct {
		uint64_t l, r;
	} iv[TCPSM_IVS_N];
};

/* tcpsm_side.flags */
#define TCPSM_SF_SEQ 0x01u    /* base_seq/nxt are known */
#define TCPSM_SF_SYN 0x02u    /* its SYN was seen (isn valid) */
#define TCPSM_SF_FIN 0x04u    /* its FIN was seen (fin_seq valid) */
#define TCPSM_SF_WS 0x08u     /* sent a window scale option on its SYN */
#define TCPSM_SF_ACK 0x10u    /* has sent an ACK (ack valid) */
#define TCPSM_SF_WIN 0x20u    /* win valid */
#define TCPSM_SF_ISN 0x40u    /* isn known (own SYN, or inferred from the peer's ACK) */
#define TCPSM_SF_SYNACK 0x80u /* its SYN-ACK was seen */

/* One emulated endpoint. Sequence numbers are those the endpoint sends. */
struct tcpsm_side {
	uint8_t state;  /* enum mp_tcp_state */
	uint8_t flags;  /* TCPSM_SF_* */
	uint8_t wscale; /* shift it announced, clamped to 14 */
	uint8_t pad_;
	uint32_t isn;
	uint32_t base_seq; /* sequence number of payload offset 0 */
	uint32_t nxt;      /* highest sequence end it sent (SYN, FIN count 1) */
	uint32_t fin_seq;  /* sequence number of its FIN */
	uint32_t ack;      /* last acknowledgment it sent */
	uint32_t win;      /* last window it advertised, scaled */
	uint32_t pad2_;
	uint64_t pkts;
	uint64_t rexmit, rexmit_bytes;
	struct tcpsm_ivs sent; /* sequence space it sent (pay_len): rexmit, bytes */
	uint64_t uncap;        /* new bytes of it the capture cut off (snaplen) */
	void *buf;             /* reassembly buffer, NULL until first needed */
};

/* Both directions find the flow: a <= b by (address, port). */
struct tcpsm_key {
	uint8_t a[16], b[16];
	uint16_t pa, pb;
	uint8_t v6;
	uint8_t pad_[3];
};

struct tcpsm_inst;

struct tcpsm_flow {
	struct cds_lfht_node ln; /* RCU connection table */
	struct rcu_head rcu;     /* freed after a grace period once retired */
	struct tcpsm_inst *ti;
	TAILQ_ENTRY(tcpsm_flow) tq; /* timer list */
	TAILQ_ENTRY(tcpsm_flow) rq; /* closed with buffers: chunks to reclaim (tcpsm_reasm.c) */
	struct tcpsm_key key;
	uint32_t hash;     /* private table hash of key */
	uint32_t pkt_hash; /* mp_meta.hash of its packets: control mbufs follow them */
	uint8_t cli_is_a;  /* the client is key.a */
	uint8_t list;      /* enum tcpsm_list */
	uint8_t in_rq;     /* on ti->reclaimq */
	uint8_t end;       /* enum tcpsm_end once closed or ended */
	uint8_t midstream;
	uint8_t closed; /* CONN_END raised */
	uint8_t in_ct;  /* published in the RCU table */
	/* Set (release) by tx once the packet that raised CONN_END left the
	 * app stage; read (acquire) by tcpsm_reasm_reclaim_ended(). */
	uint8_t end_seen;
	uint8_t pad_[1];
	uint64_t id;
	uint64_t first_ts, last_ts, list_ts; /* packet time, ns */
	struct tcpsm_side s[2];              /* [MP_SIDE_CLI], [MP_SIDE_SVR] */
	void *app;                           /* per-flow state of the events/app stages, NULL by default */
	uint32_t ctl;                        /* requests from the app stage (tcpsm_app.h), atomics */
};

TAILQ_HEAD(tcpsm_fq, tcpsm_flow);

/* What an instance is configured with (from struct mp_conf, or by tests). */
struct tcpsm_params {
	unsigned flows;      /* active flows at most */
	unsigned table_full; /* enum mp_full */
	unsigned midstream;
	unsigned overlap; /* enum mp_overlap */
	unsigned csum_verify;
	uint64_t idle_ns, syn_ns, tw_ns;
	uint64_t buf_size, buf_pool;
	unsigned buf_free_at_end; /* conf tcp.buf_free_at_end */
};

struct tcpsm_slot {
	uint32_t hash;
	struct tcpsm_flow *f; /* NULL: empty */
};

/* Called when a flow ends (it is already out of the private and RCU tables).
 * ev: the event bits the flow's control mbuf must carry (CONN_END unless it
 * was raised on a packet, TIMEOUT for timeouts). The callee owns the flow
 * from then on and frees it with tcpsm_flow_free once nothing refers to it. */
typedef void (*tcpsm_end_fn)(struct tcpsm_inst *ti, struct tcpsm_flow *f, uint32_t ev, void *arg);

struct tcpsm_inst {
	struct tcpsm_params p;
	unsigned idx;
	uint64_t *ctr; /* TCPSM_C_N counters, single writer */
	int own_ctr;   /* ctr was allocated here */
	/* Private table: open addressing, linear probing, power-of-two size. */
	struct tcpsm_slot *tab;
	uint32_t mask;
	unsigned n_active;
	/* Flow objects: an rte_mempool (any thread may free) or, without EAL,
	 * a plain array with a free stack (frees on the owning thread only). */
	struct rte_mempool *mp;
	struct tcpsm_flow *arr;
	struct tcpsm_flow **free_stk;
	unsigned n_free;
	struct tcpsm_fq lists[TCPSM_L_N];
	struct tcpsm_fq reclaimq; /* closed flows that may hold buffer chunks, oldest first */
	struct mp_conntable *ct;  /* may be NULL */
	tcpsm_end_fn on_end;
	void *end_arg;
	void *reasm; /* reassembly buffer pool, NULL when buffers are off */
	uint64_t next_id;
	uint64_t now_ns; /* newest packet time seen */
};

/* One flow-log line before formatting (fixed size: travels in an rte_ring). */
struct tcpsm_flowrec {
	uint8_t cli[16], svr[16];
	uint16_t cli_port, svr_port;
	uint8_t v6, cli_state, svr_state, end;
	uint8_t midstream, pad_[3];
	uint64_t first_ts, last_ts;
	uint64_t pkts[2], bytes[2], missed[2], rexmit[2], rexmit_bytes[2];
};

#endif
