/* Capture files: the pre-scan that validates and counts a file before it is
 * read, and rx's own reader of classic pcap files (runtime/pcapin.c). */
#ifndef MP_PCAPIN_H
#define MP_PCAPIN_H

#include <stddef.h>
#include <stdint.h>

int mp_pcap_prescan(const char *path, uint64_t *count, int *dlt, char *err, size_t errlen);

/* A mapped classic pcap file (any byte order, micro- or nanosecond stamps),
 * read in order by one rx instance. */
struct mp_pcapfile {
	const uint8_t *map;
	uint64_t size, pos;
	int swap, nano;
	int bad; /* stopped at a truncated record */
};

/* @return the open file, or NULL with a message in err (pcapng and other
 * formats included: the caller then uses net_pcap). */
struct mp_pcapfile *mp_pcapfile_open(const char *path, char *err, size_t errlen);
/* Next record: its captured bytes (pointing into the mapping) and packet
 * time in ns at microsecond precision. @return 1, or 0 at the end. */
int mp_pcapfile_next(struct mp_pcapfile *f, const uint8_t **data, uint32_t *caplen, uint64_t *ts_ns);
void mp_pcapfile_close(struct mp_pcapfile *f);

#endif
