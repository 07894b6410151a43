#!/usr/bin/env python3
"""Mapping equivalence: the same capture through different stage-to-lcore
mappings must give the same result.

For every capture of the corpus, mospipe runs once per mapping in MAPPINGS.
Each run must exit 0 with no sanitizer report and obey conservation
(rx + injected == tx + drops_total, and drops_total == sum of drops by
reason).  Across the runs of one capture these must be identical:

  * totals rx, tx, drops by reason, drops_total;
  * per stage type, summed over its instances: in, out, drops by reason and
    every stage-specific counter except the timing ones (TIMING_COUNTERS:
    they measure the machine, not the traffic);
  * the flow log as a multiset of lines (instances write in any order), once
    mospipe writes one.  While no run writes a flow log the row says so.

totals.injected counts control mbufs (timeouts, timers); a difference there is
reported as a warning, since how many a mapping needs may legitimately
depend on the number of instances.
"""

import argparse
import collections
import json
import sys
import tempfile
from pathlib import Path

import mplib

MAPPINGS = [
    ("1lcore", "0=rx,classify,tcpsm,events,app,tx"),
    ("split-after-tcpsm", "0=rx,classify,tcpsm;1=events,app,tx"),
    ("split-before-tcpsm", "0=rx,classify;1=tcpsm,events,app,tx"),
    ("2tcpsm-2lcores", "0=rx,classify,tcpsm.0;1=tcpsm.1,events,app,tx"),
    ("2tcpsm-1lcore", "0=rx,classify,tcpsm.0,tcpsm.1,events,app,tx"),
    # Two events instances fanned out by hash: each tcpsm instance hands on
    # up to 512 mbufs at once, split over two rings (issue #11: more than
    # 256 for one destination overran mp_out_send's group buffer).
    ("2events-hash", "0=rx,classify,tcpsm.0,tcpsm.1,events.0;1=events.1,app,tx"),
    # Two replicated pipelines on one file (issue #14): each rx instance
    # reads the whole capture and takes the records whose address hash falls
    # to it; fanout = index keeps pipeline i's packets on instance i.
    ("replicated", "0=rx.0,classify.0,tcpsm.0,events.0,app.0,tx.0;1=rx.1,classify.1,tcpsm.1,events.1,app.1,tx.1"),
]
# More arguments for some mappings.
MAPPING_ARGS = {"replicated": ["--set", "pipeline.fanout=index"]}

# Counters that depend on timing, not on the packets.
# buf_chunks_freed_at_end: a closed flow's chunks go back when tx hands back
# its MP_CTRL_ENDED, or with the flow at retirement if the input ends first.
# took_retire, took_ended: what tcpsm took back on the feedback edge while it
# ran; what tx hands back after tcpsm finished is taken in its fini, after
# the counters are reported (tx's back_retire and back_ended are the totals).
TIMING_COUNTERS = {"busy_polls", "idle_polls", "busy_cycles", "buf_chunks_freed_at_end", "took_retire",
                   "took_ended"}
TIMING_SUFFIXES = ("_cycles", "_polls", "_tsc", "_ns", "_us")


def is_timing(name):
    return name in TIMING_COUNTERS or name.endswith(TIMING_SUFFIXES)


def summarize(counters):
    """Reduce a --counters-json document to what must not depend on the
    mapping: {key: value} with keys like 'totals.rx', 'tcpsm.counters.x'."""
    out = {}
    t = counters["totals"]
    for k in ("rx", "tx", "drops_total"):
        out[f"totals.{k}"] = t[k]
    for k, v in t.get("drops", {}).items():
        out[f"totals.drops.{k}"] = v
    sums = collections.defaultdict(int)
    for st in counters["stages"]:
        name = st["stage"]
        sums[f"{name}.in"] += st["in"]
        sums[f"{name}.out"] += st["out"]
        for k, v in st.get("drops", {}).items():
            sums[f"{name}.drops.{k}"] += v
        for k, v in st.get("counters", {}).items():
            if is_timing(k) or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            sums[f"{name}.counters.{k}"] += v
    out.update(sums)
    return out


def conservation_errors(counters):
    t = counters["totals"]
    errs = []
    if t["rx"] + t["injected"] != t["tx"] + t["drops_total"]:
        errs.append(f"conservation broken: rx {t['rx']} + injected {t['injected']} != "
                    f"tx {t['tx']} + drops_total {t['drops_total']}")
    if sum(t.get("drops", {}).values()) != t["drops_total"]:
        errs.append(f"drops_total {t['drops_total']} != sum of drops by reason {t.get('drops')}")
    return errs


def diff_summaries(ref_name, ref, name, other):
    diffs = []
    for k in sorted(set(ref) | set(other)):
        a, b = ref.get(k, "absent"), other.get(k, "absent")
        if a != b:
            diffs.append(f"{k}: {ref_name}={a} {name}={b}")
    return diffs


def read_flow_log(path):
    if not path.exists():
        return None
    return collections.Counter(l for l in path.read_text(errors="replace").splitlines() if l.strip())


def applies(mname, capture):
    """The replicated mapping splits a file rx maps itself: classic pcap
    only (a pcapng file is read by DPDK's net_pcap, one port, one rx)."""
    if mname != "replicated":
        return True
    with open(capture, "rb") as f:
        return f.read(4) != b"\x0a\x0d\x0d\x0a"


def check_capture(binary, capture, work, extra_args, spread=None):
    """Returns (status, detail, warnings).  spread, if given, collects the
    packets each instance of a multi-instance stage received, per mapping."""
    summaries, logs, injected = {}, {}, {}
    maps = [m for m in MAPPINGS if applies(m[0], capture)]
    for mname, mapping in maps:
        cj = work / f"{mname}.counters.json"
        fl = work / f"{mname}.flows.jsonl"
        for p in (cj, fl):
            p.unlink(missing_ok=True)
        r = mplib.run_mospipe(binary, ["-q", "-r", capture, "-l", mapping, "--counters-json", cj,
                                       "--flow-log", fl] + MAPPING_ARGS.get(mname, []) + extra_args)
        if r.timed_out:
            return "FAIL", f"{mname}: timed out: {r.cmdline()}", []
        san = r.sanitizer_report()
        if san:
            return "FAIL", f"{mname}: sanitizer: {san} ({r.cmdline()})", []
        if r.rc != 0:
            first = r.stderr.strip().splitlines()[:1]
            return "FAIL", f"{mname}: exit {r.rc}: {first} ({r.cmdline()})", []
        try:
            counters = json.loads(cj.read_text())
        except (OSError, ValueError) as e:
            return "FAIL", f"{mname}: no usable --counters-json: {e}", []
        errs = conservation_errors(counters)
        if errs:
            return "FAIL", f"{mname}: " + "; ".join(errs), []
        summaries[mname] = summarize(counters)
        if spread is not None:
            for st in counters["stages"]:
                spread[(mname, st["stage"], st["instance"])] = (
                    spread.get((mname, st["stage"], st["instance"]), 0) + st["in"])
        injected[mname] = counters["totals"]["injected"]
        logs[mname] = read_flow_log(fl)

    warnings = []
    ref = maps[0][0]
    diffs = []
    for mname, _ in maps[1:]:
        diffs += diff_summaries(ref, summaries[ref], mname, summaries[mname])
    if len(set(injected.values())) > 1:
        warnings.append(f"totals.injected differs across mappings: {injected}")

    have = [m for m in logs if logs[m] is not None]
    if have and len(have) != len(logs):
        diffs.append(f"flow log written by {have} only")
        flow_note = "flow log: inconsistent"
    elif not have:
        flow_note = "flow log: not written (not compared)"
    else:
        for mname, _ in maps[1:]:
            if logs[mname] != logs[ref]:
                only_ref = sum((logs[ref] - logs[mname]).values())
                only_m = sum((logs[mname] - logs[ref]).values())
                diffs.append(f"flow log {ref} vs {mname}: {only_ref} line(s) only in {ref}, "
                             f"{only_m} only in {mname}")
        flow_note = f"flow log: {sum(logs[ref].values())} lines identical"
    if diffs:
        return "FAIL", f"{len(diffs)} difference(s): " + "; ".join(diffs[:6]), warnings
    s = summaries[ref]
    return ("PASS", f"{len(maps)} mappings, rx={s['totals.rx']} tx={s['totals.tx']} "
                    f"drops={s['totals.drops_total']}, {len(s)} counters equal, {flow_note}", warnings)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mospipe", required=True, help="mospipe binary")
    ap.add_argument("--corpus", default=str(mplib.DEFAULT_CORPUS))
    ap.add_argument("--results", help="append result rows here (default: print)")
    ap.add_argument("--only", action="append", default=[], help="substring of the capture path, e.g. a name or a peer folder (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="extra --set for every run")
    args = ap.parse_args()

    caps = mplib.find_captures(args.corpus)
    if args.only:
        caps = [c for c in caps if any(o in str(c) for o in args.only)]  # name or peer folder
    if not caps:
        mplib.die(f"no captures under {args.corpus}")
    extra = [a for s in args.set for a in ("--set", s)]
    res = mplib.Results(args.results)
    spread = {}
    with tempfile.TemporaryDirectory(prefix="regress-mapping.") as tmp:
        for cap in caps:
            work = Path(tmp) / cap.stem
            work.mkdir()
            status, detail, warnings = check_capture(args.mospipe, cap, work, extra, spread)
            res.add("mapping", f"{cap.parent.name}/{cap.name}", status, detail)
            for w in warnings:
                res.add("mapping", f"{cap.parent.name}/{cap.name}", "WARN", w)
    # A mapping with 2 tcpsm instances only tests something if the flow
    # hash spreads flows over both.
    multi = {(m, s) for (m, s, i) in spread if i > 0}
    for m, s in sorted(multi):
        got = {i: n for (m2, s2, i), n in spread.items() if (m2, s2) == (m, s)}
        idle = [i for i, n in sorted(got.items()) if n == 0]
        if idle and len(idle) < len(got):  # a stage no packet reaches (app without an app) says nothing
            res.add("mapping", f"{m}:{s}", "WARN",
                    f"{s} instance(s) {idle} received no packet over the whole corpus: "
                    f"fan-out by flow hash is not exercised by this mapping")
    return 1 if res.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
