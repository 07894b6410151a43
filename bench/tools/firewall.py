#!/usr/bin/env python3
"""bench/tools/firewall.py: the firewall's bench row (apps/firewall).

Offline, monitor mode, on the bench workload as a pcap (build/bench/gen -w, as
bench/run writes its peer pcap): `firewall -r PCAP -R RULES` next to
`mospipe -r PCAP` (flow tracking alone) with the same mapping and settings,
alternating runs. The rules file has N rules; the generator's connections
(clients 10.0.0.0/8, servers 172.16.0.0/16 port 80) match only the last one,
so every new connection walks all N (rule evaluation runs once per
connection and generation, not per packet: the per-packet cost is the
callback and the verdict lookup in the flow's uctx).

  python3 bench/tools/firewall.py [--build build] [--pcap FILE] [--flows 20000]
      [--size 64k] [--pkts 1000000] [--rules 1,1000] [--reps 3]
      [--mapping bench/mappings/split.conf]

Prints one JSON object: per tool and rule count the median wall time (EAL
start included), pipeline seconds (mospipe's "N s" line; the firewall's join
time), Mpps and Gbps of frames over pipeline seconds, the app stage's
cycles/packet, and the ratio firewall/mospipe. Nothing is asserted.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECS_RE = re.compile(r"^mospipe: .* ([0-9.]+) s$", re.M)


def rules_file(path, n):
    with open(path, "w") as f:
        f.write("default drop\n")
        for i in range(n - 1):
            # Never match the workload: other servers, other ports.
            f.write("drop tcp any -> 192.0.%d.%d %d\n" % (i // 250 % 250, i % 250 + 1, 1000 + i % 60000))
        f.write("allow tcp 10.0.0.0/8 -> 172.16.0.0/16 80\n")


def counters(path):
    with open(path) as f:
        cj = json.load(f)
    rx_bytes = sum(s["counters"].get("bytes", 0) for s in cj["stages"] if s["stage"] == "rx")
    app = [s["cycles_per_pkt"] for s in cj["stages"] if s["stage"] == "app"]
    return cj["totals"]["rx"], rx_bytes, (statistics.mean(app) if app else None), cj["totals"]["drops_total"]


def run(cmd):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p, time.monotonic() - t0


def one(a, tool, pcap, nrules, td):
    cj = os.path.join(td, "c.json")
    if os.path.exists(cj):
        os.unlink(cj)
    common = ["-r", pcap, "-c", a.mapping, "--set", "tcp.checksum=ignore", "--counters-json", cj]
    if tool == "mospipe":
        p, wall = run([os.path.join(a.build, "mospipe")] + common)
        m = SECS_RE.search(p.stdout)
        if p.returncode or not m:
            return {"error": "rc=%d %s" % (p.returncode, (p.stderr or p.stdout)[-300:])}
        secs = float(m.group(1))
        extra = {}
    else:
        rf = os.path.join(td, "r%d.rules" % nrules)
        rules_file(rf, nrules)
        out = os.path.join(td, "fw.jsonl")
        p, wall = run([os.path.join(a.build, "firewall"), "-R", rf, "-I", "0", "-o", out] + common)
        if p.returncode:
            return {"error": "rc=%d %s" % (p.returncode, p.stderr[-300:])}
        fin = [json.loads(x) for x in open(out)][-1]
        secs = fin["seconds"]
        allow = fin["rules"][-1]
        extra = {"conns": allow["conns"], "pkts_allowed": allow["pkts"],
                 "invalid": sum(fin["invalid"].values()), "default_pkts": fin["default"]["pkts"]}
    pkts, fbytes, app_cyc, drops = counters(cj)
    r = {"wall_s": round(wall, 3), "pipeline_s": secs, "pkts": pkts, "mpps": pkts / secs / 1e6,
         "gbps": fbytes * 8 / secs / 1e9, "app_cycles_per_pkt": app_cyc, "drops": drops}
    r.update(extra)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--pcap", help="use this pcap instead of writing one")
    ap.add_argument("--flows", type=int, default=20000)
    ap.add_argument("--size", default="64k")
    ap.add_argument("--pkts", type=int, default=1000000)
    ap.add_argument("--rules", default="1,1000", help="rule counts to measure (comma list)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mapping", default=os.path.join(ROOT, "bench", "mappings", "split.conf"))
    a = ap.parse_args()
    counts = [int(x) for x in a.rules.split(",") if x]
    with tempfile.TemporaryDirectory() as td:
        pcap = a.pcap
        if not pcap:
            pcap = os.path.join(td, "fw-bench.pcap")
            g = subprocess.run([os.path.join(a.build, "bench", "gen"), "-w", pcap, "-n", str(a.flows), "-s", a.size,
                                "-p", str(a.pkts)], capture_output=True, text=True)
            if g.returncode:
                print(json.dumps({"tool": "firewall", "error": "gen -w failed: " + g.stderr.strip()}))
                return 1
        runs = {}
        for _ in range(a.reps):  # alternate the tools within each repetition
            runs.setdefault("mospipe -r", []).append(one(a, "mospipe", pcap, 0, td))
            for n in counts:
                runs.setdefault("firewall -r (%d rules)" % n, []).append(one(a, "firewall", pcap, n, td))
    res = {"tool": "firewall", "pcap": a.pcap or "gen -w -n %d -s %s -p %d" % (a.flows, a.size, a.pkts),
           "mapping": os.path.relpath(a.mapping, ROOT), "reps": a.reps, "results": {}}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            res["results"][name] = {"error": rs[0]["error"]}
            continue
        agg = {k: statistics.median(r[k] for r in ok) for k in ("wall_s", "pipeline_s", "mpps", "gbps")}
        cyc = [r["app_cycles_per_pkt"] for r in ok if r["app_cycles_per_pkt"] is not None]
        agg["app_cycles_per_pkt"] = round(statistics.median(cyc), 1) if cyc else None
        agg["pkts"] = ok[0]["pkts"]
        agg["drops_max"] = max(r["drops"] for r in ok)
        for k in ("conns", "pkts_allowed", "invalid", "default_pkts"):
            if k in ok[0]:
                agg[k] = ok[0][k]
        agg["runs"] = rs
        res["results"][name] = agg
    base = res["results"].get("mospipe -r", {}).get("mpps")
    if base:
        res["ratios"] = {n + " / mospipe -r": round(v["mpps"] / base, 3)
                         for n, v in res["results"].items() if n != "mospipe -r" and "mpps" in v}
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
