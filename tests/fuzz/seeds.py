#!/usr/bin/env python3
"""Seed corpora for the fuzz targets (tests/fuzz/README.md), made fresh from
the shared capture corpus (../shared/corpus) and from the shapes the unit
tests build by hand. Stdlib only.

  seeds.py OUTDIR [--corpus DIR]

OUTDIR/<target>/ gets, per target:
  parse   every frame of every classic capture, prefixed with the target's
          two control bytes (link type index, options), plus the unit
          tests' crafted frames (fragments, option overruns, bad checksums,
          IP length beyond the frame, Teredo, VLAN/MPLS/PPPoE)
  pcap    the captures themselves (classic and pcapng), and cut variants
  conf    the pipeline.conf files of the repository
  tcpsm   each capture's TCP segments rewritten as the target's 14-byte
          packet records (tuple, direction, flags, absolute sequence
          numbers, lengths), one seed per capture
  reasm   segment sequences of those captures' first flows as the target's
          operations (insert at the offset the capture gives, peek)
  ipfrag  the unit tests' fragment shapes (in order, out of order,
          duplicate, overlap, tiny, zero length) as the target's operations
  idsrules  the repository's IDS rule files, whole and a rule at a time,
          each rule followed by a stream holding its content strings
  fwrules the firewall's rule files, whole and a line at a time, with
          --eval tuples after them
  acctsubs  subscriber prefix files: nested IPv4 and IPv6 prefixes with
          names, and the shapes tests/apps/acct refuses, with addresses
"""
import re
import argparse
import os
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = Path(os.environ.get("CORPUS") or (REPO.parent / "shared" / "corpus"))
# fuzz_parse.c's dlts[]: index of each pcap link type
DLT_INDEX = {1: 0, 12: 1, 228: 2, 229: 3, 113: 4, 0: 5, 108: 6, 276: 7, 101: 8}


def read_pcap(path):
    """(linktype, [(caplen bytes, origlen)]) of a classic pcap, or None."""
    b = path.read_bytes()
    if len(b) < 24:
        return None
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    lt = struct.unpack(e + "I", b[20:24])[0]
    pos, out = 24, []
    while pos + 16 <= len(b):
        _, _, cl, ol = struct.unpack(e + "IIII", b[pos:pos + 16])
        if pos + 16 + cl > len(b):
            break
        out.append((b[pos + 16:pos + 16 + cl], ol))
        pos += 16 + cl
    return lt, out


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip4(payload, proto=6, frag=0, ident=1, tos=0, bad_csum=False, tot=None):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, tot if tot is not None else 20 + len(payload), ident, frag, 64,
                    proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    c = csum(h) ^ (1 if bad_csum else 0)
    return h[:10] + struct.pack("!H", c) + h[12:] + payload


def tcp(data=b"", opts=b"", flags=0x18, seq=1000, ack=2000):
    off = (20 + len(opts)) // 4
    return struct.pack("!HHIIBBHHH", 1234, 80, seq, ack, off << 4, flags, 512, 0, 0) + opts + data


ETH = b"\x02\0\0\0\0\1\x02\0\0\0\0\2"


def crafted_frames():
    """Frames in the shapes test_classify builds by hand."""
    out = []
    seg = tcp(b"a" * 40)
    out.append(ETH + b"\x08\x00" + ip4(seg))
    out.append(ETH + b"\x08\x00" + ip4(seg, bad_csum=True))
    out.append(ETH + b"\x08\x00" + ip4(seg, tot=20 + len(seg) + 100))
    for o in (b"\x08\x0a\0\0\0\x09\0\0\0\x07\x01\x01\x02\x08\x05\xb4", b"\x03\x01\0\0", b"\x01\x01\x01\x02"):
        out.append(ETH + b"\x08\x00" + ip4(tcp(b"x" * 7, o)))
    d = tcp(b"b" * 52)
    out.append(ETH + b"\x08\x00" + ip4(d[:24], frag=0x2000, ident=7))
    out.append(ETH + b"\x08\x00" + ip4(d[24:48], frag=0x2003, ident=7))
    out.append(ETH + b"\x08\x00" + ip4(d[48:], frag=0x0006, ident=7))
    out.append(ETH + b"\x08\x00" + ip4(d[:13], frag=0x2000, ident=8))
    out.append(ETH + b"\x81\x00\x00\x05\x08\x00" + ip4(seg))
    out.append(ETH + b"\x88\x47\x00\x01\x01\x40" + ip4(seg))
    out.append(ETH + b"\x88\x64\x11\x00\x00\x01\x00\x40\x00\x21" + ip4(seg))
    v6 = struct.pack("!IHBB16s16s", 0x60000000, len(seg), 6, 64, b"\x20\x01" + b"\0" * 13 + b"\1",
                     b"\x20\x01" + b"\0" * 13 + b"\2") + seg
    out.append(ETH + b"\x86\xdd" + v6)
    fh = struct.pack("!BBHI", 6, 0, 1, 0xABCD)
    v6f = struct.pack("!IHBB16s16s", 0x60000000, 8 + 16, 44, 64, b"\x20\x01" + b"\0" * 14,
                      b"\x20\x01" + b"\0" * 13 + b"\2") + fh + seg[:16]
    out.append(ETH + b"\x86\xdd" + v6f)
    return out


def tcp_segments(lt, recs):
    """(tuple index, dir, flags, seq, ack, win, len) of each Ethernet/IPv4 TCP segment."""
    tuples, out = {}, []
    for fr, _ in recs:
        if lt != 1 or len(fr) < 54 or fr[12:14] != b"\x08\x00" or fr[23] != 6:
            continue
        ihl = (fr[14] & 15) * 4
        t = 14 + ihl
        if len(fr) < t + 20:
            continue
        sp, dp, seq, ack, off, fl, win = struct.unpack("!HHIIBBH", fr[t:t + 16])
        tot = struct.unpack("!H", fr[16:18])[0]
        a, b = (fr[26:30], sp), (fr[30:34], dp)
        key = tuple(sorted([a, b]))
        if key not in tuples:
            tuples[key] = (len(tuples), a)
        idx, first = tuples[key]
        out.append((idx & 7, 0 if a == first else 1, fl, seq, ack, win, max(0, tot - ihl - (off >> 4) * 4)))
    return out


def tcpsm_seed(segs):
    b = bytearray([0x05])  # midstream on, 64 flows, evict
    for idx, d, fl, seq, ack, win, ln in segs[:300]:
        ln = min(ln, 1460)
        b += bytes([idx | d << 3 | 0x40, fl]) + struct.pack("<I", seq) + struct.pack("<H", win)
        b += bytes([ln & 0xFF, ln >> 8 & 7, 0, 0, 0, 1])
    return bytes(b)


def reasm_seed(segs):
    """The first flow's client-side segments as inserts and peeks."""
    b = bytearray([0, 0, 2, 0])
    base = None
    for idx, d, fl, seq, ack, win, ln in segs:
        if idx != 0 or d != 0 or ln == 0:
            continue
        if base is None:
            base = seq
        off = (seq - base + 2048) & 0x3FFFF
        b += bytes([0, off & 0xFF, off >> 8 & 0xFF, off >> 16 & 3, min(ln // 16, 255), ln & 15])
        b += bytes([4, 0, 0, 0, 40, 0])
        if len(b) > 3000:
            break
    return bytes(b)


def ipfrag_seeds():
    """Operations of fuzz_ipfrag.c: key, offset/8, length, flags(mf|evil<<1|ecn<<2|tiny<<4), time, done."""
    def op(key, off8, ln, mf, evil=0, ecn=0, tiny=0):
        return bytes([key, off8, ln, mf | evil << 1 | ecn << 2 | tiny << 4, 1, 0])
    seeds = []
    for pol in range(4):
        seeds.append(bytes([pol]) + op(0, 0, 24, 1) + op(0, 3, 24, 1) + op(0, 6, 20, 0))
        seeds.append(bytes([pol]) + op(1, 6, 20, 0) + op(1, 0, 24, 1) + op(1, 3, 24, 1))
        seeds.append(bytes([pol]) + op(0, 0, 24, 1) + op(0, 3, 24, 1) + op(0, 3, 24, 1, 1) + op(0, 6, 20, 0))
        seeds.append(bytes([pol]) + op(2, 0, 32, 1) + op(2, 3, 16, 1, 1) + op(2, 4, 40, 0))
        seeds.append(bytes([pol]) + op(3, 0, 8, 1, 0, 0, 1) + op(3, 0, 24, 1) + op(3, 3, 0, 1))
        seeds.append(bytes([pol]) + op(0, 0, 13, 1) + op(0, 1, 64, 0, 0, 3) + bytes([0xF0, 200, 0, 0, 0, 0]))
    return seeds


def rule_files(tool):
    """The .rules files of one tool (its directory and its tests')."""
    return sorted(set((REPO / "apps" / tool).glob("*.rules")) | set((REPO / "tests" / "apps" / tool).glob("**/*.rules")))


def ids_stream(rule):
    """A stream holding a rule's content strings (|hex| decoded), in order."""
    out = b"GET / HTTP/1.1\r\n"
    for m in re.finditer(rb'content:\s*"((?:[^"\\]|\\.)*)"', rule):
        parts = re.split(rb"\|([0-9A-Fa-f ]*)\|", m.group(1))
        for k, part in enumerate(parts):
            out += bytes.fromhex(part.decode()) if k % 2 else re.sub(rb"\\(.)", rb"\1", part)
        out += b" "
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    a = ap.parse_args()
    out = Path(a.out)
    for t in ("parse", "pcap", "conf", "tcpsm", "reasm", "ipfrag", "idsrules", "fwrules", "acctsubs"):
        (out / t).mkdir(parents=True, exist_ok=True)
    corpus = Path(a.corpus)
    caps = sorted(corpus.glob("*/*.pcap")) + sorted(corpus.glob("*/*.pcapng")) if corpus.is_dir() else []
    if not caps:
        print(f"seeds: no captures under {corpus} (set CORPUS): crafted seeds only", file=sys.stderr)
    n = {"parse": 0, "pcap": 0, "conf": 0, "tcpsm": 0, "reasm": 0, "ipfrag": 0, "idsrules": 0, "fwrules": 0, "acctsubs": 0}

    def put(t, name, data):
        (out / t / name).write_bytes(data)
        n[t] += 1

    for cap in caps:
        put("pcap", cap.name, cap.read_bytes())
        r = read_pcap(cap)
        if not r:
            continue
        lt, recs = r
        di = DLT_INDEX.get(lt)
        if di is not None:
            for i, (fr, _) in enumerate(recs[:200]):
                put("parse", f"{cap.stem}.{i}", bytes([di, 1]) + fr)
        # a cut variant: every record's captured bytes shortened to 96
        b = cap.read_bytes()
        e = "<" if b[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        cut, pos = bytearray(b[:24]), 24
        while pos + 16 <= len(b):
            s, us, cl, ol = struct.unpack(e + "IIII", b[pos:pos + 16])
            k = min(cl, 96)
            cut += struct.pack(e + "IIII", s, us, k, ol) + b[pos + 16:pos + 16 + k]
            pos += 16 + cl
        put("pcap", cap.stem + ".cut96.pcap", bytes(cut))
        segs = tcp_segments(lt, recs)
        if segs:
            put("tcpsm", cap.stem, tcpsm_seed(segs))
            rs = reasm_seed(segs)
            if len(rs) > 4:
                put("reasm", cap.stem, rs)
    for i, fr in enumerate(crafted_frames()):
        put("parse", f"crafted.{i}", bytes([0, i & 3]) + fr)
    for p in sorted(REPO.glob("**/*.conf")):
        if "build" in p.parts[len(REPO.parts):len(REPO.parts) + 1][0]:
            continue
        put("conf", str(p.relative_to(REPO)).replace("/", "_"), p.read_bytes())
    put("conf", "set", b"[tcp]\nflows = 64\n\0tcp.ip_frag_policy=bsd\nsecurity.unparsable=forward\n")
    for i, s in enumerate(ipfrag_seeds()):
        put("ipfrag", f"crafted.{i}", s)
    for p in rule_files("ids"):
        put("idsrules", p.name, p.read_bytes())
        for i, line in enumerate(p.read_bytes().splitlines()):
            if line.startswith((b"alert", b"drop")):
                put("idsrules", f"{p.stem}.{i}", line + b"\n\0" + ids_stream(line))
    addrs = b"\0" + bytes([0, 10, 1, 2, 3]) + bytes(12) + bytes([1, 0x20, 1, 0x0d, 0xb8]) + bytes(12)
    for i, text in enumerate([
            b"10.0.0.0/8 campus\n10.1.0.0/16 dorm # a comment\n10.1.2.3 alice\n0.0.0.0/0\n",
            b"2001:db8::/32 lab\n2001:db8:1::/48\n::/0 rest\n\n10.0.0.0/8 caf\xc3\xa9\n",
            b"10.0.0.0/8 a\nnot-an-address b\n", b"# c\n10.0.0.0/33\n", b"2001:db8::/x\n",
            b"10.1.2.3/8 alice\n", b"10.0.0.0/8 a\n\n10.0.0.0/8 b\n", b"10.0.0.0/8 caf\xe9\n", b"# nothing\n\n"]):
        put("acctsubs", f"crafted.{i}", text + addrs)
    for p in rule_files("firewall"):
        put("fwrules", p.name, p.read_bytes() + b"\0tcp 10.0.0.1 40000 -> 10.0.0.2 80 new\nudp ::1 53 -> ::2 53\n")
        for i, line in enumerate(p.read_bytes().splitlines()):
            if line.strip() and not line.startswith(b"#"):
                put("fwrules", f"{p.stem}.{i}", line + b"\n")
    print("seeds: " + ", ".join(f"{k} {v}" for k, v in n.items()))


if __name__ == "__main__":
    main()
