/* midstat's presentation: the connection table and the pipeline's health as
 * a plain scrolling table (pipes), a top-like screen redrawn in place (a
 * terminal), or JSON lines (--json). Pure formatting over snapshots: no
 * knowledge of how they were read. */
#ifndef MIDSTAT_VIEW_H
#define MIDSTAT_VIEW_H

#include <stdint.h>
#include <stdio.h>

#include "conntable.h"
#include "pipeline-types.h"

/* A connection row: a live snapshot, or one that ended (--all). */
struct ms_row {
	struct mp_conn_snap s;
	const char *end; /* NULL while open; "fin", "rst", "timeout", "evicted", "open" */
	uint64_t cli_missed, svr_missed, cli_rexmit_bytes, svr_rexmit_bytes;
};

enum ms_sort { MS_SORT_AGE = 0, MS_SORT_PKTS, MS_SORT_BYTES, MS_SORT_STATE, MS_SORT_N };

/* Pipeline health between two samples. */
struct ms_health {
	uint64_t ts_ns; /* packet time of the sample */
	double secs;    /* interval length (packet time offline, wall time live) */
	uint64_t flows; /* connections in the table */
	struct mp_totals now, prev;
	unsigned n_stages;
	struct {
		char name[24];
		double busy_pct;
		double cyc_per_pkt;
		unsigned ring_fill, ring_size;
	} stage[MP_ST_N * MP_MAX_INST];
};

const char *ms_state_name(unsigned st);
const char *ms_sort_name(enum ms_sort s);

/* "ip:port" or "[ip6]:port". @return buf. */
char *ms_endpoint(char *buf, size_t len, const uint8_t *addr, uint16_t port, int v6);

void ms_sort_rows(struct ms_row *rows, size_t n, enum ms_sort by, uint64_t now_ns);

/* One table (header of health, then rows). tty: redraw in place.
 * rows_max: at most that many rows (0: all; MS_ROWS_NONE: health only). */
#define MS_ROWS_NONE 0xffffffffu
void ms_print_table(FILE *f, const struct ms_health *h, const struct ms_row *rows, size_t n, enum ms_sort by, int tty,
                    unsigned rows_max);

/* One JSON object per connection (flow-log keys plus "ts"), then one health
 * object ({"type": "health", ...}). */
void ms_print_json(FILE *f, const struct ms_health *h, const struct ms_row *rows, size_t n);

#endif
