#!/usr/bin/env python3
"""bench/tools/ids.py: the bench row of apps/ids (bench/README.md).

Writes the peers' workload with build/bench/gen -w (as bench/run does: N
flows x SIZE downloads, 1% retransmitted, the harness's two planted literals),
writes a rule set (the two literals, one with nocase, a two-content rule with
distance/within across them, a pcre, a depth-anchored request rule and rules
that must stay silent), then runs on the same pcap:
  - ids -r (mospipe's reassembly, mapping split, checksums not verified,
    16 KiB buffers, a 2 GiB chunk pool: hs_search's settings);
  - nids_ids (libnids' reassembly + the same rules engine, checksums off).
Both must raise the same alerts (compared as sets of sender, receiver, sid).
Prints one JSON object: pkts, frame bytes, rules, and for each tool wall_s,
seconds (ids: first context to end; nids_ids: nids_run), mpps, gbps, alerts;
medians over --reps; matches_equal; ratio ids/peer. Asserts no timing.

  python3 bench/tools/ids.py [--build build] [--flows 20000] [--size 64k] [--pkts 3000000] [--reps 3] [--pcap F]
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
PATTERNS = ["mospipe-needle-A", "mospipe-needle-B"]

RULES = """\
alert tcp any 80 -> any any (msg:"needle A"; flow:to_client,established; content:"mospipe-needle-A"; sid:1; rev:1;)
alert tcp any any -> any any (msg:"needle B any case"; content:"MOSPIPE-NEEDLE-B"; nocase; sid:2; rev:1;)
alert tcp any any -> any any (msg:"B then A"; content:"needle-B"; content:"mospipe-needle-A"; distance:0; sid:3; rev:1;)
alert tcp any any -> any any (msg:"pcre over both"; pcre:"/needle-[AB]/"; sid:4; rev:1;)
alert tcp any any -> any 80 (msg:"request"; flow:to_server; content:"GET /"; depth:5; sid:5; rev:1;)
alert tcp any any -> any any (msg:"never: not planted"; content:"mospipe-needle-C"; sid:6; rev:1;)
alert tcp any any -> any 80 (msg:"never: wrong direction"; flow:to_server; content:"mospipe-needle-A"; sid:7; rev:1;)
"""


def run(cmd, timeout=900):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - t0


def alert_set_eve(path):
    s = set()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("event_type") == "alert":
                s.add((r["src_ip"], r["src_port"], r["dest_ip"], r["dest_port"], r["alert"]["signature_id"]))
    return s


def alert_set_nids(path):
    s = set()
    with open(path) as f:
        for line in f:
            a, ap, b, bp, sid = line.split()
            s.add((a, int(ap), b, int(bp), int(sid)))
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--flows", type=int, default=20000)
    ap.add_argument("--size", default="64k")
    ap.add_argument("--pkts", type=int, default=3000000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pcap", help="use this pcap (made with the same --pattern literals) instead of writing one")
    ap.add_argument("--mapping", default=os.path.join(ROOT, "bench", "mappings", "split.conf"))
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    ids, peer, gen = (os.path.join(build, "ids"), os.path.join(build, "bench", "nids_ids"),
                      os.path.join(build, "bench", "gen"))
    rel = os.path.relpath(build, ROOT)
    subprocess.run(["make", "-j2", rel + "/ids", rel + "/bench/nids_ids", rel + "/bench/gen"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for b in (ids, peer, gen):
        if not os.path.exists(b):
            print(json.dumps({"tool": "ids", "error": "not built: " + b}))
            return 1
    with tempfile.TemporaryDirectory() as td:
        rules = os.path.join(td, "bench.rules")
        with open(rules, "w") as f:
            f.write(RULES)
        pcap = a.pcap or os.path.join(td, "w.pcap")
        frame_bytes = 0
        if not a.pcap:
            cmd = [gen, "-w", pcap, "-n", str(a.flows), "-s", a.size, "-p", str(a.pkts)]
            for p in PATTERNS:
                cmd += ["--pattern", p]
            g = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            m = re.search(r"wrote \S+: (\d+) packets, (\d+) bytes", g)
            pkts, frame_bytes = int(m.group(1)), int(m.group(2))
        else:
            r = subprocess.run(["tcpdump", "-r", pcap, "-qn"], capture_output=True, text=True)
            pkts = r.stdout.count("\n")
            frame_bytes = os.path.getsize(pcap) - 24 - 16 * pkts
        res = {"tool": "ids", "pcap": a.pcap or "gen -w -n %d -s %s -p %d --pattern %s" % (
            a.flows, a.size, a.pkts, " --pattern ".join(PATTERNS)), "pkts": pkts, "frame_bytes": frame_bytes,
            "rules": RULES.count("\n")}
        runs = {"ids": [], "peer": []}
        sets = {}
        for rep in range(a.reps):
            eve_dir = os.path.join(td, "eve%d" % rep)
            os.makedirs(eve_dir)
            r, wall = run([ids, "-S", rules, "-r", pcap, "-l", eve_dir, "-c", a.mapping, "--set", "tcp.checksum=ignore",
                           "--set", "tcp.buf_size=16K", "--set", "tcp.buf_pool=0"])
            if r.returncode != 0:
                res["error"] = "ids exit %d: %s" % (r.returncode, r.stderr.strip()[-400:])
                print(json.dumps(res))
                return 1
            stats = [json.loads(x) for x in open(os.path.join(eve_dir, "eve.json")) if '"stats"' in x][-1]
            secs = stats["stats"]["ids"]["seconds"]
            runs["ids"].append({"wall_s": wall, "seconds": secs, "alerts": stats["stats"]["detect"]["alert"]})
            sets["ids"] = alert_set_eve(os.path.join(eve_dir, "eve.json"))
            alog = os.path.join(td, "nids%d.txt" % rep)
            r, wall = run([peer, "-S", rules, "-n", str(1 << 20), "-o", alog, pcap])
            if r.returncode != 0:
                res["error"] = "nids_ids exit %d: %s" % (r.returncode, r.stderr.strip()[-400:])
                print(json.dumps(res))
                return 1
            j = json.loads(next(x for x in r.stdout.splitlines() if x.startswith("{")))
            runs["peer"].append({"wall_s": wall, "seconds": j["seconds"], "alerts": j["alerts"]})
            sets["peer"] = alert_set_nids(alog)
        for k, name in (("ids", "ids -r (mospipe, split mapping)"), ("peer", "libnids + the same rules engine")):
            secs = statistics.median(x["seconds"] for x in runs[k])
            res[k] = {"name": name, "wall_s": round(statistics.median(x["wall_s"] for x in runs[k]), 3),
                      "seconds": round(secs, 3), "mpps": round(pkts / secs / 1e6, 3) if secs else None,
                      "gbps": round(frame_bytes * 8 / secs / 1e9, 3) if secs else None,
                      "mpps_wall": round(pkts / statistics.median(x["wall_s"] for x in runs[k]) / 1e6, 3),
                      "alerts": runs[k][-1]["alerts"], "runs": runs[k]}
        res["matches_equal"] = sets["ids"] == sets["peer"]
        if not res["matches_equal"]:
            res["only_ids"] = sorted(sets["ids"] - sets["peer"])[:10]
            res["only_peer"] = sorted(sets["peer"] - sets["ids"])[:10]
        by_sid = {}
        for x in sets["ids"]:
            by_sid[x[4]] = by_sid.get(x[4], 0) + 1
        res["alerts_by_sid"] = dict(sorted(by_sid.items()))
        if res["ids"]["mpps"] and res["peer"]["mpps"]:
            res["ratio_ids_over_peer"] = round(res["ids"]["mpps"] / res["peer"]["mpps"], 3)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
