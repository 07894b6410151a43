/* mospipe extensions to the mOS API: what a monitoring tool needs beyond
 * mOS's functions. Optional for applications; midstat uses them.
 *
 * Every function returns 0 on success or -1 with errno set; none may be
 * called before mtcp_init(). */
#ifndef MOSPIPE_EXT_H
#define MOSPIPE_EXT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mos_api.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mp_pipeline;
struct mp_conntable;
struct mp_conn_snap;

/* The running pipeline (counters, health) and its RCU connection table. The
 * table may be walked from any thread registered with liburcu-qsbr
 * (rcu_register_thread) — see runtime/conntable.h for the contract. Both
 * exist from the first mtcp_create_context() on.
 * @return NULL with errno EPERM before mtcp_init(); mospipe_conntable():
 * NULL with errno ENOENT when the pipeline keeps no table ([pipeline]
 * conntable = no; the default, auto, keeps one for every application). */
struct mp_pipeline *mospipe_pipeline(void);
struct mp_conntable *mospipe_conntable(void);

/* A snapshot of the flow of the socket a callback runs for, and how it ended
 * when called from MOS_ON_CONN_END ("fin", "rst", "timeout", "evicted",
 * "open"; NULL while open).
 * @return 0, or -1 with errno EBADF (no flow behind sock) or EPERM (not in a
 * callback). */
int mospipe_flow_snap(mctx_t mctx, int sock, struct mp_conn_snap *out, const char **end, uint64_t missed[2],
                      uint64_t rexmit_bytes[2]);

/* Offline pacing for tools that print on packet time: rx delivers no packet
 * whose time is later than `ns` until the gate moves (0 opens it fully).
 * Live inputs ignore it. @return 0. */
int mospipe_gate(uint64_t ns);

/* 1 when the pipeline holds no packet (everything received has left tx) and
 * rx is waiting at the gate or finished; 0 otherwise. Meant for a thread of
 * the tool's own (midstat's reader): it waits for each lcore to make a pass
 * over its stages, microseconds when they are idle. */
int mospipe_quiet(void);

/* 1 when the input has ended and the pipeline drained. */
int mospipe_finished(void);

/* Packet time rx last delivered (ns), and the next packet's time waiting at
 * the gate (0 when none). */
uint64_t mospipe_time(void);
uint64_t mospipe_gate_next(void);

/* The command line every mospipe tool shares. Takes mospipe's own options out
 * of argv and hands them to mtcp_init() through the environment it reads:
 *   -c, --conf FILE          pipeline.conf: returned in *conf for mtcp_init()
 *   -r, --read FILE[,FILE]   offline input          ($MOSPIPE_INPUT=pcap:...)
 *   -i, --iface IF[,IF]      live input              ($MOSPIPE_INPUT=iface:...)
 *   -m, --mode MODE          monitor | inline        ($MOSPIPE_SET pipeline.mode)
 *   -s, --set SEC.KEY=VAL    any pipeline.conf key   ($MOSPIPE_SET, repeatable)
 *   -l, --lcores MAP         "0=rx,classify;1=..."   ($MOSPIPE_LCORES: replaces [lcores])
 *   -w, --write FILE         output.pcap
 *   -C, --checksum MODE      tcp.checksum
 *       --flow-log FILE      output.flow_log
 *       --counters-json FILE output.counters_json
 * Values may follow as the next argument, "-rFILE" or "--read=FILE". What the
 * environment already holds in $MOSPIPE_SET is kept, the options come after.
 * Every other argument stays in argv, in order (argv[0] first), for the
 * application's own parsing; "--" and everything after it are left alone.
 * @own: short option letters the application keeps for itself (e.g. "l"
 *   for a tool whose -l means a log directory; --lcores still works); NULL
 *   for none.
 * @conf: set to the -c value, or NULL.
 * @return 0, or -1 with errno EINVAL after printing "prog: what is wrong". */
int mospipe_args(int *argc, char **argv, const char *own, const char **conf);

/* ---- streamdump ------------------------------------------------------------
 * What a tool that files each connection away needs to know about the flow
 * of a callback's socket and that the mOS API does not say: when the flow
 * started and how it ended. (mospipe_flow_snap() has it too, but its struct
 * mp_conn_snap is not a public type.) */
struct mospipe_flow_info {
	uint64_t id;       /* per-process unique connection id */
	uint64_t first_ns; /* packet time of the flow's first packet (ns since the epoch) */
	uint64_t last_ns;  /* packet time of the flow's latest packet: tcpsm may be a few packets
	                      ahead of the callback, so this can be later than the event */
	uint64_t now_ns;   /* packet time of the packet being handled (0 for an event with no packet) */
	const char *end;   /* "fin", "rst", "timeout", "evicted", "open" (still open when the input
	                      ended); NULL while the flow is open. Static string. */
	uint8_t midstream; /* 1: picked up without its handshake (stream offsets count from the
	                      first byte seen, not from the ISN) */
};

/* Fills *out for the flow of the socket a callback runs for (callback,
 * active stream sockets). In a MOS_ON_CONN_END callback `end` is set.
 * @return 0, or -1 with errno EINVAL (out NULL), EPERM (not in a callback) or
 * EBADF (sock is not the flow's active socket). */
int mospipe_flow_info(mctx_t mctx, int sock, struct mospipe_flow_info *out);

/* ---- firewall (apps/firewall) ---------------------------------------------
 * Whether the packet a callback handles is an IP datagram the stack rebuilt
 * from its fragments (callback). The stack holds the fragments until their
 * datagram completes (as a receiver would see it, stages/classify/README.md)
 * and hands the rebuilt datagram to tcpsm and the application; the fragments
 * themselves never reach the application. Inline, the fragments then leave
 * unchanged with the datagram's verdict: MOS_DROP on it drops them all; a
 * change to its bytes (mtcp_setlastpkt) is not carried into them. A tool that
 * counts frames on the wire learns here that this packet stands for several.
 * Implemented in stages/app/ext_firewall.c.
 * @return 1 for a reassembled copy, 0 for a received packet, or -1 with errno
 *   EPERM (not in a callback of mctx), EACCES (mctx is not live) or ENODATA
 *   (the event has no packet: a timer, an idle timeout). */
int mospipe_pkt_reassembled(mctx_t mctx);

/* ---- ids (apps/ids) ----------------------------------------------------------
 * The full packet time of the event a callback handles. mOS's clocks are too
 * short for the timestamps of logged events: pkt_info.cur_ts (ms),
 * mtcp_cb_get_ts() and MOS_TIMESTAMP (us) are 32 bits and wrap every 50 days
 * (ms) or 71 minutes (us). Implemented in stages/app/ext_ids.c.
 *
 * @param ns
 *   Set to the packet time of the event being handled, ns since the epoch
 *   (pcap time offline): the time of its packet, or for an event without one
 *   (idle timeout, end of input, timer) the time the stack raised it.
 * @return
 *   0, or -1 with errno set:
 *   - EINVAL: ns is NULL.
 *   - EPERM: not called from a callback or filter of mctx.
 *   - EACCES: mctx is not a live context. */
int mospipe_event_time(mctx_t mctx, uint64_t *ns);

/* ---- zero-copy read ---------------------------------------------------------
 * mtcp_peek() without the copy: the next in-order bytes of side's stream
 * that this socket has not read (bounded, as mtcp_peek, by the stream as of
 * the event being handled), handed out as one or two spans of the stack's
 * own reassembly buffer and consumed as mtcp_peek consumes them. A run of
 * bytes longer than the spans cover comes in the next call. The memory is
 * read-only and stays valid until the callback (or filter) returns: the
 * stack does not reuse a buffer chunk before the application is done with
 * the event. */
struct mospipe_span {
	const uint8_t *p;
	size_t len; /* 0: unused */
};

/* Callback, active stream sockets: as mtcp_peek(mctx, sock, side, ., max).
 * @return bytes in sp[0] then sp[1] (> 0); 0 when nothing new; a negative
 * count -n with errno ENODATA when n bytes were missed (the next call goes
 * on after them); -1 with errno EINVAL (side, sp NULL, max 0, buffering off
 * for the side), EBADF, EPERM or EACCES as mtcp_peek(). */
ssize_t mospipe_peek_spans(mctx_t mctx, int sock, int side, struct mospipe_span sp[2], size_t max);

#ifdef __cplusplus
}
#endif

#endif
