/* firewall: what the datapath callbacks (dp.c) and the control side
 * (firewall.c: command line, reloads, reports) share.
 *
 * Concurrency contract:
 *  - fw_cur, the rule set in force, is written only by the reporter thread
 *    (reloads) and read by callbacks on the app lcores. A callback marks
 *    itself in its context's `seq` (odd while it runs, seq_cst store) before
 *    it loads fw_cur (seq_cst), and uses that set until it returns. The
 *    reloader stores the new pointer (seq_cst), then waits until every
 *    context's seq is even or has moved: a context whose seq it reads as even
 *    had not loaded the pointer yet (it will see the new one: the two
 *    seq_cst pairs cannot both miss each other) or has finished. Then no
 *    callback can hold the old set, which is freed.
 *  - Counters (rule sets' fw_ctr blocks, struct fw_ctx's fields) have a
 *    single writer, their context's lcore, which stores them relaxed; the
 *    reporter loads them relaxed. A report is a sum of recent values, not a
 *    snapshot of one instant.
 */
#ifndef FW_FIREWALL_H
#define FW_FIREWALL_H

#include <stdint.h>

#include "mos_api.h"
#include "rules.h"

#define FW_MAX_CTX 64

/* Why a packet was dropped as out of state (see firewall.1, "STATE"). */
enum fw_invalid {
	FW_INV_NO_CONN,   /* TCP packet of no admitted connection (no SYN seen, or the SYN was denied) */
	FW_INV_HANDSHAKE, /* ACK, data or FIN before the handshake got that far */
	FW_INV_SYN_DATA,  /* a SYN carrying data (TCP Fast Open is not supported) */
	FW_INV_FRAGMENT,  /* an IP fragment (not matched against rules) */
	FW_INV_MALFORMED, /* an IP packet the stack could not parse */
	FW_INV_N
};
extern const char *const fw_invalid_name[FW_INV_N];

struct fw_ctx {
	uint64_t seq;                   /* odd while a callback runs (see above) */
	int8_t enforced;                /* -1 not known yet, 0 monitor mode, 1 verdicts applied */
	uint64_t invalid[FW_INV_N];     /* packets dropped as out of state, by reason */
	uint64_t non_ip, ndp;           /* packets passed without rules: non-IP frames, IPv6 neighbour discovery */
	uint64_t rst_sent, conn_resets; /* RST|ACK answers to SYNs; mtcp_reset_conn calls */
	uint64_t reassembled;           /* the stack's copies of fragmented datagrams: not on the wire */
	uint64_t errors;                /* API calls that failed (each also counted by mospipe) */
} __attribute__((aligned(64)));

extern struct fw_ruleset *fw_cur;
extern struct fw_ctx fw_ctx[FW_MAX_CTX];

/* Creates the context's monitoring socket and registers the callbacks
 * (setup). @return 0, or -1 with errno set by the failing call. */
int fw_dp_setup(mctx_t m);

#endif
