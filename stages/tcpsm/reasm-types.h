/* Types of the per-side TCP reassembly buffer (reasm.h has the functions and
 * the concurrency contract). A struct reasm is embedded in the flow object, one
 * per side; a struct reasm_pool is owned by one tcpsm instance.
 */
#ifndef MP_REASM_TYPES_H
#define MP_REASM_TYPES_H

#include <stdint.h>
#include <stdatomic.h>

/* Overlap policy: which copy of a byte held out of order a later segment
 * with other bytes leaves in the stream (bytes already readable never
 * change). FIRST and LAST have enum mp_overlap's values; tcpsm maps
 * tcp.overlap = target to the receiver's policy (LINUX or BSD). */
enum reasm_overlap {
	REASM_OVERLAP_FIRST = 0, /* keep the first copy of a byte */
	REASM_OVERLAP_LAST = 1,  /* a newer copy wins while the byte is not yet readable */
	/* Linux's out-of-order queue (tcp_data_queue_ofo): a byte is the copy
	 * of the held run that starts first; at the same start the longer run
	 * wins (it replaces the other); a run that starts exactly where a held
	 * one ends is coalesced into it. An in-order segment starts before
	 * every held run, so it wins over them. */
	REASM_OVERLAP_LINUX = 2,
	/* BSD and Windows (Snort's stream5 "bsd"/"windows" policies): the run
	 * that starts first wins; at the same start the first copy stays; no
	 * coalescing. */
	REASM_OVERLAP_BSD = 3,
};

/* struct reasm_result.flags, also accumulated in struct reasm_totals.flags */
#define REASM_F_REXMIT 0x01u /* segment carried only already-seen sequence space */
#define REASM_F_OOO 0x02u    /* segment (partly) held out of order */
#define REASM_F_DIFF 0x04u   /* overlapping bytes differ from the first copy */
#define REASM_F_MISSED 0x08u /* this call declared bytes missed (gap, snaplen hole) */
#define REASM_F_FULL 0x10u   /* reader has not consumed: new bytes missed (raise MOS_ON_ERROR) */
#define REASM_F_NOMEM 0x20u  /* pool exhausted: bytes could not be stored, counted missed */
#define REASM_F_BEYOND 0x40u /* out-of-order bytes beyond the window were not stored (a hole later) */
#define REASM_F_RUNS 0x80u   /* held-run list full: two runs merged, who wins an overlap approximated */

/* What one reasm_insert() (or reasm_skip_to()/reasm_close()) did. */
struct reasm_result {
	uint32_t delivered; /* bytes that became in-order (readable or passed) */
	uint32_t held;      /* new bytes now held out of order */
	uint32_t old;       /* bytes in already-seen sequence space (overlap) */
	uint32_t diff;      /* of those compared with a stored first copy, bytes that differ */
	uint64_t missed;    /* bytes declared missed by this call (holes, full, nomem) */
	uint32_t flags;     /* REASM_F_* */
};

/* Per-side totals since reasm_init(). Written by the writer only; a reader on
 * another core may read them racily for display (each is a plain counter). */
struct reasm_totals {
	uint64_t delivered;     /* bytes passed in order (data and holes excluded: data only) */
	uint64_t missed;        /* bytes the stream moved past without their data */
	uint64_t rexmit_bytes;  /* length of segments that carried only seen space */
	uint64_t overlap_bytes; /* bytes of segments that fell in seen space */
	uint64_t diff_bytes;    /* inconsistent retransmitted bytes */
	uint64_t ooo_segs;      /* segments (partly) held out of order */
	uint64_t full_events;   /* times the reader's window was full (REASM_F_FULL) */
	uint64_t nomem_events;  /* times a chunk could not be allocated */
	uint64_t lag_overflows; /* times readers lagged more than the slack: bytes not stored (REASM_F_FULL) */
	uint32_t flags;         /* OR of every REASM_F_* raised */
	uint32_t pad_;
};

/* One side's stream as of one packet: what every reader call made for that
 * packet is bounded by (reasm_edge() fills it; tcpsm carries it in the
 * packet's metadata). Stream offsets as in struct reasm_info. */
struct reasm_edge {
	uint64_t end;    /* in-order edge after the packet (E) */
	uint32_t back;   /* E - H: bytes below E still in the window (readable, ppeek) */
	uint32_t ahead;  /* end of the highest held byte - E (0: nothing held) */
	uint32_t serial; /* hole-filling stores so far (what reasm_frags() excludes) */
	uint32_t flags;  /* REASM_EDGE_* */
};
#define REASM_EDGE_VALID 0x1u /* the side has a buffer (else nothing to read) */
#define REASM_EDGE_SLID 0x2u  /* the window start H moved on this packet */

/* Entries of the log of hole-filling stores (a power of two). */
#define REASM_LOG_N 16

/* Snapshot for the reader (reasm_info()). Offsets count stream bytes from the
 * first data byte (offset 0 = sequence number seq0 given to reasm_init()). */
struct reasm_info {
	uint64_t delivered; /* in-order edge: bytes delivered so far, incl. gaps */
	uint64_t consumed;  /* the reader's offset */
	uint64_t missed;    /* total bytes missed */
	uint64_t held;      /* bytes held out of order */
	uint32_t size;      /* buffer size in force (0 = buffering off) */
	uint32_t seq0;      /* sequence number of offset 0 (fixed while the side lives) */
};

/* One contiguous run of stored bytes (reasm_frags()): stream offsets as in
 * struct reasm_info. */
struct reasm_frag {
	uint64_t off;
	uint32_t len;
	uint32_t pad_;
};

/* Held runs remembered for the LINUX and BSD policies: the segments (or
 * coalesced runs) beyond the in-order edge, by start. */
#define REASM_RUNS 8
struct reasm_run {
	uint64_t s, e; /* stream offsets [s, e) */
};

/* Capped chunk pool, one per tcpsm instance. Opaque: see reasm.c. */
struct reasm_pool;

/* Slot words kept in the descriptor itself. Every buffered side's slots
 * reach the window plus the slack for lagging readers (reasm.h): 273 slots
 * for the default 64 KiB window, so a side takes a map chunk with its first
 * data chunk (reasm_side_min_chunks(): what [tcp] buf_pool is checked
 * against); the inline words serve small windows with a small slack only. */
#define REASM_INLINE_SLOTS 12

/* One side's reassembly state. Embedded in the flow; treat as opaque. Fields
 * are grouped by which thread writes them (see reasm.h, "Concurrency"). */
struct reasm {
	/* Published by the writer (release), read by the reader (acquire). */
	_Atomic uint64_t delivered; /* in-order edge, stream offset */
	_Atomic uint64_t jump_from; /* bytes from here to delivered are a gap; UINT64_MAX = none */
	/* Buffer generation, odd while reset_buffer() gives chunks back or
	 * re-lays the slots (seqlock for reasm_frags()). */
	_Atomic uint32_t gen;

	/* Written by the reader (release) when one is attached, else by the writer. */
	_Atomic uint64_t consumed;

	/* Writer copies of a few totals for reasm_info() on the reader's core
	 * (relaxed: a display snapshot, nothing is derived from them). */
	_Atomic uint64_t missed_pub;
	_Atomic uint64_t held_pub;
	_Atomic uint64_t hi_pub; /* end of the highest held byte, 0 when none */
	_Atomic uint32_t size_pub;

	/* Writer-only, stable while the reader has bytes to read. */
	struct reasm_pool *pool;
	/* nslots entries (tag << 32 | chunk id); published with release because
	 * the map chunk is allocated lazily, after the reader may have started. */
	_Atomic(_Atomic uint64_t *) slots;
	uint32_t size; /* window in bytes, 0 = buffering off */
	uint32_t nslots;
	uint32_t map_id; /* chunk holding slots[] when nslots > REASM_INLINE_SLOTS */
	uint32_t seq0;   /* sequence number of stream offset 0 */

	/* Writer-only. */
	uint8_t policy;     /* enum reasm_overlap */
	uint8_t reader;     /* 1: a reader consumes; 0: delivered bytes count as consumed */
	uint8_t jumping;    /* a gap is pending for the reader (jump_from valid) */
	uint8_t closed;     /* reasm_close() ran */
	uint32_t want_size; /* resize waiting for the reader to catch up */
	uint8_t want_pending;
	uint8_t jump_full;     /* the pending gap began with unconsumed bytes in the window */
	uint8_t nrun;          /* entries in run[] */
	uint8_t nohist;        /* keeps no byte below the edge past its packet (reasm_pool_set_nohist) */
	uint32_t nchunks;      /* pool chunks this side holds (data and map): fair share */
	uint64_t held;         /* held out-of-order bytes */
	uint64_t hi;           /* highest stream offset seen + 1 */
	uint64_t ooo_s, ooo_e; /* buffering off: the one tracked out-of-order range */
	/* The logical window start H (writer-only): bytes below it are out of the
	 * window for every reader from then on, whatever the reader's lag. */
	uint64_t lh;
	uint64_t lh_pub;  /* lh as last given out by reasm_edge() (REASM_EDGE_SLID) */
	uint64_t fb;      /* lowest chunk number that may still hold a chunk (free-behind) */
	uint64_t hi_held; /* end of the highest held byte (writer), valid while held > 0 */
	/* The log of stores that filled space above the edge (out of order, or
	 * while bytes were held): entry i of serial s is at s % REASM_LOG_N;
	 * written by the writer, read by reasm_frags()/reasm_ppeek() of earlier
	 * packets to leave out what came after them. `serial` is published with
	 * release after the entry. */
	_Atomic uint32_t serial;
	uint32_t pad2_;
	struct reasm_totals tot;
	struct reasm_run run[REASM_RUNS]; /* held runs by start (policies LINUX, BSD) */
	_Atomic uint64_t inl[REASM_INLINE_SLOTS];
	/* Cold: written by hole-filling stores only. */
	_Atomic uint64_t log_off[REASM_LOG_N];
	_Atomic uint64_t log_end[REASM_LOG_N];
};

#endif
