#!/usr/bin/env python3
"""A TCP client made of raw Ethernet frames (stdlib only; root): what the
evasion cases need to put exactly the segments they want on the wire, bad
checksums, lengths and fragments included.

The client uses an IPv4 address its own namespace does not have, so its
kernel neither answers nor resets the server's segments: this module is the
whole endpoint. Offsets given to Conn.send() count stream bytes from the
first data byte (ISN + 1).
"""
import socket
import struct
import time

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
ETH_IP = b"\x08\x00"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def opt_bytes(mss=None, ws=None, sack_ok=False, ts=None, extra=b""):
    """TCP options, padded to 4 bytes with NOPs in front of each option as
    Linux lays them out."""
    o = b""
    if mss is not None:
        o += struct.pack("!BBH", 2, 4, mss)
    if sack_ok and ts is not None:
        o += struct.pack("!BB", 4, 2) + struct.pack("!BBII", 8, 10, ts[0] & 0xFFFFFFFF, ts[1] & 0xFFFFFFFF)
    else:
        if sack_ok:
            o += b"\x01\x01\x04\x02"
        if ts is not None:
            o += b"\x01\x01" + struct.pack("!BBII", 8, 10, ts[0] & 0xFFFFFFFF, ts[1] & 0xFFFFFFFF)
    if ws is not None:
        o += b"\x01" + struct.pack("!BBB", 3, 3, ws)
    o += extra
    while len(o) % 4:
        o += b"\x01"
    return o


class Raw:
    """One AF_PACKET socket on an interface, frames to one peer."""

    def __init__(self, iface, smac, dmac, src, dst):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind((iface, 0))
        self.sock.setblocking(False)
        self.smac, self.dmac = mac(smac), mac(dmac)
        self.src, self.dst = socket.inet_aton(src), socket.inet_aton(dst)
        self.ident = 1

    def tcp(self, sport, dport, seq, ack, flags, data=b"", win=64240, opts=b"", urp=0, bad_tcp_csum=False,
            doff=None):
        hl = 20 + len(opts)
        d = (doff if doff is not None else hl // 4) << 4
        t = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, d, flags, win, 0,
                        urp) + opts + data
        ph = self.src + self.dst + struct.pack("!BBH", 0, 6, len(t))
        c = csum(ph + t)
        if bad_tcp_csum:
            c ^= 0x5A5A
        return t[:16] + struct.pack("!H", c) + t[18:]

    def ip(self, payload, ttl=64, bad_ip_csum=False, tot_len=None, frag_off=0, mf=False, df=True, ident=None):
        ident = self.ident if ident is None else ident
        fl = (0x4000 if df and not mf and not frag_off else 0) | (0x2000 if mf else 0) | (frag_off // 8)
        tl = 20 + len(payload) if tot_len is None else tot_len
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tl, ident, fl, ttl, 6, 0, self.src, self.dst)
        c = csum(h)
        if bad_ip_csum:
            c ^= 0x1234
        return h[:10] + struct.pack("!H", c) + h[12:] + payload

    def frame(self, ippkt):
        self.sock.send(self.dmac + self.smac + ETH_IP + ippkt)

    def next_ident(self):
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident

    def recv_from(self, sport, dport, until):
        """Next TCP segment from (dst, dport) to (src, sport):
        dict(flags, seq, ack, win, len, ts) or None at time `until`."""
        while True:
            try:
                fr = self.sock.recv(65536)
            except BlockingIOError:
                if time.time() >= until:
                    return None
                time.sleep(0.002)
                continue
            if len(fr) < 54 or fr[12:14] != ETH_IP or fr[23] != 6:
                continue
            if fr[26:30] != self.dst or fr[30:34] != self.src:
                continue
            ihl = (fr[14] & 15) * 4
            t = 14 + ihl
            sp, dp, seq, ack, off, fl, win = struct.unpack("!HHIIBBH", fr[t:t + 16])
            if sp != dport or dp != sport:
                continue
            tot = struct.unpack("!H", fr[16:18])[0]
            hl = (off >> 4) * 4
            ts = ws = None
            o = fr[t + 20:t + hl]
            i = 0
            while i < len(o):
                k = o[i]
                if k == 0:
                    break
                if k == 1:
                    i += 1
                    continue
                if i + 1 >= len(o) or o[i + 1] < 2:
                    break
                if k == 8 and o[i + 1] == 10:
                    ts = struct.unpack("!II", o[i + 2:i + 10])
                if k == 3 and o[i + 1] == 3:
                    ws = o[i + 2]
                i += o[i + 1]
            return {"flags": fl, "seq": seq, "ack": ack, "win": win, "len": tot - ihl - hl, "ts": ts, "ws": ws}


class Conn:
    """One client connection. Keeps what it needs to write valid segments
    (the next sequence number, the server's, timestamps) and what the server
    said last (its ACK and window), for the cases to build invalid ones."""

    def __init__(self, raw, sport, dport, ts=True, ws=7, sack=True, mss=1460, isn=None):
        self.r, self.sport, self.dport = raw, sport, dport
        self.use_ts, self.ws, self.sack, self.mss = ts, ws, sack, mss
        self.isn = isn if isn is not None else (0x10000000 + sport * 7919) & 0xFFFFFFFF
        self.tsval = 100000 + sport
        self.ts_ok = False
        self.srv_ts = 0
        self.srv_isn = None
        self.srv_ack = None
        self.srv_win = 0
        self.srv_ws = 0
        self.hi = 0  # highest stream offset sent + 1
        self.fin_seen = False
        self.rst_seen = False
        self.log = []

    # ---- sequence numbers ----
    def seq(self, off):
        return (self.isn + 1 + off) & 0xFFFFFFFF

    def rnxt(self):
        return (self.srv_isn + 1) & 0xFFFFFFFF

    def next_ts(self):
        self.tsval += 7
        return self.tsval

    def ts_opt(self, val=None):
        if not self.ts_ok:
            return None
        return (self.next_ts() if val is None else val, self.srv_ts)

    # ---- receiving ----
    def poll(self, dt=0.0):
        """Reads the server's segments for dt seconds (at least one pass)."""
        end = time.time() + dt
        while True:
            m = self.r.recv_from(self.sport, self.dport, end)
            if m is None:
                return
            if m["ts"] and m["ts"][0]:
                self.srv_ts = m["ts"][0]
            if m["flags"] & ACK:
                self.srv_ack = m["ack"]
                self.srv_win = m["win"] << (self.srv_ws if not (m["flags"] & SYN) else 0)
            if m["flags"] & FIN:
                self.fin_seen = True
                self.fin_seq = m["seq"] + m["len"]
            if m["flags"] & RST:
                self.rst_seen = True
            self.log.append(m)

    # ---- sending ----
    def raw_seg(self, seq, ack, flags, data=b"", win=64240, opts=b"", urp=0, ttl=64, bad_tcp_csum=False,
                bad_ip_csum=False, ip_len_extra=0, doff=None, frags=None):
        t = self.r.tcp(self.sport, self.dport, seq, ack, flags, data, win, opts, urp, bad_tcp_csum, doff)
        ident = self.r.next_ident()
        if frags is None:
            tl = 20 + len(t) + ip_len_extra if ip_len_extra else None
            self.r.frame(self.r.ip(t, ttl, bad_ip_csum, tl, ident=ident))
            return
        # frags: list of (offset, length or None for the rest, bytes or None):
        # fragments of the IP payload t, in the order given (bytes replace
        # the slice's content: overlapping fragments that disagree).
        for off, ln, over in frags:
            part = t[off:] if ln is None else t[off:off + ln]
            mf = off + len(part) < len(t)
            if over is not None:
                part = over
            self.r.frame(self.r.ip(part, ttl, False, None, frag_off=off, mf=mf, df=False, ident=ident))

    def connect(self, syn_data=b"", syn_ts=None, tries=5):
        opts = opt_bytes(self.mss, self.ws, self.sack, (self.next_ts() if syn_ts is None else syn_ts, 0)
                         if self.use_ts else None)
        for _ in range(tries):
            self.raw_seg(self.isn, 0, SYN, syn_data, opts=opts)
            end = time.time() + 1
            while (m := self.r.recv_from(self.sport, self.dport, end)) is not None:
                if m["flags"] & (SYN | ACK) == (SYN | ACK) and m["ack"] == (self.isn + 1) & 0xFFFFFFFF:
                    self.srv_isn = m["seq"]
                    self.srv_ws = m["ws"] if (m["ws"] is not None and self.ws is not None) else 0
                    self.ts_ok = bool(m["ts"]) and self.use_ts
                    if m["ts"]:
                        self.srv_ts = m["ts"][0]
                    self.srv_ack = m["ack"]
                    self.srv_win = m["win"]
                    break
            if self.srv_isn is not None:
                break
        if self.srv_isn is None:
            raise RuntimeError(f"no SYN-ACK for port {self.sport}")
        self.send(None, b"", ACK)  # third packet of the handshake

    def send(self, off, data=b"", flags=PSH | ACK, seq=None, ack=None, ts="auto", urp=0, win=None, wait=0.03,
             advance=True, **kw):
        """One segment at stream offset off (None: the next offset)."""
        if off is None:
            off = self.hi
        s = self.seq(off) if seq is None else seq
        a = self.rnxt() if ack is None else ack
        if ts == "auto":
            tso = self.ts_opt()
        elif ts is None:
            tso = None
        else:
            tso = (ts, self.srv_ts)
        opts = kw.pop("opts", None)
        if opts is None:
            opts = opt_bytes(ts=tso) if tso else b""
        w = 64240 >> (self.ws or 0) if win is None else win
        self.raw_seg(s, a, flags, data, w, opts, urp, **kw)
        if advance and seq is None and (flags & (SYN | RST)) == 0:
            self.hi = max(self.hi, off + len(data) + (1 if flags & FIN else 0))
        if wait:
            self.poll(wait)

    def stream(self, off, data, chunk=1000, timeout=5.0):
        """Sends data from off in order, never beyond the server's window,
        waiting for its ACKs (the server's application reads promptly)."""
        pos = 0
        end = time.time() + timeout
        while pos < len(data) and time.time() < end:
            acked = (self.srv_ack - self.seq(0)) & 0xFFFFFFFF if self.srv_ack is not None else 0
            room = acked + self.srv_win - (off + pos)
            if room <= 0:
                self.poll(0.01)
                continue
            n = min(chunk, room, len(data) - pos)
            self.send(off + pos, data[pos:pos + n], wait=0.002)
            pos += n
        self.poll(0.03)
        return pos == len(data)

    def close(self, timeout=3.0):
        """FIN after everything sent; acknowledges the server's FIN."""
        self.send(None, b"", FIN | ACK, wait=0)
        end = time.time() + timeout
        while not self.fin_seen and not self.rst_seen and time.time() < end:
            self.poll(0.02)
        if self.fin_seen:
            self.send(None, b"", ACK, ack=self.fin_seq + 1, wait=0.01)
        return self.fin_seen

    def reset(self):
        self.send(None, b"", RST | ACK, wait=0.02, advance=False)
