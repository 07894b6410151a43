#!/usr/bin/env python3
"""Synthesises samples/sample.pcap: a realistic, deterministic mix of TCP
sessions (IPv4 and IPv6) with UDP/ICMP noise, every checksum correct.

  mksample.py OUT.pcap [--seed N] [--manifest OUT.md]

The capture is taken "at the gateway" between a client LAN and the servers:
packets of both directions, timestamps with a few ms of RTT. Written from
scratch with the standard library only; same seed, same bytes.
"""
import argparse
import random
import socket
import struct

BASE_TIME = 1709294400  # 2024-03-01 12:00:00 UTC
MAC_CLIENT_GW = bytes.fromhex("020000000001")  # the LAN side of the tap
MAC_SERVER_GW = bytes.fromhex("020000000002")  # the upstream router


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Net:
    """Builds frames for one address family."""

    def __init__(self, v6):
        self.v6 = v6
        self.fam = socket.AF_INET6 if v6 else socket.AF_INET
        self.ip_id = 1000

    def ip(self, src, dst, proto, payload, ttl=64):
        s, d = socket.inet_pton(self.fam, src), socket.inet_pton(self.fam, dst)
        if self.v6:
            hdr = struct.pack("!IHBB", 6 << 28, len(payload), proto, ttl) + s + d
            return 0x86DD, hdr, s, d
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), self.ip_id,
                          0x4000, ttl, proto, 0, s, d)
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        return 0x0800, hdr, s, d

    def pseudo(self, s, d, proto, length):
        if self.v6:
            return s + d + struct.pack("!IxxxB", length, proto)
        return s + d + struct.pack("!BBH", 0, proto, length)

    def l4(self, src, dst, proto, l4hdr, payload, csum_off, ttl=64):
        seg = l4hdr + payload
        etype, iph, s, d = self.ip(src, dst, proto, seg, ttl)
        c = csum(self.pseudo(s, d, proto, len(seg)) + seg)
        if proto == 17 and c == 0:
            c = 0xFFFF
        seg = seg[:csum_off] + struct.pack("!H", c) + seg[csum_off + 2:]
        return etype, iph + seg


def mac_for(addr):
    h = sum(addr.encode()) & 0xFF
    return bytes([0x02, 0x10, 0x00, 0x00, len(addr) & 0xFF, h])


class Capture:
    def __init__(self):
        self.pkts = []  # (time, seq no, frame)
        self.n = 0

    def add(self, t, frame):
        self.n += 1
        self.pkts.append((t, self.n, frame))

    def write(self, path):
        self.pkts.sort()
        with open(path, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for t, _, fr in self.pkts:
                us = int(round(t * 1e6))
                sec, usec = divmod(us, 1000000)
                f.write(struct.pack("<IIII", BASE_TIME + sec, usec, len(fr), len(fr)))
                f.write(fr)


def eth(src_mac, dst_mac, etype, payload):
    return dst_mac + src_mac + struct.pack("!H", etype) + payload


F_FIN, F_SYN, F_RST, F_PSH, F_ACK = 1, 2, 4, 8, 16


class Tcp:
    """One TCP connection between a LAN client and a server, seen at the tap.

    The client sends at tap time t, the server's answer passes the tap rtt
    later (the server is on the far side); client reactions add ~0.2 ms."""

    def __init__(self, cap, rng, v6, cli, cport, srv, sport, rtt):
        self.cap, self.rng, self.net = cap, rng, Net(v6)
        self.cli, self.cport, self.srv, self.sport = cli, cport, srv, sport
        self.rtt = rtt
        self.cseq = rng.randrange(1 << 32)
        self.sseq = rng.randrange(1 << 32)
        self.t = 0.0
        self.packets = 0
        self.bytes = 0

    def emit(self, from_client, flags, payload=b"", seq=None, ack=None, opts=b"", win=None):
        if from_client:
            src, sp, dst, dp = self.cli, self.cport, self.srv, self.sport
            seq = self.cseq if seq is None else seq
            ack = self.sseq if ack is None else ack
            smac, dmac = mac_for(self.cli), MAC_CLIENT_GW
        else:
            src, sp, dst, dp = self.srv, self.sport, self.cli, self.cport
            seq = self.sseq if seq is None else seq
            ack = self.cseq if ack is None else ack
            smac, dmac = MAC_SERVER_GW, mac_for(self.cli)
        if win is None:
            win = 65535 if flags & F_SYN else 502
        if not flags & F_ACK:
            ack = 0
        while len(opts) % 4:
            opts += b"\x01"
        off = (20 + len(opts)) // 4
        hdr = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                          off << 4, flags, win, 0, 0) + opts
        etype, ippkt = self.net.l4(src, dst, 6, hdr, payload, 16, ttl=64 if from_client else 57)
        frame = eth(smac, dmac, etype, ippkt)
        self.cap.add(self.t, frame)
        self.packets += 1
        self.bytes += len(frame)

    def step(self, dt):
        self.t += dt

    SYN_OPTS = b"\x02\x04\x05\xb4\x04\x02\x01\x03\x03\x07"  # MSS 1460, SACK-perm, NOP, WS 7

    def handshake(self, t0, syn_retrans=False):
        self.t = t0
        self.emit(True, F_SYN, opts=self.SYN_OPTS)
        if syn_retrans:  # first SYN got no answer: RTO 1 s
            self.step(1.0)
            self.emit(True, F_SYN, opts=self.SYN_OPTS)
        self.cseq += 1
        self.step(self.rtt)
        self.emit(False, F_SYN | F_ACK, opts=self.SYN_OPTS)
        self.sseq += 1
        self.step(0.0002)
        self.emit(True, F_ACK)
        self.step(0.0003)

    def send(self, from_client, data, mss=1448, ack_every=2, push=True):
        """Sends data as segments; the peer ACKs every ack_every segments."""
        segs = [data[i:i + mss] for i in range(0, len(data), mss)]
        for i, s in enumerate(segs):
            last = i == len(segs) - 1
            self.emit(from_client, F_ACK | (F_PSH if last and push else 0), s)
            if from_client:
                self.cseq += len(s)
            else:
                self.sseq += len(s)
            self.step(0.00012)
            if (i + 1) % ack_every == 0 or last:
                self.step(self.rtt if from_client else 0.0002)
                self.emit(not from_client, F_ACK)
                self.step(0.0001 if from_client else self.rtt)

    def close(self, client_first):
        self.step(0.0005)
        self.emit(client_first, F_FIN | F_ACK)
        self._adv(client_first, 1)
        self.step(self.rtt if client_first else 0.0003)
        self.emit(not client_first, F_FIN | F_ACK)
        self._adv(not client_first, 1)
        self.step(0.0003 if client_first else self.rtt)
        self.emit(client_first, F_ACK)

    def _adv(self, client, n):
        if client:
            self.cseq += n
        else:
            self.sseq += n


def http_request(rng, host, path):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sample-client/1.0\r\n"
            f"Accept: */*\r\nConnection: close\r\n\r\n").encode()


def http_response(rng, size, ctype="text/plain"):
    words = ["mospipe", "flow", "packet", "stream", "window", "segment", "stage", "ring",
             "event", "socket", "middlebox", "monitor", "buffer", "lcore", "quiescent"]
    body = bytearray()
    while len(body) < size:
        body += (" ".join(rng.choice(words) for _ in range(12)) + "\n").encode()
    body = bytes(body[:size])
    hdr = (f"HTTP/1.1 200 OK\r\nServer: sample-httpd\r\nContent-Type: {ctype}\r\n"
           f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    return hdr + body


def udp(cap, v6, t, src, sport, dst, dport, payload, to_server=True):
    n = Net(v6)
    hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    etype, ip = n.l4(src, dst, 17, hdr, payload, 6)
    smac, dmac = (mac_for(src), MAC_CLIENT_GW) if to_server else (MAC_SERVER_GW, mac_for(dst))
    cap.add(t, eth(smac, dmac, etype, ip))


def dns_query(qid, name, qtype=1):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def dns_answer(query, addr, v6):
    qid = struct.unpack("!H", query[:2])[0]
    rdata = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, addr)
    a = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + query[12:]
    return a + struct.pack("!HHHIH", 0xC00C, 28 if v6 else 1, 1, 300, len(rdata)) + rdata


def icmp_echo(cap, v6, t, src, dst, ident, seqno, reply, to_server):
    n = Net(v6)
    typ = (129 if reply else 128) if v6 else (0 if reply else 8)
    data = bytes(range(48))
    msg = struct.pack("!BBHHH", typ, 0, 0, ident, seqno) + data
    if v6:
        etype, ip = n.l4(src, dst, 58, msg[:8], msg[8:], 2)
    else:
        msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        etype, iph, _, _ = n.ip(src, dst, 1, msg)
        ip = iph + msg
    smac, dmac = (mac_for(src), MAC_CLIENT_GW) if to_server else (MAC_SERVER_GW, mac_for(dst))
    cap.add(t, eth(smac, dmac, etype, ip))


def build(seed):
    rng = random.Random(seed)
    cap = Capture()
    conns = []  # manifest rows: (id, family, client, server, what, expected end)
    dur = 20.0  # the capture spans ~20 s
    used = set()

    def conn(v6, i, srv, sport=80):
        cli = f"2001:db8:1::{0x10 + i % 6:x}" if v6 else f"192.168.50.{10 + i % 12}"
        cport = 40000 + rng.randrange(20000)
        while (cli, cport) in used:
            cport = 40000 + rng.randrange(20000)
        used.add((cli, cport))
        c = Tcp(cap, rng, v6, cli, cport, srv, sport, rtt=rng.uniform(0.004, 0.03))
        return c

    def closed(client_first):
        a, b = ("client", "server") if client_first else ("server", "client")
        return f"closed by FINs: {a} TIME_WAIT, {b} CLOSED"

    def row(c, what, end):
        fam = "IPv6" if c.net.v6 else "IPv4"
        a = f"[{c.cli}]:{c.cport}" if c.net.v6 else f"{c.cli}:{c.cport}"
        b = f"[{c.srv}]:{c.sport}" if c.net.v6 else f"{c.srv}:{c.sport}"
        conns.append((len(conns) + 1, fam, a, b, what, end, c.packets))

    servers4 = ["198.51.100.10", "198.51.100.20", "203.0.113.5"]
    servers6 = ["2001:db8:80::10", "2001:db8:80::20"]

    # One connection already running when the capture starts: the first
    # packets are mid-stream server data (no handshake seen), then it ends.
    c = conn(False, 0, servers4[0])
    c.t = 0.0
    c.send(False, http_response(rng, 9000)[-6000:], ack_every=2)
    c.close(client_first=False)
    row(c, "already established at capture start (no SYN seen), 6000 bytes of mid-stream data, then FIN from the server",
        closed(False) + " if mid-stream pick-up is on; else untracked")

    # Normal HTTP-like downloads, IPv4: closed by the server (HTTP/1.0 style)
    # or by the client.
    for i in range(1, 29):
        c = conn(False, i, rng.choice(servers4))
        c.handshake(rng.uniform(0.1, dur - 3))
        c.step(0.0003)
        c.send(True, http_request(rng, "www.example.com", f"/obj/{i}.txt"))
        c.step(0.001)
        size = rng.choice([300, 800, 1500, 2500, 4000, 6000])
        c.send(False, http_response(rng, size))
        sfirst = i % 3 != 0
        c.close(client_first=not sfirst)
        row(c, f"HTTP GET, {size}-byte body, FIN first from the {'server' if sfirst else 'client'}",
            closed(not sfirst))

    # Normal downloads, IPv6.
    for i in range(4):
        c = conn(True, i, rng.choice(servers6))
        c.handshake(rng.uniform(0.5, dur - 3))
        c.step(0.0003)
        c.send(True, http_request(rng, "www6.example.com", f"/v6/{i}"))
        size = rng.choice([1200, 3000, 5000])
        c.send(False, http_response(rng, size))
        c.close(client_first=i % 2 == 0)
        row(c, f"HTTP GET, {size}-byte body, FIN first from the {'client' if i % 2 == 0 else 'server'}",
            closed(i % 2 == 0))

    # Fast retransmission: segment 3 of the response is lost after the tap;
    # the client sends duplicate ACKs with SACK, the server resends it.
    c = conn(False, 30, servers4[1])
    c.handshake(3.0)
    c.send(True, http_request(rng, "www.example.com", "/big"))
    resp = http_response(rng, 10000)
    segs = [resp[i:i + 1448] for i in range(0, len(resp), 1448)]
    base = c.sseq
    lost_seq = base + 2 * 1448
    for k, s in enumerate(segs):
        c.emit(False, F_ACK | (F_PSH if k == len(segs) - 1 else 0), s, seq=base + 1448 * k)
        c.step(0.00012)
    c.step(0.0002)
    end = base + len(resp)
    for k in range(3, len(segs)):  # dup ACKs, SACK block grows
        right = base + min(1448 * (k + 1), len(resp))
        sack = b"\x01\x01\x05\x0a" + struct.pack("!II", (lost_seq + 1448) & 0xFFFFFFFF, right & 0xFFFFFFFF)
        c.emit(True, F_ACK, ack=lost_seq, opts=sack)
        c.step(0.00005)
    c.step(c.rtt)
    c.emit(False, F_ACK, segs[2], seq=lost_seq)  # the retransmission
    c.sseq = end
    c.step(0.0002)
    c.emit(True, F_ACK)
    c.step(c.rtt)
    c.close(client_first=False)
    row(c, "HTTP GET, 10000-byte body; response segment 3 lost after the tap, 4 ACKs stuck at the hole with growing SACK blocks, fast retransmission",
        closed(False) + "; 1 retransmitted data segment")

    # SYN retransmission: the first SYN got no answer.
    c = conn(False, 31, servers4[2])
    c.handshake(5.0, syn_retrans=True)
    c.send(True, http_request(rng, "www.example.com", "/slow"))
    c.send(False, http_response(rng, 2000))
    c.close(client_first=True)
    row(c, "HTTP GET after a SYN retransmitted once (1 s RTO)", closed(True) + "; 1 retransmitted SYN")

    # Reset: the client aborts a download with RST after two segments.
    c = conn(False, 32, servers4[0])
    c.handshake(7.5)
    c.send(True, http_request(rng, "www.example.com", "/huge.iso"))
    c.send(False, http_response(rng, 50000)[:2896], ack_every=2, push=False)
    c.step(0.002)
    c.emit(True, F_RST | F_ACK)
    row(c, "download aborted by the client: RST after 2896 bytes", "reset (RST from the client)")

    # Refused: nothing listens on the port.
    c = conn(False, 33, servers4[1], sport=8443)
    c.t = 9.0
    c.emit(True, F_SYN, opts=Tcp.SYN_OPTS)
    c.cseq += 1
    c.step(c.rtt)
    c.emit(False, F_RST | F_ACK, seq=0)
    row(c, "connection refused: SYN answered by RST/ACK from port 8443", "reset (refused, never established)")

    # Reset by the server in the middle of an IPv6 session.
    c = conn(True, 4, servers6[0])
    c.handshake(11.0)
    c.send(True, http_request(rng, "www6.example.com", "/v6/reset"))
    c.step(0.003)
    c.emit(False, F_RST | F_ACK)
    row(c, "server resets after the request (IPv6)", "reset (RST from the server)")

    # Half-closed: the client sends its request and FIN (shutdown SHUT_WR);
    # the server keeps sending and has not closed when the capture ends.
    c = conn(False, 34, servers4[2])
    c.handshake(dur - 2.5)
    c.send(True, http_request(rng, "www.example.com", "/stream"))
    c.step(0.0003)
    c.emit(True, F_FIN | F_ACK)
    c.cseq += 1
    c.step(c.rtt)
    c.emit(False, F_ACK)
    for _ in range(4):
        c.step(0.3)
        c.send(False, http_response(rng, 1000)[:1000], ack_every=1)
    row(c, "half-closed: client sent request + FIN; server keeps sending, no FIN from it by the end",
        "open at capture end: client FIN_WAIT_2, server CLOSE_WAIT")

    # Established and still transferring when the capture ends (IPv6).
    c = conn(True, 5, servers6[1])
    c.handshake(dur - 1.5)
    c.send(True, http_request(rng, "www6.example.com", "/v6/long"))
    c.send(False, http_response(rng, 200000)[:8 * 1448], ack_every=2, push=False)
    row(c, "long IPv6 download still in progress at capture end",
        "open at capture end: ESTABLISHED both sides")

    # Noise: DNS over UDP, ICMP/ICMPv6 echo, an NTP exchange.
    dns4, dns6 = "192.168.50.1", "2001:db8:1::1"
    for k in range(8):
        t = rng.uniform(0.05, dur - 1)
        v6 = k % 4 == 3
        cli = f"2001:db8:1::{0x10 + k:x}" if v6 else f"192.168.50.{10 + k}"
        srv = dns6 if v6 else dns4
        q = dns_query(rng.randrange(65536), f"host{k}.example.com", 28 if v6 else 1)
        sp = 30000 + rng.randrange(30000)
        udp(cap, v6, t, cli, sp, srv, 53, q, True)
        udp(cap, v6, t + 0.002, srv, 53, cli, sp, dns_answer(q, servers6[0] if v6 else servers4[0], v6), False)
    for k in range(3):
        t = rng.uniform(1, dur - 1)
        icmp_echo(cap, False, t, "192.168.50.12", "198.51.100.10", 0x4242, k + 1, False, True)
        icmp_echo(cap, False, t + 0.01, "198.51.100.10", "192.168.50.12", 0x4242, k + 1, True, False)
    for k in range(2):
        t = rng.uniform(1, dur - 1)
        icmp_echo(cap, True, t, "2001:db8:1::11", "2001:db8:80::10", 0x77, k + 1, False, True)
        icmp_echo(cap, True, t + 0.012, "2001:db8:80::10", "2001:db8:1::11", 0x77, k + 1, True, False)
    ntp = bytes([0x23]) + bytes(47)
    udp(cap, False, 2.5, "192.168.50.15", 123, "203.0.113.123", 123, ntp, True)
    udp(cap, False, 2.52, "203.0.113.123", 123, "192.168.50.15", 123, bytes([0x24]) + bytes(47), False)
    return cap, conns


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--manifest", help="write the connection table (markdown) here")
    a = p.parse_args()
    cap, conns = build(a.seed)
    cap.write(a.out)
    lines = ["| # | family | client | server | what happens | expected end state | packets |",
             "|---|---|---|---|---|---|---|"]
    for r in conns:
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    tcp_pk = sum(r[6] for r in conns)
    lines.append("")
    lines.append(f"{len(conns)} TCP connections ({sum(r[1] == 'IPv4' for r in conns)} IPv4, "
                 f"{sum(r[1] == 'IPv6' for r in conns)} IPv6), {tcp_pk} TCP packets; "
                 f"{len(cap.pkts) - tcp_pk} UDP/ICMP packets; {len(cap.pkts)} packets in all.")
    text = "\n".join(lines) + "\n"
    if a.manifest:
        with open(a.manifest, "w") as f:
            f.write(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
