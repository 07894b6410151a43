/* Unit tests of the packet side of the mOS API on real mbufs:
 * mtcp_setlastpkt's work (mp_api_modify: overwrite, chomp, insert, drop,
 * checksum updates, bad options) checked with classify's own parser and
 * checksum verification, for IPv4 and IPv6. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "app.h"
#include "conf.h"
#include "mbufpool.h"
#include "meta.h"
#include "parse.h"
#include "pipeline.h"
#include "tcpsm.h"

static struct rte_mempool *pool;
static struct mp_conf conf;

/* Ethernet + IPv4 (or IPv6) + TCP (20 bytes) + payload, checksums right. */
static struct rte_mbuf *mk(int v6, const char *payload)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	ck_assert_ptr_nonnull(m);
	unsigned pl = (unsigned)strlen(payload), l3 = v6 ? 40 : 20;
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + l3 + 20 + pl));
	memset(d, 0, 14 + l3 + 20);
	d[12] = v6 ? 0x86 : 0x08;
	d[13] = v6 ? 0xdd : 0x00;
	uint8_t *ip = d + 14;
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((20 + pl) >> 8);
		ip[5] = (uint8_t)(20 + pl);
		ip[6] = 6;
		ip[7] = 64;
		ip[23] = 1;
		ip[39] = 2;
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + 20 + pl) >> 8);
		ip[3] = (uint8_t)(20 + 20 + pl);
		ip[8] = 64;
		ip[9] = 6;
		ip[12] = 10, ip[15] = 1;
		ip[16] = 10, ip[19] = 2;
	}
	uint8_t *th = ip + l3;
	th[0] = 0x9c, th[1] = 0x40, th[3] = 80;
	th[7] = 1;
	th[12] = 5 << 4;
	th[13] = 0x18;
	th[14] = 0xff;
	memcpy(th + 20, payload, pl);
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	ck_assert_int_eq(cls_parse(d, rte_pktmbuf_pkt_len(m), 1, 0, md), CLS_OK);
	mp_api_fix_csum(m, md, 1, 1);
	ck_assert_int_eq(cls_parse(d, rte_pktmbuf_pkt_len(m), 1, 1, md), CLS_OK);
	return m;
}

static int verify(struct rte_mbuf *m, struct mp_meta *out)
{
	struct mp_meta md;
	mp_meta_reset(&md);
	int r = cls_parse(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_pkt_len(m), 1, 1, &md);
	if (out)
		*out = md;
	return r;
}

static int ipv4_hdr_ok(struct rte_mbuf *m)
{
	const uint8_t *ip = rte_pktmbuf_mtod(m, uint8_t *) + 14;
	uint32_t s = 0;
	for (int i = 0; i < 20; i += 2)
		s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s == 0xffff;
}

static const char *payload_of(struct rte_mbuf *m, const struct mp_meta *md, char *buf)
{
	memcpy(buf, rte_pktmbuf_mtod(m, uint8_t *) + md->pay_off, md->pay_len);
	buf[md->pay_len] = 0;
	return buf;
}

START_TEST(overwrite_payload_fixes_tcp_checksum)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct rte_mbuf *m = mk(v6, "hello world");
		struct mp_meta *md = mp_meta(m), chk;
		char buf[64];
		ck_assert_int_eq(mp_api_modify(m, md, 6, (const uint8_t *)"WORLD", 5, MOS_TCP_PAYLOAD | MOS_OVERWRITE),
		                 0);
		ck_assert_int_eq(verify(m, NULL), CLS_TCP_CSUM_BAD);
		ck_assert_int_eq(mp_api_modify(m, md, 0, (const uint8_t *)"HE", 2,
		                               MOS_TCP_PAYLOAD | MOS_OVERWRITE | MOS_UPDATE_TCP_CHKSUM),
		                 0);
		ck_assert_int_eq(verify(m, &chk), CLS_OK);
		ck_assert_str_eq(payload_of(m, &chk, buf), "HEllo WORLD");
		/* Past the region's end: refused, nothing written. */
		ck_assert_int_eq(mp_api_modify(m, md, 8, (const uint8_t *)"xxxx", 4, MOS_TCP_PAYLOAD | MOS_OVERWRITE),
		                 -EINVAL);
		ck_assert_int_eq(verify(m, NULL), CLS_OK);
		rte_pktmbuf_free(m);
	}
}
END_TEST

/* IPv6 with an extension header: the TCP length is not the IPv6 payload
 * length, so the checksum must come from the parsed layout (classify's
 * pseudo-header sum), not from DPDK's rte_ipv6_udptcp_cksum. */
START_TEST(ipv6_extension_header_checksum)
{
	const char *pay = "hello world";
	unsigned pl = (unsigned)strlen(pay);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(14 + 40 + 8 + 20 + pl));
	memset(d, 0, 14 + 40 + 8 + 20);
	d[12] = 0x86, d[13] = 0xdd;
	uint8_t *ip = d + 14;
	ip[0] = 0x60;
	ip[4] = (uint8_t)((8 + 20 + pl) >> 8);
	ip[5] = (uint8_t)(8 + 20 + pl);
	ip[6] = 60; /* destination options */
	ip[7] = 64;
	ip[23] = 1;
	ip[39] = 2;
	uint8_t *ext = ip + 40;
	ext[0] = 6; /* next: TCP */
	ext[2] = 1; /* PadN */
	ext[3] = 4;
	uint8_t *th = ext + 8;
	th[0] = 0x9c, th[1] = 0x40, th[3] = 80;
	th[12] = 5 << 4;
	th[13] = 0x18;
	th[14] = 0xff;
	memcpy(th + 20, pay, pl);
	struct mp_meta *md = mp_meta(m);
	mp_meta_reset(md);
	ck_assert_int_eq(cls_parse(d, rte_pktmbuf_pkt_len(m), 1, 0, md), CLS_OK);
	ck_assert_int_eq(mp_api_modify(m, md, 0, (const uint8_t *)"HELLO", 5,
	                               MOS_TCP_PAYLOAD | MOS_OVERWRITE | MOS_UPDATE_TCP_CHKSUM),
	                 0);
	ck_assert_int_eq(verify(m, NULL), CLS_OK);
	rte_pktmbuf_free(m);
}
END_TEST

START_TEST(ip_header_rewrite_and_checksum)
{
	struct rte_mbuf *m = mk(0, "abc");
	struct mp_meta *md = mp_meta(m);
	uint8_t ttl = 3;
	ck_assert_int_eq(mp_api_modify(m, md, 8, &ttl, 1, MOS_IP_HDR | MOS_OVERWRITE), 0);
	ck_assert(!ipv4_hdr_ok(m));
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 0, MOS_UPDATE_IP_CHKSUM), 0);
	ck_assert(ipv4_hdr_ok(m));
	ck_assert_int_eq(rte_pktmbuf_mtod(m, uint8_t *)[14 + 8], 3);
	/* The IP header region is 20 bytes here. */
	ck_assert_int_eq(mp_api_modify(m, md, 20, &ttl, 1, MOS_IP_HDR | MOS_OVERWRITE), -EINVAL);
	/* A TCP header field (window) with the TCP checksum. */
	uint8_t win[2] = {0x12, 0x34};
	ck_assert_int_eq(mp_api_modify(m, md, 14, win, 2, MOS_TCP_HDR | MOS_OVERWRITE | MOS_UPDATE_TCP_CHKSUM), 0);
	ck_assert_int_eq(verify(m, NULL), CLS_OK);
	rte_pktmbuf_free(m);
}
END_TEST

START_TEST(chomp_and_insert_after_length_fix)
{
	for (int v6 = 0; v6 < 2; v6++) {
		struct rte_mbuf *m = mk(v6, "0123456789");
		struct mp_meta *md = mp_meta(m), chk;
		char buf[64];
		/* As in mOS: first the IP length, then the payload. */
		unsigned lo = v6 ? 4 : 2, len = v6 ? 20 + 7 : 40 + 7;
		uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
		ck_assert_int_eq(mp_api_modify(m, md, lo, l, 2, MOS_IP_HDR | MOS_OVERWRITE), 0);
		ck_assert_int_eq(
		    mp_api_modify(m, md, 2, NULL, 3,
		                  MOS_TCP_PAYLOAD | MOS_CHOMP | MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM),
		    0);
		ck_assert_int_eq(verify(m, &chk), CLS_OK);
		ck_assert_str_eq(payload_of(m, &chk, buf), "0156789");
		ck_assert_int_eq(md->pay_len, 7);
		len += 4;
		l[0] = (uint8_t)(len >> 8), l[1] = (uint8_t)len;
		ck_assert_int_eq(mp_api_modify(m, md, lo, l, 2, MOS_IP_HDR | MOS_OVERWRITE), 0);
		ck_assert_int_eq(
		    mp_api_modify(m, md, 7, (const uint8_t *)"ABCD", 4,
		                  MOS_TCP_PAYLOAD | MOS_INSERT | MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM),
		    0);
		ck_assert_int_eq(verify(m, &chk), CLS_OK);
		ck_assert_str_eq(payload_of(m, &chk, buf), "0156789ABCD");
		if (!v6)
			ck_assert(ipv4_hdr_ok(m));
		rte_pktmbuf_free(m);
	}
}
END_TEST

START_TEST(drop_and_bad_options)
{
	struct rte_mbuf *m = mk(0, "x");
	struct mp_meta *md = mp_meta(m);
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 0, MOS_DROP | MOS_TCP_HDR), -EINVAL);
	ck_assert_int_eq(md->verdict, MP_VERDICT_PASS);
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 0, MOS_DROP), 0);
	ck_assert_int_eq(md->verdict, MP_VERDICT_DROP);
	ck_assert_int_eq(mp_api_modify(m, md, 0, (const uint8_t *)"a", 1, MOS_TCP_PAYLOAD | MOS_OVERWRITE | MOS_INSERT),
	                 -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, 0, (const uint8_t *)"a", 1, MOS_OVERWRITE), -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, 0, (const uint8_t *)"a", 1, MOS_IP_HDR | MOS_TCP_HDR | MOS_OVERWRITE),
	                 -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 1, MOS_IP_HDR | MOS_CHOMP), -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, -1, (const uint8_t *)"a", 1, MOS_TCP_PAYLOAD | MOS_OVERWRITE), -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 5, MOS_TCP_PAYLOAD | MOS_CHOMP), -EINVAL);
	ck_assert_int_eq(mp_api_modify(m, md, 0, NULL, 0, 0), -EINVAL);
	rte_pktmbuf_free(m);
}
END_TEST

/* A frame rx read from a mapped capture is attached to the capture's bytes
 * (mp_mbuf_attach_bytes: no room around it): MOS_INSERT first takes it into
 * the mbuf's own room, the capture's bytes stay as they were, and freeing
 * it gives the mbuf its own buffer back. */
START_TEST(insert_into_attached_frame)
{
	struct rte_mbuf *src = mk(0, "0123456789");
	uint16_t len = rte_pktmbuf_data_len(src);
	static uint8_t file[256];
	memcpy(file, rte_pktmbuf_mtod(src, uint8_t *), len);
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	ck_assert_ptr_nonnull(m);
	void *own = m->buf_addr;
	mp_mbuf_attach_bytes(m, file, len);
	ck_assert(RTE_MBUF_HAS_EXTBUF(m));
	ck_assert_ptr_eq(rte_pktmbuf_mtod(m, uint8_t *), file);
	ck_assert_uint_eq(rte_pktmbuf_tailroom(m), 0);
	struct mp_meta *md = mp_meta(m), chk;
	*md = *mp_meta(src);
	char buf[64];
	ck_assert_int_eq(mp_api_modify(m, md, 2, (const uint8_t *)"xy", 2, MOS_TCP_PAYLOAD | MOS_INSERT), 0);
	ck_assert(!RTE_MBUF_HAS_EXTBUF(m));
	ck_assert_ptr_eq(m->buf_addr, own);
	/* then the IP length, in the mbuf's own room now */
	uint8_t l[2] = {0, 40 + 12};
	ck_assert_int_eq(
	    mp_api_modify(m, md, 2, l, 2, MOS_IP_HDR | MOS_OVERWRITE | MOS_UPDATE_IP_CHKSUM | MOS_UPDATE_TCP_CHKSUM),
	    0);
	ck_assert_int_eq(verify(m, &chk), CLS_OK);
	ck_assert_str_eq(payload_of(m, &chk, buf), "01xy23456789");
	ck_assert(ipv4_hdr_ok(m));
	ck_assert_int_eq(memcmp(file, rte_pktmbuf_mtod(src, uint8_t *), len), 0);
	/* attached again, freed attached: back to the pool with its own room */
	mp_mbuf_attach_bytes(m, file, len);
	rte_pktmbuf_free(m);
	struct rte_mbuf *again = rte_pktmbuf_alloc(pool);
	ck_assert(!RTE_MBUF_HAS_EXTBUF(again));
	ck_assert_ptr_eq(again->buf_addr, (char *)again + sizeof(struct rte_mbuf) + rte_pktmbuf_priv_size(pool));
	rte_pktmbuf_free(again);
	rte_pktmbuf_free(src);
}
END_TEST

/* mOS's shared buffer count as the pool: count x size bytes (mOS's own
 * pool), raised only when that cannot start every side of a full table. */
START_TEST(mos_buffer_count_as_pool)
{
	uint64_t need;
	int raised;
	uint64_t per = tcpsm_buf_pool_need(4096, 16384);
	ck_assert_uint_gt(per, 0);
	uint64_t big = (per + 16383) / 16384 + 10;
	ck_assert_uint_eq(mp_api_mos_pool(big, 16384, 4096, &need, &raised), big * 16384);
	ck_assert_int_eq(raised, 0);
	ck_assert_uint_eq(need, per);
	ck_assert_uint_eq(mp_api_mos_pool(2, 16384, 4096, &need, &raised), per);
	ck_assert_int_eq(raised, 1);
}
END_TEST

int main(void)
{
	char err[1024];
	mp_conf_defaults(&conf);
	if (mp_conf_parse_buf(&conf, "test", "[eal]\nargs = --no-huge -m 128 --no-pci --no-shconf --vdev net_null0\n",
	                      err, sizeof(err)) < 0 ||
	    mp_conf_finish(&conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_FAILURE;
	}
	if (mp_eal_setup(&conf, "test_api") < 0)
		return EXIT_FAILURE;
	pool = rte_pktmbuf_pool_create("test_api_pool", 1023, 0, MP_META_PRIV_SIZE, 2048, 0);
	if (!pool)
		return EXIT_FAILURE;
	Suite *s = suite_create("api");
	TCase *t = tcase_create("setlastpkt");
	tcase_add_test(t, overwrite_payload_fixes_tcp_checksum);
	tcase_add_test(t, ip_header_rewrite_and_checksum);
	tcase_add_test(t, ipv6_extension_header_checksum);
	tcase_add_test(t, chomp_and_insert_after_length_fix);
	tcase_add_test(t, drop_and_bad_options);
	tcase_add_test(t, insert_into_attached_frame);
	tcase_add_test(t, mos_buffer_count_as_pool);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rte_mempool_free(pool);
	mp_eal_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
