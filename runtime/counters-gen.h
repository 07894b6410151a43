/* Generates a stage's counter ids and descriptors from its .def file, so that
 * every stage declares its counters the same way and the ids, names, help
 * texts and kinds cannot drift apart.
 *
 * A .def file has one line per counter, in the order of their ids:
 *   MP_CTR(ID, "name", KIND, "help")
 * KIND is an enum mp_ctr_kind without its MP_CK_ prefix: PLAIN, DROP, OUT,
 * IN_BYTES, INJECTED or MALFORMED (runtime/stage-types.h says what each
 * means to the totals).
 *
 * Use (parameters are #undef'd here, so a file may include this again):
 *   #define MP_CTR_STAGE tx              enum tx_ctr, static tx_ctrs[]
 *   #define MP_CTR_PREFIX TX_            ids TX_<ID>
 *   #define MP_CTR_DEF "tx_counters.def"
 *   #include "counters-gen.h"
 * Optional, before the include:
 *   #define MP_CTR_FIRST 0     the first id (default MP_CC_N: the ids index
 *                              the instance's si->ctr[] directly)
 *   #define MP_CTR_ENUM_ONLY   only the ids (e.g. in a -types.h header)
 *   #define MP_CTR_DESCS_ONLY  only the descriptors (the ids are elsewhere)
 * Besides the ids the enum holds <PREFIX>END_ (one past the last id) and
 * <PREFIX>N (how many counters the .def has).
 *
 * No include guard on purpose: each inclusion generates one stage's block.
 */
#ifndef MP_CTR_CAT
#define MP_CTR_CAT_(a, b) a##b
#define MP_CTR_CAT(a, b) MP_CTR_CAT_(a, b)
#endif

#if !defined(MP_CTR_STAGE) || !defined(MP_CTR_DEF) || (!defined(MP_CTR_PREFIX) && !defined(MP_CTR_DESCS_ONLY))
#error "counters-gen.h: define MP_CTR_STAGE, MP_CTR_PREFIX and MP_CTR_DEF first"
#endif
#ifndef MP_CTR_FIRST
#define MP_CTR_FIRST MP_CC_N
#endif

#ifndef MP_CTR_DESCS_ONLY
enum MP_CTR_CAT(MP_CTR_STAGE, _ctr) {
	MP_CTR_CAT(MP_CTR_PREFIX, BASE_) = (MP_CTR_FIRST)-1,
#define MP_CTR(id, name, kind, help) MP_CTR_CAT(MP_CTR_PREFIX, id),
#include MP_CTR_DEF
#undef MP_CTR
	MP_CTR_CAT(MP_CTR_PREFIX, END_),
	MP_CTR_CAT(MP_CTR_PREFIX, N) = MP_CTR_CAT(MP_CTR_PREFIX, END_) - (MP_CTR_FIRST),
};
#endif

#ifndef MP_CTR_ENUM_ONLY
static const struct mp_ctr_desc MP_CTR_CAT(MP_CTR_STAGE, _ctrs)[] = {
#define MP_CTR(id, name, kind, help) {name, help, MP_CK_##kind},
#include MP_CTR_DEF
#undef MP_CTR
};
#endif

#undef MP_CTR_STAGE
#undef MP_CTR_PREFIX
#undef MP_CTR_DEF
#undef MP_CTR_FIRST
#undef MP_CTR_ENUM_ONLY
#undef MP_CTR_DESCS_ONLY
