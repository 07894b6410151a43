/* The reassembly buffer's internals, shared by its writer (reasm.c) and its
 * readers (reasm_read.c): the pool, the chunk and slot layout (reasm.c's
 * file comment) and the bitmap runs. Only these two files include it; calls
 * go one way, from reasm.c to reasm_read.c (scripts/check-layers.sh). */
#ifndef REASM_INT_H
#define REASM_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "reasm.h"

#define NONE_ID UINT32_MAX

struct reasm_pool {
	uint8_t *mem;
	size_t mem_len;  /* of the mapping */
	uint32_t *stack; /* free chunk ids; writer-only, so no atomics */
	uint32_t n, nfree;
	uint32_t d;    /* data bytes per chunk */
	uint32_t elem; /* d + d / 8 */
	uint64_t fail;
	uint8_t nohist; /* sides start with reasm.nohist set */
};

static inline uint8_t *chunk_data(const struct reasm_pool *p, uint32_t id)
{
	return p->mem + (size_t)id * p->elem;
}

static inline _Atomic uint64_t *chunk_bits(const struct reasm_pool *p, uint32_t id)
{
	return (_Atomic uint64_t *)(void *)(p->mem + (size_t)id * p->elem + p->d);
}

#define SLOT_V (1ull << 63)  /* the chunk's bitmap is valid (see the file comment) */
#define TAG_MASK 0x7fffffffu /* chunk number bits kept in a slot word */

static inline uint64_t slot_word(uint64_t n, uint32_t id, int valid)
{
	return ((uint64_t)((uint32_t)n & TAG_MASK) << 32) | id | (valid ? SLOT_V : 0);
}

/* The slot word w holds chunk number n. */
static inline int slot_is(uint64_t w, uint64_t n)
{
	return (uint32_t)w != NONE_ID && (uint32_t)(w >> 32 & TAG_MASK) == ((uint32_t)n & TAG_MASK);
}

/* Chunk id holding chunk number n, or NONE_ID. Used by both threads: acquire
 * pairs with the writer's release in slot_take(), so a reader that sees the
 * new tag also sees the bitmap cleared for it. */
static inline uint32_t slot_get(const struct reasm *r, uint64_t n)
{
	_Atomic uint64_t *s = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	if (!s || r->nslots == 0)
		return NONE_ID;
	uint64_t w = atomic_load_explicit(&s[n % r->nslots], memory_order_acquire);
	return slot_is(w, n) ? (uint32_t)w : NONE_ID;
}

/* The slot word for chunk number n (acquire, as slot_get()) into *w.
 * @return 0 when no chunk holds n. */
static inline int slot_get_w(const struct reasm *r, uint64_t n, uint64_t *w)
{
	_Atomic uint64_t *s = atomic_load_explicit(&((struct reasm *)r)->slots, memory_order_acquire);
	if (!s || r->nslots == 0)
		return 0;
	*w = atomic_load_explicit(&s[n % r->nslots], memory_order_acquire);
	return slot_is(*w, n);
}

/* Length of the run of bytes starting at a (< lim) that are all present
 * (*have = 1) or all absent (*have = 0), capped at lim. d is `delivered` as
 * the caller sees it (writer: its own; reader: the value it acquired): a
 * lazy chunk holds the bytes below it. */
uint64_t reasm_run_len(const struct reasm *r, uint64_t a, uint64_t lim, uint64_t d, int *have);

#endif
