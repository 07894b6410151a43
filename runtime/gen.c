/* The workload generator (see gen.h). Per frame the work is: pick the next
 * slot, write about 66 bytes of headers, copy the payload from one server
 * stream shared by every connection, and finish the TCP checksum from the
 * header words plus the payload sum precomputed per segment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define GEN_ETH_LEN 14u
#define GEN_IP_LEN 20u
#define GEN_TCP_LEN 20u
#define GEN_OPT_SYN 20u /* MSS, SACK-permitted, timestamps, NOP, window scale */
#define GEN_OPT_TS 12u  /* NOP, NOP, timestamps */
#define GEN_HDRS (GEN_ETH_LEN + GEN_IP_LEN + GEN_TCP_LEN + GEN_OPT_TS)
#define GEN_WIRE_EXTRA 24u /* preamble 8 + FCS 4 + inter-frame gap 12 */
#define GEN_TS_SHIFT 24    /* packet time kept in ns << GEN_TS_SHIFT */
#define GEN_WSCALE 7u
#define GEN_SERVER_PORT 80u

#define TH_FIN 0x01u
#define TH_SYN 0x02u
#define TH_PSH 0x08u
#define TH_ACK 0x10u

/* What a slot sends on its next visit. The order is that of a connection's life. */
enum gen_state {
	GS_WAIT = 0, /* no connection yet: starts one in round start_round */
	GS_SYN,
	GS_SYNACK,
	GS_ACK3,
	GS_REQ,
	GS_DATA,   /* server: next first-time data segment */
	GS_REXMIT, /* server: retransmits segment rex_ready - 1 */
	GS_CACK,   /* client: ACK of what it has received */
	GS_SFIN,
	GS_CFIN,
	GS_SLAST,
	GS_DEAD, /* connection limit reached: the slot stays empty */
};

struct gen_flow {
	uint64_t conn; /* connection number: gives the 4-tuple */
	uint32_t cip;  /* client address, host order */
	uint16_t cport;
	uint8_t srv;
	uint8_t st; /* enum gen_state */
	uint32_t c_isn, s_isn;
	uint32_t seg;       /* next segment to send for the first time */
	uint32_t rex_ready; /* segment + 1 to retransmit on the next visit, 0 = none */
	uint32_t rex_pend;  /* segment + 1 to retransmit after the next segment */
	uint32_t start_round;
	uint32_t c_tsoff, s_tsoff; /* each side's timestamp clock offset */
	uint32_t c_tsv, s_tsv;     /* last TSval each side sent: the other's TSecr */
	uint16_t c_ipid, s_ipid;
	uint8_t unacked; /* server segments since the client's last ACK */
	uint8_t pad_[3];
};

struct gen {
	struct gen_params p;
	uint8_t pat[GEN_MAX_PATTERNS][GEN_MAX_PATTERN_LEN];
	uint32_t pat_off[GEN_MAX_PATTERNS];

	struct gen_flow *flow;
	uint32_t n_slots;
	uint32_t cur;
	uint32_t round;
	uint32_t live; /* slots not GS_DEAD */
	uint64_t next_conn;
	uint64_t rng;
	uint32_t rex_thr; /* a segment is retransmitted when a 32-bit draw < rex_thr */

	uint8_t *stream; /* server payload of every connection */
	uint32_t stream_len;
	uint32_t nseg;
	uint32_t *seg_sum; /* ones'-complement partial sum of each segment's payload */
	uint8_t req[128];  /* client request */
	uint32_t req_len;
	uint32_t req_sum;

	/* Pattern bookkeeping, added to the stats when a segment (or the
	 * request) is first sent: seg_pm[seg * n + p] matches ending in seg,
	 * seg_pl[...] planted instances ending in seg; seg_any[seg] != 0 when
	 * either is non-zero for some p. */
	uint16_t *seg_pm, *seg_pl;
	uint8_t *seg_any;
	uint32_t req_pm[GEN_MAX_PATTERNS];

	/* The flood: frames left, and the interleaving debt: each connection
	 * frame adds fl_num, each flood frame pays fl_den (the expected
	 * connection frames), so fl_num flood frames spread over fl_den. */
	uint64_t fl_syn, fl_ack;
	uint64_t fl_owed, fl_num, fl_den;
	uint64_t fl_rng; /* its own stream: the connections' bytes do not change */
	uint32_t fl_sources;

	uint64_t ts_fp;    /* packet time since start_ns, ns << GEN_TS_SHIFT */
	uint64_t fp_per_b; /* wire time of one byte, same unit */
	uint8_t mac_c[6], mac_s[6];
	struct gen_stats st;
};

static __thread const char *gen_err = "";

const char *gen_strerror(void)
{
	return gen_err;
}

/* splitmix64: small, fast, good enough for deterministic workload choices. */
static uint64_t gen_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Sum of big-endian 16-bit words, odd tail padded with zero (RFC 1071). */
static uint32_t sum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static inline uint16_t fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

void gen_params_default(struct gen_params *p)
{
	memset(p, 0, sizeof(*p));
	p->flows = GEN_DEF_FLOWS;
	p->size = GEN_DEF_SIZE;
	p->rexmit = GEN_DEF_REXMIT;
	p->seed = 1;
	p->gbps = GEN_DEF_GBPS;
	p->start_ns = GEN_DEF_START_NS;
	p->servers = GEN_DEF_SERVERS;
}

static int check_params(const struct gen_params *p)
{
	if (p->flows == 0) {
		gen_err = "flows must be at least 1";
		return -1;
	}
	if (p->size > (1u << 30)) {
		gen_err = "size must be at most 1 GiB";
		return -1;
	}
	if (!(p->rexmit >= 0.0 && p->rexmit <= 0.5)) {
		gen_err = "rexmit fraction must be within [0, 0.5]";
		return -1;
	}
	if (!(p->gbps > 0.0 && p->gbps <= 100000.0)) {
		gen_err = "gbps must be within (0, 100000]";
		return -1;
	}
	if (p->servers == 0 || p->servers > GEN_MAX_SERVERS) {
		gen_err = "servers must be within [1, 64]";
		return -1;
	}
	if (p->part >= (p->n_parts ? p->n_parts : 1)) {
		gen_err = "part must be below n_parts";
		return -1;
	}
	if (p->n_patterns > GEN_MAX_PATTERNS) {
		gen_err = "at most 16 patterns";
		return -1;
	}
	for (unsigned i = 0; i < p->n_patterns; i++)
		if (!p->pattern[i].bytes || p->pattern[i].len == 0 || p->pattern[i].len > GEN_MAX_PATTERN_LEN) {
			gen_err = "a pattern must have 1 to 256 bytes";
			return -1;
		}
	if (p->flood_sources > GEN_MAX_FLOOD_SOURCES) {
		gen_err = "flood sources must be at most 4194304 (100.64.0.0/10)";
		return -1;
	}
	if (p->flood_data > GEN_SEG) {
		gen_err = "flood data must be at most 1448 bytes per ACK";
		return -1;
	}
	return 0;
}

/* Is [off, off + len) free of planted patterns 0..n-1, one byte of filler
 * kept around each? @return the end (+1 gap) of the first one in the way, or 0. */
static uint32_t pat_conflict(const struct gen *g, const uint8_t *placed, uint32_t off, uint32_t len)
{
	for (unsigned q = 0; q < g->p.n_patterns; q++) {
		if (!placed[q])
			continue;
		uint32_t qo = g->pat_off[q], ql = g->p.pattern[q].len;
		if (off < qo + ql + 1 && qo < off + len + 1)
			return qo + ql + 1;
	}
	return 0;
}

/* Resolves pattern offsets: explicit ones first (they must fit and not
 * overlap), then auto ones near their target, moved past any in the way. */
static int place_patterns(struct gen *g, uint32_t hdr_len)
{
	uint8_t placed[GEN_MAX_PATTERNS] = {0};
	uint32_t nb = g->nseg > 1 ? g->nseg - 1 : 1; /* segment boundaries */

	for (unsigned k = 0; k < g->p.n_patterns; k++) {
		uint32_t off = g->p.pattern[k].offset, len = g->p.pattern[k].len;
		if (off == GEN_PAT_AUTO)
			continue;
		if (off < hdr_len || (uint64_t)off + len > g->stream_len) {
			gen_err = "a pattern offset is outside the HTTP body";
			return -1;
		}
		if (pat_conflict(g, placed, off, len)) {
			gen_err = "two patterns overlap";
			return -1;
		}
		g->pat_off[k] = off;
		placed[k] = 1;
	}
	for (unsigned k = 0; k < g->p.n_patterns; k++) {
		uint32_t len = g->p.pattern[k].len;
		if (g->p.pattern[k].offset != GEN_PAT_AUTO)
			continue;
		uint64_t b = (uint64_t)((k / 2) % nb + 1) * GEN_SEG;
		uint64_t t = (k & 1) ? b - GEN_SEG / 2 - len / 2 : b - len / 2;
		if (t < hdr_len + 1)
			t = hdr_len + 1;
		for (uint32_t e; t + len <= g->stream_len && (e = pat_conflict(g, placed, (uint32_t)t, len));)
			t = e;
		if (t + len > g->stream_len) {
			gen_err = "the body is too small for the patterns";
			return -1;
		}
		g->pat_off[k] = (uint32_t)t;
		placed[k] = 1;
	}
	return 0;
}

static uint32_t count_in(const uint8_t *hay, uint32_t n, const uint8_t *pat, uint32_t len)
{
	uint32_t c = 0;
	for (uint32_t i = 0; i + len <= n; i++)
		if (hay[i] == pat[0] && memcmp(hay + i, pat, len) == 0)
			c++;
	return c;
}

/* Builds the server stream: HTTP header, filler body, planted patterns. The
 * filler uses only bytes that occur in no pattern, so patterns occur only
 * where planted (or in the HTTP text); the counts below are exact anyway. */
static int build_stream(struct gen *g)
{
	char hdr[160];
	int hl = snprintf(hdr, sizeof(hdr),
	                  "HTTP/1.1 200 OK\r\nContent-Length: %u\r\nContent-Type: application/octet-stream\r\n\r\n",
	                  g->p.size);
	uint8_t used[256] = {0}, alpha[256];
	unsigned na = 0;

	g->stream_len = (uint32_t)hl + g->p.size;
	g->nseg = (g->stream_len + GEN_SEG - 1) / GEN_SEG;
	g->stream = malloc(g->stream_len);
	g->seg_sum = calloc(g->nseg, sizeof(*g->seg_sum));
	g->seg_any = calloc(g->nseg, 1);
	if (!g->stream || !g->seg_sum || !g->seg_any)
		return -ENOMEM;
	memcpy(g->stream, hdr, (size_t)hl);

	for (unsigned k = 0; k < g->p.n_patterns; k++)
		for (unsigned i = 0; i < g->p.pattern[k].len; i++)
			used[g->pat[k][i]] = 1;
	for (unsigned c = 0; c < 256; c++)
		if (!used[c])
			alpha[na++] = (uint8_t)c;
	if (na == 0) {
		gen_err = "the patterns use all 256 byte values: no filler left";
		return -EINVAL;
	}
	uint64_t r = g->p.seed ^ 0x5EED0F11E5ull;
	for (uint32_t i = (uint32_t)hl; i < g->stream_len; i += 8) {
		uint64_t v = gen_rand(&r);
		for (uint32_t j = 0; j < 8 && i + j < g->stream_len; j++, v >>= 8)
			g->stream[i + j] = alpha[(v & 0xff) % na];
	}
	if (place_patterns(g, (uint32_t)hl) < 0)
		return -EINVAL;
	for (unsigned k = 0; k < g->p.n_patterns; k++)
		memcpy(g->stream + g->pat_off[k], g->pat[k], g->p.pattern[k].len);

	for (uint32_t s = 0; s < g->nseg; s++) {
		uint32_t o = s * GEN_SEG, l = g->stream_len - o < GEN_SEG ? g->stream_len - o : GEN_SEG;
		g->seg_sum[s] = sum16(g->stream + o, l);
	}

	g->req_len =
	    (uint32_t)snprintf((char *)g->req, sizeof(g->req),
	                       "GET /%u.bin HTTP/1.1\r\nHost: bench\r\nUser-Agent: mospipe-gen\r\n\r\n", g->p.size);
	g->req_sum = sum16(g->req, g->req_len);

	unsigned np = g->p.n_patterns;
	if (np == 0)
		return 0;
	g->seg_pm = calloc((size_t)g->nseg * np, sizeof(*g->seg_pm));
	g->seg_pl = calloc((size_t)g->nseg * np, sizeof(*g->seg_pl));
	if (!g->seg_pm || !g->seg_pl)
		return -ENOMEM;
	for (unsigned k = 0; k < np; k++) {
		uint32_t len = g->p.pattern[k].len;
		const uint8_t *pat = g->pat[k];
		for (uint32_t i = 0; i + len <= g->stream_len; i++) {
			if (g->stream[i] != pat[0] || memcmp(g->stream + i, pat, len) != 0)
				continue;
			uint32_t s = (i + len - 1) / GEN_SEG;
			g->seg_pm[(size_t)s * np + k]++;
			g->seg_any[s] = 1;
		}
		uint32_t s = (g->pat_off[k] + len - 1) / GEN_SEG;
		g->seg_pl[(size_t)s * np + k]++;
		g->seg_any[s] = 1;
		g->req_pm[k] = count_in(g->req, g->req_len, pat, len);
	}
	return 0;
}

struct gen *gen_create(const struct gen_params *p)
{
	if (!p) {
		gen_err = "no parameters";
		errno = EINVAL;
		return NULL;
	}
	if (check_params(p) < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct gen *g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	g->p = *p;
	for (unsigned k = 0; k < p->n_patterns; k++) {
		memcpy(g->pat[k], p->pattern[k].bytes, p->pattern[k].len);
		g->p.pattern[k].bytes = g->pat[k];
	}
	int rc = build_stream(g);
	if (rc < 0) {
		gen_destroy(g);
		errno = -rc;
		return NULL;
	}

	g->n_slots = p->flows;
	if (p->max_conns && p->max_conns < g->n_slots)
		g->n_slots = (uint32_t)p->max_conns;
	g->flow = calloc(g->n_slots, sizeof(*g->flow));
	if (!g->flow) {
		gen_destroy(g);
		errno = ENOMEM;
		return NULL;
	}
	g->rng = p->seed;
	g->rex_thr = (uint32_t)(p->rexmit * 4294967296.0 > 4294967295.0 ? 4294967295.0 : p->rexmit * 4294967296.0);
	/* Stagger the first connections over one connection's lifetime in
	 * rounds, so that in steady state flows are at every phase at once. */
	uint32_t life = 4 + g->nseg + (g->nseg + 1) / 2 + 3;
	for (uint32_t i = 0; i < g->n_slots; i++) {
		g->flow[i].st = GS_WAIT;
		g->flow[i].start_round = g->n_slots > 1 ? (uint32_t)(gen_rand(&g->rng) % life) : 0;
	}
	g->live = g->n_slots;
	g->fl_syn = p->flood_syns;
	g->fl_ack = p->flood_acks;
	g->fl_num = p->flood_syns + p->flood_acks;
	g->fl_sources = p->flood_sources ? p->flood_sources : GEN_DEF_FLOOD_SOURCES;
	g->fl_rng = p->seed ^ 0xF100D5EEDull ^ ((uint64_t)p->part << 32);
	if (g->fl_num) {
		/* Connection frames expected: every connection's life when they
		 * are counted, else what the frame limit leaves, else as many
		 * as flood frames. */
		if (p->max_conns)
			g->fl_den = p->max_conns * life;
		else if (p->max_pkts > g->fl_num)
			g->fl_den = p->max_pkts - g->fl_num;
		else
			g->fl_den = g->fl_num;
	}
	g->fp_per_b = (uint64_t)(8.0 / p->gbps * (double)(1ull << GEN_TS_SHIFT) + 0.5);
	memcpy(g->mac_c, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x00, 0x01}, 6);
	memcpy(g->mac_s, (const uint8_t[6]){0x02, 0x00, 0x00, 0x00, 0x00, 0x02}, 6);
	return g;
}

void gen_destroy(struct gen *g)
{
	if (!g)
		return;
	free(g->flow);
	free(g->stream);
	free(g->seg_sum);
	free(g->seg_any);
	free(g->seg_pm);
	free(g->seg_pl);
	free(g);
}

/* Gives slot f its next connection. Connection c has client
 * 10.(perm(c mod 2^24)) port 1024 + ((c >> 24) + h(c mod 2^24)) mod 64512: the
 * address permutation is a bijection and, for one address, the port changes
 * with c >> 24, so 4-tuples repeat only after 2^24 * 64512 connections. */
static int start_conn(struct gen *g, struct gen_flow *f)
{
	if (g->p.max_conns && g->next_conn >= g->p.max_conns) {
		f->st = GS_DEAD;
		g->live--;
		return -1;
	}
	uint64_t c = g->next_conn++ * (g->p.n_parts ? g->p.n_parts : 1) + g->p.part;
	uint32_t lo = (uint32_t)(c & 0xffffff);
	uint64_t r = gen_rand(&g->rng);
	f->conn = c;
	f->cip = 0x0A000000u | ((lo * 0x9E3779u + 0x010203u) & 0xffffff);
	f->cport = (uint16_t)(1024 + ((c >> 24) + ((lo * 2654435761u) >> 12)) % 64512);
	f->srv = (uint8_t)(c % g->p.servers);
	f->c_isn = (uint32_t)r;
	f->s_isn = (uint32_t)(r >> 32);
	r = gen_rand(&g->rng);
	f->c_tsoff = (uint32_t)r;
	f->s_tsoff = (uint32_t)(r >> 32);
	f->c_tsv = f->s_tsv = 0;
	f->c_ipid = (uint16_t)r;
	f->s_ipid = (uint16_t)(r >> 16);
	f->seg = f->rex_ready = f->rex_pend = 0;
	f->unacked = 0;
	f->st = GS_SYN;
	g->st.conns_started++;
	return 0;
}

/* Writes one frame of f's connection. side 0: client -> server. */
static uint16_t put_frame(struct gen *g, struct gen_flow *f, uint8_t *p, int side, uint8_t flags, uint32_t seq,
                          uint32_t ack, const uint8_t *pay, uint32_t plen, uint32_t psum, uint64_t ts_ns)
{
	uint32_t sip = 0xAC100001u + f->srv; /* 172.16.0.1 + server */
	uint32_t src = side ? sip : f->cip, dst = side ? f->cip : sip;
	uint16_t sport = side ? GEN_SERVER_PORT : f->cport, dport = side ? f->cport : GEN_SERVER_PORT;
	uint32_t olen = (flags & TH_SYN) ? GEN_OPT_SYN : GEN_OPT_TS;
	uint32_t tlen = GEN_TCP_LEN + olen + plen;
	uint32_t tsv = (uint32_t)(ts_ns >> 20) + (side ? f->s_tsoff : f->c_tsoff);
	uint32_t tse = side ? f->c_tsv : f->s_tsv;
	uint16_t win;
	uint16_t id;

	if (side) {
		f->s_tsv = tsv;
		id = f->s_ipid++;
		win = (flags & TH_SYN) ? 65160 : 509;
	} else {
		f->c_tsv = tsv;
		id = f->c_ipid++;
		win = (flags & TH_SYN) ? 64240 : 2048;
	}

	memcpy(p, side ? g->mac_c : g->mac_s, 6);
	memcpy(p + 6, side ? g->mac_s : g->mac_c, 6);
	p[12] = 0x08;
	p[13] = 0x00;

	uint8_t *ip = p + GEN_ETH_LEN;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(GEN_IP_LEN + tlen));
	put16(ip + 4, id);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = 6;
	ip[10] = ip[11] = 0;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, fold(sum16(ip, GEN_IP_LEN)));

	uint8_t *th = ip + GEN_IP_LEN;
	put16(th, sport);
	put16(th + 2, dport);
	put32(th + 4, seq);
	put32(th + 8, ack);
	th[12] = (uint8_t)(((GEN_TCP_LEN + olen) / 4) << 4);
	th[13] = flags;
	put16(th + 14, win);
	th[16] = th[17] = th[18] = th[19] = 0;
	uint8_t *o = th + GEN_TCP_LEN;
	if (flags & TH_SYN) {
		o[0] = 2; /* MSS */
		o[1] = 4;
		put16(o + 2, GEN_MSS_OPT);
		o[4] = 4; /* SACK permitted */
		o[5] = 2;
		o[6] = 8; /* timestamps */
		o[7] = 10;
		put32(o + 8, tsv);
		put32(o + 12, tse);
		o[16] = 1; /* NOP */
		o[17] = 3; /* window scale */
		o[18] = 3;
		o[19] = GEN_WSCALE;
	} else {
		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		put32(o + 4, tsv);
		put32(o + 8, tse);
	}
	if (plen)
		memcpy(th + GEN_TCP_LEN + olen, pay, plen);
	/* Pseudo header: addresses, protocol, TCP length. */
	uint32_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + tlen;
	s += sum16(th, GEN_TCP_LEN + olen) + psum;
	put16(th + 16, fold(s));

	g->st.payload += plen;
	return (uint16_t)(GEN_ETH_LEN + GEN_IP_LEN + tlen);
}

static inline uint32_t seg_len(const struct gen *g, uint32_t s)
{
	uint32_t o = s * GEN_SEG;
	return g->stream_len - o < GEN_SEG ? g->stream_len - o : GEN_SEG;
}

/* What the server's data phase does next; see GS_REXMIT and GS_CACK. */
static void next_data_state(struct gen_flow *f, uint32_t nseg)
{
	if (f->rex_ready) {
		f->st = GS_REXMIT;
	} else if (f->seg == nseg && f->rex_pend) {
		f->rex_ready = f->rex_pend;
		f->rex_pend = 0;
		f->st = GS_REXMIT;
	} else if (f->unacked >= 2 || (f->seg == nseg && f->unacked)) {
		f->st = GS_CACK;
	} else {
		f->st = f->seg < nseg ? GS_DATA : GS_SFIN;
	}
}

static void count_patterns(struct gen *g, uint32_t s)
{
	unsigned np = g->p.n_patterns;
	for (unsigned k = 0; k < np; k++) {
		g->st.pat_expect[k] += g->seg_pm[(size_t)s * np + k];
		g->st.pat_planted[k] += g->seg_pl[(size_t)s * np + k];
	}
}

/* One frame from slot f, or 0 if the slot has nothing to send this round. */
static uint16_t slot_frame(struct gen *g, struct gen_flow *f, uint8_t *p, uint64_t ts)
{
	uint32_t c1 = f->c_isn + 1, s1 = f->s_isn + 1, total = g->stream_len, s;
	uint16_t n;

	switch (f->st) {
	case GS_WAIT:
		if (g->round < f->start_round || start_conn(g, f) < 0)
			return 0;
		/* fall through */
	case GS_SYN:
		n = put_frame(g, f, p, 0, TH_SYN, f->c_isn, 0, NULL, 0, 0, ts);
		f->st = GS_SYNACK;
		return n;
	case GS_SYNACK: f->st = GS_ACK3; return put_frame(g, f, p, 1, TH_SYN | TH_ACK, f->s_isn, c1, NULL, 0, 0, ts);
	case GS_ACK3: f->st = GS_REQ; return put_frame(g, f, p, 0, TH_ACK, c1, s1, NULL, 0, 0, ts);
	case GS_REQ:
		for (unsigned k = 0; k < g->p.n_patterns; k++)
			g->st.pat_expect[k] += g->req_pm[k];
		f->st = GS_DATA;
		return put_frame(g, f, p, 0, TH_PSH | TH_ACK, c1, s1, g->req, g->req_len, g->req_sum, ts);
	case GS_DATA:
		s = f->seg++;
		n = put_frame(g, f, p, 1, (uint8_t)(TH_ACK | (f->seg == g->nseg ? TH_PSH : 0)), s1 + s * GEN_SEG,
		              c1 + g->req_len, g->stream + (size_t)s * GEN_SEG, seg_len(g, s), g->seg_sum[s], ts);
		g->st.data_segs++;
		if (g->seg_any[s])
			count_patterns(g, s);
		f->rex_ready = f->rex_pend;
		f->rex_pend = (uint32_t)(gen_rand(&g->rng) >> 32) < g->rex_thr ? s + 1 : 0;
		f->unacked++;
		next_data_state(f, g->nseg);
		return n;
	case GS_REXMIT:
		s = f->rex_ready - 1;
		f->rex_ready = 0;
		n = put_frame(g, f, p, 1, (uint8_t)(TH_ACK | (s + 1 == g->nseg ? TH_PSH : 0)), s1 + s * GEN_SEG,
		              c1 + g->req_len, g->stream + (size_t)s * GEN_SEG, seg_len(g, s), g->seg_sum[s], ts);
		g->st.rexmits++;
		next_data_state(f, g->nseg);
		return n;
	case GS_CACK:
		s = f->seg * GEN_SEG < total ? f->seg * GEN_SEG : total;
		f->unacked = 0;
		n = put_frame(g, f, p, 0, TH_ACK, c1 + g->req_len, s1 + s, NULL, 0, 0, ts);
		next_data_state(f, g->nseg);
		return n;
	case GS_SFIN:
		f->st = GS_CFIN;
		return put_frame(g, f, p, 1, TH_FIN | TH_ACK, s1 + total, c1 + g->req_len, NULL, 0, 0, ts);
	case GS_CFIN:
		f->st = GS_SLAST;
		return put_frame(g, f, p, 0, TH_FIN | TH_ACK, c1 + g->req_len, s1 + total + 1, NULL, 0, 0, ts);
	case GS_SLAST:
		n = put_frame(g, f, p, 1, TH_ACK, s1 + total + 1, c1 + g->req_len + 1, NULL, 0, 0, ts);
		g->st.conns_finished++;
		/* The next connection of this slot starts on its next visit. */
		f->st = GS_WAIT;
		f->start_round = 0;
		return n;
	default: return 0;
	}
}

/* One flood frame: a SYN or a bare ACK (with flood_data payload) from a
 * spoofed source to a server's port 80. */
static uint16_t flood_frame(struct gen *g, uint8_t *p, uint64_t ts)
{
	uint64_t r = gen_rand(&g->fl_rng), r2 = gen_rand(&g->fl_rng);
	int syn = r % (g->fl_syn + g->fl_ack) < g->fl_syn;
	uint32_t plen = syn ? 0 : g->p.flood_data;
	uint32_t src = 0x64400000u + (uint32_t)((r >> 32) % g->fl_sources); /* 100.64.0.0/10 */
	uint32_t dst = 0xAC100001u + (uint32_t)(r2 % g->p.servers);
	uint16_t sport = (uint16_t)(1024 + (r2 >> 16) % 64512);
	uint32_t seq = (uint32_t)(r2 >> 32), ack = syn ? 0 : (uint32_t)r;
	uint32_t tlen = GEN_TCP_LEN + plen;

	if (syn)
		g->fl_syn--;
	else
		g->fl_ack--;
	memcpy(p, g->mac_s, 6);
	memcpy(p + 6, g->mac_c, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	uint8_t *ip = p + GEN_ETH_LEN;
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(GEN_IP_LEN + tlen));
	put16(ip + 4, (uint16_t)(r >> 16));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	ip[10] = ip[11] = 0;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, fold(sum16(ip, GEN_IP_LEN)));
	uint8_t *th = ip + GEN_IP_LEN;
	put16(th, sport);
	put16(th + 2, GEN_SERVER_PORT);
	put32(th + 4, seq);
	put32(th + 8, ack);
	th[12] = (uint8_t)((GEN_TCP_LEN / 4) << 4);
	th[13] = syn ? TH_SYN : (uint8_t)(TH_ACK | (plen ? TH_PSH : 0));
	put16(th + 14, 1024);
	th[16] = th[17] = th[18] = th[19] = 0;
	if (plen)
		memcpy(th + GEN_TCP_LEN, g->stream, plen);
	uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + tlen;
	sum += sum16(th, tlen);
	put16(th + 16, fold(sum));
	if (syn)
		g->st.flood_syns++;
	else
		g->st.flood_acks++;
	g->st.payload += plen;
	(void)ts;
	return (uint16_t)(GEN_ETH_LEN + GEN_IP_LEN + tlen);
}

int gen_done(const struct gen *g)
{
	return (g->live == 0 && g->fl_syn + g->fl_ack == 0) || (g->p.max_pkts && g->st.pkts >= g->p.max_pkts);
}

int gen_next(struct gen *g, uint8_t *frame, uint16_t cap, uint64_t *ts_ns)
{
	if (cap < GEN_MAX_FRAME)
		return -ENOSPC;
	while (!gen_done(g)) {
		uint64_t ts = g->p.start_ns + (g->ts_fp >> GEN_TS_SHIFT);
		uint16_t n;
		if (g->fl_syn + g->fl_ack && (g->fl_owed >= g->fl_den || g->live == 0)) {
			if (g->fl_owed >= g->fl_den)
				g->fl_owed -= g->fl_den;
			n = flood_frame(g, frame, ts);
		} else {
			struct gen_flow *f = &g->flow[g->cur];
			/* Slots are visited in turn, each once per round: the one
			 * a few frames ahead is fetched now (at 192K connections
			 * the slots are far beyond the caches, and a frame's work
			 * between two visits leaves the hardware no stream to see). */
			uint32_t ahead = g->cur + 8 < g->n_slots ? g->cur + 8 : (g->cur + 8) % g->n_slots;
			__builtin_prefetch(&g->flow[ahead], 1, 3);
			if (++g->cur == g->n_slots) {
				g->cur = 0;
				g->round++;
			}
			n = slot_frame(g, f, frame, ts);
			if (n == 0)
				continue;
			if (g->fl_syn + g->fl_ack)
				g->fl_owed += g->fl_num;
		}
		g->ts_fp += (n + GEN_WIRE_EXTRA) * g->fp_per_b;
		g->st.pkts++;
		g->st.bytes += n;
		g->st.last_ts_ns = ts;
		if (ts_ns)
			*ts_ns = ts;
		return n;
	}
	return 0;
}

unsigned gen_burst(struct gen *g, uint8_t *const frames[], uint16_t cap, uint16_t lens[], uint64_t ts_ns[], unsigned n)
{
	unsigned i;
	for (i = 0; i < n; i++) {
		int l = gen_next(g, frames[i], cap, ts_ns ? &ts_ns[i] : NULL);
		if (l <= 0)
			break;
		lens[i] = (uint16_t)l;
	}
	return i;
}

void gen_stats_get(const struct gen *g, struct gen_stats *st)
{
	*st = g->st;
}

uint32_t gen_pattern_offset(const struct gen *g, unsigned p)
{
	return p < g->p.n_patterns ? g->pat_off[p] : GEN_PAT_AUTO;
}

const uint8_t *gen_server_stream(const struct gen *g, uint32_t *len)
{
	*len = g->stream_len;
	return g->stream;
}

const uint8_t *gen_client_request(const struct gen *g, uint32_t *len)
{
	*len = g->req_len;
	return g->req;
}
