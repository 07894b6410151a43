#!/usr/bin/env python3
"""Bad-input checks through the binary: each row of badinput.tsv runs
mospipe with arguments a user could get wrong and expects exit status 2 and
exactly one stderr line, starting "mospipe: ", that names the thing (regex
in the row).  No sanitizer report is allowed either: error paths must not
leak or crash.  A damaged capture is also checked against tcpdump's reading
of it (damaged_vs_tcpdump): refused before the run by default, stopped at
the damage with [input] pcap_check = none.
"""

import argparse
import json
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import mplib

TSV = mplib.HERE / "badinput.tsv"
CONF_DIR = mplib.HERE / "badinput"


def make_damaged(src, dst, record=10):
    """Copy a classic pcap and cut it in the middle of record `record`
    (1-based), so libpcap sees a truncated record, not a clean end."""
    data = Path(src).read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{src}: not a classic pcap file")
    off = 24
    for _ in range(record - 1):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        off += 16 + incl
    incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
    if incl < 2:
        raise ValueError(f"{src}: record {record} too short to cut")
    Path(dst).write_bytes(data[:off + 16 + incl // 2])


def load_cases():
    cases = []
    lines = [l for l in TSV.read_text().splitlines() if l.strip() and not l.startswith("#")]
    header = lines[0].split("\t")
    for n, line in enumerate(lines[1:], 2):
        cols = line.split("\t")
        if len(cols) != len(header):
            mplib.die(f"{TSV}: row {n} has {len(cols)} columns, header has {len(header)}")
        cases.append(dict(zip(header, cols)))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mospipe", required=True)
    ap.add_argument("--corpus", default=str(mplib.DEFAULT_CORPUS))
    ap.add_argument("--results")
    args = ap.parse_args()

    good = Path(args.corpus) / "zeek" / "pop3.pcap"
    if not good.exists():
        mplib.die(f"{good}: needed as the good capture of the bad-input cases")
    res = mplib.Results(args.results)
    with tempfile.TemporaryDirectory(prefix="regress-badinput.") as tmp:
        (Path(tmp) / "not-a-capture.pcap").write_text("this is not a capture\n")
        make_damaged(good, Path(tmp) / "damaged.pcap")
        subst = {"@DIR@": str(CONF_DIR), "@CAP@": str(good), "@TMP@": tmp}
        for case in load_cases():
            argv = shlex.split(case["args"])
            argv = [_subst(a, subst) for a in argv]
            regex = case["stderr_regex"]
            for k, v in subst.items():
                regex = regex.replace(k, re.escape(v))
            r = mplib.run_mospipe(args.mospipe, argv, timeout=60)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            problems = []
            san = r.sanitizer_report()
            if r.timed_out:
                problems.append("timed out")
            if san:
                problems.append(f"sanitizer: {san}")
            if r.rc != int(case["expect_rc"]):
                problems.append(f"exit {r.rc}, want {case['expect_rc']}")
            if len(lines) != 1:
                problems.append(f"{len(lines)} stderr lines, want 1")
            elif not lines[0].startswith("mospipe: "):
                problems.append("stderr line does not start with 'mospipe: '")
            if not any(re.search(regex, l) for l in lines[:1]):
                problems.append(f"stderr does not match /{case['stderr_regex']}/")
            shown = lines[0] if lines else "(no stderr)"
            if problems:
                res.add("badinput", case["name"], "FAIL",
                        "; ".join(problems) + f" | got: {shown[:200]} | ran: {r.cmdline()}")
            else:
                res.add("badinput", case["name"], "PASS", shown[:160])
        # Replicated pipelines share one walk of the file (stages/rx/rx_split.c):
        # the packets before the damage are read whichever instance they fall to.
        replicated = ["-l", "0=rx.0,classify.0,tcpsm.0,events.0,app.0,tx.0;1=rx.1,classify.1,tcpsm.1,events.1,"
                      "app.1,tx.1", "--set", "pipeline.fanout=index"]
        for name, extra in (("damaged-as-read", ["--set", "input.pcap_check=none"]),
                            ("damaged-as-read-replicated", ["--set", "input.pcap_check=none"] + replicated),
                            ("damaged-checked-first", [])):
            damaged_vs_tcpdump(args.mospipe, Path(tmp) / "damaged.pcap", name, extra, res)
    return 1 if res.failed() else 0


def damaged_vs_tcpdump(mospipe, cap, name, extra, res):
    """A damaged capture against tcpdump (libpcap reading it as a user's
    tool does): with [input] pcap_check = none rx reads the packets before the
    damage, as tcpdump does, then stops with libpcap's reason and exit 1; by
    default the file is refused before a packet is read (exit 2). Either
    way the message names the packets before the damage and libpcap's
    reason in libpcap's words."""
    if not shutil.which("tcpdump"):
        res.add("badinput", name, "SKIP", "tcpdump not installed (scripts/deps.sh installs it)")
        return
    t = subprocess.run(["tcpdump", "-n", "-r", str(cap)], capture_output=True, text=True, errors="replace")
    n_read = len([l for l in t.stdout.splitlines() if l.strip()])
    m = re.search(r"pcap_loop: (.*)$", t.stderr, re.M)
    if not m:
        res.add("badinput", name, "FAIL", f"tcpdump did not report the damage: {t.stderr.strip()[:200]}")
        return
    why = m.group(1).strip()
    cj = cap.with_suffix("." + name + ".json")
    r = mplib.run_mospipe(mospipe, ["-q", "-r", str(cap), "--counters-json", str(cj)] + extra, timeout=60)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    want = f"mospipe: {cap}: capture is damaged after {n_read} packets: {why}"
    as_read = bool(extra)
    problems = []
    if r.timed_out:
        problems.append("timed out")
    if r.sanitizer_report():
        problems.append("sanitizer: " + r.sanitizer_report())
    if r.rc != (1 if as_read else 2):
        problems.append(f"exit {r.rc}, want {1 if as_read else 2}")
    if len(lines) != 1 or not lines[0].startswith(want):
        problems.append(f"stderr {lines[:2]}, want one line starting {want!r}")
    if as_read:
        try:
            rx = json.loads(cj.read_text())["totals"]["rx"]
            if rx != n_read:
                problems.append(f"rx {rx}, tcpdump read {n_read}")
        except (OSError, ValueError, KeyError) as e:
            problems.append(f"counters JSON: {e}")
    res.add("badinput", name, "FAIL" if problems else "PASS",
            "; ".join(problems) if problems else f"{n_read} packets, then: {why}")


def _subst(arg, subst):
    for k, v in subst.items():
        arg = arg.replace(k, v)
    return arg


if __name__ == "__main__":
    sys.exit(main())
