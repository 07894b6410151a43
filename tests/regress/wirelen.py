#!/usr/bin/env python3
"""The frame's length on the wire, through every capture reader.

A capture that cut a frame (captured < original length) still shows a
datagram a host received whole: its segment is monitored as far as it was
captured. A frame that really was shorter than its IP length (captured ==
original length) is one a host drops (Linux ip_rcv_core): never monitored,
counted ip_len_bad. Only the record's original length tells the two apart,
so it must reach classify from each reader: rx's mapped reader (classic
pcap), and net_pcap (classic with pcap_mmap = no, and pcapng), which drops
it and gets it back from the pre-scan's list of cut records.

The outside truth is tcpdump, which makes the same distinction from the
same header fields: "truncated-ip - N bytes missing" for the short frame
only. Writes its rows to the regression table (run.sh).
"""
import argparse
import json
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import mplib


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def frame(sport, paylen, ip_extra=0):
    """Ethernet + IPv4 + TCP (ACK) with paylen payload bytes; the IP length
    claims ip_extra bytes more than the frame carries."""
    src, dst = bytes([10, 1, 0, 1]), bytes([10, 1, 0, 2])
    pay = bytes((i * 7) & 0xFF for i in range(paylen))
    tcp = struct.pack("!HHIIBBHHH", sport, 80, 1000, 2000, 5 << 4, 0x18, 512, 0, 0) + pay
    ph = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + ip_extra)
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + ip_extra, 1, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\2\x02\0\0\0\0\1\x08\x00" + ip + tcp


# (captured bytes, original length): whole; cut by the capture (a 1054-byte
# frame, 96 captured); a 96-byte frame whose IP length says 1040.
RECORDS = [
    (frame(1001, 100), None),
    (frame(1002, 1000)[:96], 1054),
    (frame(1003, 42, ip_extra=958), None),
]


def write_pcap(path):
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, (d, orig) in enumerate(RECORDS):
        out += struct.pack("<IIII", 1700000000 + i, 0, len(d), orig or len(d)) + d
    path.write_bytes(bytes(out))


def write_pcapng(path):
    def block(t, body):
        pad = (-len(body)) % 4
        n = 12 + len(body) + pad
        return struct.pack("<II", t, n) + body + b"\0" * pad + struct.pack("<I", n)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))
    for i, (d, orig) in enumerate(RECORDS):
        ts = (1700000000 + i) * 1000000
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(d), orig or len(d)) + d)
    path.write_bytes(out)


def classify_counters(mospipe, cap, tmp, extra):
    cj = Path(tmp) / "c.json"
    if cj.exists():
        cj.unlink()
    r = mplib.run_mospipe(mospipe, ["-q", "-r", str(cap), "--counters-json", cj] + extra)
    if r.rc != 0 or r.sanitizer_report():
        return None, f"exit {r.rc}: {r.sanitizer_report() or r.stderr.strip()[:300]}"
    d = json.loads(cj.read_text())
    c = {}
    for s in d["stages"]:
        if s["stage"] == "classify":
            for k, v in s["counters"].items():
                c[k] = c.get(k, 0) + v
    return c, None


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mospipe", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--results")
    ap.add_argument("--set", action="append", default=[])
    a = ap.parse_args()
    res = mplib.Results(a.results)
    set_args = [x for s in a.set for x in ("--set", s)]
    with tempfile.TemporaryDirectory() as tmp:
        pcap, pcapng = Path(tmp) / "w.pcap", Path(tmp) / "w.pcapng"
        write_pcap(pcap)
        write_pcapng(pcapng)
        if shutil.which("tcpdump"):
            out = subprocess.run(["tcpdump", "-nr", str(pcap)], capture_output=True, text=True).stdout.splitlines()
            short = [i for i, line in enumerate(out) if "truncated-ip" in line]
            if short == [2]:
                res.add("wirelen", "tcpdump: only the short frame is truncated-ip", "PASS",
                        out[2].split("IP ", 1)[-1][:80])
            else:
                res.add("wirelen", "tcpdump: only the short frame is truncated-ip", "FAIL",
                        f"truncated-ip on records {short}: {out}")
        for name, cap, extra in (("mapped reader", pcap, []),
                                 ("net_pcap, classic", pcap, ["--set", "input.pcap_mmap=no"]),
                                 ("net_pcap, pcapng", pcapng, [])):
            c, err = classify_counters(a.mospipe, cap, tmp, set_args + extra)
            check = f"{name}: cut record monitored, short frame ip_len_bad"
            if c is None:
                res.add("wirelen", check, "FAIL", err)
            elif c.get("tcp") == 2 and c.get("ip_len_bad") == 1 and c.get("csum_unverified") == 1:
                res.add("wirelen", check, "PASS", "tcp 2, ip_len_bad 1, csum_unverified 1")
            else:
                res.add("wirelen", check, "FAIL",
                        f"tcp {c.get('tcp')}, ip_len_bad {c.get('ip_len_bad')}, "
                        f"csum_unverified {c.get('csum_unverified')}")
    return 1 if res.failed() else 0


if __name__ == "__main__":
    raise SystemExit(main())
