/* The mOS API, part 1: lifecycle (mtcp_init .. mtcp_destroy), contexts,
 * sockets and filters, callback registration, user-defined events and user
 * contexts. Setup calls run on the main thread before the first
 * mtcp_app_join(); callback calls run on the app lcore (mp_api_tl tells
 * which instance). See include/mos_api.h and include/mtcp_api.h.
 *
 * The API state (struct mp_api) is made by mtcp_init and attached to the
 * pipeline it creates; contexts point to it. mp_api_cur serves the entry
 * points without a context (app-types.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>

#include "app.h"
#include "bpf.h"
#include "conf.h"
#include "evset.h"
#include "pipeline.h"
#include "tcpsm.h"

/* The stack's numbers are mOS's (tcpsm_events.h, meta-types.h): this is the
 * one place that sees both the public header and the stack's. */
_Static_assert(MP_ON_PKT_IN == MOS_ON_PKT_IN && MP_ON_CONN_START == MOS_ON_CONN_START &&
                   MP_ON_CONN_NEW_DATA == MOS_ON_CONN_NEW_DATA && MP_ON_ERROR == MOS_ON_ERROR &&
                   MP_ON_TIMEOUT == MOS_ON_TIMEOUT && MP_ON_TCP_STATE_CHANGE == MOS_ON_TCP_STATE_CHANGE &&
                   MP_ON_ORPHAN == MOS_ON_ORPHAN && MP_ON_REXMIT == MOS_ON_REXMIT && MP_ON_CONN_END == MOS_ON_CONN_END,
               "MP_ON_* must be mOS's MOS_ON_* bits");
_Static_assert((int)MP_TCP_ST_CLOSED == (int)TCP_ST_CLOSED && (int)MP_TCP_ST_LISTEN == (int)TCP_ST_LISTEN &&
                   (int)MP_TCP_ST_SYN_SENT == (int)TCP_ST_SYN_SENT && (int)MP_TCP_ST_SYN_RCVD == (int)TCP_ST_SYN_RCVD &&
                   (int)MP_TCP_ST_ESTABLISHED == (int)TCP_ST_ESTABLISHED &&
                   (int)MP_TCP_ST_FIN_WAIT_1 == (int)TCP_ST_FIN_WAIT_1 &&
                   (int)MP_TCP_ST_FIN_WAIT_2 == (int)TCP_ST_FIN_WAIT_2 &&
                   (int)MP_TCP_ST_CLOSE_WAIT == (int)TCP_ST_CLOSE_WAIT &&
                   (int)MP_TCP_ST_CLOSING == (int)TCP_ST_CLOSING && (int)MP_TCP_ST_LAST_ACK == (int)TCP_ST_LAST_ACK &&
                   (int)MP_TCP_ST_TIME_WAIT == (int)TCP_ST_TIME_WAIT && (int)MP_TCP_ST_N == MOS_TCP_STATE_N,
               "MP_TCP_ST_* must be mOS's enum tcpstate");
_Static_assert(MP_SIDE_CLI == MOS_SIDE_CLI && MP_SIDE_SVR == MOS_SIDE_SVR, "MP_SIDE_* must be mOS's sides");

struct mp_api *mp_api_cur;
struct evs_registry mp_api_reg;
__thread struct mp_appi *mp_api_tl;

static int reg_ready;
/* Handlers of mtcp_register_signal: signals belong to the process. */
static mtcp_sighandler_t sig_handler[65];
/* A stop asked (signal) before the pipeline existed: mtcp_init installs the
 * handlers, the pipeline comes at the first mtcp_create_context(), which
 * takes seconds for large tables; a SIGINT in between must not be lost. */
static volatile sig_atomic_t stop_early;
static void on_signal(int sig);

static void reg_init(void)
{
	if (!reg_ready) {
		evs_registry_init(&mp_api_reg);
		reg_ready = 1;
	}
}

/* ---- checks ---------------------------------------------------------------- */

/* Setup calls may come from any application thread before packets flow
 * (mOS samples create and configure one context per thread); what they
 * share (context table, UDE registry) is guarded by this lock. Never taken
 * on the datapath. */
static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t api_cond = PTHREAD_COND_INITIALIZER;

static int is_setup_thread(void)
{
	return !mp_api_tl;
}

static struct mp_ctx *live_ctx(mctx_t mctx)
{
	struct mp_api *a = mp_api_cur;
	if (!a || !mctx)
		return NULL;
	/* Acquire: other threads may be creating contexts (under api_lock,
	 * release); the caller's own context was made before it got mctx. */
	unsigned n = __atomic_load_n(&a->n_ctx, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < n; i++) {
		struct mp_ctx *c = __atomic_load_n(&a->ctx[i], __ATOMIC_ACQUIRE);
		if (c && &c->pub == mctx)
			return c->alive ? c : NULL;
	}
	return NULL;
}

/* Setup (main thread, before packets flow) or callback of this context.
 * @return 1 setup, 2 callback, 0 with errno set. */
static int call_mode(mctx_t mctx, struct mp_ctx **cp)
{
	struct mp_ctx *c = live_ctx(mctx);
	if (!c) {
		errno = EACCES;
		return 0;
	}
	*cp = c;
	if (mp_api_tl && mp_api_tl->in_cb && mp_api_tl->ctx == c)
		return 2;
	if (!__atomic_load_n(&c->api->started, __ATOMIC_ACQUIRE) && is_setup_thread())
		return 1;
	errno = EPERM;
	return 0;
}

struct mp_appi *mp_api_cb_appi(mctx_t mctx)
{
	struct mp_ctx *c;
	if (call_mode(mctx, &c) != 2) {
		if (errno != EACCES)
			errno = EPERM;
		return NULL;
	}
	return mp_api_tl;
}

struct mp_fsock *mp_api_active(struct mp_appi *ai, int sock)
{
	struct mp_flowapp *fa = ai->cur_fa;
	if (!fa || sock < MP_API_SOCK_ACTIVE) {
		errno = EBADF;
		return NULL;
	}
	unsigned rel = (unsigned)(sock - MP_API_SOCK_ACTIVE), nf = ai->api->n_follow;
	struct mp_fsock *fs = mp_fa_socks(ai->api, fa) + rel % nf;
	if (rel / nf != fa->idx || rel % nf >= fa->n || fs->closed) {
		errno = EBADF;
		return NULL;
	}
	return fs;
}

/* ---- lifecycle --------------------------------------------------------------- */

static void fill_mconf(struct mp_api *a)
{
	struct mp_conf *c = a->conf;
	struct mtcp_conf *m = &a->mconf;
	memset(m, 0, sizeof(*m));
	m->num_cores = (int)c->n_inst[MP_ST_APP];
	m->max_concurrency = (int)c->flows;
	for (unsigned i = 0; i < c->n_lcores; i++)
		for (unsigned k = 0; k < c->lc[i].n; k++)
			if (c->lc[i].item[k].stage == MP_ST_APP && c->lc[i].lcore < 64)
				m->cpu_mask |= 1ULL << c->lc[i].lcore;
	/* mOS counts reassembly buffers; mospipe's pool is in bytes. */
	uint64_t nb = c->mos_buffers ? c->mos_buffers : c->buf_size ? c->buf_pool / c->buf_size : 0;
	m->max_num_buffers = (int)(nb > INT32_MAX ? INT32_MAX : nb);
	m->rcvbuf_size = (int)c->buf_size;
	m->tcp_timewait = (int)(c->time_wait_ms / 1000);
	m->tcp_timeout = (int)(c->idle_timeout_ms / 1000);
	m->num_app = 1;
}

/* The pipeline, built at the first mtcp_create_context() (so that
 * mtcp_setconf() between mtcp_init() and it can still size pools and
 * tables). api_lock held. @return 0 or -errno. */
static int make_flowapp_table(struct mp_api *a);
static int api_build(struct mp_api *a)
{
	if (a->pl)
		return 0;
	int fe = make_flowapp_table(a);
	if (fe < 0)
		return fe;
	/* The app and events inits read a (pl->app) and the app instances
	 * register themselves in a->appi[]. */
	a->pl = mp_pipeline_create(a->conf, a);
	if (!a->pl) {
		free(a->fa);
		free(a->fsock);
		a->fa = NULL;
		a->fsock = NULL;
		return rte_errno == ENOMEM ? -ENOMEM : rte_errno == EINVAL ? -EINVAL : -ENODEV;
	}
	/* Default signal handling, as for the bare stack: the first SIGINT or
	 * SIGTERM stops rx and the pipeline drains (every open flow gets
	 * CONN_END, join returns); a second one forces the exit. An application
	 * handler registered with mtcp_register_signal replaces it. */
	mp_pipeline_handle_signals(a->pl);
	/* Handlers the application registered before the pipeline existed
	 * stay its own (mtcp_register_signal: they replace the default). */
	for (int sig = 1; sig < 65; sig++)
		if (sig_handler[sig]) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_signal;
			sigemptyset(&sa.sa_mask);
			sigaction(sig, &sa, NULL);
		}
	if (stop_early)
		mp_pipeline_stop(a->pl); /* asked before the pipeline existed */
	return 0;
}

/* The app's per-flow state, one entry per flow slot of every tcpsm instance
 * (tcpsm.h): flows are found by slot, no allocation per flow. */
static int make_flowapp_table(struct mp_api *a)
{
	uint64_t n = (uint64_t)tcpsm_flow_slots(a->conf) * a->conf->n_inst[MP_ST_TCPSM];
	a->n_sockets = a->conf->api_sockets;
	a->n_follow = a->conf->api_follow;
	a->n_timers_max = a->conf->api_timers;
	/* Active socket ids: MP_API_SOCK_ACTIVE + slot * follow + k, an int. */
	if (n * a->n_follow + MP_API_SOCK_ACTIVE > INT32_MAX) {
		fprintf(stderr,
		        "mtcp_init: %" PRIu64 " flow slots times [api] follow = %u sockets each do not fit socket ids "
		        "(int): lower [tcp] flows or [api] follow\n",
		        n, a->n_follow);
		return -EINVAL;
	}
	a->n_fa = (uint32_t)n;
	a->fa = calloc(n ? n : 1, sizeof(*a->fa));
	a->fsock = calloc(n ? n * a->n_follow : 1, sizeof(*a->fsock));
	if (!a->fa || !a->fsock) {
		fprintf(stderr,
		        "mtcp_init: no memory for the state of %" PRIu64 " flows (%" PRIu64
		        " MiB): lower [tcp] flows or [api] follow\n",
		        n, n * (sizeof(*a->fa) + a->n_follow * sizeof(*a->fsock)) >> 20);
		free(a->fa);
		free(a->fsock);
		a->fa = NULL;
		a->fsock = NULL;
		return -ENOMEM;
	}
	return 0;
}

int mtcp_init(const char *config_file)
{
	struct mp_api *a;
	char err[1200];

	if (mp_api_cur) {
		errno = EALREADY;
		return -1;
	}
	pthread_mutex_lock(&api_lock);
	reg_init();
	pthread_mutex_unlock(&api_lock);
	if (!(a = calloc(1, sizeof(*a)))) {
		fprintf(stderr, "mtcp_init: out of memory\n");
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_init(&a->sock_lock, NULL);
	struct mp_conf *conf = &a->conf_store;
	a->conf = conf;
	mp_conf_defaults(conf);
	if (config_file) {
		int mos = -1;
		if (access(config_file, R_OK) != 0) {
			int e = errno;
			fprintf(stderr, "mtcp_init: configuration file '%s': %s\n", config_file, strerror(e));
			free(a);
			errno = e == ENOENT ? ENOENT : EINVAL;
			return -1;
		}
		/* mOS's own mos.conf ("mos { ... }" blocks) is read too. */
		mos = mp_api_load_mosconf(conf, config_file, err, sizeof(err));
		if (mos < 0 || (mos == 0 && mp_conf_load(conf, config_file, err, sizeof(err)) < 0)) {
			fprintf(stderr, "mtcp_init: %s\n", err);
			free(a);
			errno = EINVAL;
			return -1;
		}
	}
	/* Applications only pass a conf path: the environment may adjust keys. */
	if (mp_conf_apply_env(conf, err, sizeof(err)) < 0 || mp_conf_finish(conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "mtcp_init: %s\n", err);
		free(a);
		errno = EINVAL;
		return -1;
	}
	if (*conf->filter) {
		/* The pipeline (classify compiles the filter per link type) is
		 * built later, at the first context: a filter that does not
		 * compile fails mtcp_init now, as any other bad configuration. */
		struct mp_bpf *b = mp_bpf_compile_pcap(conf->filter, 1 /* DLT_EN10MB */, err, sizeof(err));
		if (!b) {
			fprintf(stderr, "mospipe: filter '%s': %s\n", conf->filter, err);
			free(a);
			errno = EINVAL;
			return -1;
		}
		mp_bpf_free(b);
	}
	int r = mp_eal_setup(conf, "mos-app");
	if (r < 0) {
		free(a);
		errno = r == -ENODEV ? ENODEV : EINVAL;
		return -1;
	}
	fill_mconf(a);
	a->n_appi = conf->n_inst[MP_ST_APP];
	a->batch_newdata = getenv("MOSPIPE_NEWDATA_BATCH") && atoi(getenv("MOSPIPE_NEWDATA_BATCH")) > 0;
	mp_api_cur = a;
	return 0;
}

int mtcp_getconf(struct mtcp_conf *conf)
{
	if (!mp_api_cur) {
		errno = EPERM;
		return -1;
	}
	if (!conf) {
		errno = EINVAL;
		return -1;
	}
	*conf = mp_api_cur->mconf;
	return 0;
}

int mtcp_setconf(const struct mtcp_conf *conf)
{
	struct mp_api *a = mp_api_cur;
	if (!a) {
		errno = EPERM;
		return -1;
	}
	if (!conf) {
		errno = EINVAL;
		return -1;
	}
	if (a->ctx_created) {
		errno = EBUSY;
		return -1;
	}
	if (conf->num_cores < 1 || (unsigned)conf->num_cores > a->n_appi || conf->max_concurrency < 1 ||
	    conf->rcvbuf_size < 0 || conf->rcvbuf_size > (64 << 20) || conf->max_num_buffers < 0 ||
	    conf->tcp_timewait < 0 || conf->tcp_timewait > 3600) {
		errno = EINVAL;
		return -1;
	}
	/* The pipeline is built at the first mtcp_create_context(): every field
	 * with a pipeline.conf key applies. */
	struct mp_conf *c = a->conf;
	struct mtcp_conf *m = &a->mconf;
	if (conf->max_concurrency != m->max_concurrency)
		c->flows = (unsigned)conf->max_concurrency;
	if (conf->rcvbuf_size != m->rcvbuf_size)
		c->buf_size = (uint64_t)conf->rcvbuf_size;
	if (conf->max_num_buffers != m->max_num_buffers || conf->rcvbuf_size != m->rcvbuf_size ||
	    (conf->max_concurrency != m->max_concurrency && c->buf_pool)) {
		/* As for mos.conf's no_ring_buffers (api_mosconf.c): mOS's count
		 * of shared buffers, raised to the pool tcpsm needs for the table
		 * when that is more (said on stderr). */
		uint64_t need;
		int raised; /* max_num_buffers = 0: 0, sized for the table */
		c->buf_pool = mp_api_mos_pool((uint64_t)conf->max_num_buffers, c->buf_size, c->flows, &need, &raised);
		if (raised)
			fprintf(stderr,
			        "mtcp_setconf: max_num_buffers = %d of %" PRIu64 " bytes cannot give each side of "
			        "max_concurrency = %u flows its first reassembly chunks: the pool is %" PRIu64
			        " bytes instead\n",
			        conf->max_num_buffers, c->buf_size, c->flows, need);
		c->mos_buffers = (uint32_t)conf->max_num_buffers;
	}
	if (conf->tcp_timewait != m->tcp_timewait)
		c->time_wait_ms = (uint64_t)conf->tcp_timewait * 1000;
	if (conf->tcp_timeout != m->tcp_timeout)
		/* mOS: -1 (or 0) = never: the longest idle timeout there is. */
		c->idle_timeout_ms =
		    conf->tcp_timeout > 0 && conf->tcp_timeout < 86400 ? (uint64_t)conf->tcp_timeout * 1000 : 86400000;
	/* What has no meaning here, named (once per call). */
	if (conf->cpu_mask != m->cpu_mask)
		fprintf(stderr, "mtcp_setconf: cpu_mask cannot change after mtcp_init (the lcores are fixed by then): "
		                "set them in pipeline.conf [lcores]\n");
	if (conf->sndbuf_size != m->sndbuf_size)
		fprintf(stderr, "mtcp_setconf: sndbuf_size ignored (mospipe has no end-host stack)\n");
	if (conf->num_app > 1)
		fprintf(stderr, "mtcp_setconf: num_app/app_* ignored (one application per process)\n");
	int cores = conf->num_cores;
	fill_mconf(a);
	m->num_cores = cores;
	return 0;
}

mctx_t mtcp_create_context(int cpu)
{
	struct mp_api *a = mp_api_cur;
	if (!a) {
		errno = EPERM;
		return NULL;
	}
	pthread_mutex_lock(&api_lock);
	int e = 0;
	struct mp_ctx *c = NULL;
	if (cpu < 0 || cpu >= a->mconf.num_cores || a->started)
		e = EINVAL;
	else if (!a->pl && (e = -api_build(a)) != 0)
		; /* the pipeline could not be built (printed why) */
	else if (a->ctx[cpu])
		e = EEXIST;
	else if (!(c = calloc(1, sizeof(*c))) || !(c->psock = calloc(a->n_sockets, sizeof(*c->psock)))) {
		e = ENOMEM;
		if (c)
			free(c);
		c = NULL;
	}
	if (!e) {
		c->pub.cpu = cpu;
		c->api = a;
		c->idx = (unsigned)cpu;
		c->creator = pthread_self();
		c->alive = 1;
		/* Release: read without the lock by live_ctx(). */
		__atomic_store_n(&a->ctx[cpu], c, __ATOMIC_RELEASE);
		if ((unsigned)cpu + 1 > a->n_ctx)
			__atomic_store_n(&a->n_ctx, (unsigned)cpu + 1, __ATOMIC_RELEASE);
		a->ctx_created = 1;
		a->setup_gen++;
		pthread_cond_broadcast(&api_cond);
	}
	pthread_mutex_unlock(&api_lock);
	if (e) {
		errno = e;
		return NULL;
	}
	return &c->pub;
}

int mtcp_destroy_context(mctx_t mctx)
{
	struct mp_ctx *c = live_ctx(mctx);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	/* Async-signal-safe: a flag the rx stage reads. */
	mp_pipeline_stop(c->api->pl);
	return 0;
}

static void on_signal(int sig)
{
	struct mp_api *a = mp_api_cur;
	if (a && a->pl)
		mp_pipeline_stop(a->pl);
	else
		stop_early = 1;
	if (sig > 0 && sig < 65 && sig_handler[sig])
		sig_handler[sig](sig);
}

mtcp_sighandler_t mtcp_register_signal(int signum, mtcp_sighandler_t handler)
{
	struct sigaction sa;
	if (signum <= 0 || signum >= 65 || signum == SIGKILL || signum == SIGSTOP) {
		errno = EINVAL;
		return (mtcp_sighandler_t)SIG_ERR;
	}
	sig_handler[signum] = handler;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(signum, &sa, NULL) < 0) {
		errno = EINVAL;
		return (mtcp_sighandler_t)SIG_ERR;
	}
	return handler;
}

/* Replays the passive registrations into every instance's table and decides
 * what tcpsm does for new flows; runs once, before packets flow. */
static int api_start(struct mp_api *a)
{
	/* Instance j serves the j % n-th context created (mOS applications
	 * create num_cores contexts; one that creates fewer shares them). */
	struct mp_ctx *made[MP_MAX_INST];
	unsigned nc = 0;
	for (unsigned i = 0; i < a->n_ctx; i++)
		if (a->ctx[i] && a->ctx[i]->alive)
			made[nc++] = a->ctx[i];
	if (!nc)
		return -EINVAL;
	int reader = 0;
	for (unsigned j = 0; j < a->n_appi; j++) {
		struct mp_appi *ai = a->appi[j];
		struct mp_ctx *c = made[j % nc];
		ai->ctx = c;
		for (unsigned k = 0; k < c->n_psock; k++) {
			struct mp_psock *ps = &c->psock[k];
			if (ps->kind == MP_SK_FREE)
				continue;
			struct evs_set *s = evs_set_get(evs_empty(ai->evs));
			for (unsigned r = 0; r < ps->n_reg; r++) {
				int e = evs_set_change(ai->evs, &s, ps->reg[r].ev, ps->reg[r].hook, MOS_SIDE_BOTH,
				                       ps->reg[r].cb);
				if (e < 0) {
					fprintf(stderr, "mospipe: cannot build the event set of socket %u: %s\n", k,
					        strerror(-e));
					return e;
				}
			}
			__atomic_store_n(&ai->pset[k], s, __ATOMIC_RELEASE);
			if (ps->kind == MP_SK_RAW && !ps->closed)
				__atomic_store_n(&a->any_raw, 1, __ATOMIC_RELAXED);
			if (ps->kind == MP_SK_STREAM && !ps->closed) {
				a->any_stream = 1;
				if (evs_set_mask_any(s, EVS_HK_NULL))
					__atomic_store_n(&a->any_orphan, 1, __ATOMIC_RELAXED);
				for (int sd = 0; sd < 2; sd++)
					if (ps->bufsz[sd] != 0)
						reader |= (int)TCPSM_CTL_READER(sd);
			}
		}
		ai->n_built = c->n_psock;
		__atomic_store_n(&c->n_live, c->n_psock, __ATOMIC_RELEASE);
	}
	/* New flows start in reader mode when some stream socket may peek: the
	 * events stage sees a flow only after tcpsm stored its first bytes. */
	tcpsm_set_new_flow_ctl(a->pl, (uint32_t)reader);
	__atomic_store_n(&a->started, 1, __ATOMIC_RELEASE);
	return 0;
}

/* Whether packets may start. At once when num_cores contexts exist and
 * either this thread created them all (the single-threaded pattern: create
 * all, register, join) or all have joined (one thread per context). With
 * fewer contexts, `settled` (nothing was created or joined for a while)
 * lets them start once every context another thread created has joined. */
static int may_start(struct mp_api *a, int settled)
{
	unsigned made = 0, joined = 0, mine = 0, others_waiting = 0;
	for (unsigned i = 0; i < a->n_ctx; i++) {
		struct mp_ctx *c = a->ctx[i];
		if (!c)
			continue;
		int me = pthread_equal(c->creator, pthread_self()) != 0;
		made++;
		joined += c->joined;
		mine += me;
		others_waiting += !me && !c->joined;
	}
	if (made == (unsigned)a->mconf.num_cores && (mine == made || joined == made))
		return 1;
	return settled && others_waiting == 0;
}

/* [output] counters_json, as mospipe --counters-json writes it. */
static void write_counters_json(const struct mp_pipeline *pl)
{
	const char *path = pl->conf->counters_json;
	if (!*path)
		return;
	FILE *f = fopen(path, "w");
	if (!f || mp_report_json(pl, f) < 0)
		fprintf(stderr, "mospipe: [output] counters_json %s: cannot write: %s\n", path, strerror(errno));
	if (f)
		fclose(f);
}

void mtcp_app_join(mctx_t mctx)
{
	struct mp_ctx *c = live_ctx(mctx);
	if (!c) {
		errno = EACCES;
		return;
	}
	struct mp_api *a = c->api;
	if (!is_setup_thread())
		return; /* from a callback: would deadlock */
	pthread_mutex_lock(&api_lock);
	c->joined = 1;
	a->setup_gen++;
	pthread_cond_broadcast(&api_cond);
	unsigned gen = a->setup_gen;
	int settled = 0;
	while (!a->started && !may_start(a, settled)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		int r = pthread_cond_timedwait(&api_cond, &api_lock, &ts);
		settled = r == ETIMEDOUT && gen == a->setup_gen;
		gen = a->setup_gen;
	}
	if (a->started) {
		/* Another thread runs the pipeline: wait for the end. */
		while (!a->done)
			pthread_cond_wait(&api_cond, &api_lock);
		pthread_mutex_unlock(&api_lock);
		return;
	}
	int r = api_start(a);
	pthread_mutex_unlock(&api_lock);
	if (r == 0) {
		mp_report_telemetry_register(a->pl);
		mp_pipeline_run(a->pl);
		write_counters_json(a->pl);
	}
	/* End of input or signal: every flow ended (tcpsm drained them through
	 * the app stage); timers still pending are dropped. */
	for (unsigned j = 0; j < a->n_appi; j++)
		a->appi[j]->n_timers = 0;
	pthread_mutex_lock(&api_lock);
	a->done = 1;
	pthread_cond_broadcast(&api_cond);
	pthread_mutex_unlock(&api_lock);
}

int mtcp_destroy(void)
{
	struct mp_api *a = mp_api_cur;
	if (!a) {
		errno = EPERM;
		return -1;
	}
	if (a->pl)
		mp_pipeline_destroy(a->pl); /* the app instances' fini free their state */
	for (unsigned i = 0; i < a->n_ctx; i++) {
		struct mp_ctx *c = a->ctx[i];
		if (!c)
			continue;
		for (unsigned k = 0; k < c->n_psock; k++) {
			mp_bpf_free(c->psock[k].syn_filter);
			mp_bpf_free(c->psock[k].orphan_filter);
			mp_bpf_free(c->psock[k].raw_filter);
		}
		free(c->psock);
		free(c);
	}
	free(a->fa);
	free(a->fsock);
	mp_eal_cleanup();
	mp_api_cur = NULL;
	free(a);
	return 0;
}

/* ---- sockets ------------------------------------------------------------------ */

int mtcp_socket(mctx_t mctx, int domain, int type, int protocol)
{
	struct mp_ctx *c;
	(void)domain;
	(void)protocol;
	if (!(c = live_ctx(mctx))) {
		errno = EINVAL;
		return -1;
	}
	if (type != MOS_SOCK_MONITOR_STREAM && type != MOS_SOCK_MONITOR_RAW) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	int mode = call_mode(mctx, &c);
	if (!mode)
		return -1; /* another thread after start: EPERM */
	struct mp_api *a = c->api;
	struct mp_appi *ai = mode == 2 ? mp_api_tl : NULL;
	if (ai)
		/* From a callback: app instances serving the same context may
		 * make sockets at once. */
		pthread_mutex_lock(&a->sock_lock);
	int k = -1;
	if (c->n_psock == a->n_sockets) {
		errno = ENFILE;
	} else {
		struct mp_psock *ps = &c->psock[c->n_psock];
		memset(ps, 0, sizeof(*ps));
		ps->kind = type == MOS_SOCK_MONITOR_RAW ? MP_SK_RAW : MP_SK_STREAM;
		ps->bufsz[0] = ps->bufsz[1] = -1;
		ps->overlap[0] = ps->overlap[1] = -1;
		k = (int)c->n_psock;
		if (ai) {
			/* Its set in this instance, empty: registrations made
			 * from this callback change it (do_register). The events
			 * stage sees the socket once the callbacks of this mbuf
			 * returned (mp_app_sync_socks). */
			struct evs_set *s = evs_set_get(evs_empty(ai->evs));
			__atomic_store_n(&ai->pset[k], s, __ATOMIC_RELEASE);
			ps->made_by = (uint16_t)(ai->idx + 1);
			ai->n_pending++;
		} else {
			ps->ready = 1; /* setup: published at start */
		}
		__atomic_store_n(&c->n_psock, c->n_psock + 1, __ATOMIC_RELEASE);
	}
	if (ai)
		pthread_mutex_unlock(&a->sock_lock);
	return k;
}

/* A socket made from a callback of this app instance and not yet handed to
 * the events stage: its filters may still be set. */
static int sock_pending(const struct mp_ctx *c, int sock)
{
	const struct mp_appi *ai = mp_api_tl;
	return ai && ai->in_cb && c->psock[sock].made_by == ai->idx + 1 && !c->psock[sock].ready;
}

/* @return the passive socket sock of c, or NULL with errno EBADF. */
static struct mp_psock *psock_of(struct mp_ctx *c, int sock)
{
	if (sock < 0 || (unsigned)sock >= mp_ctx_nsock(c) || c->psock[sock].kind == MP_SK_FREE ||
	    c->psock[sock].closed) {
		errno = EBADF;
		return NULL;
	}
	return &c->psock[sock];
}

int mtcp_close(mctx_t mctx, int sock)
{
	struct mp_ctx *c = live_ctx(mctx);
	if (!c) {
		errno = EINVAL;
		return -1;
	}
	if (sock >= MP_API_SOCK_ACTIVE) {
		struct mp_appi *ai = mp_api_cb_appi(mctx);
		struct mp_fsock *fs = ai ? mp_api_active(ai, sock) : NULL;
		if (!fs) {
			errno = EBADF;
			return -1;
		}
		fs->closed = 1;
		fs->stopped = 3;
		ai->cur_fa->dirty = 1;
		return 0;
	}
	struct mp_psock *ps = psock_of(c, sock);
	if (!ps)
		return -1;
	ps->closed = 1; /* read by events at the next flow's first packet */
	return 0;
}

static int compile(const struct mp_api *a, struct mp_bpf **dst, const char *expr, const char *what)
{
	char err[512];
	if (!expr)
		return 0;
	int dlt = a->pl && a->pl->n_ports ? a->pl->port[0].dlt : 1;
	struct mp_bpf *f = mp_bpf_compile(expr, dlt, err, sizeof(err));
	if (!f) {
		int e = errno;
		fprintf(stderr, "mtcp_bind_monitor_filter: %s \"%s\": %s\n", what, expr, err);
		errno = e == EINVAL ? EINVAL : e;
		return -1;
	}
	mp_bpf_free(*dst);
	*dst = f;
	return 0;
}

int mtcp_bind_monitor_filter(mctx_t mctx, int sock, monitor_filter_t ft)
{
	struct mp_ctx *c;
	int mode = call_mode(mctx, &c);
	if (!mode)
		return -1;
	if (sock >= MP_API_SOCK_ACTIVE) {
		errno = mode == 1 ? ENOPROTOOPT : EPERM;
		return -1;
	}
	struct mp_psock *ps = psock_of(c, sock);
	if (!ps)
		return -1;
	if (mode != 1 && !sock_pending(c, sock)) {
		/* The events stage reads a published socket's filters. */
		errno = EPERM;
		return -1;
	}
	if (!ft)
		return 0;
	if (mode == 2)
		/* libpcap's compiler on app lcores that may run it at once. */
		pthread_mutex_lock(&c->api->sock_lock);
	int r;
	if (ps->kind == MP_SK_RAW)
		r = compile(c->api, &ps->raw_filter, ft->raw_pkt_filter, "raw_pkt_filter");
	else
		r = compile(c->api, &ps->syn_filter, ft->stream_syn_filter, "stream_syn_filter") < 0
		        ? -1
		        : compile(c->api, &ps->orphan_filter, ft->stream_orphan_filter, "stream_orphan_filter");
	if (mode == 2)
		pthread_mutex_unlock(&c->api->sock_lock);
	return r;
}

/* ---- events ------------------------------------------------------------------- */

event_t(mtcp_define_event)(event_t event, filter_t filter, struct filter_arg *arg)
{
	pthread_mutex_lock(&api_lock);
	reg_init();
	event_t e = evs_define(&mp_api_reg, event, filter, arg);
	pthread_mutex_unlock(&api_lock);
	return e;
}

event_t mtcp_alloc_event(event_t event)
{
	pthread_mutex_lock(&api_lock);
	reg_init();
	event_t e = evs_alloc_child(&mp_api_reg, event);
	pthread_mutex_unlock(&api_lock);
	return e;
}

int mtcp_raise_event(mctx_t mctx, event_t event)
{
	struct mp_appi *ai = mp_api_cb_appi(mctx);
	if (!ai || !ai->cur_d)
		return -1;
	if (evs_raise(&mp_api_reg, ai->cur_d, event) < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* The built-in event a (possibly nested) UDE hangs from. */
static event_t root_of(event_t ev)
{
	for (int guard = 0; guard < EVS_MAX_EV && !(ev & EVS_BUILTIN_MASK); guard++) {
		int b = __builtin_ctzll(ev);
		ev = mp_api_reg.ev[b].base;
	}
	return ev & EVS_BUILTIN_MASK;
}

/* Maps the hook an application gave to where the event is raised. Stream
 * sockets: MOS_ON_ORPHAN (and its UDEs) live at MOS_NULL whatever was given;
 * flow events given at MOS_NULL go to MOS_HK_RCV, where tcpsm raises
 * MOS_ON_CONN_NEW_DATA (the mOS guide registers its HTTP UDE at MOS_NULL
 * or MOS_HK_RCV). Raw sockets: MOS_NULL only, MOS_ON_PKT_IN-based events.
 * @return the hook, or 0 when the combination is not valid. */
static int mapped_hook(int kind, event_t ev, int hook)
{
	/* Pairs that can never fire are refused (EINVAL), as mOS refused them
	 * (scalable_event.c): at MOS_NULL the events of a flow's state, at a
	 * stream hook what tcpsm never raises there; the reserved built-ins
	 * anywhere. */
	const event_t never = MOS_ON_PKT_OUT | MOS_ON_CONN_SETUP | MOS_ON_DEBUG_MESSAGE;
	const event_t not_null = MOS_ON_CONN_START | MOS_ON_REXMIT | MOS_ON_TCP_STATE_CHANGE | MOS_ON_CONN_END;
	const event_t not_snd = MOS_ON_CONN_NEW_DATA | MOS_ON_ERROR;
	if (evs_hook_idx(hook) < 0)
		return 0;
	for (event_t rest = ev; rest; rest &= rest - 1) {
		event_t one = rest & -rest;
		if (evs_event_kind(&mp_api_reg, one) == EVS_K_NONE || (one & EVS_HOOK_BITS))
			return 0;
		event_t root = root_of(one);
		if (root & never)
			return 0;
		if (kind == MP_SK_RAW && (hook != MOS_NULL || !(root & (MOS_ON_PKT_IN | MOS_ON_ORPHAN))))
			return 0;
		if (kind != MP_SK_RAW && !(root & MOS_ON_ORPHAN) &&
		    ((hook == MOS_NULL && (root & not_null)) || (hook == MOS_HK_SND && (root & not_snd))))
			return 0;
	}
	if (kind == MP_SK_RAW)
		return MOS_NULL;
	event_t root = root_of(ev & -ev);
	if (root & MOS_ON_ORPHAN)
		return MOS_NULL;
	if (hook == MOS_NULL)
		return MOS_HK_RCV;
	return hook;
}

static int do_register(mctx_t mctx, int sock, event_t event, int hook, callback_t cb)
{
	struct mp_ctx *c;
	int mode = call_mode(mctx, &c);
	if (!mode)
		return -1;
	if (!event) {
		errno = EINVAL;
		return -1;
	}
	if (sock >= MP_API_SOCK_ACTIVE) {
		struct mp_appi *ai = mode == 2 ? mp_api_tl : NULL;
		struct mp_fsock *fs = ai ? mp_api_active(ai, sock) : NULL;
		if (!fs) {
			errno = EBADF;
			return -1;
		}
		int h = mapped_hook(MP_SK_STREAM, event, hook);
		if (!h) {
			errno = EINVAL;
			return -1;
		}
		int e = evs_set_change(ai->evs, &fs->set, event, h, MOS_SIDE_BOTH, cb);
		if (e < 0) {
			errno = e == -EINVAL ? EINVAL : ENOMEM;
			return -1;
		}
		ai->cur_fa->dirty = 1;
		return 0;
	}
	struct mp_psock *ps = psock_of(c, sock);
	if (!ps)
		return -1;
	int h = mapped_hook(ps->kind, event, hook);
	if (!h) {
		errno = EINVAL;
		return -1;
	}
	if (mode == 2) {
		/* From a callback: this instance's set changes for flows that
		 * start from now on; the old set stays readable (events stage). */
		struct mp_appi *ai = mp_api_tl;
		struct evs_set *s = evs_set_get(ai->pset[sock]);
		int e = evs_set_change(ai->evs, &s, event, h, MOS_SIDE_BOTH, cb);
		if (e < 0 || ai->n_stale == MP_API_STALE) {
			evs_set_put(ai->evs, s);
			errno = e == -EINVAL ? EINVAL : ENOMEM;
			return -1;
		}
		ai->stale[ai->n_stale++] = ai->pset[sock];
		__atomic_store_n(&ai->pset[sock], s, __ATOMIC_RELEASE);
		return 0;
	}
	/* Setup: validate now, record, replay at start. */
	if (ps->n_reg == MP_API_MAX_PREG) {
		errno = ENOMEM;
		return -1;
	}
	ps->reg[ps->n_reg++] = (struct mp_preg){event, h, cb};
	return 0;
}

int mtcp_register_callback(mctx_t mctx, int sock, event_t event, int hook_point, callback_t cb)
{
	return do_register(mctx, sock, event, hook_point, cb);
}

int mtcp_unregister_callback(mctx_t mctx, int sock, event_t event, int hook_point)
{
	return do_register(mctx, sock, event, hook_point, NULL);
}

/* ---- user contexts ---------------------------------------------------------- */

void mtcp_set_uctx(mctx_t mctx, int sock, void *uctx)
{
	struct mp_ctx *c;
	int mode = call_mode(mctx, &c);
	if (!mode)
		return;
	if (sock >= MP_API_SOCK_ACTIVE) {
		struct mp_fsock *fs = mode == 2 ? mp_api_active(mp_api_tl, sock) : NULL;
		if (!fs) {
			errno = EBADF;
			return;
		}
		fs->uctx = uctx;
		return;
	}
	struct mp_psock *ps = psock_of(c, sock);
	if (ps)
		ps->uctx = uctx;
}

void *mtcp_get_uctx(mctx_t mctx, int sock)
{
	struct mp_ctx *c;
	int mode = call_mode(mctx, &c);
	if (!mode)
		return NULL;
	if (sock >= MP_API_SOCK_ACTIVE) {
		struct mp_fsock *fs = mode == 2 ? mp_api_active(mp_api_tl, sock) : NULL;
		if (!fs) {
			errno = EBADF;
			return NULL;
		}
		return fs->uctx;
	}
	struct mp_psock *ps = psock_of(c, sock);
	return ps ? ps->uctx : NULL;
}
