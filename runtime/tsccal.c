/* The TSC calibration window (tsccal.h).
 *
 * nanosleep is defined here, in the program: the dynamic linker binds
 * librte_eal's calls to it before glibc's (an unversioned definition in the
 * executable satisfies their nanosleep@GLIBC_2.2.5). Every call but the one
 * armed for goes to the kernel unchanged through clock_nanosleep on
 * CLOCK_REALTIME, which is what glibc's nanosleep does; the one armed for is
 * recognised by all three of: the arming thread, an armed window, and a
 * request of exactly 100 ms (DPDK's `NS_PER_SEC / 10`). It is taken once.
 *
 * Why the shorter window is as good: DPDK divides the TSC ticks between two
 * reads of CLOCK_MONOTONIC_RAW by the nanoseconds between them, whatever the
 * sleep was, and rounds to 10 MHz. The error is the few tens of nanoseconds
 * between each clock read and its rdtsc, 1e-5 of a 10 ms window (30 kHz at
 * 3 GHz), far inside the rounding; test_runtime holds the result against
 * the kernel's clock over a longer window. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "tsccal.h"

#define DPDK_CALIB_NS 100000000L

/* Written by the arming thread, read by any thread that sleeps (armed_thread
 * atomically too: a thread that saw an earlier window may read it late). */
static long armed_ns;
static pthread_t armed_thread;
static long used_ns;

void mp_tsccal_arm(long ns)
{
	if (ns <= 0 || ns >= DPDK_CALIB_NS)
		return;
	__atomic_store_n(&armed_thread, pthread_self(), __ATOMIC_RELAXED);
	used_ns = 0;
	__atomic_store_n(&armed_ns, ns, __ATOMIC_RELEASE);
}

long mp_tsccal_disarm(void)
{
	__atomic_store_n(&armed_ns, 0, __ATOMIC_RELEASE);
	return used_ns;
}

int nanosleep(const struct timespec *req, struct timespec *rem)
{
	struct timespec shorter;
	long ns = __atomic_load_n(&armed_ns, __ATOMIC_ACQUIRE);
	if (__builtin_expect(ns != 0, 0) && req && req->tv_sec == 0 && req->tv_nsec == DPDK_CALIB_NS &&
	    pthread_equal(pthread_self(), __atomic_load_n(&armed_thread, __ATOMIC_RELAXED))) {
		__atomic_store_n(&armed_ns, 0, __ATOMIC_RELAXED); /* once */
		used_ns = ns;
		shorter.tv_sec = 0;
		shorter.tv_nsec = ns;
		req = &shorter;
	}
	int e = clock_nanosleep(CLOCK_REALTIME, 0, req, rem);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}
