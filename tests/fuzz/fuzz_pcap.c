/* libFuzzer target: the capture file readers (runtime/pcapin.c): the
 * pre-scan through libpcap (with its list of cut records) and rx's own
 * mapped reader of classic pcap files, on the same bytes.
 * Input: the file. Checked: no crash, no undefined behaviour, no leak; a
 * refused file has a message; when both accept it, the mapped reader yields
 * exactly the records the pre-scan counted, each record's original length
 * is never below its captured length, and the cut records the pre-scan
 * listed are those whose original length the mapped reader finds longer
 * than their captured bytes; the header scan (mp_pcapfile_scan) accepts
 * every file libpcap reads whole, with its count, and refuses only files
 * libpcap refuses; the walk replicated pipelines share (stages/rx/
 * rx_split.c), read by two instances in turn, yields the same records
 * between them, in order, and ends where the mapped reader ends. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hash.h"
#include "pcapin.h"
#include "rx_split.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fuzz_memfile("fuzz.pcap", data, size, path, sizeof(path));
	char err[1024];
	uint64_t count = 0;
	int dlt = -1;
	struct mp_pcap_cuts cuts;
	memset(&cuts, 0, sizeof(cuts));
	err[0] = 0;
	int r = mp_pcap_prescan(path, &count, &dlt, &cuts, err, sizeof(err));
	if (r < 0)
		CHECK(err[0] != 0);
	err[0] = 0;
	struct mp_pcapfile *f = mp_pcapfile_open(path, err, sizeof(err));
	if (!f) {
		CHECK(err[0] != 0);
	} else {
		const uint8_t *d;
		uint32_t cl;
		uint64_t ts, n = 0;
		while (mp_pcapfile_next(f, &d, &cl, &ts)) {
			CHECK(d >= f->map && d + cl <= f->map + f->size);
			CHECK(f->wirelen >= cl);
			if (r == 0) {
				uint32_t want = mp_pcap_cuts_len(&cuts, n, cl);
				CHECK(want >= cl);
			}
			n++;
		}
		/* libpcap and the mapped reader agree on what a classic file holds */
		if (r == 0 && !f->bad)
			CHECK(n == count);
		/* and the scan that replaces libpcap's pre-scan for mapped files
		 * accepts what libpcap reads whole, with the same count, and
		 * refuses only what libpcap refuses */
		uint64_t sc = 0;
		char e3[1024] = "";
		int rs = mp_pcapfile_scan(f, path, &sc, e3, sizeof(e3));
		if (r == 0)
			CHECK(rs == 0 && sc == count);
		if (rs < 0)
			CHECK(r < 0 && strstr(e3, "damaged") != NULL);
		/* rx, reading, meets exactly the damage the scan refuses, after
		 * the packets the scan's message names: the part of a file the
		 * scan before the run leaves unchecked is checked by rx */
		CHECK((rs < 0) == (f->bad != 0));
		if (rs == 0) {
			CHECK(sc == n);
		} else {
			char want[64];
			snprintf(want, sizeof(want), "damaged after %llu packets:", (unsigned long long)n);
			CHECK(strstr(e3, want) != NULL);
		}
		/* the shared walk: two instances polled in turn get the reader's
		 * records between them, each those whose address hash falls to
		 * it, in file order, and end as it did; walking the file itself
		 * (ix 0) or sorting the first half from a scan's index (ix 1: a
		 * scan stopped as EAL came up, when it accepted that half) */
		int wdlt = dlt >= 0 ? dlt : 1;
		for (int ix = 0; ix < 2; ix++) {
			struct mp_pcapidx *xi = NULL;
			if (ix) {
				int st1 = 1;
				uint64_t c1, u1;
				xi = mp_pcapidx_create(wdlt);
				CHECK(xi != NULL);
				if (mp_pcapfile_scan_idx(f, path, &st1, f->size / 2, &c1, &u1, xi, e3, sizeof(e3)) <
				    0) {
					mp_pcapidx_free(xi);
					break;
				}
				CHECK(xi->n == c1);
			}
			struct mp_pcapfile g = *f; /* from the first record, as rx's copy */
			g.pos = 24;
			struct rxs *sp = rxs_create(&g, 2, wdlt, xi);
			CHECK(sp != NULL);
			struct rxs_cur c[2] = {{0, 0}, {0, 0}};
			const uint8_t *last[2] = {NULL, NULL};
			uint64_t got = 0;
			int end[2] = {2, 2};
			for (unsigned spins = 0; end[0] == 2 || end[1] == 2; spins++) {
				CHECK(spins < 1000000);
				for (unsigned j = 0; j < 2; j++) {
					struct mp_pcaprec rr;
					int x = end[j] == 2 ? rxs_peek(sp, j, &c[j], &rr) : RXS_END;
					if (x == RXS_OK) {
						CHECK(rr.data > last[j] && rr.data + rr.caplen <= f->map + f->size);
						CHECK(mp_addr_hash_raw(rr.data, rr.caplen, wdlt) % 2 == j);
						last[j] = rr.data;
						rxs_take(&c[j]);
						got++;
					} else if (x == RXS_END || x == RXS_BAD) {
						if (end[j] == 2) {
							CHECK((x == RXS_BAD) == (f->bad != 0));
							end[j] = x;
						}
					}
				}
			}
			CHECK(got == n);
			rxs_free(sp);
			mp_pcapidx_free(xi);
		}
		/* a scan stopped early refuses only damage in what it checked,
		 * and counts the same records when it got to the end */
		int stop = 1;
		uint64_t pc = 0, upto = 0;
		int rp = mp_pcapfile_scan_until(f, path, &stop, f->size / 2, &pc, &upto, e3, sizeof(e3));
		if (rp < 0)
			CHECK(rs < 0);
		else if (upto == f->size)
			CHECK(rs == 0 && pc == sc);
		else
			CHECK(upto >= f->size / 2 && pc <= n);
		mp_pcapfile_close(f);
	}
	if (r == 0)
		mp_pcap_cuts_free(&cuts);
	close(fd);
	return 0;
}
