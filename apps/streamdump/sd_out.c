/* streamdump's output: one file per direction of a connection, named as
 * tcpflow 1.6 names them, and the JSON-lines index.
 *
 * Files. A direction's file is created at its first byte (a direction that
 * carried nothing gets no file, as with tcpflow), with O_EXCL: when the name
 * exists — the same 4-tuple used again, or an earlier run in the same
 * directory — the next free "cN" suffix is taken, which is what tcpflow's
 * %C%c does. File offset = stream offset, so a gap followed by data leaves a
 * hole (read back as NUL bytes, tcpflow's behaviour) or, with --fill, bytes
 * of the fill value; a gap nothing follows is listed in the index but not
 * written, so the file ends at the last byte seen.
 *
 * Open files are a per-context LRU cache capped at --max-open: a file pushed
 * out is closed and reopened (O_WRONLY, positional writes) at its
 * direction's next byte, so any number of concurrent connections works
 * within the descriptor limit. An open file may hold one of the context's
 * write-behind buffers (--write-buffers, SD_WBUF each), flushed when the
 * next bytes are not contiguous, when it is full and when the file closes;
 * measured on the bench workload, it turns ~11 write(2) calls into one.
 *
 * Index. One line per connection when it ends, appended with a single
 * write(2) to a file opened O_APPEND, so the lines of several contexts never
 * interleave; a closing "summary" line after the input ended. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mospipe_ext.h>

#include "sd.h"

const struct sd_opts *sd_opt;
static int dir_fd = -1;
static int index_fd = -1;
static const char *index_name;

/* ---- file names ------------------------------------------------------------ */

int sd_tmpl_check(const char *t, char *bad)
{
	for (; *t; t++) {
		if (*t != '%')
			continue;
		t++;
		if (!*t || !strchr("AaBbVvCc#%Tt", *t)) {
			*bad = *t ? *t : '%';
			return -1;
		}
	}
	return 0;
}

static size_t put_addr(char *o, size_t len, int v6, const uint8_t *a)
{
	if (v6) {
		/* inet_ntop's compressed form, as tcpflow writes IPv6. */
		if (!inet_ntop(AF_INET6, a, o, (socklen_t)len))
			return 0;
		return strlen(o);
	}
	int n = snprintf(o, len, "%03u.%03u.%03u.%03u", a[0], a[1], a[2], a[3]);
	return n > 0 ? (size_t)n : 0;
}

void sd_side_name(const struct sd_flow *f, enum sd_dir d, uint32_t conn_n, char *out, size_t len)
{
	const uint8_t *src = d == SD_C2S ? f->cli : f->svr, *dst = d == SD_C2S ? f->svr : f->cli;
	unsigned sport = d == SD_C2S ? f->cli_port : f->svr_port, dport = d == SD_C2S ? f->svr_port : f->cli_port;
	size_t n = 0;
	char tmp[64];

	for (const char *t = sd_opt->tmpl; *t && n + 1 < len; t++) {
		const char *add = tmp;
		tmp[0] = 0;
		if (*t != '%') {
			out[n++] = *t;
			continue;
		}
		switch (*++t) {
		case 'A': put_addr(tmp, sizeof(tmp), f->v6, src); break;
		case 'B': put_addr(tmp, sizeof(tmp), f->v6, dst); break;
		case 'a': snprintf(tmp, sizeof(tmp), "%05u", sport); break;
		case 'b': snprintf(tmp, sizeof(tmp), "%05u", dport); break;
		case 'V': add = f->vlan != SD_NO_VLAN ? "--" : ""; break;
		case 'v':
			if (f->vlan != SD_NO_VLAN)
				snprintf(tmp, sizeof(tmp), "%d", f->vlan);
			break;
		case 'C': add = conn_n ? "c" : ""; break;
		case 'c':
			if (conn_n)
				snprintf(tmp, sizeof(tmp), "%" PRIu32, conn_n);
			break;
		case '#': snprintf(tmp, sizeof(tmp), "%" PRIu32, conn_n); break;
		case 'T': {
			time_t s = (time_t)(f->first_ns / 1000000000u);
			struct tm tm;
			strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s, &tm));
			break;
		}
		case 't': snprintf(tmp, sizeof(tmp), "%" PRIu64, f->first_ns / 1000000000u); break;
		case '%': add = "%"; break;
		default: add = ""; break; /* sd_tmpl_check() refused it */
		}
		size_t k = strlen(add);
		if (k > len - 1 - n)
			k = len - 1 - n;
		memcpy(out + n, add, k);
		n += k;
	}
	out[n] = 0;
}

/* Creates the directories a template with '/' asks for (tcpflow does too). */
static void mkdirs_for(const char *name)
{
	char p[SD_NAME_MAX];
	snprintf(p, sizeof(p), "%s", name);
	for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (*p)
			mkdirat(dir_fd, p, 0777);
		*s = '/';
	}
}

/* ---- the open-file cache --------------------------------------------------- */

static void lru_unlink(struct sd_ctx *c, struct sd_side *s)
{
	if (s->lru_prev)
		s->lru_prev->lru_next = s->lru_next;
	else
		c->lru_head = s->lru_next;
	if (s->lru_next)
		s->lru_next->lru_prev = s->lru_prev;
	else
		c->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NULL;
}

static void lru_push(struct sd_ctx *c, struct sd_side *s)
{
	s->lru_prev = NULL;
	s->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = s;
	c->lru_head = s;
	if (!c->lru_tail)
		c->lru_tail = s;
}

/* A file that cannot be created or written: said on stderr for the first
 * SD_ERR_SAID ones (a full disk fails every stream), counted always. */
#define SD_ERR_SAID 5
static void side_fail(struct sd_ctx *c, struct sd_side *s, const char *what, int err)
{
	static unsigned said;
	char name[SD_NAME_MAX];
	const struct sd_flow *f = (const struct sd_flow *)((const char *)(s - s->dir) - offsetof(struct sd_flow, s));
	c->n.write_errors++;
	if (s->failed)
		return;
	s->failed = 1;
	unsigned k = __atomic_fetch_add(&said, 1, __ATOMIC_RELAXED);
	if (k > SD_ERR_SAID)
		return;
	if (k == SD_ERR_SAID) {
		fprintf(stderr, "streamdump: more files cannot be written; the rest are only counted (write_errors, "
		                "\"write_error\": true in the index)\n");
		return;
	}
	sd_side_name(f, (enum sd_dir)s->dir, s->conn_n, name, sizeof(name));
	fprintf(stderr,
	        "streamdump: %s %s/%s: %s (the rest of this stream is not written; counted in "
	        "write_errors)\n",
	        what, sd_opt->outdir, name, strerror(err));
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -1 : (errno = ENOSPC, -1);
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int side_flush(struct sd_ctx *c, struct sd_side *s)
{
	if (!s->wlen)
		return 0;
	int rc = pwrite_all(s->fd, s->wb, s->wlen, s->woff);
	if (rc < 0)
		side_fail(c, s, "cannot write", errno);
	s->wlen = 0;
	return rc;
}

static void side_close(struct sd_ctx *c, struct sd_side *s)
{
	if (s->fd < 0)
		return;
	side_flush(c, s);
	if (s->wb) {
		c->wfree[c->n_wfree++] = s->wb;
		s->wb = NULL;
	}
	lru_unlink(c, s);
	close(s->fd);
	s->fd = -1;
	c->n_open--;
}

void sd_ctx_free_buffers(struct sd_ctx *c)
{
	while (c->n_wfree)
		free(c->wfree[--c->n_wfree]);
	free(c->wfree);
	c->wfree = NULL;
	free(c->lbuf);
	c->lbuf = NULL;
	c->lcap = 0;
}

/* A write-behind buffer for an open file, if one is left. */
static void side_take_buffer(struct sd_ctx *c, struct sd_side *s)
{
	if (c->n_wfree) {
		s->wb = c->wfree[--c->n_wfree];
		return;
	}
	if (c->n_wbuf >= c->max_wbuf)
		return;
	if (!c->wfree && !(c->wfree = calloc(c->max_wbuf, sizeof(*c->wfree)))) {
		c->max_wbuf = 0;
		return;
	}
	if ((s->wb = malloc(SD_WBUF)))
		c->n_wbuf++;
}

/* The direction's descriptor, creating or reopening its file. */
static int side_fd(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d)
{
	struct sd_side *s = &f->s[d];
	char name[SD_NAME_MAX];

	if (s->fd >= 0) {
		if (c->lru_head != s) {
			lru_unlink(c, s);
			lru_push(c, s);
		}
		return s->fd;
	}
	if (s->failed)
		return -1;
	while (c->n_open >= c->max_open && c->lru_tail)
		side_close(c, c->lru_tail);
	if (!s->created) {
		for (uint32_t k = 0;; k++) {
			sd_side_name(f, d, k, name, sizeof(name));
			if (strchr(name, '/'))
				mkdirs_for(name);
			s->fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
			if (s->fd >= 0) {
				s->conn_n = k;
				break;
			}
			if (errno != EEXIST || k == 1000000) {
				s->conn_n = k;
				side_fail(c, s, "cannot create", errno);
				return -1;
			}
		}
		s->created = 1;
		c->n.files++;
	} else {
		sd_side_name(f, d, s->conn_n, name, sizeof(name));
		s->fd = openat(dir_fd, name, O_WRONLY | O_CLOEXEC);
		if (s->fd < 0) {
			side_fail(c, s, "cannot reopen", errno);
			return -1;
		}
		c->n.reopens++;
	}
	c->n_open++;
	lru_push(c, s);
	side_take_buffer(c, s);
	return s->fd;
}

/* ---- bytes and gaps -------------------------------------------------------- */

static void list_add(struct sd_gaps *l, uint64_t off, uint64_t n)
{
	if (l->n == l->cap && l->cap < sd_opt->max_gaps) {
		uint32_t cap = l->cap ? l->cap * 2 : 4;
		if (cap > sd_opt->max_gaps)
			cap = sd_opt->max_gaps;
		struct sd_gap *g = realloc(l->v, cap * sizeof(*g));
		if (g) {
			l->v = g;
			l->cap = cap;
		}
	}
	if (l->n < l->cap)
		l->v[l->n++] = (struct sd_gap){off, n};
	else
		l->unlisted++;
}

void sd_side_gap(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, uint64_t n)
{
	struct sd_side *s = &f->s[d];
	if (!n)
		return;
	c->n.gaps++;
	c->n.missed += n;
	s->missed += n;
	list_add(&s->gaps, s->off, n);
	s->off += n;
}

void sd_side_held(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, uint64_t off, uint64_t n)
{
	struct sd_side *s = &f->s[d];
	c->n.held += n;
	s->held += n;
	list_add(&s->heldv, off, n);
}

void sd_side_data(struct sd_ctx *c, struct sd_flow *f, enum sd_dir d, const char *buf, size_t n)
{
	struct sd_side *s = &f->s[d];
	uint64_t off = s->off, lim = sd_opt->max_bytes < 0 ? UINT64_MAX : (uint64_t)sd_opt->max_bytes;
	size_t w = off >= lim ? 0 : (lim - off < n ? (size_t)(lim - off) : n);
	s->off += n;
	s->bytes += n;
	s->clipped += n - w;
	c->n.bytes += n;
	c->n.clipped += n - w;
	/* Created even when -b leaves nothing to write, as tcpflow does. */
	int fd = side_fd(c, f, d);
	if (fd < 0)
		return;
	if (sd_opt->fill && s->size < off && s->size < lim) {
		/* The gap before these bytes, in the fill byte instead of a hole. */
		char fill[4096];
		uint64_t end = off < lim ? off : lim;
		memset(fill, sd_opt->fill, sizeof(fill));
		for (uint64_t p = s->size; p < end;) {
			size_t k = end - p < sizeof(fill) ? (size_t)(end - p) : sizeof(fill);
			if (pwrite_all(fd, fill, k, p) < 0) {
				side_fail(c, s, "cannot write", errno);
				goto fail;
			}
			p += k;
		}
		s->size = end;
	}
	if (!w)
		return;
	if (off + w > s->size)
		s->size = off + w;
	if (s->wb) {
		/* Contiguous with what the buffer holds and fitting: just copy. */
		if (s->wlen && (off != s->woff + s->wlen || s->wlen + w > SD_WBUF) && side_flush(c, s) < 0)
			goto fail;
		if (w <= SD_WBUF) {
			if (!s->wlen)
				s->woff = off;
			memcpy(s->wb + s->wlen, buf, w);
			s->wlen += (uint32_t)w;
			return;
		}
	}
	if (pwrite_all(fd, buf, w, off) < 0) {
		side_fail(c, s, "cannot write", errno);
		goto fail;
	}
	return;
fail:
	side_close(c, s);
}

/* ---- the index ------------------------------------------------------------- */

struct sb {
	char *p;
	size_t n, cap;
	int over;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= b->cap - b->n) {
		b->over = 1;
		b->p[b->n] = 0;
		return;
	}
	b->n += (size_t)w;
}

static void sb_str(struct sb *b, const char *s)
{
	sb_printf(b, "\"");
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			sb_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			sb_printf(b, "\\u%04x", ch);
		else
			sb_printf(b, "%c", ch);
	}
	sb_printf(b, "\"");
}

static void sb_ip(struct sb *b, int v6, const uint8_t *a)
{
	char s[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, a, s, sizeof(s));
	sb_str(b, s);
}

static void sb_time(struct sb *b, uint64_t ns)
{
	sb_printf(b, "%" PRIu64 ".%06" PRIu64, ns / 1000000000u, ns % 1000000000u / 1000u);
}

static void write_line(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(index_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			static int said;
			if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
				fprintf(stderr, "streamdump: cannot write the index %s: %s\n", index_name,
				        w < 0 ? strerror(errno) : "short write");
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

static void list_json(struct sb *b, const char *name, const struct sd_gaps *l)
{
	sb_printf(b, ",\"%s\":[", name);
	for (uint32_t i = 0; i < l->n; i++)
		sb_printf(b, "%s{\"offset\":%" PRIu64 ",\"len\":%" PRIu64 "}", i ? "," : "", l->v[i].off, l->v[i].len);
	sb_printf(b, "],\"%s_unlisted\":%" PRIu64, name, l->unlisted);
}

static void side_json(struct sb *b, const struct sd_flow *f, enum sd_dir d)
{
	const struct sd_side *s = &f->s[d];
	char name[SD_NAME_MAX];
	sb_printf(b, "{\"file\":");
	if (s->created) {
		sd_side_name(f, d, s->conn_n, name, sizeof(name));
		sb_str(b, name);
	} else {
		sb_printf(b, "null");
	}
	sb_printf(b,
	          ",\"bytes\":%" PRIu64 ",\"size\":%" PRIu64 ",\"stream_end\":%" PRIu64 ",\"missed\":%" PRIu64
	          ",\"held\":%" PRIu64 ",\"clipped\":%" PRIu64 ",\"write_error\":%s",
	          s->bytes, s->size, s->off, s->missed, s->held, s->clipped, s->failed ? "true" : "false");
	list_json(b, "gaps", &s->gaps);
	list_json(b, "held_runs", &s->heldv);
	sb_printf(b, "}");
}

void sd_flow_finish(struct sd_ctx *c, struct sd_flow *f, const struct mospipe_flow_info *fi, int cli_state,
                    int svr_state)
{
	char name[SD_NAME_MAX];
	struct timespec ts[2];
	ts[0].tv_sec = (time_t)(f->first_ns / 1000000000u);
	ts[0].tv_nsec = (long)(f->first_ns % 1000000000u);
	ts[1] = ts[0];
	for (int d = 0; d < 2; d++) {
		struct sd_side *s = &f->s[d];
		if (s->fd >= 0)
			side_flush(c, s);
		/* The file's times are the connection's start, as tcpflow sets them. */
		if (s->created && !sd_opt->no_mtime && f->first_ns) {
			if (s->fd >= 0) {
				futimens(s->fd, ts);
			} else {
				sd_side_name(f, (enum sd_dir)d, s->conn_n, name, sizeof(name));
				utimensat(dir_fd, name, ts, 0);
			}
		}
		side_close(c, s);
	}
	c->n.flows++;

	/* Enough room for every listed gap: the line is never cut. */
	size_t need = 4096 + 64 * (size_t)(f->s[0].gaps.n + f->s[1].gaps.n + f->s[0].heldv.n + f->s[1].heldv.n);
	if (need > c->lcap) {
		char *p = realloc(c->lbuf, need);
		if (!p) {
			c->n.write_errors++;
			goto out;
		}
		c->lbuf = p;
		c->lcap = need;
	}
	struct sb b = {c->lbuf, 0, c->lcap, 0};
	sb_printf(&b, "{\"flow_id\":%" PRIu64 ",\"proto\":\"tcp\",\"cli_ip\":", fi ? fi->id : 0);
	sb_ip(&b, f->v6, f->cli);
	sb_printf(&b, ",\"cli_port\":%u,\"svr_ip\":", f->cli_port);
	sb_ip(&b, f->v6, f->svr);
	sb_printf(&b, ",\"svr_port\":%u", f->svr_port);
	if (f->vlan != SD_NO_VLAN)
		sb_printf(&b, ",\"vlan\":%d", f->vlan);
	sb_printf(&b, ",\"start\":");
	sb_time(&b, f->first_ns);
	sb_printf(&b, ",\"last\":");
	sb_time(&b, fi ? fi->last_ns : 0);
	sb_printf(&b, ",\"end\":\"%s\",\"midstream\":%s,\"cli_state\":\"%s\",\"svr_state\":\"%s\"",
	          fi && fi->end ? fi->end : "open", fi && fi->midstream ? "true" : "false",
	          mos_tcp_state_name(cli_state), mos_tcp_state_name(svr_state));
	sb_printf(&b, ",\"c2s\":");
	side_json(&b, f, SD_C2S);
	sb_printf(&b, ",\"s2c\":");
	side_json(&b, f, SD_S2C);
	sb_printf(&b, "}\n");
	if (b.over)
		c->n.write_errors++;
	else
		write_line(b.p, b.n);
out:
	for (int d = 0; d < 2; d++) {
		free(f->s[d].gaps.v);
		free(f->s[d].heldv.v);
	}
	free(f);
}

/* ---- setup and teardown ---------------------------------------------------- */

int sd_out_open(const struct sd_opts *o)
{
	struct stat st;
	sd_opt = o;
	if (mkdir(o->outdir, 0777) < 0 && errno != EEXIST) {
		fprintf(stderr, "streamdump: cannot create output directory %s: %s\n", o->outdir, strerror(errno));
		return -1;
	}
	dir_fd = open(o->outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0 || fstat(dir_fd, &st) < 0) {
		fprintf(stderr, "streamdump: -o %s: %s (give a directory streamdump may write into)\n", o->outdir,
		        strerror(errno));
		return -1;
	}
	if (faccessat(dir_fd, ".", W_OK, AT_EACCESS) < 0) {
		fprintf(stderr, "streamdump: -o %s: not writable (give a directory streamdump may write into)\n",
		        o->outdir);
		return -1;
	}
	static char path[PATH_MAX];
	if (o->index && !strcmp(o->index, "-")) {
		index_fd = STDOUT_FILENO;
		index_name = "(stdout)";
		return 0;
	}
	if (o->index)
		snprintf(path, sizeof(path), "%s", o->index);
	else
		snprintf(path, sizeof(path), "%s/streamdump.json", o->outdir);
	index_name = path;
	index_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0666);
	if (index_fd < 0) {
		fprintf(stderr, "streamdump: cannot create the index %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

void sd_out_close(const struct sd_counts *t)
{
	char line[1024];
	int n = snprintf(line, sizeof(line),
	                 "{\"summary\":{\"flows\":%" PRIu64 ",\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
	                 ",\"gaps\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"held\":%" PRIu64 ",\"clipped\":%" PRIu64
	                 ",\"write_errors\":%" PRIu64 ",\"untracked\":%" PRIu64 ",\"reopens\":%" PRIu64 "}}\n",
	                 t->flows, t->files, t->bytes, t->gaps, t->missed, t->held, t->clipped, t->write_errors,
	                 t->untracked, t->reopens);
	if (index_fd >= 0 && n > 0 && (size_t)n < sizeof(line))
		write_line(line, (size_t)n);
	if (index_fd > STDOUT_FILENO)
		close(index_fd);
	index_fd = -1;
	if (dir_fd >= 0)
		close(dir_fd);
	dir_fd = -1;
}
