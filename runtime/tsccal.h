/* The TSC calibration window at start-up (runtime/tsccal.c).
 *
 * DPDK 22.11 asks the CPU for the TSC's frequency (CPUID leaf 0x15, then the
 * platform MSR through /dev/cpu/0/msr); where neither answers (every VM this
 * project runs on), rte_eal_init measures it against CLOCK_MONOTONIC_RAW
 * across one nanosleep of 100 ms: half of an offline run's start-up.
 * mp_tsccal_arm(ns) makes that one sleep ns long instead, for the calling
 * thread until mp_tsccal_disarm(); DPDK still measures the ticks against
 * the kernel's clock over the window it actually slept. */
#ifndef MP_TSCCAL_H
#define MP_TSCCAL_H

/* The window for offline inputs (mp_eal_setup). */
#define MP_TSCCAL_OFFLINE_NS 10000000L

/* Arms the shortening for the calling thread: its next nanosleep of
 * exactly 100 ms (DPDK's calibration) sleeps ns instead (0 < ns < 100 ms). */
void mp_tsccal_arm(long ns);

/* Disarms it. @return the window the calibration slept, in ns, when it was
 * shortened; 0 when no 100 ms sleep came (the CPU told DPDK the frequency)
 * or the shortening was not armed. */
long mp_tsccal_disarm(void);

#endif
