#!/usr/bin/env python3
"""Checks streamdump's JSON-lines index (run.sh step 4). Prints ok/FAIL lines.

  index_check.py --gen mkcaps.py --gaps D0 --fill42 D1 --stdout F --stdout-dir D2
                 --sample D3 DIR...

For every DIR: each line is one JSON object; the last one is the summary;
every file the index names exists with the size it says, no stream file is
unnamed; per direction bytes + missed = stream_end >= size; the summary's
counts are the sums of the lines.
D0 (gaps.pcap): the gap is where mkcaps.py put it (offset 1100, 900 bytes,
cut by the capture's snap length) and the file bytes are the generator's,
NULs in the gap; the bytes behind a segment never captured are written or
listed as held, none lost silently.
D1 (the same with --fill 0x2a): the gap holds '*' and nothing else changes.
F / D2 (-X -): the index went to stdout, none was written into D2, and the
lines equal those of D3 (the same capture with the default index)."""
import argparse
import importlib.util
import json
import os
import sys

res = []


def check(ok, text):
    res.append(ok)
    print(("ok   " if ok else "FAIL ") + text)


def load(path):
    lines = open(path).read().splitlines()
    objs = []
    for n, l in enumerate(lines, 1):
        try:
            objs.append(json.loads(l))
        except ValueError as e:
            check(False, f"{path}:{n}: not JSON: {e}")
            return None
    return objs


def consistent(d, index_path=None):
    idx = load(index_path or os.path.join(d, "streamdump.json"))
    if idx is None:
        return None
    errs = []
    if not idx or "summary" not in idx[-1]:
        errs.append("last line is not the summary")
        check(False, f"{d}: {errs[0]}")
        return None
    flows, summ = idx[:-1], idx[-1]["summary"]
    named = set()
    tot = {"bytes": 0, "missed": 0, "gaps": 0, "files": 0}
    for j in flows:
        for dd in ("c2s", "s2c"):
            s = j[dd]
            tot["bytes"] += s["bytes"]
            tot["missed"] += s["missed"]
            tot["gaps"] += len(s["gaps"]) + s["gaps_unlisted"]
            if s["bytes"] + s["missed"] != s["stream_end"] or s["size"] > s["stream_end"]:
                errs.append(f"flow {j['flow_id']} {dd}: bytes {s['bytes']} + missed {s['missed']} != "
                            f"stream_end {s['stream_end']} or size {s['size']} beyond it")
            if s["file"]:
                tot["files"] += 1
                named.add(s["file"])
                p = os.path.join(d, s["file"])
                if not os.path.isfile(p) or os.path.getsize(p) != s["size"]:
                    errs.append(f"{s['file']}: missing or not {s['size']} bytes")
            elif s["bytes"]:
                errs.append(f"flow {j['flow_id']} {dd}: {s['bytes']} bytes and no file")
    on_disk = set()
    for root, _, names in os.walk(d):
        for n in names:
            r = os.path.relpath(os.path.join(root, n), d)
            if r != "streamdump.json":
                on_disk.add(r)
    if on_disk != named:
        errs.append(f"files not in the index: {sorted(on_disk - named)[:3]}, named but absent: {sorted(named - on_disk)[:3]}")
    if summ["flows"] != len(flows) or any(summ[k] != v for k, v in tot.items()):
        errs.append(f"summary {summ} != sums {tot} over {len(flows)} lines")
    check(not errs, f"index of {os.path.basename(d)}: {len(flows)} connections, {tot['files']} files, one JSON object "
          f"per line, sizes, bytes + missed = stream_end, summary = sums" + ("" if not errs else ": " + "; ".join(errs[:3])))
    return idx


def main():
    ap = argparse.ArgumentParser()
    for k in ("gen", "gaps", "fill42", "stdout", "stdout-dir", "sample"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()
    for d in a.dirs:
        consistent(d)

    spec = importlib.util.spec_from_file_location("mkcaps", a.gen)
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    idx = {j["cli_port"]: j for j in load(os.path.join(a.gaps, "streamdump.json"))[:-1]}
    j = idx[40001]["c2s"]
    want = mk.payload(0, 1100, 0) + bytes(900) + mk.payload(2000, 1000, 0)
    got = open(os.path.join(a.gaps, j["file"]), "rb").read()
    check(j["gaps"] == [{"offset": 1100, "len": 900}] and j["bytes"] == 2100 and got == want,
          f"snaplen-cut segment: gap {j['gaps']} (want offset 1100, 900 bytes), file = generator bytes with NULs there")
    # The stack either gives the hole up (a gap at 3000, the rest written) or
    # keeps the bytes behind it to the end (listed as held runs from 4000):
    # every captured byte is written or listed, none dropped silently.
    j = idx[40000]["s2c"]
    got = open(os.path.join(a.gaps, j["file"]), "rb").read()
    where = j["gaps"][:1] == [{"offset": 3000, "len": 1000}] or (j["held_runs"][:1] and j["held_runs"][0]["offset"] == 4000)
    check(j["bytes"] + j["held"] == 99000 and where and got[:3000] == mk.payload(0, 3000, 100),
          f"segment at 3000 never captured: {j['bytes']} bytes written + {j['held']} held = the 99000 captured, "
          f"gaps {j['gaps'][:1]}, held runs {j['held_runs'][:1]}")
    idx42 = {j["cli_port"]: j for j in load(os.path.join(a.fill42, "streamdump.json"))[:-1]}
    got42 = open(os.path.join(a.fill42, idx42[40001]["c2s"]["file"]), "rb").read()
    want42 = mk.payload(0, 1100, 0) + b"*" * 900 + mk.payload(2000, 1000, 0)
    same_rest = all(open(os.path.join(a.gaps, f), "rb").read() == open(os.path.join(a.fill42, f), "rb").read()
                    for f in os.listdir(a.gaps) if f != "streamdump.json" and f != idx[40001]["c2s"]["file"]
                    and f != idx[40000]["s2c"]["file"])
    check(got42 == want42 and same_rest, "--fill 0x2a: the gap holds '*' bytes, every other byte unchanged")

    out = load(a.stdout)
    ref = load(os.path.join(a.sample, "streamdump.json"))
    check(out is not None and out == ref and not os.path.exists(os.path.join(a.stdout_dir, "streamdump.json")),
          f"-X -: the index on stdout ({len(out or [])} lines) equals the default one, no file in -o DIR")
    sys.exit(0 if all(res) else 1)


if __name__ == "__main__":
    main()
