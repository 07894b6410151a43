/* eve.h — Suricata EVE JSON lines for apps/ids: alert and stats records
 * formatted into a caller's buffer (no I/O, no allocation), so that any
 * thread can build its line and hand it to one write.
 *
 * Field names and formats follow Suricata's "Eve JSON Format" documentation:
 * "timestamp" as 2017-04-07T22:24:37.251547+0000 (here always UTC), "flow_id"
 * a number below 2^51, "event_type", "src_ip"/"src_port" (the sender of the
 * bytes that matched), "dest_ip"/"dest_port", "proto": "TCP", "direction"
 * (to_server/to_client), and "alert": {action, gid, signature_id, rev,
 * signature, category, severity}; action is "allowed", or "blocked" when the
 * packet was dropped. IPv6 addresses are written in full (eight groups of
 * four hex digits), as Suricata writes them.
 */
#ifndef IDS_EVE_H
#define IDS_EVE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "rules.h"

#define EVE_LINE_MAX 8192

/* A flow's addresses, client first. */
struct eve_flow {
	uint64_t id;       /* flow_id */
	uint64_t start_ns; /* first packet seen */
	uint8_t v6;
	uint8_t cli[16], svr[16];
	uint16_t cport, sport;
};

/* A flow_id from the flow's addresses and start time (same flow, same id). */
uint64_t eve_flow_id(const struct eve_flow *f);

/* One alert line ("\n"-terminated) into buf. dir: the direction of the
 * stream that matched; blocked: the packet was dropped.
 * @return its length (< cap; the message is cut if the line would not fit). */
size_t eve_alert(char *buf, size_t cap, uint64_t ts_ns, const struct eve_flow *f, enum ids_dir dir,
                 const struct ids_rule *r, int blocked);

/* A stats line: Suricata's "uptime" and "detect" sections plus this tool's
 * counters ("ids": seconds from the first context to the end, mOS contexts
 * (app instances), rules, flows,
 * bytes, gaps, alerts, blocked, the inexactness counters of engine.h). */
size_t eve_stats(char *buf, size_t cap, uint64_t ts_ns, double uptime_s, const struct ids_counters *c, uint64_t flows,
                 uint64_t blocked, unsigned rules, unsigned skipped, unsigned contexts);

/* "2023-11-14T22:13:20.000000+0000" into out (at least 32 bytes). */
void eve_time(char *out, size_t cap, uint64_t ns);

/* JSON string body of n bytes (quotes not included): \" \\ and control
 * characters escaped, bytes that are not valid UTF-8 as \u00XX. @return the
 * length written (output cut at cap - 1). */
size_t eve_escape(char *out, size_t cap, const char *s, size_t n);

#endif
