#!/usr/bin/env python3
"""Checks streamdump's files from real Linux TCP transfers against the bytes
the receiving applications read (peer.py records), and tcpflow's files from
the same traffic against the same truth.

  linux_check.py --peers D --ours S --offline O --tcpflow T --pcap CAP --tsv KD
                 [--expect-ends fin]

Prints one "ok   ..." / "FAIL ..." line per check (run.sh counts them):
  * the capture really has retransmitted and out-of-order segments (else the
    transfer did not exercise reassembly and the comparison proves little);
  * per connection and direction: streamdump's file (inline run) == what the
    receiver read, or a listed difference; the index agrees (bytes, no gap, end);
  * streamdump -r on the box's own capture writes the same files as inline;
  * tcpflow on that capture: where streamdump's or tcpflow's file is not
    what the receiver read, known-differences.tsv must list it (capture
    "linux", file "ID:c2s" / "ID:s2c", the two contents, which one the
    endpoint got) with its reason; a listed row that did not happen fails.
"""
import argparse
import glob
import ipaddress
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vs_tcpflow  # noqa: E402

results = []


def check(ok, text):
    results.append(ok)
    print(("ok   " if ok else "FAIL ") + text)


def fname(a, ap, b, bp):
    def f(x):
        ip = ipaddress.ip_address(x)
        if ip.version == 4:
            return ".".join("%03d" % int(o) for o in str(ip).split("."))
        return str(ip)  # compressed, as inet_ntop writes it

    return f"{f(a)}.{ap:05d}-{f(b)}.{bp:05d}"


def pcap_segments(path):
    """(key, seq, len) of every TCP segment with payload, in capture order."""
    with open(path, "rb") as fh:
        d = fh.read()
    magic = struct.unpack("<I", d[:4])[0]
    if magic not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f"{path}: not a classic little-endian pcap")
    o = 24
    out = []
    while o + 16 <= len(d):
        _, _, cap, _ = struct.unpack("<IIII", d[o:o + 16])
        p = d[o + 16:o + 16 + cap]
        o += 16 + cap
        et = struct.unpack("!H", p[12:14])[0]
        q = 14
        while et in (0x8100, 0x88A8):
            et = struct.unpack("!H", p[q + 2:q + 4])[0]
            q += 4
        if et == 0x0800:
            ihl = (p[q] & 15) * 4
            tot = struct.unpack("!H", p[q + 2:q + 4])[0]
            if p[q + 9] != 6:
                continue
            src, dst, l4, end = p[q + 12:q + 16], p[q + 16:q + 20], q + ihl, q + tot
        elif et == 0x86DD:
            if p[q + 6] != 6:
                continue
            plen = struct.unpack("!H", p[q + 4:q + 6])[0]
            src, dst, l4, end = p[q + 8:q + 24], p[q + 24:q + 40], q + 40, q + 40 + plen
        else:
            continue
        sp, dp, seq = struct.unpack("!HHI", p[l4:l4 + 8])
        doff = (p[l4 + 12] >> 4) * 4
        n = end - l4 - doff
        if n > 0:
            out.append(((src, sp, dst, dp), seq, n))
    return out


def rexmit_ooo(segs):
    """Segments that carry only bytes seen before, and segments that leave a
    hole behind them (arrive beyond the highest byte seen)."""
    high, rex, ooo = {}, 0, 0
    for key, seq, n in segs:
        if key not in high:
            high[key] = seq + n
            continue
        h = high[key]
        rel_end = (seq + n - h) & 0xFFFFFFFF
        rel_start = (seq - h) & 0xFFFFFFFF
        if rel_end == 0 or rel_end > 0x7FFFFFFF:
            rex += 1
        else:
            if 0 < rel_start < 0x7FFFFFFF:
                ooo += 1
            high[key] = seq + n
    return rex, ooo


def desc(b, truth):
    """A file as the TSV names it: the text after the connection's first line
    for the small overlap cases, else its size."""
    if len(b) <= 64 and b.startswith(b"ov"):
        return b.split(b"\n", 1)[-1].decode("latin-1")
    return f"size={len(b)}"


def check_small(d, conns, peers, ref_dir):
    """With a reassembly window smaller than what the receivers advertise,
    the stack gives holes up and bytes are missed: every byte streamdump
    wrote must still be the byte at that offset of the full-window run
    (checked above against what the receiver read), gaps hold NULs, and
    bytes + gap bytes account for the stream up to where it stops."""
    index = {}
    for line in open(os.path.join(d, "streamdump.json")):
        j = json.loads(line)
        if "flow_id" in j:
            index[(j["cli_port"], j["svr_port"])] = j
    n_gaps = missed = 0
    for cj in conns:
        c = json.load(open(cj))
        j = index.get((c["cport"], c["sport"]))
        if not j:
            check(False, f"small window: no index line for {c['id']}")
            continue
        for dd in ("c2s", "s2c"):
            jd = j[dd]
            rp = os.path.join(ref_dir, jd["file"]) if jd["file"] else None
            truth = open(rp, "rb").read() if rp and os.path.exists(rp) else b""
            got = open(os.path.join(d, jd["file"]), "rb").read() if jd["file"] else b""
            want = bytearray(truth[:len(got)])
            for g in jd["gaps"]:
                for i in range(g["offset"], min(g["offset"] + g["len"], len(want))):
                    want[i] = 0
            n_gaps += len(jd["gaps"])
            missed += jd["missed"]
            acct = jd["bytes"] + jd["missed"] == jd["stream_end"] <= len(truth) and len(got) == jd["size"]
            check(got == bytes(want) and acct and not jd["gaps_unlisted"],
                  f"small window {c['id']} {dd}: {jd['bytes']} bytes written are the receiver's, "
                  f"{len(jd['gaps'])} gaps ({jd['missed']} bytes) are NULs, bytes + missed = stream end")
    check(n_gaps > 0, f"small window: the stack gave holes up ({n_gaps} gaps, {missed} bytes listed in the index)")


def main():
    ap = argparse.ArgumentParser()
    for k in ("peers", "ours", "offline", "tcpflow", "pcap", "tsv"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--small", help="streamdump -r output with a window too small for the receivers' windows")
    a = ap.parse_args()

    rex, ooo = rexmit_ooo(pcap_segments(a.pcap))
    check(rex > 0 and ooo > 0, f"the box saw {rex} retransmitted and {ooo} out-of-order data segments")

    index = {}
    for line in open(os.path.join(a.ours, "streamdump.json")):
        j = json.loads(line)
        if "flow_id" in j:
            index[(j["cli_port"], j["svr_port"])] = j

    known, errs = vs_tcpflow.load_tsv(a.tsv)
    for e in errs:
        check(False, e)
    seen = set()
    conns = sorted(glob.glob(os.path.join(a.peers, "*.json")))
    check(len(conns) > 0, f"{len(conns)} connections recorded by the endpoints")
    for cj in conns:
        c = json.load(open(cj))
        cid = c["id"]
        truth = {
            "c2s": open(os.path.join(a.peers, cid + ".srv_rx"), "rb").read(),
            "s2c": open(os.path.join(a.peers, cid + ".cli_rx"), "rb").read(),
        }
        names = {
            "c2s": fname(c["cli"], c["cport"], c["srv"], c["sport"]),
            "s2c": fname(c["srv"], c["sport"], c["cli"], c["cport"]),
        }
        j = index.get((c["cport"], c["sport"]))
        check(j is not None and j["end"] == "fin",
              f"{cid}: index line for port {c['cport']}, end {j['end'] if j else None} (want fin)")
        for d in ("c2s", "s2c"):
            want = truth[d]
            p = os.path.join(a.ours, names[d])
            got = open(p, "rb").read() if os.path.exists(p) else b""
            pt = os.path.join(a.tcpflow, names[d])
            tf = open(pt, "rb").read() if os.path.exists(pt) else b""
            ours_ok, tf_ok = got == want, tf == want
            key = ("linux", f"{cid}:{d}", "content")
            if ours_ok and tf_ok:
                check(key not in known, f"{cid} {d}: streamdump's and tcpflow's {names[d]} = the {len(want)} bytes "
                      "the receiver read" + ("" if key not in known else f" (stale row known-differences.tsv:{known[key][2]})"))
            else:
                seen.add(key)
                o, t = desc(got, want), desc(tf, want)
                ep = "streamdump" if ours_ok else "tcpflow" if tf_ok else "neither"
                k = known.get(key)
                check(k is not None and k[0] == o and k[1] == t and k[3] == ep,
                      f"{cid} {d}: receiver read {desc(want, want)!r}, streamdump wrote {o!r}, tcpflow {t!r} "
                      f"(endpoint: {ep}): " + (f"known-differences.tsv:{k[2]}" if k and k[:2] == (o, t) and k[3] == ep
                                                 else "NOT listed as such in known-differences.tsv"))
            if j:
                jd = j[d]
                check(jd["bytes"] == len(got) and jd["missed"] == 0 and not jd["gaps"] and jd["file"] == (names[d] if got else None),
                      f"{cid} {d}: index says {jd['bytes']} bytes, {jd['missed']} missed, file {jd['file']}")
            po = os.path.join(a.offline, names[d])
            off = open(po, "rb").read() if os.path.exists(po) else b""
            check(off == got, f"{cid} {d}: streamdump -r on the box's capture writes the same file as inline")
    if a.small:
        check_small(a.small, conns, a.peers, a.ours)
    for k, v in known.items():
        if k[0] == "linux" and k not in seen:
            check(False, f"stale row known-differences.tsv:{v[2]}: linux {k[1]} did not differ")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
