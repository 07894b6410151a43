/* tcpsm flow log: one JSON line per connection when it ends. tcpsm instances
 * push fixed-size records into one multi-producer rte_ring (lock-free; a full
 * ring loses the record and counts it); a writer pthread, off the datapath,
 * formats and writes them. Per-instance order is kept (a ring is FIFO per
 * producer), so each instance's flows appear in the order they ended. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "tcpsm.h"

struct tcpsm_flowlog {
	struct rte_ring *r;
	FILE *fp;
	int own_fp;
	int stop; /* set (release) by tcpsm_flowlog_stop */
	pthread_t th;
};

static void fmt_ep(char *out, size_t len, const uint8_t *a, uint16_t port, int v6)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip));
	snprintf(out, len, v6 ? "[%s]:%u" : "%s:%u", ip, port);
}

int tcpsm_flowrec_format(const struct tcpsm_flowrec *r, char *buf, size_t len)
{
	char cli[64], svr[64];
	fmt_ep(cli, sizeof(cli), r->cli, r->cli_port, r->v6);
	fmt_ep(svr, sizeof(svr), r->svr, r->svr_port, r->v6);
	return snprintf(buf, len,
	                "{\"cli\":\"%s\",\"svr\":\"%s\",\"cli_state\":\"%s\",\"svr_state\":\"%s\",\"end\":\"%s\","
	                "\"first_ts\":%" PRIu64 ".%06" PRIu64 ",\"last_ts\":%" PRIu64 ".%06" PRIu64 ",\"midstream\":%s,"
	                "\"cli_pkts\":%" PRIu64 ",\"cli_bytes\":%" PRIu64 ",\"cli_missed\":%" PRIu64
	                ",\"cli_rexmit\":%" PRIu64 ",\"cli_rexmit_bytes\":%" PRIu64 ","
	                "\"svr_pkts\":%" PRIu64 ",\"svr_bytes\":%" PRIu64 ",\"svr_missed\":%" PRIu64
	                ",\"svr_rexmit\":%" PRIu64 ",\"svr_rexmit_bytes\":%" PRIu64 "}\n",
	                cli, svr, tcpsm_state_name(r->cli_state), tcpsm_state_name(r->svr_state),
	                tcpsm_end_name(r->end), r->first_ts / 1000000000u, (r->first_ts % 1000000000u) / 1000u,
	                r->last_ts / 1000000000u, (r->last_ts % 1000000000u) / 1000u, r->midstream ? "true" : "false",
	                r->pkts[0], r->bytes[0], r->missed[0], r->rexmit[0], r->rexmit_bytes[0], r->pkts[1],
	                r->bytes[1], r->missed[1], r->rexmit[1], r->rexmit_bytes[1]);
}

static unsigned write_some(struct tcpsm_flowlog *fl)
{
	struct tcpsm_flowrec recs[32];
	char line[1024];
	unsigned n = rte_ring_sc_dequeue_burst_elem(fl->r, recs, sizeof(recs[0]), RTE_DIM(recs), NULL);
	for (unsigned i = 0; i < n; i++) {
		tcpsm_flowrec_format(&recs[i], line, sizeof(line));
		fputs(line, fl->fp);
	}
	return n;
}

static void *writer(void *arg)
{
	struct tcpsm_flowlog *fl = arg;
	for (;;) {
		/* Read stop before emptying the ring: records pushed before
		 * stop was set are then all seen by the final pass. */
		int stop = __atomic_load_n(&fl->stop, __ATOMIC_ACQUIRE);
		if (write_some(fl))
			continue;
		if (stop)
			break;
		fflush(fl->fp);
		usleep(1000);
	}
	fflush(fl->fp);
	return NULL;
}

struct tcpsm_flowlog *tcpsm_flowlog_start(const char *path, unsigned ring_slots)
{
	struct tcpsm_flowlog *fl = calloc(1, sizeof(*fl));
	unsigned slots = 64;

	if (!fl) {
		fprintf(stderr, "mospipe: flow log: out of memory\n");
		return NULL;
	}
	while (slots < ring_slots && slots < (1u << 24))
		slots <<= 1;
	if (!strcmp(path, "-"))
		fl->fp = stdout;
	else {
		fl->fp = fopen(path, "w");
		fl->own_fp = 1;
		if (!fl->fp) {
			fprintf(stderr, "mospipe: flow log %s: cannot open for writing: %s\n", path, strerror(errno));
			free(fl);
			return NULL;
		}
	}
	fl->r =
	    rte_ring_create_elem("tcpsm_flowlog", sizeof(struct tcpsm_flowrec), slots, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (!fl->r) {
		fprintf(stderr, "mospipe: flow log: cannot create its ring of %u records\n", slots);
		goto fail;
	}
	if (pthread_create(&fl->th, NULL, writer, fl) != 0) {
		fprintf(stderr, "mospipe: flow log: cannot start the writer thread\n");
		rte_ring_free(fl->r);
		goto fail;
	}
	return fl;
fail:
	if (fl->own_fp)
		fclose(fl->fp);
	free(fl);
	return NULL;
}

int tcpsm_flowlog_push(struct tcpsm_flowlog *fl, const struct tcpsm_flowrec *r)
{
	return rte_ring_mp_enqueue_elem(fl->r, (void *)(uintptr_t)r, sizeof(*r)) == 0 ? 0 : -ENOBUFS;
}

void tcpsm_flowlog_stop(struct tcpsm_flowlog *fl)
{
	if (!fl)
		return;
	__atomic_store_n(&fl->stop, 1, __ATOMIC_RELEASE);
	pthread_join(fl->th, NULL);
	write_some(fl); /* nothing should be left; be sure */
	fflush(fl->fp);
	if (fl->own_fp)
		fclose(fl->fp);
	rte_ring_free(fl->r);
	free(fl);
}
