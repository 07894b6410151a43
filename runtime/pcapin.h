/* Capture files: the pre-scan that validates and counts a file before it is
 * read, and rx's own reader of classic pcap files (runtime/pcapin.c). */
#ifndef MP_PCAPIN_H
#define MP_PCAPIN_H

#include <stddef.h>
#include <stdint.h>

/* The original lengths of the records a capture cut (caplen < len), for a
 * port read by net_pcap, which hands frames over with their captured length
 * only. One entry per cut record, in file order; rx asks in increasing
 * record order. Records not listed were captured whole. */
struct mp_pcap_cuts {
	uint64_t n, cap, pos; /* entries, room, lookup cursor */
	struct mp_pcap_cut {
		uint64_t idx; /* record number from 0 */
		uint32_t len; /* its original length */
	} * e;
};

/* Validates a capture file, counts its records (*count) and gives its link
 * type (*dlt); with cuts non-NULL, also lists the records the capture cut
 * (free with mp_pcap_cuts_free). @return 0, or -EINVAL / -ENOMEM with a
 * message in err. */
int mp_pcap_prescan(const char *path, uint64_t *count, int *dlt, struct mp_pcap_cuts *cuts, char *err, size_t errlen);
/* The link type check of mp_pcap_prescan alone: reads the file header only.
 * @return 0, or -EINVAL with a message in err. */
int mp_pcap_header(const char *path, int *dlt, char *err, size_t errlen);
/* @return the original length of record idx, or caplen when the capture did
 * not cut it. idx must not decrease from one call to the next. */
uint32_t mp_pcap_cuts_len(struct mp_pcap_cuts *c, uint64_t idx, uint32_t caplen);
void mp_pcap_cuts_free(struct mp_pcap_cuts *c);

/* A mapped classic pcap file (any byte order, micro- or nanosecond stamps),
 * read in order by one rx instance. */
enum { MP_PCAP_LEN_PLAIN = 0, MP_PCAP_LEN_SWAPPED = 1, MP_PCAP_LEN_MAYBE_SWAPPED = 2 };
struct mp_pcapfile {
	const uint8_t *map;
	uint64_t size, pos;
	int swap, nano;
	int lswap; /* MP_PCAP_LEN_*: where the captured length is (file version) */
	/* Stopped at a record libpcap refuses (a partial header, a record
	 * cut short, a captured length above 262,144): the records before it
	 * were read. */
	int bad;
	uint64_t pref;    /* bytes up to here are prefetched (mp_pcapfile_prefetch) */
	uint32_t wirelen; /* original length of the record mp_pcapfile_next returned last */
};

/* @return the open file, or NULL with a message in err (pcapng and other
 * formats included: the caller then uses net_pcap). */
struct mp_pcapfile *mp_pcapfile_open(const char *path, char *err, size_t errlen);
/* Next record: its captured bytes (pointing into the mapping) and packet
 * time in ns at microsecond precision; its original length in f->wirelen
 * (never below caplen). @return 1, or 0 at the end. */
int mp_pcapfile_next(struct mp_pcapfile *f, const uint8_t **data, uint32_t *caplen, uint64_t *ts_ns);
/* One record, as mp_pcapfile_next reads it. */
struct mp_pcaprec {
	const uint8_t *data; /* its captured bytes, in the mapping */
	uint32_t caplen, wirelen;
	uint64_t ts_ns;
	uint64_t next; /* where the next record starts */
};
/* The record at file offset pos (a record's start), without moving f: for
 * readers that share one mapping (stages/rx/rx_split.c). @return 1, 0 at a
 * clean end (pos is the file's size), -1 at what mp_pcapfile_next refuses
 * (f->bad). */
int mp_pcapfile_at(const struct mp_pcapfile *f, uint64_t pos, struct mp_pcaprec *r);
/* Validates a mapped file as libpcap reads it, without reading a packet:
 * walks the record headers, counts them (*count) and refuses a partial
 * header, a record cut short or a captured length libpcap refuses, with the
 * message mp_pcap_prescan gives. The mapping is only read: several threads
 * may scan one file. @return 0, or -EINVAL with a message in err. */
int mp_pcapfile_scan(const struct mp_pcapfile *f, const char *path, uint64_t *count, char *err, size_t errlen);
/* mp_pcapfile_scan that may stop early: once *stop is set (by another
 * thread) and at least min_bytes of the file are checked, it returns 0 with
 * *count the records that end before *upto (the file's size when it walked
 * them all). A reader then meets any damage beyond *upto itself (f->bad). */
int mp_pcapfile_scan_until(const struct mp_pcapfile *f, const char *path, const int *stop, uint64_t min_bytes,
                           uint64_t *count, uint64_t *upto, char *err, size_t errlen);
void mp_pcapfile_close(struct mp_pcapfile *f);

/* What a scan learnt of the records it checked, for readers that share the
 * file by address (replicated pipelines, stages/rx/rx_split.c): the scan
 * reads every record header anyway, one dependent miss after another, and
 * runs while EAL starts, when no lcore works. From the file's first record
 * on (offset 24), each record's size (16 + its captured length) and the
 * address hash of its frame (mp_addr_hash_raw with the key in force when the
 * scan ran: set it first). Reserved for MP_PCAPIDX_MAX records, its pages
 * touched as the scan writes them: beyond that the readers walk the file as
 * without it. */
#define MP_PCAPIDX_MAX (8u << 20)
struct mp_pcapidx {
	struct mp_pcapidx_rec {
		uint32_t len, hash;
	} * rec;
	uint64_t n; /* records indexed: they are checked */
	int dlt;
};
/* @return an empty index for frames of link type dlt, or NULL. */
struct mp_pcapidx *mp_pcapidx_create(int dlt);
void mp_pcapidx_free(struct mp_pcapidx *x);
/* mp_pcapfile_scan_until that also fills x (NULL: none) with the records it
 * checked. Only one scan may fill an index. */
int mp_pcapfile_scan_idx(const struct mp_pcapfile *f, const char *path, const int *stop, uint64_t min_bytes,
                         uint64_t *count, uint64_t *upto, struct mp_pcapidx *x, char *err, size_t errlen);

/* How far ahead of the reader mp_pcapfile_prefetch asks for the file's lines. */
#define MP_PCAP_PREFETCH_AHEAD 8192u

/* Asks the CPU for every cache line of the next MP_PCAP_PREFETCH_AHEAD
 * bytes the reader has not asked for yet: the records' headers, which the
 * reader needs one after the other, and the frames' first lines, which
 * classify reads, arrive from memory together instead of one miss at a
 * time. */
static inline void mp_pcapfile_prefetch(struct mp_pcapfile *f)
{
	uint64_t end = f->pos + MP_PCAP_PREFETCH_AHEAD;
	if (end > f->size)
		end = f->size;
	if (f->pref < f->pos)
		f->pref = f->pos & ~(uint64_t)63;
	for (; f->pref < end; f->pref += 64)
		__builtin_prefetch(f->map + f->pref, 0, 3);
}

#endif
