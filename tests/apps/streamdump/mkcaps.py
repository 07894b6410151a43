#!/usr/bin/env python3
"""Writes the small deterministic captures of tests/apps/streamdump (standard
library only; same bytes on every run, so nothing binary is checked in).

  mkcaps.py DIR   -> DIR/gaps.pcap DIR/reuse.pcap DIR/v6vlan.pcap

gaps.pcap (10.1.0.1 <-> 10.1.0.2:80, two connections):
  40000  request of 200 bytes; response of 100,000 bytes in 1,000-byte
         segments of which the one at offset 3,000 was never captured (the
         client acknowledges it: capture loss). With a 16 KB reassembly
         window the stack gives the hole up once the window behind it is
         full: one gap, offset 3000, length 1000, then the rest.
  40001  request of 3,000 bytes in three segments; the second was cut by the
         capture's snap length to 100 of its 1,000 bytes: a gap at offset
         1100 of 900 bytes. Response 50 bytes.
reuse.pcap: 10.2.0.1:41000 -> 10.2.0.2:80 twice (FIN-closed, then 3 s later
  a new SYN with another ISN): tcpflow names the second one's files "c1".
v6vlan.pcap: one connection over IPv6 in 802.1Q VLAN 7, 2001:db8::1:42000 ->
  2001:db8::2:8080, 500 bytes each way.

Byte i of every payload is (i * 7 + salt) % 251, so each stream's content is
known from its offset alone: the test can rebuild what a receiver got.
"""
import os
import struct
import sys

S, A, F, P, R = 0x02, 0x10, 0x01, 0x08, 0x04


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def payload(off, n, salt):
    return bytes((i * 7 + salt) % 251 for i in range(off, off + n))


def addr(a):
    if ":" in a:
        import ipaddress

        return ipaddress.IPv6Address(a).packed
    return bytes(int(x) for x in a.split("."))


def frame(src, sp, dst, dp, seq, ack, flags, data=b"", vlan=None):
    v6 = ":" in src
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + data
    if v6:
        ph = addr(src) + addr(dst) + struct.pack("!IxxxB", len(tcp), 6)
    else:
        ph = addr(src) + addr(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    if v6:
        l3 = struct.pack("!IHBB", 6 << 28, len(tcp), 6, 64) + addr(src) + addr(dst) + tcp
        et = 0x86DD
    else:
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, addr(src), addr(dst))
        l3 = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:] + tcp
        et = 0x0800
    eth = b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01"
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    return eth + struct.pack("!H", et) + l3


class Pcap:
    def __init__(self, path, t0=1700000000.0):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.us = int(t0 * 1e6)

    def put(self, fr, dt_us=100, caplen=None):
        self.us += dt_us
        cap = fr if caplen is None else fr[:caplen]
        self.f.write(struct.pack("<IIII", self.us // 1000000, self.us % 1000000, len(cap), len(fr)) + cap)

    def close(self):
        self.f.close()


class Conn:
    """One connection's packets; c2s/s2c payload bytes from payload()."""

    def __init__(self, w, cli, cp, srv, sp, isn_c, isn_s, vlan=None, salt=(0, 100)):
        self.w, self.cli, self.cp, self.srv, self.sp = w, cli, cp, srv, sp
        self.nc, self.ns = isn_c + 1, isn_s + 1  # next sequence numbers
        self.vlan, self.salt = vlan, salt
        w.put(frame(cli, cp, srv, sp, isn_c, 0, S, vlan=vlan))
        w.put(frame(srv, sp, cli, cp, isn_s, self.nc, S | A, vlan=vlan))
        w.put(frame(cli, cp, srv, sp, self.nc, self.ns, A, vlan=vlan))
        self.oc = self.os = 0  # stream offsets sent so far

    def c2s(self, n, send=True, caplen_payload=None):
        d = payload(self.oc, n, self.salt[0])
        fr = frame(self.cli, self.cp, self.srv, self.sp, self.nc, self.ns, P | A, d, self.vlan)
        if send:
            cap = None if caplen_payload is None else len(fr) - n + caplen_payload
            self.w.put(fr, caplen=cap)
        self.nc += n
        self.oc += n
        self.w.put(frame(self.srv, self.sp, self.cli, self.cp, self.ns, self.nc, A, vlan=self.vlan))

    def s2c(self, n, send=True):
        d = payload(self.os, n, self.salt[1])
        if send:
            self.w.put(frame(self.srv, self.sp, self.cli, self.cp, self.ns, self.nc, P | A, d, self.vlan))
        self.ns += n
        self.os += n
        self.w.put(frame(self.cli, self.cp, self.srv, self.sp, self.nc, self.ns, A, vlan=self.vlan))

    def close(self):
        v = self.vlan
        self.w.put(frame(self.cli, self.cp, self.srv, self.sp, self.nc, self.ns, F | A, vlan=v))
        self.w.put(frame(self.srv, self.sp, self.cli, self.cp, self.ns, self.nc + 1, F | A, vlan=v))
        self.w.put(frame(self.cli, self.cp, self.srv, self.sp, self.nc + 1, self.ns + 1, A, vlan=v))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)

    w = Pcap(os.path.join(out, "gaps.pcap"))
    c = Conn(w, "10.1.0.1", 40000, "10.1.0.2", 80, 1000, 900000)
    c.c2s(200)
    for k in range(100):
        c.s2c(1000, send=(k != 3))
    c.close()
    c = Conn(w, "10.1.0.1", 40001, "10.1.0.2", 80, 5000, 700000)
    c.c2s(1000)
    c.c2s(1000, caplen_payload=100)
    c.c2s(1000)
    c.s2c(50)
    c.close()
    w.close()

    w = Pcap(os.path.join(out, "reuse.pcap"))
    c = Conn(w, "10.2.0.1", 41000, "10.2.0.2", 80, 10000, 20000)
    c.c2s(120)
    c.s2c(300)
    c.close()
    w.us += 3000000
    c = Conn(w, "10.2.0.1", 41000, "10.2.0.2", 80, 55555, 66666, salt=(50, 150))
    c.c2s(80)
    c.s2c(400)
    c.close()
    w.close()

    w = Pcap(os.path.join(out, "v6vlan.pcap"))
    c = Conn(w, "2001:db8::1", 42000, "2001:db8::2", 8080, 7, 9, vlan=7)
    c.c2s(500)
    c.s2c(500)
    c.close()
    w.close()


if __name__ == "__main__":
    main()
