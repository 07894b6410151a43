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
#include <rte_ip_frag.h>
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
	w16(d + 10, (uint16_t)~fold(sum16(d, 20, 0)));
	return 20 + tl;
}

/* IPv4 with options (optlen a multiple of 4) + TCP. @return its length. */
static unsigned dg4o(uint8_t *d, const uint8_t *opts, unsigned optlen, const struct tcpspec *t)
{
	uint8_t tmp[2048];
	unsigned n = dg4(tmp, A4, B4, t);
	memcpy(d, tmp, 20);
	memcpy(d + 20, opts, optlen);
	memcpy(d + 20 + optlen, tmp + 20, n - 20);
	d[0] = (uint8_t)(0x40 | (20 + optlen) / 4);
	w16(d + 2, n + optlen);
	w16(d + 10, 0);
	w16(d + 10, (uint16_t)~fold(sum16(d, 20 + optlen, 0)));
	return n + optlen;
}

/* Recomputes the header checksum of the IPv4 header at ip (after a test
 * changed a field). */
static void fix4(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 15u) * 4;
	w16(ip + 10, 0);
	w16(ip + 10, (uint16_t)~fold(sum16(ip, ihl, 0)));
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
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_TCP);
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

/* The one clear per packet (meta-types.h): the allocating stage zeroes the
 * metadata and sets its own fields; the parser keeps them and only adds its
 * own, it does not clear. */
START_TEST(keeps_rx_fields)
{
	unsigned l = eth(f, 0x0800);
	l += dg4(f + l, A4, B4, &T0);
	memset(&md, 0, sizeof(md));
	md.ts_ns = 77;
	md.port = 3;
	md.kind = MP_PKT_DATA;
	md.flags = MP_MF_REASM;
	ck_assert_int_eq(cls_parse(f, l, DLT_EN10MB, 1, &md), CLS_OK);
	ck_assert_uint_eq(md.ts_ns, 77);
	ck_assert_uint_eq(md.port, 3);
	ck_assert_uint_eq(md.kind, MP_PKT_DATA);
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(md.anomaly, 0);
	ck_assert_ptr_null(md.flow);
	ck_assert_uint_eq(md.ev[0] | md.ev[1], 0);
	/* The hash is the parser's: rx's fan-out hash left there is replaced,
	 * by 0 for a frame without addresses. */
	l = eth(f, 0x0806);
	memset(f + l, 0, 28);
	memset(&md, 0, sizeof(md));
	md.hash = 12345;
	ck_assert_int_eq(cls_parse(f, l + 28, DLT_EN10MB, 1, &md), CLS_NON_IP);
	ck_assert_uint_eq(md.hash, 0);
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
	ck_assert_uint_eq(md.flags, MP_MF_ORPHAN);
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
	/* first fragment (M set): payload 30 bytes is not a multiple of 8, a
	 * piece Linux refuses alone (ip6_frag_queue: parameter problem) */
	fh[3] = 1;
	n = l + dg6x(f + l, A6, B6, 44, fh, 8, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG_BAD);
	/* ending past 64K: refused alone too */
	fh[2] = 0xff;
	fh[3] = 0xf8;
	n = l + dg6x(f + l, A6, B6, 44, fh, 8, &T0);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG_BAD);
	fh[2] = 0;
	fh[3] = 1;
	struct tcpspec t = T0;
	t.paylen = 12; /* 32 bytes */
	n = l + dg6x(f + l, A6, B6, 44, fh, 8, &t);
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_FRAG);
	ck_assert_uint_eq(info.frag_off, 54);
	ck_assert_uint_eq(info.frag_nh_off, 14 + 6); /* the fixed header names it */
	ck_assert_uint_eq(info.frag_first, 1);
	ck_assert_uint_eq(info.frag_mf, 1);
	ck_assert_uint_eq(info.frag_id, 42);
	ck_assert_uint_eq(info.ip_end, n);
	ck_assert_uint_eq(md.flags, MP_MF_IPV6 | MP_MF_UNMON);
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
	w16(f + l + 4, 0x4242);
	w16(f + l + 6, 0x2000); /* MF, offset 0: 32 bytes */
	f[l + 1] = 2;           /* ECT(0) */
	fix4(f + l);
	struct cls_info info = {0};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_FRAG);
	ck_assert_uint_eq(info.frag_first, 1);
	ck_assert_uint_eq(info.frag_mf, 1);
	ck_assert_uint_eq(info.frag_at, 0);
	ck_assert_uint_eq(info.frag_id, 0x4242);
	ck_assert_uint_eq(info.ecn, 2);
	ck_assert(md.flags & MP_MF_UNMON);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(A4, 0, B4, 0, 4)));
	w16(f + l + 6, 0x0003); /* last fragment at 24 */
	fix4(f + l);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG);
	/* Ending past 64K, or with MF and a length that is not a multiple of
	 * 8: reassembly's to judge as Linux does (it discards the datagram
	 * when rebuilt, or trims the piece), not the parser's. */
	w16(f + l + 6, 0x1fff);
	fix4(f + l);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG);
	t.paylen = 13;
	n = l + dg4(f + l, A4, B4, &t);
	w16(f + l + 6, 0x2001);
	fix4(f + l);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_FRAG);
	w16(f + l + 6, 0x4000); /* DF only: not a fragment */
	fix4(f + l);
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

	/* IPv4 options a host refuses (ip_options_compile, ip_rcv_options):
	 * source routes, lengths past the header, a bad record-route pointer,
	 * two record routes, CIPSO; and ones it takes. */
	{
		static const struct {
			uint8_t o[12];
			unsigned len;
			int taken;
		} oc[] = {
		    {{131, 7, 4, 10, 0, 0, 2, 0}, 8, 0},              /* LSRR */
		    {{137, 7, 4, 10, 0, 0, 2, 0}, 8, 0},              /* SSRR */
		    {{1, 1, 148, 9}, 4, 0},                           /* length past the header */
		    {{1, 1, 1, 68}, 4, 0},                            /* a kind with no room for its length */
		    {{7, 7, 3, 0, 0, 0, 0, 0}, 8, 0},                 /* RR pointer < 4 */
		    {{7, 3, 4, 7, 3, 4, 0, 0}, 8, 0},                 /* two RRs */
		    {{134, 8, 0, 0, 0, 77, 0, 2}, 8, 0},              /* CIPSO, no domain configured */
		    {{148, 2, 0, 0}, 4, 0},                           /* router alert of 2 bytes */
		    {{68, 4, 5, 0xf1, 0, 0, 0, 0}, 8, 0},             /* timestamp overflow full */
		    {{7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, 1},   /* RR with room */
		    {{148, 4, 0, 0}, 4, 1},                           /* router alert */
		    {{1, 1, 1, 0}, 4, 1},                             /* NOPs, EOL */
		    {{0, 7, 0, 0}, 4, 1},                             /* EOL: the rest is not read */
		    {{130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, 1}, /* security: a host takes it */
		};
		for (unsigned k = 0; k < RTE_DIM(oc); k++) {
			unsigned m = l + dg4o(f + l, oc[k].o, oc[k].len, &T0);
			int r = parse_exact(f, m, DLT_EN10MB, 1, &md);
			ck_assert_msg(r == (oc[k].taken ? CLS_OK : CLS_IPV4_OPT_REFUSED), "option case %u: %s", k,
			              cls_result_name(r));
			if (oc[k].taken)
				ck_assert_uint_eq(md.pay_off, 14 + 20 + oc[k].len + 20);
		}
		n = l + dg4(f + l, A4, B4, &T0);
	}

	/* header checksum wrong: a host drops it before looking further */
	f[14 + 8] = 1; /* TTL changed, checksum not */
	expect_bad(f, n, DLT_EN10MB, CLS_IPV4_CSUM_BAD);
	fix4(f + 14);

	w16(f + 16, 19); /* total length < header */
	fix4(f + 14);
	expect_bad(f, n, DLT_EN10MB, CLS_IP_LEN_BAD);
	/* total length beyond a frame known to be whole */
	w16(f + 16, n - 14 + 100);
	fix4(f + 14);
	struct cls_info info = {.wirelen = n};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &info), CLS_IP_LEN_BAD);
	w16(f + 16, n - 14);
	fix4(f + 14);

	/* IP length leaves 10 bytes of TCP */
	w16(f + 16, 30);
	fix4(f + 14);
	expect_bad(f, n, DLT_EN10MB, CLS_TCP_TRUNCATED);
	w16(f + 16, n - 14);
	fix4(f + 14);
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

	/* An option running past the header, one with a length below 2, a
	 * kind byte with no room for its length: Linux's tcp_parse_options
	 * stops there, keeps what it parsed before and takes the segment, so
	 * its payload is monitored (counted tcp_opt_overrun, not malformed). */
	static const uint8_t o1[16] = {8, 10, 0, 0, 0, 9, 0, 0, 0, 7, 1, 1, 2, 8, 5, 180}, o2[4] = {3, 1, 0, 0},
	                     o3[4] = {1, 1, 1, 2};
	const uint8_t *ov[3] = {o1, o2, o3};
	const unsigned ol[3] = {16, 4, 4};
	for (unsigned k = 0; k < 3; k++) {
		t.opt = ov[k];
		t.optlen = ol[k];
		t.paylen = 7;
		n = l + dg4(f + l, A4, B4, &t);
		memset(&md, 0, sizeof(md));
		struct cls_info oi = {.in = CLS_IN_IPCSUM};
		ck_assert_int_eq(cls_parse_view(f, n, n, DLT_EN10MB, &md, &oi), CLS_OK);
		ck_assert(oi.notes & CLS_N_OPT_OVERRUN);
		ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_TCP);
		ck_assert_uint_eq(md.pay_len, 7);
		ck_assert_uint_eq(md.pay_off, 14 + 20 + 20 + ol[k]);
		ck_assert_uint_eq(md.opt.present, k == 0 ? MP_TO_TS : 0);
		if (k == 0)
			ck_assert_uint_eq(md.opt.tsval, 9);
		ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_OK);
	}
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
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_TCP | MP_MF_BADCSUM);
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
	/* The frame's length on the wire decides between a snaplen cut and a
	 * datagram longer than its frame: the record said 1054 bytes (cut to
	 * 96): monitored as far as captured; the frame was 96 bytes long (a
	 * whole live frame, or a record whose original length is 96): a host
	 * drops it (ip_rcv_core: skb->len < tot_len), never monitored. */
	struct cls_info wi = {.wirelen = 14 + 20 + 20 + 1000, .in = CLS_IN_IPCSUM};
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, 96, 96, DLT_EN10MB, &md, &wi), CLS_OK);
	ck_assert_uint_eq(md.pay_cap, 42);
	wi.wirelen = 96;
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, 96, 96, DLT_EN10MB, &md, &wi), CLS_IP_LEN_BAD);
	ck_assert(md.flags & MP_MF_UNMON);
	wi.wirelen = 14 + 20 + 20 + 999; /* one byte short on the wire */
	memset(&md, 0, sizeof(md));
	ck_assert_int_eq(cls_parse_view(f, 96, 96, DLT_EN10MB, &md, &wi), CLS_IP_LEN_BAD);
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
	fix4(f + 14);
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
	fix4(f + 14);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_ORPHAN);
	ck_assert_uint_eq(md.sport, 1234);
	ck_assert_uint_eq(md.hash, mp_hash_mix(mp_sym_hash(B4, 80, A4, 1234, 4)));
	f[23] = 1;
	fix4(f + 14);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_ICMP);
	f[23] = 47;
	fix4(f + 14);
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
	fix4(ip);
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
	ck_assert_uint_eq(md.flags, MP_MF_IPV6 | MP_MF_TCP);
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
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_ORPHAN);
	ck_assert_uint_eq(md.sport, 5000);
	n = teredo_frame(f, 3544, 6000, NULL, 0, A6, B6, &t);
	w16(f + 14 + 28 + 4, rd16_(f + 14 + 28 + 4) - 1);
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	n = teredo_frame(f, 3544, 6000, NULL, 0, A6, B6, &t);
	f[14 + 28 + 6] = 58; /* ICMPv6 */
	ck_assert_int_eq(parse_exact(f, n, DLT_EN10MB, 1, &md), CLS_UDP);
	ck_assert_uint_eq(md.flags, MP_MF_IPV4 | MP_MF_ORPHAN);
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
		fix4(fr[n] + l);
		memcpy(fr[n] + l + 20, d + off, k);
		fl_out[n] = l + 20 + k;
	}
	return n;
}

/* The datagram the fragment tests cut: a TCP segment of 20 + 52 bytes whose
 * payload is 'a'..'z' repeated. */
static unsigned base4(uint8_t *d)
{
	struct tcpspec t = T0;
	t.paylen = 52;
	return dg4(d, A4, B4, &t);
}

/* One IPv4 fragment of datagram d: bytes [off, off + len) of what follows
 * its 20-byte header, or `data` instead when given; MF as given. The
 * fragment offset is off / 8 (off need not be a multiple: the field is
 * written as is, tests pass multiples). @return the frame's length. */
static unsigned frag4_one(uint8_t *fr, const uint8_t *d, unsigned off, unsigned len, int mf, uint16_t id,
                          const uint8_t *data, uint8_t ecn)
{
	unsigned l = eth(fr, 0x0800);
	memcpy(fr + l, d, 20);
	fr[l + 1] = ecn;
	w16(fr + l + 2, 20 + len);
	w16(fr + l + 4, id);
	w16(fr + l + 6, (mf ? 0x2000 : 0) | off / 8);
	fix4(fr + l);
	memcpy(fr + l + 20, data ? data : d + 20 + off, len);
	return l + 20 + len;
}

/* Byte i of the rebuilt datagram's TCP segment (from its l4_off). */
static uint8_t rb_byte(struct rte_mbuf *m, unsigned i)
{
	uint8_t c;
	const uint8_t *p = rte_pktmbuf_read(m, mp_meta(m)->l4_off + i, 1, &c);
	return *p;
}

/* The fragments a rebuilt datagram carries, in order. @return how many. */
static unsigned held_list(struct rte_mbuf *r, struct rte_mbuf **out)
{
	unsigned n = 0;
	for (struct rte_mbuf *h = mp_meta(r)->pkt.held; h; h = mp_meta(h)->pkt.held)
		out[n++] = h;
	ck_assert_uint_eq(n, mp_meta(r)->pkt.n_held);
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
	struct rte_mbuf *in[8], *out[16], *held[16];
	/* out of order, with 4 bytes of trailer padding on one fragment */
	memset(fr[1] + fl[1], 0xee, 4);
	in[0] = mk(fr[2], fl[2], 2048, 1000000000ull);
	in[1] = mk(fr[0], fl[0], 2048, 1001000000ull);
	in[2] = mk(fr[1], fl[1] + 4, 2048, 1002000000ull);
	/* The fragments are held until the datagram completes: then the
	 * rebuilt datagram alone comes out, carrying them in arrival order. */
	unsigned n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 0);
	n = run(&h, in + 2, 1, out);
	ck_assert_uint_eq(n, 1);
	struct mp_meta *r = mp_meta(out[0]);
	ck_assert_uint_eq(r->flags, MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(held_list(out[0], held), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_ptr_eq(held[i], in[i]); /* originals, unchanged, in order */
		ck_assert(mp_meta(held[i])->flags & MP_MF_UNMON);
	}
	ck_assert_mem_eq(rte_pktmbuf_mtod(held[1], uint8_t *), fr[0], fl[0]);
	ck_assert_uint_eq(r->tcp_flags, MP_TH_SYN);
	ck_assert_uint_eq(r->seq, 1000);
	ck_assert_uint_eq(r->pay_len, 40);
	ck_assert_uint_eq(r->pay_cap, 40);
	ck_assert_uint_eq(r->ts_ns, 1002000000ull);
	ck_assert_uint_eq(r->hash, mp_hash_mix(mp_sym_hash(A4, 1234, B4, 80, 4)));
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(out[0]), 14 + 20 + 60);
	ck_assert_uint_eq(ctr(&h, "fragments"), 3);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
	ck_assert_uint_eq(ctr(&h, "tcp"), 1); /* IP and TCP checksums verified over the chain */
	ck_assert_uint_eq(ctr(&h, "tcp_csum_bad"), 0);
	ck_assert_uint_eq(ctr(&h, "ipv4_csum_bad"), 0);
	ck_assert_uint_eq(mp_pkt_free(out[0]), 4); /* the datagram frees what it carries */

	/* Timeout on packet time (30 s, Linux's ipfrag_time): the second half
	 * comes 31 s later and starts a datagram of its own, which the end of
	 * input gives up. */
	nf = frag4(fr, fl, 32, 20);
	ck_assert_uint_eq(nf, 2);
	in[0] = mk(fr[0], fl[0], 2048, 5000000000ull);
	in[1] = mk(fr[1], fl[1], 2048, 36000000000ull);
	n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ctr(&h, "frag_timeout"), 1);
	ck_assert_uint_eq(ctr(&h, "reasm_timeout"), 1);
	ck_assert_int_eq(mp_stage_classify.drain(h.si), 0);
	ck_assert_uint_eq(ctr(&h, "frag_end"), 1);
	ck_assert_uint_eq(ctr(&h, "reasm_end"), 1);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
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
	struct rte_mbuf *in[2] = {mk(fr[0], fl[0], 2048, 1), mk(fr[1], fl[1], 2048, 2)}, *out[8], *held[4];
	unsigned n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 1);
	struct mp_meta *r = mp_meta(out[0]);
	ck_assert_uint_eq(r->flags, MP_MF_IPV6 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(r->l4_off, 14 + 40);
	ck_assert_uint_eq(r->pay_len, 28);
	ck_assert_uint_eq(held_list(out[0], held), 2);
	/* the rebuilt datagram is the original one, fragment header gone */
	ck_assert_uint_eq(rte_pktmbuf_pkt_len(out[0]), 14 + dl);
	uint8_t rb[256];
	ck_assert_mem_eq(rte_pktmbuf_read(out[0], 14, dl, rb), d, dl);
	ck_assert_uint_eq(ctr(&h, "tcp"), 1);
	ck_assert_uint_eq(ctr(&h, "injected"), 1);
	mp_pkt_free(out[0]);

	/* RFC 7112 / Linux ipv6frag_thdr_truncated: a first fragment that
	 * does not hold the whole TCP header is dropped alone. */
	uint8_t tf[256];
	unsigned l = eth(tf, 0x86dd);
	memcpy(tf + l, d, 40);
	tf[l + 6] = 44;
	w16(tf + l + 4, 8 + 16);
	tf[l + 40] = 6;
	w16(tf + l + 42, 1);
	w32(tf + l + 44, 0xabce);
	memcpy(tf + l + 48, d + 40, 16);
	in[0] = mk(tf, l + 64, 2048, 3);
	n = run(&h, in, 1, out);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ctr(&h, "frag_tiny"), 1);
	h_fini(&h);
}
END_TEST

/* What DPDK's rte_ip_frag does with a duplicate fragment inside a datagram:
 * it gives the whole datagram up (ip_frag_process: a second copy of a
 * middle piece pushes frag_size past total_size), where Linux ignores the
 * duplicate and completes the datagram (inet_frag_queue_insert:
 * IPFRAG_DUP). Pinned here because it is why classify has its own
 * reassembly: if a DPDK upgrade makes this test fail, rte_ip_frag may be
 * worth another look. */
START_TEST(rte_ip_frag_drops_duplicates)
{
	uint8_t d[256], fr[4][256];
	unsigned dl = base4(d), fl[4];
	ck_assert_uint_eq(dl, 92);
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 7, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 24, 24, 1, 7, NULL, 0);
	fl[2] = frag4_one(fr[2], d, 24, 24, 1, 7, NULL, 0); /* the same piece again */
	fl[3] = frag4_one(fr[3], d, 48, 24, 0, 7, NULL, 0);
	struct rte_ip_frag_tbl *tb = rte_ip_frag_table_create(16, 4, 64, 1000, SOCKET_ID_ANY);
	ck_assert_ptr_nonnull(tb);
	struct rte_ip_frag_death_row dr = {0};
	struct rte_mbuf *got = NULL;
	for (unsigned i = 0; i < 4; i++) {
		struct rte_mbuf *m = mk(fr[i], fl[i], 2048, 1);
		m->l2_len = 14;
		m->l3_len = 20;
		struct rte_mbuf *r = rte_ipv4_frag_reassemble_packet(
		    tb, &dr, m, 1, rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, 14));
		if (r)
			got = r;
	}
	ck_assert_ptr_null(got); /* DPDK: no datagram */
	rte_ip_frag_free_death_row(&dr, 0);
	rte_ip_frag_table_destroy(tb);

	/* classify: the datagram, with the first copy's bytes */
	struct harness h;
	h_init(&h);
	struct rte_mbuf *in[4], *out[4], *held[8];
	for (unsigned i = 0; i < 4; i++)
		in[i] = mk(fr[i], fl[i], 2048, 1 + i);
	unsigned n = run(&h, in, 4, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mp_meta(out[0])->flags, MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM);
	ck_assert_uint_eq(mp_meta(out[0])->pay_len, 52);
	ck_assert_uint_eq(held_list(out[0], held), 4); /* the duplicate is forwarded too */
	ck_assert_uint_eq(ctr(&h, "frag_dup"), 1);
	ck_assert_uint_eq(ctr(&h, "tcp_csum_bad"), 0);
	mp_pkt_free(out[0]);
	h_fini(&h);
}
END_TEST

/* The same overlapping fragments under each policy: a piece [8, 24) sent
 * with other bytes ('X') after [0, 16) ('a'...), then the rest. */
START_TEST(stage_frag_policies)
{
	uint8_t d[256], fr[4][256], xs[64];
	unsigned dl = base4(d), fl[4];
	(void)dl;
	memset(xs, 'X', sizeof(xs));
	/* TCP header bytes 0..19 are the segment's own in every piece: the
	 * overlap is inside the payload, at segment bytes [24, 40) */
	fl[0] = frag4_one(fr[0], d, 0, 32, 1, 9, NULL, 0);  /* [0, 32) */
	fl[1] = frag4_one(fr[1], d, 24, 16, 1, 9, xs, 0);   /* [24, 40) other bytes */
	fl[2] = frag4_one(fr[2], d, 32, 40, 0, 9, NULL, 0); /* [32, 72) the rest */
	static const struct {
		unsigned pol;
		int out;      /* a datagram comes out */
		uint8_t at24; /* segment byte 24 */
		uint8_t at32; /* segment byte 32 */
	} want[] = {
	    {MP_FRAGPOL_LINUX, 0, 0, 0},     /* overlap: discarded */
	    {MP_FRAGPOL_FIRST, 1, 'e', 'X'}, /* the first copy of every byte */
	    {MP_FRAGPOL_LAST, 1, 'X', 'm'},  /* the last: [32, 40) by the third piece */
	    /* FreeBSD ip_reass: the piece starting at or before a new one keeps
	     * its bytes: [0, 32) beats the X piece, which (now [32, 40)) beats
	     * the third, starting at 32 too */
	    {MP_FRAGPOL_BSD, 1, 'e', 'X'},
	};
	for (unsigned k = 0; k < RTE_DIM(want); k++) {
		conf.frag_policy = want[k].pol;
		struct harness h;
		h_init(&h);
		struct rte_mbuf *in[3], *out[4];
		for (unsigned i = 0; i < 3; i++)
			in[i] = mk(fr[i], fl[i], 2048, 1 + i);
		unsigned n = run(&h, in, 3, out);
		ck_assert_msg(n == (unsigned)want[k].out, "policy %u: %u out", want[k].pol, n);
		if (n) {
			/* payload byte i is 'a' + i % 26; segment byte 24 is payload 4 */
			ck_assert_uint_eq(rb_byte(out[0], 24), want[k].at24);
			ck_assert_uint_eq(rb_byte(out[0], 32), want[k].at32);
			ck_assert_uint_eq(mp_meta(out[0])->pay_len, 52);
			ck_assert_uint_eq(mp_pkt_free(out[0]), 4);
		} else {
			ck_assert_uint_eq(ctr(&h, "frag_overlap"), 2);
			ck_assert_uint_eq(ctr(&h, "reasm_overlap"), 1);
			/* the third piece started a datagram of its own */
			ck_assert_int_eq(mp_stage_classify.drain(h.si), 0);
			ck_assert_uint_eq(ctr(&h, "frag_end"), 1);
		}
		h_fini(&h);
	}
	conf.frag_policy = MP_FRAGPOL_LINUX;
}
END_TEST

/* Linux's length rules and limits, one datagram each. */
START_TEST(stage_frag_rules)
{
	uint8_t d[256], fr[8][256];
	unsigned fl[8];
	base4(d);
	struct harness h;
	h_init(&h);
	struct rte_mbuf *in[8], *out[8];
	unsigned n;

	/* An IPv4 piece with MF is cut to 8-byte units: 13 bytes at 0 hold
	 * [0, 8); [8, 72) completes the datagram. */
	fl[0] = frag4_one(fr[0], d, 0, 13, 1, 1, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 8, 64, 0, 1, NULL, 0);
	in[0] = mk(fr[0], fl[0], 2048, 1);
	in[1] = mk(fr[1], fl[1], 2048, 2);
	n = run(&h, in, 2, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mp_meta(out[0])->pay_len, 52);
	ck_assert_uint_eq(ctr(&h, "tcp"), 1);
	mp_pkt_free(out[0]);

	/* An empty piece discards its datagram (ip_frag_queue: end == offset) */
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 2, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 24, 0, 1, 2, NULL, 0);
	in[0] = mk(fr[0], fl[0], 2048, 3);
	in[1] = mk(fr[1], fl[1], 2048, 4);
	ck_assert_uint_eq(run(&h, in, 2, out), 0);
	ck_assert_uint_eq(ctr(&h, "reasm_invalid"), 1);
	ck_assert_uint_eq(ctr(&h, "frag_invalid"), 2);

	/* Two last fragments with different ends */
	fl[0] = frag4_one(fr[0], d, 48, 24, 0, 3, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 24, 16, 0, 3, NULL, 0);
	in[0] = mk(fr[0], fl[0], 2048, 5);
	in[1] = mk(fr[1], fl[1], 2048, 6);
	ck_assert_uint_eq(run(&h, in, 2, out), 0);
	ck_assert_uint_eq(ctr(&h, "reasm_invalid"), 2);

	/* Not-ECT mixed with CE: discarded when complete (RFC 3168) */
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 4, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 24, 48, 0, 4, NULL, 3);
	in[0] = mk(fr[0], fl[0], 2048, 7);
	in[1] = mk(fr[1], fl[1], 2048, 8);
	ck_assert_uint_eq(run(&h, in, 2, out), 0);
	ck_assert_uint_eq(ctr(&h, "reasm_ecn"), 1);
	ck_assert_uint_eq(ctr(&h, "frag_ecn"), 2);
	/* ECT(0) with CE: rebuilt with CE */
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 5, NULL, 2);
	fl[1] = frag4_one(fr[1], d, 24, 48, 0, 5, NULL, 3);
	in[0] = mk(fr[0], fl[0], 2048, 9);
	in[1] = mk(fr[1], fl[1], 2048, 10);
	ck_assert_uint_eq(run(&h, in, 2, out), 1);
	ck_assert_uint_eq(*rte_pktmbuf_mtod_offset(out[0], uint8_t *, 15) & 3, 3);
	mp_pkt_free(out[0]);

	/* A fragment with a wrong header checksum never reaches reassembly */
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 6, NULL, 0);
	fr[0][14 + 8] ^= 1;
	in[0] = mk(fr[0], fl[0], 2048, 11);
	n = run(&h, in, 1, out);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mp_meta(out[0])->anomaly, CLS_IPV4_CSUM_BAD);
	ck_assert_uint_eq(ctr(&h, "fragments"), 10);
	rte_pktmbuf_free(out[0]);
	h_fini(&h);

	/* The caps: conf.frag_mbufs fragments at most; more are dropped
	 * alone (as Linux over ipfrag_high_thresh). */
	conf.frag_mbufs = 16;
	h_init(&h);
	for (unsigned i = 0; i < 20; i++) {
		fl[0] = frag4_one(fr[0], d, 0, 24, 1, (uint16_t)(100 + i), NULL, 0);
		in[0] = mk(fr[0], fl[0], 2048, 20 + i);
		ck_assert_uint_eq(run(&h, in, 1, out), 0);
	}
	ck_assert_uint_eq(ctr(&h, "frag_cap"), 4);
	ck_assert_int_eq(mp_stage_classify.drain(h.si), 0);
	ck_assert_uint_eq(ctr(&h, "frag_end"), 16);
	h_fini(&h);

	/* Inline, the oldest incomplete datagrams make room instead: under a
	 * flood of first fragments that never complete, a datagram sent whole
	 * still gets through (nothing of the evicted ones had left the box). */
	conf.mode = MP_MODE_INLINE;
	h_init(&h);
	for (unsigned i = 0; i < 20; i++) {
		fl[0] = frag4_one(fr[0], d, 0, 24, 1, (uint16_t)(100 + i), NULL, 0);
		in[0] = mk(fr[0], fl[0], 2048, 20 + i);
		ck_assert_uint_eq(run(&h, in, 1, out), 0);
	}
	ck_assert_uint_eq(ctr(&h, "frag_cap"), 0);
	ck_assert_uint_eq(ctr(&h, "frag_evicted"), 4);
	ck_assert_uint_eq(ctr(&h, "reasm_evicted"), 4);
	fl[0] = frag4_one(fr[0], d, 0, 24, 1, 999, NULL, 0);
	fl[1] = frag4_one(fr[1], d, 24, 48, 0, 999, NULL, 0);
	in[0] = mk(fr[0], fl[0], 2048, 50);
	in[1] = mk(fr[1], fl[1], 2048, 51);
	ck_assert_uint_eq(run(&h, in, 2, out), 1);
	ck_assert_uint_eq(mp_meta(out[0])->pay_len, 52);
	ck_assert_uint_eq(mp_pkt_free(out[0]), 3);
	ck_assert_uint_eq(ctr(&h, "frag_evicted"), 6);
	ck_assert_int_eq(mp_stage_classify.drain(h.si), 0);
	ck_assert_uint_eq(ctr(&h, "frag_end"), 14);
	h_fini(&h);
	conf.mode = MP_MODE_MONITOR;
	conf.frag_mbufs = 1024;
}
END_TEST

/* Inline, [security] unparsable: a malformed packet is dropped (the
 * default) or forwarded unmonitored; monitor mode passes it on. */
START_TEST(stage_unparsable)
{
	unsigned l = eth(f, 0x0800);
	unsigned n = l + dg4(f + l, A4, B4, &T0);
	f[l + 8] ^= 1; /* wrong header checksum */
	static const struct {
		unsigned mode, unp;
		unsigned out;
	} c[] = {
	    {MP_MODE_INLINE, MP_UNPARSABLE_DROP, 0},
	    {MP_MODE_INLINE, MP_UNPARSABLE_FORWARD, 1},
	    {MP_MODE_MONITOR, MP_UNPARSABLE_DROP, 1},
	};
	for (unsigned k = 0; k < RTE_DIM(c); k++) {
		conf.mode = c[k].mode;
		conf.unparsable = c[k].unp;
		struct harness h;
		h_init(&h);
		struct rte_mbuf *in[2] = {mk(f, n, 2048, 1)}, *out[2];
		ck_assert_uint_eq(run(&h, in, 1, out), c[k].out);
		ck_assert_uint_eq(ctr(&h, "ipv4_csum_bad"), 1);
		ck_assert_uint_eq(ctr(&h, "unparsable"), 1 - c[k].out);
		if (c[k].out) {
			ck_assert(mp_meta(out[0])->flags & MP_MF_UNMON);
			rte_pktmbuf_free(out[0]);
		}
		h_fini(&h);
	}
	/* "unparsable" is a drop reason: conservation counts it. */
	for (unsigned k = 0; k < mp_stage_classify.n_ctrs; k++)
		if (!strcmp(mp_stage_classify.ctrs[k].name, "unparsable"))
			ck_assert_uint_eq(mp_stage_classify.ctrs[k].kind, MP_CK_DROP);
	conf.mode = MP_MODE_MONITOR;
	conf.unparsable = MP_UNPARSABLE_DROP;
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
		ck_assert_msg(d->flags == (MP_MF_IPV4 | MP_MF_TCP), "seg %u flags %x", segs[i], d->flags);
		ck_assert_uint_eq(d->flags, MP_MF_IPV4 | MP_MF_TCP);
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

/* [input] filter: compiled at init for the port's link type and run on the
 * raw frame. Monitor mode frees what does not match (the drop reason
 * "filtered", so conservation holds); inline forwards it untouched, flagged
 * unmonitored, with the flow hash a parsed packet would have. */
START_TEST(stage_filter)
{
	uint8_t f80[256], f22[256];
	struct tcpspec t = T0; /* 1234 -> 80 */
	unsigned l80 = eth(f80, 0x0800);
	l80 += dg4(f80 + l80, A4, B4, &t);
	t.dp = 22;
	unsigned l22 = eth(f22, 0x0800);
	l22 += dg4(f22 + l22, A4, B4, &t);
	snprintf(conf.filter, sizeof(conf.filter), "%s", "tcp port 80");
	for (int inl = 0; inl < 2; inl++) {
		struct harness h;
		conf.mode = inl ? MP_MODE_INLINE : MP_MODE_MONITOR;
		h_init(&h);
		struct rte_mbuf *in[4], *out[8];
		in[0] = mk(f22, l22, 2048, 1);
		in[1] = mk(f80, l80, 2048, 2);
		in[2] = mk(f22, l22, 40, 3); /* chained: the filter reads across segments */
		in[3] = mk(f80, l80, 40, 4);
		unsigned n = run(&h, in, 4, out);
		if (!inl) {
			ck_assert_uint_eq(n, 2);
			ck_assert_ptr_eq(out[0], in[1]);
			ck_assert_ptr_eq(out[1], in[3]);
			ck_assert_uint_eq(ctr(&h, "filtered"), 2);
			ck_assert_uint_eq(ctr(&h, "filtered_passed"), 0);
		} else {
			ck_assert_uint_eq(n, 4);
			for (unsigned i = 0; i < 4; i++)
				ck_assert_ptr_eq(out[i], in[i]);
			ck_assert_uint_eq(mp_meta(out[0])->flags & (MP_MF_UNMON | MP_MF_TCP), MP_MF_UNMON);
			ck_assert_uint_eq(mp_meta(out[0])->hash, mp_hash_mix(mp_sym_hash(A4, 1234, B4, 22, 4)));
			ck_assert_uint_eq(mp_meta(out[1])->flags & (MP_MF_UNMON | MP_MF_TCP), MP_MF_TCP);
			ck_assert_uint_eq(ctr(&h, "filtered"), 0);
			ck_assert_uint_eq(ctr(&h, "filtered_passed"), 2);
		}
		ck_assert_uint_eq(ctr(&h, "tcp"), 2); /* only the matching ones were classified */
		rte_pktmbuf_free_bulk(out, n);
		h_fini(&h);
	}
	/* IP fragments: the filter cannot judge a piece (a port filter never
	 * matches one past the first), so it judges the datagram they make. */
	uint8_t d80[256], d22[256], fr[4][256];
	unsigned fl[4];
	base4(d80);
	struct tcpspec t22 = T0;
	t22.dp = 22;
	t22.paylen = 52;
	dg4(d22, A4, B4, &t22);
	for (int inl = 0; inl < 2; inl++) {
		struct harness h;
		conf.mode = inl ? MP_MODE_INLINE : MP_MODE_MONITOR;
		h_init(&h);
		struct rte_mbuf *in[4], *out[8];
		fl[0] = frag4_one(fr[0], d80, 0, 24, 1, 11, NULL, 0);
		fl[1] = frag4_one(fr[1], d80, 24, 48, 0, 11, NULL, 0);
		fl[2] = frag4_one(fr[2], d22, 0, 24, 1, 12, NULL, 0);
		fl[3] = frag4_one(fr[3], d22, 24, 48, 0, 12, NULL, 0);
		for (unsigned i = 0; i < 4; i++)
			in[i] = mk(fr[i], fl[i], 2048, 1 + i);
		unsigned n = run(&h, in, 4, out);
		ck_assert_uint_eq(n, inl ? 2 : 1);
		ck_assert_uint_eq(mp_meta(out[0])->flags,
		                  MP_MF_IPV4 | MP_MF_TCP | MP_MF_REASM); /* port 80: monitored */
		ck_assert_uint_eq(mp_meta(out[0])->dport, 80);
		if (inl) {
			ck_assert_uint_eq(mp_meta(out[1])->flags & (MP_MF_UNMON | MP_MF_TCP | MP_MF_REASM),
			                  MP_MF_UNMON | MP_MF_REASM); /* port 22: forwarded, not monitored */
			ck_assert_uint_eq(mp_meta(out[1])->pkt.n_held, 2);
			ck_assert_uint_eq(ctr(&h, "filtered_passed"), 1);
		} else {
			ck_assert_uint_eq(ctr(&h, "filtered"), 3); /* the datagram and its 2 fragments */
		}
		for (unsigned i = 0; i < n; i++)
			mp_pkt_free(out[i]);
		h_fini(&h);
	}
	conf.filter[0] = 0;
	conf.mode = MP_MODE_MONITOR;

	/* "filtered" is a drop reason: the totals count it among the drops. */
	for (unsigned k = 0; k < mp_stage_classify.n_ctrs; k++)
		if (!strcmp(mp_stage_classify.ctrs[k].name, "filtered"))
			ck_assert_uint_eq(mp_stage_classify.ctrs[k].kind, MP_CK_DROP);
	/* A bad expression fails the init with EINVAL and libpcap's reason. */
	snprintf(conf.filter, sizeof(conf.filter), "%s", "tcp prot 80");
	conf.mode = MP_MODE_MONITOR;
	struct mp_stage_inst *si = rte_zmalloc("si", sizeof(*si), RTE_CACHE_LINE_SIZE);
	si->type = &mp_stage_classify;
	si->pl = &pl;
	ck_assert_int_eq(mp_stage_classify.init(si), -EINVAL);
	ck_assert_ptr_null(si->priv);
	rte_free(si);
	conf.filter[0] = 0;
}
END_TEST

/* The .def's MALFORMED counters open it, in reason-code order (parse.h's
 * enum is generated from them): each name is the parser's name of its code. */
START_TEST(malformed_counters_are_reason_codes)
{
	unsigned k = 0;
	for (; k < mp_stage_classify.n_ctrs && mp_stage_classify.ctrs[k].kind == MP_CK_MALFORMED; k++)
		ck_assert_str_eq(mp_stage_classify.ctrs[k].name, cls_result_name((int)k + 1));
	ck_assert_uint_eq(k, CLS_N_BAD - 1);
	for (; k < mp_stage_classify.n_ctrs; k++)
		ck_assert_uint_ne(mp_stage_classify.ctrs[k].kind, MP_CK_MALFORMED);
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
	conf.frag_mbufs = 1024;

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
	tcase_add_test(st, rte_ip_frag_drops_duplicates);
	tcase_add_test(st, stage_frag_policies);
	tcase_add_test(st, stage_frag_rules);
	tcase_add_test(st, stage_unparsable);
	tcase_add_test(st, stage_multiseg_and_ctrl);
	tcase_add_test(st, stage_rx_checksum_flags);
	tcase_add_test(st, stage_filter);
	tcase_add_test(st, malformed_counters_are_reason_codes);
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
