/* firewall rules: the rules-file parser and the matcher (plain C, no DPDK,
 * no mospipe call), so that `firewall --check` and the datapath share one
 * implementation and the parser runs without the stack.
 *
 * A rule set is immutable once loaded: the datapath reads it through one
 * pointer that the reloader swaps (firewall.c), and only its counters (one
 * block per context, each written by that context's lcore alone) change.
 */
#ifndef FW_RULES_H
#define FW_RULES_H

#include <stddef.h>
#include <stdint.h>

enum fw_action { FW_ALLOW = 0, FW_DROP = 1, FW_RESET = 2 };
enum fw_proto { FW_P_ANY = 0, FW_P_TCP, FW_P_UDP, FW_P_ICMP, FW_P_ICMP6 };

/* Connection states a rule applies to (bits). A rule without a state keyword
 * applies to new connections only (see firewall.1, "STATES"). */
#define FW_ST_NEW 1u
#define FW_ST_EST 2u

#define FW_RULES_MAX 65536 /* rules per file: the cap on a rule set's memory */
#define FW_LINE_MAX 4096   /* characters per line */
#define FW_LIST_MAX 1024   /* addresses or port ranges in one list */

/* An address prefix: words in network byte order, already masked. */
struct fw_net {
	uint8_t fam; /* 4 or 6 */
	uint8_t plen;
	uint32_t w[4], m[4];
};

struct fw_prange {
	uint16_t lo, hi;
};

struct fw_rule {
	uint8_t action, proto, state;
	unsigned line;
	unsigned n_src, n_dst, n_sport, n_dport; /* 0 = any */
	struct fw_net *src, *dst;
	struct fw_prange *sport, *dport;
	char *text; /* the rule as written, comments and extra blanks removed */
};

/* Per-rule counters: conns = connections (or, for stateless rules, packets)
 * the rule decided; pkts/bytes = packets it decided, including the packets
 * of the connections it admitted (see firewall.1, "COUNTERS"). */
struct fw_ctr {
	uint64_t conns, pkts, bytes;
};

struct fw_ruleset {
	uint32_t gen; /* 1 for the first load, +1 per successful reload */
	unsigned n;
	struct fw_rule *r;
	uint8_t def_action;
	unsigned def_line; /* 0 when the file has no default line */
	/* Counters: n_ctx blocks of `stride` entries; entry i < n is rule i,
	 * FW_CTR_DEFAULT(rs) the default policy, FW_CTR_KEPT(rs) the packets
	 * of connections admitted by an earlier generation. Block j is written
	 * only by context j's lcore; readers load each field relaxed. */
	unsigned n_ctx, stride;
	struct fw_ctr *ctr;
};
#define FW_CTR_DEFAULT(rs) ((rs)->n)
#define FW_CTR_KEPT(rs) ((rs)->n + 1)

/* What a packet or connection is matched on: for TCP connections src is the
 * client and dst the server, whichever way the packet goes. */
struct fw_tuple {
	uint8_t fam, proto; /* 4/6, enum fw_proto (never FW_P_ANY) */
	uint16_t sport, dport;
	uint32_t src[4], dst[4]; /* network byte order; v4 uses word 0 */
};

/* Loads a rules file. @return the rule set (gen 1, counters for n_ctx
 * contexts, zeroed), or NULL with "FILE:LINE: what is wrong" (or
 * "FILE: why it cannot be read") in err. */
struct fw_ruleset *fw_rules_load(const char *path, unsigned n_ctx, char *err, size_t errlen);
void fw_rules_free(struct fw_ruleset *rs);
/* (Re)allocates zeroed counters for n_ctx contexts. @return 0 or -1. */
int fw_rules_counters(struct fw_ruleset *rs, unsigned n_ctx);

/* The first rule matching t in state `st` (FW_ST_NEW, FW_ST_EST, or 0 for a
 * stateless packet, which only rules without a state keyword match).
 * @return the rule's index, or -1 when none matches. */
int fw_match(const struct fw_ruleset *rs, const struct fw_tuple *t, unsigned st);

/* Parses "PROTO SRC [SPORT] -> DST [DPORT] [STATE]" with single addresses
 * and ports into a tuple and state, for --eval. @return 0, or -1 with err. */
int fw_parse_tuple(const char *s, struct fw_tuple *t, unsigned *st, char *err, size_t errlen);

const char *fw_action_name(unsigned a);
const char *fw_proto_name(unsigned p);
/* JSON of one rule's fields (no counters), e.g. for --check. */
int fw_rule_json(const struct fw_rule *r, unsigned idx, char *buf, size_t len);
/* Writes s as a JSON string (with quotes) into buf. @return chars written. */
size_t fw_json_str(char *buf, size_t len, const char *s);

#endif
