#!/usr/bin/env python3
"""The scaling projection (issue #14, target 8): Gbps of flow tracking
against lcores, from the per-stage cycles of a bench/run result, for a box
of --cores cores behind a --nic-gbps NIC.

    python3 bench/project.py [RESULTS.json] [--cores 16] [--nic-gbps 100] [--ghz G]

RESULTS.json: a bench/run result with the 1lcore mapping (default
bench/results/bench-projection.json, else bench-record.json). The model:
replicated pipelines (fanout = index; live ports: a queue pair per rx
instance), each lcore running every stage for its share of the flows, so
N lcores move N x ghz / cycles-per-packet packets per second, scaled by the
2-lcore efficiency measured in the same result (best vs 1lcore: what two
lcores lost to sharing caches, memory and the hand-off), until the NIC's
line rate. Frames of the workload average bytes/frame from the same run.
Two columns: as measured (rx makes each frame: the generator), and for a
box whose NIC makes them by DMA (rx's gen_cycles_per_pkt taken out, when
the result has them). Prints the table and writes RESULTS-lcores.svg
beside the results (gnuplot), with the measured points on it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?")
    ap.add_argument("--cores", type=int, default=16)
    ap.add_argument("--nic-gbps", type=float, default=100.0)
    ap.add_argument("--ghz", type=float, default=0, help="core clock (default: the measured run's, from its cycles and time)")
    a = ap.parse_args()
    path = a.results
    if not path:
        for n in ("bench-projection.json", "bench-record.json"):
            p = os.path.join(ROOT, "bench", "results", n)
            if os.path.exists(p):
                path = p
                break
    try:
        d = json.load(open(path))
        one = d["mappings"]["1lcore"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"bench/project.py: {path}: no 1lcore mapping result ({e}); run bench/run first")
    cyc = one["cycles_per_pkt"]
    total = sum(cyc.values())
    gen = sum(one.get("gen_cycles_per_pkt", {}).values())
    stack = total - gen
    mpps1, gbps1 = one["mpps"], one["gbps"]
    bytes_per_frame = gbps1 * 1e9 / 8 / (mpps1 * 1e6)
    # The clock the cycles were counted at: one lcore ran every stage, busy.
    ghz = a.ghz or total * mpps1 * 1e6 / 1e9
    best = d["mappings"].get("best", {})
    eff = best.get("gbps", 0) / (2 * gbps1) if best.get("gbps") else 1.0
    eff = min(eff, 1.0)
    print(f"from {os.path.relpath(path, ROOT)}: cycles/packet {total:.0f} "
          + ", ".join(f"{k} {v:.0f}" for k, v in sorted(cyc.items()) if v)
          + f"; {bytes_per_frame:.0f} bytes/frame; {ghz:.2f} GHz; 2-lcore efficiency {eff:.2f}"
          + (f"; of rx, making the frames {gen:.0f}: the stack {stack:.0f}" if gen else ""))

    def project(cycles):
        rows = []
        for n in range(1, a.cores + 1):
            mpps = n * ghz * 1e9 / cycles / 1e6 * (1.0 if n == 1 else eff)
            gbps = mpps * 1e6 * bytes_per_frame * 8 / 1e9
            rows.append((n, mpps, min(gbps, a.nic_gbps), gbps >= a.nic_gbps))
        return rows

    rows, nic = project(total), project(stack)
    print(f"{'lcores':>6} {'Mpps':>8} {'Gbps':>8}   with a NIC making the frames: {'Mpps':>6} {'Gbps':>6}")
    for (n, mpps, g, cap), (_, m2, g2, cap2) in zip(rows, nic):
        print(f"{n:>6} {mpps:>8.2f} {g:>8.1f}{'*' if cap else ' '}  {'':>29}{m2:>6.2f} {g2:>6.1f}{'*' if cap2 else ''}")
    print(f"(* the {a.nic_gbps:.0f} GbE NIC's line rate)")
    for label, rr in (("as measured", rows), ("with a NIC making the frames", nic)):
        first = next((n for n, _, _, cap in rr if cap), None)
        need60 = next((n for n, _, g, _ in rr if g >= 60), None)
        print(f"{label}: 60 Gbps from {need60} lcores; the {a.nic_gbps:.0f} GbE NIC is the limit from "
              f"{first if first else 'more than ' + str(a.cores)} lcores")
    svg = os.path.splitext(path)[0] + "-lcores.svg"
    gp = shutil.which("gnuplot")
    if not gp:
        print("no plot: gnuplot is not installed (apt-get install gnuplot-nox)")
        return 0
    measured = [(1, gbps1)] + ([(2, best["gbps"])] if best.get("gbps") else [])
    dat = ("\n".join(f"{n} {g:.3f}" for n, _, g, _ in rows) + "\ne\n" +
           "\n".join(f"{n} {g:.3f}" for n, _, g, _ in nic) + "\ne\n" +
           "\n".join(f"{n} {g:.3f}" for n, g in measured) + "\ne\n")
    script = f"""set terminal svg size 720,440 font 'sans,11'
set output '{svg}'
set title "mospipe flow tracking, 64 KiB downloads x 192K flows\\n{total:.0f} cycles/packet, 2-lcore efficiency {eff:.2f}"
set xlabel 'lcores (replicated pipelines)'
set ylabel 'Gbps'
set key right center box opaque
set grid
set xrange [0:{a.cores + 1}]
set yrange [0:{a.nic_gbps * 1.25:.0f}]
plot '-' with linespoints title 'projected, rx making the frames', \\
     '-' with linespoints title 'projected, a NIC making them ({stack:.0f} cycles/packet)', \\
     '-' with points pt 7 ps 1.5 title 'measured (2-vCPU VM)', \\
     {a.nic_gbps} with lines dt 2 title '{a.nic_gbps:.0f} GbE line rate'
"""
    r = subprocess.run([gp], input=script + dat, text=True, capture_output=True)
    if r.returncode != 0:
        print("gnuplot failed: " + r.stderr.strip()[-300:])
        return 1
    print(f"plot: {os.path.relpath(svg, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
