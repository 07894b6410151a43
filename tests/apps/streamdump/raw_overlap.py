#!/usr/bin/env python3
"""A TCP client made of raw frames, to make a real Linux server receive
overlapping segments with different bytes (stdlib only; run as root).

  raw_overlap.py --iface IF --smac MAC --dmac MAC --src SPOOF --dst SRV
                 --dport P --sport S --case A|B|C|D|E --dir D

The client uses an address its own namespace does not have (SPOOF; the test
gives the server a neighbour entry for it), so its kernel neither answers
nor resets the server's segments: this script is the whole endpoint. It
opens the connection, sends "ov<CASE> 0 0\\n" in order (peer.py serve names
its record after it and reads until EOF), then the case's segments, each
given as (offset after that line, bytes), 30 ms apart, then its FIN, and
acknowledges the server's FIN. Writes D/ov<CASE>.json like peer.py get.

  A  (0,GOOD) (0,EVIL)               same bytes twice, other content
  B  (4,BBBB) (0,AAAAXXXX)           held out of order, then covered in order
  C  (0,AAAA) (2,XXBBBB)             in order, then a segment straddling the edge
  D  (6,CCCC) (4,BBBBDD) (0,AAAA)    held, then a held run covering it
  E  (4,BBBBBB) (6,CC) (0,AAAA)      held, then a held run inside it
What the server's application read is the truth the test compares with.
"""
import argparse
import json
import os
import socket
import struct
import time

CASES = {
    "A": [(0, b"GOOD"), (0, b"EVIL")],
    "B": [(4, b"BBBB"), (0, b"AAAAXXXX")],
    "C": [(0, b"AAAA"), (2, b"XXBBBB")],
    "D": [(6, b"CCCC"), (4, b"BBBBDD"), (0, b"AAAA")],
    "E": [(4, b"BBBBBB"), (6, b"CC"), (0, b"AAAA")],
}
S, A, F, P, R = 0x02, 0x10, 0x01, 0x08, 0x04


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


class Raw:
    def __init__(self, a):
        self.a = a
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind((a.iface, 0))
        self.sock.settimeout(0.2)
        self.src, self.dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
        self.ident = 1

    def send(self, seq, ack, flags, data=b""):
        a = self.a
        tcp = struct.pack("!HHIIBBHHH", a.sport, a.dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 64240, 0,
                          0) + data
        ph = self.src + self.dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self.ident, 0x4000, 64, 6, 0, self.src, self.dst)
        self.ident += 1
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        self.sock.send(mac(a.dmac) + mac(a.smac) + b"\x08\x00" + iph + tcp)

    def recv(self, until):
        """Next TCP segment from the server to us: (flags, seq, ack, payload len), or None at `until`."""
        while time.time() < until:
            try:
                fr = self.sock.recv(65536)
            except socket.timeout:
                continue
            if len(fr) < 54 or fr[12:14] != b"\x08\x00" or fr[23] != 6:
                continue
            if fr[26:30] != self.dst or fr[30:34] != self.src:
                continue
            ihl = (fr[14] & 15) * 4
            t = 14 + ihl
            sp, dp, seq, ack, off, fl = struct.unpack("!HHIIBB", fr[t:t + 14])
            if sp != self.a.dport or dp != self.a.sport:
                continue
            tot = struct.unpack("!H", fr[16:18])[0]
            return fl, seq, ack, tot - ihl - (off >> 4) * 4
        return None


def main():
    ap = argparse.ArgumentParser()
    for k in ("iface", "smac", "dmac", "src", "dst", "case", "dir"):
        ap.add_argument("--" + k, required=True)
    ap.add_argument("--dport", type=int, required=True)
    ap.add_argument("--sport", type=int, required=True)
    a = ap.parse_args()
    r = Raw(a)
    isn = 0x10000000 + a.sport * 1000
    srv = None
    for _ in range(5):  # SYN until the SYN-ACK comes
        r.send(isn, 0, S)
        end = time.time() + 1
        while (m := r.recv(end)) is not None:
            if m[0] & (S | A) == (S | A) and m[2] == (isn + 1) & 0xFFFFFFFF:
                srv = m[1]
                break
        if srv is not None:
            break
    if srv is None:
        raise SystemExit(f"raw_overlap {a.case}: no SYN-ACK from {a.dst}:{a.dport}")
    nxt = srv + 1
    r.send(isn + 1, nxt, A)
    line = f"ov{a.case} 0 0\n".encode()
    base = isn + 1 + len(line)
    r.send(isn + 1, nxt, P | A, line)
    hi = 0
    for off, data in CASES[a.case]:
        time.sleep(0.03)
        r.send(base + off, nxt, P | A, data)
        hi = max(hi, off + len(data))
    time.sleep(0.03)
    r.send(base + hi, nxt, F | A)
    # The server reads to EOF, answers nothing and closes: ACK its FIN.
    end = time.time() + 5
    fin = False
    while (m := r.recv(end)) is not None:
        if m[0] & F:
            r.send(base + hi + 1, m[1] + m[3] + 1, A)
            fin = True
            break
    with open(os.path.join(a.dir, f"ov{a.case}.json"), "w") as f:
        json.dump({"id": f"ov{a.case}", "cli": a.src, "cport": a.sport, "srv": a.dst, "sport": a.dport}, f)
    with open(os.path.join(a.dir, f"ov{a.case}.cli_rx"), "wb") as f:
        f.write(b"")
    print(f"raw_overlap {a.case}: sent, server FIN {'seen' if fin else 'not seen'}")


if __name__ == "__main__":
    main()
