#!/usr/bin/env python3
"""A TCP client made of raw frames that sends what classify must judge as a
Linux receiver does: bad IPv4 header checksums, IP lengths longer than the
frame, TCP options that run past the header, and IP fragments that are
duplicated, overlapping, empty, cut to odd lengths or too small. Stdlib only;
run as root in the client namespace.

  parse_craft.py --iface IF --smac MAC --dmac MAC --src SPOOF --dst SRV
                 --dport P --sport S --case NAME
  parse_craft.py --list
  parse_craft.py ... --case synfrag
      sends a SYN in two IPv4 fragments and waits 2 s for any answer
      (SYN-ACK or RST): exit 0 when one came (the fragments reached the
      server), 3 when none did.

The client uses an address its namespace does not have (SPOOF; the test
gives the server a neighbour entry for it), so its own kernel stays out of
the connection: this script is the whole endpoint. It connects, sends
"<case> 0 0\\n" (tests/apps/streamdump/peer.py serve names its record after
the first word and reads to EOF), then the case's frames 30 ms apart, then
its FIN, and acknowledges the server's FIN. What the server's application
read is the truth the test compares the monitored stream with; each case
says in CASES what a Linux receiver does with its frames.
"""
import argparse
import ipaddress
import socket
import struct
import sys
import time

S, A, F, P = 0x02, 0x10, 0x01, 0x08
GOOD = b"GOOD-bytes-the-receiver-takes-0123456789abcdefghij"[:48]
EVIL = b"EVIL-bytes-no-receiver-takes-9876543210ZYXWVUTSRQ"[:48]

# name: what Linux does (the comparison needs no expectation: the server's
# reads are the truth; this is for the reader of the test).
CASES = {
    "ipcsum": "EVIL with a wrong IPv4 header checksum (ip_rcv_core drops it), then GOOD",
    "iplen": "EVIL whose IP length claims 40 bytes more than the frame (ip_rcv_core drops it), then GOOD",
    "optover": "GOOD whose last TCP option runs past the header (tcp_parse_options stops, data taken)",
    "ipsrr": "EVIL with a loose source route IP option (ip_rcv_options: no accept_source_route, dropped), then GOOD",
    "ipoptbad": "EVIL with an IP option whose length runs past the header (ip_options_compile refuses it), then GOOD",
    "ipcipso": "EVIL with a CIPSO IP option of a domain the host does not know (cipso_v4_validate), then GOOD",
    "iprr": "GOOD with a record-route IP option (a host takes it)",
    "fragdup": "GOOD in 3 fragments plus a copy of the middle one with EVIL bytes (a duplicate: ignored)",
    "fragovl": "EVIL in fragments that overlap (datagram discarded), then GOOD unfragmented",
    "fragzero": "EVIL in fragments with an empty one in the middle (datagram discarded), then GOOD",
    "fragcsum": "a fragment of EVIL with a wrong header checksum, then GOOD in fragments",
    "fraglen": "a fragment of EVIL longer by its IP length than its frame, then GOOD in fragments",
    "fragtrim": "GOOD in fragments, the first (MF) 3 bytes longer than 8-byte units with EVIL there (cut off)",
    "frag6dup": "IPv6: GOOD in 3 fragments plus a duplicate of the middle one with EVIL bytes",
    "frag6tiny": "IPv6: EVIL in fragments, the first without the whole TCP header (RFC 7112: dropped), then GOOD",
}


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
        self.v6 = ":" in a.dst
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind((a.iface, 0))
        self.sock.settimeout(0.2)
        self.src = ipaddress.ip_address(a.src).packed
        self.dst = ipaddress.ip_address(a.dst).packed
        self.ident = 0x100 + a.sport % 0x7000

    def seg(self, seq, ack, flags, data=b"", opts=b""):
        """A TCP segment with a right checksum."""
        a = self.a
        off = (20 + len(opts)) // 4
        t = struct.pack("!HHIIBBHHH", a.sport, a.dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags, 64240,
                        0, 0) + opts + data
        if self.v6:
            ph = self.src + self.dst + struct.pack("!I3xB", len(t), 6)
        else:
            ph = self.src + self.dst + struct.pack("!BBH", 0, 6, len(t))
        return t[:16] + struct.pack("!H", csum(ph + t)) + t[18:]

    def eth(self, et, pkt):
        return mac(self.a.dmac) + mac(self.a.smac) + struct.pack("!H", et) + pkt

    def ip4(self, payload, frag=0, ident=None, bad_csum=False, extra_len=0, opts=b""):
        """IPv4 datagram (or fragment: frag = MF | offset/8), with options (a multiple of 4 bytes)."""
        hl = 20 + len(opts)
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, hl + len(payload) + extra_len,
                        self.ident if ident is None else ident, frag, 64, 6, 0, self.src, self.dst) + opts
        c = csum(h) ^ (0x5555 if bad_csum else 0)
        return self.eth(0x0800, h[:10] + struct.pack("!H", c) + h[12:] + payload)

    def ip6(self, payload, frag=None, ident=0):
        """IPv6 packet; frag = (offset, mf) adds a fragment header."""
        if frag is None:
            return self.eth(0x86DD, struct.pack("!IHBB", 0x60000000, len(payload), 6, 64) + self.src + self.dst +
                            payload)
        fh = struct.pack("!BBHI", 6, 0, frag[0] | frag[1], ident)
        return self.eth(0x86DD, struct.pack("!IHBB", 0x60000000, 8 + len(payload), 44, 64) + self.src + self.dst +
                        fh + payload)

    def send(self, frame):
        self.sock.send(frame)

    def tcp(self, seq, ack, flags, data=b""):
        s = self.seg(seq, ack, flags, data)
        self.send(self.ip6(s) if self.v6 else self.ip4(s))

    def recv(self, until):
        """Next TCP segment from the server to us: (flags, seq, ack, payload len), or None at `until`."""
        while time.time() < until:
            try:
                fr = self.sock.recv(65536)
            except socket.timeout:
                continue
            if self.v6:
                if len(fr) < 74 or fr[12:14] != b"\x86\xdd" or fr[20] != 6:
                    continue
                if fr[22:38] != self.dst or fr[38:54] != self.src:
                    continue
                t, plen = 54, struct.unpack("!H", fr[18:20])[0]
                tot = plen
            else:
                if len(fr) < 54 or fr[12:14] != b"\x08\x00" or fr[23] != 6:
                    continue
                if fr[26:30] != self.dst or fr[30:34] != self.src:
                    continue
                ihl = (fr[14] & 15) * 4
                t = 14 + ihl
                tot = struct.unpack("!H", fr[16:18])[0] - ihl
            sp, dp, seq, ack, off, fl = struct.unpack("!HHIIBB", fr[t:t + 14])
            if sp != self.a.dport or dp != self.a.sport:
                continue
            return fl, seq, ack, tot - (off >> 4) * 4
        return None


def frags4(r, segment, cuts, ident, evil_at=None, mf_last=False):
    """IPv4 fragments of `segment` (a whole TCP segment): cuts = [(start, end)]."""
    out = []
    for i, (s, e) in enumerate(cuts):
        more = e < len(segment) or mf_last
        out.append(r.ip4(segment[s:e], frag=(0x2000 if more else 0) | s // 8, ident=ident))
    return out


def run_case(r, name, base, nxt):
    """Sends the case's frames; @return the stream offset after its data."""
    gap = 0.03
    good = r.seg(base, nxt, P | A, GOOD)
    evil = r.seg(base, nxt, P | A, EVIL)
    if name == "ipcsum":
        r.send(r.ip4(evil, bad_csum=True))
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "iplen":
        r.send(r.ip4(evil, extra_len=40))
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "ipsrr":
        # LSRR: type 131, length 7, pointer 4, one address (the server's)
        r.send(r.ip4(evil, opts=bytes([131, 7, 4]) + r.dst + b"\x00"))
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "ipoptbad":
        r.send(r.ip4(evil, opts=bytes([1, 1, 0x94, 9])))  # router alert claiming 9 bytes in 2
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "ipcipso":
        # CIPSO (134), length 8, DOI 77, a tag of type 0 and length 2
        r.send(r.ip4(evil, opts=bytes([134, 8, 0, 0, 0, 77, 0, 2])))
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "iprr":
        # record route: type 7, length 11, pointer 4, two empty slots
        r.send(r.ip4(good, opts=bytes([7, 11, 4]) + b"\0" * 8 + b"\x00"))
    elif name == "optover":
        # NOP, NOP, NOP, then an MSS kind byte with no room for its length
        r.send(r.ip4(r.seg(base, nxt, P | A, GOOD, opts=b"\x01\x01\x01\x02")))
    elif name == "fragdup":
        ident = r.ident + 1
        f = frags4(r, good, [(0, 24), (24, 48), (48, len(good))], ident)
        bad = bytearray(good[24:48])
        bad[4:] = EVIL[4:24]  # the middle piece's data bytes replaced (the TCP header ends at 20)
        dup = r.ip4(bytes(bad), frag=0x2000 | 3, ident=ident)
        for fr in (f[0], f[1], dup, f[2]):
            r.send(fr)
            time.sleep(gap)
    elif name == "fragovl":
        ident = r.ident + 2
        for s, e in ((0, 24), (16, 40), (40, len(evil))):
            r.send(r.ip4(evil[s:e], frag=(0x2000 if e < len(evil) else 0) | s // 8, ident=ident))
            time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "fragzero":
        ident = r.ident + 3
        r.send(r.ip4(evil[:24], frag=0x2000 | 0, ident=ident))
        time.sleep(gap)
        r.send(r.ip4(b"", frag=0x2000 | 3, ident=ident))
        time.sleep(gap)
        r.send(r.ip4(evil[24:], frag=3, ident=ident))
        time.sleep(gap)
        r.send(r.ip4(good))
    elif name == "fragcsum":
        ident = r.ident + 4
        fe = r.ip4(evil[:24], frag=0x2000, ident=ident)
        fe = bytearray(fe)
        fe[24] ^= 0x55  # header checksum (Ethernet 14 + 10)
        r.send(bytes(fe))
        time.sleep(gap)
        for fr in frags4(r, good, [(0, 24), (24, len(good))], ident):
            r.send(fr)
            time.sleep(gap)
    elif name == "fraglen":
        ident = r.ident + 5
        r.send(r.ip4(evil[24:48], frag=0x2000 | 3, ident=ident, extra_len=16))
        time.sleep(gap)
        for fr in frags4(r, good, [(0, 24), (24, 48), (48, len(good))], ident):
            r.send(fr)
            time.sleep(gap)
    elif name == "fragtrim":
        ident = r.ident + 6
        first = bytearray(good[:27])
        first[24:27] = EVIL[4:7]
        r.send(r.ip4(bytes(first), frag=0x2000, ident=ident))
        time.sleep(gap)
        r.send(r.ip4(good[24:], frag=3, ident=ident))
    elif name == "frag6dup":
        ident = 0x60000 + r.a.sport
        bad = bytearray(good[24:48])
        bad[4:] = EVIL[4:24]
        for pay, fo in ((good[:24], (0, 1)), (good[24:48], (24, 1)), (bytes(bad), (24, 1)), (good[48:], (48, 0))):
            r.send(r.ip6(pay, frag=fo, ident=ident))
            time.sleep(gap)
    elif name == "frag6tiny":
        ident = 0x70000 + r.a.sport
        for pay, fo in ((evil[:8], (0, 1)), (evil[8:], (8, 0))):
            r.send(r.ip6(pay, frag=fo, ident=ident))
            time.sleep(gap)
        r.send(r.ip6(good))
    else:
        raise SystemExit(f"parse_craft: unknown case {name}")
    return base + len(GOOD)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true")
    for k in ("iface", "smac", "dmac", "src", "dst", "case"):
        ap.add_argument("--" + k)
    ap.add_argument("--dport", type=int)
    ap.add_argument("--sport", type=int)
    a = ap.parse_args()
    if a.list:
        for k, v in CASES.items():
            print(f"{k}\t{v}")
        return
    r = Raw(a)
    isn = 0x20000000 + a.sport * 1000
    if a.case == "synfrag":
        syn = r.seg(isn, 0, S)
        ident = 0x4000 + a.sport % 0x1000
        r.send(r.ip4(syn[:8], frag=0x2000, ident=ident))
        time.sleep(0.03)
        r.send(r.ip4(syn[8:], frag=1, ident=ident))
        m = r.recv(time.time() + 2)
        print(f"parse_craft synfrag: {'answered' if m else 'no answer'}")
        if m and m[0] & (S | A) == (S | A):
            r.tcp(isn + 1, m[1] + 1, 0x04)  # RST: nothing more to do here
        sys.exit(0 if m else 3)
    srv = None
    for _ in range(5):  # SYN until the SYN-ACK comes
        r.tcp(isn, 0, S)
        end = time.time() + 1
        while (m := r.recv(end)) is not None:
            if m[0] & (S | A) == (S | A) and m[2] == (isn + 1) & 0xFFFFFFFF:
                srv = m[1]
                break
        if srv is not None:
            break
    if srv is None:
        raise SystemExit(f"parse_craft {a.case}: no SYN-ACK from {a.dst}:{a.dport}")
    nxt = srv + 1
    r.tcp(isn + 1, nxt, A)
    line = f"{a.case} 0 0\n".encode()
    r.tcp(isn + 1, nxt, P | A, line)
    time.sleep(0.03)
    end_seq = run_case(r, a.case, isn + 1 + len(line), nxt)
    time.sleep(0.05)
    r.tcp(end_seq, nxt, F | A)
    # The server reads to EOF, answers nothing and closes: ACK its FIN.
    until = time.time() + 5
    fin = False
    while (m := r.recv(until)) is not None:
        if m[0] & F:
            r.tcp(end_seq + 1, m[1] + m[3] + 1, A)
            fin = True
            break
    print(f"parse_craft {a.case}: sent, server FIN {'seen' if fin else 'not seen'}")
    sys.exit(0 if fin else 1)


if __name__ == "__main__":
    main()
