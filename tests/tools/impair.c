/* impair: a userspace link impairment element (this kernel has no netem).
 *
 * Bridges two interfaces with AF_PACKET sockets, frames both ways, and with a
 * seeded PRNG drops a fraction of them, delays a fraction by a fixed time and
 * reorders a fraction (a chosen frame is held and sent right after the next
 * frame of the same direction). Meant to run inside a test's own network
 * namespace between two veths. Frames this process sends are never read back
 * (PACKET_IGNORE_OUTGOING, and sll_pkttype == PACKET_OUTGOING is skipped).
 * SIGTERM/SIGINT stop it; it then prints its counts on stdout.
 *
 * Offloads must be off on the veths (ethtool -K IF tso off gso off gro off
 * tx off rx off): frames are copied as the socket sees them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define FRAME_MAX 9216
#define HOLD_MAX_NS 20000000ull /* a reorder-held frame leaves after 20 ms at most */

struct dir_conf {
	double drop, delay, reorder;
	uint64_t delay_ns;
};

struct slot {
	uint64_t due_ns;
	uint32_t len;
	unsigned char data[FRAME_MAX];
};

struct dir {
	const char *name;
	struct dir_conf c;
	int in_fd, out_fd;
	uint64_t rng;
	/* Delay line: FIFO (one delay per direction, so due times are monotone). */
	struct slot *q;
	unsigned qcap, qhead, qlen;
	/* Reorder: one held frame. */
	struct slot held;
	int has_held;
	uint64_t held_since;
	/* Counts. */
	uint64_t rx, forwarded, dropped, delayed, reordered, overflow, send_err, discarded;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough for test impairments. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int chance(struct dir *d, double p)
{
	if (p <= 0)
		return 0;
	return (double)(rng_next(&d->rng) >> 11) * (1.0 / 9007199254740992.0) < p;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: impair -a IF_A -b IF_B [options]\n"
	           "Bridges frames between IF_A and IF_B (AF_PACKET) and impairs them.\n"
	           "\n"
	           "  -a, --if-a IF        first interface\n"
	           "  -b, --if-b IF        second interface\n"
	           "  -s, --seed N         PRNG seed (default 1); same seed, same choices\n"
	           "  -d, --dir DIR        ab, ba or both (default): which direction the\n"
	           "                       impairment options that follow apply to\n"
	           "      --drop P         drop this fraction of frames (0..1)\n"
	           "      --delay P        delay this fraction of frames ...\n"
	           "      --delay-ms MS    ... by this many milliseconds (default 20)\n"
	           "      --reorder P      hold this fraction of frames and send each after\n"
	           "                       the next frame of its direction (adjacent swap;\n"
	           "                       a held frame leaves after 20 ms if none follows)\n"
	           "  -q, --queue N        delay line capacity per direction (default 1024);\n"
	           "                       frames that do not fit are dropped (overflow)\n"
	           "  -h, --help           this text\n"
	           "\n"
	           "Example (2%% loss and 1%% reordering both ways, 5%% of b->a delayed 30 ms):\n"
	           "  impair -a veth0 -b veth1 --seed 7 --drop 0.02 --reorder 0.01 \\\n"
	           "         --dir ba --delay 0.05 --delay-ms 30\n"
	           "Runs until SIGTERM or SIGINT, then prints per-direction counts:\n"
	           "  rx forwarded dropped delayed reordered overflow send_err discarded\n"
	           "(forwarded counts frames sent, delayed and reordered ones included;\n"
	           "discarded: still queued at exit). Exit 0, 1 on error, 2 on bad usage.\n"
	           "Frames are copied as seen: turn offloads off on both interfaces.\n");
}

static int open_port(const char *ifname)
{
	unsigned idx = if_nametoindex(ifname);
	if (!idx) {
		fprintf(stderr, "impair: interface %s: %s\n", ifname, strerror(errno));
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		fprintf(stderr, "impair: socket(AF_PACKET): %s\n", strerror(errno));
		return -1;
	}
	int one = 1;
	/* Best effort (Linux >= 4.20); outgoing frames are also skipped by type. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	struct sockaddr_ll sll;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)idx;
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "impair: bind %s: %s\n", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	struct packet_mreq mr;
	memset(&mr, 0, sizeof(mr));
	mr.mr_ifindex = (int)idx;
	mr.mr_type = PACKET_MR_PROMISC;
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		fprintf(stderr, "impair: %s: promiscuous mode: %s (continuing)\n", ifname, strerror(errno));
	int rcv = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &rcv, sizeof(rcv));
	/* Drop what queued before the bind: it may predate the membership. */
	unsigned char junk[64];
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT | MSG_TRUNC) >= 0)
		;
	return fd;
}

static void xmit(struct dir *d, const unsigned char *p, uint32_t len)
{
	for (int tries = 0; tries < 100; tries++) {
		if (send(d->out_fd, p, len, 0) == (ssize_t)len) {
			d->forwarded++;
			return;
		}
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			break;
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	d->send_err++;
}

/* Sends delayed frames that are due, and a held frame that waited too long. */
static void release_due(struct dir *d, uint64_t now)
{
	while (d->qlen && d->q[d->qhead].due_ns <= now) {
		struct slot *s = &d->q[d->qhead];
		xmit(d, s->data, s->len);
		d->qhead = (d->qhead + 1) % d->qcap;
		d->qlen--;
	}
	if (d->has_held && now - d->held_since >= HOLD_MAX_NS) {
		xmit(d, d->held.data, d->held.len);
		d->has_held = 0;
	}
}

/* The ms until this direction next needs attention, or -1. */
static int next_timeout_ms(const struct dir *d, uint64_t now)
{
	uint64_t due = UINT64_MAX;
	if (d->qlen)
		due = d->q[d->qhead].due_ns;
	if (d->has_held && d->held_since + HOLD_MAX_NS < due)
		due = d->held_since + HOLD_MAX_NS;
	if (due == UINT64_MAX)
		return -1;
	if (due <= now)
		return 0;
	return (int)((due - now + 999999) / 1000000);
}

static void handle(struct dir *d, unsigned char *p, uint32_t len, uint64_t now)
{
	d->rx++;
	if (chance(d, d->c.drop)) {
		d->dropped++;
		return;
	}
	if (chance(d, d->c.delay)) {
		if (d->qlen == d->qcap) {
			d->overflow++;
			return;
		}
		struct slot *s = &d->q[(d->qhead + d->qlen) % d->qcap];
		s->due_ns = now + d->c.delay_ns;
		s->len = len;
		memcpy(s->data, p, len);
		d->qlen++;
		d->delayed++;
		return;
	}
	if (d->has_held) {
		/* The held frame goes right after this one: an adjacent swap. */
		xmit(d, p, len);
		xmit(d, d->held.data, d->held.len);
		d->has_held = 0;
		return;
	}
	if (chance(d, d->c.reorder)) {
		memcpy(d->held.data, p, len);
		d->held.len = len;
		d->has_held = 1;
		d->held_since = now;
		d->reordered++;
		return;
	}
	xmit(d, p, len);
}

/* Reads what is waiting on d->in_fd (at most a burst). */
static int pump(struct dir *d, unsigned char *buf)
{
	for (int n = 0; n < 64; n++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t r = recvfrom(d->in_fd, buf, FRAME_MAX, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			fprintf(stderr, "impair: recv (%s): %s\n", d->name, strerror(errno));
			return -1;
		}
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (r > FRAME_MAX) {
			d->rx++;
			d->send_err++; /* too large to copy: offloads left on? */
			continue;
		}
		handle(d, buf, (uint32_t)r, now_ns());
	}
	return 0;
}

static int parse_frac(const char *opt, const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (*s == 0 || *end || v < 0 || v > 1) {
		fprintf(stderr, "impair: %s: '%s' is not a fraction in [0,1]\n", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

static void print_counts(const struct dir *d)
{
	printf("impair: %s rx=%llu forwarded=%llu dropped=%llu delayed=%llu reordered=%llu "
	       "overflow=%llu send_err=%llu discarded=%llu\n",
	       d->name, (unsigned long long)d->rx, (unsigned long long)d->forwarded, (unsigned long long)d->dropped,
	       (unsigned long long)d->delayed, (unsigned long long)d->reordered, (unsigned long long)d->overflow,
	       (unsigned long long)d->send_err, (unsigned long long)d->discarded);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"if-a", required_argument, 0, 'a'},
	                                     {"if-b", required_argument, 0, 'b'},
	                                     {"seed", required_argument, 0, 's'},
	                                     {"dir", required_argument, 0, 'd'},
	                                     {"drop", required_argument, 0, 1},
	                                     {"delay", required_argument, 0, 2},
	                                     {"delay-ms", required_argument, 0, 3},
	                                     {"reorder", required_argument, 0, 4},
	                                     {"queue", required_argument, 0, 'q'},
	                                     {"help", no_argument, 0, 'h'},
	                                     {0, 0, 0, 0}};
	const char *if_a = NULL, *if_b = NULL;
	uint64_t seed = 1;
	unsigned qcap = 1024;
	struct dir dirs[2];
	memset(dirs, 0, sizeof(dirs));
	dirs[0].name = "a->b";
	dirs[1].name = "b->a";
	dirs[0].c.delay_ns = dirs[1].c.delay_ns = 20000000ull;
	int sel = 3; /* bit 0: a->b, bit 1: b->a */
	int c;
	while ((c = getopt_long(argc, argv, "a:b:s:d:q:h", opts, NULL)) != -1) {
		double v = 0;
		char *end;
		switch (c) {
		case 'a': if_a = optarg; break;
		case 'b': if_b = optarg; break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end) {
				fprintf(stderr, "impair: --seed: '%s' is not a number\n", optarg);
				return 2;
			}
			break;
		case 'd':
			if (!strcmp(optarg, "ab"))
				sel = 1;
			else if (!strcmp(optarg, "ba"))
				sel = 2;
			else if (!strcmp(optarg, "both"))
				sel = 3;
			else {
				fprintf(stderr, "impair: --dir: '%s' is not ab, ba or both\n", optarg);
				return 2;
			}
			break;
		case 1:
		case 2:
		case 4:
			if (parse_frac(argv[optind - 1], optarg, &v) < 0)
				return 2;
			for (int i = 0; i < 2; i++)
				if (sel & (1 << i)) {
					if (c == 1)
						dirs[i].c.drop = v;
					else if (c == 2)
						dirs[i].c.delay = v;
					else
						dirs[i].c.reorder = v;
				}
			break;
		case 3:
			v = strtod(optarg, &end);
			if (*optarg == 0 || *end || v < 0 || v > 60000) {
				fprintf(stderr, "impair: --delay-ms: '%s' is not 0..60000\n", optarg);
				return 2;
			}
			for (int i = 0; i < 2; i++)
				if (sel & (1 << i))
					dirs[i].c.delay_ns = (uint64_t)(v * 1e6);
			break;
		case 'q': {
			unsigned long n = strtoul(optarg, &end, 0);
			if (*end || n < 1 || n > 65536) {
				fprintf(stderr, "impair: --queue: '%s' is not 1..65536\n", optarg);
				return 2;
			}
			qcap = (unsigned)n;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!if_a || !if_b || optind < argc) {
		usage(stderr);
		return 2;
	}
	int fa = open_port(if_a), fb = open_port(if_b);
	if (fa < 0 || fb < 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		dirs[i].in_fd = i ? fb : fa;
		dirs[i].out_fd = i ? fa : fb;
		dirs[i].rng = seed ^ (i ? 0x5bd1e9955bd1e995ull : 0);
		dirs[i].qcap = qcap;
		dirs[i].q = calloc(qcap, sizeof(struct slot));
		if (!dirs[i].q) {
			fprintf(stderr, "impair: out of memory for a %u-frame queue\n", qcap);
			return 1;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	static unsigned char buf[FRAME_MAX + 64];
	int rc = 0;
	fprintf(stderr, "impair: bridging %s <-> %s (seed %llu)\n", if_a, if_b, (unsigned long long)seed);
	while (!stop) {
		uint64_t now = now_ns();
		int to = -1;
		for (int i = 0; i < 2; i++) {
			release_due(&dirs[i], now);
			int t = next_timeout_ms(&dirs[i], now);
			if (t >= 0 && (to < 0 || t < to))
				to = t;
		}
		struct pollfd pf[2] = {{fa, POLLIN, 0}, {fb, POLLIN, 0}};
		int n = poll(pf, 2, to);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "impair: poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pf[i].revents & (POLLERR | POLLNVAL)) {
				fprintf(stderr, "impair: %s: interface error\n", i ? if_b : if_a);
				stop = 1;
				rc = 1;
			}
			if ((pf[i].revents & POLLIN) && pump(&dirs[i], buf) < 0) {
				stop = 1;
				rc = 1;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		dirs[i].discarded = dirs[i].qlen + (unsigned)dirs[i].has_held;
		print_counts(&dirs[i]);
		free(dirs[i].q);
	}
	printf("impair: total forwarded=%llu dropped=%llu delayed=%llu reordered=%llu\n",
	       (unsigned long long)(dirs[0].forwarded + dirs[1].forwarded),
	       (unsigned long long)(dirs[0].dropped + dirs[1].dropped + dirs[0].overflow + dirs[1].overflow),
	       (unsigned long long)(dirs[0].delayed + dirs[1].delayed),
	       (unsigned long long)(dirs[0].reordered + dirs[1].reordered));
	fflush(stdout);
	close(fa);
	close(fb);
	return rc;
}
