/* rules-int.h — helpers shared by the rule reader's files (rules.c, the
 * header and option parser; rules_set.c, address and port sets). Not part of
 * the reader's interface (rules.h). */
#ifndef IDS_RULES_INT_H
#define IDS_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define ERR_LEN 256 /* room for a reason ("why") */

/* realloc to at least need elements (doubling); exits on exhaustion. */
void *ids_grow(void *p, unsigned *cap, unsigned need, size_t elem);
char *ids_strndup(const char *s, size_t n);
const char *ids_skip_ws(const char *s);
/* Unsigned decimal in [0, max], surrounding blanks allowed. @return 0 or -1. */
int ids_parse_uint(const char *s, uint64_t max, uint64_t *out);
struct ids_var *ids_var_find(const struct ids_rules *rs, const char *name, size_t n);

/* A header field (addresses, or ports when ports) into a fresh set.
 * @return 0, or -1 with the reason in why. */
int ids_parse_set(struct ids_rules *rs, struct ids_set *set, const char *text, int ports, char *why);
void ids_set_free(struct ids_set *s);

#endif
