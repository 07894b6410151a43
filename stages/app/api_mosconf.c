/* mOS's own configuration file (its mos.conf: nested "mos { ... }" and
 * "application { ... }" blocks, "key = value" lines, '#' comments), read by
 * mtcp_init() so that an mOS application's shipped config works unchanged.
 *
 * Keys with a meaning here are mapped onto pipeline.conf keys (mOS's
 * config.c gives their units):
 *   forward          pipeline.mode   (non-zero: inline, 0: monitor)
 *   max_concurrency  tcp.flows
 *   rmem_size        tcp.buf_size    (bytes per side)
 *   no_ring_buffers  tcp.buf_pool    (buffers: times the buffer size)
 *   tcp_timeout      tcp.idle_timeout (seconds; <= 0: never, i.e. 24 h)
 *   tcp_tw_interval  tcp.time_wait   (seconds)
 * Everything else (devices and their core masks, ARP, route and NIC
 * forwarding tables, logs, multiprocess, the application blocks) has no
 * meaning in mospipe: each is named in one warning on stderr. The input
 * comes from [input] source or $MOSPIPE_INPUT, the cores from [lcores], as
 * for any mospipe application; $MOSPIPE_SET still applies after the file.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conf.h"
#include "tcpsm.h"

#define MOSCONF_MAX (1 << 20)

/* Warns once per name. */
struct warned {
	char name[32][48];
	unsigned n;
};

static void warn_once(struct warned *w, const char *path, const char *what, const char *name, const char *why)
{
	for (unsigned i = 0; i < w->n; i++)
		if (!strcmp(w->name[i], name))
			return;
	if (w->n < 32)
		snprintf(w->name[w->n++], sizeof(w->name[0]), "%s", name);
	fprintf(stderr, "mtcp_init: %s: mOS %s '%s' ignored: %s\n", path, what, name, why);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int set(struct mp_conf *c, const char *path, unsigned line, const char *sec, const char *key, const char *val,
               char *err, size_t errlen)
{
	char e[256];
	if (mp_conf_set(c, sec, key, val, e, sizeof(e)) == 0)
		return 0;
	snprintf(err, errlen, "%s:%u: mOS key mapped to [%s] %s = %s: %s", path, line, sec, key, val, e);
	return -1;
}

uint64_t mp_api_mos_pool(uint64_t count, uint64_t size, unsigned flows, uint64_t *need, int *raised)
{
	uint64_t bytes = count * size;
	*need = tcpsm_buf_pool_need(flows, size);
	*raised = bytes && bytes < *need;
	return *raised ? *need : bytes;
}

int mp_api_load_mosconf(struct mp_conf *c, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	char *buf = malloc(MOSCONF_MAX + 1);
	size_t n = buf ? fread(buf, 1, MOSCONF_MAX, f) : 0;
	fclose(f);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	buf[n] = 0;
	/* An mOS file starts (comments aside) with a "mos {" or
	 * "application {" block; a pipeline.conf with a "[section]". */
	char *p = buf;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '#')
			break;
		while (*p && *p != '\n')
			p++;
	}
	char word[32];
	if (sscanf(p, "%31[a-z_] {", word) != 1 || (strcmp(word, "mos") && strcmp(word, "application")) ||
	    !strchr(p, '{')) {
		free(buf);
		return 0;
	}
	struct warned w = {.n = 0};
	char stack[8][32];
	int depth = 0, rc = 1;
	unsigned lineno = 0;
	uint64_t rings = 0, rmem = 0;
	unsigned rings_line = 0;
	char *save = NULL;
	for (char *ln = strtok_r(buf, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char *hash = strchr(ln, '#');
		if (hash)
			*hash = 0;
		char *s = trim(ln);
		while (*s) {
			char *open = strchr(s, '{'), *close = strchr(s, '}');
			if (open && (!close || open < close)) {
				*open = 0;
				char *name = trim(s);
				if (depth == 8) {
					snprintf(err, errlen, "%s:%u: blocks nested too deep", path, lineno);
					rc = -1;
					goto out;
				}
				snprintf(stack[depth++], sizeof(stack[0]), "%s", *name ? name : "?");
				if (depth == 1 && strcmp(stack[0], "mos"))
					warn_once(
					    &w, path, "block", stack[0],
					    "mospipe runs one application per process (the one that called mtcp_init)");
				else if (depth == 2)
					warn_once(
					    &w, path, "block", stack[1],
					    !strcmp(stack[1], "netdev")
					        ? "ports come from [input] source or $MOSPIPE_INPUT, cores from "
					          "[lcores]"
					        : "no routing or ARP in a monitor/bump-in-the-wire stack (inline mode "
					          "forwards each port to its pair)");
				s = trim(open + 1);
				continue;
			}
			if (close) {
				*close = 0;
				if (depth == 0) {
					snprintf(err, errlen, "%s:%u: '}' without a block", path, lineno);
					rc = -1;
					goto out;
				}
				s = trim(close + 1);
				depth--;
				continue;
			}
			break;
		}
		if (!*s || depth != 1 || strcmp(stack[0], "mos"))
			continue; /* block contents warned about above */
		char *eq = strchr(s, '=');
		if (!eq) {
			warn_once(&w, path, "line", s, "not a key = value line");
			continue;
		}
		*eq = 0;
		char *key = trim(s), *val = trim(eq + 1);
		char tmp[64];
		if (!strcmp(key, "forward")) {
			if (set(c, path, lineno, "pipeline", "mode", atoi(val) ? "inline" : "monitor", err, errlen) < 0)
				goto fail;
		} else if (!strcmp(key, "max_concurrency")) {
			if (set(c, path, lineno, "tcp", "flows", val, err, errlen) < 0)
				goto fail;
		} else if (!strcmp(key, "rmem_size")) {
			if (set(c, path, lineno, "tcp", "buf_size", val, err, errlen) < 0)
				goto fail;
			rmem = strtoull(val, NULL, 0);
		} else if (!strcmp(key, "no_ring_buffers")) {
			rings = strtoull(val, NULL, 0);
			rings_line = lineno;
		} else if (!strcmp(key, "tcp_timeout")) {
			long v = strtol(val, NULL, 0);
			snprintf(tmp, sizeof(tmp), "%lds", v > 0 && v < 86400 ? v : 86400L);
			if (set(c, path, lineno, "tcp", "idle_timeout", tmp, err, errlen) < 0)
				goto fail;
		} else if (!strcmp(key, "tcp_tw_interval")) {
			snprintf(tmp, sizeof(tmp), "%lds", strtol(val, NULL, 0));
			if (set(c, path, lineno, "tcp", "time_wait", tmp, err, errlen) < 0)
				goto fail;
		} else if (!strcmp(key, "wmem_size")) {
			warn_once(&w, path, "key", key, "no send buffers (no end-host stack)");
		} else {
			warn_once(&w, path, "key", key,
			          "no meaning in mospipe (see pipeline.conf keys: mospipe --help-conf)");
		}
	}
	if (depth) {
		snprintf(err, errlen, "%s: block '%s' not closed", path, stack[depth - 1]);
		goto fail;
	}
	if (rings) {
		/* mOS shares no_ring_buffers buffers among its flows and leaves
		 * the others unbuffered; mospipe refuses a pool that cannot give
		 * every side of a full table its first chunks. The bytes mOS
		 * would use are kept when they suffice, else the pool is raised
		 * to that minimum, said once; mtcp_getconf() still reports the
		 * file's count. */
		char tmp[32];
		uint64_t need, size = rmem ? rmem : c->buf_size;
		int raised;
		uint64_t bytes = mp_api_mos_pool(rings, size, c->flows, &need, &raised);
		if (raised)
			fprintf(stderr,
			        "mtcp_init: %s:%u: mOS no_ring_buffers = %" PRIu64 " (%" PRIu64
			        " bytes) cannot give each side "
			        "of max_concurrency = %u flows its first reassembly chunks: the pool is %" PRIu64
			        " bytes instead ([tcp] buf_pool)\n",
			        path, rings_line, rings, rings * size, c->flows, need);
		snprintf(tmp, sizeof(tmp), "%" PRIu64, bytes);
		if (set(c, path, rings_line, "tcp", "buf_pool", tmp, err, errlen) < 0)
			goto fail;
		c->mos_buffers = rings > UINT32_MAX ? UINT32_MAX : (uint32_t)rings;
	}
	goto out;
fail:
	rc = -1;
out:
	free(buf);
	return rc;
}
