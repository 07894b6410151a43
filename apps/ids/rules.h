/* rules.h — the subset of Suricata/Snort rule syntax that apps/ids reads:
 * parsed rules (header, payload items, metadata), variables and the
 * classification table. No mospipe here (Hyperscan only for its flag
 * values), so that the ids tool and the libnids peer of the bench
 * (bench/peers/nids_ids.c) read rules the same way.
 *
 * Loading never fails silently: every rule that cannot be honoured exactly is
 * reported on the error stream as "FILE:LINE: sid N: why; rule skipped" and
 * left out (README.md, "Rule language", lists what is read and what is
 * refused). A loaded set is read-only afterwards and may be shared by threads.
 */
#ifndef IDS_RULES_H
#define IDS_RULES_H

#include <stdint.h>
#include <stdio.h>

#define IDS_MAX_ITEMS 32          /* content/pcre keywords in one rule */
#define IDS_MAX_PATTERN 4096      /* bytes of one content, characters of one pcre */
#define IDS_MAX_OFFSET 100000000u /* offset, depth, distance, within: |value| <= this */

enum ids_action { IDS_ALERT = 0, IDS_DROP = 1 };
enum ids_dir { IDS_TO_SERVER = 0, IDS_TO_CLIENT = 1 };
enum ids_item_kind { IDS_CONTENT = 0, IDS_PCRE = 1 };

/* flow: keyword (struct ids_rule.flow) */
#define IDS_FLOW_TO_SERVER 1u
#define IDS_FLOW_TO_CLIENT 2u
#define IDS_FLOW_ESTABLISHED 4u

/* An address or port set as a tree of nodes (node[0] is the root). A list
 * holds its children through child/next links; a negated child of a list is
 * an exclusion ([10.0.0.0/8,!10.1.2.3] is the /8 less one address), a
 * negated root is a complement. */
enum ids_node_kind { IDS_N_ANY, IDS_N_CIDR, IDS_N_PORTS, IDS_N_LIST };
struct ids_node {
	uint8_t kind;
	uint8_t neg;
	uint8_t v6;          /* IDS_N_CIDR: address family */
	uint8_t plen;        /* IDS_N_CIDR: prefix length */
	uint16_t lo, hi;     /* IDS_N_PORTS: inclusive range */
	int32_t child, next; /* -1: none */
	uint8_t addr[16];
};
struct ids_set {
	struct ids_node *node;
	unsigned n, cap;
};

/* A rule header: rules with the same header text share one. */
struct ids_header {
	struct ids_set src, sport, dst, dport;
	uint8_t bidir; /* <> */
	char *text;
};

/* One content or pcre keyword with its modifiers. */
struct ids_item {
	uint8_t kind;     /* enum ids_item_kind */
	uint8_t nocase;   /* content */
	uint8_t relative; /* has distance or within: relative to the previous item's match end */
	uint8_t has_depth, has_within;
	uint8_t anchored;  /* pcre may match only at the stream start (^ without /m, \A, /A) */
	uint32_t len;      /* content: bytes; pcre: length of expr */
	uint8_t *bytes;    /* content bytes, or the Hyperscan expression of a pcre (NUL-terminated) */
	unsigned hs_flags; /* pcre: HS_FLAG_* from its /flags (values of hs_compile.h) */
	uint32_t offset, depth;
	int32_t distance;
	uint32_t within;
};

struct ids_rule {
	uint8_t action; /* enum ids_action */
	uint8_t flow;   /* IDS_FLOW_* */
	uint32_t hdr;   /* index in ids_rules.hdr */
	uint32_t sid, gid, rev;
	int severity;
	char *msg;
	char *category; /* classtype's description, "" without classtype */
	struct ids_item *item;
	unsigned n_item;
	const char *file;
	unsigned line;
};

struct ids_var {
	char *name, *value;
	uint8_t port; /* portvar (else ipvar/var) */
};

struct ids_class {
	char *name, *desc;
	int prio;
};

struct ids_rules {
	struct ids_rule *rule;
	unsigned n_rule, cap_rule;
	struct ids_header *hdr;
	unsigned n_hdr, cap_hdr;
	struct ids_var *var;
	unsigned n_var, cap_var;
	struct ids_class *cls;
	unsigned n_cls, cap_cls;
	char **files; /* file names rules point to */
	unsigned n_files;
	unsigned n_skipped; /* rules reported and left out */
	unsigned n_warn;    /* rules loaded with a warning (e.g. unknown classtype) */
	FILE *err;          /* where problems are reported (stderr by default) */
};

/* Empty set with Suricata's default variables (HOME_NET, EXTERNAL_NET,
 * HTTP_PORTS, ... as in its default suricata.yaml) and no classification. */
void ids_rules_init(struct ids_rules *rs, FILE *err);
void ids_rules_free(struct ids_rules *rs);

/* Defines or redefines a variable ("NAME=VALUE" from --var; the kind is
 * guessed from the value: ports are digits, ':', ',', '!', '[', ']', "any"
 * or other port variables). @return 0, or -1 after a message when malformed. */
int ids_rules_set_var(struct ids_rules *rs, const char *assignment);

/* Reads a classification.config ("config classification: name,desc,prio").
 * @return 0, or -1 after a message (unreadable file, malformed line). */
int ids_rules_load_classification(struct ids_rules *rs, const char *path);

/* Reads a rules file: rules, "ipvar/portvar/var NAME VALUE" and "config
 * classification:" lines, '#' comments, '\' line continuations. Rules that
 * cannot be honoured are reported and counted in n_skipped.
 * @return the number of rules loaded from this file, or -1 after a message
 *   when the file cannot be read. */
int ids_rules_load(struct ids_rules *rs, const char *path);

/* Takes rule i out of the set (the engine refuses it), after the caller
 * reported why; counted in n_skipped. Later rules move down by one. */
void ids_rules_drop(struct ids_rules *rs, unsigned i);

/* Reports a problem with rule r in the loader's format. */
void ids_rule_report(const struct ids_rules *rs, const struct ids_rule *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set membership. addr is 4 (v6 = 0) or 16 bytes, network order. */
int ids_set_has_addr(const struct ids_set *s, int v6, const uint8_t *addr);
int ids_set_has_port(const struct ids_set *s, uint16_t port);

/* Does header h match a side whose bytes go from (src, sport) to (dst, dport)? */
int ids_header_match(const struct ids_header *h, int v6, const uint8_t *src, uint16_t sport, const uint8_t *dst,
                     uint16_t dport);

#endif
