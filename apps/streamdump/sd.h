/* streamdump's shared types: options, the state of one connection and of
 * one direction's file, and the per-context output state (open-file cache,
 * counters). streamdump.c runs the mOS callbacks; sd_out.c turns the bytes
 * and gaps they read into files and index lines.
 *
 * Concurrency: every struct sd_flow and struct sd_ctx belongs to one mOS
 * context, whose callbacks run on one app lcore (streamdump creates as many
 * contexts as there are app instances, so no instance serves two contexts).
 * Nothing here is shared between contexts except the read-only options, the
 * output directory descriptor and the index file, which each context appends
 * to with one write(2) per line (O_APPEND: lines never interleave). */
#ifndef SD_H
#define SD_H

#include <stdint.h>
#include <stdio.h>

#include <mos_api.h>
#include <mospipe_ext.h>
#include <mtcp_api.h>

#define SD_NAME_MAX 192 /* longest file name: two IPv6 addresses, ports, vlan, "c" + count */
#define SD_PEEK_BUF 65536
#define SD_NO_VLAN (-1)
#define SD_WBUF 16384 /* write-behind buffer per open file: ~11 segments per write(2) */

/* Directions of a connection; each is one file. */
enum sd_dir { SD_C2S = 0, SD_S2C = 1 };

struct sd_opts {
	const char *outdir; /* -o */
	const char *index;  /* -X / --index: path, "-" = stdout, NULL = outdir/streamdump.json */
	const char *tmpl;   /* -T: file name template (tcpflow's %A %a %B %b %V %v %C %c %# %%) */
	int64_t max_bytes;  /* -b: bytes kept per direction, -1 = all */
	int fill;           /* --fill: byte written into gaps (0: holes, as tcpflow) */
	unsigned max_gaps;  /* --max-gaps: gaps listed per direction in the index */
	unsigned max_open;  /* --max-open: open files per context (0 = from RLIMIT_NOFILE) */
	unsigned max_wbuf;  /* --write-buffers: write-behind buffers per context (0 = none) */
	int no_mtime;       /* --no-mtime: leave files' times alone */
	int quiet;          /* -q: no summary on stderr */
};

struct sd_gap {
	uint64_t off, len;
};

/* One direction: the bytes one endpoint sent, as the other one's stack took
 * them. File offset = stream offset (0 = the byte after the SYN, or the
 * first byte seen for a flow picked up mid-stream). */
struct sd_side {
	int fd;           /* -1 when not open (not created yet, or closed by the cache) */
	uint8_t created;  /* the file exists (name = template with conn_n) */
	uint8_t failed;   /* could not create or write it: reported once, the rest counted */
	uint8_t dir;      /* enum sd_dir: which of its flow's s[] this is */
	uint32_t conn_n;  /* tcpflow's connection count: 0, or N for the "cN" suffix */
	uint64_t off;     /* stream offset of the next byte mtcp_peek() returns */
	uint64_t size;    /* file size (what was written, holes included; no trailing gap) */
	uint64_t bytes;   /* stream bytes read (gaps excluded) */
	uint64_t missed;  /* bytes in gaps */
	uint64_t clipped; /* bytes read but not written because of -b */
	uint64_t held;    /* bytes the stack held beyond a final hole but could not give (see sd_side_held) */
	struct sd_gaps {
		uint32_t n, cap;
		uint64_t unlisted; /* beyond --max-gaps: counted, not listed */
		struct sd_gap *v;  /* grown on demand up to --max-gaps */
	} gaps, heldv;
	struct sd_side *lru_prev, *lru_next;
	/* Write-behind: while the file is open it may hold a buffer of the
	 * context's (SD_WBUF bytes) collecting contiguous bytes from woff. */
	char *wb;
	uint32_t wlen;
	uint64_t woff;
};

/* One connection (mtcp_set_uctx of its active socket). */
struct sd_flow {
	int v6;
	uint8_t cli[16], svr[16];
	uint16_t cli_port, svr_port;
	int vlan;            /* outer 802.1Q/802.1ad id of the packet that created this state, or SD_NO_VLAN */
	uint64_t first_ns;   /* packet time of the connection's first packet */
	struct sd_side s[2]; /* [SD_C2S], [SD_S2C] */
};

/* What one context did (summed into the index's closing line). */
struct sd_counts {
	uint64_t flows, files, bytes, missed, gaps, held, clipped, write_errors, untracked, reopens;
};

struct sd_ctx {
	mctx_t mctx;
	unsigned idx;
	unsigned n_open, max_open;
	struct sd_side *lru_head, *lru_tail; /* most recently written first */
	/* Write-behind buffers: taken by open files while any is left (at most
	 * max_wbuf, --write-buffers), given back when a file closes. A file
	 * that finds none writes directly: no eviction just for a buffer. */
	char **wfree;
	unsigned n_wfree, n_wbuf, max_wbuf;
	struct sd_counts n;
	char *lbuf; /* the index line being built, grown to the longest */
	size_t lcap;
	char buf[SD_PEEK_BUF];
};

/* sd_out.c ----------------------------------------------------------------- */

/* Opens the output directory (created if missing, as tcpflow does) and the
 * index. @return 0, or -1 after a one-line message naming what is wrong. */
int sd_out_open(const struct sd_opts *o);

/* Checks a -T template. @return 0, or -1 with *bad set to the offending
 * character. */
int sd_tmpl_check(const char *tmpl, char *bad);

/* Appends n stream bytes to a direction's file (created at its first byte). */
void sd_side_data(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, const char *buf, size_t n);

/* Records a gap of n bytes at the direction's current offset. Written as
 * fill bytes only when data follows it (a trailing gap is listed, not written). */
void sd_side_gap(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, uint64_t n);

/* Records n bytes at stream offset off that the stack holds (MOS_FRAGINFO)
 * but mtcp_ppeek() would not return: listed in the index as "held", not
 * written. */
void sd_side_held(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, uint64_t off, uint64_t n);

/* The connection ended: closes its files (times set to its start), writes
 * its index line and frees what the directions hold. */
void sd_flow_finish(struct sd_ctx *c, struct sd_flow *f, const struct mospipe_flow_info *fi, int cli_state,
                    int svr_state);

/* Frees the context's write-behind buffers and line buffer (every file closed). */
void sd_ctx_free_buffers(struct sd_ctx *c);

/* Writes the closing summary line and closes the index. */
void sd_out_close(const struct sd_counts *total);

/* The name of a direction's file (without the directory). */
void sd_side_name(const struct sd_flow *f, enum sd_dir d, uint32_t conn_n, char *out, size_t len);

extern const struct sd_opts *sd_opt;

#endif
