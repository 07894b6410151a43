/* pipeline.conf parsing and validation. Plain C: usable without EAL.
 * All functions that can fail return 0 or -errno (-EINVAL for a bad file) and
 * write a one-line message into err: "file:line: what is wrong".
 * Only main() turns that into exit status 2. */
#ifndef MP_CONF_H
#define MP_CONF_H

#include <stdio.h>
#include "conf-types.h"

extern const char *const mp_stage_names[MP_ST_N];

/* Fills every key with its default; the lcore map is left empty (filled by
 * mp_conf_finish when nothing maps any stage). */
void mp_conf_defaults(struct mp_conf *c);

/* Parses a file over what c holds. @return 0, -EINVAL (bad content) or -errno
 * (cannot read). */
int mp_conf_load(struct mp_conf *c, const char *path, char *err, size_t errlen);

/* Same, from a string; name is used in messages. */
int mp_conf_parse_buf(struct mp_conf *c, const char *name, const char *text, char *err, size_t errlen);

/* One key, as from the file or the command line. @return 0 or -EINVAL. */
int mp_conf_set(struct mp_conf *c, const char *section, const char *key, const char *val, char *err, size_t errlen);

/* "section.key=value" (the --set option). @return 0 or -EINVAL. */
int mp_conf_set_dotted(struct mp_conf *c, const char *assign, char *err, size_t errlen);

/* Applies $MOSPIPE_LCORES (a whole lcore map, replacing the file's) and
 * $MOSPIPE_SET, "section.key=value;section.key=value", over what c holds
 * (after the file, before command-line options). @return 0 or -EINVAL. */
int mp_conf_apply_env(struct mp_conf *c, char *err, size_t errlen);

/* Adds "rx classify.0 tcpsm.1" to lcore_s's list. @return 0 or -EINVAL. */
int mp_conf_set_lcore(struct mp_conf *c, const char *lcore_s, const char *list, char *err, size_t errlen);

/* Resolves the lcore map: the default single lcore when none, instance counts,
 * and checks every stage is mapped. @return 0 or -EINVAL. */
int mp_conf_finish(struct mp_conf *c, char *err, size_t errlen);

/* Reads a whole number with an optional suffix from `units` (a table ended
 * by a NULL suffix; suffixes match without regard to case); a bare number is
 * multiplied by bare_mul. The one number reader of the conf keys and of the
 * `gen:` input spec. @return 0, or -EINVAL when s is not a number (a sign or
 * space first included), the suffix is unknown or the result overflows. */
int mp_parse_scaled(const char *s, const struct mp_unit *units, uint64_t bare_mul, uint64_t *out);
/* Suffix tables: durations in ms (ms, s, m, h), sizes in bytes (K, KB, KiB,
 * M.., G.., B: powers of 1024), counts (k, m, g: powers of 1000). */
extern const struct mp_unit mp_units_dur[], mp_units_size[], mp_units_count[];

/* @return the stage id of a name ("tcpsm"), or -1. */
int mp_stage_by_name(const char *name);

/* @return 1 when this process may run on that CPU. */
int mp_lcore_exists(unsigned lcore);

void mp_conf_print_help(FILE *f);

/* tcp.policy's names, indexed by enum mp_policy, NULL-terminated. */
extern const char *const mp_policy_names[];
/* @return the enum mp_policy of name, or -1. */
int mp_policy_by_name(const char *name);
/* One [policy] line: NET (address or address/prefix) = linux | windows.
 * A network given again takes the new policy.
 * @return 0, or -EINVAL with a message in err (conf_policy.c). */
int mp_conf_set_policy_net(struct mp_conf *c, const char *net, const char *val, char *err, size_t errlen);

#endif
