/* The pipeline: wires stage instances with SP/SC rings, runs each lcore's list
 * of instances round-robin, and shuts down in pipeline order.
 *
 * Shutdown protocol: an instance is finished when (rx) its input has ended, or
 * (any other stage) every upstream instance is finished and its input rings
 * are empty; it then drains what it holds and publishes `done` with release
 * order. A downstream instance reads `done` with acquire order *before* it
 * checks its rings, so everything upstream enqueued before finishing is seen.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf_dyn.h>
#include <rte_ring.h>

#include <urcu-qsbr.h>

#include "conf.h"
#include "gen.h"
#include "pcapin.h"
#include "pipeline.h"
#include "stage.h"
#include "tsan.h"

static const struct mp_stage_type *const stage_types[MP_ST_N] = {
    &mp_stage_rx, &mp_stage_classify, &mp_stage_tcpsm, &mp_stage_events, &mp_stage_app, &mp_stage_tx,
};

/* Downstream stages of each stage, by output slot. */
static const int downstream[MP_ST_N][MP_MAX_OUT] = {
    [MP_ST_RX] = {MP_ST_CLASSIFY, -1},      [MP_ST_CLASSIFY] = {MP_ST_TCPSM, -1}, [MP_ST_TCPSM] = {MP_ST_EVENTS, -1},
    [MP_ST_EVENTS] = {MP_ST_APP, MP_ST_TX}, [MP_ST_APP] = {MP_ST_TX, -1},         [MP_ST_TX] = {-1, -1},
};

/* Retries held control mbufs in order. @return 1 when the hold is empty. */
static int flush_hold(struct mp_stage_inst *si, unsigned slot)
{
	struct mp_out *o = &si->out[slot];
	unsigned k = 0, n = si->n_hold[slot];
	for (unsigned i = 0; i < n; i++)
		MP_TSAN_RELEASE(si->hold[slot][i]);
	while (k < n &&
	       rte_ring_sp_enqueue(o->r[mp_dest(si, mp_meta(si->hold[slot][k]), o->n)], si->hold[slot][k]) == 0)
		k++;
	if (k) {
		memmove(si->hold[slot], si->hold[slot] + k, (n - k) * sizeof(si->hold[slot][0]));
		si->n_hold[slot] = n - k;
	}
	return si->n_hold[slot] == 0;
}

int mp_out_held(struct mp_stage_inst *si)
{
	int left = 0;
	for (unsigned s = 0; s < MP_MAX_OUT; s++)
		if (si->n_hold[s] && !flush_hold(si, s))
			left = 1;
	return left;
}

/* Refused mbufs: packets are freed and counted; control mbufs are held. */
static void refuse(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n)
{
	unsigned dropped = 0;
	for (unsigned i = 0; i < n; i++) {
		if (mp_meta(b[i])->kind == MP_PKT_CTRL) {
			if (si->n_hold[slot] < MP_HOLD) {
				si->hold[slot][si->n_hold[slot]++] = b[i];
				continue;
			}
			mp_ctr_add(si, MP_CC_CTRL_LOST, 1);
			rte_pktmbuf_free(b[i]);
			continue;
		}
		b[dropped++] = b[i];
	}
	if (dropped)
		mp_refused(si, b, dropped);
}

unsigned mp_out_send(struct mp_stage_inst *si, unsigned slot, struct rte_mbuf **b, unsigned n)
{
	struct mp_out *o = &si->out[slot];
	unsigned sent;

	if (unlikely(si->n_hold[slot]) && !flush_hold(si, slot)) {
		/* Keep control mbufs ahead of what follows them. */
		refuse(si, slot, b, n);
		return 0;
	}
	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++)
		MP_TSAN_RELEASE(b[i]); /* to the stage that dequeues it (tsan.h) */
	if (o->n == 1 || si->fanout_index) {
		sent = rte_ring_sp_enqueue_burst(o->r[o->n == 1 ? 0 : si->idx % o->n], (void **)b, n, NULL);
		if (unlikely(sent < n))
			refuse(si, slot, b + sent, n - sent);
	} else {
		/* Group by destination, keeping each group's packet order. */
		struct rte_mbuf *grp[MP_MAX_INST][256];
		unsigned cnt[MP_MAX_INST] = {0};
		for (unsigned i = 0; i < n; i++) {
			unsigned d = mp_dest(si, mp_meta(b[i]), o->n);
			grp[d][cnt[d]++] = b[i];
		}
		sent = 0;
		for (unsigned d = 0; d < o->n; d++) {
			if (!cnt[d])
				continue;
			unsigned k = rte_ring_sp_enqueue_burst(o->r[d], (void **)grp[d], cnt[d], NULL);
			if (unlikely(k < cnt[d]))
				refuse(si, slot, grp[d] + k, cnt[d] - k);
			sent += k;
		}
	}
	mp_ctr_add(si, MP_CC_OUT, sent);
	return sent;
}

/* ---- EAL ---------------------------------------------------------------- */

static int split_args(char *s, char **argv, int max)
{
	int n = 0;
	for (char *tok = strtok(s, " \t"); tok && n < max; tok = strtok(NULL, " \t"))
		argv[n++] = tok;
	return n;
}

/* ---- the workload generator as an input (bench/gen.h) ---------------------- */

/* The parsed `gen:` source: one parameter set, split over n_gen generators
 * (one per rx instance) when the ports are set up. */
static struct gen_params gen_p;
static unsigned n_gen;
static char gen_spec[MP_CONF_STR];
static int gen_rxcsum = 1; /* gen ports flag their frames RX_L4_CKSUM_GOOD, as an offloading NIC */
static uint8_t gen_pat[GEN_MAX_PATTERNS][GEN_MAX_PATTERN_LEN];

/* Reads a count with an optional k/m/g suffix (powers of 1024 when is_size,
 * of 1000 otherwise). @return 0, or -1 when s is not such a number. */
static int gen_num(const char *s, int is_size, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	uint64_t mul = 1, k = is_size ? 1024 : 1000;
	switch (*end) {
	case 'k':
	case 'K':
		mul = k;
		end++;
		break;
	case 'm':
	case 'M':
		mul = k * k;
		end++;
		break;
	case 'g':
	case 'G':
		mul = k * k * k;
		end++;
		break;
	default: break;
	}
	if (*end || (mul > 1 && x > UINT64_MAX / mul))
		return -1;
	*v = (uint64_t)x * mul;
	return 0;
}

/* Parses "flows=N,size=N,rexmit=F,seed=N,pkts=N,conns=N,gbps=F,servers=N,
 * pattern=STR,rxcsum=0|1" (every key optional) into gen_p (rxcsum into
 * gen_rxcsum). Counts are totals over all
 * rx instances. @return 0, or -EINVAL after printing what is wrong. */
static int gen_parse(const char *spec)
{
	char buf[MP_CONF_STR], *save = NULL;
	gen_params_default(&gen_p);
	gen_rxcsum = 1;
	snprintf(gen_spec, sizeof(gen_spec), "%s", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		uint64_t v = 0;
		char *end = NULL;
		int bad = 0;
		if (!eq)
			bad = 1;
		else if ((*eq++ = 0), !strcmp(t, "flows"))
			bad = gen_num(eq, 0, &v) || v == 0 || v > UINT32_MAX || ((gen_p.flows = (uint32_t)v), 0);
		else if (!strcmp(t, "size"))
			bad = gen_num(eq, 1, &v) || v > UINT32_MAX || ((gen_p.size = (uint32_t)v), 0);
		else if (!strcmp(t, "seed"))
			bad = gen_num(eq, 0, &gen_p.seed);
		else if (!strcmp(t, "pkts"))
			bad = gen_num(eq, 0, &gen_p.max_pkts);
		else if (!strcmp(t, "conns"))
			bad = gen_num(eq, 0, &gen_p.max_conns);
		else if (!strcmp(t, "servers"))
			bad = gen_num(eq, 0, &v) || v > GEN_MAX_SERVERS || ((gen_p.servers = (uint32_t)v), 0);
		else if (!strcmp(t, "rexmit"))
			bad = (gen_p.rexmit = strtod(eq, &end), end == eq || *end);
		else if (!strcmp(t, "gbps"))
			bad = (gen_p.gbps = strtod(eq, &end), end == eq || *end);
		else if (!strcmp(t, "rxcsum"))
			bad = gen_num(eq, 0, &v) || v > 1 || ((gen_rxcsum = (int)v), 0);
		else if (!strcmp(t, "pattern")) {
			size_t len = strlen(eq);
			bad = gen_p.n_patterns == GEN_MAX_PATTERNS || len == 0 || len > GEN_MAX_PATTERN_LEN;
			if (!bad) {
				struct gen_pattern *gp = &gen_p.pattern[gen_p.n_patterns];
				memcpy(gen_pat[gen_p.n_patterns], eq, len);
				gp->bytes = gen_pat[gen_p.n_patterns++];
				gp->len = (uint16_t)len;
				gp->offset = GEN_PAT_AUTO;
			}
		} else {
			fprintf(stderr,
			        "mospipe: input gen:%s: unknown key '%s' (keys: flows, size, rexmit, seed, pkts, "
			        "conns, gbps, servers, pattern, rxcsum)\n",
			        spec, t);
			return -EINVAL;
		}
		if (bad) {
			fprintf(stderr, "mospipe: input gen:%s: '%s%s%s' is not KEY=VALUE with a valid value\n", spec,
			        t, eq ? "=" : "", eq ? eq : "");
			return -EINVAL;
		}
	}
	/* Check the whole set once, as one generator would see it. */
	struct gen *g = gen_create(&gen_p);
	if (!g) {
		fprintf(stderr, "mospipe: input gen:%s: %s\n", spec,
		        errno == EINVAL ? gen_strerror() : strerror(errno));
		return -EINVAL;
	}
	gen_destroy(g);
	return 0;
}

/* Part `part` of the n_gen generators: an equal share of flows and limits
 * (the first parts take the remainders). */
static struct gen *gen_part(unsigned part, uint64_t start_ns)
{
	struct gen_params p = gen_p;
	uint64_t n = n_gen;
#define GEN_SHARE(x) ((x) / n + (part < (x) % n ? 1 : 0))
	p.flows = (uint32_t)GEN_SHARE(gen_p.flows);
	if (p.flows == 0)
		p.flows = 1;
	p.max_pkts = GEN_SHARE(gen_p.max_pkts);
	p.max_conns = GEN_SHARE(gen_p.max_conns);
	if ((gen_p.max_pkts && !p.max_pkts) || (gen_p.max_conns && !p.max_conns))
		p.max_pkts = p.max_conns = 1; /* a limit smaller than the parts: keep it a limit */
#undef GEN_SHARE
	p.part = part;
	p.n_parts = n_gen;
	p.start_ns = start_ns;
	return gen_create(&p);
}

static struct mp_port pending_ports[MP_MAX_PORTS];
static unsigned n_pending_ports;
/* Capture files rx reads itself (no vdev): added after the ethdevs. */
static struct mp_port file_ports[MP_MAX_PORTS];
static unsigned n_file_ports;

static int own_prefix;

/* EAL pins the calling thread to the main lcore's CPU, and every thread
 * created from it afterwards inherits that: the application's own threads
 * (midstat's reader), our flow-log writer, liburcu's call_rcu and hash-table
 * resize workers would all share the busiest datapath CPU and leave a free
 * one idle. So outside lcore_loop the main thread runs on the control set
 * (the CPUs it was allowed before EAL minus those of lcores, or all of them
 * when every CPU is an lcore), and pins itself to its lcore only while it
 * polls. */
static cpu_set_t ctrl_set, main_set;
static int ctrl_set_ok;

static void ctrl_affinity_setup(const cpu_set_t *before)
{
	unsigned lc;

	if (CPU_COUNT(before) == 0 || sched_getaffinity(0, sizeof(main_set), &main_set) < 0)
		return;
	ctrl_set = *before;
	RTE_LCORE_FOREACH(lc)
	{
		rte_cpuset_t cs = rte_lcore_cpuset(lc);
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &cs))
				CPU_CLR(cpu, &ctrl_set);
	}
	if (CPU_COUNT(&ctrl_set) == 0)
		ctrl_set = *before;
	if (pthread_setaffinity_np(pthread_self(), sizeof(ctrl_set), &ctrl_set) != 0)
		return;
	ctrl_set_ok = 1;
	/* liburcu starts its default call_rcu thread on first use, which is
	 * tcpsm's lcore: start it now, from the control set. */
	(void)get_default_call_rcu_data();
}

int mp_ctrl_cpuset(cpu_set_t *out)
{
	if (!ctrl_set_ok)
		return -1;
	*out = ctrl_set;
	return 0;
}

void mp_eal_cleanup(void)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (own_prefix && *dir) {
		DIR *d = opendir(dir);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(d), e->d_name, 0);
		if (d)
			closedir(d);
		rmdir(dir);
	}
}

/* Capture files mapped by mp_eal_setup() that no pipeline took over. */
static void drop_file_ports(void)
{
	for (unsigned i = 0; i < n_file_ports; i++) {
		mp_pcapfile_close(file_ports[i].pf);
		file_ports[i].pf = NULL;
	}
	n_file_ports = 0;
}

static int eal_setup(struct mp_conf *c, const char *prog);

int mp_eal_setup(struct mp_conf *c, const char *prog)
{
	int r = eal_setup(c, prog);
	if (r < 0)
		drop_file_ports();
	return r;
}

static int eal_setup(struct mp_conf *c, const char *prog)
{
	static char buf[8192];
	static char *argv[256];
	int argc = 0;
	size_t used = 0;
	char err[1024];

	const char *in = c->input;
	if (!*in && getenv("MOSPIPE_INPUT"))
		in = getenv("MOSPIPE_INPUT");

	argv[argc++] = (char *)prog;
	/* -l from the lcore map: main lcore is the first one listed. */
	int n = snprintf(buf + used, sizeof(buf) - used, "--lcores=");
	char *lc = buf + used;
	used += n;
	for (unsigned i = 0; i < c->n_lcores; i++)
		used += snprintf(buf + used, sizeof(buf) - used, "%s%u", i ? "," : "", c->lc[i].lcore);
	used++;
	argv[argc++] = lc;
	argv[argc++] = "--main-lcore";
	argv[argc] = buf + used;
	used += snprintf(argv[argc++], sizeof(buf) - used, "%u", c->lc[0].lcore) + 1;
	char *eal = buf + used;
	used += snprintf(eal, sizeof(buf) - used, "%s", c->eal_args) + 1;
	argc += split_args(eal, argv + argc, 200);

	n_pending_ports = 0;
	drop_file_ports();
	n_gen = 0;
	if (*in) {
		char spec[MP_CONF_STR];
		snprintf(spec, sizeof(spec), "%s", in);
		if (!strncmp(spec, "pcap:", 5)) {
			char *files = spec + 5, *save = NULL;
			for (char *f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
				struct mp_port *p = &pending_ports[n_pending_ports];
				if (n_pending_ports == MP_MAX_PORTS) {
					fprintf(stderr, "mospipe: too many inputs (at most %d)\n", MP_MAX_PORTS);
					return -EINVAL;
				}
				if (mp_pcap_prescan(f, &p->expect, &p->dlt, err, sizeof(err)) < 0) {
					fprintf(stderr, "mospipe: %s\n", err);
					return -EINVAL;
				}
				if (c->pcap_mmap && c->mode != MP_MODE_INLINE) {
					/* Read by rx itself; pcapng and others go to net_pcap. */
					char e2[512];
					struct mp_pcapfile *pf = mp_pcapfile_open(f, e2, sizeof(e2));
					if (pf) {
						struct mp_port *fp = &file_ports[n_file_ports++];
						*fp = *p;
						memset(p, 0, sizeof(*p));
						fp->kind = MP_PORT_PCAP;
						fp->pf = pf;
						fp->id = RTE_MAX_ETHPORTS;
						snprintf(fp->name, sizeof(fp->name), "%s", f);
						continue;
					}
				}
				if (strchr(f, ',') || strchr(f, ' ')) {
					fprintf(stderr,
					        "mospipe: %s: capture file names with ',' or ' ' are not supported by "
					        "net_pcap; rename the file\n",
					        f);
					return -EINVAL;
				}
				p->kind = MP_PORT_PCAP;
				snprintf(p->name, sizeof(p->name), "%s", f);
				argv[argc++] = "--vdev";
				argv[argc] = buf + used;
				used += snprintf(argv[argc], sizeof(buf) - used, "net_pcap%u,rx_pcap=%s",
				                 n_pending_ports, f) +
				        1;
				argc++;
				n_pending_ports++;
			}
		} else if (!strncmp(spec, "iface:", 6)) {
			char *ifs = spec + 6, *save = NULL;
			unsigned q =
			    c->n_inst[MP_ST_TX] > c->n_inst[MP_ST_RX] ? c->n_inst[MP_ST_TX] : c->n_inst[MP_ST_RX];
			for (char *f = strtok_r(ifs, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
				struct mp_port *p = &pending_ports[n_pending_ports];
				if (n_pending_ports == MP_MAX_PORTS) {
					fprintf(stderr, "mospipe: too many inputs (at most %d)\n", MP_MAX_PORTS);
					return -EINVAL;
				}
				char path[300];
				snprintf(path, sizeof(path), "/sys/class/net/%s", f);
				if (access(path, F_OK) != 0) {
					fprintf(stderr,
					        "mospipe: interface '%s' does not exist (see `ip link`; in a "
					        "namespace, run "
					        "mospipe inside it with `ip netns exec`)\n",
					        f);
					return -ENODEV;
				}
				p->kind = MP_PORT_IFACE;
				p->dlt = 1; /* DLT_EN10MB */
				snprintf(p->name, sizeof(p->name), "%s", f);
				argv[argc++] = "--vdev";
				argv[argc] = buf + used;
				used +=
				    snprintf(
				        argv[argc], sizeof(buf) - used,
				        "net_af_packet%u,iface=%s,qpairs=%u,blocksz=4096,framesz=2048,framecnt=4096",
				        n_pending_ports, f, q) +
				    1;
				argc++;
				n_pending_ports++;
			}
		} else if (!strncmp(spec, "gen:", 4) || !strcmp(spec, "gen")) {
			if (gen_parse(spec[3] ? spec + 4 : "") < 0)
				return -EINVAL;
			n_gen = c->n_inst[MP_ST_RX] ? c->n_inst[MP_ST_RX] : 1;
		} else {
			fprintf(
			    stderr,
			    "mospipe: input '%s' is not understood: use pcap:FILE, iface:IF[,IF] or gen:KEY=VAL,...\n",
			    in);
			return -EINVAL;
		}
	}
	if (used >= sizeof(buf) || argc >= 250) {
		fprintf(stderr, "mospipe: EAL arguments too long\n");
		return -E2BIG;
	}
	argv[argc] = NULL;
	/* EAL's own logs are only interesting on error. */
	int has_log = 0;
	for (int i = 0; i < argc; i++)
		if (!strncmp(argv[i], "--log-level", 11))
			has_log = 1;
	/* A private runtime dir per process: several mospipe processes (tests,
	 * apps) can run at once, each with its own telemetry socket. */
	if (!strstr(c->eal_args, "--file-prefix")) {
		argv[argc++] = buf + used;
		used += snprintf(argv[argc - 1], sizeof(buf) - used, "--file-prefix=mospipe-%d", (int)getpid()) + 1;
		own_prefix = 1;
	}
	if (!has_log) {
		argv[argc++] = "--log-level=lib.eal:error";
		argv[argc++] = "--log-level=pmd.*:error";
		argv[argc++] = "--log-level=lib.telemetry:error";
		argv[argc++] = "--log-level=user1:error"; /* rte_ip_frag's INFO lines */
		argv[argc] = NULL;
	}
	cpu_set_t before;
	if (sched_getaffinity(0, sizeof(before), &before) < 0)
		CPU_ZERO(&before);
	int ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "mospipe: EAL initialisation failed: %s (EAL arguments:", rte_strerror(rte_errno));
		for (int i = 1; i < argc; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, ")\n");
		return -rte_errno;
	}
	ctrl_affinity_setup(&before);
	return 0;
}

/* ---- ports ---------------------------------------------------------------- */

static int setup_ports(struct mp_pipeline *pl)
{
	struct mp_conf *c = pl->conf;
	unsigned n = rte_eth_dev_count_avail();
	uint16_t pid;

	if (n == 0 && n_gen == 0 && n_file_ports == 0) {
		fprintf(stderr, "mospipe: no input: give -r FILE, -i IF[,IF], [input] source in pipeline.conf, "
		                "MOSPIPE_INPUT=pcap:FILE, or a --vdev in [eal] args\n");
		return -ENODEV;
	}
	if (c->fanout == MP_FANOUT_INDEX && c->n_inst[MP_ST_RX] > 1 && n + n_file_ports > 0) {
		/* Ports are polled one queue each, spread over rx instances: the
		 * two directions of a flow may enter through different ones. */
		fprintf(stderr,
		        "mospipe: [pipeline] fanout = index with %u rx instances needs an input that keeps "
		        "each flow on one rx instance (gen: parts); with ports use fanout = hash\n",
		        c->n_inst[MP_ST_RX]);
		return -EINVAL;
	}
	if (n + n_gen + n_file_ports > MP_MAX_PORTS) {
		fprintf(stderr, "mospipe: %u ports, at most %d supported\n", n + n_gen + n_file_ports, MP_MAX_PORTS);
		return -E2BIG;
	}
	pl->n_ports = 0;
	RTE_ETH_FOREACH_DEV(pid)
	{
		struct mp_port *p = &pl->port[pl->n_ports];
		if (pl->n_ports < n_pending_ports)
			*p = pending_ports[pl->n_ports];
		else {
			memset(p, 0, sizeof(*p));
			p->dlt = 1;
			rte_eth_dev_get_name_by_port(pid, p->name);
		}
		p->id = pid;
		pl->n_ports++;
	}
	/* Generator ports after the ethdevs; with only them, rx instance i
	 * polls generator part i. Their id is no ethdev's, so any rte_eth_*
	 * call on one fails cleanly. The packet clock starts at the live clock:
	 * tcpsm advances its timers on live time when idle (a gen port is not
	 * offline), so the two must not be years apart. */
	unsigned n_eth = pl->n_ports;
	/* Capture files rx maps itself; the port owns the mapping from here. */
	for (unsigned i = 0; i < n_file_ports; i++) {
		pl->port[pl->n_ports++] = file_ports[i];
		file_ports[i].pf = NULL;
	}
	n_file_ports = 0;
	for (unsigned i = 0; i < n_gen; i++) {
		struct mp_port *p = &pl->port[pl->n_ports];
		memset(p, 0, sizeof(*p));
		p->kind = MP_PORT_GEN;
		p->id = RTE_MAX_ETHPORTS;
		p->dlt = 1; /* DLT_EN10MB */
		snprintf(p->name, sizeof(p->name), "gen:%.250s", gen_spec);
		p->gen = gen_part(i, pl->base_ns);
		p->rx_csum_good = (uint8_t)gen_rxcsum;
		if (!p->gen) {
			fprintf(stderr, "mospipe: input gen:%s: part %u: %s\n", gen_spec, i,
			        errno == EINVAL ? gen_strerror() : strerror(errno));
			return -EINVAL;
		}
		pl->n_ports++;
	}
	/* Pairing: default 0-1, 2-3 ...; a lone last port pairs with itself. */
	for (unsigned i = 0; i < pl->n_ports; i++)
		pl->port[i].peer = (i ^ 1) < pl->n_ports ? (uint16_t)(i ^ 1) : (uint16_t)i;
	if (*c->pairs) {
		char buf[MP_CONF_STR], *save = NULL;
		snprintf(buf, sizeof(buf), "%s", c->pairs);
		for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
			unsigned a, b;
			char extra;
			if (sscanf(t, "%u-%u%c", &a, &b, &extra) != 2 || a >= pl->n_ports || b >= pl->n_ports) {
				fprintf(stderr, "mospipe: [ports] pairs: '%s' is not A-B with ports below %u\n", t,
				        pl->n_ports);
				return -EINVAL;
			}
			pl->port[a].peer = (uint16_t)b;
			pl->port[b].peer = (uint16_t)a;
		}
	}

	unsigned ntx = c->n_inst[MP_ST_TX];
	for (unsigned i = 0; i < n_eth; i++) {
		struct rte_eth_conf ec;
		struct rte_eth_dev_info info;
		uint16_t id = pl->port[i].id;
		memset(&ec, 0, sizeof(ec));
		int r = rte_eth_dev_info_get(id, &info);
		if (r < 0) {
			fprintf(stderr, "mospipe: port %u (%s): cannot read device info: %s\n", id, pl->port[i].name,
			        rte_strerror(-r));
			return r;
		}
		/* A NIC that verifies TCP checksums saves classify a pass over
		 * every payload (it honours the mbuf's RX_L4_CKSUM flags). */
		ec.rxmode.offloads =
		    info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
		unsigned q = ntx;
		if (q > info.max_tx_queues)
			q = info.max_tx_queues;
		if (q == 0)
			q = 1;
		r = rte_eth_dev_configure(id, 1, (uint16_t)q, &ec);
		if (r == 0) {
			uint16_t nrx = (uint16_t)c->rx_desc, ntxd = (uint16_t)c->tx_desc;
			rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntxd);
			r = rte_eth_rx_queue_setup(id, 0, nrx, rte_eth_dev_socket_id(id), NULL, pl->pool);
			for (unsigned k = 0; r == 0 && k < q; k++)
				r = rte_eth_tx_queue_setup(id, (uint16_t)k, ntxd, rte_eth_dev_socket_id(id), NULL);
		}
		if (r == 0)
			r = rte_eth_dev_start(id);
		if (r < 0) {
			fprintf(stderr, "mospipe: port %u (%s): setup failed: %s\n", id, pl->port[i].name,
			        rte_strerror(-r));
			return r;
		}
		rte_eth_promiscuous_enable(id);
	}
	/* net_pcap registers the rx timestamp dynfield; look it up once. */
	pl->ts_off = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
	pl->ts_flag = bit >= 0 ? (1ULL << bit) : 0;
	return 0;
}

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

struct mp_pipeline *mp_pipeline_create(struct mp_conf *c)
{
	struct mp_pipeline *pl = rte_zmalloc("pipeline", sizeof(*pl), RTE_CACHE_LINE_SIZE);
	if (!pl) {
		fprintf(stderr, "mospipe: out of memory for the pipeline\n");
		rte_errno = ENOMEM;
		return NULL;
	}
	pl->conf = c;
	pl->ts_off = -1;
	pl->tsc_hz = rte_get_tsc_hz();
	pl->base_tsc = rte_rdtsc();
	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		pl->base_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}

	pl->pool = rte_pktmbuf_pool_create_by_ops("mp_pool", c->mbufs, c->mbuf_cache, MP_META_PRIV_SIZE,
	                                          (uint16_t)c->data_room, (int)rte_socket_id(), mp_tsan_pool_ops());
	if (!pl->pool) {
		fprintf(stderr,
		        "mospipe: cannot create a pool of %u mbufs of %u bytes: %s (lower [mempool] mbufs or raise "
		        "EAL -m)\n",
		        c->mbufs, c->data_room, rte_strerror(rte_errno));
		goto fail;
	}
	if (setup_ports(pl) < 0) {
		rte_errno = EINVAL;
		goto fail;
	}

	for (int s = 0; s < MP_ST_N; s++) {
		pl->n_inst[s] = c->n_inst[s];
		for (unsigned i = 0; i < c->n_inst[s]; i++) {
			pl->inst[s][i] = inst_new(pl, stage_types[s], i);
			if (!pl->inst[s][i]) {
				fprintf(stderr, "mospipe: out of memory for stage %s.%u\n", mp_stage_names[s], i);
				rte_errno = ENOMEM;
				goto fail;
			}
		}
	}
	/* Rings: one SP/SC ring per (upstream instance, downstream instance). */
	for (int s = 0; s < MP_ST_N; s++)
		for (int slot = 0; slot < MP_MAX_OUT; slot++) {
			int d = downstream[s][slot];
			if (d < 0)
				continue;
			for (unsigned i = 0; i < pl->n_inst[s]; i++) {
				struct mp_stage_inst *up = pl->inst[s][i];
				up->out[slot].n = pl->n_inst[d];
				for (unsigned j = 0; j < pl->n_inst[d]; j++) {
					char name[64]; /* fits RTE_RING_NAMESIZE: instances < MP_MAX_INST */
					struct mp_stage_inst *dn = pl->inst[d][j];
					snprintf(name, sizeof(name), "r%d.%u-%d.%u", s, i, d, j);
					struct rte_ring *r = rte_ring_create(name, c->ring_size, (int)rte_socket_id(),
					                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
					if (!r) {
						fprintf(stderr, "mospipe: cannot create ring %s of %u slots: %s\n",
						        name, c->ring_size, rte_strerror(rte_errno));
						goto fail;
					}
					up->out[slot].r[j] = r;
					dn->in[dn->n_in++] = r;
				}
			}
		}
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
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++)
			if (stage_types[s]->init && stage_types[s]->init(pl->inst[s][i]) < 0) {
				rte_errno = EINVAL;
				goto fail;
			}
	return pl;
fail:
	drop_file_ports();
	mp_pipeline_destroy(pl);
	return NULL;
}

/* ---- running -------------------------------------------------------------- */

static volatile sig_atomic_t signals_seen;
static struct mp_pipeline *signal_pl;

static void on_signal(int sig)
{
	(void)sig;
	if (signals_seen++ && signal_pl) {
		static const char msg[] = "mospipe: second signal, exiting now\n";
		ssize_t w = write(2, msg, sizeof(msg) - 1);
		(void)w;
		_exit(130);
	}
	if (signal_pl)
		mp_pipeline_stop(signal_pl);
}

void mp_pipeline_handle_signals(struct mp_pipeline *pl)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_pl = pl;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void mp_pipeline_stop(struct mp_pipeline *pl)
{
	__atomic_store_n(&pl->stop, 1, __ATOMIC_RELAXED);
}

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

/* tsan.h: EAL's launch and wait are not instrumented. */
static char tsan_launch, tsan_finish;

static int lcore_loop(void *arg)
{
	MP_TSAN_ACQUIRE(&tsan_launch); /* the set-up done before launch */
	struct mp_lcore_run *run = arg;
	unsigned left = run->n;

	int pinned = ctrl_set_ok && rte_lcore_id() == rte_get_main_lcore() &&
	             pthread_setaffinity_np(pthread_self(), sizeof(main_set), &main_set) == 0;
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
		if (!moved)
			rte_pause();
	}
	rcu_unregister_thread();
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(ctrl_set), &ctrl_set);
	MP_TSAN_RELEASE(&tsan_finish); /* to whoever waited for the lcores */
	return 0;
}

int mp_pipeline_launch(struct mp_pipeline *pl)
{
	pl->start_tsc = rte_rdtsc();
	MP_TSAN_RELEASE(&tsan_launch);
	for (unsigned i = 1; i < pl->n_runs; i++) {
		int r = rte_eal_remote_launch(lcore_loop, &pl->run[i], pl->run[i].lcore);
		if (r < 0) {
			fprintf(stderr, "mospipe: cannot launch lcore %u: %s\n", pl->run[i].lcore, rte_strerror(-r));
			return r;
		}
	}
	return 0;
}

int mp_pipeline_run_main(struct mp_pipeline *pl)
{
	lcore_loop(&pl->run[0]);
	rte_eal_mp_wait_lcore();
	MP_TSAN_ACQUIRE(&tsan_finish);
	pl->end_tsc = rte_rdtsc();
	return 0;
}

int mp_pipeline_run(struct mp_pipeline *pl)
{
	int r = mp_pipeline_launch(pl);
	if (r < 0) {
		mp_pipeline_stop(pl);
		rte_eal_mp_wait_lcore();
		MP_TSAN_ACQUIRE(&tsan_finish);
		return r;
	}
	return mp_pipeline_run_main(pl);
}

void mp_pipeline_destroy(struct mp_pipeline *pl)
{
	if (!pl)
		return;
	mp_report_telemetry_unregister(pl);
	for (unsigned i = 0; i < pl->n_ports; i++) {
		if (pl->port[i].kind == MP_PORT_GEN) {
			gen_destroy(pl->port[i].gen);
			pl->port[i].gen = NULL;
			continue;
		}
		if (pl->port[i].pf) {
			mp_pcapfile_close(pl->port[i].pf);
			pl->port[i].pf = NULL;
			continue;
		}
		rte_eth_dev_stop(pl->port[i].id);
		rte_eth_dev_close(pl->port[i].id);
	}
	for (int s = MP_ST_N - 1; s >= 0; s--)
		for (unsigned i = 0; i < pl->n_inst[s]; i++) {
			struct mp_stage_inst *si = pl->inst[s][i];
			if (!si)
				continue;
			if (si->type->fini)
				si->type->fini(si);
			for (unsigned k = 0; k < si->n_in; k++) {
				struct rte_mbuf *m;
				while (rte_ring_sc_dequeue(si->in[k], (void **)&m) == 0)
					rte_pktmbuf_free(m);
				rte_ring_free(si->in[k]);
			}
		}
	for (int s = 0; s < MP_ST_N; s++)
		for (unsigned i = 0; i < pl->n_inst[s]; i++)
			if (pl->inst[s][i]) {
				rte_free(pl->inst[s][i]->ctr);
				rte_free(pl->inst[s][i]);
			}
	rte_mempool_free(pl->pool);
	rte_free(pl);
}
