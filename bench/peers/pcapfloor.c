/* pcapfloor: the floor of any pcap-reading tool — libpcap reads the file and
 * the callback only counts packets and bytes. Prints one JSON line:
 * {"tool": "pcapfloor", "pkts": N, "bytes": N, "seconds": S, "pps": R}
 * where seconds is the read loop alone (after pcap_open_offline).
 * Exit status: 0 ok, 2 bad usage or unreadable file.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct count {
	uint64_t pkts, bytes;
};

static void on_pkt(u_char *arg, const struct pcap_pkthdr *h, const u_char *data)
{
	struct count *c = (struct count *)arg;
	(void)data;
	c->pkts++;
	c->bytes += h->len;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	char err[PCAP_ERRBUF_SIZE];
	struct count c = {0, 0};

	if (argc != 2) {
		fprintf(stderr, "usage: pcapfloor FILE.pcap\n");
		return 2;
	}
	pcap_t *p = pcap_open_offline(argv[1], err);
	if (!p) {
		fprintf(stderr, "pcapfloor: %s: %s\n", argv[1], err);
		return 2;
	}
	double t0 = now_s();
	int r;
	while ((r = pcap_dispatch(p, 4096, on_pkt, (u_char *)&c)) > 0)
		;
	double t = now_s() - t0;
	if (r < 0) {
		fprintf(stderr, "pcapfloor: %s: %s\n", argv[1], pcap_geterr(p));
		pcap_close(p);
		return 2;
	}
	pcap_close(p);
	printf("{\"tool\": \"pcapfloor\", \"pkts\": %llu, \"bytes\": %llu, \"seconds\": %.6f, \"pps\": %.0f}\n",
	       (unsigned long long)c.pkts, (unsigned long long)c.bytes, t, t > 0 ? (double)c.pkts / t : 0.0);
	return 0;
}
