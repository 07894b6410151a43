/* midstat's tables and JSON. See view.h. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "view.h"

static const char *const state_names[] = {
    "CLOSED",     "LISTEN",     "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK", "TIME_WAIT",
};

const char *ms_state_name(unsigned st)
{
	return st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "?";
}

static const char *const sort_names[MS_SORT_N] = {"age", "packets", "bytes", "state"};

const char *ms_sort_name(enum ms_sort s)
{
	return s < MS_SORT_N ? sort_names[s] : "?";
}

char *ms_endpoint(char *buf, size_t len, const uint8_t *addr, uint16_t port, int v6)
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(v6 ? AF_INET6 : AF_INET, addr, a, sizeof(a));
	if (v6)
		snprintf(buf, len, "[%s]:%u", a, port);
	else
		snprintf(buf, len, "%s:%u", a, port);
	return buf;
}

static uint64_t sort_now;
static enum ms_sort sort_by;

static int cmp_rows(const void *pa, const void *pb)
{
	const struct ms_row *a = pa, *b = pb;
	uint64_t ka = 0, kb = 0;
	switch (sort_by) {
	case MS_SORT_AGE: /* oldest first */
		ka = UINT64_MAX - a->s.first_ts_ns;
		kb = UINT64_MAX - b->s.first_ts_ns;
		break;
	case MS_SORT_PKTS:
		ka = a->s.pkts[0] + a->s.pkts[1];
		kb = b->s.pkts[0] + b->s.pkts[1];
		break;
	case MS_SORT_BYTES:
		ka = a->s.bytes[0] + a->s.bytes[1];
		kb = b->s.bytes[0] + b->s.bytes[1];
		break;
	default:
		ka = (uint64_t)a->s.cli_state << 8 | a->s.svr_state;
		kb = (uint64_t)b->s.cli_state << 8 | b->s.svr_state;
		break;
	}
	if (ka != kb)
		return ka > kb ? -1 : 1;
	/* Stable across redraws: fall back to the connection id. */
	return a->s.id < b->s.id ? -1 : a->s.id > b->s.id;
}

void ms_sort_rows(struct ms_row *rows, size_t n, enum ms_sort by, uint64_t now_ns)
{
	if (n < 2) /* rows may be NULL when there are none: not qsort's to take */
		return;
	sort_now = now_ns;
	sort_by = by;
	qsort(rows, n, sizeof(*rows), cmp_rows);
}

static const char *human(char *buf, size_t len, double v, const char *unit)
{
	const char *pfx[] = {"", "K", "M", "G", "T"};
	int i = 0;
	while (v >= 1000 && i < 4) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, i ? "%.1f%s%s" : "%.0f%s%s", v, pfx[i], unit);
	return buf;
}

static void print_health(FILE *f, const struct ms_health *h)
{
	char a[32], b[32];
	double dt = h->secs > 0 ? h->secs : 1;
	double pps = (double)(h->now.rx - h->prev.rx) / dt;
	double bps = (double)(h->now.rx_bytes - h->prev.rx_bytes) * 8 / dt;
	fprintf(f, "flows %" PRIu64 "  rx %s  %s  tx %" PRIu64 "  drops %" PRIu64, h->flows,
	        human(a, sizeof(a), pps, "pps"), human(b, sizeof(b), bps, "bps"), h->now.tx, h->now.drops);
	if (h->now.port_missed)
		fprintf(f, "  port_missed %" PRIu64, h->now.port_missed);
	for (unsigned i = 0; i < h->now.n_drops; i++)
		if (h->now.drop[i].n)
			fprintf(f, " %s=%" PRIu64, h->now.drop[i].name, h->now.drop[i].n);
	fputc('\n', f);
	for (unsigned i = 0; i < h->n_stages; i++)
		fprintf(f, "%s%s %.0f%% %.0fc/p ring %u/%u", i ? "  " : "stages: ", h->stage[i].name,
		        h->stage[i].busy_pct, h->stage[i].cyc_per_pkt, h->stage[i].ring_fill, h->stage[i].ring_size);
	if (h->n_stages)
		fputc('\n', f);
}

static void fmt_age(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ULL;
	if (s < 60)
		snprintf(buf, len, "%" PRIu64 ".%01" PRIu64 "s", s, (uint64_t)((ns / 100000000ULL) % 10));
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s / 60) % 60);
}

void ms_print_table(FILE *f, const struct ms_health *h, const struct ms_row *rows, size_t n, enum ms_sort by, int tty,
                    unsigned rows_max)
{
	char ts[64];
	time_t t = (time_t)(h->ts_ns / 1000000000ULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	if (tty)
		fputs("\033[H\033[2J", f);
	fprintf(f, "midstat  %s.%06" PRIu64 " UTC  connections %zu  sorted by %s%s\n", ts, (h->ts_ns / 1000) % 1000000,
	        n, ms_sort_name(by), tty ? "  (s: sort, q: quit)" : "");
	print_health(f, h);
	if (rows_max == MS_ROWS_NONE)
		n = 0;
	else
		fprintf(f, "%-5s %-41s %-11s %-41s %-11s %8s %9s %9s %11s %11s %7s%s\n", "Proto", "Client Address",
		        "Client State", "Server Address", "Server State", "Age", "Pkts c>s", "Pkts s>c", "Bytes c>s",
		        "Bytes s>c", "Rexmit", n && rows[0].end ? "" : "");
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		if (rows_max && shown >= rows_max) {
			fprintf(f, "... %zu more\n", n - shown);
			break;
		}
		const struct mp_conn_snap *s = &rows[i].s;
		char c[64], v[64], age[32];
		ms_endpoint(c, sizeof(c), s->cli_addr, s->cli_port, s->v6);
		ms_endpoint(v, sizeof(v), s->svr_addr, s->svr_port, s->v6);
		fmt_age(age, sizeof(age), h->ts_ns > s->first_ts_ns ? h->ts_ns - s->first_ts_ns : 0);
		fprintf(f,
		        "%-5s %-41s %-11s %-41s %-11s %8s %9" PRIu64 " %9" PRIu64 " %11" PRIu64 " %11" PRIu64
		        " %7" PRIu64,
		        s->v6 ? "tcp6" : "tcp", c, ms_state_name(s->cli_state), v, ms_state_name(s->svr_state), age,
		        s->pkts[0], s->pkts[1], s->bytes[0], s->bytes[1], s->rexmit[0] + s->rexmit[1]);
		if (rows[i].end)
			fprintf(f, "  ended:%s", rows[i].end);
		if (s->midstream)
			fputs("  midstream", f);
		fputc('\n', f);
		shown++;
	}
	if (!tty)
		fputc('\n', f);
	fflush(f);
}

void ms_print_json(FILE *f, const struct ms_health *h, const struct ms_row *rows, size_t n)
{
	double ts = (double)h->ts_ns / 1e9;
	for (size_t i = 0; i < n; i++) {
		const struct mp_conn_snap *s = &rows[i].s;
		char c[64], v[64];
		ms_endpoint(c, sizeof(c), s->cli_addr, s->cli_port, s->v6);
		ms_endpoint(v, sizeof(v), s->svr_addr, s->svr_port, s->v6);
		fprintf(
		    f,
		    "{\"ts\": %.6f, \"cli\": \"%s\", \"svr\": \"%s\", \"cli_state\": \"%s\", \"svr_state\": \"%s\", "
		    "\"end\": %s%s%s, \"first_ts\": %.6f, \"last_ts\": %.6f, \"midstream\": %s, "
		    "\"cli_pkts\": %" PRIu64 ", \"cli_bytes\": %" PRIu64 ", \"cli_missed\": %" PRIu64
		    ", \"cli_rexmit\": %" PRIu64 ", \"cli_rexmit_bytes\": %" PRIu64 ", \"svr_pkts\": %" PRIu64
		    ", \"svr_bytes\": %" PRIu64 ", \"svr_missed\": %" PRIu64 ", \"svr_rexmit\": %" PRIu64
		    ", \"svr_rexmit_bytes\": %" PRIu64 "}\n",
		    ts, c, v, ms_state_name(s->cli_state), ms_state_name(s->svr_state), rows[i].end ? "\"" : "",
		    rows[i].end ? rows[i].end : "null", rows[i].end ? "\"" : "", (double)s->first_ts_ns / 1e9,
		    (double)s->last_ts_ns / 1e9, s->midstream ? "true" : "false", s->pkts[0], s->bytes[0],
		    rows[i].cli_missed, s->rexmit[0], rows[i].cli_rexmit_bytes, s->pkts[1], s->bytes[1],
		    rows[i].svr_missed, s->rexmit[1], rows[i].svr_rexmit_bytes);
	}
	double dt = h->secs > 0 ? h->secs : 1;
	fprintf(f,
	        "{\"type\": \"health\", \"ts\": %.6f, \"flows\": %" PRIu64 ", \"rx\": %" PRIu64 ", \"tx\": %" PRIu64
	        ", \"pps\": %.1f, \"gbps\": %.6f, \"drops\": {",
	        ts, h->flows, h->now.rx, h->now.tx, (double)(h->now.rx - h->prev.rx) / dt,
	        (double)(h->now.rx_bytes - h->prev.rx_bytes) * 8 / dt / 1e9);
	for (unsigned i = 0; i < h->now.n_drops; i++)
		fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", h->now.drop[i].name, h->now.drop[i].n);
	fprintf(f, "}, \"port_missed\": %" PRIu64 ", \"stages\": [", h->now.port_missed);
	for (unsigned i = 0; i < h->n_stages; i++)
		fprintf(f, "%s{\"stage\": \"%s\", \"busy_pct\": %.1f, \"cycles_per_pkt\": %.1f, \"ring_fill\": %u}",
		        i ? ", " : "", h->stage[i].name, h->stage[i].busy_pct, h->stage[i].cyc_per_pkt,
		        h->stage[i].ring_fill);
	fprintf(f, "]}\n");
	fflush(f);
}
