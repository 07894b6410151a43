/* Pre-scan of a capture file before net_pcap reads it: validates it with a
 * message a user can act on, and counts its packets, which is how rx knows
 * the end of an offline input (net_pcap itself just stops returning packets).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int mp_pcap_prescan(const char *path, uint64_t *count, int *dlt, char *err, size_t errlen);

int mp_pcap_prescan(const char *path, uint64_t *count, int *dlt, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_open_offline(path, perr);
	if (!p) {
		snprintf(err, errlen, "%s: cannot read capture: %s (give a pcap or pcapng file)", path, perr);
		return -EINVAL;
	}
	*dlt = pcap_datalink(p);
	switch (*dlt) {
	case DLT_EN10MB:
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
	case DLT_LINUX_SLL:
	case DLT_NULL:
	case DLT_LOOP: break;
	default:
		snprintf(
		    err, errlen,
		    "%s: link type %s (%d) is not supported: use Ethernet, raw IP, Linux SLL or BSD loopback captures",
		    path, pcap_datalink_val_to_name(*dlt) ? pcap_datalink_val_to_name(*dlt) : "?", *dlt);
		pcap_close(p);
		return -EINVAL;
	}
	struct pcap_pkthdr *h;
	const u_char *d;
	uint64_t n = 0;
	int r;
	while ((r = pcap_next_ex(p, &h, &d)) == 1)
		n++;
	if (r == PCAP_ERROR) {
		snprintf(err, errlen,
		         "%s: capture is damaged after %llu packets: %s (truncate or repair it, e.g. with pcapfix)",
		         path, (unsigned long long)n, pcap_geterr(p));
		pcap_close(p);
		return -EINVAL;
	}
	pcap_close(p);
	*count = n;
	return 0;
}
