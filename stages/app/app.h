/* Internal interface between the mOS API (api*.c), the app stage (app.c)
 * and the events stage (events.c). */
#ifndef MP_APP_H
#define MP_APP_H

#include "app-types.h"

/* Socket id of slot `slot` of flowapp fa. */
static inline int mp_api_sock_id(const struct mp_flowapp *fa, unsigned slot)
{
	return (int)(MP_API_SOCK_ACTIVE + fa->idx * MP_API_FOLLOW + slot);
}

/* Recomputes fa->mask from its sockets' sets and stop bits (app lcore). */
void mp_app_update_mask(struct mp_flowapp *fa);

/* The callback checks of the API: the running app instance when mctx is the
 * context of the callback being run on this lcore, else NULL (errno EPERM or
 * EACCES). */
struct mp_appi *mp_api_cb_appi(mctx_t mctx);

/* Resolves an active socket of the current flow. @return the socket, or NULL
 * with errno EBADF. */
struct mp_fsock *mp_api_active(struct mp_appi *ai, int sock);

/* Fires due timers of ai up to packet time now (app lcore). */
void mp_app_timers(struct mp_appi *ai, uint64_t now);

/* Packet modification used by mtcp_setlastpkt (api_pkt.c); plain mbuf work,
 * exposed for unit tests. @return 0 or -errno. */
int mp_api_modify(struct rte_mbuf *m, struct mp_meta *md, off_t offset, const uint8_t *data, uint16_t datalen,
                  int option);

/* Recomputes the IPv4 header checksum and the TCP checksum of a packet whose
 * md offsets are set (api_pkt.c). */
void mp_api_fix_csum(struct rte_mbuf *m, struct mp_meta *md, int ip, int tcp);

#endif
