#!/usr/bin/env python3
"""Writes the crafted captures of tests/apps/acct and, next to each, what acct
must report about it, computed here from the bytes this script put on the
wire (the outside truth of those tests; acct is never run to make them).
Standard library only; deterministic (fixed seeds and clocks).

  mkcap.py attack OUT.pcap OUT.json
      The free-riding attack (Go et al., NDSS'14) and its benign look-alikes,
      one flow each:
        A  IPv4 download: three 1000-byte segments; a genuine retransmission
           (same bytes); a retransmission of [0,1000) whose bytes 100..163
           carry other data (the attack); a partly new segment [2500,3500)
           whose old half differs from byte 2600 on; after everything is
           acknowledged, a 1-byte keepalive probe with a garbage byte (BSD
           and Windows send one): not an attack.
        B  IPv6 upload: the client retransmits [500,1000) with byte 710
           changed.
        C  IPv4 download of 200 KiB, then a changed retransmission of
           [0,1000): the first copy is no longer held (the documented
           limit), so it is counted as unverified, not reported.
        D  IPv4 download whose server ISN makes the sequence numbers wrap
           through 0 in the middle of the stream; a changed retransmission
           across the wrap.
  mkcap.py intervals OUT.pcap OUT.json OUT.subs
      Flows spread over 90 minutes of packet time (past the 71.6 minutes
      after which a 32-bit microsecond clock wraps), for --interval 600 and
      the subscriber file OUT.subs (prefixes, names, a subscriber on the
      server side, flows that match nothing).
"""
import json
import random
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


def addr(a):
    import ipaddress

    return ipaddress.ip_address(a).packed


def frame(src, sp, dst, dp, seq, ack, flags, payload=b""):
    s, d = addr(src), addr(dst)
    tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    tcp += payload
    if len(s) == 4:
        ph = s + d + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, s, d)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        et = b"\x08\x00"
    else:
        ph = s + d + struct.pack("!I3xB", len(tcp), 6)
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, s, d)
        et = b"\x86\xdd"
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + et + ip + tcp


class Pcap:
    def __init__(self, path, t0_us):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = t0_us

    def put(self, fr, dt=100):
        self.t += dt
        self.f.write(struct.pack("<IIII", self.t // 1000000, self.t % 1000000, len(fr), len(fr)) + fr)

    def close(self):
        self.f.close()


class Conn:
    """One TCP connection: the client is side 0, the server side 1. Offsets
    are stream offsets (0 = first byte after the SYN), as acct reports them."""

    def __init__(self, w, cli, cport, svr, sport, isn=(1000, 5000)):
        self.w, self.ep = w, [(cli, cport), (svr, sport)]
        self.isn = list(isn)
        self.high = [0, 0]  # next new offset per side (what we acknowledge)

    def seg(self, side, off, data=b"", flags=A | P, dt=100):
        (s, sp), (d, dp) = self.ep[side], self.ep[side ^ 1]
        seq = self.isn[side] + 1 + off
        ack = self.isn[side ^ 1] + 1 + self.high[side ^ 1]
        self.w.put(frame(s, sp, d, dp, seq, ack, flags, data), dt)
        self.high[side] = max(self.high[side], off + len(data))

    def open(self):
        (c, cp), (s, sp) = self.ep
        self.w.put(frame(c, cp, s, sp, self.isn[0], 0, S))
        self.w.put(frame(s, sp, c, cp, self.isn[1], self.isn[0] + 1, S | A))
        self.w.put(frame(c, cp, s, sp, self.isn[0] + 1, self.isn[1] + 1, A))

    def ack(self, side):
        self.seg(side, self.high[side], b"", A)

    def close(self):
        for side in (1, 0):
            self.seg(side, self.high[side], b"", F | A)
            self.high[side] += 1  # the FIN takes a sequence number
        self.ack(1)


def hexs(b):
    return b.hex()


def changed(orig, lo, new):
    """orig with new written at lo."""
    return orig[:lo] + new + orig[lo + len(new) :]


def report(flow, sender, seg_off, seg, first_copy, sample=16):
    """What acct reports for a retransmitted segment: the first differing
    byte, both copies from there (up to `sample` bytes of the compared run)."""
    diff = [i for i in range(len(first_copy)) if seg[i] != first_copy[i]]
    if not diff:
        return None
    i = diff[0]
    return {
        **flow,
        "sender": sender,
        "offset": seg_off + i,
        "segment_offset": seg_off,
        "segment_len": len(seg),
        "compared_bytes": len(first_copy),
        "differing_bytes": len(diff),
        "first": hexs(first_copy[i : i + sample]),  # the compared run ends with first_copy
        "rexmit": hexs(seg[i : i + sample]),
    }


def attack(pcap, out):
    rnd = random.Random(13)
    w = Pcap(pcap, 1700000000 * 1000000)
    exp = {"abuse": [], "flows": [], "keepalives": 1, "unverified_bytes": 0}

    def fl(c):
        return {"src_ip": c.ep[0][0], "src_port": c.ep[0][1], "dest_ip": c.ep[1][0], "dest_port": c.ep[1][1]}

    # A: IPv4 download with every kind of retransmission.
    a = Conn(w, "10.9.0.1", 40001, "192.0.2.80", 80, (111111, 222222))
    a.open()
    req = b"GET /file HTTP/1.1\r\n"
    a.seg(0, 0, req)
    body = bytes(rnd.randrange(256) for _ in range(3500))
    for off in (0, 1000, 2000):
        a.seg(1, off, body[off : off + 1000])
    a.ack(0)
    a.seg(1, 1000, body[1000:2000])  # genuine retransmission: same bytes
    tunnel = bytes(rnd.randrange(256) for _ in range(64))
    evil = changed(body[0:1000], 100, tunnel)
    a.seg(1, 0, evil)  # the attack: "retransmitted" bytes carry other data
    exp["abuse"].append(report(fl(a), "server", 0, evil, body[0:1000]))
    part = changed(body[2500:3500], 100, b"\xee" * 400)  # old half [2500,3000) differs from 2600
    a.seg(1, 2500, part)
    exp["abuse"].append(report(fl(a), "server", 2500, part, body[2500:3000]))  # only the old half is compared
    a.ack(0)
    a.seg(1, 3499, b"\x00", A)  # keepalive probe: one garbage byte below the ack
    a.ack(0)
    a.close()
    exp["flows"].append({**fl(a), "client_bytes": len(req), "server_bytes": 3500, "client_rexmit_bytes": 0,
                         "server_rexmit_bytes": 1000 + 1000 + 500, "abuse": 2})

    # B: IPv6 upload; the client's retransmission differs in one byte.
    b = Conn(w, "2001:db8:9::1", 40002, "2001:db8:80::1", 443, (7, 9))
    b.open()
    up = bytes(rnd.randrange(256) for _ in range(1500))
    for off in (0, 500, 1000):
        b.seg(0, off, up[off : off + 500])
    b.ack(1)
    one = changed(up[500:1000], 210, bytes([up[710] ^ 0x5A]))
    b.seg(0, 500, one)
    exp["abuse"].append(report(fl(b), "client", 500, one, up[500:1000]))
    b.ack(1)
    b.close()
    exp["flows"].append({**fl(b), "client_bytes": 1500, "server_bytes": 0, "client_rexmit_bytes": 500,
                         "server_rexmit_bytes": 0, "abuse": 1})

    # C: the first copy is 200 KiB behind: not held any more, not compared.
    c = Conn(w, "10.9.0.3", 40003, "192.0.2.80", 80, (31, 41))
    c.open()
    big = bytes(rnd.randrange(256) for _ in range(200 * 1024))
    for off in range(0, len(big), 1024):
        c.seg(1, off, big[off : off + 1024], dt=10)
        if off % 8192 == 0:
            c.ack(0)
    c.ack(0)
    c.seg(1, 0, b"\x55" * 1000)
    exp["unverified_bytes"] += 1000
    c.close()
    exp["flows"].append({**fl(c), "client_bytes": 0, "server_bytes": len(big), "client_rexmit_bytes": 0,
                         "server_rexmit_bytes": 1000, "abuse": 0})

    # D: sequence numbers wrap through 0 at stream offset 1500.
    d = Conn(w, "10.9.0.4", 40004, "192.0.2.81", 8080, (5, 2**32 - 1501))
    d.open()
    data = bytes(rnd.randrange(256) for _ in range(3000))
    for off in (0, 1000, 2000):
        d.seg(1, off, data[off : off + 1000])
    d.ack(0)
    wrap = changed(data[1000:2000], 600, b"WRAPPED!")  # differs at offset 1600, past the wrap
    d.seg(1, 1000, wrap)
    exp["abuse"].append(report(fl(d), "server", 1000, wrap, data[1000:2000]))
    d.ack(0)
    d.close()
    exp["flows"].append({**fl(d), "client_bytes": 0, "server_bytes": 3000, "client_rexmit_bytes": 0,
                         "server_rexmit_bytes": 1000, "abuse": 1})
    w.close()
    with open(out, "w") as f:
        json.dump(exp, f, indent=1)


def intervals(pcap, out, subs):
    """Flows at known packet times; usage per 600 s interval computed here."""
    t0 = 1700000400  # a multiple of 600
    w = Pcap(pcap, t0 * 1000000)
    with open(subs, "w", encoding="utf-8") as f:
        f.write("# acct test subscribers\n")
        f.write("10.20.0.0/16 alice\n")
        f.write('10.20.7.0/24   bob "b\\s" smith   # longer prefix wins; quotes and backslash escaped in JSON\n')
        f.write("2001:db8:aa::/48 carol \u00fc\n")
        f.write("192.0.2.99\n")  # a subscriber that is a server (no name)
    names = {"10.20.0.0/16": "alice", "10.20.7.0/24": 'bob "b\\s" smith', "2001:db8:aa::/48": "carol \u00fc",
             "192.0.2.99/32": None}
    # (minute, client, server, port, up, down): subscriber by client first,
    # then server; "-" = matches nothing.
    plan = [
        (1, "10.20.1.5", "198.51.100.1", 80, 100, 5000, "10.20.0.0/16"),
        (2, "10.20.7.9", "198.51.100.1", 80, 50, 700, "10.20.7.0/24"),
        (3, "2001:db8:aa::5", "2001:db8:ff::1", 443, 300, 20000, "2001:db8:aa::/48"),
        (12, "10.20.1.5", "198.51.100.2", 80, 10, 10, "10.20.0.0/16"),
        (25, "203.0.113.7", "192.0.2.99", 25, 4000, 60, "192.0.2.99/32"),
        (26, "203.0.113.8", "198.51.100.3", 22, 123, 456, None),
        (75, "10.20.7.10", "198.51.100.1", 80, 1, 2, "10.20.7.0/24"),
        (89, "10.20.200.1", "198.51.100.1", 80, 77, 88, "10.20.0.0/16"),
    ]
    usage = {}
    total = {}
    port = 50000
    for minute, cli, svr, sp, upb, downb, sub in plan:
        w.t = (t0 + minute * 60) * 1000000
        port += 1
        c = Conn(w, cli, port, svr, sp, (port * 7, port * 11))
        c.open()
        c.seg(0, 0, b"u" * upb)
        c.seg(1, 0, b"d" * downb)
        c.ack(0)
        c.close()
        if sub is None:
            continue
        # The subscriber's own bytes are "up": a server-side subscriber sends down.
        mine, theirs = (upb, downb) if sub != "192.0.2.99/32" else (downb, upb)
        k = (t0 + minute * 60) // 600
        for d in (usage.setdefault((k, sub), {"up_bytes": 0, "down_bytes": 0, "flows": 0}),
                  total.setdefault(sub, {"up_bytes": 0, "down_bytes": 0, "flows": 0})):
            d["up_bytes"] += mine
            d["down_bytes"] += theirs
            d["flows"] += 1
    w.close()
    exp = {
        "interval": 600,
        "usage": [{"start": k * 600, "end": (k + 1) * 600, "subscriber": s, "name": names[s], **v}
                  for (k, s), v in sorted(usage.items())],
        "total": [{"subscriber": s, "name": names[s], **v} for s, v in total.items()],
        "unmatched_flows": sum(1 for p in plan if p[-1] is None),
        "flows": len(plan),
    }
    with open(out, "w") as f:
        json.dump(exp, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "attack":
        attack(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "intervals":
        intervals(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
