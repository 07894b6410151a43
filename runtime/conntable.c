/* RCU connection table: a thin layer over cds_lfht (QSBR). See conntable.h
 * for the concurrency contract. */
#include <errno.h>
#include <stdlib.h>

#include <urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "conntable.h"
#include "tsan.h"

struct mp_conntable {
	struct cds_lfht *ht;
	mp_conn_snap_fn snap;
	mp_conn_match_fn match;
};

struct mp_conntable *mp_conntable_create(unsigned long min_buckets, mp_conn_snap_fn snap, mp_conn_match_fn match)
{
	struct mp_conntable *ct = calloc(1, sizeof(*ct));
	unsigned long init = 1;

	if (!ct) {
		errno = ENOMEM;
		return NULL;
	}
	if (min_buckets < 1)
		min_buckets = 1;
	/* cds_lfht wants powers of two. */
	while (init < min_buckets)
		init <<= 1;
	ct->snap = snap;
	ct->match = match;
	ct->ht = cds_lfht_new(init, init, 0, CDS_LFHT_AUTO_RESIZE | CDS_LFHT_ACCOUNTING, NULL);
	if (!ct->ht) {
		free(ct);
		errno = ENOMEM;
		return NULL;
	}
	return ct;
}

void mp_conntable_destroy(struct mp_conntable *ct)
{
	if (!ct)
		return;
	/* cds_lfht_destroy fails (-EPERM) while nodes remain: unlink any a
	 * caller left behind; their memory is the caller's. */
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	rcu_read_lock();
	cds_lfht_for_each(ct->ht, &it, n) cds_lfht_del(ct->ht, n);
	rcu_read_unlock();
	cds_lfht_destroy(ct->ht, NULL);
	free(ct);
}

struct match_arg {
	struct mp_conntable *ct;
	const void *key;
};

static int lfht_match(struct cds_lfht_node *node, const void *arg)
{
	const struct match_arg *m = arg;
	return m->ct->match(node, m->key);
}

int mp_conntable_add(struct mp_conntable *ct, struct cds_lfht_node *node, unsigned long hash, const void *key)
{
	struct match_arg m = {ct, key};
	struct cds_lfht_node *got;

	cds_lfht_node_init(node);
	rcu_read_lock();
	got = cds_lfht_add_unique(ct->ht, hash, lfht_match, &m, node);
	rcu_read_unlock();
	return got == node ? 0 : -EEXIST;
}

int mp_conntable_del(struct mp_conntable *ct, struct cds_lfht_node *node)
{
	int r;
	rcu_read_lock();
	r = cds_lfht_del(ct->ht, node);
	rcu_read_unlock();
	return r == 0 ? 0 : -ENOENT;
}

size_t mp_conntable_walk(struct mp_conntable *ct, void (*cb)(const struct mp_conn_snap *s, void *arg), void *arg)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	struct mp_conn_snap s;
	size_t k = 0;

	rcu_read_lock();
	cds_lfht_for_each(ct->ht, &it, n)
	{
		ct->snap(n, &s);
		cb(&s, arg);
		k++;
	}
	MP_TSAN_RCU_READ_DONE();
	rcu_read_unlock();
	return k;
}

size_t mp_conntable_snapshot(struct mp_conntable *ct, struct mp_conn_snap *out, size_t max)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	size_t k = 0;

	rcu_read_lock();
	cds_lfht_for_each(ct->ht, &it, n)
	{
		if (k == max)
			break;
		ct->snap(n, &out[k++]);
	}
	MP_TSAN_RCU_READ_DONE();
	rcu_read_unlock();
	return k;
}

int mp_conntable_lookup(struct mp_conntable *ct, unsigned long hash, const void *key, struct mp_conn_snap *out)
{
	struct match_arg m = {ct, key};
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;

	rcu_read_lock();
	cds_lfht_lookup(ct->ht, hash, lfht_match, &m, &it);
	n = cds_lfht_iter_get_node(&it);
	if (n)
		ct->snap(n, out);
	MP_TSAN_RCU_READ_DONE();
	rcu_read_unlock();
	return n ? 0 : -ENOENT;
}

unsigned long mp_conntable_count(struct mp_conntable *ct)
{
	long before, after;
	unsigned long count;
	rcu_read_lock();
	cds_lfht_count_nodes(ct->ht, &before, &count, &after);
	rcu_read_unlock();
	return count;
}
