/* The pipeline: builds it (mempool, ports, the services stages ask for,
 * stage instances, the rings of the topology below, each stage's init), runs
 * each lcore's list of instances round-robin, stops it on a signal, drains it
 * in pipeline order and tears it down. Hand-off between instances is in
 * stage.c, inputs and ports in input.c; runtime/README.md is the map.
 *
 * Shutdown protocol: an instance is finished when (rx) its input has ended
 * (mp_stage_input_ended), or (any other stage) every upstream instance is
 * done and its input rings are empty; it then drains what it holds and
 * publishes `done` with release order. A downstream instance reads `done`
 * with acquire order *before* it checks its rings, so everything upstream
 * enqueued before finishing is seen. "Upstream" follows downstream[] only:
 * the feedback edge (tx -> tcpsm) is not part of the order, since tx finishes
 * after tcpsm. tcpsm takes back what tx hands back while it runs, in its
 * polls and drain; what arrives after it is done waits in the feedback rings
 * until its fini, after every lcore stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include <urcu-qsbr.h>

#include "asan.h"
#include "conf.h"
#include "conntable.h"
#include "input.h"
#include "mbufpool.h"
#include "hash.h"
#include "pcapin.h"
#include "pipeline.h"
#include "reclog.h"
#include "stage.h"
#include "tsan.h"

static const struct mp_stage_type *const stage_types[MP_ST_N] = {
#define MP_ST_TYPE_(ID, name) [MP_ST_##ID] = &mp_stage_##name,
    MP_STAGE_LIST(MP_ST_TYPE_)
#undef MP_ST_TYPE_
};

/* The topology: the downstream stages of each stage, by output slot, and
 * the feedback edges. Every ring between two stages is made from these two
 * tables, and nothing else moves an mbuf between stages.
 *
 * feedback[s]: the stage s hands mbufs back to, or -1. tx -> tcpsm carries
 * each flow's control mbufs (MP_CTRL_ENDED, MP_CTRL_RETIRE) back to the
 * tcpsm instance that owns the flow, so that tcpsm alone frees what it
 * allocated. Not part of the shutdown order (see above). */
static const int downstream[MP_ST_N][MP_MAX_OUT] = {
    [MP_ST_RX] = {MP_ST_CLASSIFY, -1},      [MP_ST_CLASSIFY] = {MP_ST_TCPSM, -1}, [MP_ST_TCPSM] = {MP_ST_EVENTS, -1},
    [MP_ST_EVENTS] = {MP_ST_APP, MP_ST_TX}, [MP_ST_APP] = {MP_ST_TX, -1},         [MP_ST_TX] = {-1, -1},
};
static const int feedback[MP_ST_N] = {
    [MP_ST_RX] = -1,     [MP_ST_CLASSIFY] = -1, [MP_ST_TCPSM] = -1,
    [MP_ST_EVENTS] = -1, [MP_ST_APP] = -1,      [MP_ST_TX] = MP_ST_TCPSM,
};

/* Process-wide state of running pipelines: signals are per process, and so
 * are EAL's launch and wait (whose hand-off TSan cannot see: tsan.h).
 * `signal_pl` is written by mp_pipeline_handle_signals on the main thread
 * before any signal it handles can arrive; the handler reads it and counts
 * signals in `signals` (a sig_atomic_t: the only type a handler may write). */
static struct {
	volatile sig_atomic_t signals;
	struct mp_pipeline *signal_pl;
	char tsan_launch, tsan_finish; /* addresses only: MP_TSAN_RELEASE/ACQUIRE markers */
} run_g;

/* ---- creation ------------------------------------------------------------- */

static struct mp_stage_inst *inst_new(struct mp_pipeline *pl, const struct mp_stage_type *t, unsigned idx)
{
	struct mp_stage_inst *si = rte_zmalloc("stage_inst", sizeof(*si), RTE_CACHE_LINE_SIZE);
	if (!si)
		return NULL;
	si->type = t;
	si->pl = pl;
	si->idx = idx;
	si->fanout_index = pl->conf->fanout == MP_FANOUT_INDEX;
	si->ctr = rte_zmalloc("stage_ctr", sizeof(uint64_t) * (MP_CC_N + t->n_ctrs), RTE_CACHE_LINE_SIZE);
	if (!si->ctr) {
		rte_free(si);
		return NULL;
	}
	return si;
}

/* One SP/SC ring of `size` slots between instance i of stage s and instance
 * j of stage d. @return the ring, or NULL after printing why (rte_errno). */
static struct rte_ring *ring_make(int s, unsigned i, int d, unsigned j, int fb, unsigned size, const char *fix)
{
	char name[64]; /* fits RTE_RING_NAMESIZE: instances < MP_MAX_INST */
	snprintf(name, sizeof(name), "%s%d.%u-%d.%u", fb ? "fb" : "r", s, i, d, j);
	struct rte_ring *r = rte_ring_create(name, size, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!r)
		fprintf(stderr, "mospipe: cannot create %sring %s (%s.%u -> %s.%u) of %u slots: %s (%s)\n",
		        fb ? "feedback " : "", name, mp_stage_names[s], i, mp_stage_names[d], j, size,
		        rte_strerror(rte_errno), fix);
	return r;
}

/* One SP/SC ring per (upstream instance, downstream instance) of every edge
 * of the topology, feedback edges included. @return 0, or -errno after
 * printing why. */
static int rings_create(struct mp_pipeline *pl)
{
	const struct mp_conf *c = pl->conf;
	for (int s = 0; s < MP_ST_N; s++)
		for (int slot = 0; slot < MP_MAX_OUT; slot++) {
			int d = downstream[s][slot];
			if (d < 0)
				continue;
			for (unsigned i = 0; i < pl->n_inst[s]; i++) {
				struct mp_stage_inst *up = pl->inst[s][i];
				up->out[slot].n = pl->n_inst[d];
				for (unsigned j = 0; j < pl->n_inst[d]; j++) {
					struct mp_stage_inst *dn = pl->inst[d][j];
					struct rte_ring *r = ring_make(s, i, d, j, 0, c->ring_size,
					                               "lower [pipeline] ring_size or raise EAL -m");
					if (!r)
						return -rte_errno;
					up->out[slot].r[j] = r;
					dn->in[dn->n_in++] = r;
				}
			}
		}
	/* A feedback ring must never refuse: what it carries is the only way
	 * back (a flow whose retire mbuf is lost is never freed). It carries
	 * mbufs of the pipeline's pool, each in one place at a time, so a ring
	 * with room for the whole pool cannot be full: [mempool] mbufs + 1
	 * slots, rounded up to a power of two (one slot stays empty). Every
	 * flow in retirement has at most two mbufs in it (ENDED, RETIRE): the
	 * pool, not the flow count, is the smaller bound by default (65,535
	 * mbufs, 512 KiB a ring, against 278,784 flow slots per tcpsm). */
	unsigned fb_size = rte_align32pow2(c->mbufs + 1);
	for (int s = 0; s < MP_ST_N; s++) {
		int d = feedback[s];
		if (d < 0)
			continue;
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			struct mp_stage_inst *from = pl->inst[s][i];
			from->fb.n = pl->n_inst[d];
			for (unsigned j = 0; j < pl->n_inst[d]; j++) {
				struct mp_stage_inst *to = pl->inst[d][j];
				struct rte_ring *r =
				    ring_make(s, i, d, j, 1, fb_size, "lower [mempool] mbufs or raise EAL -m");
				if (!r)
					return -rte_errno;
				from->fb.r[j] = r;
				to->fb_in[to->n_fb_in++] = r;
			}
		}
	}
	return 0;
}

/* The services some stage type asks for (pipeline-types.h, "services").
 * @return 0, or -errno after printing why. */
static int services_create(struct mp_pipeline *pl)
{
	const struct mp_conf *c = pl->conf;
	for (int s = 0; s < MP_ST_N; s++) {
		const struct mp_stage_svc *v = stage_types[s]->svc;
		if (!v || !pl->n_inst[s])
			continue;
		/* [pipeline] conntable = auto: only a pipeline that hosts an
		 * application has the table, whose readers are the
		 * application's threads (midstat, mospipe_conntable() in
		 * mospipe_ext.h); mospipe alone has none, and each flow's add
		 * and delete cost it 12-60 of tcpsm's cycles a packet at 192K
		 * flows (cache-cold chains; quiet and busy runs of this VM,
		 * bench/README.md, "Memory floor"). */
		int want = c->conntable == MP_YES || (c->conntable == MP_AUTO && pl->app);
		if (v->conn_snap && !pl->conntable && want) {
			/* Sized for the configured capacity (one bucket per flow at
			 * the cap): cds_lfht's lazy auto-resize only grows when its
			 * split count crosses a power of two at 8 nodes per bucket,
			 * so a table started small spent 80% of tcpsm's cycles
			 * walking chains of cache-cold flows under connection churn
			 * (200K short connections: 2.9 s from 1024 buckets, 0.72 s
			 * from 65536). A flood adds and deletes a flow per packet
			 * once the table is full: 4 flows per bucket cost 19.7K
			 * tcpsm cycles per packet, 1 per bucket 13.9K (2M spoofed
			 * SYNs + ACKs, bench/README.md). */
			unsigned long buckets = (unsigned long)c->flows * pl->n_inst[s];
			/* Sized from the input too: captures alone hold at most a
			 * flow per packet (pre-scanned). Every walk of the table
			 * (midstat's, per interval) visits every bucket: 262,144 of
			 * them cost 100 ms a table on samples/sample.pcap. */
			uint64_t pkts = 0;
			int files = pl->n_ports > 0;
			for (unsigned k = 0; k < pl->n_ports; k++) {
				if (pl->port[k].kind != MP_PORT_PCAP)
					files = 0;
				pkts += pl->port[k].expect;
			}
			if (files && pkts < buckets)
				buckets = (unsigned long)pkts;
			if (buckets < 1024)
				buckets = 1024;
			pl->conntable = mp_conntable_create(buckets, v->conn_snap, v->conn_match);
			if (!pl->conntable) {
				fprintf(
				    stderr,
				    "mospipe: cannot create the connection table of %lu buckets: lower [tcp] flows\n",
				    buckets);
				return -ENOMEM;
			}
		}
		if (v->log_rec_size && *c->flow_log && !pl->flowlog) {
			/* 65536 records: a second of connection ends at 65K/s
			 * before the writer must have caught up (flowlog_lost). */
			pl->flowlog =
			    mp_reclog_start("[output] flow_log", c->flow_log, v->log_rec_size, 65536, v->log_format);
			if (!pl->flowlog)
				return -EIO; /* it said why, naming the file */
		}
	}
	return 0;
}

struct mp_pipeline *mp_pipeline_create(struct mp_conf *c, void *app)
{
	int r;
	struct mp_pipeline *pl = rte_zmalloc("pipeline", sizeof(*pl), RTE_CACHE_LINE_SIZE);
	if (!pl) {
		fprintf(stderr, "mospipe: out of memory for the pipeline (%zu bytes; raise EAL -m in [eal] args)\n",
		        sizeof(*pl));
		mp_input_forget();
		rte_errno = ENOMEM;
		return NULL;
	}
	pl->conf = c;
	pl->app = app;
	/* Before any lcore runs: every hashing stage reads the key from then on.
	 * A capture's scan may have hashed its records already: the same key. */
	uint64_t seed = mp_input_hash_seed();
	mp_hash_key_set(seed ? seed : c->hash_key);
	pl->ts_off = -1;
	pl->tsc_hz = rte_get_tsc_hz();
	pl->base_tsc = rte_rdtsc();
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		pl->base_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}

	pl->pool =
	    mp_mbuf_pool_create("mp_pool", c->mbufs, mp_san_pool_cache(c->mbuf_cache), MP_META_PRIV_SIZE,
	                        (uint16_t)c->data_room, (int)rte_socket_id(), mp_input_pool_whole(), &pl->pool_lazy);
	if (!pl->pool) {
		r = -rte_errno;
		fprintf(stderr,
		        "mospipe: cannot create a pool of %u mbufs of %u bytes: %s (lower [mempool] mbufs or raise "
		        "EAL -m)\n",
		        c->mbufs, c->data_room, rte_strerror(rte_errno));
		goto fail;
	}
	r = mp_input_ports_setup(pl);
	if (r < 0)
		goto fail;

	for (int s = 0; s < MP_ST_N; s++) {
		pl->n_inst[s] = c->n_inst[s];
		for (unsigned i = 0; i < c->n_inst[s]; i++) {
			pl->inst[s][i] = inst_new(pl, stage_types[s], i);
			if (!pl->inst[s][i]) {
				fprintf(stderr,
				        "mospipe: out of memory for stage %s.%u (its state and %u counters; raise "
				        "EAL -m in [eal] args)\n",
				        mp_stage_names[s], i, MP_CC_N + stage_types[s]->n_ctrs);
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	r = services_create(pl);
	if (r < 0)
		goto fail;
	r = rings_create(pl);
	if (r < 0)
		goto fail;
	/* Lcore lists. */
	pl->n_runs = c->n_lcores;
	for (unsigned i = 0; i < c->n_lcores; i++) {
		struct mp_lcore_run *run = &pl->run[i];
		run->lcore = c->lc[i].lcore;
		run->pl = pl;
		run->n = c->lc[i].n;
		for (unsigned j = 0; j < run->n; j++) {
			run->inst[j] = pl->inst[c->lc[i].item[j].stage][c->lc[i].item[j].inst];
			run->inst[j]->lcore = run->lcore;
		}
	}
	/* Each init prints what is wrong and returns its own -errno, which the
	 * caller gets in rte_errno (ENOMEM, EIO for an output file...). */
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++)
			if (stage_types[s]->init && (r = stage_types[s]->init(pl->inst[s][i])) < 0)
				goto fail;
	return pl;
fail:
	mp_input_forget();
	mp_pipeline_destroy(pl);
	rte_errno = r < 0 ? -r : EINVAL;
	return NULL;
}

/* ---- signals -------------------------------------------------------------- */

static void on_signal(int sig)
{
	(void)sig;
	if (run_g.signals++ && run_g.signal_pl) {
		static const char msg[] = "mospipe: second signal, exiting now\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		_exit(130);
	}
	if (run_g.signal_pl)
		mp_pipeline_stop(run_g.signal_pl);
}

void mp_pipeline_handle_signals(struct mp_pipeline *pl)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	run_g.signal_pl = pl;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void mp_pipeline_stop(struct mp_pipeline *pl)
{
	__atomic_store_n(&pl->stop, 1, __ATOMIC_RELAXED);
}

/* ---- running and draining ------------------------------------------------- */

static int upstream_finished(const struct mp_stage_inst *si)
{
	struct mp_pipeline *pl = si->pl;
	int me = si->type->id;
	for (int s = 0; s < MP_ST_N; s++)
		for (int slot = 0; slot < MP_MAX_OUT; slot++)
			if (downstream[s][slot] == me)
				for (unsigned i = 0; i < pl->n_inst[s]; i++)
					if (!__atomic_load_n(&pl->inst[s][i]->done, __ATOMIC_ACQUIRE))
						return 0;
	return 1;
}

/* Called when a poll moved nothing: decides whether the instance has
 * finished (see the shutdown protocol above) and, once it has and holds
 * nothing more, publishes `done`. */
static void try_finish(struct mp_stage_inst *si)
{
	if (si->type->id == MP_ST_RX) {
		if (!si->draining)
			return;
	} else if (!si->draining) {
		if (!upstream_finished(si))
			return;
		for (unsigned i = 0; i < si->n_in; i++)
			if (!rte_ring_empty(si->in[i]))
				return;
		si->draining = 1;
	}
	if (mp_out_held(si))
		return;
	if (si->type->drain && si->type->drain(si))
		return;
	__atomic_store_n(&si->done, 1, __ATOMIC_RELEASE);
}

static int lcore_loop(void *arg)
{
	MP_TSAN_ACQUIRE(&run_g.tsan_launch); /* the set-up done before launch */
	struct mp_lcore_run *run = arg;
	unsigned left = run->n;

	int pinned = mp_main_pin();
	rcu_register_thread();
	while (left) {
		unsigned moved = 0;
		left = 0;
		for (unsigned i = 0; i < run->n; i++) {
			struct mp_stage_inst *si = run->inst[i];
			if (si->done)
				continue;
			left++;
			uint64_t t0 = rte_rdtsc();
			unsigned n = si->type->poll(si);
			if (n) {
				mp_ctr_add(si, MP_CC_BUSY_POLLS, 1);
				mp_ctr_add(si, MP_CC_BUSY_CYCLES, rte_rdtsc() - t0);
				moved += n;
			} else {
				mp_ctr_add(si, MP_CC_IDLE_POLLS, 1);
				try_finish(si);
			}
		}
		/* One quiescent state per loop: this lcore holds no RCU-protected
		 * pointer across loop iterations. */
		rcu_quiescent_state();
		__atomic_store_n(&run->loops, run->loops + 1, __ATOMIC_RELEASE);
		if (!moved)
			rte_pause();
	}
	rcu_unregister_thread();
	__atomic_store_n(&run->ended, 1, __ATOMIC_RELEASE);
	if (pinned)
		mp_main_unpin();
	MP_TSAN_RELEASE(&run_g.tsan_finish); /* to whoever waited for the lcores */
	return 0;
}

void mp_lcores_pass(struct mp_pipeline *pl)
{
	uint64_t seen[MP_MAX_LCORES];
	for (unsigned i = 0; i < pl->n_runs; i++)
		seen[i] = __atomic_load_n(&pl->run[i].loops, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < pl->n_runs; i++) {
		if (pl->run[i].lcore == rte_lcore_id())
			continue; /* called from one of its stages: this pass is ours */
		/* Two: the pass under way when we looked may have begun before. */
		for (unsigned spin = 0; __atomic_load_n(&pl->run[i].loops, __ATOMIC_ACQUIRE) < seen[i] + 2 &&
		                        !__atomic_load_n(&pl->run[i].ended, __ATOMIC_ACQUIRE);
		     spin++)
			if (spin < 1000)
				rte_pause();
			else
				usleep(20); /* the lcore's thread is not running */
	}
}

int mp_pipeline_launch(struct mp_pipeline *pl)
{
	pl->start_tsc = rte_rdtsc();
	MP_TSAN_RELEASE(&run_g.tsan_launch);
	for (unsigned i = 1; i < pl->n_runs; i++) {
		int r = rte_eal_remote_launch(lcore_loop, &pl->run[i], pl->run[i].lcore);
		if (r < 0) {
			fprintf(stderr, "mospipe: cannot launch lcore %u: %s\n", pl->run[i].lcore, rte_strerror(-r));
			return r;
		}
	}
	return 0;
}

/* A mapped capture whose damage rx met (port->damaged): the message the
 * scan before the run gives for it. @return the ports found damaged. */
static int report_damaged(const struct mp_pipeline *pl)
{
	int n = 0;
	for (unsigned k = 0; k < pl->n_ports; k++) {
		const struct mp_port *p = &pl->port[k];
		if (!p->pf || !p->damaged)
			continue;
		char err[768];
		uint64_t count;
		if (mp_pcapfile_scan(p->pf, p->name, &count, err, sizeof(err)) < 0)
			fprintf(stderr, "mospipe: %s\n", err);
		else /* cannot be: rx and the scan refuse the same records */
			fprintf(stderr, "mospipe: %s: capture is damaged\n", p->name);
		n++;
	}
	return n;
}

int mp_pipeline_run_main(struct mp_pipeline *pl)
{
	lcore_loop(&pl->run[0]);
	rte_eal_mp_wait_lcore();
	MP_TSAN_ACQUIRE(&run_g.tsan_finish);
	pl->end_tsc = rte_rdtsc();
	return report_damaged(pl) ? -EINVAL : 0;
}

int mp_pipeline_run(struct mp_pipeline *pl)
{
	int r = mp_pipeline_launch(pl);
	if (r < 0) {
		mp_pipeline_stop(pl);
		rte_eal_mp_wait_lcore();
		MP_TSAN_ACQUIRE(&run_g.tsan_finish);
		return r;
	}
	return mp_pipeline_run_main(pl);
}

/* ---- teardown ------------------------------------------------------------- */

void mp_pipeline_destroy(struct mp_pipeline *pl)
{
	if (!pl)
		return;
	mp_report_telemetry_unregister(pl);
	mp_input_ports_close(pl);
	for (int s = MP_ST_N - 1; s >= 0; s--)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			struct mp_stage_inst *si = pl->inst[s][i];
			if (!si)
				continue;
			if (si->type->fini)
				si->type->fini(si);
			for (unsigned k = 0; k < si->n_in + si->n_fb_in; k++) {
				struct rte_ring *r = k < si->n_in ? si->in[k] : si->fb_in[k - si->n_in];
				struct rte_mbuf *m;
				while (rte_ring_sc_dequeue(r, (void **)&m) == 0)
					mp_pkt_free(m);
				rte_ring_free(r);
			}
		}
	/* Services last: stages' finis may still push (tcpsm's last flow-log
	 * records) and unpublish. Their flows are out of the table by now. */
	mp_reclog_stop(pl->flowlog);
	mp_conntable_destroy(pl->conntable);
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++)
			if (pl->inst[s][i]) {
				rte_free(pl->inst[s][i]->ctr);
				rte_free(pl->inst[s][i]);
			}
	mp_mbuf_pool_free(pl->pool, pl->pool_lazy);
	rte_free(pl);
}
