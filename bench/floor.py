#!/usr/bin/env python3
"""bench/floor.py: how much of a packet's cost is this machine's memory, and
how much is our code (issue #14, target 1; bench/README.md "Memory floor").

In one run, on a quiet machine:

1. `build/bench/chase`: the latency of one cache miss nothing overlaps (a
   pointer chase over a working set of each size, 4 KiB pages and
   transparent huge pages), and the cost per miss when 4, 8 or 16 can be in
   flight at once.
2. The paper's workload on one lcore (bench/mappings/1lcore.conf, 64 KiB
   downloads) with the flows held at 192K (flow state far beyond the caches)
   and at 1K (flow state in the caches), medians of --reps runs alternated:
   per-stage cycles per packet. The difference per stage is what the flows'
   memory costs; the 1K figure is our code's own work.
3. `build/bench/chase`'s walk: the flows' memory as tcpsm touches it with
   nothing else to do (192K objects of a flow's 960 bytes, each visit reads
   a table line and the whole object and writes half of it, prefetched
   ahead), in arena order and random order, on one CPU, and then on both
   CPUs at once with half the objects each (replicated pipelines: two
   generators of half the flows, one memory): this machine's floor for the
   flows' memory per packet.
4. Puts them side by side: the memory part in units of one miss's latency
   (how many misses a packet waits for, were none overlapped), against the
   walk's floor, and the budget of target 1 (60 Gbps on two cores of this
   clock).

Writes bench/results/bench-floor.json (or --tag). Asserts nothing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(s):
    print(s, flush=True)


def mospipe_run(build, mapping, flows, pkts, size, prefault):
    src = "gen:flows=%d,size=%s,rexmit=0.01,seed=1,pkts=%d" % (flows, size, pkts)
    with tempfile.TemporaryDirectory() as td:
        cj = os.path.join(td, "c.json")
        cmd = [os.path.join(build, "mospipe"), "-q", "-c", mapping, "--set", "input.source=" + src,
               "--set", "tcp.prefault=" + ("yes" if prefault else "no"), "--counters-json", cj]
        t0 = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if r.returncode != 0 or not os.path.exists(cj):
            raise SystemExit("floor: %s failed (rc %d): %s" % (" ".join(cmd), r.returncode, r.stderr[-400:]))
        with open(cj) as f:
            c = json.load(f)
    st = {}
    gen = 0
    for s in c["stages"]:
        st[s["stage"]] = st.get(s["stage"], 0) + s["cycles_per_pkt"]
        if s["stage"] == "rx" and s["in"]:
            gen += s["counters"].get("gen_cycles", 0) / s["in"]
    bytes_ = sum(s["counters"].get("bytes", 0) for s in c["stages"] if s["stage"] == "rx")
    return {"stages": st, "total": sum(st.values()), "gen": gen, "stack": sum(st.values()) - gen,
            "rx": c["totals"]["rx"], "frame_bytes": bytes_,
            "drops_total": c["totals"]["drops_total"], "wall_s": round(wall, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--mapping", default=os.path.join(ROOT, "bench", "mappings", "1lcore.conf"))
    ap.add_argument("--flows", default="192000,1000", help="flow counts (default 192000,1000)")
    ap.add_argument("--pkts", type=int, default=4000000)
    ap.add_argument("--size", default="64k")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-prefault", action="store_true",
                    help="without [tcp] prefault: the first touch of each flow's pages lands in tcpsm's cycles "
                         "(on this VM the host backing the guest's page: up to ~250 cycles/packet at 192K flows)")
    ap.add_argument("--chase-mib", type=int, default=1024)
    ap.add_argument("--tag", default="floor")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    a = ap.parse_args()

    chase = os.path.join(a.build, "bench", "chase")
    if not os.path.exists(chase):
        sys.exit("floor: %s not built (make all)" % chase)
    flows = [int(x) for x in a.flows.split(",")]
    log("== memory floor: %s --max-mib %d --objects %d" % (chase, a.chase_mib, max(flows)))
    r = subprocess.run([chase, "--max-mib", str(a.chase_mib), "--objects", str(max(flows))], capture_output=True,
                       text=True, check=True)
    ch = json.loads(r.stdout)
    ghz = ch["ghz"]
    for p in ch["points"]:
        log("  %10d bytes  %s pages  %2d chain(s): %7.2f ns  %6.1f cycles per load" % (
            p["bytes"], p["pages"], p["chains"], p["ns"], p["cycles"]))

    # The walk on both CPUs at once: two chase processes, one pinned to each,
    # each with half the flows (replicated pipelines: each rx instance's
    # generator makes an equal share of them).
    log("== the walk on CPUs 0 and 1 at once, %d objects each" % (max(flows) // 2))
    procs = [subprocess.Popen(["taskset", "-c", str(c), chase, "--walk-only", "--objects", str(max(flows) // 2)],
                              stdout=subprocess.PIPE, text=True) for c in (0, 1)]
    walk2 = [json.loads(pr.communicate()[0])["walk"] for pr in procs]
    if any(pr.returncode for pr in procs):
        sys.exit("floor: %s --walk-only failed" % chase)

    def best(points, order):
        return min(p["cycles"] for p in points if p["order"] == order)

    walk = {"one_cpu": {o: best(ch["walk"], o) for o in ("arena", "random")},
            "two_cpus": {o: statistics.mean(best(w, o) for w in walk2) for o in ("arena", "random")}}
    for p in ch["walk"]:
        log("  walk one CPU  %-6s prefetch %d ahead: %6.1f cycles per visit" % (p["order"], p["dist"], p["cycles"]))
    for c, w in enumerate(walk2):
        log("  walk CPU %d of 2, best: arena %.1f, random %.1f" % (c, best(w, "arena"), best(w, "random")))

    runs = {f: [] for f in flows}
    log("== %s, %d frames of %s downloads, %d reps alternated" % (os.path.relpath(a.mapping, ROOT), a.pkts,
                                                                  a.size, a.reps))
    for rep in range(a.reps):
        for f in flows:
            x = mospipe_run(a.build, a.mapping, f, a.pkts, a.size, not a.no_prefault)
            runs[f].append(x)
            log("  rep %d flows %6d: %s  total %.0f cycles/pkt" % (
                rep, f, " ".join("%s %.0f" % kv for kv in sorted(x["stages"].items())), x["total"]))

    med = {}
    for f in flows:
        stages = sorted(runs[f][0]["stages"])
        med[f] = {s: statistics.median(r["stages"][s] for r in runs[f]) for s in stages}
        med[f]["total"] = statistics.median(r["total"] for r in runs[f])
        # rx's cycles making the generator's frames (a NIC's DMA), and the
        # rest: the stack's own work per packet
        med[f]["gen"] = statistics.median(r["gen"] for r in runs[f])
        med[f]["stack"] = statistics.median(r["stack"] for r in runs[f])
        fb = runs[f][0]["frame_bytes"] / max(runs[f][0]["rx"], 1)
        med[f]["frame_bytes_avg"] = round(fb, 1)

    big, small = max(flows), min(flows)
    big_pts = [p for p in ch["points"] if p["chains"] == 1 and p["bytes"] == max(
        q["bytes"] for q in ch["points"])]
    lat = {p["pages"]: p["cycles"] for p in big_pts}
    par = {}
    for p in ch["points"]:
        if p["bytes"] == max(q["bytes"] for q in ch["points"]) and p["chains"] > 1:
            par.setdefault(p["pages"], {})[p["chains"]] = p["cycles"]
    fb = med[big]["frame_bytes_avg"]
    # 60 Gbps of these frames on two lcores (target 1)
    pps_per_lcore = 60e9 / 8 / fb / 2
    budget = ghz * 1e9 / pps_per_lcore
    mem = {s: round(med[big][s] - med[small].get(s, 0), 1) for s in med[big] if s not in ("frame_bytes_avg",)}
    out = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cmd": " ".join(sys.argv),
        "prefault": not a.no_prefault,
        "ghz": ghz,
        "chase": ch["points"],
        "miss_latency_cycles": lat,
        "miss_cycles_in_flight": par,
        "walk": ch["walk"],
        "walk_two_cpus": walk2,
        "walk_floor_cycles": walk,
        "cycles_per_pkt": {str(f): med[f] for f in flows},
        "memory_part_cycles": mem,
        "target1_budget_cycles_per_pkt_per_lcore": round(budget, 1),
        "runs": {str(f): runs[f] for f in flows},
    }
    os.makedirs(a.results, exist_ok=True)
    path = os.path.join(a.results, "bench-%s.json" % a.tag)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    log("== cycles per packet (medians), %d flows against %d" % (big, small))
    for s in [x for x in med[big] if x not in ("frame_bytes_avg", "gen", "stack")]:
        log("  %-9s %7.0f  %7.0f   memory part %6.0f = %.2f misses of %.0f cycles (4K pages)" % (
            s, med[big][s], med[small].get(s, 0), mem[s], mem[s] / lat.get("4K", 1), lat.get("4K", 0)))
    log("  of rx, making the generator's frames (a NIC's DMA): %.0f and %.0f" % (med[big]["gen"], med[small]["gen"]))
    log("  the stack without making frames: %.0f and %.0f cycles/packet" % (med[big]["stack"], med[small]["stack"]))
    log("  one miss: %s cycles; in flight 4/8/16: %s" % (lat, par))
    log("  the flows' memory floor (walk, best prefetch): one CPU arena %.0f / random %.0f cycles per visit; "
        "both CPUs at once %.0f / %.0f; the stack's memory part %.0f" % (
            walk["one_cpu"]["arena"], walk["one_cpu"]["random"], walk["two_cpus"]["arena"],
            walk["two_cpus"]["random"], mem["stack"]))
    log("  target 1 budget: %.0f cycles per packet per lcore (%.0f-byte frames, %.2f GHz): the stack at %d flows "
        "is %.2fx it, with the frames made %.2fx" % (budget, fb, ghz, big, med[big]["stack"] / budget,
                                                       med[big]["total"] / budget))
    log("  wrote %s" % os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
