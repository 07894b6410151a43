/* eve.c — EVE JSON alert and stats lines (eve.h). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eve.h"

/* splitmix64's finaliser: every input bit moves every output bit. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

uint64_t eve_flow_id(const struct eve_flow *f)
{
	uint64_t h = mix(f->start_ns ^ ((uint64_t)f->cport << 16 | f->sport) ^ ((uint64_t)f->v6 << 40));
	for (unsigned i = 0; i < 16; i += 8) {
		uint64_t a, b;
		memcpy(&a, f->cli + i, 8);
		memcpy(&b, f->svr + i, 8);
		h = mix(h ^ a);
		h = mix(h ^ b);
	}
	/* Suricata's flow_id stays below 2^51 so that JSON readers holding
	 * numbers as doubles keep it exact; 0 would read as "no flow". */
	h &= (1ull << 51) - 1;
	return h ? h : 1;
}

void eve_time(char *out, size_t cap, uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u;
	snprintf(out, cap, "%04u-%02u-%02uT%02u:%02u:%02u.%06u+0000", y, (unsigned)(tm.tm_mon + 1) % 100u,
	         (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
	         (unsigned)tm.tm_sec % 100u, (unsigned)(ns % 1000000000ull / 1000) % 1000000u);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned min;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		k = 2, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		k = 3, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		k = 4, min = 0x10000;
	else
		return 0;
	if (k > n)
		return 0;
	unsigned v = c & (0x7f >> k);
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return k;
}

size_t eve_escape(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	const unsigned char *u = (const unsigned char *)s;
	if (!cap)
		return 0;
	for (size_t i = 0; i < n;) {
		char esc[8];
		const char *w = esc;
		size_t wl;
		size_t k = utf8_len(u + i, n - i);
		if (k == 1 && u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
			esc[0] = (char)u[i];
			wl = 1;
		} else if (k == 1 && (u[i] == '"' || u[i] == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			wl = 2;
		} else if (k > 1) {
			w = s + i;
			wl = k;
		} else {
			/* control character, or a byte that is not UTF-8: its code point */
			snprintf(esc, sizeof(esc), "\\u%04x", u[i]);
			wl = 6;
			k = 1;
		}
		if (o + wl >= cap)
			break;
		memcpy(out + o, w, wl);
		o += wl;
		i += k;
	}
	out[o] = 0;
	return o;
}

static void ip_text(char *out, size_t cap, int v6, const uint8_t *a)
{
	if (!v6) {
		inet_ntop(AF_INET, a, out, (socklen_t)cap);
		return;
	}
	snprintf(out, cap, "%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x:%02x%02x", a[0], a[1], a[2],
	         a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
}

/* Appends to buf (keeps it terminated; stops at cap). */
static size_t put(char *buf, size_t cap, size_t o, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t cap, size_t o, const char *fmt, ...)
{
	if (o >= cap)
		return o;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + o, cap - o, fmt, ap);
	va_end(ap);
	if (w < 0)
		return o;
	return (size_t)w >= cap - o ? cap - 1 : o + (size_t)w;
}

size_t eve_alert(char *buf, size_t cap, uint64_t ts_ns, const struct eve_flow *f, enum ids_dir dir,
                 const struct ids_rule *r, int blocked)
{
	char ts[64], start[64], cli[48], svr[48], msg[2048], cat[512];
	eve_time(ts, sizeof(ts), ts_ns);
	eve_time(start, sizeof(start), f->start_ns);
	ip_text(cli, sizeof(cli), f->v6, f->cli);
	ip_text(svr, sizeof(svr), f->v6, f->svr);
	eve_escape(msg, sizeof(msg), r->msg, strlen(r->msg));
	eve_escape(cat, sizeof(cat), r->category, strlen(r->category));
	int ts_dir = dir == IDS_TO_SERVER;
	size_t o =
	    put(buf, cap, 0,
	        "{\"timestamp\":\"%s\",\"flow_id\":%llu,\"event_type\":\"alert\",\"src_ip\":\"%s\",\"src_port\":%u,"
	        "\"dest_ip\":\"%s\",\"dest_port\":%u,\"proto\":\"TCP\",\"direction\":\"%s\","
	        "\"alert\":{\"action\":\"%s\",\"gid\":%u,\"signature_id\":%u,\"rev\":%u,\"signature\":\"%s\","
	        "\"category\":\"%s\",\"severity\":%d},"
	        "\"flow\":{\"start\":\"%s\",\"src_ip\":\"%s\",\"dest_ip\":\"%s\",\"src_port\":%u,\"dest_port\":%u}}",
	        ts, (unsigned long long)f->id, ts_dir ? cli : svr, ts_dir ? f->cport : f->sport, ts_dir ? svr : cli,
	        ts_dir ? f->sport : f->cport, ts_dir ? "to_server" : "to_client", blocked ? "blocked" : "allowed",
	        r->gid, r->sid, r->rev, msg, cat, r->severity, start, cli, svr, f->cport, f->sport);
	if (o + 2 > cap)
		o = cap - 2;
	buf[o++] = '\n';
	buf[o] = 0;
	return o;
}

size_t eve_stats(char *buf, size_t cap, uint64_t ts_ns, double uptime_s, const struct ids_counters *c, uint64_t flows,
                 uint64_t blocked, unsigned rules, unsigned skipped, unsigned contexts)
{
	char ts[64];
	eve_time(ts, sizeof(ts), ts_ns);
	size_t o = put(
	    buf, cap, 0,
	    "{\"timestamp\":\"%s\",\"event_type\":\"stats\",\"stats\":{\"uptime\":%.0f,"
	    "\"detect\":{\"alert\":%llu},"
	    "\"ids\":{\"seconds\":%.6f,\"contexts\":%u,\"rules_loaded\":%u,\"rules_skipped\":%u,\"flows\":%llu,\"sides_"
	    "inspected\":%llu,"
	    "\"sides_skipped\":%llu,\"bytes\":%llu,\"gaps\":%llu,\"gap_bytes\":%llu,\"candidates\":%llu,"
	    "\"alerts\":%llu,\"blocked\":%llu,\"state_full\":%llu,\"inexact\":%llu,"
	    "\"anchored_after_gap\":%llu,\"match_overflow\":%llu,\"hs_errors\":%llu}}}\n",
	    ts, uptime_s, (unsigned long long)c->alerts, uptime_s, contexts, rules, skipped, (unsigned long long)flows,
	    (unsigned long long)c->sides, (unsigned long long)c->sides_skipped, (unsigned long long)c->bytes,
	    (unsigned long long)c->gaps, (unsigned long long)c->gap_bytes, (unsigned long long)c->candidates,
	    (unsigned long long)c->alerts, (unsigned long long)blocked, (unsigned long long)c->state_full,
	    (unsigned long long)c->inexact, (unsigned long long)c->anchored_after_gap,
	    (unsigned long long)c->match_overflow, (unsigned long long)c->hs_errors);
	return o;
}
