/* The RCU-protected connection table: every flow a tcpsm instance tracks is
 * published here so that readers off the datapath (midstat, stats threads,
 * tests) can list connections without locks and without slowing tcpsm.
 *
 * Built on liburcu's lock-free resizable hash table (cds_lfht), QSBR flavour.
 * The table does not know the flow layout: the owner of the nodes (tcpsm)
 * gives a match function for lookups and a snapshot function that copies a
 * flow into a struct mp_conn_snap.
 *
 * Concurrency contract
 *  - Writers (mp_conntable_add/del): the one tcpsm instance that owns the
 *    node, on a thread registered with urcu-qsbr and online. Several tcpsm
 *    instances may write concurrently (each its own nodes): cds_lfht is
 *    multi-writer safe.
 *  - Readers (mp_conntable_walk/snapshot/count): any thread registered with
 *    urcu-qsbr (rcu_register_thread) and online; the functions take the read
 *    lock themselves and never hold a node after they return. A reader that
 *    sleeps between walks should go offline (rcu_thread_offline) so that it
 *    does not delay grace periods.
 *  - Reclamation: a node removed with mp_conntable_del may still be seen by a
 *    reader that started before; its memory may only be reused after a grace
 *    period (call_rcu), which is what tcpsm does when tx retires the flow.
 *  - Snapshots are copies made while the writer keeps updating the flow:
 *    each field is read untorn (aligned, at most 64 bits, relaxed loads) but
 *    the fields of one snapshot may come from different packets.
 */
#ifndef MP_CONNTABLE_H
#define MP_CONNTABLE_H

#include <stddef.h>
#include <stdint.h>

struct cds_lfht_node;
struct mp_conntable;

/* One connection as a reader sees it. Addresses in network order; IPv4 in
 * the first 4 bytes. */
struct mp_conn_snap {
	uint8_t cli_addr[16], svr_addr[16];
	uint16_t cli_port, svr_port; /* host order */
	uint8_t v6;
	uint8_t midstream;
	uint8_t cli_state, svr_state;          /* enum mp_tcp_state */
	uint64_t pkts[2], bytes[2], rexmit[2]; /* [side]: 0 client, 1 server */
	uint64_t first_ts_ns, last_ts_ns;
	uint64_t id;   /* per-process unique connection id */
	unsigned inst; /* tcpsm instance that owns it */
};

/* Copies the flow that embeds node into *out. Called under the read lock. */
typedef void (*mp_conn_snap_fn)(const struct cds_lfht_node *node, struct mp_conn_snap *out);
/* @return non-zero when the flow that embeds node has this key. */
typedef int (*mp_conn_match_fn)(const struct cds_lfht_node *node, const void *key);

/* Creates an empty table that grows automatically.
 * @return the table, or NULL with errno set (ENOMEM). */
struct mp_conntable *mp_conntable_create(unsigned long min_buckets, mp_conn_snap_fn snap, mp_conn_match_fn match);

/* Frees the table. Every node must have been removed and no reader may use
 * the table any more; call rcu_barrier() first if nodes are freed by call_rcu.
 * Must not be called from a read-side critical section or a call_rcu thread. */
void mp_conntable_destroy(struct mp_conntable *ct);

/* Publishes node under hash unless a node with the same key is present.
 * @return 0, or -EEXIST (node not added). */
int mp_conntable_add(struct mp_conntable *ct, struct cds_lfht_node *node, unsigned long hash, const void *key);

/* Unpublishes node. @return 0, or -ENOENT when it was not in the table. */
int mp_conntable_del(struct mp_conntable *ct, struct cds_lfht_node *node);

/* Calls cb with a snapshot of each connection (in no particular order).
 * @return the number of connections visited. */
size_t mp_conntable_walk(struct mp_conntable *ct, void (*cb)(const struct mp_conn_snap *s, void *arg), void *arg);

/* Copies at most max snapshots into out. @return how many were copied. */
size_t mp_conntable_snapshot(struct mp_conntable *ct, struct mp_conn_snap *out, size_t max);

/* Looks up the connection with this key and copies it into *out.
 * @return 0, or -ENOENT. */
int mp_conntable_lookup(struct mp_conntable *ct, unsigned long hash, const void *key, struct mp_conn_snap *out);

/* @return the number of connections (approximate while writers run). */
unsigned long mp_conntable_count(struct mp_conntable *ct);

#endif
