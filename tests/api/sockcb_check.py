"""Checks sockcb's output against tcpdump's reading of the capture.

    python3 sockcb_check.py PCAP OUT K [follow1|loose]

With one lcore and burst 1, the sockets made in the K-th flow's CONN_START
callback are seen by the events stage from the next packet on: B (filter
"tcp port 80") must follow exactly the port-80 flows whose first packet comes
after the K-th flow's first packet, each started and ended once, and R (raw,
"udp") must get exactly the UDP packets after that packet. A's flows must be
tcpdump's flows in order of first appearance. With follow1 ([api] follow =
1) B follows nothing: A, first in creation order, takes every flow. With
loose (a pipelined mapping, default burst: the events stage may have passed
later flows' first packets before the callback ran), B's flows are some of
those, the last of them included, each ended, and R got at most those
packets."""
import re
import subprocess
import sys

pcap, out, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
follow1 = len(sys.argv) > 4 and sys.argv[4] == "follow1"
loose = len(sys.argv) > 4 and sys.argv[4] == "loose"


def td(expr):
    """(packet number in the file, src, dst) of the packets expr matches:
    tcpdump -# numbers the packets it prints, so the numbers come from an
    unfiltered run, matched by the printed line."""
    def run(args):
        return subprocess.run(["tcpdump", "-nn", "-r", pcap] + args, capture_output=True, text=True,
                              check=True).stdout.splitlines()
    num = {}
    for line in run(["-#"]):
        m = re.match(r"\s*(\d+)\s+(.*)$", line)
        if m:
            num.setdefault(m.group(2), int(m.group(1)))
    rows = []
    for line in run([expr]):
        m = re.match(r"\S+\s+IP6?\s+(\S+)\s+>\s+(\S+):\s", line)
        if m and line in num:
            rows.append((num[line], m.group(1), m.group(2)))
    return rows


def key(a, b):
    return tuple(sorted((a, b)))


def norm(ep):  # api_flow_name: v4 "a.b.c.d:p", v6 "addr.p"; tcpdump: "x.p"
    return ep.replace(":", ".") if ep.count(":") == 1 else ep


flows, first = [], {}
for n, a, b in td("tcp"):
    kk = key(a, b)
    if kk not in first:
        first[kk] = n
        flows.append(kk)
udp = [n for n, _, _ in td("udp")]
lines = open(out).read().splitlines()
bad = []
got_a = [key(*map(norm, l.split(" ", 2)[2].split(">"))) for l in lines if l.startswith("A start ")]
if got_a != flows:
    bad.append(f"A started {len(got_a)} flows, tcpdump has {len(flows)} (or another order)")
if len(flows) <= k:
    bad.append(f"the capture has {len(flows)} TCP flows, not more than K = {k}")
else:
    at = first[flows[k - 1]]
    want_b = [f for f in flows[k:] if any(ep.endswith(".80") for ep in f)] if not follow1 else []
    got_b = [key(*map(norm, l.split(" ", 2)[2].split(">"))) for l in lines if l.startswith("B start ")]
    got_e = sorted(key(*map(norm, l.split(" ", 2)[2].split(">"))) for l in lines if l.startswith("B end "))
    want_r = sum(1 for n in udp if n > at)
    got_r = [int(l.split()[1]) for l in lines if l.startswith("raw ")]
    if loose:
        tail = want_b[len(want_b) - len(got_b):] if got_b else []
        if not got_b or got_b != tail or got_e != sorted(got_b):
            bad.append(f"B started {len(got_b)} flows, ended {len(got_e)}: want the last ones of the {len(want_b)} "
                       "port-80 flows after the K-th, each ended")
        if len(got_r) != 1 or got_r[0] > want_r:
            bad.append(f"R got {got_r} UDP packets, want at most {want_r}")
    else:
        if got_b != want_b:
            bad.append(f"B started {len(got_b)} flows, want {len(want_b)} (port 80, first packet after #{at})")
        if got_e != sorted(want_b):
            bad.append(f"B ended {len(got_e)} flows, want {len(want_b)}")
        if got_r != [want_r]:
            bad.append(f"R got {got_r} UDP packets, want {want_r} (tcpdump: after #{at})")
    if not bad:
        print(f"{len(got_a)} flows; sockets made at packet #{at} (flow {k}): B followed {len(got_b)} port-80 "
              f"flows, R {want_r} UDP packets, as tcpdump counts them after it")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
