/* Pre-scan of a capture file before net_pcap reads it: validates it with a
 * message a user can act on, and counts its packets, which is how rx knows
 * the end of an offline input (net_pcap itself just stops returning packets),
 * and lists the records the capture cut with their original lengths, which
 * net_pcap drops (rx gives them to classify: an IP length beyond the frame
 * on the wire is a datagram a host drops, below it a snaplen cut).
 */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "pcapin.h"

/* Remembers that record idx was cut from len bytes. @return 0 or -ENOMEM. */
static int cuts_add(struct mp_pcap_cuts *c, uint64_t idx, uint32_t len)
{
	if (c->n == c->cap) {
		uint64_t cap = c->cap ? c->cap * 2 : 256;
		void *e = realloc(c->e, cap * sizeof(*c->e));
		if (!e)
			return -ENOMEM;
		c->e = e;
		c->cap = cap;
	}
	c->e[c->n].idx = idx;
	c->e[c->n].len = len;
	c->n++;
	return 0;
}

uint32_t mp_pcap_cuts_len(struct mp_pcap_cuts *c, uint64_t idx, uint32_t caplen)
{
	while (c->pos < c->n && c->e[c->pos].idx < idx)
		c->pos++;
	if (c->pos < c->n && c->e[c->pos].idx == idx && c->e[c->pos].len > caplen)
		return c->e[c->pos].len;
	return caplen;
}

void mp_pcap_cuts_free(struct mp_pcap_cuts *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

/* Checks a capture's link type against those classify parses. @return 0 or
 * -EINVAL with a message. */
static int dlt_check(pcap_t *p, const char *path, int *dlt, char *err, size_t errlen)
{
	*dlt = pcap_datalink(p);
	switch (*dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_LINUX_SLL:
	case DLT_NULL:
	case DLT_LOOP: return 0;
	default:
		snprintf(
		    err, errlen,
		    "%s: link type %s (%d) is not supported: use Ethernet, raw IP, Linux SLL or BSD loopback captures",
		    path, pcap_datalink_val_to_name(*dlt) ? pcap_datalink_val_to_name(*dlt) : "?", *dlt);
		return -EINVAL;
	}
}

/* Opens a capture with libpcap and checks its link type. @return the handle,
 * or NULL with a message in err. */
static pcap_t *open_checked(const char *path, int *dlt, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, perr);
	if (!p) {
		snprintf(err, errlen, "%s: cannot read capture: %s (give a pcap or pcapng file)", path, perr);
		return NULL;
	}
	if (dlt_check(p, path, dlt, err, errlen) < 0) {
		pcap_close(p);
		return NULL;
	}
	return p;
}

int mp_pcap_header(const char *path, int *dlt, char *err, size_t errlen)
{
	pcap_t *p = open_checked(path, dlt, err, errlen);
	if (!p)
		return -EINVAL;
	pcap_close(p);
	return 0;
}

int mp_pcap_prescan(const char *path, uint64_t *count, int *dlt, struct mp_pcap_cuts *cuts, char *err, size_t errlen)
{
	pcap_t *p = open_checked(path, dlt, err, errlen);
	if (!p)
		return -EINVAL;
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n = 0;
	int r;
	while ((r = pcap_next_ex(p, &h, &d)) == 1) {
		if (cuts && h->caplen < h->len && cuts_add(cuts, n, h->len) < 0) {
			snprintf(
			    err, errlen,
			    "%s: out of memory for the original lengths of %llu cut records (read it as a classic pcap "
			    "file in monitor mode: [input] pcap_mmap = yes)",
			    path, (unsigned long long)cuts->n);
			pcap_close(p);
			mp_pcap_cuts_free(cuts);
			return -ENOMEM;
		}
		n++;
	}
	if (r == PCAP_ERROR) {
		snprintf(err, errlen,
		         "%s: capture is damaged after %llu packets: %s (truncate or repair it, e.g. with pcapfix)",
		         path, (unsigned long long)n, pcap_geterr(p));
		pcap_close(p);
		if (cuts)
			mp_pcap_cuts_free(cuts);
		return -EINVAL;
	}
	pcap_close(p);
	*count = n;
	return 0;
}

/* ---- offline reader ------------------------------------------------------
 * rx reads classic pcap files itself: the file is mapped, each record is
 * copied straight into an mbuf, no syscall per packet. net_pcap went through
 * libpcap's fread into its buffer and then into the mbuf, which cost about
 * 1,500 cycles/packet on the bench pcap. pcapng (and inline mode, where
 * frames leave through the port) still use net_pcap.
 */
static uint32_t rd32(const uint8_t *p, int swap)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return swap ? __builtin_bswap32(v) : v;
}

struct mp_pcapfile *mp_pcapfile_open(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < 24) {
		snprintf(err, errlen, "%s: not a classic pcap file (too short)", path);
		close(fd);
		return NULL;
	}
	/* Writable, private: rx hands out frames in place (mbufs attached to
	 * the mapping), and what writes into a frame (the API's MOS_OVERWRITE)
	 * gets its own copy of that page, never the file's. */
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
		return NULL;
	}
	uint32_t magic;
	memcpy(&magic, m, 4);
	int swap, nano;
	switch (magic) {
	case 0xa1b2c3d4u: swap = 0, nano = 0; break;
	case 0xd4c3b2a1u: swap = 1, nano = 0; break;
	case 0xa1b23c4du: swap = 0, nano = 1; break;
	case 0x4d3cb2a1u: swap = 1, nano = 1; break;
	default:
		snprintf(err, errlen, "%s: not a classic pcap file (magic %08x)", path, magic);
		munmap(m, (size_t)st.st_size);
		return NULL;
	}
	/* Which record field holds the captured length, as libpcap reads it
	 * (sf-pcap.c): the two length fields were interchanged at version 2.3,
	 * some 2.3 writers kept the old order, and DG/UX wrote 543.0 with the
	 * old order; before 2 libpcap refuses the file. Reading them otherwise
	 * would disagree with the pre-scan's count and cut every record at the
	 * wrong place (found by tests/fuzz/fuzz_pcap). */
	uint16_t vmaj, vmin;
	memcpy(&vmaj, m + 4, 2);
	memcpy(&vmin, m + 6, 2);
	if (swap) {
		vmaj = __builtin_bswap16(vmaj);
		vmin = __builtin_bswap16(vmin);
	}
	if (vmaj < 2) {
		snprintf(err, errlen, "%s: pcap version %u.%u is too old", path, vmaj, vmin);
		munmap(m, (size_t)st.st_size);
		return NULL;
	}
	int lswap = vmaj == 543 || (vmaj == 2 && vmin < 3) ? MP_PCAP_LEN_SWAPPED
	            : vmaj == 2 && vmin == 3               ? MP_PCAP_LEN_MAYBE_SWAPPED
	                                                   : MP_PCAP_LEN_PLAIN;
	struct mp_pcapfile *f = calloc(1, sizeof(*f));
	if (!f) {
		snprintf(err, errlen, "%s: out of memory", path);
		munmap(m, (size_t)st.st_size);
		return NULL;
	}
	madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
	f->map = m;
	f->size = (uint64_t)st.st_size;
	f->pos = 24;
	f->swap = swap;
	f->nano = nano;
	f->lswap = lswap;
	return f;
}

/* A record header's captured length (returned) and original length (*wl),
 * in the order the file's version puts them. */
static uint32_t rec_lens(const struct mp_pcapfile *f, const uint8_t *h, uint32_t *wl)
{
	uint32_t cl = rd32(h + 8, f->swap), w = rd32(h + 12, f->swap);
	if (f->lswap == MP_PCAP_LEN_SWAPPED || (f->lswap == MP_PCAP_LEN_MAYBE_SWAPPED && cl > w)) {
		*wl = cl;
		return w;
	}
	*wl = w;
	return cl;
}

/* libpcap refuses a record whose captured length is above this (sf-pcap.c's
 * MAXIMUM_SNAPLEN, the limit of every link type classify parses). */
#define PCAP_MAX_CAPLEN 262144u

int mp_pcapfile_at(const struct mp_pcapfile *f, uint64_t pos, struct mp_pcaprec *r)
{
	if (pos + 16 > f->size)
		return pos < f->size ? -1 : 0; /* a partial header, or a clean end */
	const uint8_t *h = f->map + pos;
	uint32_t sec = rd32(h, f->swap), frac = rd32(h + 4, f->swap), wl, cl = rec_lens(f, h, &wl);
	/* What the scan refuses, for the part of a file it left unchecked
	 * (mp_pcapfile_scan_until). */
	if (cl > f->size - pos - 16 || cl > PCAP_MAX_CAPLEN)
		return -1;
	r->data = h + 16;
	r->caplen = cl;
	/* The original length says whether the capture cut the frame; one
	 * below the captured length is nonsense a writer made: the bytes we
	 * have are the frame. */
	r->wirelen = wl > cl ? wl : cl;
	/* Microseconds, as net_pcap (libpcap's default precision) gives them:
	 * results do not depend on which reader ran. */
	uint64_t us = f->nano ? frac / 1000u : frac;
	r->ts_ns = ((uint64_t)sec * 1000000u + us) * 1000u;
	r->next = pos + 16 + (uint64_t)cl;
	return 1;
}

int mp_pcapfile_next(struct mp_pcapfile *f, const uint8_t **data, uint32_t *caplen, uint64_t *ts_ns)
{
	struct mp_pcaprec r;
	int k = mp_pcapfile_at(f, f->pos, &r);
	if (k <= 0) {
		f->bad = k < 0;
		return 0;
	}
	*data = r.data;
	*caplen = r.caplen;
	*ts_ns = r.ts_ns;
	f->wirelen = r.wirelen;
	f->pos = r.next;
	return 1;
}

int mp_pcapfile_scan(const struct mp_pcapfile *f, const char *path, uint64_t *count, char *err, size_t errlen)
{
	uint64_t upto;
	return mp_pcapfile_scan_until(f, path, NULL, 0, count, &upto, err, errlen);
}

int mp_pcapfile_scan_until(const struct mp_pcapfile *f, const char *path, const int *stop, uint64_t min_bytes,
                           uint64_t *count, uint64_t *upto, char *err, size_t errlen)
{
	return mp_pcapfile_scan_idx(f, path, stop, min_bytes, count, upto, NULL, err, errlen);
}

struct mp_pcapidx *mp_pcapidx_create(int dlt)
{
	struct mp_pcapidx *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	void *m = mmap(NULL, (size_t)MP_PCAPIDX_MAX * sizeof(*x->rec), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		free(x);
		return NULL;
	}
	x->rec = m;
	x->dlt = dlt;
	return x;
}

void mp_pcapidx_free(struct mp_pcapidx *x)
{
	if (!x)
		return;
	munmap(x->rec, (size_t)MP_PCAPIDX_MAX * sizeof(*x->rec));
	free(x);
}

int mp_pcapfile_scan_idx(const struct mp_pcapfile *f, const char *path, const int *stop, uint64_t min_bytes,
                         uint64_t *count, uint64_t *upto, struct mp_pcapidx *x, char *err, size_t errlen)
{
	uint64_t room = x ? MP_PCAPIDX_MAX : 0;
	uint64_t pos = 24, n = 0;
	while (pos < f->size) {
		if (stop && (n & 1023) == 0 && pos >= min_bytes && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
			break;
		const char *why = NULL;
		char buf[160];
		uint64_t left = f->size - pos;
		if (left < 16) {
			snprintf(buf, sizeof(buf), "truncated dump file; tried to read 16 header bytes, only got %llu",
			         (unsigned long long)left);
			why = buf;
		} else {
			uint32_t wl, cl = rec_lens(f, f->map + pos, &wl);
			if (cl > PCAP_MAX_CAPLEN) {
				snprintf(buf, sizeof(buf),
				         "invalid packet capture length %u, bigger than maximum of %u", cl,
				         PCAP_MAX_CAPLEN);
				why = buf;
			} else if (cl > left - 16) {
				snprintf(buf, sizeof(buf),
				         "truncated dump file; tried to read %u captured bytes, only got %llu", cl,
				         (unsigned long long)(left - 16));
				why = buf;
			} else {
				/* Each header's place comes from the one before: one
				 * miss after another. Captures repeat their record
				 * sizes (full-size segments, their ACKs), so the
				 * headers 4, 6 and 8 records on are likely where this
				 * record's size puts them: asked for now, they are
				 * often in cache by then (0.63 -> 0.40 s on the 2.9 GB
				 * peers pcap). A wrong guess costs a wasted line. */
				uint64_t step = 16 + (uint64_t)cl;
				for (unsigned k = 4; k <= 8; k += 2)
					if (pos + k * step < f->size)
						__builtin_prefetch(f->map + pos + k * step, 0, 0);
				if (n < room) {
					/* The frame's first line is the header's or the
					 * next; it loads beside the chain, not in it. */
					struct mp_pcapidx_rec *e = &x->rec[n];
					e->len = (uint32_t)step;
					e->hash = mp_addr_hash_raw(f->map + pos + 16, cl, x->dlt);
				}
				pos += step;
				n++;
				continue;
			}
		}
		snprintf(err, errlen,
		         "%s: capture is damaged after %llu packets: %s (truncate or repair it, e.g. with pcapfix)",
		         path, (unsigned long long)n, why);
		if (x)
			x->n = n < room ? n : room;
		return -EINVAL;
	}
	if (x)
		x->n = n < room ? n : room;
	*count = n;
	*upto = pos;
	return 0;
}

void mp_pcapfile_close(struct mp_pcapfile *f)
{
	if (!f)
		return;
	munmap((void *)(uintptr_t)f->map, (size_t)f->size);
	free(f);
}
