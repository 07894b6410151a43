/* The record log: a pipeline service (pipeline-types.h, "services") that
 * writes fixed-size records as text lines to a file, off the datapath. The
 * flow log ([output] flow_log) is one: tcpsm instances push one record per
 * ended connection; what a record holds and how it reads as a line stay the
 * stage's (struct mp_stage_svc: log_rec_size, log_format).
 *
 * Concurrency contract
 *  - Producers (mp_reclog_push): any number of threads at once, lock-free
 *    (a multi-producer rte_ring of records). A full ring refuses the record
 *    (-ENOBUFS): the producer counts it, the datapath never waits. Records
 *    of one producer are written in the order it pushed them.
 *  - The writer: one thread of the log's own (started by mp_reclog_start,
 *    on the control CPUs it inherits), the only reader of the ring and the
 *    only user of the file; it calls the format function.
 *  - mp_reclog_stop: once no producer pushes any more (after the lcores
 *    stopped); every record pushed before is written.
 */
#ifndef MP_RECLOG_H
#define MP_RECLOG_H

#include <stdint.h>

struct mp_reclog;

/* Writes record rec as one text line ending in '\n' into line (len bytes,
 * truncated like snprintf). @return the length it wanted. */
typedef int (*mp_reclog_format_fn)(const void *rec, char *line, unsigned len);

/* Opens path ("-" = stdout) for writing, makes a ring of at least slots
 * records of rec_size bytes (a multiple of 4, at most 512) and starts the
 * writer. what: how the user named the log (the conf key), for messages.
 * @return the log, or NULL after printing why (naming what and the file). */
struct mp_reclog *mp_reclog_start(const char *what, const char *path, unsigned rec_size, unsigned slots,
                                  mp_reclog_format_fn format);

/* Queues a copy of rec (rec_size bytes). Any thread, lock-free.
 * @return 0, or -ENOBUFS when the ring is full (the record is lost). */
int mp_reclog_push(struct mp_reclog *l, const void *rec);

/* @return 1 when the ring is more than half full: the writer is falling
 * behind (a producer may then drop records it can spare first). Any
 * thread; racy with producers and the writer, a hint. */
int mp_reclog_behind(const struct mp_reclog *l);

/* Writes what is queued, flushes, stops the writer, closes the file and
 * frees the log. NULL is a no-op. */
void mp_reclog_stop(struct mp_reclog *l);

#endif
