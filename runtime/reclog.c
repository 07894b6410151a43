/* The record log (reclog.h): a multi-producer rte_ring of fixed-size
 * records, drained by a writer pthread that formats each record with the
 * producing stage's function and writes it to a file. See reclog.h for the
 * concurrency contract. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "reclog.h"

/* Longest line written; longer ones are cut (a flow-log line is < 600). */
#define RECLOG_LINE 1024
/* Records the writer takes per dequeue; also bounds its stack buffer. */
#define RECLOG_BATCH 32
#define RECLOG_MAX_REC 512

struct mp_reclog {
	struct rte_ring *r;
	FILE *fp;
	int own_fp;
	int stop; /* set (release) by mp_reclog_stop */
	unsigned rec_size;
	mp_reclog_format_fn format;
	pthread_t th;
};

static unsigned write_some(struct mp_reclog *l)
{
	_Alignas(8) uint8_t recs[RECLOG_BATCH * RECLOG_MAX_REC];
	char line[RECLOG_LINE];
	unsigned n = rte_ring_sc_dequeue_burst_elem(l->r, recs, l->rec_size, RECLOG_BATCH, NULL);
	for (unsigned i = 0; i < n; i++) {
		l->format(recs + (size_t)i * l->rec_size, line, sizeof(line));
		fputs(line, l->fp);
	}
	return n;
}

static void *writer(void *arg)
{
	struct mp_reclog *l = arg;
	for (;;) {
		/* Read stop before emptying the ring: records pushed before
		 * stop was set are then all seen by the final pass. */
		int stop = __atomic_load_n(&l->stop, __ATOMIC_ACQUIRE);
		if (write_some(l))
			continue;
		if (stop)
			break;
		fflush(l->fp);
		usleep(1000);
	}
	fflush(l->fp);
	return NULL;
}

struct mp_reclog *mp_reclog_start(const char *what, const char *path, unsigned rec_size, unsigned slots,
                                  mp_reclog_format_fn format)
{
	struct mp_reclog *l = calloc(1, sizeof(*l));
	unsigned n = 64;

	if (!l) {
		fprintf(stderr, "mospipe: %s %s: out of memory\n", what, path);
		return NULL;
	}
	if (rec_size == 0 || rec_size % 4 || rec_size > RECLOG_MAX_REC || !format) {
		/* A stage's declaration is wrong: a build problem, not a user's. */
		fprintf(stderr, "mospipe: %s %s: records of %u bytes cannot be logged (multiple of 4, at most %u)\n",
		        what, path, rec_size, RECLOG_MAX_REC);
		free(l);
		return NULL;
	}
	while (n < slots && n < (1u << 24))
		n <<= 1;
	l->rec_size = rec_size;
	l->format = format;
	if (!strcmp(path, "-"))
		l->fp = stdout;
	else {
		l->fp = fopen(path, "w");
		l->own_fp = 1;
		if (!l->fp) {
			fprintf(stderr, "mospipe: %s %s: cannot open for writing: %s\n", what, path, strerror(errno));
			free(l);
			return NULL;
		}
	}
	/* One log per pipeline, one pipeline per process: the name is unique. */
	l->r = rte_ring_create_elem("mp_reclog", rec_size, n, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (!l->r) {
		fprintf(stderr, "mospipe: %s %s: cannot create its ring of %u records: %s (raise EAL -m)\n", what, path,
		        n, rte_strerror(rte_errno));
		goto fail;
	}
	if (pthread_create(&l->th, NULL, writer, l) != 0) {
		fprintf(stderr, "mospipe: %s %s: cannot start the writer thread\n", what, path);
		rte_ring_free(l->r);
		goto fail;
	}
	return l;
fail:
	if (l->own_fp)
		fclose(l->fp);
	free(l);
	return NULL;
}

int mp_reclog_push(struct mp_reclog *l, const void *rec)
{
	return rte_ring_mp_enqueue_elem(l->r, (void *)(uintptr_t)rec, l->rec_size) == 0 ? 0 : -ENOBUFS;
}

int mp_reclog_behind(const struct mp_reclog *l)
{
	return rte_ring_count(l->r) > rte_ring_get_capacity(l->r) / 2;
}

void mp_reclog_stop(struct mp_reclog *l)
{
	if (!l)
		return;
	__atomic_store_n(&l->stop, 1, __ATOMIC_RELEASE);
	pthread_join(l->th, NULL);
	write_some(l); /* nothing should be left; be sure */
	fflush(l->fp);
	if (l->own_fp)
		fclose(l->fp);
	rte_ring_free(l->r);
	free(l);
}
