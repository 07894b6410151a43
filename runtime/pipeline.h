/* The runtime's face for mospipe and applications: EAL and the input
 * (mp_eal_setup, mp_ctrl_cpuset, mp_eal_cleanup: input.c), building, running
 * and tearing down the pipeline (pipeline.c), and its counters (report.c).
 * runtime/README.md is the map. Only the functions marked so are safe from
 * a signal handler. */
#ifndef MP_PIPELINE_H
#define MP_PIPELINE_H

#include <stdio.h>
#include "pipeline-types.h"

/* Stage types, one per folder in stages/ (stage-types.h's MP_STAGE_LIST). */
#define MP_ST_TYPE_DECL_(ID, name) extern const struct mp_stage_type mp_stage_##name;
MP_STAGE_LIST(MP_ST_TYPE_DECL_)
#undef MP_ST_TYPE_DECL_

/* Resolves the input (conf, then $MOSPIPE_INPUT when the conf has none),
 * builds EAL arguments from the conf (lcores, vdevs) and runs rte_eal_init.
 * Pre-scans pcap inputs (their packet count marks the end of input).
 * @return 0, or -errno after printing a message naming the problem. */
int mp_eal_setup(struct mp_conf *c, const char *prog);

/* After mp_eal_setup: the window (ns) DPDK's TSC calibration slept when it
 * was shortened for an offline input (runtime/tsccal.h); 0 when DPDK kept
 * its own 100 ms or needed none (the CPU told it the frequency). */
long mp_eal_tsccal_ns(void);

/* The CPUs for threads that are not on the datapath (readers, loggers): the
 * CPUs allowed before EAL minus the lcores' (all of them when every CPU is an
 * lcore). Threads created by the main thread outside mp_pipeline_run get it
 * already; others can apply it with pthread_setaffinity_np. -1 before
 * mp_eal_setup. */
#include <sched.h>
int mp_ctrl_cpuset(cpu_set_t *out);

/* rte_eal_cleanup, then removes the private runtime dir mp_eal_setup made. */
void mp_eal_cleanup(void);

/* Creates the mempool, configures and starts the ports, creates every stage
 * instance, the services stage types ask for (the connection table, the
 * flow log) and the rings of the topology (feedback edges included), and
 * calls each stage's init.
 * app: the application's API state (stages/app, struct mp_api), the
 * creation parameter the events and app stages read as pl->app; NULL for
 * the bare stack.
 * @return the pipeline, or NULL with rte_errno set after printing why. */
struct mp_pipeline *mp_pipeline_create(struct mp_conf *c, void *app);

/* Runs every lcore's stage list until the input ends or mp_pipeline_stop is
 * called, then drains in pipeline order. Blocks. @return 0. */
int mp_pipeline_run(struct mp_pipeline *pl);

/* Returns once every lcore still running has made two whole passes over
 * its stage instances since the call: whatever burst one of them held when
 * it was called has been passed on. Off the datapath; from a stage (a
 * callback calling mospipe_quiet) the caller's own lcore is not waited
 * for. */
void mp_lcores_pass(struct mp_pipeline *pl);

/* Launches the lcores other than the main one and returns; the main lcore's
 * list is run by mp_pipeline_run_main. For applications that own main(). */
int mp_pipeline_launch(struct mp_pipeline *pl);
int mp_pipeline_run_main(struct mp_pipeline *pl);

/* Asks rx to stop; the rest drains. Async-signal-safe. */
void mp_pipeline_stop(struct mp_pipeline *pl);

/* Installs SIGINT/SIGTERM handlers: the first stops rx, the second exits. */
void mp_pipeline_handle_signals(struct mp_pipeline *pl);

/* Stops ports, calls each stage's fini, frees rings, services and the pool. */
void mp_pipeline_destroy(struct mp_pipeline *pl);

/* Sums counters over all instances into t (consistent after the run; while
 * running, each counter is read once, so in-flight packets make up the gap). */
void mp_totals(const struct mp_pipeline *pl, struct mp_totals *t);

/* Human-readable counters, one block per stage instance. */
void mp_report_print(const struct mp_pipeline *pl, FILE *f);

/* The counters as JSON (see README: "Counters"). @return 0 or -errno. */
int mp_report_json(const struct mp_pipeline *pl, FILE *f);

/* Registers /mospipe/counters and /mospipe/stage on the telemetry socket. */
void mp_report_telemetry_register(struct mp_pipeline *pl);
/* Telemetry commands answer -ENODEV from now on; waits for one in progress.
 * mp_pipeline_destroy calls it before freeing anything. */
void mp_report_telemetry_unregister(struct mp_pipeline *pl);

#endif
