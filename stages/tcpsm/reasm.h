/* Per-side TCP reassembly buffer: sequence tracking, out-of-order holding,
 * overlap/retransmission detection and the mOS-style reader (peek/ppeek).
 * Plain C over plain memory: no EAL, no locks, no heap use after creation.
 *
 * Model
 * -----
 * Stream offsets are 64-bit byte counts from the first data byte (offset 0 =
 * seq0 = ISN + 1), so sequence wrap-around at 2^32 is invisible above this
 * layer; a sequence number is placed relative to the in-order edge
 * (delivered), i.e. within +/- 2^31 of it.
 *
 * The window: `size` bytes of stream kept from its start H, which the writer
 * moves by itself, whatever readers do (mOS's buffer head): never more than
 * `size` below the in-order edge (delivered), and up to the edge to make
 * room for held bytes. Bytes arriving in order advance `delivered`; bytes
 * beyond it are held (out of order) if they fit below delivered + size.
 * Bytes the stream moves past without data are "missed" and readers learn
 * them as a gap (a negative return with errno ENODATA). The stream moves
 * past a hole when a segment lands beyond the window with the hole at its
 * front, when reasm_skip_to() or reasm_close() is called, or when a segment
 * is cut by the capture's snaplen (captured_len < len: the uncaptured bytes
 * are a known hole). None of this depends on readers, so the stream's state
 * after a packet is the same at any reader lag.
 *
 * Readers that lag: readers read as of a packet (struct reasm_edge, which
 * tcpsm carries in the packet's metadata), possibly packets behind the
 * writer. With a reader attached (reasm_set_reader(r, 1)) the writer keeps
 * every chunk from the oldest offset readers may still read: the start of
 * the window as of the last packet they released (reasm_release(), in
 * `consumed`); the chunks below go back to the pool (free-behind). The slots
 * reach (nslots - 1) chunks past that offset (the window plus
 * reasm_slack(); at most a map chunk's worth): bytes beyond it
 * cannot be stored while readers lag that far; they are counted
 * (lag_overflows, REASM_F_FULL: tcpsm raises MOS_ON_ERROR) and read as a
 * gap: the one case where what readers see depends on their lag. Without a
 * reader the edge is the oldest offset and nothing is kept below it.
 *
 * Overlaps: a byte is "old" when it falls below the in-order edge or on a byte
 * already held. A segment made only of old bytes is a retransmission
 * (REASM_F_REXMIT). Old bytes whose first copy is still stored (held, or
 * delivered but not yet consumed) are compared; differences are counted
 * (REASM_F_DIFF, inconsistent retransmission). Policy FIRST keeps the first
 * copy; LAST lets the newer copy replace bytes that are still held out of
 * order. A byte that has become readable (delivered) is never changed, under
 * either policy: the reader on another core may be copying it, and what a
 * callback has been told is in the stream must stay so.
 *
 * No history (reasm_pool_set_nohist(), [tcp] buf_history = no): the window
 * start H of a packet is the edge of the packet before it (reasm_edge()
 * moves it), so a packet's window is exactly the bytes it delivered and
 * readers release the edge itself; `size` still bounds what is held out of
 * order. Once the readers released everything delivered, reasm_trim()
 * gives back every chunk below the edge, the edge's own when nothing is
 * held above it, and then the slot map (published NULL), and the next
 * in-order bytes land in the chunks the pool hands out next, from its top:
 * a stream scanner's buffers stay in cache (hs_search on the peers pcap:
 * tcpsm 2,400 -> 820 cycles/packet with the prefetches of tcpsm.c). A
 * chunk taken at the edge is lazy from the edge only when every reader
 * released the edge: a reader lagging behind would read what the chunk
 * held before as the bytes below (test_reasm nohist_lagging_reader). Retransmitted bytes are
 * compared with what is still stored, none of it below the edge.
 *
 * Buffering off (size 0): state only. The in-order edge, one out-of-order
 * range, retransmission and overlap detection still work from sequence space;
 * no content is compared and nothing can be read (peek reports gaps);
 * captured_len is ignored. Disjoint out-of-order ranges are merged into
 * their hull, so bytes later filling the space between count as old.
 *
 * Snaplen holes: the uncaptured tail of an in-order segment is missed at
 * once; that of an out-of-order segment is not remembered, so it is missed
 * when the stream moves past it (window full, skip, close).
 *
 * Memory: a pool of fixed chunks per tcpsm instance, capped (address space
 * reserved at creation, pages touched as chunks are first used).
 * A side takes chunks lazily, as bytes land in them, up to
 * ceil(size / chunk) + 1 data chunks, plus one map chunk when that is more
 * than REASM_INLINE_SLOTS. When the pool is empty the bytes are not stored,
 * REASM_F_NOMEM is returned and they are counted missed when the stream
 * passes them: never fatal.
 *
 * Concurrency
 * -----------
 * One writer (the tcpsm lcore owning the flow) calls everything except the
 * reader functions (reasm_*_at(), reasm_release(), and the single-cursor
 * reasm_peek()/ppeek()/frags()/info()), which the lcore holding the flow's
 * packets calls (the app stage; the events stage releases at a bypass),
 * possibly on another core. The pool
 * is used by its writer only (chunks are allocated and freed by the writer;
 * the reader never frees anything), so its free list needs no atomics.
 * The writer publishes `delivered` with release after writing the bytes and
 * their bitmap (and the ring hand-off of the packet orders what its edge
 * covers); readers publish `consumed` (the release offset) with release
 * after their last copy below it. Neither blocks the other.
 * Readers never write the buffer: their offsets are their own (mtcp_peek
 * keeps one per socket); what they publish is the release offset.
 * Settings (overlap policy, reader attach, resize) are writer-side calls.
 * When the app asks for them from a callback (MOS_CLIBUF, overlap option),
 * the request travels in the flow's control word and tcpsm applies it at the
 * next packet it processes for that flow. A resize changes the window at
 * once (the slots reach the same at any size); turning buffering off gives
 * every chunk back at once (readers do not read a side whose buffer the
 * control word turned off).
 */
#ifndef MP_REASM_H
#define MP_REASM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "reasm-types.h"

/* Creates a pool of cap_bytes worth of chunks, all allocated now.
 * @chunk: data bytes per chunk, a power of two in [64, 1M]; 0 = 4096. Each
 *   chunk also carries chunk/8 bytes of bitmap, counted against cap_bytes.
 * @return the pool, or NULL with errno EINVAL (bad chunk, cap_bytes too small
 *   for one chunk or more than 2^32-2 chunks) or ENOMEM. */
struct reasm_pool *reasm_pool_create(uint64_t cap_bytes, uint32_t chunk);

/* Frees the pool. Every struct reasm using it must have been reasm_fini()ed. */
void reasm_pool_destroy(struct reasm_pool *p);

/* @return the largest per-side size this pool supports (limited by how many
 * slots one map chunk holds), or 0 for NULL. */
uint64_t reasm_pool_max_size(const struct reasm_pool *p);

/* The slack for readers that lag behind the writer, per side with a window
 * of size bytes: the window again, at least 1 MiB (some 700 full-size
 * segments of one flow between tcpsm and the app stage: bursts of 256 and
 * a wave of retire mbufs stay within it on the corpus; 256 KiB did not). It
 * costs a slot word (8 bytes) per chunk it spans, once per side (one memset),
 * and chunks only while readers lag. */
static inline uint64_t reasm_slack(uint64_t size)
{
	return size > (1u << 20) ? size : (1u << 20);
}

/* @return the smallest chunk size (>= 4096) whose pool supports a per-side
 * buffer of size bytes: what tcpsm passes to reasm_pool_create() for
 * conf tcp.buf_size. */
uint32_t reasm_chunk_for(uint64_t size);

/* @return the bytes of memory one chunk takes: chunk (0 = 4096) data bytes
 * plus its bitmap. */
uint32_t reasm_chunk_bytes(uint32_t chunk);

/* @return the chunks a side with a window of size bytes (pool chunk size
 * chunk, 0 = 4096) needs to store its first byte: one data chunk, plus a
 * slot map chunk when the window has more slots than the descriptor holds
 * (REASM_INLINE_SLOTS); 0 for size 0. What tcpsm checks [tcp] buf_pool
 * against: every side of a full flow table must be able to buffer. */
uint32_t reasm_side_min_chunks(uint64_t size, uint32_t chunk);

/* Chunks free / total, and allocation failures so far (pool counters). */
void reasm_pool_stats(const struct reasm_pool *p, uint32_t *free_chunks, uint32_t *total_chunks, uint64_t *alloc_fail);
/* First byte of chunk id (for tests and debuggers: a free chunk is poisoned
 * in ASan builds). @return NULL when id is not a chunk of p. */
const void *reasm_pool_chunk(const struct reasm_pool *p, uint32_t id);

/* Sides started from now on keep no byte below their in-order edge past
 * the packet that delivered it (tcp.buf_history = no). */
void reasm_pool_set_nohist(struct reasm_pool *p, int on);
/* With no history, once the readers released everything delivered: gives
 * back every chunk below the edge, and the edge's own when nothing above it
 * is held. Writer only; any descriptor (one without a buffer: nothing).
 * @return 1 when the edge's chunk went back, 0 when nothing more can go,
 * -1 when the readers have not released everything delivered yet. */
int reasm_trim(struct reasm *r);

/* Starts one side. No memory is taken until the first payload byte.
 * @pool: may be NULL only when size is 0.
 * @seq0: sequence number of the first data byte (ISN + 1, or the first
 *   sequence seen when picked up midstream).
 * @size: window in bytes (conf tcp.buf_size); 0 = buffering off.
 * @policy: enum reasm_overlap.
 * The side starts without a reader (see reasm_set_reader()).
 * @return 0, or -EINVAL (bad policy, size without pool) or -E2BIG (size
 *   above reasm_pool_max_size()). */
int reasm_init(struct reasm *r, struct reasm_pool *pool, uint32_t seq0, uint32_t size, unsigned policy);

/* Returns every chunk to the pool. Writer only, and only once the reader can
 * no longer call peek on this side (after the flow's CONN_END has passed the
 * app stage). The struct may be reasm_init()ed again. */
void reasm_fini(struct reasm *r);

/* Attaches (on = 1) or detaches (0) the reader. Detaching makes everything
 * delivered consumed; the reader must not peek after it. Writer only. */
void reasm_set_reader(struct reasm *r, int on);

/* Sets the overlap policy from the next segment on. Writer only.
 * @return 0 or -EINVAL. */
int reasm_set_policy(struct reasm *r, unsigned policy);

/* Changes the window size (mOS MOS_CLIBUF); 0 disables buffering and gives
 * the chunks back. Held out-of-order bytes are dropped (they become holes
 * again). Writer only: a resize the app asks for is applied by tcpsm at the
 * flow's next packet.
 * @return 0 applied, -EAGAIN recorded and applied automatically by a later
 *   writer call once the reader has consumed all delivered bytes, -E2BIG
 *   (above reasm_pool_max_size()), -EINVAL (no pool). */
int reasm_resize(struct reasm *r, uint32_t size);

/* Adds one segment's payload. Writer only. O(len) plus O(window/64) at worst
 * for bitmap scans; no allocation beyond O(1) pool pops.
 * @seq: sequence number of the first payload byte.
 * @data: the captured payload bytes (may be NULL when captured_len is 0).
 * @len: payload length on the wire (from the IP header).
 * @captured_len: bytes present in data (<= len; less in snaplen-cut captures:
 *   the rest is a known hole, counted missed, never read as data).
 * @res: filled with what happened (may be NULL).
 * @return 0, or -EINVAL (captured_len > len, data NULL with captured_len > 0). */
int reasm_insert(struct reasm *r, uint32_t seq, const void *data, uint32_t len, uint32_t captured_len,
                 struct reasm_result *res);

/* Moves the in-order edge to seq (if ahead of it): held bytes before seq are
 * delivered, holes are counted missed. Writer only.
 * @return 0. */
int reasm_skip_to(struct reasm *r, uint32_t seq, struct reasm_result *res);

/* The flow ended on this side: moves the edge past everything seen (held bytes
 * delivered, holes missed). Further inserts are still accepted. Writer only.
 * @return 0. */
int reasm_close(struct reasm *r, struct reasm_result *res);

/* Gives every chunk of this side back to the pool when nothing is held out
 * of order and no read can follow as of an earlier packet: no reader, or
 * reader_done (the caller knows every callback for the packets given out so
 * far has returned: a closed flow's CONN_END seen by tx, or an open flow's
 * newest packet released). With a reader on an open side, the window's
 * bytes go too: the window starts at the edge from the next packet on, and
 * a reader whose cursor is behind it reads a gap. Later inserts take chunks
 * again. Writer only. @return the chunks given back (0: none held), or -1
 * when the side is not idle (held bytes, a pending gap or resize, a reader
 * not done). */
int reasm_reclaim(struct reasm *r, int reader_done);

/* Writer: the side's stream as it is now, for the metadata of the packet
 * just processed (or a control mbuf): what reader calls made for that
 * packet are bounded by. Marks REASM_EDGE_SLID when the window start moved
 * since the last call. Written to *e and, unless NULL, to *copy: a copy
 * made by the caller would load what these stores have not yet committed,
 * in wider loads than they were made with, and wait for every store
 * before them (a packet's copy into a cold chunk: 11% of hs_search's
 * samples stalled on that load). */
void reasm_edge(struct reasm *r, struct reasm_edge *e, struct reasm_edge *copy);

/* As reasm_reclaim(), but also when bytes are held out of order: they are
 * dropped (become holes again, missed when the stream passes them unless
 * they are sent again), as a resize drops them. For a pool that runs dry:
 * the bytes a side holds beyond its in-order edge are the only ones that can
 * be taken back from a flow whose reader has read everything. Writer only.
 * @return the chunks given back, or -1 when the reader has unread bytes or
 *   a gap or resize is pending; *dropped gets the held bytes dropped. */
int reasm_reclaim_held(struct reasm *r, int reader_done, uint64_t *dropped);

/* @return the pool chunks this side holds now (data and slot map). Writer. */
uint32_t reasm_chunks(const struct reasm *r);

/* @return the sequence number of the in-order edge (next expected byte). */
uint32_t reasm_next_seq(const struct reasm *r);

/* @return the writer's totals for this side (writer's core). */
const struct reasm_totals *reasm_totals(const struct reasm *r);

/* ---- readers as of a packet (the app stage) ---------------------------------
 * e: the edge tcpsm wrote for the packet whose callback runs. Nothing at or
 * above e->end is read in order, nothing below e->end - e->back (the
 * window start H as of that packet) at all; held bytes are those held as of
 * e (the log of later hole-filling stores is left out; exact while the
 * reader is fewer than REASM_LOG_N such stores behind, else no held run is
 * reported). Any number of readers may call these concurrently with the
 * writer; none writes the buffer. */

/* Copies up to len bytes at *cur (a reader's own cursor) and moves it.
 * @return bytes copied (> 0); 0 when nothing new; -n with errno ENODATA
 *   when n bytes at *cur are gone (out of the window: the reader lagged, or
 *   a hole the stream passed) and *cur moved past them; -1 with errno
 *   EINVAL for bad arguments. */
ssize_t reasm_peek_at(const struct reasm *r, const struct reasm_edge *e, uint64_t *cur, void *buf, size_t len);

/* As reasm_peek_at(), without copying: the next bytes (len at most) as one
 * or two spans of the buffer's own memory (a run crosses chunks: two
 * chunks' worth per call), consumed. The spans stay valid until the reader
 * releases this packet (reasm_release()): the writer gives a chunk back
 * only once every reader is past it. @return bytes in the spans, 0, -n
 * (ENODATA gap) or -1 (EINVAL) as reasm_peek_at(). */
ssize_t reasm_span_at(const struct reasm *r, const struct reasm_edge *e, uint64_t *cur, const uint8_t *sp[2],
                      size_t sl[2], size_t len);

/* Copies up to len bytes at stream offset off: in the window below the
 * edge, or held above it. @return bytes copied (> 0, stopping at a gap, the
 * edge or the end of a held run); 0 when off is beyond everything stored;
 * -n with errno ENODATA when off is in a gap of n bytes; -1 with errno
 * ERANGE when off is below the window start (gone), EINVAL for bad
 * arguments. */
ssize_t reasm_ppeek_at(const struct reasm *r, const struct reasm_edge *e, void *buf, size_t len, uint64_t off);

/* The stored runs as of e: the window's in-order runs from its start
 * (several when the stream passed holes), then the held runs. @return the
 * runs written (at most max). */
unsigned reasm_frags_at(const struct reasm *r, const struct reasm_edge *e, struct reasm_frag *out, unsigned max);

/* The readers will not read below off again (every reader of the flow, as
 * of the packet it has finished): the writer may give the chunks below it
 * back. Monotonic; called by one lcore at a time (tcpsm.h). */
void reasm_release(struct reasm *r, uint64_t off);

/* ---- the single-cursor reader (tests) -----------------------------------
 * As above with the writer's state now as the edge and `consumed` as the
 * one cursor, released as it moves. */

/* Reader: copies up to len bytes from the reader's offset and consumes them.
 * Stops at the first gap, so one call returns either data or a gap.
 * @return bytes copied (> 0); 0 when nothing new (errno untouched); a
 *   negative count -n with errno ENODATA: n bytes were missed here and are
 *   now consumed (the next call continues after them); -1 with errno EINVAL
 *   for buf NULL or len 0. */
ssize_t reasm_peek(struct reasm *r, void *buf, size_t len);

/* Reader: copies up to len bytes starting at stream offset off, without
 * consuming. Only bytes delivered and not yet consumed can be read.
 * @return bytes copied (> 0, stopping at a gap or the edge); 0 when off is at
 *   or beyond the edge; -n with errno ENODATA when off falls in a gap of n
 *   bytes (counted from off); -1 with errno ERANGE when off is below the
 *   consumed offset (those bytes are gone); -1 with errno EINVAL for buf NULL
 *   or len 0. */
ssize_t reasm_ppeek(const struct reasm *r, void *buf, size_t len, uint64_t off);

/* Reader: the stored contiguous runs from the reader's offset upward, in
 * stream order: the readable in-order run [consumed, delivered) first (if
 * any; it stops where a pending gap starts), then every run held out of
 * order beyond the edge (none while a gap is pending: nothing is stored
 * then). Adjacent runs are merged; at most max are written to out.
 * What the reader sees: the in-order run is exact as of the acquire of
 * `delivered` (as in peek). Held runs are read from the bitmaps while tcpsm
 * may be writing them: the answer is a snapshot that can be behind the
 * writer by the segments it is storing (a segment being stored may show as
 * a shorter run, or a run still separate from the edge), never a byte that
 * is not stored. Memory: only the pool's chunks and the struct itself are
 * read, every slot index and chunk id is bounds-checked, and a buffer
 * generation (seqlock, bumped by the writer whenever chunks go back to the
 * pool: resize, end of a gap, slide without reader) is checked after the
 * scan; if it moved, the scan is retried, and after a few tries only the
 * in-order run is returned (the guarantee of ppeek). So bits of a chunk
 * already handed to another flow are never reported.
 * @return the number of runs written (0 with buffering off or nothing
 *   stored; out may be NULL when max is 0). */
unsigned reasm_frags(const struct reasm *r, struct reasm_frag *out, unsigned max);

/* Reader (or anyone, racily): a snapshot of the side's offsets and counts. */
void reasm_info(const struct reasm *r, struct reasm_info *out);

#endif
