#!/usr/bin/env python3
"""What the firewall must count on samples/sample.pcap with data/sample.rules,
computed from tcpdump's reading of the capture (an outside truth: tcpdump
decodes every packet, this script classifies them by the rules' meaning as
firewall.1 states it, independently of the firewall's C matcher).

  truth.py PCAP FIREWALL_JSONL [--midstream]

Per TCP 4-tuple: a connection starts at a client's SYN (SYN without ACK);
every packet of the tuple before any SYN belongs to a connection the capture
joined mid-stream, so it is out of state (invalid.no_conn). A connection's
SYNs count under the rule that matches it as new (or the default); when that
verdict is allow, all its other packets count there too; otherwise they are
out of state (no_conn). UDP/ICMP count per packet under the first matching
stateless rule or the default; ICMPv6 neighbour discovery passes uncounted.

--midstream: the run had tcp.midstream=yes and a seventh rule, "allow tcp any
-> any 80 established": a tuple's packets before any SYN are a connection
already running, which that rule admits; and it takes over every admitted
connection to port 80 at its first packet after the SYN (counted there from
then on, as a connection and in packets).
Prints each comparison; exit 0 when all agree."""
import ipaddress
import json
import re
import subprocess
import sys

pcap, jsonl = sys.argv[1], sys.argv[2]
mid = "--midstream" in sys.argv[3:]
NR = 8 if mid else 7
lines = subprocess.run(["tcpdump", "-nn", "-r", pcap], capture_output=True, text=True, check=True).stdout.splitlines()
N = ipaddress.ip_network
A = ipaddress.ip_address


def split_ep(ep):  # "1.2.3.4.80" / "2001:db8::1.80" -> (addr, port)
    a, p = ep.rsplit(".", 1)
    return A(a), int(p)


def tcp_rule(cli, cport, svr, sport):
    """Index (1-based) of the rule deciding a new connection, 0 = default."""
    if cli.version == 4 and cli in N("192.168.50.0/24") and svr in N("198.51.100.0/24") and sport == 80:
        return 1
    if svr.version == 4 and svr == A("203.0.113.5") and sport == 80:
        return 2
    if cli.version == 6 and cli in N("2001:db8:1::/64") and svr in N("2001:db8:80::/64") and (
            sport in (80, 443) or 8000 <= sport <= 8080):
        return 3
    return 0


ACTION = {0: "drop", 1: "allow", 2: "reset", 3: "allow", 4: "allow", 5: "allow", 6: "allow", 7: "allow"}
exp = {"conns": [0] * NR, "pkts": [0] * NR, "no_conn": 0, "ndp": 0}
conn = {}  # canonical tuple -> (client endpoint, rule counting its packets)
est_done = set()
tcp_re = re.compile(r"^\S+ IP6? (\S+) > (\S+): Flags \[([^\]]*)\]")
udp_re = re.compile(r"^\S+ IP6? (\S+) > (\S+): ")
for ln in lines:
    m = tcp_re.match(ln)
    if m:
        s, d = split_ep(m.group(1)), split_ep(m.group(2).rstrip(":"))
        key = tuple(sorted([s, d], key=str))
        flags = m.group(3)
        if "S" in flags and "." not in flags and "R" not in flags:
            c = conn.get(key)
            if c is None or c[0] != s:
                r = tcp_rule(s[0], s[1], d[0], d[1])
                conn[key] = (s, r)
                exp["conns"][r] += 1
            exp["pkts"][conn[key][1]] += 1
            continue
        c = conn.get(key)
        if mid and c is None:
            # Joined mid-stream: the server is the port-80 end here.
            conn[key] = c = ((s if d[1] == 80 else d), 7)
            est_done.add(key)
            exp["conns"][7] += 1
        if c is None or ACTION[c[1]] != "allow":
            exp["no_conn"] += 1
        else:
            if mid and key not in est_done:
                est_done.add(key)
                svr_port = d[1] if c[0] == s else s[1]
                if svr_port == 80:
                    conn[key] = c = (c[0], 7)
                    exp["conns"][7] += 1
            exp["pkts"][c[1]] += 1
        continue
    if " ICMP6" in ln:
        t = re.search(r"ICMP6, ([a-z ]+)", ln).group(1)
        if t.startswith(("router solicitation", "router advertisement", "neighbor solicitation",
                         "neighbor advertisement", "redirect")):
            exp["ndp"] += 1
        else:
            exp["pkts"][0] += 1  # no icmp6 rule
        continue
    if " ICMP " in ln and " IP " in ln:
        exp["pkts"][6] += 1
        continue
    m = udp_re.match(ln)
    if m and "." in m.group(1):
        s, d = split_ep(m.group(1)), split_ep(m.group(2).rstrip(":"))
        if s[0].version == 4 and s[0] in N("192.168.50.0/24") and d[0] == A("192.168.50.1") and d[1] == 53:
            exp["pkts"][4] += 1
        elif s[0] == A("192.168.50.1") and s[1] == 53 and d[0].version == 4 and d[0] in N("192.168.50.0/24"):
            exp["pkts"][5] += 1
        else:
            exp["pkts"][0] += 1
        continue
    print("truth: unclassified tcpdump line: " + ln)
    sys.exit(1)

final = [json.loads(l) for l in open(jsonl) if l.strip()][-1]
got = {"conns": [final["default"]["conns"]] + [r["conns"] for r in final["rules"]],
       "pkts": [final["default"]["pkts"]] + [r["pkts"] for r in final["rules"]],
       "no_conn": final["invalid"]["no_conn"], "ndp": final["passed"]["ndp"]}
bad = 0
for k in ("conns", "pkts"):
    for i in range(NR):
        if k == "conns" and 4 <= i <= 6:
            continue  # stateless rules count packets only
        name = "default" if i == 0 else "rule %d" % i
        ok = got[k][i] == exp[k][i]
        bad += not ok
        print("  %-4s %-8s %-6s firewall %6d  tcpdump %6d" % ("ok" if ok else "DIFF", name, k, got[k][i], exp[k][i]))
for k in ("no_conn", "ndp"):
    ok = got[k] == exp[k]
    bad += not ok
    print("  %-4s %-15s firewall %6d  tcpdump %6d" % ("ok" if ok else "DIFF", k, got[k], exp[k]))
other = {k: v for k, v in final["invalid"].items() if k != "no_conn" and v}
if other:
    print("  DIFF unexpected invalid counts: %s" % other)
    bad += 1
sys.exit(1 if bad else 0)
