#!/usr/bin/env python3
"""bench/tools/acct.py: acct's row of the bench (issue #13). Runs acct -r on
the peers' pcap (build/bench/gen -w, as bench/run writes it) next to mospipe
-r on the same file, same mapping, and prints one JSON object.

Four runs per repetition, all with the `split` mapping and
tcp.checksum=ignore (as bench/run's mospipe -r):
  mospipe -r           flow tracking, reassembly buffers off (the mapping's)
  acct -r (charge)     the same stack work plus acct's per-packet charging
  mospipe -r buf16K    flow tracking with 16 KiB reassembly buffers per side
  acct -r (compare)    acct with the same buffers: charging, every
                       retransmitted byte compared with its first copy, the
                       receivers' buffers trimmed with mtcp_peek()
Each tool: median wall time (process, EAL start included) and pipeline time
(mospipe's "N s" line; acct's summary "seconds", first context to last
join), Mpps and Gbps of frames on pipeline time. acct's own numbers are
checked against the generator's: charged + not charged == the pcap's TCP
payload, no abuse record (the generator's retransmissions repeat the bytes).

  python3 bench/tools/acct.py [--build build] [--pcap FILE] [--flows 20000]
        [--size 64k] [--pkts 3000000] [--reps 3] [--mapping split]
Nothing here asserts a timing.
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
SECS_RE = re.compile(r"^mospipe: .* ([0-9.]+) s$", re.M)
GEN_RE = re.compile(r"(\d+) packets, (\d+) bytes of frames, (\d+) bytes of TCP payload")


def run(cmd):
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    return r, time.monotonic() - t0


def pcap_stats(path):
    """Frames, frame bytes and TCP payload bytes (IPv4/IPv6 over Ethernet,
    no VLAN: what gen writes) of a classic pcap, for an existing file."""
    import struct

    n = by = pay = 0
    with open(path, "rb") as f:
        hdr = f.read(24)
        end = "<" if hdr[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        while True:
            h = f.read(16)
            if len(h) < 16:
                break
            incl, orig = struct.unpack(end + "II", h[8:16])
            fr = f.read(incl)
            n += 1
            by += orig
            et = fr[12:14]
            if et == b"\x08\x00" and fr[23] == 6:
                ihl = (fr[14] & 15) * 4
                ip_len = struct.unpack("!H", fr[16:18])[0]
                pay += ip_len - ihl - (fr[14 + ihl + 12] >> 4) * 4
            elif et == b"\x86\xdd" and fr[20] == 6:
                pay += struct.unpack("!H", fr[18:20])[0] - (fr[54 + 12] >> 4) * 4
    return n, by, pay


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--pcap", help="use this pcap instead of writing one")
    ap.add_argument("--flows", type=int, default=20000)
    ap.add_argument("--size", default="64k")
    ap.add_argument("--pkts", type=int, default=3000000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mapping", default="split")
    a = ap.parse_args()
    mapping = a.mapping if os.path.exists(a.mapping) else os.path.join(ROOT, "bench", "mappings", a.mapping + ".conf")
    acct, mospipe = os.path.join(a.build, "acct"), os.path.join(a.build, "mospipe")
    for b in (acct, mospipe):
        if not os.path.exists(b):
            sys.exit("acct bench: %s is not built (make -j2)" % b)

    pcap = a.pcap or os.path.join(ROOT, "bench", "results", "peers-%dflows-%s-%dpkts.pcap" % (a.flows, a.size, a.pkts))
    payload = None
    if not os.path.exists(pcap):
        r = subprocess.run([os.path.join(a.build, "bench", "gen"), "-w", pcap, "-n", str(a.flows), "-s", a.size,
                            "-p", str(a.pkts)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("acct bench: gen -w failed: " + r.stderr.strip())
        m = GEN_RE.search(r.stdout + r.stderr)
        pkts, fbytes, payload = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        pkts, fbytes, payload = pcap_stats(pcap)

    base = ["-c", mapping, "--set", "tcp.checksum=ignore"]
    buf = ["--set", "tcp.buf_size=16K", "--set", "tcp.buf_pool=0"]
    tools = {
        "mospipe -r": ([mospipe, "-r", pcap] + base, "mospipe"),
        "acct -r (charge)": ([acct, "-r", pcap, "--interval", "0"] + base, "acct"),
        "mospipe -r buf16K": ([mospipe, "-r", pcap] + base + buf, "mospipe"),
        "acct -r (compare)": ([acct, "-r", pcap, "--interval", "0"] + base + buf, "acct"),
    }
    runs = {k: [] for k in tools}
    out = {"tool": "acct", "pcap": pcap, "pkts": pkts, "frame_bytes": fbytes, "mapping": mapping, "reps": a.reps}
    for _ in range(a.reps):
        for name, (cmd, kind) in tools.items():
            with tempfile.TemporaryDirectory() as td:
                cj = os.path.join(td, "c.json")
                c = cmd + ["--counters-json", cj] + (["-o", os.path.join(td, "o.json")] if kind == "acct" else [])
                r, wall = run(c)
                rec = {"wall_s": round(wall, 3)}
                if os.path.exists(cj):
                    # Busy-poll cycles per packet of each stage: what acct's
                    # callbacks cost shows in "app", less sensitive to a
                    # loaded machine than times are.
                    st = json.load(open(cj))["stages"]
                    rec["cycles_per_pkt"] = {"%s.%d" % (x["stage"], x["instance"]): x["cycles_per_pkt"] for x in st}
                if r.returncode != 0:
                    rec["error"] = "rc=%d: %s" % (r.returncode, r.stderr.strip()[-300:])
                elif kind == "mospipe":
                    m = SECS_RE.search(r.stdout)
                    rec["pipeline_s"] = float(m.group(1)) if m else None
                else:
                    s = json.loads(open(os.path.join(td, "o.json")).read().splitlines()[-1])
                    rec["pipeline_s"] = s["seconds"]
                    rec["summary"] = {k: s[k] for k in ("packets", "payload_bytes", "client_bytes", "server_bytes",
                                                        "client_rexmit_bytes", "server_rexmit_bytes", "compared_bytes",
                                                        "unverified_bytes", "abuse_segments", "window")}
                runs[name].append(rec)
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r and r.get("pipeline_s")]
        if not ok:
            out[name] = {"error": rs[0].get("error", "no time"), "runs": rs}
            continue
        p = statistics.median(r["pipeline_s"] for r in ok)
        w = statistics.median(r["wall_s"] for r in ok)
        agg = {"wall_s": w, "pipeline_s": p, "mpps": round(pkts / p / 1e6, 3), "gbps": round(fbytes * 8 / p / 1e9, 3),
               "mpps_wall": round(pkts / w / 1e6, 3), "runs": rs}
        cyc = [r["cycles_per_pkt"] for r in ok if "cycles_per_pkt" in r]
        if cyc:
            agg["cycles_per_pkt"] = {k: round(statistics.median(c[k] for c in cyc if k in c), 1) for k in cyc[0]}
        if "summary" in ok[0]:
            s = ok[0]["summary"]
            charged = s["client_bytes"] + s["server_bytes"]
            agg["charged_bytes"] = charged
            agg["not_charged_bytes"] = s["client_rexmit_bytes"] + s["server_rexmit_bytes"]
            agg["compared_bytes"] = s["compared_bytes"]
            agg["abuse_segments"] = s["abuse_segments"]
            if payload is not None:
                agg["charged_plus_not_charged_eq_pcap_payload"] = charged + agg["not_charged_bytes"] == payload
        out[name] = agg
    m = out.get("mospipe -r", {}).get("pipeline_s")
    mb = out.get("mospipe -r buf16K", {}).get("pipeline_s")
    ratios = {}
    if m and out.get("acct -r (charge)", {}).get("pipeline_s"):
        ratios["acct_charge/mospipe"] = round(m / out["acct -r (charge)"]["pipeline_s"], 3)
    if mb and out.get("acct -r (compare)", {}).get("pipeline_s"):
        ratios["acct_compare/mospipe_buf16K"] = round(mb / out["acct -r (compare)"]["pipeline_s"], 3)
    out["throughput_ratios"] = ratios
    if payload is not None:
        out["pcap_payload_bytes"] = payload
    print(json.dumps(out))


if __name__ == "__main__":
    main()
