#!/usr/bin/env python3
"""bench/tools/streamdump.py: streamdump against tcpflow on one bench pcap.

Writes the paper's workload to a pcap with build/bench/gen -w (N concurrent
connections each downloading an X-byte file, 1% of segments retransmitted),
then runs `streamdump -r PCAP -o DIR` and `tcpflow -r PCAP -o DIR` on it,
--reps times each, alternating, into fresh directories (on /dev/shm by
default, so that the disk does not decide). Prints one JSON object:

  pkts, frame_bytes, payload_bytes      what the pcap holds (from gen)
  streamdump / tcpflow: wall_s (median), mpps and gbps of frames over the
      wall time, user_s, sys_s, peak_rss_mib, files, bytes written
  streamdump.startup_s: median wall time on a one-connection pcap (EAL and
      pools), and mpps_after_startup = pkts / (wall_s - startup_s)
  ratio_mpps: streamdump / tcpflow (wall-clock Mpps, same invocation)
  identical_output: every file name and byte the same in the last runs

Timings are measured, never asserted. Usage:
  bench/tools/streamdump.py [--build build] [--flows 2000] [--size 64k]
      [--pkts 300000] [--reps 3] [--pcap FILE] [--out DIR] [--lcores MAP]
      [--sd-arg ARG]...
"""
import argparse
import filecmp
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(cmd):
    """(rc, wall_s, user_s, sys_s, maxrss_kib, stderr tail) of one child."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fe, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.monotonic() - t0
        fe.seek(0)
        err = fe.read()[-400:]
    return os.waitstatus_to_exitcode(status), wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, err


def gen(build, path, flows, size, pkts=None, conns=None):
    cmd = [os.path.join(build, "bench", "gen"), "-w", path, "-n", str(flows), "-s", size]
    cmd += ["-p", str(pkts)] if pkts else ["-c", str(conns)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"streamdump bench: gen failed: {r.stderr.strip()}")
    m = re.search(r"(\d+) packets, (\d+) bytes of frames, (\d+) bytes of TCP payload", r.stdout + r.stderr)
    return {"pkts": int(m.group(1)), "frame_bytes": int(m.group(2)), "payload_bytes": int(m.group(3))} if m else {}


def pcap_counts(path):
    """Frames and frame bytes of a classic pcap (when --pcap is given)."""
    import struct

    n = b = 0
    with open(path, "rb") as f:
        f.read(24)
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            cap = struct.unpack("<IIII", h)[2]
            f.seek(cap, 1)
            n += 1
            b += struct.unpack("<IIII", h)[3]
    return {"pkts": n, "frame_bytes": b}


def tree(d):
    files, total = 0, 0
    for root, _, names in os.walk(d):
        for x in names:
            if x in ("report.xml", "streamdump.json"):
                continue
            files += 1
            total += os.path.getsize(os.path.join(root, x))
    return files, total


def same_trees(a, b):
    ca = {os.path.relpath(os.path.join(r, x), a) for r, _, n in os.walk(a) for x in n} - {"report.xml"}
    cb = {os.path.relpath(os.path.join(r, x), b) for r, _, n in os.walk(b) for x in n} - {"streamdump.json"}
    if ca != cb:
        return False
    return all(filecmp.cmp(os.path.join(a, x), os.path.join(b, x), shallow=False) for x in ca)


def summary(runs, counts):
    ok = [r for r in runs if r["rc"] == 0]
    if not ok:
        return {"error": runs[0]["err"] if runs else "not run", "runs": runs}
    wall = statistics.median(r["wall_s"] for r in ok)
    out = {
        "wall_s": round(wall, 3),
        "mpps": round(counts["pkts"] / wall / 1e6, 4),
        "gbps": round(counts["frame_bytes"] * 8 / wall / 1e9, 3),
        "user_s": round(statistics.median(r["user_s"] for r in ok), 3),
        "sys_s": round(statistics.median(r["sys_s"] for r in ok), 3),
        "peak_rss_mib": round(statistics.median(r["rss_kib"] for r in ok) / 1024, 1),
        "files": ok[-1]["files"],
        "bytes_written": ok[-1]["bytes"],
        "runs": [{k: v for k, v in r.items() if k != "err"} for r in runs],
    }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--flows", type=int, default=2000)
    ap.add_argument("--size", default="64k")
    ap.add_argument("--pkts", type=int, default=300000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pcap")
    ap.add_argument("--out", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir())
    ap.add_argument("--lcores", help="streamdump -l MAP (default: one lcore runs every stage)")
    ap.add_argument("--sd-arg", action="append", default=[], help="extra streamdump argument (repeatable)")
    a = ap.parse_args()

    sd = os.path.join(a.build, "streamdump")
    if not os.access(sd, os.X_OK):
        raise SystemExit(f"streamdump bench: {sd} is not built (make -j2)")
    if not shutil.which("tcpflow"):
        raise SystemExit("streamdump bench: tcpflow is not installed (scripts/deps.sh)")
    work = tempfile.mkdtemp(prefix="sdbench.", dir=a.out)
    try:
        if a.pcap:
            pcap, counts = a.pcap, pcap_counts(a.pcap)
        else:
            pcap = os.path.join(work, "bench.pcap")
            counts = gen(a.build, pcap, a.flows, a.size, pkts=a.pkts)
        one = os.path.join(work, "one.pcap")
        gen(a.build, one, 1, "4k", conns=1)
        sd_args = list(a.sd_arg) + (["-l", a.lcores] if a.lcores else [])

        startup = []
        for i in range(a.reps):
            d = os.path.join(work, f"one{i}")
            startup.append(timed([sd, "-q", *sd_args, "-r", one, "-o", d])[1])
            shutil.rmtree(d, ignore_errors=True)
        runs = {"streamdump": [], "tcpflow": []}
        for i in range(a.reps):
            for tool in ("streamdump", "tcpflow"):
                d = os.path.join(work, f"{tool}{i}")
                shutil.rmtree(d, ignore_errors=True)
                if tool == "tcpflow":
                    os.makedirs(d)
                    cmd = ["tcpflow", "-r", pcap, "-o", d]
                else:
                    cmd = [sd, "-q", *sd_args, "-r", pcap, "-o", d]
                rc, wall, us, ss, rss, err = timed(cmd)
                files, total = tree(d)
                runs[tool].append({"rc": rc, "wall_s": round(wall, 3), "user_s": round(us, 3), "sys_s": round(ss, 3),
                                   "rss_kib": rss, "files": files, "bytes": total, "err": err})
                if i < a.reps - 1:
                    shutil.rmtree(d, ignore_errors=True)
        last = a.reps - 1
        identical = same_trees(os.path.join(work, f"tcpflow{last}"), os.path.join(work, f"streamdump{last}"))
        res = {
            "tool": "streamdump",
            "peer": "tcpflow",
            "pcap": a.pcap or f"gen -n {a.flows} -s {a.size} -p {a.pkts}",
            "out_dir": a.out,
            "lcores": a.lcores or "0=rx classify tcpsm events app tx",
            **counts,
            "streamdump": summary(runs["streamdump"], counts),
            "tcpflow": summary(runs["tcpflow"], counts),
            "identical_output": identical,
        }
        s, t = res["streamdump"], res["tcpflow"]
        if "wall_s" in s:
            st = statistics.median(startup)
            s["startup_s"] = round(st, 3)
            if s["wall_s"] > st:
                s["mpps_after_startup"] = round(counts["pkts"] / (s["wall_s"] - st) / 1e6, 4)
        if "mpps" in s and "mpps" in t:
            res["ratio_mpps"] = round(s["mpps"] / t["mpps"], 3)
        print(json.dumps(res))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
