#!/usr/bin/env python3
"""Writes data/edge.pcap: the traffic a firewall sees besides TCP connections,
one or a few frames of each kind (Python standard library only; byte-for-byte
deterministic: `mkpcap.py --check` regenerates and compares).

  mkpcap.py [OUT]          default: data/edge.pcap next to this script
  mkpcap.py --check

Frames, in order (hosts 10.9.0.1 <-> 10.9.0.2, 2001:db8:9::1 <-> ::2):
  ARP who-has and is-at                         non-IP: passed
  ICMPv6 neighbour solicitation and advertisement  passed (ndp)
  ICMPv6 echo request                           matched by rules (icmp6)
  UDP 10.9.0.1:5000 -> 10.9.0.2:53              matched (udp)
  UDP 10.9.0.1:5000 -> 10.9.0.2:54              matched (default)
  UDP datagram of 3000 bytes in 3 IPv4 fragments  fragments: dropped
  IPv6 UDP in 2 fragments (fragment header)     fragments: dropped
  IPv4 header with IHL 4 (20-byte frame body)   malformed
  IPv4 GRE (protocol 47)                        matched only by `any` rules
  TCP ACK 10.9.0.1:4000 -> 10.9.0.2:80, no SYN   out of state (no_conn)
Every checksum is right (tcpdump -vv reports none bad)."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
M1, M2 = bytes.fromhex("020000000901"), bytes.fromhex("020000000902")
A1, A2 = bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2])
B1 = bytes.fromhex("20010db8000900000000000000000001")
B2 = bytes.fromhex("20010db8000900000000000000000002")


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(t, body, src=M1, dst=M2):
    return dst + src + struct.pack("!H", t) + body


def ip4(proto, payload, ident=1, frag=0, src=A1, dst=A2, total=None):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total or 20 + len(payload), ident, frag, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return eth(0x0800, h + payload)


def ip6(nh, payload, src=B1, dst=B2, hop=64):
    return eth(0x86DD, struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hop, src, dst) + payload)


def l4sum6(nh, src, dst, l4):
    return csum(src + dst + struct.pack("!IxxxB", len(l4), nh) + l4)


def udp4(sport, dport, data, src=A1, dst=A2):
    u = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    s = csum(src + dst + struct.pack("!BBH", 0, 17, len(u)) + u) or 0xFFFF
    return u[:6] + struct.pack("!H", s) + u[8:]


def frames():
    out = []
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + M1 + A1 + b"\0" * 6 + A2
    out.append(eth(0x0806, arp + b"\0" * 18, dst=b"\xff" * 6))
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + M2 + A2 + M1 + A1
    out.append(eth(0x0806, arp + b"\0" * 18, src=M2, dst=M1))
    ns = struct.pack("!BBHI", 135, 0, 0, 0) + B2 + struct.pack("!BB", 1, 1) + M1
    ns = ns[:2] + struct.pack("!H", l4sum6(58, B1, B2, ns)) + ns[4:]
    out.append(ip6(58, ns, hop=255))
    na = struct.pack("!BBHI", 136, 0, 0, 0x60000000) + B2 + struct.pack("!BB", 2, 1) + M2
    na = na[:2] + struct.pack("!H", l4sum6(58, B2, B1, na)) + na[4:]
    out.append(eth(0x86DD, struct.pack("!IHBB16s16s", 6 << 28, len(na), 58, 255, B2, B1) + na, src=M2, dst=M1))
    echo = struct.pack("!BBHHH", 128, 0, 0, 7, 1) + b"ping" * 8
    echo = echo[:2] + struct.pack("!H", l4sum6(58, B1, B2, echo)) + echo[4:]
    out.append(ip6(58, echo))
    out.append(ip4(17, udp4(5000, 53, b"query-allowed")))
    out.append(ip4(17, udp4(5000, 54, b"query-default")))
    # A 3000-byte UDP datagram in three fragments (offsets in 8-byte units).
    big = udp4(5000, 53, bytes(range(256)) * 11 + b"x" * 176)
    for off, part, more in ((0, big[:1480], 1), (1480, big[1480:2960], 1), (2960, big[2960:], 0)):
        out.append(ip4(17, part, ident=0x4242, frag=(0x2000 if more else 0) | off // 8, total=20 + len(part)))
    # IPv6 UDP in two fragments: fragment header (44), then UDP.
    u6 = struct.pack("!HHHH", 5000, 53, 8 + 1600, 0) + b"y" * 1600
    u6 = u6[:6] + struct.pack("!H", l4sum6(17, B1, B2, u6)) + u6[8:]
    for off, part, more in ((0, u6[:1232], 1), (1232, u6[1232:], 0)):
        fh = struct.pack("!BBHI", 17, 0, off | more, 0x77)
        out.append(ip6(44, fh + part))
    # IHL 4: shorter than the fixed header.
    bad = bytearray(ip4(17, udp4(5000, 53, b"bad-ihl"))[14:])
    bad[0] = 0x44
    bad[10:12] = b"\0\0"
    bad[10:12] = struct.pack("!H", csum(bytes(bad[:16]) + b"\0\0\0\0"))
    out.append(eth(0x0800, bytes(bad)))
    gre = struct.pack("!HH", 0, 0x0800) + b"\0" * 20
    out.append(ip4(47, gre))
    tcp = struct.pack("!HHIIBBHHH", 4000, 80, 1000, 2000, 5 << 4, 0x10, 502, 0, 0)
    s = csum(A1 + A2 + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)
    out.append(ip4(6, tcp[:16] + struct.pack("!H", s) + tcp[18:]))
    return out


def pcap_bytes():
    b = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    t0 = 1709294400  # 2024-03-01 12:00:00 UTC
    for i, f in enumerate(frames()):
        b += struct.pack("<IIII", t0, i * 1000, len(f), len(f)) + f
    return b


def main():
    default = os.path.join(HERE, "data", "edge.pcap")
    if sys.argv[1:] == ["--check"]:
        ok = open(default, "rb").read() == pcap_bytes()
        print("edge.pcap: %s" % ("up to date" if ok else "DIFFERS from mkpcap.py's output"))
        return 0 if ok else 1
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, "wb") as f:
        f.write(pcap_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
