#!/usr/bin/env python3
"""bench/ab.py: two builds of mospipe side by side on the same workload.

A refactor or an optimisation is judged by running the old and the new
binary alternately (A B A B ...) in one invocation, so that both see the
same machine state, and comparing medians: Gbps through the box, wall time
of the whole process, and cycles per packet of every stage instance.

    python3 bench/ab.py --a /path/to/old/build/mospipe --b build/mospipe \
        [--mapping bench/mappings/1lcore.conf] [--source gen:flows=20000,size=64k,pkts=2000000,seed=1] \
        [--reps 5] [--json out.json] [--set SEC.KEY=VAL ...]

Prints one table; nothing here asserts a timing (bench/README.md).
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECS_RE = re.compile(r"^mospipe: .* ([0-9.]+) s$", re.M)


def one_run(binary, mapping, source, sets):
    with tempfile.TemporaryDirectory() as td:
        cj = os.path.join(td, "c.json")
        cmd = [binary, "-c", mapping, "--set", "input.source=" + source, "--counters-json", cj]
        for s in sets:
            cmd += ["--set", s]
        t0 = time.monotonic()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        wall = time.monotonic() - t0
        m = SECS_RE.search(p.stdout)
        if p.returncode != 0 or not m or not os.path.exists(cj):
            sys.exit("ab: %s failed (rc %d): %s" % (" ".join(cmd), p.returncode, (p.stderr or p.stdout)[-400:]))
        with open(cj) as f:
            c = json.load(f)
    secs = float(m.group(1))
    st = c["stages"]
    rx_bytes = sum(s["counters"].get("bytes", 0) for s in st if s["stage"] == "rx")
    return {
        "wall_s": wall,
        "pipeline_s": secs,
        "gbps": rx_bytes * 8 / secs / 1e9 if secs else 0.0,
        "pkts": c["totals"]["rx"],
        "drops": c["totals"]["drops_total"],
        "cyc": {"%s.%d" % (s["stage"], s["instance"]): s["cycles_per_pkt"] for s in st},
    }


def med(runs, f):
    return statistics.median(f(r) for r in runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="mospipe binary A (before)")
    ap.add_argument("--b", required=True, help="mospipe binary B (after)")
    ap.add_argument("--mapping", default=os.path.join(ROOT, "bench/mappings/1lcore.conf"))
    ap.add_argument("--source", default="gen:flows=20000,size=64k,pkts=2000000,seed=1")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--json", help="write the runs and medians here")
    a = ap.parse_args()

    runs = {"A": [], "B": []}
    for i in range(a.reps):
        for k, b in (("A", a.a), ("B", a.b)) if i % 2 == 0 else (("B", a.b), ("A", a.a)):
            runs[k].append(one_run(b, a.mapping, a.source, a.sets))
    for k in runs:
        if len({r["pkts"] for r in runs[k]}) != 1:
            sys.exit("ab: %s saw different packet counts across runs" % k)
    if runs["A"][0]["pkts"] != runs["B"][0]["pkts"]:
        print("ab: note: A and B received different packet counts (%d, %d)" % (runs["A"][0]["pkts"],
                                                                             runs["B"][0]["pkts"]))
    stages = sorted(set(runs["A"][0]["cyc"]) | set(runs["B"][0]["cyc"]),
                    key=lambda s: ["rx", "classify", "tcpsm", "events", "app", "tx"].index(s.split(".")[0]))
    rows = [("Gbps", lambda r: r["gbps"]), ("pipeline s", lambda r: r["pipeline_s"]),
            ("wall s", lambda r: r["wall_s"])]
    rows += [("%s cyc/pkt" % s, (lambda s: lambda r: r["cyc"].get(s, float("nan")))(s)) for s in stages]
    out = {"a": a.a, "b": a.b, "mapping": a.mapping, "source": a.source, "reps": a.reps, "medians": {},
           "runs": runs}
    print("%-22s %12s %12s %8s" % ("median of %d" % a.reps, "A", "B", "B/A"))
    for name, f in rows:
        ma, mb = med(runs["A"], f), med(runs["B"], f)
        out["medians"][name] = {"A": ma, "B": mb}
        print("%-22s %12.3f %12.3f %8.3f" % (name, ma, mb, mb / ma if ma else float("nan")))
    print("drops: A %d, B %d" % (max(r["drops"] for r in runs["A"]), max(r["drops"] for r in runs["B"])))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
