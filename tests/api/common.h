/* Shared bits of the mOS API example programs: start-up from argv
 * (CONF [OUT]), the trace file, and small helpers. Each program runs on the
 * capture named by $MOSPIPE_INPUT (pcap:FILE). */
#ifndef API_COMMON_H
#define API_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mos_api.h"

static FILE *out;

static inline mctx_t api_start(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s pipeline.conf [trace-file]\n", argv[0]);
		exit(2);
	}
	out = argc > 2 ? fopen(argv[2], "w") : stdout;
	if (!out) {
		perror(argv[2]);
		exit(2);
	}
	if (mtcp_init(argv[1]) < 0) {
		fprintf(stderr, "%s: mtcp_init(%s) failed: %s\n", argv[0], argv[1], strerror(errno));
		exit(2);
	}
	mctx_t m = mtcp_create_context(0);
	if (!m) {
		fprintf(stderr, "%s: mtcp_create_context: %s\n", argv[0], strerror(errno));
		exit(2);
	}
	return m;
}

static inline void api_finish(void)
{
	mtcp_destroy();
	if (out != stdout)
		fclose(out);
}

/* "cli_ip:port>svr_ip:port" of the flow of an active socket. */
static inline const char *api_flow_name(mctx_t m, int sock, char *buf, size_t len)
{
	struct sockaddr_in6 sa[2];
	socklen_t al = sizeof(sa);
	char a[2][INET6_ADDRSTRLEN];
	if (mtcp_getpeername(m, sock, (struct sockaddr *)sa, &al, MOS_SIDE_BOTH) < 0) {
		snprintf(buf, len, "?");
		return buf;
	}
	unsigned one = al / 2;
	for (int i = 0; i < 2; i++) {
		const struct sockaddr *s = (const struct sockaddr *)((const char *)sa + i * one);
		if (s->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)s;
			inet_ntop(AF_INET, &s4->sin_addr, a[i], sizeof(a[i]));
			snprintf(a[i] + strlen(a[i]), sizeof(a[i]) - strlen(a[i]), ":%u", ntohs(s4->sin_port));
		} else {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)s;
			inet_ntop(AF_INET6, &s6->sin6_addr, a[i], sizeof(a[i]));
			snprintf(a[i] + strlen(a[i]), sizeof(a[i]) - strlen(a[i]), ".%u", ntohs(s6->sin6_port));
		}
	}
	snprintf(buf, len, "%s>%s", a[0], a[1]);
	return buf;
}

static inline const char *api_ev_name(event_t e)
{
	switch (e) {
	case MOS_ON_PKT_IN: return "PKT_IN";
	case MOS_ON_CONN_START: return "CONN_START";
	case MOS_ON_CONN_NEW_DATA: return "NEW_DATA";
	case MOS_ON_ERROR: return "ERROR";
	case MOS_ON_TIMEOUT: return "TIMEOUT";
	case MOS_ON_TCP_STATE_CHANGE: return "STATE_CHANGE";
	case MOS_ON_ORPHAN: return "ORPHAN";
	case MOS_ON_REXMIT: return "REXMIT";
	case MOS_ON_CONN_END: return "CONN_END";
	default: return "UDE";
	}
}

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(out, "FAIL %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__, #cond, errno,               \
			        strerror(errno));                                                                      \
			fails++;                                                                                       \
		}                                                                                                      \
	} while (0)

#endif
