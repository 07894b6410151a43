/* chase: this machine's memory floor, for bench/floor.py (issue #14, target
 * 1). Measures, on one CPU:
 *
 *   latency  a pointer chase (each load's address is the previous load's
 *            value) over a random cycle of cache lines in a working set of
 *            the given size: the time of one cache miss that nothing can
 *            overlap, TLB miss and page walk included. With 4 KiB pages
 *            (MADV_NOHUGEPAGE) and with transparent huge pages
 *            (MADV_HUGEPAGE): the difference is the page walk, which in a
 *            VM is a nested (two-dimensional) walk.
 *   parallel K independent chases interleaved (K = 4, 8, 16): the time per
 *            load when the CPU can have K misses in flight, as the stack's
 *            prefetch across a burst allows at best.
 *   walk     the flows' memory as tcpsm touches it, with nothing else to do:
 *            objects of a flow's size (--obj-bytes, 960: struct tcpsm_flow)
 *            in one arena on transparent huge pages, --objects of them
 *            (192K: the paper's workload), visited in arena order (a run
 *            that never leaves its first pass of flows: objects are handed
 *            out in the order flows start, and the generator visits them in
 *            that order) and in a random order; per visit one random line of
 *            a table (--table-mib, the flow table's slots) read, every line
 *            of the object read and the first half of them written, with the
 *            table line prefetched 4 visits ahead and the whole object D
 *            ahead (D = 0, 1, 2, 4, 8; tcpsm uses 4 and 2). The cycles per
 *            visit at the best D are this machine's floor for the flows'
 *            memory per packet: what no prefetch of ours can go below.
 *
 * Prints one JSON line: {"ghz": ..., "points": [{"bytes", "pages", "chains",
 * "ns", "cycles"}...], "walk": [{"order", "dist", "cycles"}...]}. Asserts
 * nothing; bench/floor.py puts the figures next to the stack's cycles per
 * packet. --walk-only skips the chase (floor.py runs it on both CPUs at once).
 *
 * Usage: chase [--max-mib N] [--loads N] [--objects N] [--obj-bytes N]
 *              [--table-mib N] [--visits N] [--walk-only]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <x86intrin.h>

#define LINE 64u

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* TSC cycles per ns over a tenth of a second (the stack's cycles per packet
 * are TSC cycles too: rte_rdtsc). */
static double tsc_ghz(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();
	while (now_s() - t0 < 0.1)
		;
	double t1 = now_s();
	uint64_t c1 = __rdtsc();
	return (double)(c1 - c0) / ((t1 - t0) * 1e9);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* perm[0..n) = 0..n-1, shuffled when `random`. */
static void permutation(size_t *perm, size_t n, int random)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; random && i > 0; i--) {
		size_t j = (size_t)(xorshift() % (i + 1));
		size_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

/* A mapping of bytes on a 2 MiB boundary (so that THP can back all of it),
 * advised `advice` and written; the mapping itself in *raw, *map. */
static char *map_aligned(size_t bytes, int advice, char **raw, size_t *map)
{
	*map = bytes + (2u << 20);
	*raw = mmap(NULL, *map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*raw == MAP_FAILED) {
		fprintf(stderr, "chase: cannot map %zu bytes: %s\n", *map, strerror(errno));
		exit(1);
	}
	char *buf = (char *)(((uintptr_t)*raw + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
	madvise(buf, bytes, advice);
	memset(buf, 0, bytes);
	return buf;
}

/* Links the n lines of buf into `chains` random cycles (line i holds the
 * address of its successor); the heads in head[]. */
static void link_lines(char *buf, size_t n, unsigned chains, void **head)
{
	size_t *perm = malloc(n * sizeof(*perm));
	if (!perm) {
		fprintf(stderr, "chase: out of memory for a permutation of %zu lines\n", n);
		exit(1);
	}
	permutation(perm, n, 1);
	size_t per = n / chains;
	for (unsigned c = 0; c < chains; c++) {
		size_t *p = perm + (size_t)c * per;
		for (size_t i = 0; i < per; i++)
			*(void **)(buf + p[i] * LINE) = buf + p[(i + 1) % per] * LINE;
		head[c] = buf + p[0] * LINE;
	}
	free(perm);
}

/* ns per load of `chains` interleaved chases, loads in all. */
static double run(void **head, unsigned chains, uint64_t loads)
{
	void *p[16];
	memcpy(p, head, chains * sizeof(void *));
	uint64_t rounds = loads / chains;
	double t0 = now_s();
	switch (chains) {
	case 1:
		for (uint64_t i = 0; i < rounds; i++)
			p[0] = *(void **)p[0];
		break;
	default:
		for (uint64_t i = 0; i < rounds; i++)
			for (unsigned c = 0; c < chains; c++)
				p[c] = *(void **)p[c];
	}
	double t = now_s() - t0;
	/* keep the chase alive */
	uintptr_t x = 0;
	for (unsigned c = 0; c < chains; c++)
		x ^= (uintptr_t)p[c];
	if (x == 1)
		puts("");
	return t * 1e9 / (double)(rounds * chains);
}

/* Cycles per visit of the walk (see the header) at prefetch distance d. */
static double walk(char *arena, size_t obj, const size_t *order, size_t n, const uint32_t *slot, char *table,
                   unsigned d, uint64_t visits)
{
	unsigned lines = (unsigned)((obj + LINE - 1) / LINE);
	uint64_t sum = 0, c0 = __rdtsc();
	for (uint64_t v = 0; v < visits; v++) {
		size_t i = (size_t)(v % n);
		__builtin_prefetch(table + (size_t)slot[(i + 4) % n] * LINE, 0, 3);
		if (d) {
			const char *p = arena + (size_t)order[(i + d) % n] * obj;
			for (unsigned l = 0; l < lines; l++)
				__builtin_prefetch(p + l * LINE, 1, 3);
		}
		sum += *(volatile uint64_t *)(table + (size_t)slot[i] * LINE);
		char *o = arena + (size_t)order[i] * obj;
		for (unsigned l = 0; l < lines; l++) {
			uint64_t *w = (uint64_t *)(o + l * LINE);
			sum += *(volatile uint64_t *)w;
			if (l < lines / 2)
				*(volatile uint64_t *)w = sum;
		}
	}
	uint64_t c = __rdtsc() - c0;
	if (sum == 1)
		puts("");
	return (double)c / (double)visits;
}

static void walks(size_t n, size_t obj, size_t table_mib, uint64_t visits, int *first)
{
	size_t abytes = n * obj, tbytes = table_mib << 20, tn = tbytes / LINE;
	char *araw, *traw;
	size_t amap, tmap;
	char *arena = map_aligned(abytes, MADV_HUGEPAGE, &araw, &amap);
	char *table = map_aligned(tbytes, MADV_HUGEPAGE, &traw, &tmap);
	size_t *order = malloc(n * sizeof(*order));
	uint32_t *slot = malloc(n * sizeof(*slot));
	if (!order || !slot) {
		fprintf(stderr, "chase: out of memory for %zu objects\n", n);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		slot[i] = (uint32_t)(xorshift() % tn);
	static const unsigned dist[] = {0, 1, 2, 4, 8};
	for (int random = 0; random <= 1; random++) {
		permutation(order, n, random);
		for (unsigned k = 0; k < sizeof(dist) / sizeof(dist[0]); k++) {
			walk(arena, obj, order, n, slot, table, dist[k], n); /* one pass: TLB, caches */
			double c = walk(arena, obj, order, n, slot, table, dist[k], visits);
			printf("%s\n {\"order\": \"%s\", \"dist\": %u, \"objects\": %zu, \"obj_bytes\": %zu, "
			       "\"cycles\": %.1f}",
			       *first ? "" : ",", random ? "random" : "arena", dist[k], n, obj, c);
			*first = 0;
			fflush(stdout);
		}
	}
	free(order);
	free(slot);
	munmap(araw, amap);
	munmap(traw, tmap);
}

int main(int argc, char **argv)
{
	size_t n_obj = 192000, obj_bytes = 960, table_mib = 32;
	uint64_t visits = 4000000;
	int walk_only = 0;
	size_t max_mib = 2048;
	uint64_t loads = 20000000;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--max-mib") && i + 1 < argc)
			max_mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--loads") && i + 1 < argc)
			loads = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--objects") && i + 1 < argc)
			n_obj = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--obj-bytes") && i + 1 < argc)
			obj_bytes = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--table-mib") && i + 1 < argc)
			table_mib = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--visits") && i + 1 < argc)
			visits = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--walk-only"))
			walk_only = 1;
		else {
			fprintf(stderr, "usage: chase [--max-mib N] [--loads N] [--objects N] [--obj-bytes N] "
			                "[--table-mib N] [--visits N] [--walk-only]\n");
			return 2;
		}
	}
	if (n_obj < 16 || obj_bytes < LINE || obj_bytes % 8 || table_mib < 1) {
		fprintf(stderr, "chase: --objects at least 16, --obj-bytes at least 64 and a multiple of 8, "
		                "--table-mib at least 1\n");
		return 2;
	}
	double ghz = tsc_ghz();
	printf("{\"ghz\": %.4f, \"points\": [", ghz);
	int first = 1;
	for (int huge = 0; huge <= 1 && !walk_only; huge++) {
		for (size_t kib = 16; kib <= max_mib * 1024; kib *= 4) {
			size_t bytes = kib * 1024, n = bytes / LINE, map;
			char *raw, *buf = map_aligned(bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE, &raw, &map);
			unsigned chain_set[] = {1, 4, 8, 16};
			for (unsigned k = 0; k < 4; k++) {
				unsigned chains = chain_set[k];
				/* the parallel runs only where misses dominate */
				if (chains > 1 && bytes < (64u << 20))
					continue;
				if (n / chains < 16)
					continue;
				void *head[16];
				link_lines(buf, n, chains, head);
				run(head, chains, loads / 10); /* warm the TLB and caches */
				double ns = run(head, chains, loads);
				printf("%s\n {\"bytes\": %zu, \"pages\": \"%s\", \"chains\": %u, \"ns\": %.2f, "
				       "\"cycles\": %.1f}",
				       first ? "" : ",", bytes, huge ? "2M" : "4K", chains, ns, ns * ghz);
				first = 0;
				fflush(stdout);
			}
			munmap(raw, map);
		}
	}
	printf("\n], \"walk\": [");
	first = 1;
	walks(n_obj, obj_bytes, table_mib, visits, &first);
	printf("\n]}\n");
	return 0;
}
