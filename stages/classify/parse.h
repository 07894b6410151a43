/* classify's packet parser: link layer (per pcap DLT), VLAN/QinQ, MPLS,
 * PPPoE, IPv4/IPv6 with extension headers, TCP with options, the TCP
 * checksum, and the symmetric flow hash. Plain C over plain memory so that it
 * is testable without EAL; the stage (classify.c) adds the mbuf glue.
 *
 * Contract: the parser never reads outside [pkt, pkt + view_len). It fills
 * struct mp_meta as meta-types.h describes and returns CLS_OK, a malformed
 * reason (1 .. CLS_N_BAD - 1, also stored in md->anomaly) or a non-TCP
 * outcome (>= CLS_NON_TCP_).
 */
#ifndef CLS_PARSE_H
#define CLS_PARSE_H

#include <stdint.h>

#include "meta-types.h"

/* The .def's MALFORMED counters, in order, are the reason codes from 1. */
#define CLS_REASON_MALFORMED(id) CLS_##id,
#define CLS_REASON_PLAIN(id)
#define CLS_REASON_DROP(id)
#define CLS_REASON_INJECTED(id)

enum cls_result {
	CLS_OK = 0,
#define MP_CTR(id, name, kind, help) CLS_REASON_##kind(id)
#include "classify_counters.def"
#undef MP_CTR
	CLS_N_BAD, /* malformed reasons are 1 .. CLS_N_BAD - 1 */

	/* Not malformed, not a TCP segment: the packet is orphan traffic. */
	CLS_NON_TCP_ = 64,
	CLS_UDP = CLS_NON_TCP_,
	CLS_ICMP,
	CLS_OTHER_L4,
	CLS_NON_IP,
	CLS_LINK_UNSUPPORTED,
	/* An IP fragment (not an atomic one): addresses and ip_proto are set,
	 * l4_off is the start of the fragment's payload. */
	CLS_FRAG,
};

/* Side information the meta has no room for (counted by the stage). */
#define CLS_N_CSUM_UNVERIFIED 0x01u /* checksum asked for, segment cut by snaplen */
#define CLS_N_OPT_IGNORED 0x02u     /* a known TCP option had a wrong length */
#define CLS_N_LEN_ZERO 0x04u        /* IP length 0 (TSO artefact): frame length used */
#define CLS_N_TEREDO 0x08u          /* TCP over IPv6 decapsulated from Teredo (UDP port 3544) */
#define CLS_N_OPT_OVERRUN 0x10u     /* the TCP option list ended inside an option: parsing stopped there */

/* What the caller asks of the parser (cls_info.in). */
#define CLS_IN_IPCSUM 0x01u     /* verify the IPv4 header checksum */
#define CLS_IN_IPCSUM_BAD 0x02u /* the port already found the IPv4 header checksum wrong */

struct cls_info {
	uint32_t wirelen;     /* in: the frame's length on the wire when known
	                      * (live frames: their length; offline: the
	                      * capture record's original length; rebuilt
	                      * datagrams: their length), else 0; an IP length
	                      * beyond it is ip_len_bad (a host drops it),
	                      * between the captured length and it a snaplen cut */
	uint32_t in;          /* in: CLS_IN_* */
	uint32_t notes;       /* CLS_N_* */
	uint16_t frag_off;    /* CLS_FRAG: offset of the IPv6 fragment header (0 for IPv4) */
	uint16_t frag_nh_off; /* CLS_FRAG, IPv6: the next-header byte that names the fragment header */
	uint16_t frag_first;  /* CLS_FRAG: fragment offset is 0 */
	uint8_t frag_mf;      /* CLS_FRAG: more fragments follow */
	uint8_t ecn;          /* CLS_FRAG: the IP header's ECN bits */
	uint32_t frag_at;     /* CLS_FRAG: fragment offset in bytes */
	uint32_t frag_id;     /* CLS_FRAG: identification (16 bits IPv4, 32 bits IPv6) */
	uint32_t ip_end;      /* out: end of the IP datagram by its length field */
};

/**
 * Parses a packet that is contiguous in memory and, when verify_csum is set,
 * verifies its IPv4 header and TCP checksums.
 * @param pkt     first byte of the frame
 * @param caplen  bytes captured (readable) at pkt
 * @param dlt     pcap link type of the input port (DLT_*)
 * @param verify_csum  non-zero: verify the IPv4 header checksum and the TCP
 *                checksum (IPv4 and IPv6)
 * @param md      metadata to fill: zeroed by the mbuf's allocator apart from
 *                what it set (ts_ns, port, kind, the REASM flag), which is
 *                kept; the parser only sets fields, it clears none
 * @return CLS_OK for a valid TCP segment (also when its checksum could not
 *         be verified for want of captured bytes), CLS_TCP_CSUM_BAD for a
 *         fully parsed segment with a wrong checksum, another reason code
 *         for a malformed packet, or a CLS_NON_TCP_ outcome.
 */
int cls_parse(const uint8_t *pkt, uint32_t caplen, int dlt, int verify_csum, struct mp_meta *md);

/**
 * The parser proper, for packets not contiguous in memory: the caller gives
 * a contiguous view of the first view_len bytes of a caplen-byte packet.
 * Headers that reach past the view in a longer packet give CLS_HDR_TOO_LONG.
 * Verifies the IPv4 header checksum when info->in asks for it, not the TCP
 * checksum (see cls_csum_finish).
 * @param info  side information in and out (see struct cls_info), may be NULL
 * @return as cls_parse, never CLS_TCP_CSUM_BAD.
 */
int cls_parse_view(const uint8_t *pkt, uint32_t view_len, uint32_t caplen, int dlt, struct mp_meta *md,
                   struct cls_info *info);

/**
 * @return the length of the TCP segment (header + payload by the IP length)
 *         of a parsed TCP packet.
 */
static inline uint32_t cls_tcp_seg_len(const struct mp_meta *md)
{
	return (uint32_t)(md->pay_off - md->l4_off) + md->pay_len;
}

/**
 * One's complement sum of the TCP pseudo-header (RFC 9293 sec. 3.1 for IPv4,
 * RFC 8200 sec. 8.1 for IPv6) of a parsed TCP packet, unfolded, in the
 * native-endian convention of DPDK's __rte_raw_cksum.
 */
uint32_t cls_pseudo_sum(const struct mp_meta *md);

/**
 * Completes the checksum check: seg_sum is the folded raw sum (DPDK's
 * rte_raw_cksum / rte_raw_cksum_mbuf) over the whole TCP segment, checksum
 * field included; the pseudo-header is added here. Sets
 * MP_MF_BADCSUM and md->anomaly when wrong.
 * @return CLS_OK or CLS_TCP_CSUM_BAD.
 */
int cls_csum_finish(struct mp_meta *md, uint16_t seg_sum);

/** @return the counter name of a reason code (for tests and messages). */
const char *cls_result_name(int r);

#endif
