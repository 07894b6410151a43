/* acct: cellular data accounting with retransmission-abuse detection, on the
 * mOS API (the running example of the mOS paper, NSDI'17). Shared types of
 * its three parts:
 *   acct.c       command line, set-up, end of run, summary
 *   acct_flow.c  the callbacks: per-packet charging, payload comparison of
 *                retransmitted bytes, abuse records, buffer trimming
 *   acct_sub.c   subscribers (prefix file, longest-prefix match), usage
 *                tables, intervals of packet time and their output
 *
 * Threads: callbacks of context c run on one app-stage lcore only, so
 * everything in struct actx is single-writer and lock-free. What contexts
 * share after set-up is read-only (options, the prefix table) except the
 * interval merge and the output stream, which take acct_lock (once per
 * interval per context, and per abuse record — never per packet).
 */
#ifndef ACCT_H
#define ACCT_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include <mos_api.h>
#include <mtcp_api.h>

#define ACCT_MAX_CTX 64
/* Disjoint runs of sequence space remembered per flow side. A side rarely
 * has more than a few (holes left by loss before the box); past this, the
 * two runs with the smallest hole between them are merged and the hole is
 * charged at once (over-charging a pathological flow, never under-charging). */
#define ACCT_RANGES 8

/* ---- options (set once in main, read-only afterwards) ---------------------- */

enum { ACCT_ON_ABUSE_REPORT, ACCT_ON_ABUSE_RESET };

struct acct_opts {
	uint64_t interval_ns; /* 0: no usage lines, totals only */
	unsigned sample;      /* bytes of each copy in an abuse record */
	unsigned compare;     /* old bytes compared per segment, 0 = all */
	uint64_t window;      /* bytes kept readable behind the in-order edge; 0 = auto */
	unsigned max_reports; /* abuse records per flow (more are counted) */
	uint64_t max_subs;    /* subscriber entries per app instance */
	int on_abuse;
	int per_flow; /* one "flow" line per connection */
	const char *subs_path;
};
extern struct acct_opts acct_o;

/* ---- subscribers ------------------------------------------------------------- */

/* A subscriber: an address (plen 32/128) or a prefix from the file. family
 * 0 is the "overflow" bucket (table full). */
struct acct_key {
	uint8_t family; /* 4, 6, or 0 */
	uint8_t plen;
	uint8_t addr[16];
};

struct acct_usage {
	uint64_t up, down;               /* charged bytes sent / received by the subscriber */
	uint64_t up_rexmit, down_rexmit; /* bytes seen again, not charged */
	uint64_t flows, abuse;           /* flows started, abuse records */
};

struct acct_ent {
	struct acct_key key;
	int32_t pfx;   /* index in the prefix file, -1 when none */
	uint8_t dirty; /* cur has something since the last close */
	struct acct_usage cur, tot;
};

/* Key -> entry, open addressing. Entries never move index (flows keep one). */
struct acct_tab {
	struct acct_ent *e;
	uint32_t n, cap_e;
	uint32_t *idx; /* slot -> entry index + 1, 0 = empty */
	uint32_t mask;
	uint32_t *dirty; /* entries touched in the current interval */
	uint32_t n_dirty, cap_dirty;
	uint64_t max;      /* entries allowed (0 = unlimited) */
	uint32_t overflow; /* entry index of the overflow bucket + 1, 0 = none yet */
};

int acct_subs_load(const char *path); /* exit status 2 on error (message printed) */
int acct_subs_match(const struct acct_key *addr, struct acct_key *out, int32_t *pfx); /* 1 hit */
const char *acct_subs_name(int32_t pfx);                                              /* NULL when none */
void acct_subs_free(void);

int acct_tab_init(struct acct_tab *t, uint64_t max); /* -1: out of memory */
void acct_tab_free(struct acct_tab *t);
/* @return entry index; the overflow bucket when the table is full or out of
 * memory (*over set to 1). */
uint32_t acct_tab_get(struct acct_tab *t, const struct acct_key *k, int32_t pfx, int *over);
void acct_tab_touch(struct acct_tab *t, uint32_t i);
/* The entry of subscriber key k, UINT32_MAX when it has none (none made). */
uint32_t acct_tab_find(const struct acct_tab *t, const struct acct_key *k);

/* ---- per context --------------------------------------------------------------- */

struct acct_stats {
	uint64_t packets, payload_bytes, flows, after_end_pkts, after_end_bytes;
	uint64_t charged[2], rexmit[2]; /* [0] sent by a client, [1] by a server */
	uint64_t compared, unverified, keepalives, gap_merged;
	uint64_t abuse_segments, abuse_reports, abuse_flows, resets, reset_failed;
	uint64_t unmatched_flows, unmatched_bytes, overflow_flows;
	uint64_t peek_missed; /* bytes the stack could not keep for us (trimming saw gaps) */
	uint64_t first_ns, last_ns;
};

struct actx {
	mctx_t mctx;
	int sock;
	struct acct_tab tab;
	uint64_t iv_k; /* current interval index, UINT64_MAX before the first event */
	struct acct_stats st;
	char cbuf[65536]; /* first copies read with mtcp_ppeek */
	char pbuf[65536]; /* bytes consumed with mtcp_peek */
} __attribute__((aligned(64)));

extern struct actx acct_ctx[ACCT_MAX_CTX];
extern unsigned acct_nctx;
extern uint64_t acct_keep; /* bytes kept readable behind the in-order edge per side */
extern FILE *acct_out;
extern pthread_mutex_t acct_lock;

/* ---- intervals and output (acct_sub.c) ------------------------------------------ */

/* Moves context c to packet time t: closes its intervals before t. */
void acct_time(struct actx *c, uint64_t t);
/* End of run (main thread, after every join): closes every interval, prints
 * what is left, then the per-subscriber totals. */
void acct_finish(void);
/* One JSON line on the output (adds the newline); serialised. */
void acct_emit(const char *line, size_t len);
uint64_t acct_late_lines(void); /* usage lines printed after their interval */

/* JSON helpers over a bounded buffer: they never overflow, a line cut short
 * is detected by acct_buf_ok(). */
struct acct_buf {
	char *p;
	size_t n, cap;
};
void acct_bprintf(struct acct_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void acct_bstr(struct acct_buf *b, const char *s); /* a JSON string, quoted and escaped */
void acct_bhex(struct acct_buf *b, const uint8_t *p, size_t n);
void acct_bkey(struct acct_buf *b, const struct acct_key *k, int32_t pfx); /* "subscriber":..,"name":.. */
void acct_bts(struct acct_buf *b, const char *name, uint64_t ns);          /* "name":seconds.micro */
int acct_buf_ok(const struct acct_buf *b);

/* ---- callbacks (acct_flow.c) ------------------------------------------------------ */

void acct_on_pkt(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg);
void acct_on_end(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg);
void acct_on_orphan(mctx_t mctx, int sock, int side, event_t ev, filter_arg_t *arg);
void acct_on_timer(mctx_t mctx, int id, int side, event_t ev, filter_arg_t *arg);
#define ACCT_TIMER_ID 1

#endif
