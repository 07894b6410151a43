#!/usr/bin/env python3
"""The trailing BPF expression ([input] filter) against tcpdump, an outside
truth that reads the same filter language with the same library:

* for each capture and expression, the packets mospipe monitored (rx less
  the drop reason "filtered") equal `tcpdump -r FILE -n EXPR | wc -l`;
* its flow log holds exactly the TCP connections (unordered endpoint pairs)
  of the packets tcpdump prints for the expression;
* the expression may be given as one quoted argument or as several words,
  as tcpdump takes it, and through `--set input.filter=...`;
* a bad expression exits 2 with "mospipe: filter 'EXPR': <libpcap's reason>"
  (the reason as tcpdump prints it).

The captures are ones where every TCP connection tcpdump shows becomes a
flow (no lone RST, no bad checksum; not mixed-vlan-mpls.pcap, where one is
left out, nor Teredo.pcap, where tcpdump does not decode one tunnel that
mospipe does): the unfiltered run checks that first.
"""

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import mplib

CAPTURES = [
    "zeek/pop3.pcap",
    "zeek/wikipedia.pcap",
    "zeek/ipv6.pcap",
    "zeek/modbus-and-non-modbus-p502.pcap",
    "zeek/ssh.client-side-half-duplex.pcap",
    "zeek/http-on-irc-port-missing-syn.pcapng",
    "suricata-verify/bug-2646-01__input.pcap",
    "arkime/tcp-reassembly-synthetic.pcap",
]

# (words as given on the command line, name)
EXPRESSIONS = [
    (["tcp"], "tcp"),
    (["tcp port 80"], "tcp-port-80-quoted"),
    (["tcp", "and", "port", "80"], "tcp-and-port-80-words"),
    (["not", "port", "80"], "not-port-80"),
    (["ip6"], "ip6"),
    (["tcp[tcpflags] & tcp-syn != 0"], "syn-flag"),
    (["src net 192.168.0.0/16"], "src-net"),
    (["tcp", "and", "(port", "110", "or", "port", "502)"], "port-110-or-502"),
]

# The last "IP[6] A.port > B.port: Flags" of a tcpdump -n line: the TCP
# segment (after any tunnel or label stack tcpdump printed first).
TCP_LINE = re.compile(r"IP6? (\S+)\.(\d+) > (\S+)\.(\d+): Flags")


def tcpdump(cap, words):
    p = subprocess.run(["tcpdump", "-r", str(cap), "-n"] + words, capture_output=True, text=True,
                       errors="replace", check=False)
    return p.returncode, p.stdout.splitlines(), p.stderr


def tcpdump_conns(lines):
    conns = set()
    for line in lines:
        m = None
        for m in TCP_LINE.finditer(line):
            pass
        if m:
            conns.add(frozenset([(m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))]))
    return conns


def endpoint(s):
    """"1.2.3.4:80" or "[2001:db8::1]:80" -> (addr, port)."""
    addr, port = s.rsplit(":", 1)
    return addr.strip("[]"), int(port)


def flowlog_conns(text):
    conns = set()
    for line in text.splitlines():
        if line.strip():
            r = json.loads(line)
            conns.add(frozenset([endpoint(r["cli"]), endpoint(r["svr"])]))
    return conns


def run(mospipe, cap, tail, extra, tmp, set_args):
    counters, flows = Path(tmp) / "c.json", Path(tmp) / "flows.jsonl"
    for p in (counters, flows):
        if p.exists():
            p.unlink()
    r = mplib.run_mospipe(mospipe, ["-q", "-r", str(cap), "--counters-json", counters, "--flow-log", flows]
                          + set_args + extra + tail)
    if r.rc != 0 or r.sanitizer_report():
        return None, None, f"exit {r.rc}: {r.stderr.strip()[:300]}"
    t = json.loads(counters.read_text())["totals"]
    monitored = t["rx"] - t["drops"].get("filtered", 0)
    return monitored, flowlog_conns(flows.read_text()), None


def describe(a, b):
    extra, missing = sorted(map(sorted, a - b))[:3], sorted(map(sorted, b - a))[:3]
    return f"mospipe has {len(a)}, tcpdump {len(b)}; only mospipe: {extra}; only tcpdump: {missing}"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mospipe", required=True)
    ap.add_argument("--corpus", default=str(mplib.DEFAULT_CORPUS))
    ap.add_argument("--results")
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--set", action="append", default=[])
    args = ap.parse_args()
    res = mplib.Results(args.results)
    set_args = [a for s in args.set for a in ("--set", s)]
    if not shutil.which("tcpdump"):
        res.add("filter", "tcpdump", "NOTRUN", "tcpdump is not installed: it is the truth these checks compare to")
        return 1
    with tempfile.TemporaryDirectory(prefix="regress-filter.") as tmp:
        for rel in CAPTURES:
            cap = Path(args.corpus) / rel
            if args.only and not any(o in rel for o in args.only):
                continue
            if not cap.exists():
                res.add("filter", rel, "NOTRUN", f"{cap} is missing")
                continue
            # Precondition: unfiltered, every TCP connection tcpdump shows is
            # a flow, and every packet is monitored.
            rc, lines, err = tcpdump(cap, [])
            n_all, conns_all, e = run(args.mospipe, cap, [], [], tmp, set_args)
            if e or n_all != len(lines) or conns_all != tcpdump_conns(lines):
                res.add("filter", f"{rel} (no filter)", "FAIL",
                        e or f"{n_all} packets (tcpdump {len(lines)}); " + describe(conns_all, tcpdump_conns(lines)))
                continue
            for words, name in EXPRESSIONS:
                rc, lines, err = tcpdump(cap, words)
                if rc != 0:
                    res.add("filter", f"{rel} {name}", "NOTRUN", f"tcpdump exit {rc}: {err.strip()[:200]}")
                    continue
                n, conns, e = run(args.mospipe, cap, words, [], tmp, set_args)
                if e:
                    res.add("filter", f"{rel} {name}", "FAIL", e)
                    continue
                want = tcpdump_conns(lines)
                if n != len(lines):
                    res.add("filter", f"{rel} {name}", "FAIL",
                            f"mospipe monitored {n} packets, tcpdump printed {len(lines)}")
                elif conns != want:
                    res.add("filter", f"{rel} {name}", "FAIL", "flow log: " + describe(conns, want))
                else:
                    res.add("filter", f"{rel} {name}", "PASS",
                            f"{n} packets, {len(conns)} connections, as tcpdump")
        # The conf key is the same filter as the trailing words.
        cap = Path(args.corpus) / "zeek/pop3.pcap"
        if cap.exists():
            _, lines, _ = tcpdump(cap, ["tcp[tcpflags] & tcp-syn != 0"])
            n, conns, e = run(args.mospipe, cap, [], ["--set", "input.filter=tcp[tcpflags] & tcp-syn != 0"], tmp,
                              set_args)
            ok = not e and n == len(lines) and conns == tcpdump_conns(lines)
            res.add("filter", "zeek/pop3.pcap --set input.filter", "PASS" if ok else "FAIL",
                    e or f"{n} packets (tcpdump {len(lines)}), {len(conns or ())} connections")
            # A bad expression: exit 2 and libpcap's reason, as tcpdump gives it.
            for words in (["tcp", "prot", "80"], ["port 99999"], ["ether host 1:2:3:4:5:6:7"]):
                expr = " ".join(words)
                rc, _, terr = tcpdump(cap, words)
                reason = terr.strip().splitlines()[-1].split("tcpdump: ", 1)[-1] if terr.strip() else "?"
                r = mplib.run_mospipe(args.mospipe, ["-q", "-r", str(cap)] + set_args + words)
                lines = [l for l in r.stderr.splitlines() if l.strip()]
                want = f"mospipe: filter '{expr}': {reason}"
                if rc != 0 and r.rc == 2 and lines == [want] and not r.sanitizer_report():
                    res.add("filter", f"bad expression '{expr}'", "PASS", f"exit 2: {lines[0]}")
                else:
                    res.add("filter", f"bad expression '{expr}'", "FAIL",
                            f"tcpdump exit {rc}; mospipe exit {r.rc}, stderr {lines[:3]} (wanted {want!r})")
    return 1 if res.failed() else 0


if __name__ == "__main__":
    raise SystemExit(main())
