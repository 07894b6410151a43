/* BPF filters: libpcap compiles the tcpdump filter language to classic BPF
 * and its reference interpreter, bpf_filter(), runs it.
 *
 * Why not rte_bpf: DPDK 22.11's rte_bpf_convert() + rte_bpf_load() gives the
 * wrong verdict for some ordinary filters ("vlan 10 and tcp[tcpflags] &
 * tcp-syn != 0" never matches in the interpreter, and the JIT crashes on it;
 * see tests/unit/test_bpf.c). Monitor filters run per new flow (SYN) or per
 * orphan/raw packet, so correctness matters more than the JIT here. */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mbuf.h>

#include "bpf.h"

#define MP_BPF_SNAP 65535

struct mp_bpf {
	struct bpf_program prog;
	char *expr;
};

/* pcap_only: err gets libpcap's message alone (mp_bpf_compile_pcap). */
static struct mp_bpf *compile(const char *expr, int dlt, char *err, size_t errlen, int pcap_only)
{
	if (!expr) {
		snprintf(err, errlen, "no BPF expression given");
		errno = EINVAL;
		return NULL;
	}
	pcap_t *p = pcap_open_dead(dlt, MP_BPF_SNAP);
	struct mp_bpf *f = calloc(1, sizeof(*f));
	if (!p || !f) {
		snprintf(err, errlen, "out of memory compiling BPF expression '%s'", expr);
		if (p)
			pcap_close(p);
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	if (pcap_compile(p, &f->prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		if (pcap_only)
			snprintf(err, errlen, "%s", pcap_geterr(p));
		else
			snprintf(err, errlen, "bad BPF expression '%s': %s (see `man pcap-filter`)", expr,
			         pcap_geterr(p));
		pcap_close(p);
		free(f);
		errno = EINVAL;
		return NULL;
	}
	pcap_close(p);
	f->expr = strdup(expr);
	if (!f->expr) {
		snprintf(err, errlen, "out of memory keeping BPF expression '%s'", expr);
		pcap_freecode(&f->prog);
		free(f);
		errno = ENOMEM;
		return NULL;
	}
	return f;
}

struct mp_bpf *mp_bpf_compile(const char *expr, int dlt, char *err, size_t errlen)
{
	return compile(expr, dlt, err, errlen, 0);
}

struct mp_bpf *mp_bpf_compile_pcap(const char *expr, int dlt, char *err, size_t errlen)
{
	return compile(expr, dlt, err, errlen, 1);
}

int mp_bpf_match(const struct mp_bpf *f, struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	const uint8_t *d;
	uint8_t copy[2048];

	if (rte_pktmbuf_is_contiguous(m)) {
		d = rte_pktmbuf_mtod(m, const uint8_t *);
	} else {
		/* Filters look at headers: the first 2 KiB of a chained packet
		 * are enough and keep the copy on the stack. */
		uint32_t n = len < sizeof(copy) ? len : sizeof(copy);
		d = rte_pktmbuf_read(m, 0, n, copy);
		return bpf_filter(f->prog.bf_insns, d, len, n) != 0;
	}
	return bpf_filter(f->prog.bf_insns, d, len, rte_pktmbuf_data_len(m)) != 0;
}

int mp_bpf_match_bytes(const struct mp_bpf *f, const uint8_t *d, uint32_t caplen, uint32_t wirelen)
{
	return bpf_filter(f->prog.bf_insns, d, wirelen, caplen) != 0;
}

const char *mp_bpf_expr(const struct mp_bpf *f)
{
	return f->expr;
}

void mp_bpf_free(struct mp_bpf *f)
{
	if (!f)
		return;
	pcap_freecode(&f->prog);
	free(f->expr);
	free(f);
}
