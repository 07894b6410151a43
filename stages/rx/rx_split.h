/* One capture file read by n rx instances (replicated pipelines, fanout =
 * index): the records are walked once, not once per instance.
 *
 * Each instance must have the records whose address hash falls to it, in
 * file order. Finding a record means reading the header of the one before
 * it, so a walk is a chain of dependent reads; when every instance walked
 * the whole file (as before), each paid the chain and streamed the whole
 * mapping through its core for half the records (rx ~470 cycles per record
 * it kept against ~250 on one lcore, bench/README.md). Here the file is cut
 * into blocks of RXS_BLOCK bytes; each block is walked once, by whichever
 * instance gets to it first, which sorts the records that start in it into
 * one list of offsets per instance. Every instance then reads its own
 * records from the lists, block after block, with the addresses known
 * ahead (prefetched).
 *
 * A block the scan before the run checked (runtime/pcapin.h, mp_pcapidx:
 * it ran while EAL started, about half of the 2.9 GB peers pcap) is sorted
 * from the scan's index of record sizes and address hashes instead, with no
 * read of the file at all.
 *
 * Blocks are walked in order (a block starts where the last record of the
 * one before ends) into a ring of RXS_SLOTS slots, ahead of the readers; a
 * slot is walked again once every instance has read its lists. One
 * instance walks at a time (a try-lock nobody waits on): an instance that
 * finds the next block not walked and cannot walk it reports RXS_WAIT and
 * is asked again on its next poll (no lcore ever spins here). Damage (what
 * mp_pcapfile_next refuses) ends the walk: the block is the last, and each
 * instance meets it after its records before it.
 *
 * Concurrency: a slot's lists and fields are written by its walker before
 * the release store of `ready`, read by the instances after acquiring it;
 * `done` counts the instances that finished reading (release), acquired by
 * the next walker of the slot; the try-lock orders one walker's blocks
 * before the next's. */
#ifndef RX_SPLIT_H
#define RX_SPLIT_H

#include <stdint.h>

#include "pcapin.h"

#define RXS_BLOCK (1u << 19)
#define RXS_SLOTS 16u

struct rxs;

/* The walk of file f (read only, shared, from its record at f->pos) for n
 * instances; dlt its link type; idx (or NULL) what a scan learnt of its
 * first records (runtime/pcapin.h: sizes and address hashes, with the key
 * in force now), used when it starts at f->pos and has dlt: the blocks it
 * covers are sorted from it, without a read of the file. The walk does not
 * own it: it must outlive the walk. @return it, or NULL (out of memory). */
struct rxs *rxs_create(const struct mp_pcapfile *f, unsigned n, int dlt, const struct mp_pcapidx *idx);
void rxs_free(struct rxs *s);

/* One instance's place in the lists. */
struct rxs_cur {
	uint64_t blk; /* block it reads */
	uint32_t i;   /* its next record in that block's list */
};

enum { RXS_OK = 1, RXS_END = 0, RXS_WAIT = -1, RXS_BAD = -2, RXS_FULL = -3 };

/* Instance idx's next record (not taken: rxs_take moves on) into *r.
 * @return RXS_OK; RXS_WAIT: another instance is walking the next block;
 * RXS_FULL: the next block cannot be walked until an instance that lags
 * RXS_SLOTS blocks behind reads on (this instance's next record, if any,
 * comes after everything that one has left to read, in file order);
 * RXS_END: no more records; RXS_BAD: the file is damaged after the records
 * returned. */
int rxs_peek(struct rxs *s, unsigned idx, struct rxs_cur *c, struct mp_pcaprec *r);
static inline void rxs_take(struct rxs_cur *c)
{
	c->i++;
}

/* Walks the next block if it can (each poll, ahead of the readers; and
 * while an instance holds packets back or waits for room it reads nothing,
 * but the others may need the block). */
void rxs_help(struct rxs *s, unsigned idx);

/* Whether instance idx walked the block where the walk ended, c's block
 * once rxs_peek returned RXS_END or RXS_BAD (the one to count damage,
 * once). */
int rxs_ended_by(const struct rxs *s, unsigned idx, const struct rxs_cur *c);

#endif
