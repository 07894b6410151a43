#!/usr/bin/env python3
"""streamdump against tcpflow, capture by capture, file by file.

  vs_tcpflow.py --streamdump BIN --tsv known-differences.tsv [--work DIR]
                [--arg ARG]... NAME=PCAP...

For each capture: `tcpflow -r PCAP -o T` and `streamdump -r PCAP -o S ARGS`
into fresh directories, then every file name and every byte compared (a
file is compared whole; report.xml and streamdump.json are not stream
files). A difference passes only if known-differences.tsv lists it for that
capture with the same observed values; a listed row that did not happen
fails too (stale). Prints one "ok   ..." or "FAIL ..." line per capture.

known-differences.tsv columns (tab-separated, '#' comments):
  capture   NAME as given on the command line
  file      stream file name (tcpflow's naming, shared by both tools)
  kind      presence | content
  ours      what streamdump wrote: missing, present(SIZE) or size=N,differs_at=K
  theirs    what tcpflow wrote: missing, present(SIZE) or size=N
  endpoint  which of the two holds what the receiving endpoint got:
            streamdump | tcpflow | neither
  reason    why they differ, and the evidence for the endpoint column
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cmpdirs  # noqa: E402

SAN_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
ENDPOINTS = ("streamdump", "tcpflow", "neither")


def load_tsv(path):
    rows, errs = {}, []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if cols[0] == "capture":
                continue  # header
            if len(cols) != 7 or not cols[6].strip():
                errs.append(f"{path}:{n}: expected 7 tab-separated columns with a reason")
                continue
            if cols[5] not in ENDPOINTS:
                errs.append(f"{path}:{n}: endpoint must be one of {', '.join(ENDPOINTS)}")
                continue
            key = (cols[0], cols[1], cols[2])
            if key in rows:
                errs.append(f"{path}:{n}: duplicate row for {key}")
            rows[key] = (cols[3], cols[4], n, cols[5])
    return rows, errs


def diff_rows(theirs_dir, ours_dir):
    """[(file, kind, ours, theirs)] as cmpdirs.py prints them."""
    out = []
    theirs, ours = cmpdirs.files(theirs_dir), cmpdirs.files(ours_dir)
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            out.append((name, "presence", "missing", f"present({os.path.getsize(theirs[name])})"))
        elif name not in theirs:
            out.append((name, "presence", f"present({os.path.getsize(ours[name])})", "missing"))
        else:
            a = open(ours[name], "rb").read()
            b = open(theirs[name], "rb").read()
            if a != b:
                out.append((name, "content", f"size={len(a)},differs_at={cmpdirs.first_diff(a, b)}", f"size={len(b)}"))
    same = len(set(theirs) & set(ours)) - sum(1 for r in out if r[1] == "content")
    return out, same


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streamdump", required=True)
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--work")
    ap.add_argument("--arg", action="append", default=[])
    ap.add_argument("captures", nargs="+")
    a = ap.parse_args()

    known, errs = load_tsv(a.tsv)
    for e in errs:
        print(f"FAIL {e}")
    fails = len(errs)
    work = a.work or os.path.join("/tmp", f"sd-vs-tcpflow.{os.getpid()}")
    names = []
    for spec in a.captures:
        name, pcap = spec.split("=", 1)
        names.append(name)
        t = os.path.join(work, name, "tcpflow")
        s = os.path.join(work, name, "streamdump")
        for d in (t, s):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(t)
        tf = subprocess.run(["tcpflow", "-r", pcap, "-o", t], capture_output=True, text=True)
        if tf.returncode != 0:
            print(f"FAIL {name}: tcpflow exit {tf.returncode}: {tf.stderr.strip()[:200]}")
            fails += 1
            continue
        sd = subprocess.run([a.streamdump, "-q", *a.arg, "-r", pcap, "-o", s], capture_output=True, text=True,
                            errors="replace", stdin=subprocess.DEVNULL)
        san = next((l for l in sd.stderr.splitlines() if any(m in l for m in SAN_MARKS)), None)
        if sd.returncode != 0 or san:
            print(f"FAIL {name}: streamdump exit {sd.returncode} {san or sd.stderr.strip()[-300:]}")
            fails += 1
            continue
        rows, same = diff_rows(t, s)
        seen, bad = set(), []
        for (f, kind, ours, theirs) in rows:
            k = (name, f, kind)
            seen.add(k)
            if k not in known:
                bad.append(f"unlisted difference: {f} {kind} ours={ours} tcpflow={theirs}")
            elif known[k][:2] != (ours, theirs):
                bad.append(f"{f} {kind}: now ours={ours} tcpflow={theirs}, known-differences.tsv:{known[k][2]} "
                           f"says ours={known[k][0]} tcpflow={known[k][1]}")
        for k, v in known.items():
            if k[0] == name and k not in seen:
                bad.append(f"stale row known-differences.tsv:{v[2]}: {k[1]} {k[2]} no longer differs")
        if bad:
            fails += 1
            print(f"FAIL {name}: " + "; ".join(bad))
        else:
            extra = f", {len(rows)} known differences" if rows else ""
            print(f"ok   {name}: {same} files byte-identical to tcpflow's{extra}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
