/* The mOS API, part 1: lifecycle (mtcp_init .. mtcp_destroy), contexts,
 * sockets and filters, callback registration, user-defined events and user
 * contexts. Setup calls run on the main thread before the first
 * mtcp_app_join(); callback calls run on the app lcore (mp_api_tl tells
 * which instance). See include/mos_api.h and include/mtcp_api.h.
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
#include <rte_ring.h>

#include "app.h"
#include "bpf.h"
#include "conf.h"
#include "evset.h"
#include "pipeline.h"
#include "reasm.h"
#include "tcpsm_app.h"

struct mp_api mp_api_g;
struct evs_registry mp_api_reg;
__thread struct mp_appi *mp_api_tl;

static int reg_ready;
static struct mp_conf api_conf;

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
	struct mp_api *a = &mp_api_g;
	if (!a->inited || !mctx)
		return NULL;
	for (unsigned i = 0; i < a->n_ctx; i++)
		if (a->ctx[i] && &a->ctx[i]->pub == mctx)
			return a->ctx[i]->alive ? a->ctx[i] : NULL;
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
	if (!__atomic_load_n(&mp_api_g.started, __ATOMIC_ACQUIRE) && is_setup_thread())
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
	if (!fa || fa == &mp_api_g.none || sock < MP_API_SOCK_ACTIVE) {
		errno = EBADF;
		return NULL;
	}
	unsigned rel = (unsigned)(sock - MP_API_SOCK_ACTIVE);
	if (rel / MP_API_FOLLOW != fa->idx || rel % MP_API_FOLLOW >= fa->n || fa->s[rel % MP_API_FOLLOW].closed) {
		errno = EBADF;
		return NULL;
	}
	return &fa->s[rel % MP_API_FOLLOW];
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
	m->max_num_buffers = (int)(c->buf_pool > INT32_MAX ? INT32_MAX : c->buf_pool);
	m->rcvbuf_size = (int)c->buf_size;
	m->tcp_timewait = (int)(c->time_wait_ms / 1000);
	m->tcp_timeout = (int)(c->idle_timeout_ms / 1000);
	m->num_app = 1;
}

static uint32_t want_size_of(void *app, unsigned side)
{
	struct mp_flowapp *fa = app;
	return fa->want_size[side & 1];
}

static int make_flowapp_table(struct mp_api *a)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < a->conf->n_inst[MP_ST_TCPSM]; i++)
		n += a->conf->flows + a->conf->flows / 16 + 256;
	if (n > (1u << 26))
		n = 1u << 26;
	a->n_fa = (uint32_t)n;
	a->fa = calloc(n, sizeof(*a->fa));
	a->fa_free = rte_ring_create("mp_api_fa", rte_align32pow2((uint32_t)n + 1), (int)rte_socket_id(), 0);
	if (!a->fa || !a->fa_free) {
		fprintf(stderr, "mospipe: mtcp_init: no memory for %" PRIu64 " flow states\n", n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		a->fa[i].idx = i;
		rte_ring_enqueue(a->fa_free, &a->fa[i]);
	}
	return 0;
}

int mtcp_init(const char *config_file)
{
	struct mp_api *a = &mp_api_g;
	char err[1200];

	if (a->inited) {
		errno = EALREADY;
		return -1;
	}
	reg_init();
	mp_conf_defaults(&api_conf);
	if (config_file) {
		if (access(config_file, R_OK) != 0) {
			int e = errno;
			fprintf(stderr, "mtcp_init: configuration file '%s': %s\n", config_file, strerror(e));
			errno = e == ENOENT ? ENOENT : EINVAL;
			return -1;
		}
		if (mp_conf_load(&api_conf, config_file, err, sizeof(err)) < 0) {
			fprintf(stderr, "mtcp_init: %s\n", err);
			errno = EINVAL;
			return -1;
		}
	}
	/* Applications only pass a conf path: the environment may adjust keys. */
	if (mp_conf_apply_env(&api_conf, err, sizeof(err)) < 0 || mp_conf_finish(&api_conf, err, sizeof(err)) < 0) {
		fprintf(stderr, "mtcp_init: %s\n", err);
		errno = EINVAL;
		return -1;
	}
	int r = mp_eal_setup(&api_conf, "mos-app");
	if (r < 0) {
		errno = r == -ENODEV ? ENODEV : EINVAL;
		return -1;
	}
	a->conf = &api_conf;
	a->pl = mp_pipeline_create(&api_conf);
	if (!a->pl) {
		mp_eal_cleanup();
		errno = rte_errno == ENOMEM ? ENOMEM : ENODEV;
		return -1;
	}
	/* Default signal handling, as for the bare stack: the first SIGINT or
	 * SIGTERM stops rx and the pipeline drains (every open flow gets
	 * CONN_END, join returns); a second one forces the exit. An application
	 * handler registered with mtcp_register_signal replaces it. */
	mp_pipeline_handle_signals(a->pl);
	fill_mconf(a);
	a->n_appi = a->pl->n_inst[MP_ST_APP];
	for (unsigned j = 0; j < a->n_appi; j++) {
		struct mp_appi *ai = calloc(1, sizeof(*ai));
		struct evs_conf ec = {.reg = &mp_api_reg, .max_sets = 1u << 20};
		if (!ai || !(ai->evs = evs_create(&ec))) {
			free(ai);
			fprintf(stderr, "mtcp_init: out of memory\n");
			errno = ENOMEM;
			return -1;
		}
		ai->idx = j;
		ai->si = a->pl->inst[MP_ST_APP][j];
		a->appi[j] = ai;
	}
	if (make_flowapp_table(a) < 0) {
		errno = ENOMEM;
		return -1;
	}
	tcpsm_app_want_size = want_size_of;
	a->batch_newdata = getenv("MOSPIPE_NEWDATA_BATCH") && atoi(getenv("MOSPIPE_NEWDATA_BATCH")) > 0;
	a->pl->app = a;
	a->inited = 1;
	return 0;
}

int mtcp_getconf(struct mtcp_conf *conf)
{
	if (!mp_api_g.inited) {
		errno = EPERM;
		return -1;
	}
	if (!conf) {
		errno = EINVAL;
		return -1;
	}
	*conf = mp_api_g.mconf;
	return 0;
}

int mtcp_setconf(const struct mtcp_conf *conf)
{
	struct mp_api *a = &mp_api_g;
	if (!a->inited) {
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
	    conf->rcvbuf_size < 0) {
		errno = EINVAL;
		return -1;
	}
	/* Only num_cores changes anything once the pipeline exists: pools and
	 * tables are sized from pipeline.conf. */
	a->mconf.num_cores = conf->num_cores;
	return 0;
}

mctx_t mtcp_create_context(int cpu)
{
	struct mp_api *a = &mp_api_g;
	if (!a->inited) {
		errno = EPERM;
		return NULL;
	}
	pthread_mutex_lock(&api_lock);
	int e = 0;
	struct mp_ctx *c = NULL;
	if (cpu < 0 || cpu >= a->mconf.num_cores || a->started)
		e = EINVAL;
	else if (a->ctx[cpu])
		e = EEXIST;
	else if (!(c = calloc(1, sizeof(*c))))
		e = ENOMEM;
	if (!e) {
		c->pub.cpu = cpu;
		c->idx = (unsigned)cpu;
		c->creator = pthread_self();
		c->alive = 1;
		a->ctx[cpu] = c;
		if ((unsigned)cpu + 1 > a->n_ctx)
			a->n_ctx = (unsigned)cpu + 1;
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
	if (mp_api_g.pl)
		mp_pipeline_stop(mp_api_g.pl);
	return 0;
}

static void on_signal(int sig)
{
	struct mp_api *a = &mp_api_g;
	if (a->pl)
		mp_pipeline_stop(a->pl);
	if (sig > 0 && sig < 65 && a->sig[sig])
		a->sig[sig](sig);
}

mtcp_sighandler_t mtcp_register_signal(int signum, mtcp_sighandler_t handler)
{
	struct sigaction sa;
	if (signum <= 0 || signum >= 65 || signum == SIGKILL || signum == SIGSTOP) {
		errno = EINVAL;
		return (mtcp_sighandler_t)SIG_ERR;
	}
	mp_api_g.sig[signum] = handler;
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
				a->any_raw = 1;
			if (ps->kind == MP_SK_STREAM && !ps->closed) {
				a->any_stream = 1;
				if (evs_set_mask_any(s, EVS_HK_NULL))
					a->any_orphan = 1;
				for (int sd = 0; sd < 2; sd++)
					if (ps->bufsz[sd] != 0)
						reader |= (int)TCPSM_CTL_READER(sd);
			}
		}
	}
	/* New flows start in reader mode when some stream socket may peek: the
	 * events stage sees a flow only after tcpsm stored its first bytes. */
	tcpsm_app_default_ctl = (uint32_t)reader;
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
	struct mp_api *a = &mp_api_g;
	struct mp_ctx *c = live_ctx(mctx);
	if (!c) {
		errno = EACCES;
		return;
	}
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
	struct mp_api *a = &mp_api_g;
	if (!a->inited) {
		errno = EPERM;
		return -1;
	}
	mp_pipeline_destroy(a->pl);
	for (unsigned j = 0; j < a->n_appi; j++) {
		struct mp_appi *ai = a->appi[j];
		evs_destroy(ai->evs);
		free(ai);
	}
	for (unsigned i = 0; i < a->n_ctx; i++) {
		struct mp_ctx *c = a->ctx[i];
		if (!c)
			continue;
		for (unsigned k = 0; k < c->n_psock; k++) {
			mp_bpf_free(c->psock[k].syn_filter);
			mp_bpf_free(c->psock[k].orphan_filter);
			mp_bpf_free(c->psock[k].raw_filter);
		}
		free(c);
	}
	rte_ring_free(a->fa_free);
	free(a->fa);
	mp_eal_cleanup();
	tcpsm_app_default_ctl = 0;
	tcpsm_app_want_size = NULL;
	memset(a, 0, sizeof(*a));
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
	if (mp_api_g.started || !is_setup_thread()) {
		/* New passive sockets after start would not be seen by flows
		 * already running on other lcores' tables. */
		errno = EPERM;
		return -1;
	}
	if (c->n_psock == MP_API_MAX_PASSIVE) {
		errno = ENFILE;
		return -1;
	}
	unsigned k = c->n_psock++;
	struct mp_psock *ps = &c->psock[k];
	memset(ps, 0, sizeof(*ps));
	ps->kind = type == MOS_SOCK_MONITOR_RAW ? MP_SK_RAW : MP_SK_STREAM;
	ps->bufsz[0] = ps->bufsz[1] = -1;
	ps->overlap[0] = ps->overlap[1] = -1;
	return (int)k;
}

/* @return the passive socket sock of c, or NULL with errno EBADF. */
static struct mp_psock *psock_of(struct mp_ctx *c, int sock)
{
	if (sock < 0 || (unsigned)sock >= c->n_psock || c->psock[sock].kind == MP_SK_FREE || c->psock[sock].closed) {
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

static int compile(struct mp_bpf **dst, const char *expr, const char *what)
{
	char err[512];
	if (!expr)
		return 0;
	int dlt = mp_api_g.pl && mp_api_g.pl->n_ports ? mp_api_g.pl->port[0].dlt : 1;
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
	if (mode != 1) {
		errno = EPERM;
		return -1;
	}
	if (sock >= MP_API_SOCK_ACTIVE) {
		errno = ENOPROTOOPT;
		return -1;
	}
	struct mp_psock *ps = psock_of(c, sock);
	if (!ps)
		return -1;
	if (!ft)
		return 0;
	if (ps->kind == MP_SK_RAW)
		return compile(&ps->raw_filter, ft->raw_pkt_filter, "raw_pkt_filter");
	if (compile(&ps->syn_filter, ft->stream_syn_filter, "stream_syn_filter") < 0)
		return -1;
	return compile(&ps->orphan_filter, ft->stream_orphan_filter, "stream_orphan_filter");
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
	if (evs_hook_idx(hook) < 0)
		return 0;
	for (event_t rest = ev; rest; rest &= rest - 1) {
		event_t one = rest & -rest;
		if (evs_event_kind(&mp_api_reg, one) == EVS_K_NONE || (one & EVS_HOOK_BITS))
			return 0;
		event_t root = root_of(one);
		if (kind == MP_SK_RAW && (hook != MOS_NULL || !(root & (MOS_ON_PKT_IN | MOS_ON_ORPHAN))))
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
