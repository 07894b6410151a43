/* tcpsm types: the flow (two emulated TCP endpoints), the instance (private
 * flow table, pool, timer lists) and the flow-log record. Internal to the
 * tcpsm stage (and its unit tests): other stages see a flow only through the
 * accessors of tcpsm.h, never its layout. */
#ifndef TCPSM_TYPES_H
#define TCPSM_TYPES_H

#include <stdint.h>
#include <sys/queue.h>

#include <urcu/call-rcu.h>
#include <urcu/rculfhash.h>

#include "conf-types.h"
#include "meta-types.h"
#include "tcpsm_events.h"

struct rte_ring;
struct mp_conntable;
struct mp_meta;

/* tcpsm counter ids TCPSM_C_<ID>, 0-based (the stage's counters follow the
 * common ones: an instance counts into si->ctr + MP_CC_N), and TCPSM_C_N. */
#define MP_CTR_STAGE tcpsm
#define MP_CTR_PREFIX TCPSM_C_
#define MP_CTR_FIRST 0
#define MP_CTR_DEF "tcpsm_counters.def"
#define MP_CTR_ENUM_ONLY
#include "counters-gen.h"

/* Timer lists a flow sits on. Each list is ordered by the time its deadline
 * counts from (a flow moves to the tail when that time changes), so expiry
 * only looks at heads, and so does eviction (tcpsm_flowtab.c): the head of
 * a list is its least recently active flow. */
enum tcpsm_list {
	TCPSM_L_HALF = 0, /* handshake not complete: syn_timeout after last packet */
	TCPSM_L_EST,      /* idle_timeout after last packet */
	TCPSM_L_CLOSED,   /* TIME_WAIT / after RST: time_wait after the close */
	/* Picked up mid-stream and not confirmed: one direction seen, or
	 * nothing either side sent acknowledged by the other (what spoofed
	 * ACKs make). idle_timeout like EST, but evictable like HALF. */
	TCPSM_L_UNCONF,
	TCPSM_L_N,
};

/* Sequence space of one direction that has been seen, as byte offsets from
 * the side's base: everything below `front`, plus up to TCPSM_IVS_N disjoint
 * sorted ranges above it, as 32-bit offsets from `front`. When a new range
 * does not fit, the lowest hole is given up (treated as seen), so counts
 * stay bounded and exact up to TCPSM_IVS_N holes at once. 16: a 1.5 MB
 * download through 0.5% loss and 1% reordering with SACK (flowlog_test)
 * had more than 8 holes open at once, and a hole given up stays counted as
 * missed after its retransmission fills it; 32-bit offsets keep the set
 * the size 8 ranges of 64-bit offsets took. */
#define TCPSM_IVS_N 16
struct tcpsm_ivs {
	uint64_t front; /* [0, front) seen (or given up) */
	uint64_t high;  /* highest end ever added */
	uint64_t seen;  /* bytes really added (given-up holes excluded) */
	uint8_t n;
	uint8_t pad_[7];
	struct {
		uint32_t l, r; /* [front + l, front + r) */
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

/* tcpsm_side.xflags */
#define TCPSM_XF_TS 0x01u   /* sent the timestamp option on its SYN */
#define TCPSM_XF_SACK 0x02u /* sack_max is the right edge of the SACK blocks of its last ACK */
#define TCPSM_XF_RWE 0x04u  /* rwe is known */

/* tcpsm_rcv.flags */
#define TCPSM_RF_NXT 0x01u  /* nxt is known */
#define TCPSM_RF_TSR 0x02u  /* ts_recent is known */
#define TCPSM_RF_URG 0x04u  /* an urgent byte is due at urg */
#define TCPSM_RF_FIN 0x08u  /* it took the peer's FIN (at fin) */
#define TCPSM_RF_SYN 0x10u  /* it refused a SYN (at syn) in a synchronized state */
#define TCPSM_RF_RST 0x20u  /* it took a RST: nothing more enters its stream */
#define TCPSM_RF_FINQ 0x40u /* it holds the peer's FIN out of order (at finq) */

/* An endpoint as a receiver: the model of its TCP stack (tcp.policy) that
 * decides which of the peer's bytes enter the stream it receives
 * (tcpsm_accept.c). Sequence numbers are the peer's. Written by the tcpsm
 * instance only; nothing outside tcpsm reads it. */
#define TCPSM_RCV_OOO 4 /* out-of-order ranges remembered (more: the two furthest merge) */
struct tcpsm_range {
	uint32_t l, r; /* sequence numbers [l, r) */
};
#define TCPSM_URG_KEEP 4 /* positions of urgent bytes taken out remembered */
struct tcpsm_rcv {
	uint32_t nxt;                    /* RCV.NXT: the next in-order byte it expects */
	uint32_t ts_recent;              /* the peer's timestamp PAWS compares with (TS.Recent) */
	uint32_t urg;                    /* the urgent byte it waits for (TCPSM_RF_URG) */
	uint32_t fin;                    /* sequence number of the peer's FIN it took (TCPSM_RF_FIN) */
	uint32_t syn;                    /* a SYN it refused (TCPSM_RF_SYN): a SYN-ACK to it starts a new connection */
	uint32_t finq;                   /* the peer\'s FIN it holds out of order (TCPSM_RF_FINQ) */
	uint32_t urg_n;                  /* urgent bytes taken out of the stream so far */
	uint32_t urg_at[TCPSM_URG_KEEP]; /* the last of them, oldest first */
	uint16_t flags;                  /* TCPSM_RF_* */
	uint8_t policy;                  /* enum mp_policy it is modelled on */
	uint8_t n_ooo;
	struct tcpsm_range ooo[TCPSM_RCV_OOO]; /* bytes it holds out of order, by l */
};

/* One emulated endpoint. Sequence numbers are those the endpoint sends. */
struct tcpsm_side {
	uint8_t state;  /* enum mp_tcp_state */
	uint8_t flags;  /* TCPSM_SF_* */
	uint8_t wscale; /* shift it announced, clamped to 14 */
	uint8_t xflags; /* TCPSM_XF_* */
	uint32_t isn;
	uint32_t base_seq; /* sequence number of payload offset 0 */
	uint32_t nxt;      /* highest sequence end it sent (SYN, FIN count 1) */
	uint32_t fin_seq;  /* sequence number of its FIN */
	uint32_t ack;      /* last acknowledgment it sent */
	uint32_t win;      /* last window it advertised, scaled */
	uint32_t max_win;  /* largest window it advertised, scaled (the peer's max_window) */
	uint64_t pkts;
	uint64_t rexmit, rexmit_bytes;
	struct tcpsm_ivs sent; /* sequence space it sent (pay_len): rexmit, bytes */
	uint64_t uncap;        /* new bytes of it the capture cut off (snaplen) */
	void *buf;             /* reassembly buffer, NULL until first needed */
	uint32_t sack_max;     /* TCPSM_XF_SACK */
	/* The right edge of the window it advertised (ACK + window), never
	 * moving left: Linux does not shrink it (tcp_select_window()), and a
	 * reordered older segment must not pull it back. */
	uint32_t rwe;
	struct tcpsm_rcv rcv; /* it as a receiver */
	/* The side's stream edge as last written into a packet's metadata
	 * (tcpsm_reasm_edges()), recomputed only when the buffer changed
	 * (tcpsm_flow.edge_dirty): next to buf, on a line every packet reads,
	 * while the other side's buffer itself is a cold line. */
	struct mp_edge edge;
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
	TAILQ_ENTRY(tcpsm_flow) bq; /* open, holding chunks: reclaim when the pool runs dry */
	uint64_t bq_ts;             /* last_ts when it was (re)queued on bq (second chance) */
	struct tcpsm_key key;
	uint32_t hash;     /* private table hash of key */
	uint32_t pkt_hash; /* mp_meta.hash of its packets: control mbufs follow them */
	uint8_t cli_is_a;  /* the client is key.a */
	uint8_t list;      /* enum tcpsm_list */
	uint8_t in_rq;     /* on ti->reclaimq */
	uint8_t in_bq;     /* on ti->bufq */
	uint8_t end;       /* enum tcpsm_end once closed or ended */
	uint8_t midstream;
	uint8_t closed; /* CONN_END raised */
	uint8_t in_ct;  /* published in the RCU table */
	/* Set once tx handed back the flow's MP_CTRL_ENDED (the packet that
	 * raised CONN_END has left the app stage), or at CONN_END when no
	 * reader may peek the flow's buffers; tcpsm's lcore only, like
	 * reclaim_flow() (tcpsm_reasm.c) which reads it. */
	uint8_t end_seen;
	/* Mid-stream flow seen to be two endpoints talking: a segment from one
	 * side acknowledged something the other sent (tcpsm_sm.c). */
	uint8_t confirmed;
	/* Publication in the RCU table was tried: its object then goes back to
	 * the pool after a grace period, else as soon as tx retired it. */
	uint8_t published;
	uint8_t pad_[1];
	/* Number of the flow's newest mbuf out of tcpsm (mp_pkt_ext.fpkt;
	 * 0: none yet). Once the reader's release of the flow (rel[] below)
	 * equals it, no callback of the flow is running or pending: its open
	 * sides may give their chunks back (tcpsm_reasm.c, reclaim_open()). */
	uint16_t npkt;
	uint8_t pad2_[2];
	uint64_t id;
	uint64_t first_ts, last_ts, list_ts; /* packet time, ns */
	struct tcpsm_side s[2];              /* [MP_SIDE_CLI], [MP_SIDE_SVR] */
	/* The flow's slot: unique among the pipeline's flows not yet retired
	 * (instance i owns [i * S, (i + 1) * S), S = its pool size). Fixed to
	 * the object when the pool is made; flow creation keeps it. */
	uint32_t slot;
	/* The request channel from the events and app stages (tcpsm.h, "control
	 * word"): written only through tcpsm.h's accessors, atomics. */
	uint32_t ctl;
	uint32_t want_size[2]; /* size a pending TCPSM_CTL_RESIZE(side) asks for */
	uint8_t edge_dirty;    /* bit s: s[s].edge is stale (tcpsm_reasm_edges()) */
};

TAILQ_HEAD(tcpsm_fq, tcpsm_flow);

/* What an instance is configured with (from struct mp_conf, or by tests). */
struct tcpsm_params {
	unsigned flows; /* active flows at most */
	/* Flow objects beyond `flows` for those ended and not yet retired; 0:
	 * the pipeline's default (tcpsm_pool_size). An instance whose ended
	 * flows come back at once (tests, fuzzing: no pipeline, no grace
	 * period) needs few. */
	unsigned retire_slack;
	unsigned table_full; /* enum mp_full */
	unsigned midstream;
	unsigned overlap; /* enum mp_overlap */
	unsigned csum_verify;
	uint64_t idle_ns, syn_ns, tw_ns;
	uint64_t buf_size, buf_pool;
	unsigned buf_free_at_end; /* conf tcp.buf_free_at_end */
	unsigned buf_nohist;      /* conf tcp.buf_history = no (reasm_pool_set_nohist) */
	unsigned prefault;        /* the flow state's pages written at start-up (conf tcp.prefault, auto resolved) */
	unsigned policy;          /* enum mp_policy: tcp.policy */
	unsigned urgent;          /* enum mp_urgent: tcp.urgent */
	unsigned min_ttl;         /* tcp.min_ttl, 0 = off */
	unsigned n_policy_nets;   /* [policy] */
	struct mp_policy_net policy_nets[MP_MAX_POLICY_NETS];
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
	size_t tab_bytes;
	/* A bit per 4 KiB page of tab, set before the page's first write. A
	 * page never written is all empty slots and is never read: its first
	 * touch is a write (tcpsm_tab_pg_used). */
	uint64_t *tab_pg;
	uint32_t mask;
	unsigned n_active;
	/* Flow objects (tcpsm_flowtab.c): a reserved mapping whose pages come
	 * on first use, handed out in order while never used (n_bumped), then
	 * from a free ring (any thread may put: tcpsm, the call_rcu thread;
	 * only tcpsm takes). A run's memory grows with the flows it sees. */
	struct tcpsm_flow *arr;
	size_t arr_bytes;
	unsigned n_obj, n_bumped;
	struct rte_ring *free_ring;
	size_t free_ring_bytes;
	struct tcpsm_fq lists[TCPSM_L_N];
	struct tcpsm_fq reclaimq; /* closed flows that may hold buffer chunks, oldest first */
	/* Open flows holding buffer chunks, least recently active first (as
	 * CLOCK approximates it: a flow is queued at the tail when it takes its
	 * first chunk and requeued by the reclaim walk if it was active since;
	 * per packet nothing moves). tcpsm_reasm.c. */
	struct tcpsm_fq bufq;
	struct mp_conntable *ct; /* may be NULL */
	tcpsm_end_fn on_end;
	void *end_arg;
	void *reasm;        /* reassembly buffer pool, NULL when buffers are off */
	uint32_t slot_base; /* slot of the pool's first flow: idx * pool size */
	/* Per flow object (slot - slot_base): the fpkt of the flow's newest
	 * mbuf whose callbacks all returned, stored (release) by the lcore
	 * that holds the flow's packets in order (tcpsm_flow_release(): app,
	 * or events for a bypass), reset by tcpsm when the object makes a new
	 * flow. Apart from the flows so that tcpsm's lines are not written by
	 * the app's lcore on every packet. 16 bits: a flow has fewer than
	 * 65536 mbufs in the pipeline at once ([mempool] mbufs is at most
	 * 65535 by default; more only with more of one flow in flight). */
	_Atomic uint16_t *rel;
	/* Control bits every new flow starts with (tcpsm_set_new_flow_ctl: set
	 * on the main thread before packets flow, read-only afterwards). */
	uint32_t new_ctl;
	uint64_t next_id;
	uint64_t now_ns; /* newest packet time seen */
	/* A quarter of the pool's slack is in retirement (a flood's
	 * churn): new flows are published only once confirmed, so that those
	 * evicted before skip the grace period (tcpsm_pool_watch). */
	uint8_t pool_low;
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
