#!/usr/bin/env python3
"""Run-to-completion equivalence (issue #12, DESIGN.md §3): an mOS
application must not be able to tell the mapping or the burst size from
anything it observes.

The reference is one lcore with burst 1 (what mOS does: each packet runs to
completion before the next). The corpus is concatenated, per link type,
into one capture whose files follow each other in time (an hour apart, so
every flow of one file has ended by idle timeout before the next starts:
nothing carries over), and each API program below runs on it under every
configuration:

  * bursts 1, 7, 32, 256 on one lcore;
  * the mappings of the mapping-equivalence suite (mapping.py: split after
    and before tcpsm, two tcpsm instances on one and two lcores) at the
    default burst, plus the app stage on its own lcore and two app instances
    sharing one context (bench/mappings' shapes on two cores).

Programs: eqtrace (every event at every hook with both sides' states, the
packet, each side's MOS_INFO and MOS_FRAGINFO, and on NEW_DATA / CONN_END the
bytes every mtcp_peek returned and an mtcp_ppeek of the window start), trace
(tests/api), http_ude (the guide's HTTP-request UDE) and rexmit_syn (the
guide's SYN-retransmission UDE at MOS_HK_RCV). eqtrace runs again with
[tcp] buf_history = no on five of the configurations (NOHIST_CONFIGS).

What is compared: each program's output as per-flow sequences. A line starts
with the flow ("cli:port>svr:port"); lines of one flow keep their order, and
the sequences of all flows must be identical to the reference's (lines that
name no flow, e.g. totals, are compared as a multiset). Instances deliver
different flows' callbacks in a different interleaving, which no
application can rely on; within a flow the order is the packet order.

Usage: equiv.py --build BUILD --corpus DIR --results FILE [--full]
(--full adds burst 3 and 64 and the two-app mapping at every burst: the
longer `make equiv-full` target.)
"""

import argparse
import collections
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import mplib

PROGRAMS = ["eqtrace", "trace", "http_ude", "rexmit_syn"]
ONE = "0=rx,classify,tcpsm,events,app,tx"
CONFIGS = [
    ("1lcore-b1", ONE, 1),
    ("1lcore-b7", ONE, 7),
    ("1lcore-b32", ONE, 32),
    ("1lcore-b256", ONE, 256),
    ("split-after-tcpsm", "0=rx,classify,tcpsm;1=events,app,tx", 32),
    ("split-before-tcpsm", "0=rx,classify;1=tcpsm,events,app,tx", 32),
    ("2tcpsm-2lcores", "0=rx,classify,tcpsm.0;1=tcpsm.1,events,app,tx", 32),
    ("2tcpsm-1lcore", "0=rx,classify,tcpsm.0,tcpsm.1,events,app,tx", 32),
    ("app-own-lcore", "0=rx,classify,tcpsm,events,tx;1=app", 32),
    ("2app", "0=rx,classify,tcpsm,events,app.0,tx;1=app.1", 32),
]
FULL_EXTRA = [
    ("1lcore-b3", ONE, 3),
    ("1lcore-b64", ONE, 64),
    ("2app-b1", "0=rx,classify,tcpsm,events,app.0,tx;1=app.1", 1),
    ("2app-b256", "0=rx,classify,tcpsm,events,app.0,tx;1=app.1", 256),
    ("split-after-tcpsm-b7", "0=rx,classify,tcpsm;1=events,app,tx", 7),
]
# [tcp] buf_history = no (a packet's bytes readable at its own events only,
# chunks back as soon as the readers released them): eqtrace, whose peeks
# and ppeeks read every window, on the configurations where the reader lags
# most behind tcpsm.
NOHIST_CONFIGS = [
    ("1lcore-b1", ONE, 1),
    ("1lcore-b256", ONE, 256),
    ("split-after-tcpsm", "0=rx,classify,tcpsm;1=events,app,tx", 32),
    ("app-own-lcore", "0=rx,classify,tcpsm,events,tx;1=app", 32),
    ("2app", "0=rx,classify,tcpsm,events,app.0,tx;1=app.1", 32),
]
GAP_S = 3600


def read_pcap(path):
    """(linktype, snaplen, [(ts_s, ts_us, caplen, origlen, data)]) of a classic
    pcap (microsecond, either byte order)."""
    b = path.read_bytes()
    magic = struct.unpack("<I", b[:4])[0]
    if magic == 0xA1B2C3D4:
        e = "<"
    elif magic == 0xD4C3B2A1:
        e = ">"
    else:
        return None
    _, _, _, _, snap, lt = struct.unpack(e + "HHiIII", b[4:24])
    recs, o = [], 24
    while o + 16 <= len(b):
        s, us, cl, ol = struct.unpack(e + "IIII", b[o:o + 16])
        recs.append((s, us, cl, ol, b[o + 16:o + 16 + cl]))
        o += 16 + cl
    return lt, snap, recs


def concat_corpus(corpus, work):
    """One capture per link type with every corpus file, an hour apart.
    @return [(path, files)]."""
    groups = collections.defaultdict(list)
    for f in sorted(corpus.rglob("*.pcap*")):
        src = f
        if f.suffix == ".pcapng":
            src = work / (f.stem + ".conv.pcap")
            subprocess.run(["tcpdump", "-r", str(f), "-w", str(src)], capture_output=True)
            if not src.exists():
                continue
        p = read_pcap(src)
        if p:
            groups[p[0]].append((f, p))
    out = []
    for lt, items in sorted(groups.items()):
        t = 1_000_000_000
        recs = []
        snap = 0
        for _, (_, sn, rs) in items:
            snap = max(snap, sn)
            if not rs:
                continue
            base = rs[0][0] + rs[0][1] / 1e6
            last = t
            for s, us, cl, ol, d in rs:
                ts = t + (s + us / 1e6 - base)
                if ts < last:
                    ts = last  # keep time monotonic inside the concatenation
                last = ts
                recs.append((ts, cl, ol, d))
            t = int(last) + GAP_S
        path = work / f"corpus-lt{lt}.pcap"
        with open(path, "wb") as fh:
            fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snap or 262144, lt))
            for ts, cl, ol, d in recs:
                s = int(ts)
                us = int(round((ts - s) * 1e6))
                if us >= 1_000_000:
                    s, us = s + 1, us - 1_000_000
                fh.write(struct.pack("<IIII", s, us, cl, ol) + d)
        out.append((path, [str(f.relative_to(corpus)) for f, _ in items]))
    return out


def per_flow(text):
    flows = collections.OrderedDict()
    other = collections.Counter()
    for line in text.splitlines():
        first = line.split(" ", 1)[0]
        if ">" in first and ":" in first or ">" in first and "." in first:
            flows.setdefault(first, []).append(line)
        elif line.strip():
            other[line] += 1
    return flows, other


def first_diff(ref, got):
    rf, ro = ref
    gf, go = got
    for k in rf:
        if k not in gf:
            return f"flow {k} missing"
        if rf[k] != gf[k]:
            for i, (a, b) in enumerate(zip(rf[k], gf[k])):
                if a != b:
                    return f"flow {k} line {i + 1}: ref «{a[:160]}» got «{b[:160]}»"
            return f"flow {k}: {len(rf[k])} lines in the reference, {len(gf[k])} here"
    for k in gf:
        if k not in rf:
            return f"extra flow {k}"
    if ro != go:
        return f"other lines differ: {sorted((ro - go).items())[:2]} / {sorted((go - ro).items())[:2]}"
    return None


def run_prog(build, prog, conf, capture, mapping, burst, outp, work):
    env = mplib.mospipe_env()
    env["MOSPIPE_INPUT"] = f"pcap:{capture}"
    env["MOSPIPE_LCORES"] = mapping
    env["MOSPIPE_SET"] = f"pipeline.burst={burst}"
    try:
        r = subprocess.run([str(build / "api" / prog), str(conf), str(outp)], env=env, capture_output=True,
                           text=True, timeout=mplib.RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "timed out"
    for line in r.stderr.splitlines():
        if any(m in line for m in mplib.SANITIZER_MARKS):
            return f"sanitizer: {line.strip()}"
    if r.returncode != 0:
        return f"exit {r.returncode}: {r.stderr.strip().splitlines()[-1:] if r.stderr.strip() else ''}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True, type=Path)
    ap.add_argument("--corpus", type=Path, default=mplib.DEFAULT_CORPUS)
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--full", action="store_true")
    a = ap.parse_args()
    build = a.build.resolve()
    configs = CONFIGS + (FULL_EXTRA if a.full else [])
    rows = []
    with tempfile.TemporaryDirectory(prefix="equiv.") as tmp:
        work = Path(tmp)
        conf = work / "equiv.conf"
        conf.write_text("[pipeline]\ntelemetry = no\n[tcp]\nflows = 16384\nbuf_size = 64K\nbuf_pool = 0\n"
                        "[mempool]\nmbufs = 8191\n[eal]\nargs = --no-huge -m 512 --no-pci --no-shconf\n")
        conf_nh = work / "equiv-nohist.conf"
        conf_nh.write_text(conf.read_text().replace("buf_pool = 0\n", "buf_pool = 0\nbuf_history = no\n"))
        caps = concat_corpus(a.corpus, work)
        runs = [(prog, conf, configs, "") for prog in PROGRAMS] + [("eqtrace", conf_nh, NOHIST_CONFIGS,
                                                                    ", buf_history = no")]
        for prog, pconf, pconfigs, tag in runs:
            for cap, files in caps:
                name = f"{prog} on {cap.name} ({len(files)} captures{tag})"
                ref = None
                bad = []
                for cname, mapping, burst in pconfigs:
                    outp = work / f"{prog}.{cap.stem}.{cname}{tag and '.nohist'}.out"
                    err = run_prog(build, prog, pconf, cap, mapping, burst, outp, work)
                    if err:
                        bad.append(f"{cname}: {err}")
                        break
                    got = per_flow(outp.read_text(errors="replace"))
                    if ref is None:
                        ref = got
                        nflows, nlines = len(got[0]), sum(len(v) for v in got[0].values())
                        continue
                    d = first_diff(ref, got)
                    if d:
                        bad.append(f"{cname} vs 1lcore-b1: {d}")
                if bad:
                    rows.append(("equiv", name, "FAIL", "; ".join(bad)[:600]))
                else:
                    rows.append(("equiv", name, "PASS",
                                 f"{len(pconfigs)} configurations identical per flow ({nflows} flows, {nlines} lines)"))
    with open(a.results, "a") as fh:
        for r in rows:
            fh.write("\t".join(r) + "\n")
    for r in rows:
        print("\t".join(r))
    return 1 if any(r[2] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
