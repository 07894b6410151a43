/* Where packets come from, and everything decided before the pipeline exists:
 * resolving the input (`pcap:` files, `iface:` interfaces, the `gen:`
 * workload generator, or ports given as EAL --vdev arguments), building the
 * EAL arguments and calling rte_eal_init, the CPUs left for threads that are
 * not on the datapath, and, once the pipeline has a mempool, configuring and
 * starting its ports (mp_input_ports_setup) and closing them at the end.
 *
 * Why it is split from pipeline.c: EAL is initialised once per process and
 * the ports are created by it, so the input is resolved before any pipeline
 * is built and handed over when one is. Everything resolved in between lives
 * in one struct (in_g below) rather than in loose statics.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf_dyn.h>

#include <urcu-qsbr.h>

#include "conf.h"
#include "gen.h"
#include "hash.h"
#include "input.h"
#include "pcapin.h"
#include "pipeline.h"
#include "tsccal.h"

#define MP_EAL_MAX_ARGS 256

/* What mp_eal_setup() resolved, waiting for mp_pipeline_create() to take it,
 * and the process-wide facts EAL's initialisation leaves behind.
 *
 * Concurrency: written by mp_eal_setup() and read by the pipeline's build
 * and destroy, all on the main thread. The CPU sets are read by the main
 * lcore's loop (lcore_loop in pipeline.c, the same thread) and copied out by
 * mp_ctrl_cpuset() on any thread after mp_eal_setup() returned. */
static struct mp_input_state {
	/* EAL keeps pointers into its argv: the strings stay here for the
	 * life of the process. */
	struct {
		char buf[8192];
		char *argv[MP_EAL_MAX_ARGS + 1];
		size_t used;
		int argc;
		int overflow;                         /* buf or argv ran out: the arguments are incomplete */
		char *init_argv[MP_EAL_MAX_ARGS + 1]; /* the copy rte_eal_init may reorder */
	} eal;
	/* Ports EAL creates from our --vdev arguments, in EAL's port order
	 * (net_pcap files, net_af_packet interfaces). */
	struct mp_port pending[MP_MAX_PORTS];
	unsigned n_pending;
	long tsccal_ns; /* the TSC calibration's shortened window (tsccal.h), 0 = DPDK's own */
	/* Capture files rx maps and reads itself (no vdev): placed after the
	 * ethdevs; a pipeline takes over their mappings. */
	struct mp_port file[MP_MAX_PORTS];
	unsigned n_file;
	/* Each mapped file is validated and counted (mp_pcapfile_scan_until)
	 * by a thread of its own while EAL starts: on a 2.9 GB capture
	 * libpcap's pre-scan read the whole file through stdio first (0.6 s of
	 * a 2 s run). The walk over the mapping's record headers is memory
	 * bound (0.31 s there, 0.21 s of it with every page already mapped),
	 * longer than EAL's start (0.17 s), and rx reads the same headers
	 * again: once EAL is up (scans_join sets scan_stop) a scan stops,
	 * having checked at least SCAN_MIN_BYTES (every file up to that size
	 * is refused before a packet is read, as before), and rx meets any
	 * damage in the rest itself (mp_pcapfile_next, port->damaged; the
	 * pipeline then ends with the scan's message). Joined before anyone
	 * reads the count, and always before the mapping goes away. */
	int scan_stop;
	/* The flow hash's seed, drawn before the scans hashed records for
	 * replicated pipelines; the next pipeline takes it (mp_input_hash_seed). */
	uint64_t key_seed;
	struct file_scan {
		pthread_t t;
		int started, rc;
		uint64_t min_bytes; /* checked before the run whatever EAL does */
		uint64_t count, upto;
		const struct mp_pcapfile *pf;
		struct mp_pcapidx *idx; /* filled for replicated pipelines, else NULL */
		char path[PATH_MAX];
		char err[768];
	} scan[MP_MAX_PORTS];
	/* The parsed `gen:` source: one parameter set, split over n_parts
	 * generators (one per rx instance) when the ports are set up. */
	struct {
		struct gen_params p;
		unsigned n_parts; /* 0: no generator input */
		char spec[MP_CONF_STR];
		int rxcsum; /* flag frames RX_L4_CKSUM_GOOD, as an offloading NIC would */
		uint8_t pat[GEN_MAX_PATTERNS][GEN_MAX_PATTERN_LEN];
	} gen;
	/* We chose EAL's --file-prefix: mp_eal_cleanup removes its runtime dir. */
	int own_prefix;
	/* EAL pins the calling thread to the main lcore's CPU, and every thread
	 * created from it afterwards inherits that: the application's own
	 * threads (midstat's reader), our flow-log writer, liburcu's call_rcu
	 * and hash-table resize workers would all share the busiest datapath
	 * CPU and leave a free one idle. So outside its lcore loop the main
	 * thread runs on `ctrl` (the CPUs it was allowed before EAL minus those
	 * of lcores, or all of them when every CPU is an lcore), and pins
	 * itself to `main` (its lcore's) only while it polls. */
	struct {
		cpu_set_t ctrl, main;
		int ok; /* the main thread runs on ctrl: the sets are valid */
	} cpu;
} in_g;

/* ---- EAL arguments -------------------------------------------------------- */

/* Appends one printf-formatted argument. @return 0, or -E2BIG when the
 * storage is full (remembered in eal.overflow and reported once). */
static int __attribute__((format(printf, 1, 2))) eal_arg(const char *fmt, ...)
{
	typeof(in_g.eal) *e = &in_g.eal;
	size_t room = sizeof(e->buf) - e->used;
	va_list ap;

	if (e->argc >= MP_EAL_MAX_ARGS || room == 0) {
		e->overflow = 1;
		return -E2BIG;
	}
	va_start(ap, fmt);
	int n = vsnprintf(e->buf + e->used, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		e->overflow = 1;
		return -E2BIG;
	}
	e->argv[e->argc++] = e->buf + e->used;
	e->argv[e->argc] = NULL;
	e->used += (size_t)n + 1;
	return 0;
}

/* ---- the workload generator as an input (runtime/gen.h) ------------------- */

/* Reads a count (k, m, g: powers of 1000) or, when is_size, a size (K, M, G,
 * KiB...: powers of 1024), with conf.c's number reader. @return 0 or -1. */
static int gen_num(const char *s, int is_size, uint64_t *v)
{
	return mp_parse_scaled(s, is_size ? mp_units_size : mp_units_count, 1, v) < 0 ? -1 : 0;
}

/* Parses "flows=N,size=N,rexmit=F,seed=N,pkts=N,conns=N,gbps=F,servers=N,
 * pattern=STR,rxcsum=0|1,syn_flood=N,ack_flood=N,flood_sources=N,
 * flood_data=N" (every key optional) into in_g.gen. Counts are
 * totals over all rx instances. @return 0, or -EINVAL after printing what
 * is wrong. */
static int gen_parse(const char *spec)
{
	typeof(in_g.gen) *gs = &in_g.gen;
	struct gen_params *gp = &gs->p;
	char buf[MP_CONF_STR], *save = NULL;

	gen_params_default(gp);
	gs->rxcsum = 1;
	snprintf(gs->spec, sizeof(gs->spec), "%s", spec);
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		uint64_t v = 0;
		char *end = NULL;
		int bad = 0;
		if (!eq)
			bad = 1;
		else if ((*eq++ = 0), !strcmp(t, "flows"))
			bad = gen_num(eq, 0, &v) || v == 0 || v > UINT32_MAX || ((gp->flows = (uint32_t)v), 0);
		else if (!strcmp(t, "size"))
			bad = gen_num(eq, 1, &v) || v > UINT32_MAX || ((gp->size = (uint32_t)v), 0);
		else if (!strcmp(t, "seed"))
			bad = gen_num(eq, 0, &gp->seed);
		else if (!strcmp(t, "pkts"))
			bad = gen_num(eq, 0, &gp->max_pkts);
		else if (!strcmp(t, "conns"))
			bad = gen_num(eq, 0, &gp->max_conns);
		else if (!strcmp(t, "servers"))
			bad = gen_num(eq, 0, &v) || v > GEN_MAX_SERVERS || ((gp->servers = (uint32_t)v), 0);
		else if (!strcmp(t, "rexmit"))
			bad = (gp->rexmit = strtod(eq, &end), end == eq || *end);
		else if (!strcmp(t, "gbps"))
			bad = (gp->gbps = strtod(eq, &end), end == eq || *end);
		else if (!strcmp(t, "rxcsum"))
			bad = gen_num(eq, 0, &v) || v > 1 || ((gs->rxcsum = (int)v), 0);
		else if (!strcmp(t, "syn_flood"))
			bad = gen_num(eq, 0, &gp->flood_syns);
		else if (!strcmp(t, "ack_flood"))
			bad = gen_num(eq, 0, &gp->flood_acks);
		else if (!strcmp(t, "flood_sources"))
			bad = gen_num(eq, 0, &v) || v == 0 || v > UINT32_MAX || ((gp->flood_sources = (uint32_t)v), 0);
		else if (!strcmp(t, "flood_data"))
			bad = gen_num(eq, 0, &v) || v > UINT32_MAX || ((gp->flood_data = (uint32_t)v), 0);
		else if (!strcmp(t, "pattern")) {
			size_t len = strlen(eq);
			bad = gp->n_patterns == GEN_MAX_PATTERNS || len == 0 || len > GEN_MAX_PATTERN_LEN;
			if (!bad) {
				struct gen_pattern *pat = &gp->pattern[gp->n_patterns];
				memcpy(gs->pat[gp->n_patterns], eq, len);
				pat->bytes = gs->pat[gp->n_patterns++];
				pat->len = (uint16_t)len;
				pat->offset = GEN_PAT_AUTO;
			}
		} else {
			fprintf(stderr,
			        "mospipe: input gen:%s: unknown key '%s' (keys: flows, size, rexmit, seed, pkts, "
			        "conns, gbps, servers, pattern, rxcsum, syn_flood, ack_flood, flood_sources, "
			        "flood_data)\n",
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
	struct gen *g = gen_create(gp);
	if (!g) {
		fprintf(stderr, "mospipe: input gen:%s: %s\n", spec,
		        errno == EINVAL   ? gen_strerror()
		        : errno == ENOMEM ? "out of memory for the generator's streams"
		                          : strerror(errno));
		return -EINVAL;
	}
	gen_destroy(g);
	return 0;
}

/* Part `part` of the n_parts generators: an equal share of flows and limits
 * (the first parts take the remainders). */
static struct gen *gen_part(unsigned part, uint64_t start_ns)
{
	const struct gen_params *all = &in_g.gen.p;
	struct gen_params p = *all;
	uint64_t n = in_g.gen.n_parts;
#define GEN_SHARE(x) ((x) / n + (part < (x) % n ? 1 : 0))
	p.flows = (uint32_t)GEN_SHARE(all->flows);
	if (p.flows == 0)
		p.flows = 1;
	p.max_pkts = GEN_SHARE(all->max_pkts);
	p.max_conns = GEN_SHARE(all->max_conns);
	p.flood_syns = GEN_SHARE(all->flood_syns);
	p.flood_acks = GEN_SHARE(all->flood_acks);
	if ((all->max_pkts && !p.max_pkts) || (all->max_conns && !p.max_conns))
		p.max_pkts = p.max_conns = 1; /* a limit smaller than the parts: keep it a limit */
#undef GEN_SHARE
	p.part = part;
	p.n_parts = in_g.gen.n_parts;
	p.start_ns = start_ns;
	return gen_create(&p);
}

/* ---- inputs -------------------------------------------------------------- */

/* The next pending ethdev port, or NULL after printing that there are too many. */
static struct mp_port *pending_port(void)
{
	if (in_g.n_pending == MP_MAX_PORTS || in_g.n_pending + in_g.n_file == MP_MAX_PORTS) {
		fprintf(stderr, "mospipe: too many inputs (at most %d)\n", MP_MAX_PORTS);
		return NULL;
	}
	struct mp_port *p = &in_g.pending[in_g.n_pending];
	memset(p, 0, sizeof(*p));
	return p;
}

/* A mapped file this size or smaller is checked whole before the run. */
#define SCAN_MIN_BYTES (64u << 20)

static void *scan_main(void *arg)
{
	struct file_scan *fs = arg;
	fs->rc = mp_pcapfile_scan_idx(fs->pf, fs->path, &in_g.scan_stop, fs->min_bytes, &fs->count, &fs->upto, fs->idx,
	                              fs->err, sizeof(fs->err));
	return NULL;
}

/* Stops the scans of the mapped files and waits for them; each file's count
 * becomes its port's `expect` (for a file the scan left unfinished, a bound:
 * every record it did not walk takes 16 bytes at least). With report, prints
 * why a file was refused. @return 0, or -EINVAL when a file is damaged. */
static int scans_join(int report)
{
	int r = 0;
	__atomic_store_n(&in_g.scan_stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < in_g.n_file; i++) {
		struct file_scan *fs = &in_g.scan[i];
		if (fs->started) {
			pthread_join(fs->t, NULL);
			fs->started = 0;
		}
		if (fs->rc < 0) {
			if (report && r == 0)
				fprintf(stderr, "mospipe: %s\n", fs->err);
			r = -EINVAL;
		} else {
			in_g.file[i].expect = fs->count + (fs->pf->size - fs->upto) / 16;
		}
		in_g.file[i].idx = fs->idx;
		fs->idx = NULL;
	}
	return r;
}

/* pcap:FILE[,FILE]: classic pcap files in monitor mode are mapped and read
 * by rx itself, scanned by a thread while EAL starts (scans_join); others
 * (pcapng, inline mode, pcap_mmap = no) are pre-scanned by libpcap (their
 * packet count marks the end of input) and become net_pcap vdevs.
 * @return 0 or -EINVAL after printing why. */
static int input_pcap(const struct mp_conf *c, char *files)
{
	char err[1024], *save = NULL;
	int r;

	__atomic_store_n(&in_g.scan_stop, 0, __ATOMIC_RELAXED); /* the scans run until EAL is up */

	for (char *f = strtok_r(files, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		struct mp_port *p = pending_port();
		if (!p)
			return -EINVAL;
		if (c->pcap_mmap && c->mode != MP_MODE_INLINE) {
			char e2[512];
			struct mp_pcapfile *pf = mp_pcapfile_open(f, e2, sizeof(e2));
			if (pf) {
				/* The mapped reader has every record's original
				 * length itself; libpcap reads the header only
				 * (link type), the scan thread the rest. */
				r = mp_pcap_header(f, &p->dlt, err, sizeof(err));
				if (r < 0) {
					mp_pcapfile_close(pf);
					fprintf(stderr, "mospipe: %s\n", err);
					return r;
				}
				unsigned i = in_g.n_file++;
				struct mp_port *fp = &in_g.file[i];
				*fp = *p;
				fp->kind = MP_PORT_PCAP;
				fp->pf = pf;
				fp->id = RTE_MAX_ETHPORTS;
				snprintf(fp->name, sizeof(fp->name), "%s", f);
				struct file_scan *fs = &in_g.scan[i];
				fs->pf = pf;
				fs->rc = 0;
				fs->count = 0;
				fs->upto = 24; /* none checked yet (scans_join's bound) */
				fs->idx = NULL;
				if (c->pcap_check == MP_PCAPCHECK_NONE)
					continue; /* rx meets any damage */
				fs->min_bytes = c->pcap_check == MP_PCAPCHECK_WHOLE ? UINT64_MAX : SCAN_MIN_BYTES;
				/* Replicated pipelines (rx's split, stages/rx/rx.c) sort
				 * the records by address hash: the scan hashes them
				 * already, with the key the pipeline will use. */
				if (c->fanout == MP_FANOUT_INDEX && c->n_inst[MP_ST_RX] > 1) {
					if (!in_g.key_seed)
						in_g.key_seed = mp_hash_key_set(c->hash_key);
					fs->idx = mp_pcapidx_create(p->dlt); /* none: rx walks it all */
				}
				snprintf(fs->path, sizeof(fs->path), "%s", f);
				if (pthread_create(&fs->t, NULL, scan_main, fs) == 0)
					fs->started = 1;
				else
					scan_main(fs); /* joined as done: scans_join reads its result */
				continue;
			}
		}
		struct mp_pcap_cuts *cuts = calloc(1, sizeof(*cuts));
		if (!cuts) {
			fprintf(stderr, "mospipe: %s: out of memory\n", f);
			return -ENOMEM;
		}
		r = mp_pcap_prescan(f, &p->expect, &p->dlt, cuts, err, sizeof(err));
		if (r < 0 || !cuts->n) {
			free(cuts);
			cuts = NULL;
		}
		if (r < 0) {
			fprintf(stderr, "mospipe: %s\n", err);
			return r;
		}
		if (strchr(f, ',') || strchr(f, ' ')) {
			if (cuts)
				mp_pcap_cuts_free(cuts);
			free(cuts);
			fprintf(stderr,
			        "mospipe: %s: capture file names with ',' or ' ' are not supported by net_pcap; rename "
			        "the file\n",
			        f);
			return -EINVAL;
		}
		p->kind = MP_PORT_PCAP;
		p->cuts = cuts;
		snprintf(p->name, sizeof(p->name), "%s", f);
		eal_arg("--vdev");
		eal_arg("net_pcap%u,rx_pcap=%s", in_g.n_pending, f);
		in_g.n_pending++;
	}
	return 0;
}

/* ---- live interfaces: AF_XDP or AF_PACKET ------------------------------------ */

/* libbpf and libxdp (under DPDK's net_af_xdp) print every INFO line to
 * stderr ("elf: skipping unrecognized data section", "No bpffs found"...);
 * only their warnings are worth a user's eye, prefixed with who says them.
 * Their print hooks are looked up at run time: mospipe does not link them. */
static int xdp_print_warn(int level, const char *fmt, va_list ap)
{
	if (level != 0) /* LIBBPF_WARN and LIBXDP_WARN are 0 */
		return 0;
	/* Without a bpf filesystem mounted libxdp loads its program alone
	 * (no dispatcher for several programs on one interface): what we need. */
	if (strstr(fmt, "bpffs"))
		return 0;
	fputs("mospipe: af_xdp: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

/* @return 0 when libxdp and libbpf load (net_af_xdp needs both), their
 * INFO lines silenced; else -ENOENT. */
static int xdp_libs_load(void)
{
	typedef int (*print_fn)(int, const char *, va_list);
	typedef print_fn (*set_print_fn)(print_fn);
	static int loaded = 0;
	if (loaded)
		return loaded > 0 ? 0 : -ENOENT;
	void *bpf = dlopen("libbpf.so.1", RTLD_NOW | RTLD_GLOBAL);
	void *xdp = bpf ? dlopen("libxdp.so.1", RTLD_NOW | RTLD_GLOBAL) : NULL;
	if (!xdp) {
		loaded = -1;
		return -ENOENT;
	}
	set_print_fn f = (set_print_fn)dlsym(bpf, "libbpf_set_print");
	if (f)
		f(xdp_print_warn);
	f = (set_print_fn)dlsym(xdp, "libxdp_set_print");
	if (f)
		f(xdp_print_warn);
	loaded = 1;
	return 0;
}

/* /sys/class/net/IF/WHAT as a number (WHAT: "mtu", "statistics/rx_packets"...).
 * @return 0, or -errno when unreadable. */
static int sysfs_u64(const char *ifname, const char *what, uint64_t *v)
{
	char path[320];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, what);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	unsigned long long x;
	int ok = fscanf(f, "%llu", &x) == 1;
	fclose(f);
	if (!ok)
		return -EIO;
	*v = x;
	return 0;
}

/* Drivers whose receive path runs XDP programs natively (AF_XDP without the
 * generic, skb-based hook, which is no faster than AF_PACKET). */
static const char *const xdp_native_drivers[] = {"veth", "virtio_net", "i40e",      "ice",       "ixgbe",   "igb",
                                                 "igc",  "ixgbevf",    "mlx5_core", "mlx4_en",   "bnxt_en", "ena",
                                                 "tun",  "nfp",        "qede",      "stmmaceth", "sfc",     NULL};
/* Of those, the ones whose AF_XDP sockets receive into the UMEM directly
 * (zero-copy): the only ones [ports] driver = auto opens through AF_XDP.
 * Elsewhere (veth, virtio_net...) AF_XDP copies each frame as AF_PACKET
 * does, and DPDK 22.11's net_af_xdp gives a socket a fill ring of 2,048
 * frames where AF_PACKET's ring holds [ports] ring_frames: measured on veth
 * (bench/README.md, "Live ports inline"), AF_XDP lost 9-10% of the frames
 * of 200 and of 2,000 concurrent downloads, where AF_PACKET's 16,384-frame
 * ring lost none and 4.5%, and the downloads took longer. */
static const char *const xdp_zc_drivers[] = {"i40e", "ice", "ixgbe", "igc", "mlx5_core", "stmmaceth", NULL};

static int in_list(const char *const *l, const char *s)
{
	for (unsigned i = 0; l[i]; i++)
		if (!strcmp(l[i], s))
			return 1;
	return 0;
}

/* The kernel driver of interface ifname (ETHTOOL_GDRVINFO). */
static int if_driver(const char *ifname, char *out, size_t n)
{
	struct ethtool_drvinfo di = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&di;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		snprintf(out, n, "%s", di.driver);
	return r;
}

/* Receive queues the interface has (/sys/class/net/IF/queues/rx-N). */
static unsigned if_rx_queues(const char *ifname)
{
	char path[300];
	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	DIR *d = opendir(path);
	unsigned n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, "rx-", 3);
	if (d)
		closedir(d);
	return n;
}

/* Whether ifname can be opened through DPDK's net_af_xdp with q queue
 * pairs. @return 1, or 0 with why set (for the start-up report). */
static int xdp_usable(const struct mp_conf *c, const char *ifname, unsigned q, char *why, size_t n)
{
	char drv[64] = "";
	char so[PATH_MAX];
	snprintf(so, sizeof(so), "%s/librte_net_af_xdp.so", RTE_EAL_PMD_PATH);
	if (access(so, R_OK) != 0) {
		snprintf(why, n, "DPDK's net_af_xdp is not installed (apt-get install librte-net-af-xdp23)");
		return 0;
	}
	if (xdp_libs_load() < 0) {
		snprintf(why, n, "libxdp/libbpf cannot be loaded (apt-get install libxdp1)");
		return 0;
	}
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, n, "this kernel gives no AF_XDP socket (%s)", strerror(errno));
		return 0;
	}
	close(fd);
	if (if_driver(ifname, drv, sizeof(drv)) < 0) {
		snprintf(why, n, "its driver is unknown");
		return 0;
	}
	if (!in_list(xdp_native_drivers, drv)) {
		snprintf(why, n, "driver %s has no native XDP receive", drv);
		return 0;
	}
	if (c->port_driver == MP_PORTDRV_AUTO && !in_list(xdp_zc_drivers, drv)) {
		snprintf(why, n,
		         "driver %s has no AF_XDP zero-copy, and copying AF_PACKET's deeper ring loses less "
		         "([ports] driver = af_xdp to use it anyway)",
		         drv);
		return 0;
	}
	unsigned nq = if_rx_queues(ifname);
	if (nq < q) {
		snprintf(why, n, "%u queue pairs wanted (rx/tx instances), the interface has %u receive queue%s", q, nq,
		         nq == 1 ? "" : "s");
		return 0;
	}
	/* A frame must fit one mbuf's data: net_af_xdp does not chain. */
	uint64_t mtu = 0;
	if (sysfs_u64(ifname, "mtu", &mtu) < 0 || mtu + 18 > c->data_room - RTE_PKTMBUF_HEADROOM) {
		snprintf(why, n, "MTU %" PRIu64 " is above what one mbuf holds ([mempool] data_room %u)", mtu,
		         c->data_room);
		return 0;
	}
	return 1;
}

/* iface:IF[,IF]: a vdev per interface, with a queue pair per rx or tx
 * instance (whichever has more): net_af_xdp where [ports] driver allows and
 * the interface supports it (auto: zero-copy drivers only), else
 * net_af_packet. Says which at
 * start-up. @return 0, -EINVAL or -ENODEV after printing why. */
static int input_iface(const struct mp_conf *c, char *ifs)
{
	char *save = NULL;
	unsigned q = c->n_inst[MP_ST_TX] > c->n_inst[MP_ST_RX] ? c->n_inst[MP_ST_TX] : c->n_inst[MP_ST_RX];

	for (char *f = strtok_r(ifs, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		struct mp_port *p = pending_port();
		if (!p)
			return -EINVAL;
		char path[300], why[200] = "";
		snprintf(path, sizeof(path), "/sys/class/net/%s", f);
		if (access(path, F_OK) != 0) {
			fprintf(stderr,
			        "mospipe: interface '%s' does not exist (see `ip link`; in a namespace, run mospipe "
			        "inside it with `ip netns exec`)\n",
			        f);
			return -ENODEV;
		}
		p->kind = MP_PORT_IFACE;
		p->dlt = 1; /* DLT_EN10MB */
		snprintf(p->name, sizeof(p->name), "%s", f);
		int xdp = 0;
		if (c->port_driver == MP_PORTDRV_AF_PACKET)
			snprintf(why, sizeof(why), "[ports] driver = af_packet");
		else
			xdp = xdp_usable(c, f, q, why, sizeof(why));
		if (!xdp && c->port_driver == MP_PORTDRV_AF_XDP) {
			fprintf(stderr,
			        "mospipe: %s: [ports] driver = af_xdp, but AF_XDP cannot be used: %s (driver = auto "
			        "falls back to AF_PACKET)\n",
			        f, why);
			return -EINVAL;
		}
		eal_arg("--vdev");
		if (xdp) {
			p->xdp = 1;
			/* Frames wait in the socket's receive ring (rx_desc each). */
			p->ring_cap = c->rx_desc;
			eal_arg("net_af_xdp%u,iface=%s,start_queue=0,queue_count=%u", in_g.n_pending, f, q);
			fprintf(stderr, "mospipe: %s: AF_XDP (native XDP), %u queue pair%s\n", f, q, q == 1 ? "" : "s");
		} else {
			/* framecnt a multiple of the frames per block (the PMD needs it). */
			unsigned per_block = c->ring_block / 2048, frames = c->ring_frames;
			frames = (frames + per_block - 1) / per_block * per_block;
			eal_arg("net_af_packet%u,iface=%s,qpairs=%u,blocksz=%u,framesz=2048,framecnt=%u",
			        in_g.n_pending, f, q, c->ring_block, frames);
			p->ring_cap = frames;
			fprintf(stderr, "mospipe: %s: AF_PACKET, %u queue pair%s (AF_XDP not used: %s)\n", f, q,
			        q == 1 ? "" : "s", why);
		}
		in_g.n_pending++;
	}
	return 0;
}

/* Whether some port is opened through AF_XDP: its socket's memory (UMEM)
 * is the mbuf pool's, registered with the kernel once, whole. */
int mp_input_pool_whole(void)
{
	for (unsigned i = 0; i < in_g.n_pending; i++)
		if (in_g.pending[i].xdp)
			return 1;
	return 0;
}

/* The input: [input] source, else $MOSPIPE_INPUT, else none (the ports come
 * from --vdev in [eal] args). @return 0 or -errno after printing why. */
static int input_resolve(const struct mp_conf *c)
{
	const char *in = c->input;
	char spec[MP_CONF_STR];

	if (!*in && getenv("MOSPIPE_INPUT"))
		in = getenv("MOSPIPE_INPUT");
	if (!*in)
		return 0;
	snprintf(spec, sizeof(spec), "%s", in);
	if (!strncmp(spec, "pcap:", 5))
		return input_pcap(c, spec + 5);
	if (!strncmp(spec, "iface:", 6))
		return input_iface(c, spec + 6);
	if (!strncmp(spec, "gen:", 4) || !strcmp(spec, "gen")) {
		if (gen_parse(spec[3] ? spec + 4 : "") < 0)
			return -EINVAL;
		in_g.gen.n_parts = c->n_inst[MP_ST_RX] ? c->n_inst[MP_ST_RX] : 1;
		return 0;
	}
	fprintf(stderr, "mospipe: input '%s' is not understood: use pcap:FILE, iface:IF[,IF] or gen:KEY=VAL,...\n", in);
	return -EINVAL;
}

static void cuts_drop(struct mp_pcap_cuts **c)
{
	if (*c) {
		mp_pcap_cuts_free(*c);
		free(*c);
		*c = NULL;
	}
}

uint64_t mp_input_hash_seed(void)
{
	uint64_t s = in_g.key_seed;
	in_g.key_seed = 0;
	return s;
}

/* Capture files mapped by mp_eal_setup() that no pipeline took over. */
void mp_input_forget(void)
{
	scans_join(0);
	for (unsigned i = 0; i < in_g.n_file; i++) {
		mp_pcapfile_close(in_g.file[i].pf);
		in_g.file[i].pf = NULL;
		mp_pcapidx_free(in_g.file[i].idx);
		in_g.file[i].idx = NULL;
	}
	in_g.n_file = 0;
	for (unsigned i = 0; i < in_g.n_pending; i++)
		cuts_drop(&in_g.pending[i].cuts);
}

/* ---- CPUs for threads off the datapath ------------------------------------ */

static void ctrl_affinity_setup(const cpu_set_t *before)
{
	unsigned lc;

	if (CPU_COUNT(before) == 0 || sched_getaffinity(0, sizeof(in_g.cpu.main), &in_g.cpu.main) < 0)
		return;
	in_g.cpu.ctrl = *before;
	RTE_LCORE_FOREACH(lc)
	{
		rte_cpuset_t cs = rte_lcore_cpuset(lc);
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			if (CPU_ISSET(cpu, &cs))
				CPU_CLR(cpu, &in_g.cpu.ctrl);
	}
	if (CPU_COUNT(&in_g.cpu.ctrl) == 0)
		in_g.cpu.ctrl = *before;
	if (pthread_setaffinity_np(pthread_self(), sizeof(in_g.cpu.ctrl), &in_g.cpu.ctrl) != 0)
		return;
	in_g.cpu.ok = 1;
	/* liburcu starts its default call_rcu thread on first use, which is
	 * tcpsm's lcore: start it now, from the control set. */
	(void)get_default_call_rcu_data();
}

int mp_ctrl_cpuset(cpu_set_t *out)
{
	if (!in_g.cpu.ok)
		return -1;
	*out = in_g.cpu.ctrl;
	return 0;
}

int mp_main_pin(void)
{
	return in_g.cpu.ok && rte_lcore_id() == rte_get_main_lcore() &&
	       pthread_setaffinity_np(pthread_self(), sizeof(in_g.cpu.main), &in_g.cpu.main) == 0;
}

void mp_main_unpin(void)
{
	pthread_setaffinity_np(pthread_self(), sizeof(in_g.cpu.ctrl), &in_g.cpu.ctrl);
}

/* ---- EAL ------------------------------------------------------------------ */

static void unmap_wait(void);

void mp_eal_cleanup(void)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	unmap_wait();
	if (in_g.own_prefix && *dir) {
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

/* Every port a capture or the generator: no port in [eal] args (--vdev, or
 * PCI devices EAL would probe without --no-pci), no interface. */
static int offline_only(const struct mp_conf *c)
{
	if (!strstr(c->eal_args, "--no-pci") || strstr(c->eal_args, "--vdev"))
		return 0;
	for (unsigned i = 0; i < in_g.n_pending; i++)
		if (in_g.pending[i].kind != MP_PORT_PCAP)
			return 0;
	return in_g.n_pending + in_g.n_file + in_g.gen.n_parts > 0;
}

long mp_eal_tsccal_ns(void)
{
	return in_g.tsccal_ns;
}

static int eal_setup(struct mp_conf *c, const char *prog)
{
	char buf[MP_CONF_STR], *save = NULL;
	int has_log = 0, r;

	in_g.eal.argc = 0;
	in_g.eal.used = 0;
	in_g.eal.overflow = 0;
	in_g.n_pending = 0;
	in_g.gen.n_parts = 0;
	mp_input_forget();

	eal_arg("%s", prog);
	/* -l from the lcore map: main lcore is the first one listed. */
	char lcores[MP_MAX_LCORES * 6] = "";
	for (unsigned i = 0, n = 0; i < c->n_lcores && n < sizeof(lcores); i++)
		n += (unsigned)snprintf(lcores + n, sizeof(lcores) - n, "%s%u", i ? "," : "", c->lc[i].lcore);
	eal_arg("--lcores=%s", lcores);
	eal_arg("--main-lcore");
	eal_arg("%u", c->lc[0].lcore);
	snprintf(buf, sizeof(buf), "%s", c->eal_args);
	for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		eal_arg("%s", tok);
		if (!strncmp(tok, "--log-level", 11))
			has_log = 1;
	}
	r = input_resolve(c);
	if (r < 0)
		return r;
	/* A private runtime dir per process: several mospipe processes (tests,
	 * apps) can run at once, each with its own telemetry socket. */
	if (!strstr(c->eal_args, "--file-prefix")) {
		eal_arg("--file-prefix=mospipe-%d", (int)getpid());
		in_g.own_prefix = 1;
	}
	/* EAL's own logs are only interesting on error. */
	if (!has_log) {
		eal_arg("--log-level=lib.eal:error");
		eal_arg("--log-level=pmd.*:error");
		eal_arg("--log-level=lib.telemetry:error");
		eal_arg("--log-level=user1:error"); /* rte_ip_frag's INFO lines */
	}
	if (in_g.eal.overflow) {
		fprintf(stderr,
		        "mospipe: EAL arguments too long (at most %d arguments, %zu bytes): shorten [eal] args or "
		        "the list of inputs\n",
		        MP_EAL_MAX_ARGS, sizeof(in_g.eal.buf));
		return -E2BIG;
	}
	cpu_set_t before;
	if (sched_getaffinity(0, sizeof(before), &before) < 0)
		CPU_ZERO(&before);
	int argc = in_g.eal.argc;
	/* rte_eal_init may reorder its argv: give it a copy, keep ours for the message. */
	memcpy(in_g.eal.init_argv, in_g.eal.argv, sizeof(in_g.eal.argv));
	/* Offline, the TSC only turns cycles into the report's seconds: its
	 * calibration (where the CPU does not tell DPDK the frequency) may
	 * sleep 10 ms instead of 100 (tsccal.h). A live box, whose idle
	 * timeouts and timestamps run on the TSC, keeps DPDK's window. */
	if (offline_only(c))
		mp_tsccal_arm(MP_TSCCAL_OFFLINE_NS);
	int eal_r = rte_eal_init(argc, in_g.eal.init_argv);
	in_g.tsccal_ns = mp_tsccal_disarm();
	if (eal_r < 0) {
		fprintf(stderr, "mospipe: EAL initialisation failed: %s (EAL arguments:", rte_strerror(rte_errno));
		for (int i = 1; i < argc; i++)
			fprintf(stderr, " %s", in_g.eal.argv[i]);
		fprintf(stderr, ")\n");
		return -rte_errno;
	}
	/* The mapped files' scans ran while EAL started. */
	if (scans_join(1) < 0) {
		mp_eal_cleanup();
		return -EINVAL;
	}
	ctrl_affinity_setup(&before);
	return 0;
}

int mp_eal_setup(struct mp_conf *c, const char *prog)
{
	int r = eal_setup(c, prog);
	if (r < 0)
		mp_input_forget();
	return r;
}

/* ---- ports ---------------------------------------------------------------- */

int mp_port_kernel_rx(const struct mp_port *p, uint64_t *frames)
{
	uint64_t rx, drop = 0;
	int r = sysfs_u64(p->name, "statistics/rx_packets", &rx);
	/* With an XDP program attached, rx_packets counts every frame XDP saw,
	 * those it could not hand to the socket (ring full) included, and
	 * rx_dropped counts those again (veth: 200,000 frames sent, rx_packets
	 * 200,000 with 72,952 of them in rx_dropped too). */
	if (r == 0 && !p->xdp)
		r = sysfs_u64(p->name, "statistics/rx_dropped", &drop);
	if (r == 0)
		*frames = rx + drop;
	return r;
}

/* The RSS key for replicated pipelines on a NIC's queues: 0x6d5a repeated
 * makes the Toeplitz hash symmetric (Woo and Park, "Scalable TCP Session
 * Monitoring with Symmetric Receive-side Scaling", 2012): a key that repeats
 * every 16 bits hashes a tuple and its swap (addresses move by 32 bits,
 * ports by 16) alike, so both directions of a flow land on one queue and rx
 * hands nothing over; this one also spreads flows evenly (the paper).
 * @return the key's length, len rounded down to an even count. */
unsigned mp_rss_sym_key(uint8_t *key, unsigned len)
{
	len &= ~1u;
	for (unsigned k = 0; k < len; k += 2) {
		key[k] = 0x6d;
		key[k + 1] = 0x5a;
	}
	return len;
}

/* RSS with the symmetric key on the queues of an ethdev port that replicated
 * pipelines read (one queue per rx instance), when the device offers RSS
 * for TCP; *ec then asks for it and key (at least info->hash_key_size, or
 * 40, bytes) holds the key. @return 1 when asked for, 0 when not offered. */
static int rss_sym_conf(const struct rte_eth_dev_info *info, struct rte_eth_conf *ec, uint8_t *key, unsigned keymax)
{
	uint64_t hf = info->flow_type_rss_offloads & (RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP |
	                                              RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_TCP);
	unsigned len = info->hash_key_size ? info->hash_key_size : 40;
	if (!(hf & (RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV6_TCP)) || len > keymax)
		return 0;
	ec->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	ec->rx_adv_conf.rss_conf.rss_key = key;
	ec->rx_adv_conf.rss_conf.rss_key_len = (uint8_t)mp_rss_sym_key(key, len);
	ec->rx_adv_conf.rss_conf.rss_hf = hf;
	return 1;
}

/* After the start: what the device holds, read back, for the start-up line.
 * @return 1 when its key is the symmetric one. */
static int rss_sym_check(uint16_t id, const struct rte_eth_rss_conf *want)
{
	const uint8_t *key = want->rss_key;
	unsigned len = want->rss_key_len;
	uint8_t got[255];
	struct rte_eth_rss_conf rc = {.rss_key = got, .rss_key_len = (uint8_t)sizeof(got)};
	if (rte_eth_dev_rss_hash_conf_get(id, &rc) != 0 || len > sizeof(got))
		return 0;
	return memcmp(got, key, len) == 0;
}

/* Configures and starts ethdev port i of pl: one rx queue (a queue per rx
 * instance for replicated pipelines on a live port: every queue of an
 * AF_PACKET or AF_XDP port, n_rx queues with symmetric RSS on another
 * ethdev), a tx queue per tx instance (as many as the device has), checksum
 * offloads when offered. @return 0 or -errno after printing why. */
static int ethdev_start(struct mp_pipeline *pl, unsigned i)
{
	const struct mp_conf *c = pl->conf;
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
	/* A NIC that verifies TCP checksums saves classify a pass over every
	 * payload (it honours the mbuf's RX_L4_CKSUM flags). */
	ec.rxmode.offloads = info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_IPV4_CKSUM);
	unsigned q = c->n_inst[MP_ST_TX];
	if (q > info.max_tx_queues)
		q = info.max_tx_queues;
	if (q == 0)
		q = 1;
	/* Every receive queue the device has for an AF_PACKET port: the kernel
	 * hashes frames over its queues' sockets (PACKET_FANOUT), so one left
	 * unpolled would hold its share until its ring overflowed. */
	unsigned nq = pl->port[i].kind == MP_PORT_IFACE && info.max_rx_queues > 1 ? info.max_rx_queues : 1;
	unsigned n_rx = c->n_inst[MP_ST_RX];
	uint8_t key[255];
	int rss = 0;
	if (pl->port[i].kind == MP_PORT_ETHDEV && c->fanout == MP_FANOUT_INDEX && n_rx > 1) {
		if (info.max_rx_queues < n_rx) {
			fprintf(stderr,
			        "mospipe: port %u (%s): %u replicated pipelines need a receive queue each, the "
			        "device has %u (use fewer rx instances in [lcores], or [pipeline] fanout = hash)\n",
			        id, pl->port[i].name, n_rx, info.max_rx_queues);
			return -EINVAL;
		}
		nq = n_rx;
		rss = rss_sym_conf(&info, &ec, key, sizeof(key));
	}
	pl->port[i].n_rxq = (uint16_t)nq;
	r = rte_eth_dev_configure(id, (uint16_t)nq, (uint16_t)q, &ec);
	if (r == 0) {
		uint16_t nrx = (uint16_t)c->rx_desc, ntxd = (uint16_t)c->tx_desc;
		rte_eth_dev_adjust_nb_rx_tx_desc(id, &nrx, &ntxd);
		for (unsigned k = 0; r == 0 && k < nq; k++)
			r = rte_eth_rx_queue_setup(id, (uint16_t)k, nrx, rte_eth_dev_socket_id(id), NULL, pl->pool);
		for (unsigned k = 0; r == 0 && k < q; k++)
			r = rte_eth_tx_queue_setup(id, (uint16_t)k, ntxd, rte_eth_dev_socket_id(id), NULL);
	}
	if (r == 0)
		r = rte_eth_dev_start(id);
	if (r < 0) {
		fprintf(stderr,
		        "mospipe: port %u (%s): setup failed: %s (descriptors: [ports] rx_desc, tx_desc; mbufs: "
		        "[mempool] mbufs)\n",
		        id, pl->port[i].name, rte_strerror(-r));
		return r;
	}
	rte_eth_promiscuous_enable(id);
	if (rss)
		/* Some drivers take the key only this way (net_null; the ethdev
		 * layer leaves rx_adv_conf to the driver's configure). */
		(void)rte_eth_dev_rss_hash_update(id, &ec.rx_adv_conf.rss_conf);
	if (nq > 1 && pl->port[i].kind == MP_PORT_ETHDEV)
		/* Frames of a flow that come in on another instance's queue
		 * are handed to it by rx (stages/rx/rx.c): the key only spares
		 * the hand-off. */
		fprintf(stderr, "mospipe: port %u (%s): %u receive queues, one per rx instance; %s\n", id,
		        pl->port[i].name, nq,
		        !rss ? "no RSS for TCP on this device: rx hands each frame to its flow's instance"
		        : rss_sym_check(id, &ec.rx_adv_conf.rss_conf)
		            ? "RSS with a symmetric key (both directions of a flow on one queue)"
		            : "RSS asked with a symmetric key, but the device does not report it back: rx hands "
		              "frames on the wrong queue to their flow's instance");
	/* What the kernel has counted so far is not the box's: port_missed
	 * counts from here (frames the interface got that rx never saw). */
	if (pl->port[i].kind == MP_PORT_IFACE && mp_port_kernel_rx(&pl->port[i], &pl->port[i].k_base) < 0)
		pl->port[i].k_base = UINT64_MAX; /* unreadable: not counted */
	return 0;
}

/* Inline pairing: default 0-1, 2-3 ...; a lone last port pairs with itself;
 * [ports] pairs overrides. @return 0 or -EINVAL after printing why. */
static int ports_pair(struct mp_pipeline *pl)
{
	for (unsigned i = 0; i < pl->n_ports; i++)
		pl->port[i].peer = (i ^ 1) < pl->n_ports ? (uint16_t)(i ^ 1) : (uint16_t)i;
	if (!*pl->conf->pairs)
		return 0;
	char buf[MP_CONF_STR], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", pl->conf->pairs);
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
	return 0;
}

int mp_input_ports_setup(struct mp_pipeline *pl)
{
	const struct mp_conf *c = pl->conf;
	unsigned n = rte_eth_dev_count_avail(), n_gen = in_g.gen.n_parts, n_file = in_g.n_file;
	uint16_t pid;
	int r;

	if (n == 0 && n_gen == 0 && n_file == 0) {
		fprintf(stderr, "mospipe: no input: give -r FILE, -i IF[,IF], [input] source in pipeline.conf, "
		                "MOSPIPE_INPUT=pcap:FILE, or a --vdev in [eal] args\n");
		return -ENODEV;
	}
	/* Live ports qualify: -i interfaces and other ethdevs (a NIC, a vdev in
	 * [eal] args) get a receive queue per rx instance. Not net_pcap: one
	 * queue, read in file order. */
	int all_live = 1;
	for (unsigned i = 0; i < in_g.n_pending && i < n; i++)
		all_live &= in_g.pending[i].kind == MP_PORT_IFACE || in_g.pending[i].kind == MP_PORT_ETHDEV;
	if (c->fanout == MP_FANOUT_INDEX && c->n_inst[MP_ST_RX] > 1 && n > 0 && !all_live) {
		/* Other ports are polled whole, spread over rx instances: the
		 * two directions of a flow may enter through different ones.
		 * Classic pcap files rx maps itself are split by address hash
		 * (every instance reads the file, each takes its share); live
		 * interfaces (-i) get a queue pair per rx instance, and rx hands
		 * each frame to the instance its address hash falls to. */
		fprintf(stderr,
		        "mospipe: [pipeline] fanout = index with %u rx instances needs an input that keeps "
		        "each flow on one rx instance (gen: parts, classic pcap files read with "
		        "[input] pcap_mmap = yes, live interfaces given by -i / iface:, or DPDK ports with a "
		        "receive queue per rx instance); with net_pcap ports or pcapng files use fanout = hash\n",
		        c->n_inst[MP_ST_RX]);
		return -EINVAL;
	}
	if (n + n_gen + n_file > MP_MAX_PORTS) {
		fprintf(stderr, "mospipe: %u ports, at most %d supported\n", n + n_gen + n_file, MP_MAX_PORTS);
		return -E2BIG;
	}
	pl->n_ports = 0;
	RTE_ETH_FOREACH_DEV(pid)
	{
		struct mp_port *p = &pl->port[pl->n_ports];
		if (pl->n_ports < in_g.n_pending) {
			*p = in_g.pending[pl->n_ports];
			in_g.pending[pl->n_ports].cuts = NULL; /* the pipeline owns it now */
		} else {
			memset(p, 0, sizeof(*p));
			p->dlt = 1;
			rte_eth_dev_get_name_by_port(pid, p->name);
		}
		p->id = pid;
		pl->n_ports++;
	}
	unsigned n_eth = pl->n_ports;
	/* Capture files rx maps itself; the port owns the mapping from here. */
	for (unsigned i = 0; i < n_file; i++) {
		pl->port[pl->n_ports++] = in_g.file[i];
		in_g.file[i].pf = NULL;
		in_g.file[i].idx = NULL;
	}
	in_g.n_file = 0;
	/* Generator ports after the ethdevs; with only them, rx instance i
	 * polls generator part i. Their id is no ethdev's, so any rte_eth_*
	 * call on one fails cleanly. The packet clock starts at the live clock:
	 * tcpsm advances its timers on live time when idle (a gen port is not
	 * offline), so the two must not be years apart. */
	for (unsigned i = 0; i < n_gen; i++) {
		struct mp_port *p = &pl->port[pl->n_ports];
		memset(p, 0, sizeof(*p));
		p->kind = MP_PORT_GEN;
		p->id = RTE_MAX_ETHPORTS;
		p->dlt = 1; /* DLT_EN10MB */
		snprintf(p->name, sizeof(p->name), "gen:%.250s", in_g.gen.spec);
		p->gen = gen_part(i, pl->base_ns);
		p->rx_csum_good = (uint8_t)in_g.gen.rxcsum;
		if (!p->gen) {
			fprintf(stderr, "mospipe: input gen:%s: part %u: %s\n", in_g.gen.spec, i,
			        errno == EINVAL ? gen_strerror()
			        : errno == ENOMEM
			            ? "out of memory for the generator's slots (lower flows= in [input] source)"
			            : strerror(errno));
			return errno == ENOMEM ? -ENOMEM : -EINVAL;
		}
		pl->n_ports++;
	}
	r = ports_pair(pl);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n_eth; i++) {
		r = ethdev_start(pl, i);
		if (r < 0)
			return r;
	}
	/* net_pcap registers the rx timestamp dynfield; look it up once. */
	pl->ts_off = rte_mbuf_dynfield_lookup(RTE_MBUF_DYNFIELD_TIMESTAMP_NAME, NULL);
	int bit = rte_mbuf_dynflag_lookup(RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME, NULL);
	pl->ts_flag = bit >= 0 ? (1ULL << bit) : 0;
	return 0;
}

/* A capture file read through leaves its mapping's page-table entries
 * behind (~700K for the 2.9 GB peers pcap): munmap walks them for ~45 ms,
 * longer than the stages' finis and EAL's cleanup that follow take
 * together, and the process's exit would walk them all the same. So a
 * thread on the control CPUs drops them while those run, and whoever waits
 * for it (mp_eal_cleanup, or the next pipeline's teardown) drops the rest
 * beside it, then unmaps. MADV_DONTNEED, not munmap, for the walk: it needs
 * the mapping lock only shared, where munmap held it exclusive and stalled
 * every munmap of the teardown behind it (wall time unchanged). Every mbuf
 * on the file is back by now: the lcores have stopped, and nothing reads
 * the mapping after the pipeline's ports are closed. */
#define UNMAP_CHUNK (64u << 20)

static struct {
	struct mp_pcapfile *pf[MP_MAX_PORTS];
	pthread_t t;
	int has_t;
	unsigned n;
	_Atomic uint64_t next; /* the next chunk, over the files in order */
} unmapper;

static void unmap_chunks(void)
{
	for (;;) {
		uint64_t c = atomic_fetch_add_explicit(&unmapper.next, 1, memory_order_relaxed), base = 0;
		unsigned i = 0;
		for (; i < unmapper.n; i++) {
			uint64_t nc = (unmapper.pf[i]->size + UNMAP_CHUNK - 1) / UNMAP_CHUNK;
			if (c < base + nc)
				break;
			base += nc;
		}
		if (i == unmapper.n)
			return;
		struct mp_pcapfile *f = unmapper.pf[i];
		uint64_t off = (c - base) * UNMAP_CHUNK;
		uint64_t len = f->size - off < UNMAP_CHUNK ? f->size - off : UNMAP_CHUNK;
		(void)madvise((void *)(uintptr_t)(f->map + off), (size_t)len, MADV_DONTNEED);
	}
}

static void *unmap_main(void *arg)
{
	(void)arg;
	unmap_chunks();
	return NULL;
}

static void unmap_wait(void)
{
	unmap_chunks();
	if (unmapper.has_t)
		pthread_join(unmapper.t, NULL);
	unmapper.has_t = 0;
	for (unsigned i = 0; i < unmapper.n; i++)
		mp_pcapfile_close(unmapper.pf[i]);
	unmapper.n = 0;
	atomic_store_explicit(&unmapper.next, 0, memory_order_relaxed);
}

/* The files of a pipeline join the list as its ports close; one thread
 * then starts on them (unmap_start), whoever waits works beside it. */
static void close_later(struct mp_pcapfile *pf)
{
	if (unmapper.n == MP_MAX_PORTS) {
		mp_pcapfile_close(pf);
		return;
	}
	unmapper.pf[unmapper.n++] = pf;
}

static void unmap_start(void)
{
	cpu_set_t cs;
	pthread_attr_t a;

	if (unmapper.n == 0 || pthread_attr_init(&a) != 0)
		return;
	if (mp_ctrl_cpuset(&cs) == 0)
		(void)pthread_attr_setaffinity_np(&a, sizeof(cs), &cs);
	unmapper.has_t = pthread_create(&unmapper.t, &a, unmap_main, NULL) == 0;
	pthread_attr_destroy(&a);
}

void mp_input_ports_close(struct mp_pipeline *pl)
{
	unmap_wait(); /* an earlier pipeline's, so that they never pile up */
	for (unsigned i = 0; i < pl->n_ports; i++) {
		struct mp_port *p = &pl->port[i];
		if (p->kind == MP_PORT_GEN) {
			gen_destroy(p->gen);
			p->gen = NULL;
		} else if (p->pf) {
			close_later(p->pf);
			p->pf = NULL;
			mp_pcapidx_free(p->idx);
			p->idx = NULL;
		} else {
			rte_eth_dev_stop(p->id);
			rte_eth_dev_close(p->id);
		}
		cuts_drop(&p->cuts);
	}
	unmap_start();
}
