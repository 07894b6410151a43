/* Unit tests of the ASan plumbing (runtime/asan.h): in an ASan build
 * (make SAN=1) a use after free of an mbuf (its mempool's driver poisons
 * it) and of a reassembly chunk (the chunk pool poisons it) are reported,
 * each shown by a child process that makes the access and dies with ASan's
 * "use-after-poison" report; and objects given out again are usable. In
 * other builds the macros do nothing and the pool keeps DPDK's default
 * driver and cache: that is what these builds check. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mbuf.h>

#include "asan.h"
#include "meta.h"
#include "reasm.h"

static struct rte_mempool *pool;

/* Runs fn in a child with stderr captured; @return 1 when the child died
 * with an ASan use-after-poison report, 0 when it returned normally. */
static int dies_with_report(void (*fn)(void *), void *arg)
{
	int pfd[2];
	ck_assert_int_eq(pipe(pfd), 0);
	fflush(NULL);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		fn(arg);
		_exit(0);
	}
	close(pfd[1]);
	char buf[65536];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 && (k = read(pfd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = 0;
	close(pfd[0]);
	int st = 0;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	ck_assert_msg(strstr(buf, "use-after-poison") != NULL, "child died without the report: %.400s", buf);
	return 1;
}

static volatile uint8_t sink;

static void read_byte(void *p)
{
	sink = *(volatile const uint8_t *)p;
}

START_TEST(mbuf_use_after_free)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	ck_assert_ptr_nonnull(m);
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);
	data[0] = 1; /* allocated: usable */
	mp_meta(m)->ts_ns = 2;
	rte_pktmbuf_free(m);
#ifdef MP_ASAN
	ck_assert_str_eq(mp_san_pool_ops(), "mp_mbuf_ring");
	ck_assert_uint_eq(mp_san_pool_cache(256), 0);
	ck_assert(MP_ASAN_IS_POISONED(data));
	ck_assert(MP_ASAN_IS_POISONED(mp_meta(m)));
	ck_assert_int_eq(dies_with_report(read_byte, data), 1);        /* its data */
	ck_assert_int_eq(dies_with_report(read_byte, &m->pkt_len), 1); /* its header */
	ck_assert_int_eq(dies_with_report(read_byte, mp_meta(m)), 1);  /* its metadata */
	/* given out again, it is whole */
	struct rte_mbuf *b[64];
	ck_assert_int_eq(rte_pktmbuf_alloc_bulk(pool, b, 64), 0);
	for (unsigned i = 0; i < 64; i++) {
		ck_assert(!MP_ASAN_IS_POISONED(rte_pktmbuf_mtod(b[i], uint8_t *)));
		memset(rte_pktmbuf_mtod(b[i], uint8_t *), 0, rte_pktmbuf_tailroom(b[i]));
	}
	rte_pktmbuf_free_bulk(b, 64);
#else
	ck_assert_uint_eq(mp_san_pool_cache(256), 256);
	ck_assert_int_eq(dies_with_report(read_byte, data), 0);
#endif
}
END_TEST

START_TEST(chunk_use_after_free)
{
	struct reasm_pool *p = reasm_pool_create(1 << 16, 256);
	ck_assert_ptr_nonnull(p);
	struct reasm r;
	ck_assert_int_eq(reasm_init(&r, p, 1000, 512, REASM_OVERLAP_FIRST), 0);
	struct reasm_result res;
	uint8_t data[300];
	memset(data, 'x', sizeof(data));
	ck_assert_int_ge(reasm_insert(&r, 1000, data, sizeof(data), sizeof(data), &res), 0);
	uint32_t nfree, total;
	reasm_pool_stats(p, &nfree, &total, NULL);
	ck_assert_uint_lt(nfree, total); /* chunks taken */
	/* Chunks go out in ascending ids; one of the first few (the slot map
	 * may be taken first) holds our bytes. */
	const uint8_t *c0 = NULL;
	for (uint32_t id = 0; id < total - nfree && !c0; id++)
		if (((const uint8_t *)reasm_pool_chunk(p, id))[0] == 'x')
			c0 = reasm_pool_chunk(p, id);
	ck_assert_ptr_nonnull(c0);
	ck_assert_uint_eq(c0[0], 'x');
#ifdef MP_ASAN
	ck_assert(MP_ASAN_IS_POISONED(reasm_pool_chunk(p, total - 1))); /* never used: free */
	ck_assert_int_eq(dies_with_report(read_byte, (void *)(uintptr_t)reasm_pool_chunk(p, total - 1)), 1);
#endif
	reasm_fini(&r); /* every chunk goes back */
	reasm_pool_stats(p, &nfree, &total, NULL);
	ck_assert_uint_eq(nfree, total);
#ifdef MP_ASAN
	ck_assert(MP_ASAN_IS_POISONED(c0));
	ck_assert_int_eq(dies_with_report(read_byte, (void *)(uintptr_t)c0), 1);
#else
	ck_assert_int_eq(dies_with_report(read_byte, (void *)(uintptr_t)c0), 0);
#endif
	/* taken again, usable: exactly the chunks in use are unpoisoned */
	ck_assert_int_eq(reasm_init(&r, p, 5, 512, REASM_OVERLAP_FIRST), 0);
	ck_assert_int_ge(reasm_insert(&r, 5, data, 100, 100, &res), 0);
	reasm_pool_stats(p, &nfree, &total, NULL);
	unsigned open = 0;
	for (uint32_t id = 0; id < total; id++)
		open += !MP_ASAN_IS_POISONED(reasm_pool_chunk(p, id));
#ifdef MP_ASAN
	ck_assert_uint_eq(open, total - nfree);
#else
	ck_assert_uint_eq(open, total);
#endif
	ck_assert_uint_gt(total - nfree, 0);
	reasm_fini(&r);
	reasm_pool_destroy(p);
}
END_TEST

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=tasan%d", (int)getpid());
	char *argv[] = {"test_asan", "--no-huge",         "-m", "128", "--no-pci", "--no-shconf",
	                prefix,      "--log-level=error", "-l", "0",   NULL};
	if (rte_eal_init(10, argv) < 0) {
		fprintf(stderr, "test_asan: EAL init failed\n");
		return EXIT_FAILURE;
	}
	/* The pipeline's way of making its packet pool (runtime/pipeline.c). */
	pool = rte_pktmbuf_pool_create_by_ops("tasan_pool", 1023, mp_san_pool_cache(64), MP_META_PRIV_SIZE,
	                                      RTE_MBUF_DEFAULT_BUF_SIZE, 0, mp_san_pool_ops());
	if (!pool)
		return EXIT_FAILURE;
	Suite *s = suite_create("asan");
	TCase *tc = tcase_create("poison");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mbuf_use_after_free);
	tcase_add_test(tc, chunk_use_after_free);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
