/* Unit tests of classify: the parser on crafted bytes (every malformed class
 * with its reason code, link types, VLAN/QinQ/MPLS/PPPoE, IPv6 extension
 * headers, each TCP option, checksums of both families, padding, snaplen
 * cuts, the symmetric hash, a truncation and mutation sweep that ASan
 * watches), then the stage itself under EAL: IPv4/IPv6 fragment reassembly
 * through rte_ip_frag, multi-segment mbufs, control mbufs.
 * Runs in one process (CK_NOFORK): EAL can be initialised only once. */
#include <check.h>
#include <pcap/dlt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "conf.h"
#include "hash.h"
#include "parse.h"
#include "pipeline.h"
#include "stage.h"

/* ---- packet builders ------------------------------------------------------ */

/* 8-byte aligned: rte_hash_crc, under mp_sym_hash, reads 8-byte words. */
static const uint8_t A4[4] __rte_aligned(8) = {10, 0, 0, 1}, B4[4] __rte_aligned(8) = {192, 168, 1, 100};
static const uint8_t A6[16] __rte_aligned(8) = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, B6[16] __rte_aligned(8) = {
                                                                                       0x20, 0x01,     0x0d,
                                                                                       0xb8, [14] = 2, [15] = 7};

static void w16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t rd16_(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, v >> 16);
	w16(p + 2, v);
}

/* Plain RFC 1071 sum, independent of the code under test. */
static uint32_t sum16(const uint8_t *p, unsigned n, uint32_t s)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

struct tcpspec {
	uint16_t sp, dp;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opt;
	unsigned optlen; /* multiple of 4 */
	unsigned paylen;
};

static const struct tcpspec T0 = {1234, 80, 1000, 2000, MP_TH_ACK | MP_TH_PSH, 512, NULL, 0, 10};

/* Writes a TCP header + payload at d. @return its length. */
static unsigned put_tcp(uint8_t *d, const struct tcpspec *t)
{
	w16(d, t->sp);
	w16(d + 2, t->dp);
	w32(d + 4, t->seq);
	w32(d + 8, t->ack);
	d[12] = (uint8_t)(((20 + t->optlen) / 4) << 4);
	d[13] = t->flags;
	w16(d + 14, t->win);
	w16(d + 16, 0);
	w16(d + 18, 0);
	if (t->optlen)
		memcpy(d + 20, t->opt, t->optlen);
	for (unsigned i = 0; i < t->paylen; i++)
		d[20 + t->optlen + i] = (uint8_t)('a' + i % 26);
	return 20 + t->optlen + t->paylen;
}

/* IPv4 + TCP datagram with a correct checksum. @return its length. */
static unsigned dg4(uint8_t *d, const uint8_t *src, const uint8_t *dst, const struct tcpspec *t)
{
	memset(d, 0, 20);
	d[0] = 0x45;
	d[8] = 64;
	d[9] = 6;
	memcpy(d + 12, src, 4);
	memcpy(d + 16, dst, 4);
	unsigned tl = put_tcp(d + 20, t);
	w16(d + 2, 20 + tl);
	uint8_t ph[12] = {0};
	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[9] = 6;
	w16(ph + 10, tl);
	w16(d + 20 + 16, (uint16_t)~fold(sum16(d + 20, tl, sum16(ph, 12, 0))));
	return 20 + tl;
}

/* IPv6 (+ extension headers ext, whose last next-header must be 6) + TCP.
 * first_nh is the fixed header's next header. @return its length. */
static unsigned dg6x(uint8_t *d, const uint8_t *src, const uint8_t *dst, uint8_t first_nh, const uint8_t *ext,
                     unsigned extlen, const struct tcpspec *t)
{
	memset(d, 0, 40);
	d[0] = 0x60;
	d[6] = first_nh;
	d[7] = 64;
	memcpy(d + 8, src, 16);
	memcpy(d + 24, dst, 16);
	if (extlen)
		memcpy(d + 40, ext, extlen);
	unsigned tl = put_tcp(d + 40 + extlen, t);
	w16(d + 4, extlen + tl);
	uint8_t ph[40] = {0};
	memcpy(ph, src, 16);
	memcpy(ph + 16, dst, 16);
	w32(ph + 32, tl);
	ph[39] = 6;
	uint8_t *th = d + 40 + extlen;
	w16(th + 16, (uint16_t)~fold(sum16(th, tl, sum16(ph, 40, 0))));
	return 40 + extlen + tl;
}

static unsigned dg6(uint8_t *d, const uint8_t *src, const uint8_t *dst, const struct tcpspec *t)
{
	return dg6x(d, src, dst, 6, NULL, 0, t);
}

/* Ethernet header with EtherType et. @return 14. */
static unsigned eth(uint8_t *f, uint16_t et)
{
	memset(f, 0, 12);
	f[0] = 0x02;
	f[6] = 0x02;
	f[11] = 1;
	w16(f + 12, et);
	return 14;
}

/* Parses a copy in a buffer of exactly len bytes, so that ASan sees any
 * read past the packet. */
static int parse_exact(const uint8_t *p, unsigned len, int dlt, int verify, struct mp_meta *md)
{
	uint8_t *c = malloc(len ? len : 1);
	memcpy(c, p, len);
	memset(md, 0, sizeof(*md));
	int r = cls_parse(c, len, dlt, verify, md);
	free(c);
	return r;
}

static uint8_t f[4096];
static struct mp_meta md;

/* ---- basics ------------------------------------------------------------- */

START_TEST(eth_ipv4_tcp_fields)
{
	unsigned l = eth(f, 0x0800);
	l += dg4(f + l, A4, B4, &T0);
	ck_assert_int_eq(parse_exact(f, l, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP);
	ck_assert_uint_eq(md.anomaly, 0);
	ck_assert_uint_eq(md.l3_off, 14);
	ck_assert_uint_eq(md.l4_off, 34);
	ck_assert_uint_eq(md.pay_off, 54);
	ck_assert_uint_eq(md.pay_len, 10);
	ck_assert_uint_eq(md.pay_cap, 10);
	ck_assert_uint_eq(md.ip_proto, 6);
	ck_assert_uint_eq(md.sport, 1234);
	ck_assert_uint_eq(md.dport, 80);
	ck_assert_uint_eq(md.seq, 1000);
	ck_assert_uint_eq(md.ack, 2000);
	ck_assert_uint_eq(md.tcp_flags, MP_TH_ACK | MP_TH_PSH);
	ck_assert_uint_eq(md.win, 512);
	ck_assert_mem_eq(md.src, A4, 4);
	ck_assert_mem_eq(md.dst, B4, 4);
	static const uint8_t zero[12];
	ck_assert_mem_eq(md.src + 4, zero, 12);
	ck_assert_uint_eq(md.opt.present, 0);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(A4, 1234, B4, 80, 4)));
}
END_TEST

START_TEST(keeps_rx_fields)
{
	unsigned l = eth(f, 0x0800);
	l += dg4(f + l, A4, B4, &T0);
	memset(&md, 0, sizeof(md));
	md.ts_ns = 77;
	md.port = 3;
	md.flags = MP_MF_REASM | MP_MF_UNMON;
	md.anomaly = 9;
	ck_assert_int_eq(cls_parse(f, l, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.ts_ns, 77);
	ck_assert_uint_eq(md.port, 3);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(md.anomaly, 0);
}
END_TEST

/* ---- link layers -------------------------------------------------------- */

static void check_v4_at(int r, unsigned l3)
{
	ck_assert_int_eq(r, CLS_OK);
	ck_assert_uint_eq(md.l3_off, l3);
	ck_assert_uint_eq(md.l4_off, l3 + 20);
	ck_assert_uint_eq(md.pay_len, 10);
	ck_assert_uint_eq(md.seq, 1000);
	ck_assert(md.flags & MP_MF_IPV4);
}

START_TEST(vlan_qinq_any_depth)
{
	/* 802.1ad outer, two 802.1Q inner, then IPv4. */
	unsigned l = eth(f, 0x88a8);
	w16(f + l, 100);
	w16(f + l + 2, 0x8100);
	w16(f + l + 4, 200);
	w16(f + l + 6, 0x8100);
	w16(f + l + 8, 300);
	w16(f + l + 10, 0x0800);
	l += 12;
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	check_v4_at(parse_exact(f, n, DLT_EN10MB, 1, &md), 26);
	/* plain 802.1Q, and legacy 0x9100 */
	l = eth(f, 0x8100);
	w16(f + l, 5);
	w16(f + l + 2, 0x86dd);
	l += 4;
	n = l + dg6(f + l, A6, B6, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l3_off, 18);
	ck_assert(md.flags & MP_MF_IPV6);
	l = eth(f, 0x9100);
	w16(f + l, 5);
	w16(f + l + 2, 0x0800);
	l += 4;
	check_v4_at(parse_exact(f, l + dg4(f + l, A4, B4, &T0), DLT_EN10MB, 1, &md), 18);
}
END_TEST

START_TEST(mpls_stack)
{
	/* VLAN, then three MPLS labels (bottom of stack on the last), IPv4. */
	unsigned l = eth(f, 0x8100);
	w16(f + l, 7);
	w16(f + l + 2, 0x8847);
	l += 4;
	for (int i = 0; i < 3; i++, l += 4)
		w32(f + l, (uint32_t)(1000 + i) << 12 | (i == 2 ? 0x100u : 0) | 64);
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	check_v4_at(parse_exact(f, n, DLT_EN10MB, 1, &md), 30);
	/* IPv6 under one label */
	l = eth(f, 0x8847);
	w32(f + l, 16u << 12 | 0x100 | 64);
	l += 4;
	n = l + dg6(f + l, A6, B6, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l3_off, 18);
	ck_assert(md.flags & MP_MF_IPV6);
	/* pseudowire control word (first nibble 0): not IP */
	f[l] = 0;
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_NON_IP);
	ck_assert(md.flags & MP_MF_ORPHAN);
}
END_TEST

START_TEST(other_links)
{
	unsigned n;
	/* Linux SLL: 16 bytes, protocol at 14 */
	memset(f, 0, 16);
	w16(f + 14, 0x0800);
	check_v4_at(parse_exact(f, 16 + dg4(f + 16, A4, B4, &T0), DLT_LINUX_SLL, 1, &md), 16);
	/* Linux SLL2: 20 bytes, protocol first */
	memset(f, 0, 20);
	w16(f, 0x0800);
	check_v4_at(parse_exact(f, 20 + dg4(f + 20, A4, B4, &T0), 276, 1, &md), 20);
	/* raw IP: DLT_RAW, LINKTYPE_RAW 101, DLT_IPV4 */
	n = dg4(f, A4, B4, &T0);
	check_v4_at(parse_exact(f, n, DLT_RAW, 1, &md), 0);
	check_v4_at(parse_exact(f, n, 101, 1, &md), 0);
	check_v4_at(parse_exact(f, n, DLT_IPV4, 1, &md), 0);
	ck_assert_int_eq(parse_exact(f, n, DLT_IPV6, 1, &md), CLS_IP_VERSION_BAD);
	n = dg6(f, A6, B6, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_RAW, 1, &md), CLS_OK);
	ck_assert(md.flags & MP_MF_IPV6);
	ck_assert_int_eq(parse_exact(f, n, DLT_IPV6, 1, &md), CLS_OK);
	f[0] = 0x50;
	ck_assert_int_eq(parse_exact(f, n, DLT_RAW, 1, &md), CLS_IP_VERSION_BAD);
	/* DLT_NULL, little-endian AF_INET; DLT_LOOP, big-endian AF_INET6 (30) */
	memset(f, 0, 4);
	f[0] = 2;
	check_v4_at(parse_exact(f, 4 + dg4(f + 4, A4, B4, &T0), DLT_NULL, 1, &md), 4);
	memset(f, 0, 4);
	f[3] = 30;
	ck_assert_int_eq(parse_exact(f, 4 + dg6(f + 4, A6, B6, &T0), DLT_LOOP, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l3_off, 4);
	f[3] = 99;
	ck_assert_int_eq(parse_exact(f, 4 + dg6(f + 4, A6, B6, &T0), DLT_LOOP, 1, &md), CLS_NON_IP);
	/* PPPoE session carrying IPv4 */
	unsigned l = eth(f, 0x8864);
	memset(f + l, 0, 6);
	w16(f + l + 6, 0x0021);
	l += 8;
	check_v4_at(parse_exact(f, l + dg4(f + l, A4, B4, &T0), DLT_EN10MB, 1, &md), 22);
	/* ARP, 802.3 LLC: not IP */
	l = eth(f, 0x0806);
	memset(f + l, 0, 28);
	ck_assert_int_eq(parse_exact(f, l + 28, DLT_EN10MB, 1, &md), CLS_NON_IP);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_ORPHAN);
	w16(f + 12, 39);
	ck_assert_int_eq(parse_exact(f, l + 28, DLT_EN10MB, 1, &md), CLS_NON_IP);
	/* a link type we do not parse */
	ck_assert_int_eq(parse_exact(f, l + 28, DLT_IEEE802_11, 1, &md), CLS_LINK_UNSUPPORTED);
	ck_assert(md.flags & MP_MF_ORPHAN);
}
END_TEST

/* ---- IPv6 extension headers and fragments ------------------------------- */

START_TEST(ipv6_ext_headers)
{
	/* HBH (8) -> routing (24) -> AH (16) -> dest opts (8) -> TCP */
	uint8_t ext[56] = {0};
	ext[0] = 43; /* HBH: next routing, len 0 */
	ext[1] = 0;
	ext[8] = 51; /* routing: next AH, len 2 -> 24 bytes */
	ext[9] = 2;
	ext[32] = 60; /* AH: next dest opts, payload len 2 -> (2+2)*4 = 16 */
	ext[33] = 2;
	ext[48] = 6; /* dest opts: next TCP, len 0 */
	ext[49] = 0;
	unsigned l = eth(f, 0x86dd);
	unsigned n = l + dg6x(f + l, A6, B6, 0, ext, sizeof(ext), &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l3_off, 14);
	ck_assert_uint_eq(md.l4_off, 14 + 40 + 56);
	ck_assert_uint_eq(md.pay_len, 10);
	ck_assert_uint_eq(md.ip_proto, 6);
	ck_assert_mem_eq(md.src, A6, 16);
	ck_assert_mem_eq(md.dst, B6, 16);

	/* HBH anywhere but first is malformed (RFC 8200 sec. 4.3) */
	uint8_t ext2[16] = {0};
	ext2[0] = 0; /* dest opts -> HBH */
	ext2[8] = 6; /* HBH -> TCP */
	n = l + dg6x(f + l, A6, B6, 60, ext2, sizeof(ext2), &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_IPV6_EXT_BAD);
	ck_assert_uint_eq(md.anomaly, CLS_IPV6_EXT_BAD);
	ck_assert(md.flags & MP_MF_UNMON);

	/* an extension header running past the payload length */
	uint8_t ext3[8] = {6, 200};
	n = l + dg6x(f + l, A6, B6, 60, ext3, sizeof(ext3), &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_IPV6_EXT_BAD);

	/* a chain of 17 dest-opts headers is refused */
	uint8_t ext4[17 * 8] = {0};
	for (int i = 0; i < 17; i++)
		ext4[i * 8] = i == 16 ? 6 : 60;
	n = l + dg6x(f + l, A6, B6, 60, ext4, sizeof(ext4), &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_IPV6_EXT_BAD);

	/* ESP and no-next-header are other L4 */
	n = l + dg6x(f + l, A6, B6, 50, NULL, 0, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OTHER_L4);
	ck_assert_uint_eq(md.ip_proto, 50);
}
END_TEST

START_TEST(ipv6_fragments)
{
	uint8_t fh[8] = {6, 0, 0, 0, 0, 0, 0, 42};
	unsigned l = eth(f, 0x86dd);
	/* atomic fragment (offset 0, M 0, RFC 6946): a whole datagram */
	unsigned n = l + dg6x(f + l, A6, B6, 44, fh, 8, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l4_off, 14 + 48);
	/* first fragment (M set): payload 30 bytes is not a multiple of 8 */
	fh[3] = 1;
	n = l + dg6x(f + l, A6, B6, 44, fh, 8, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG_BAD);
	struct tcpspec t = T0;
	t.paylen = 12; /* 32 bytes */
	n = l + dg6x(f + l, A6, B6, 44, fh, 8, &t);
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_FRAG);
	ck_assert_uint_eq(info.frag_off, 54);
	ck_assert_uint_eq(info.frag_first, 1);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV6 | MP_MF_UNMON);
	ck_assert_uint_eq(md.ip_proto, 6);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(A6, 0, B6, 0, 16)));
}
END_TEST

START_TEST(ipv4_fragments)
{
	unsigned l = eth(f, 0x0800);
	struct tcpspec t = T0;
	t.paylen = 12;
	unsigned n = l + dg4(f + l, A4, B4, &t);
	w16(f + l + 6, 0x2000); /* MF, offset 0: 32 bytes */
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_FRAG);
	ck_assert_uint_eq(info.frag_first, 1);
	ck_assert(md.flags & MP_MF_UNMON);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(A4, 0, B4, 0, 4)));
	w16(f + l + 6, 0x0003); /* last fragment at 24 */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG);
	w16(f + l + 6, 0x1fff); /* ends past 64K */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG_BAD);
	w16(f + l + 6, 0x4000); /* DF only: not a fragment */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 0, &md), CLS_OK);
}
END_TEST

/* ---- malformed classes -------------------------------------------------- */

static void expect_bad(const uint8_t *p, unsigned n, int dlt, int want)
{
	int r = parse_exact(p, n, dlt, 1, &md);
	ck_assert_msg(r == want, "got %s want %s", cls_result_name(r), cls_result_name(want));
	ck_assert_uint_eq(md.anomaly, want);
	ck_assert(md.flags & MP_MF_UNMON);
	ck_assert(!(md.flags & MP_MF_TCP));
}

START_TEST(malformed_each_class)
{
	unsigned l = eth(f, 0x0800), n;
	n = l + dg4(f + l, A4, B4, &T0);

	expect_bad(f, 10, DLT_EN10MB, CLS_L2_TRUNCATED);
	eth(f, 0x8100);
	expect_bad(f, 16, DLT_EN10MB, CLS_L2_TRUNCATED); /* tag cut */
	eth(f, 0x8847);
	expect_bad(f, 17, DLT_EN10MB, CLS_L2_TRUNCATED); /* label cut */
	w32(f + 14, 0x100);                              /* bottom of stack, then nothing */
	expect_bad(f, 18, DLT_EN10MB, CLS_L2_TRUNCATED);
	expect_bad(f, 10, DLT_LINUX_SLL, CLS_L2_TRUNCATED);

	l = eth(f, 0x0800);
	n = l + dg4(f + l, A4, B4, &T0);
	expect_bad(f, 30, DLT_EN10MB, CLS_IP_TRUNCATED);
	expect_bad(f, 0, DLT_RAW, CLS_IP_TRUNCATED);

	f[14] = 0x65;
	expect_bad(f, n, DLT_EN10MB, CLS_IP_VERSION_BAD);
	f[14] = 0x44;
	expect_bad(f, n, DLT_EN10MB, CLS_IPV4_IHL_SHORT);
	f[14] = 0x4f; /* 60-byte header, frame has 54 after IP start but options cut? */
	expect_bad(f, 14 + 40, DLT_EN10MB, CLS_IP_TRUNCATED);
	f[14] = 0x45;

	w16(f + 16, 19); /* total length < header */
	expect_bad(f, n, DLT_EN10MB, CLS_IP_LEN_BAD);
	/* total length beyond a frame known to be whole */
	w16(f + 16, n - 14 + 100);
	struct cls_info info = {.wirelen = n};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_IP_LEN_BAD);
	w16(f + 16, n - 14);

	/* IP length leaves 10 bytes of TCP */
	w16(f + 16, 30);
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_TRUNCATED);
	w16(f + 16, n - 14);
	expect_bad(f, 14 + 20 + 19, DLT_EN10MB, CLS_TCP_TRUNCATED); /* capture cut in TCP */
	f[46] = 0x40;
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_DOFF_SHORT);
	f[46] = 0xf0; /* 60-byte header in a 30-byte segment */
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_DOFF_LONG);
	f[46] = 0x50;

	/* options: header cut by the capture inside the options */
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	struct tcpspec t = T0;
	t.opt = ts;
	t.optlen = 12;
	n = l + dg4(f + l, A4, B4, &t);
	expect_bad(f, 14 + 20 + 25, DLT_EN10MB, CLS_TCP_TRUNCATED);

	/* option overruns: length past the header, length < 2, kind byte last */
	static const uint8_t o1[4] = {2, 8, 5, 180}, o2[4] = {3, 1, 0, 0}, o3[4] = {1, 1, 1, 2};
	t.optlen = 4;
	t.opt = o1;
	n = l + dg4(f + l, A4, B4, &t);
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_OPT_OVERRUN);
	t.opt = o2;
	n = l + dg4(f + l, A4, B4, &t);
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_OPT_OVERRUN);
	t.opt = o3;
	n = l + dg4(f + l, A4, B4, &t);
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_OPT_OVERRUN);

	/* headers beyond the parser's view of a longer (multi-segment) packet */
	n = l + dg4(f + l, A4, B4, &T0);
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, 40, n, DLT_EN10MB, &md, NULL), CLS_HDR_TOO_LONG);
	ck_assert(md.flags & MP_MF_UNMON);
}
END_TEST

/* ---- TCP options -------------------------------------------------------- */

START_TEST(tcp_options_each)
{
	/* MSS, NOP, WS, SACK-permitted, TS, NOP NOP, SACK with 2 blocks, EOL */
	uint8_t o[40] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6, 1, 1, 5, 18};
	for (int i = 0; i < 4; i++)
		w32(o + 24 + 4 * i, 100u * (uint32_t)(i + 1));
	o[40 - 8] = 0; /* EOL; rest zero */
	struct tcpspec t = T0;
	t.opt = o;
	t.optlen = 40;
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.opt.present, MP_TO_MSS | MP_TO_WSCALE | MP_TO_SACKOK | MP_TO_TS | MP_TO_SACK);
	ck_assert_uint_eq(md.opt.mss, 1460);
	ck_assert_uint_eq(md.opt.wscale, 7);
	ck_assert_uint_eq(md.opt.tsval, 5);
	ck_assert_uint_eq(md.opt.tsecr, 6);
	ck_assert_uint_eq(md.opt.n_sack, 2);
	ck_assert_uint_eq(md.opt.sack[0][0], 100);
	ck_assert_uint_eq(md.opt.sack[0][1], 200);
	ck_assert_uint_eq(md.opt.sack[1][0], 300);
	ck_assert_uint_eq(md.opt.sack[1][1], 400);
	ck_assert_uint_eq(md.pay_off, 14 + 20 + 60);

	/* 4 SACK blocks (the most that fit with NOPs) */
	uint8_t s4[36] = {1, 1, 5, 34};
	for (int i = 0; i < 8; i++)
		w32(s4 + 4 + 4 * i, (uint32_t)i);
	t.opt = s4;
	t.optlen = 36;
	n = l + dg4(f + l, A4, B4, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.opt.n_sack, 4);
	ck_assert_uint_eq(md.opt.sack[3][1], 7);

	/* EOL ends the list: what follows is not parsed */
	static const uint8_t eol[8] = {0, 2, 4, 5, 0xb4, 0, 0, 0};
	t.opt = eol;
	t.optlen = 8;
	n = l + dg4(f + l, A4, B4, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.opt.present, 0);

	/* wrong lengths on known options are ignored, unknown kinds skipped */
	static const uint8_t wrong[12] = {2, 3, 0, 3, 4, 0x40, 0, 30, 2, 4, 2, 0};
	t.opt = wrong;
	t.optlen = 12;
	n = l + dg4(f + l, A4, B4, &t);
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_OK);
	ck_assert_uint_eq(md.opt.present, MP_TO_SACKOK);
	ck_assert(info.notes & CLS_N_OPT_IGNORED);
}
END_TEST

/* ---- checksums, padding, snaplen ---------------------------------------- */

START_TEST(checksum_both_families)
{
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	f[n - 1] ^= 0x55;
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_TCP_CSUM_BAD);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP | MP_MF_BADCSUM);
	ck_assert_uint_eq(md.anomaly, CLS_TCP_CSUM_BAD);
	ck_assert_uint_eq(md.seq, 1000);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 0, &md), CLS_OK); /* ignore */
	ck_assert(!(md.flags & MP_MF_BADCSUM));

	/* odd payload length, IPv6 with an extension header */
	struct tcpspec t = T0;
	t.paylen = 13;
	uint8_t ext[8] = {6};
	l = eth(f, 0x86dd);
	n = l + dg6x(f + l, A6, B6, 60, ext, 8, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	f[14 + 8] ^= 1; /* source address: pseudo-header covers it */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_TCP_CSUM_BAD);
	ck_assert(md.flags & MP_MF_BADCSUM);
	ck_assert(!(md.flags & MP_MF_UNMON));
}
END_TEST

START_TEST(padding_not_payload)
{
	struct tcpspec t = T0;
	t.paylen = 0;
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &t);
	memset(f + n, 0xee, 6); /* 60-byte minimum frame */
	ck_assert_int_eq(parse_exact(f, n + 6, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.pay_len, 0);
	ck_assert_uint_eq(md.pay_cap, 0);
	t.paylen = 3;
	n = l + dg4(f + l, A4, B4, &t);
	memset(f + n, 0, 3);
	ck_assert_int_eq(parse_exact(f, n + 3, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.pay_len, 3);
	ck_assert_uint_eq(md.pay_cap, 3);
}
END_TEST

START_TEST(snaplen_cut_segment)
{
	struct tcpspec t = T0;
	t.paylen = 1000;
	t.flags = MP_TH_ACK;
	unsigned l = eth(f, 0x0800);
	dg4(f + l, A4, B4, &t);
	/* 54-byte snaplen: headers only; 96: 42 payload bytes */
	ck_assert_int_eq(parse_exact(f, 54, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.pay_len, 1000);
	ck_assert_uint_eq(md.pay_cap, 0);
	ck_assert_uint_eq(md.seq, 1000);
	ck_assert_uint_eq(md.ack, 2000);
	ck_assert_uint_eq(md.tcp_flags, MP_TH_ACK);
	ck_assert(!(md.flags & (MP_MF_BADCSUM | MP_MF_UNMON)));
	ck_assert_int_eq(parse_exact(f, 96, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.pay_cap, 42);
	/* the same through the view API: notes nothing bad */
	l = eth(f, 0x86dd);
	dg6(f + l, A6, B6, &t);
	ck_assert_int_eq(parse_exact(f, 100, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.pay_len, 1000);
	ck_assert_uint_eq(md.pay_cap, 100 - 74);
	/* IP length 0 (TSO capture): frame length stands in */
	l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	w16(f + 16, 0);
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_OK);
	ck_assert_uint_eq(md.pay_len, 10);
	ck_assert(info.notes & CLS_N_LEN_ZERO);
}
END_TEST

START_TEST(non_tcp_orphans)
{
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	f[23] = 17; /* UDP */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_ORPHAN);
	ck_assert_uint_eq(md.sport, 1234);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(B4, 80, A4, 1234, 4)));
	f[23] = 1;
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_ICMP);
	f[23] = 47;
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OTHER_L4);
	ck_assert(md.flags & MP_MF_ORPHAN);
	ck_assert_uint_eq(md.anomaly, 0);
	/* IPv4 AH in front of TCP */
	l = eth(f, 0x0800);
	uint8_t d[200];
	unsigned dl = dg4(d, A4, B4, &T0);
	memcpy(f + l, d, 20);
	memset(f + l + 20, 0, 16);
	f[l + 20] = 6;
	f[l + 21] = 2; /* (2 + 2) * 4 = 16 bytes */
	memcpy(f + l + 36, d + 20, dl - 20);
	f[l + 9] = 51;
	w16(f + l + 2, dl + 16);
	ck_assert_int_eq(parse_exact(f, l + dl + 16, DLT_EN10MB, 0, &md), CLS_OK);
	ck_assert_uint_eq(md.l4_off, 14 + 36);
	ck_assert_uint_eq(md.pay_len, 10);
}
END_TEST

/* Teredo (RFC 4380): Ethernet, IPv4, UDP (checksum 0), then what follows
 * (pre, prelen bytes: origin indication / authentication), then the IPv6
 * datagram. @return the frame length. */
static unsigned teredo_frame(uint8_t *d, uint16_t usp, uint16_t udp_, const uint8_t *pre, unsigned prelen,
                             const uint8_t *s6, const uint8_t *d6, const struct tcpspec *t)
{
	unsigned l = eth(d, 0x0800);
	uint8_t *ip = d + l, *udp = ip + 20;
	memset(ip, 0, 28);
	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, A4, 4);
	memcpy(ip + 16, B4, 4);
	if (prelen)
		memcpy(udp + 8, pre, prelen);
	unsigned in = dg6(udp + 8 + prelen, s6, d6, t);
	w16(udp, usp);
	w16(udp + 2, udp_);
	w16(udp + 4, 8 + prelen + in);
	w16(ip + 2, 28 + prelen + in);
	return l + 28 + prelen + in;
}

START_TEST(teredo_decap)
{
	/* A Teredo client address (2001:0::/32) talking to a native host,
	 * through a relay on an arbitrary port: the inner TCP segment is
	 * monitored, with inner addresses, ports and offsets. */
	static const uint8_t TC[16] __rte_aligned(8) = {0x20, 0x01, 0x00, 0x00, 0x41, 0x37, [15] = 0x15};
	struct tcpspec t = T0;
	struct cls_info info = {0};
	unsigned n = teredo_frame(f, 3797, 32900, NULL, 0, TC, B6, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK); /* inner checksum verified */
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV6 | MP_MF_TCP);
	ck_assert_uint_eq(md.l3_off, 14 + 28);
	ck_assert_uint_eq(md.l4_off, 14 + 28 + 40);
	ck_assert_uint_eq(md.pay_len, 10);
	ck_assert_uint_eq(md.sport, 1234);
	ck_assert_uint_eq(md.dport, 80);
	ck_assert_mem_eq(md.src, TC, 16);
	ck_assert_mem_eq(md.dst, B6, 16);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(TC, 1234, B6, 80, 16)));
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_OK);
	ck_assert(info.notes & CLS_N_TEREDO);
	f[n - 1] ^= 0x55; /* inner TCP checksum wrong */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_TCP_CSUM_BAD);

	/* Port 3544 with an origin indication and an authentication header
	 * (id 2, auth 3 bytes): addresses need no Teredo prefix there. */
	uint8_t pre[4 + 2 + 3 + 9 + 8] = {0x00, 0x01, 2, 3};
	pre[18] = 0x00; /* origin indication: 0x0000, port, address */
	pre[19] = 0x00;
	n = teredo_frame(f, 3544, 40000, pre, sizeof(pre), A6, B6, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.l3_off, 14 + 28 + sizeof(pre));
	ck_assert_mem_eq(md.src, A6, 16);

	/* Not Teredo: neither port 3544 nor the prefix; an IPv6 length that
	 * does not fill the datagram; the inner packet is not TCP. */
	n = teredo_frame(f, 5000, 6000, NULL, 0, A6, B6, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_ORPHAN);
	ck_assert_uint_eq(md.sport, 5000);
	n = teredo_frame(f, 3544, 6000, NULL, 0, A6, B6, &t);
	w16(f + 14 + 28 + 4, rd16_(f + 14 + 28 + 4) - 1);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	n = teredo_frame(f, 3544, 6000, NULL, 0, A6, B6, &t);
	f[14 + 28 + 6] = 58; /* ICMPv6 */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	ck_assert_uint_eq(md.flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_ORPHAN);
	/* every truncation of a Teredo frame is read within bounds (ASan) */
	n = teredo_frame(f, 3544, 6000, pre, sizeof(pre), TC, B6, &t);
	for (unsigned k = 0; k <= n; k++)
		parse_exact(f, k, DLT_EN10MB, 1, &md);
}
END_TEST

/* ---- symmetric hash ----------------------------------------------------- */

START_TEST(hash_symmetric)
{
	struct mp_meta a, b;
	struct tcpspec t = T0, u = T0;
	u.sp = T0.dp;
	u.dp = T0.sp;
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &a), CLS_OK);
	n = l + dg4(f + l, B4, A4, &u);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &b), CLS_OK);
	ck_assert_uint_eq(a.hash, b.hash);
	l = eth(f, 0x86dd);
	n = l + dg6(f + l, A6, B6, &t);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &a), CLS_OK);
	n = l + dg6(f + l, B6, A6, &u);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &b), CLS_OK);
	ck_assert_uint_eq(a.hash, b.hash);

	/* different flows: nearly all distinct, and spread over 4 instances */
	enum { N = 1000 };
	static uint32_t h[N];
	unsigned bucket[4] = {0};
	for (unsigned i = 0; i < N; i++) {
		t.sp = (uint16_t)(10000 + i);
		l = eth(f, 0x0800);
		n = l + dg4(f + l, A4, B4, &t);
		ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 0, &a), CLS_OK);
		h[i] = a.hash;
		bucket[a.hash % 4]++;
	}
	unsigned same = 0;
	for (unsigned i = 0; i < N; i++)
		for (unsigned j = i + 1; j < N; j++)
			same += h[i] == h[j];
	ck_assert_uint_le(same, 2);
	for (int k = 0; k < 4; k++)
		ck_assert_uint_gt(bucket[k], N / 8);
}
END_TEST

/* ---- truncation and mutation sweep -------------------------------------- */

static void sane(int r, unsigned len)
{
	ck_assert((r >= 0 && r < CLS_N_BAD) || (r >= CLS_NON_TCP_ && r <= CLS_FRAG));
	ck_assert(md.flags & MP_MF_PARSED);
	if (r == CLS_OK || r == CLS_TCP_CSUM_BAD) {
		ck_assert(md.flags & MP_MF_TCP);
		ck_assert_uint_le(md.l3_off, md.l4_off);
		ck_assert_uint_lt(md.l4_off, md.pay_off);
		ck_assert_uint_le(md.pay_off + md.pay_cap, len);
		ck_assert_uint_le(md.pay_cap, md.pay_len);
		ck_assert_uint_le(md.opt.n_sack, MP_MAX_SACK);
	} else {
		ck_assert(!(md.flags & MP_MF_TCP));
	}
}

START_TEST(truncation_and_mutation_sweep)
{
	static uint8_t pk[12][600];
	unsigned len[12], dlt[12], np = 0;
	static const uint8_t opts[40] = {2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6,
	                                 1, 1, 5, 18,   0, 0, 0, 1, 0, 0, 0, 2,  0, 0, 0, 3, 0, 0, 0, 4};
	struct tcpspec t = T0;
	t.opt = opts;
	t.optlen = 40;
	t.paylen = 33;
	uint8_t ext[24] = {60, 0, [8] = 44, 0, [16] = 6, 0, 0, 0, 0, 0, 0, 9};

	unsigned l = eth(pk[np], 0x0800);
	len[np] = l + dg4(pk[np] + l, A4, B4, &t), dlt[np++] = DLT_EN10MB;
	l = eth(pk[np], 0x86dd);
	len[np] = l + dg6x(pk[np] + l, A6, B6, 0, ext, sizeof(ext), &t), dlt[np++] = DLT_EN10MB;
	l = eth(pk[np], 0x8100);
	w16(pk[np] + l + 2, 0x8847);
	w32(pk[np] + l + 4, 0x10140);
	l += 8;
	len[np] = l + dg4(pk[np] + l, A4, B4, &t), dlt[np++] = DLT_EN10MB;
	l = eth(pk[np], 0x88a8);
	w16(pk[np] + l + 2, 0x8100);
	w16(pk[np] + l + 6, 0x86dd);
	l += 8;
	len[np] = l + dg6(pk[np] + l, A6, B6, &t), dlt[np++] = DLT_EN10MB;
	memset(pk[np], 0, 16);
	w16(pk[np] + 14, 0x0800);
	len[np] = 16 + dg4(pk[np] + 16, A4, B4, &T0), dlt[np++] = DLT_LINUX_SLL;
	len[np] = dg6(pk[np], A6, B6, &T0), dlt[np++] = DLT_RAW;
	pk[np][0] = 2;
	len[np] = 4 + dg4(pk[np] + 4, A4, B4, &t), dlt[np++] = DLT_NULL;
	l = eth(pk[np], 0x8864);
	w16(pk[np] + l + 6, 0x0057);
	l += 8;
	len[np] = l + dg6(pk[np] + l, A6, B6, &t), dlt[np++] = DLT_EN10MB;
	l = eth(pk[np], 0x0800);
	len[np] = l + dg4(pk[np] + l, A4, B4, &t), dlt[np++] = DLT_EN10MB;
	w16(pk[np - 1] + l + 6, 0x2000); /* a fragment */

	for (unsigned k = 0; k < np; k++) {
		/* the whole packet is valid (except the fragment) */
		int r = parse_exact(pk[k], len[k], (int)dlt[k], 1, &md);
		ck_assert_msg(r == CLS_OK || k == np - 1, "packet %u: %s", k, cls_result_name(r));
		for (unsigned cut = 0; cut <= len[k]; cut++) {
			r = parse_exact(pk[k], cut, (int)dlt[k], 1, &md);
			sane(r, cut);
			/* every view size of a whole packet too */
			uint8_t *c = malloc(cut ? cut : 1);
			memcpy(c, pk[k], cut);
			memset(&md, 0, sizeof(md));
			r = cls_parse_view(c, cut, len[k], (int)dlt[k], &md, NULL);
			free(c);
			ck_assert((r >= 0 && r < CLS_N_BAD) || r >= CLS_NON_TCP_);
		}
	}
	srandom(12345);
	uint8_t m[600];
	for (unsigned it = 0; it < 60000; it++) {
		unsigned k = it % np;
		memcpy(m, pk[k], len[k]);
		unsigned flips = 1 + (unsigned)random() % 4;
		for (unsigned j = 0; j < flips; j++) {
			unsigned pos = (unsigned)random() % len[k];
			/* bias towards header bytes, where the parser branches */
			if (random() & 1)
				pos %= 80 < len[k] ? 80 : len[k];
			m[pos] = (uint8_t)random();
		}
		unsigned n = random() % 4 ? len[k] : (unsigned)random() % (len[k] + 1);
		int r = parse_exact(m, n, (int)dlt[k], (int)(it & 1), &md);
		sane(r, n);
	}
}
END_TEST

/* ---- the stage under EAL ------------------------------------------------ */

static struct rte_mempool *pool;
static struct mp_conf conf;
static struct mp_pipeline pl;

struct harness {
	struct mp_stage_inst *si;
	struct rte_ring *in, *out;
};

static void h_init(struct harness *h)
{
	static unsigned uniq;
	char name[32];
	memset(&pl, 0, sizeof(pl));
	pl.conf = &conf;
	pl.pool = pool;
	pl.n_ports = 1;
	pl.port[0].dlt = DLT_EN10MB;
	h->si = rte_zmalloc("si", sizeof(*h->si), RTE_CACHE_LINE_SIZE);
	ck_assert_ptr_nonnull(h->si);
	h->si->type = &mp_stage_classify;
	h->si->pl = &pl;
	h->si->ctr = calloc(MP_CC_N + mp_stage_classify.n_ctrs, sizeof(uint64_t));
	snprintf(name, sizeof(name), "ci%u", uniq);
	h->in = rte_ring_create(name, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "co%u", uniq++);
	h->out = rte_ring_create(name, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
	ck_assert(h->in && h->out);
	h->si->n_in = 1;
	h->si->in[0] = h->in;
	h->si->out[0].n = 1;
	h->si->out[0].r[0] = h->out;
	ck_assert_int_eq(mp_stage_classify.init(h->si), 0);
}

static void h_fini(struct harness *h)
{
	struct rte_mbuf *m;
	while (rte_ring_sc_dequeue(h->out, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	mp_stage_classify.fini(h->si);
	rte_ring_free(h->in);
	rte_ring_free(h->out);
	free(h->si->ctr);
	rte_free(h->si);
}

static uint64_t ctr(struct harness *h, const char *name)
{
	for (unsigned k = 0; k < mp_stage_classify.n_ctrs; k++)
		if (!strcmp(mp_stage_classify.ctrs[k].name, name))
			return h->si->ctr[MP_CC_N + k];
	ck_abort_msg("no counter %s", name);
	return 0;
}

/* An mbuf holding p, split into segments of at most seg bytes. */
static struct rte_mbuf *mk(const uint8_t *p, unsigned n, unsigned seg, uint64_t ts_ns)
{
	struct rte_mbuf *head = NULL;
	for (unsigned off = 0; off < n || !head; off += seg) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		ck_assert_ptr_nonnull(m);
		unsigned k = n - off < seg ? n - off : seg;
		memcpy(rte_pktmbuf_append(m, (uint16_t)k), p + off, k);
		if (!head)
			head = m;
		else
			ck_assert_int_eq(rte_pktmbuf_chain(head, m), 0);
		if (!n)
			break;
	}
	struct mp_meta *d = mp_meta(head);
	mp_meta_reset(d);
	d->ts_ns = ts_ns;
	return head;
}

static unsigned run(struct harness *h, struct rte_mbuf **in, unsigned n, struct rte_mbuf **out)
{
	ck_assert_uint_eq(rte_ring_sp_enqueue_burst(h->in, (void **)in, n, NULL), n);
	while (mp_stage_classify.poll(h->si))
		;
	return rte_ring_sc_dequeue_burst(h->out, (void **)out, 512, NULL);
}

/* IPv4 datagram of a TCP SYN with payload, split into fragments of `fl`
 * payload bytes (multiple of 8); fr[i] gets Ethernet frames. */
static unsigned frag4(uint8_t fr[][256], unsigned *fl_out, unsigned fl, unsigned paylen)
{
	uint8_t d[2048];
	struct tcpspec t = T0;
	t.flags = MP_TH_SYN;
	t.paylen = paylen;
	unsigned dl = dg4(d, A4, B4, &t), n = 0;
	for (unsigned off = 20; off < dl; off += fl, n++) {
		unsigned k = dl - off < fl ? dl - off : fl;
		unsigned l = eth(fr[n], 0x0800);
		memcpy(fr[n] + l, d, 20);
		w16(fr[n] + l + 2, 20 + k);
		w16(fr[n] + l + 4, 0x4242);
		w16(fr[n] + l + 6, (off + k < dl ? 0x2000 : 0) | (off - 20) / 8);
		memcpy(fr[n] + l + 20, d + off, k);
		fl_out[n] = l + 20 + k;
	}
	return n;
}

START_TEST(stage_ipv4_reassembly)
{
	struct harness h;
	h_init(&h);
	uint8_t fr[16][256];
	unsigned fl[16];
	unsigned nf = frag4(fr, fl, 24, 40); /* 20 TCP + 40 payload = 60 -> 3 fragments */
	ck_assert_uint_eq(nf, 3);
	struct rte_mbuf *in[8], *out[16];
	/* out of order, with 4 bytes of trailer padding on one fragment */
	memset(fr[1] + fl[1], 0xee, 4);
	in[0] = mk(fr[2], fl[2], 2048, 1000000000ull);
	in[1] = mk(fr[0], fl[0], 2048, 1001000000ull);
	in[2] = mk(fr[1], fl[1] + 4, 2048, 1002000000ull);
	unsigned n = run(&h, in, 3, out);
	ck_assert_uint_eq(n, 4);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_eq(out[i], in[i]); /* originals, unchanged, in order */
		ck_assert(mp_meta(out[i])->flags & MP_MF_UNMON);
	}
	struct mp_meta *r = mp_meta(out[3]);
	ck_assert_uint_eq(r->flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(r->tcp_flags, MP_TH_SYN);
	ck_assert_uint_eq(r->seq, 1000);
	ck_assert_uint_eq(r->pay_len, 40);
	ck_assert_uint_eq(r->pay_cap, 40);
	ck_assert_uint_eq(r->ts_ns, 1002000000ull);
	ck_assert_uint_eq(r->hash, mp_hash_mix(mp_sym_hash(A4, 1234, B4, 80, 4)));
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(out[3]), 14 + 20 + 60);
	ck_assert_uint_eq(ctr(&h, "fragments"), 3);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
	ck_assert_uint_eq(ctr(&h, "tcp"), 1); /* checksum verified over the chain */
	ck_assert_uint_eq(ctr(&h, "tcp_csum_bad"), 0);
	rte_pktmbuf_free_bulk(out, n);

	/* timeout on packet time: the second half comes 3 s later (2 s limit) */
	nf = frag4(fr, fl, 32, 20);
	ck_assert_uint_eq(nf, 2);
	in[0] = mk(fr[0], fl[0], 2048, 5000000000ull);
	in[1] = mk(fr[1], fl[1], 2048, 8000000000ull);
	n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
	rte_pktmbuf_free_bulk(out, n);
	h_fini(&h);
}
END_TEST

START_TEST(stage_ipv6_reassembly)
{
	struct harness h;
	h_init(&h);
	uint8_t d[2048], fr[4][256];
	unsigned fl[4];
	struct tcpspec t = T0;
	t.paylen = 28; /* 48-byte TCP segment -> 2 fragments of 24 */
	unsigned dl = dg6(d, A6, B6, &t);
	for (unsigned i = 0; i < 2; i++) {
		unsigned l = eth(fr[i], 0x86dd);
		memcpy(fr[i] + l, d, 40);
		fr[i][l + 6] = 44;
		w16(fr[i] + l + 4, 8 + 24);
		uint8_t *fh = fr[i] + l + 40;
		fh[0] = 6;
		fh[1] = 0;
		w16(fh + 2, i * 24 | (i == 0 ? 1 : 0));
		w32(fh + 4, 0xabcd);
		memcpy(fh + 8, d + 40 + i * 24, 24);
		fl[i] = l + 48 + 24;
	}
	ck_assert_uint_eq(dl, 40 + 48);
	struct rte_mbuf *in[2] = {mk(fr[0], fl[0], 2048, 1), mk(fr[1], fl[1], 2048, 2)}, *out[8];
	unsigned n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 3);
	struct mp_meta *r = mp_meta(out[2]);
	ck_assert_uint_eq(r->flags, MP_MF_PARSED | MP_MF_IPV6 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(r->l4_off, 14 + 40);
	ck_assert_uint_eq(r->pay_len, 28);
	ck_assert_uint_eq(ctr(&h, "tcp"), 1);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
	rte_pktmbuf_free_bulk(out, n);
	h_fini(&h);
}
END_TEST

START_TEST(stage_multiseg_and_ctrl)
{
	struct harness h;
	h_init(&h);
	struct tcpspec t = T0;
	t.paylen = 301;
	static const uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	t.opt = ts;
	t.optlen = 12;
	unsigned l = eth(f, 0x8100);
	w16(f + l + 2, 0x0800);
	l += 4;
	unsigned n = l + dg4(f + l, A4, B4, &t);
	/* segment sizes that cut every header, odd and even */
	static const unsigned segs[] = {7, 13, 20, 33, 40, 57, 64, 101};
	struct rte_mbuf *in[16], *out[32];
	unsigned k = 0;
	for (; k < RTE_DIM(segs); k++)
		in[k] = mk(f, n, segs[k], k);
	f[n - 1] ^= 0x10; /* a bad one, multi-segment */
	in[k++] = mk(f, n, 9, 99);
	in[k] = rte_pktmbuf_alloc(pool);
	mp_meta(in[k])->kind = MP_PKT_CTRL;
	mp_meta(in[k])->flags = 0x7777;
	k++;
	unsigned got = run(&h, in, k, out);
	ck_assert_uint_eq(got, k);
	for (unsigned i = 0; i < RTE_DIM(segs); i++) {
		struct mp_meta *d = mp_meta(out[i]);
		ck_assert_msg(d->flags == (MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP), "seg %u flags %x", segs[i],
		              d->flags);
		ck_assert_uint_eq(d->flags, MP_MF_PARSED | MP_MF_IPV4 | MP_MF_TCP);
		ck_assert_uint_eq(d->pay_len, 301);
		ck_assert_uint_eq(d->pay_off, 18 + 20 + 32);
		ck_assert_uint_eq(d->opt.tsval, 1);
	}
	ck_assert(mp_meta(out[RTE_DIM(segs)])->flags & MP_MF_BADCSUM);
	ck_assert_uint_eq(mp_meta(out[k - 1])->flags, 0x7777); /* untouched */
	ck_assert_uint_eq(ctr(&h, "tcp"), RTE_DIM(segs));
	ck_assert_uint_eq(ctr(&h, "tcp_csum_bad"), 1);
	ck_assert_uint_eq(ctr(&h, "ctrl"), 1);
	ck_assert_uint_eq(h.si->ctr[MP_CC_OUT], k);
	rte_pktmbuf_free_bulk(out, got);
	h_fini(&h);
}
END_TEST

/* RX checksum offload: GOOD is trusted (no software pass: a corrupted
 * payload flagged GOOD goes through as good), BAD is bad, no verdict means
 * software verification; none of it for Teredo inner segments. */
START_TEST(stage_rx_checksum_flags)
{
	struct harness h;
	h_init(&h);
	struct tcpspec t = T0;
	t.paylen = 100;
	unsigned n = eth(f, 0x0800);
	n += dg4(f + n, A4, B4, &t);
	struct rte_mbuf *in[4], *out[8];
	in[0] = mk(f, n, 2048, 1); /* right, GOOD */
	in[0]->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	in[1] = mk(f, n, 2048, 2); /* right, BAD: the NIC's verdict wins */
	in[1]->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_BAD;
	f[n - 1] ^= 0x10;
	in[2] = mk(f, n, 2048, 3); /* wrong, GOOD: not recomputed */
	in[2]->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	in[3] = mk(f, n, 2048, 4); /* wrong, no verdict: software finds it */
	f[n - 1] ^= 0x10;
	unsigned got = run(&h, in, 4, out);
	ck_assert_uint_eq(got, 4);
	ck_assert(!(mp_meta(out[0])->flags & MP_MF_BADCSUM));
	ck_assert(mp_meta(out[1])->flags & MP_MF_BADCSUM);
	ck_assert(!(mp_meta(out[2])->flags & MP_MF_BADCSUM));
	ck_assert(mp_meta(out[3])->flags & MP_MF_BADCSUM);
	ck_assert_uint_eq(ctr(&h, "csum_offloaded"), 3);
	ck_assert_uint_eq(ctr(&h, "tcp_csum_bad"), 2);
	rte_pktmbuf_free_bulk(out, got);
	h_fini(&h);
}
END_TEST

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=tcls%d", (int)getpid());
	char *argv[] = {"test_classify", "--no-huge",         "-m", "256", "--no-pci", "--no-shconf",
	                prefix,          "--log-level=error", "-l", "0",   NULL};
	if (rte_eal_init(10, argv) < 0) {
		fprintf(stderr, "test_classify: EAL init failed\n");
		return EXIT_FAILURE;
	}
	pool = rte_pktmbuf_pool_create("tcls_pool", 4095, 0, MP_META_PRIV_SIZE, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!pool)
		return EXIT_FAILURE;
	mp_conf_defaults(&conf);
	conf.frag_flows = 64;

	Suite *s = suite_create("classify");
	TCase *p = tcase_create("parser");
	tcase_set_timeout(p, 120);
	tcase_add_test(p, eth_ipv4_tcp_fields);
	tcase_add_test(p, keeps_rx_fields);
	tcase_add_test(p, vlan_qinq_any_depth);
	tcase_add_test(p, mpls_stack);
	tcase_add_test(p, other_links);
	tcase_add_test(p, ipv6_ext_headers);
	tcase_add_test(p, ipv6_fragments);
	tcase_add_test(p, ipv4_fragments);
	tcase_add_test(p, malformed_each_class);
	tcase_add_test(p, tcp_options_each);
	tcase_add_test(p, checksum_both_families);
	tcase_add_test(p, padding_not_payload);
	tcase_add_test(p, snaplen_cut_segment);
	tcase_add_test(p, non_tcp_orphans);
	tcase_add_test(p, teredo_decap);
	tcase_add_test(p, hash_symmetric);
	tcase_add_test(p, truncation_and_mutation_sweep);
	suite_add_tcase(s, p);
	TCase *st = tcase_create("stage");
	tcase_set_timeout(st, 60);
	tcase_add_test(st, stage_ipv4_reassembly);
	tcase_add_test(st, stage_ipv6_reassembly);
	tcase_add_test(st, stage_multiseg_and_ctrl);
	tcase_add_test(st, stage_rx_checksum_flags);
	suite_add_tcase(s, st);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
