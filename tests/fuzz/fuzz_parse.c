/* libFuzzer target: classify's packet parser (stages/classify/parse.c).
 * Input: byte 0 picks the link type, byte 1 the options (checksums, a
 * multi-segment view, a wire length), the rest is the frame. The frame is
 * copied into a buffer of exactly its length, so ASan sees any read past
 * it. Checks, besides no crash and no undefined behaviour: the layout a
 * valid TCP segment gets lies inside the frame; a malformed result carries
 * its reason and is never marked TCP; a shorter view of the same bytes
 * never claims more than the whole one; a wire length shorter than the IP
 * length makes the datagram malformed, never monitored. */
#include <pcap/dlt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta-types.h"
#include "parse.h"
#include "fuzz.h"

static const int dlts[] = {DLT_EN10MB, DLT_RAW, DLT_IPV4, DLT_IPV6, DLT_LINUX_SLL, DLT_NULL, DLT_LOOP, 276, 101};

static void check_layout(int r, const struct mp_meta *md, uint32_t cap)
{
	if (r == CLS_OK || r == CLS_TCP_CSUM_BAD) {
		CHECK(md->flags & MP_MF_TCP);
		CHECK(md->l3_off < md->l4_off);
		CHECK(md->l4_off + 20u <= md->pay_off);
		CHECK(md->pay_off <= cap);
		CHECK(md->pay_cap <= md->pay_len);
		CHECK((uint32_t)md->pay_off + md->pay_cap <= cap);
		CHECK(md->anomaly == (r == CLS_OK ? 0 : CLS_TCP_CSUM_BAD));
	} else if (r > 0 && r < CLS_N_BAD) {
		CHECK(md->anomaly == r);
		CHECK(md->flags & MP_MF_UNMON);
		CHECK(!(md->flags & MP_MF_TCP));
	} else {
		CHECK(r >= CLS_NON_TCP_ && r <= CLS_FRAG);
		CHECK(!(md->flags & MP_MF_TCP));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2 || size > 70000)
		return 0;
	int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
	uint8_t opt = data[1];
	uint32_t n = (uint32_t)size - 2;
	uint8_t *f = malloc(n ? n : 1);
	memcpy(f, data + 2, n);

	struct mp_meta a, b;
	memset(&a, 0, sizeof(a));
	int r = cls_parse(f, n, dlt, opt & 1, &a);
	check_layout(r, &a, n);

	/* The view API on the whole frame, IPv4 checksum as asked. */
	struct cls_info info;
	memset(&info, 0, sizeof(info));
	memset(&b, 0, sizeof(b));
	info.in = (opt & 1) ? CLS_IN_IPCSUM : 0;
	int rv = cls_parse_view(f, n, n, dlt, &b, &info);
	check_layout(rv, &b, n);
	CHECK(rv == r || (r == CLS_TCP_CSUM_BAD && rv == CLS_OK));
	if (rv == CLS_OK && r != CLS_TCP_CSUM_BAD) {
		CHECK(a.pay_off == b.pay_off && a.pay_len == b.pay_len && a.seq == b.seq && a.hash == b.hash);
		CHECK(cls_tcp_seg_len(&b) <= 65535u);
	}

	/* A shorter view of a longer packet (a multi-segment mbuf): headers
	 * beyond it are HDR_TOO_LONG, never read. */
	uint32_t view = (uint32_t)(opt >> 2) * 16;
	if (view < n) {
		uint8_t *v = malloc(view ? view : 1);
		memcpy(v, f, view);
		memset(&b, 0, sizeof(b));
		int rs = cls_parse_view(v, view, n, dlt, &b, NULL);
		check_layout(rs, &b, n);
		if (rs == CLS_OK)
			CHECK(b.pay_off <= view);
		free(v);
	}

	/* The frame on the wire was shorter than the IP length says: a host
	 * drops it, so it is malformed (ip_len_bad), never a TCP segment. */
	if ((opt & 2) && rv == CLS_OK && info.ip_end > 1) {
		memset(&b, 0, sizeof(b));
		struct cls_info wi;
		memset(&wi, 0, sizeof(wi));
		wi.wirelen = info.ip_end - 1;
		int rw = cls_parse_view(f, n, n, dlt, &b, &wi);
		CHECK(rw != CLS_OK || (b.flags & MP_MF_TCP));
		if (!(info.notes & (CLS_N_TEREDO | CLS_N_LEN_ZERO)))
			CHECK(rw == CLS_IP_LEN_BAD);
	}
	free(f);
	return 0;
}
