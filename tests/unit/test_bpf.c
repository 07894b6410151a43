/* Unit tests of BPF filters: full libpcap syntax compiled, converted to
 * eBPF and run on mbufs (JIT when available), including chained mbufs, and
 * a bad expression rejected with a message naming it. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/dlt.h>
#include <rte_eal.h>
#include <rte_mbuf.h>

#include "bpf.h"
#include "meta.h"

static struct rte_mempool *pool;

/* Ethernet/IPv4/TCP frame src 10.0.0.1:sport -> dst:dport, optional VLAN. */
static struct rte_mbuf *frame(const uint8_t dst[4], uint16_t sport, uint16_t dport, int vlan)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, 54 + (vlan ? 4 : 0));
	memset(p, 0, 54 + (vlan ? 4 : 0));
	unsigned o = 12;
	if (vlan) {
		p[o] = 0x81;
		p[o + 3] = 10;
		o += 4;
	}
	p[o] = 0x08;
	uint8_t *ip = p + o + 2;
	ip[0] = 0x45;
	ip[3] = 40;
	ip[8] = 64;
	ip[9] = 6;
	ip[12] = 10;
	ip[15] = 1;
	memcpy(ip + 16, dst, 4);
	uint8_t *th = ip + 20;
	th[0] = (uint8_t)(sport >> 8);
	th[1] = (uint8_t)sport;
	th[2] = (uint8_t)(dport >> 8);
	th[3] = (uint8_t)dport;
	th[12] = 0x50;
	th[13] = 0x02;
	return m;
}

START_TEST(matches_like_tcpdump)
{
	char err[512];
	struct mp_bpf *f = mp_bpf_compile("dst net 192.168.0.0/16 and dst port 80", DLT_EN10MB, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	const uint8_t in[4] = {192, 168, 3, 4}, out[4] = {10, 9, 9, 9};
	struct rte_mbuf *a = frame(in, 40000, 80, 0), *b = frame(in, 40000, 443, 0), *c = frame(out, 40000, 80, 0),
	                *d = frame(in, 80, 40000, 0);
	ck_assert_int_eq(mp_bpf_match(f, a), 1);
	ck_assert_int_eq(mp_bpf_match(f, b), 0);
	ck_assert_int_eq(mp_bpf_match(f, c), 0);
	ck_assert_int_eq(mp_bpf_match(f, d), 0);
	ck_assert_str_eq(mp_bpf_expr(f), "dst net 192.168.0.0/16 and dst port 80");
	rte_pktmbuf_free(a);
	rte_pktmbuf_free(b);
	rte_pktmbuf_free(c);
	rte_pktmbuf_free(d);
	mp_bpf_free(f);
}
END_TEST

START_TEST(vlan_and_flags)
{
	char err[512];
	struct mp_bpf *f = mp_bpf_compile("vlan 10 and tcp[tcpflags] & tcp-syn != 0", DLT_EN10MB, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	const uint8_t dst[4] = {1, 2, 3, 4};
	struct rte_mbuf *v = frame(dst, 1, 2, 1), *nv = frame(dst, 1, 2, 0);
	ck_assert_int_eq(mp_bpf_match(f, v), 1);
	ck_assert_int_eq(mp_bpf_match(f, nv), 0);
	rte_pktmbuf_free(v);
	rte_pktmbuf_free(nv);
	mp_bpf_free(f);
}
END_TEST

/* A load past the first segment must read the next one, not garbage. */
START_TEST(chained_mbuf)
{
	char err[512];
	struct mp_bpf *f = mp_bpf_compile("tcp dst port 8080", DLT_EN10MB, err, sizeof(err));
	ck_assert_msg(f != NULL, "%s", err);
	const uint8_t dst[4] = {1, 2, 3, 4};
	struct rte_mbuf *m = frame(dst, 1, 8080, 0);
	/* Split after the IP header: TCP ports live in the second segment. */
	struct rte_mbuf *tail = rte_pktmbuf_alloc(pool);
	uint8_t *t = (uint8_t *)rte_pktmbuf_append(tail, 20);
	memcpy(t, rte_pktmbuf_mtod_offset(m, uint8_t *, 34), 20);
	rte_pktmbuf_trim(m, 20);
	ck_assert_int_eq(rte_pktmbuf_chain(m, tail), 0);
	ck_assert_int_eq(mp_bpf_match(f, m), 1);
	rte_pktmbuf_free(m);
	mp_bpf_free(f);
}
END_TEST

START_TEST(bad_expression)
{
	char err[512];
	errno = 0;
	struct mp_bpf *f = mp_bpf_compile("dst prot 80", DLT_EN10MB, err, sizeof(err));
	ck_assert_ptr_null(f);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(err, "bad BPF expression 'dst prot 80'") != NULL, "%s", err);
	ck_assert_ptr_null(mp_bpf_compile(NULL, DLT_EN10MB, err, sizeof(err)));
}
END_TEST

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=tbpf%d", (int)getpid());
	char *argv[] = {"test_bpf", "--no-huge",         "-m",   "128", "--no-pci", "--no-shconf", "-l",
	                "0",        "--log-level=error", prefix, NULL};
	if (rte_eal_init(10, argv) < 0)
		return EXIT_FAILURE;
	pool = rte_pktmbuf_pool_create("bpf_pool", 1023, 0, MP_META_PRIV_SIZE, 2048, 0);
	if (!pool)
		return EXIT_FAILURE;
	Suite *s = suite_create("bpf");
	TCase *t = tcase_create("filters");
	tcase_add_test(t, matches_like_tcpdump);
	tcase_add_test(t, vlan_and_flags);
	tcase_add_test(t, chained_mbuf);
	tcase_add_test(t, bad_expression);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
