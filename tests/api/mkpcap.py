#!/usr/bin/env python3
"""Writes the small captures of tests/api: `synrexmit OUT` (flow A: SYN sent
three times, then a normal handshake, request and close; flow B: one SYN,
handshake, close) and `scale OUT N` (N concurrent flows: all SYNs, then all
handshakes, one data segment each way, then all FIN exchanges) and `ooo OUT`
(one flow: client bytes [0,100), then [200,250) out of order, then the hole
[100,200), each followed by 64 pure ACKs of the server, then the close) and
`policy OUT` (three flows to port 80, clients 41001-41003, servers 10.0.0.2,
10.0.0.3, 10.0.0.2: "HEAD.", a fake "EVIL" without ACK where the next bytes
go, then "BB" held at 9, "XXXX" held at 9 too, "AAAA" filling 5-9, the
close: a Linux receiver reads HEAD.AAAAXXXX, a Windows one HEAD.AAAABBXX)
and `bulk OUT SEGS...` (one download per SEGS, one after the other: a
handshake, SEGS segments of 1,460 bytes from the server, FIN both ways;
tests/midstat's `replicated` case)."""
import struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip(a):
    return bytes(int(x) for x in a.split('.'))

def pkt(src, sp, dst, dp, seq, ack, flags, payload=b''):
    tcp = struct.pack('!HHIIBBHHH', sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ph = ip(src) + ip(dst) + struct.pack('!BBH', 0, 6, len(tcp))
    c = csum(ph + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip(src), ip(dst))
    iph = iph[:10] + struct.pack('!H', csum(iph)) + iph[12:]
    eth = b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00'
    return eth + iph + tcp

class W:
    def __init__(self, path):
        self.f = open(path, 'wb')
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        self.t = 1700000000 * 1000000
    def put(self, p, dt=100):
        self.t += dt
        self.f.write(struct.pack('<IIII', self.t // 1000000, self.t % 1000000, len(p), len(p)) + p)

S, A, F, P, R = 0x02, 0x10, 0x01, 0x08, 0x04

def overlap_flow(w, c, cp, s, sp, ic, isv):
    w.put(pkt(c, cp, s, sp, ic, 0, S))
    w.put(pkt(s, sp, c, cp, isv, ic + 1, S | A))
    w.put(pkt(c, cp, s, sp, ic + 1, isv + 1, A))
    for off, data, fl in ((0, b'HEAD.', P | A), (5, b'EVIL', P), (9, b'BB', P | A), (9, b'XXXX', P | A),
                          (5, b'AAAA', P | A)):
        w.put(pkt(c, cp, s, sp, ic + 1 + off, isv + 1, fl, data), 20000)
    w.put(pkt(c, cp, s, sp, ic + 14, isv + 1, F | A))
    w.put(pkt(s, sp, c, cp, isv + 1, ic + 15, F | A))
    w.put(pkt(c, cp, s, sp, ic + 15, isv + 2, A))

def conn(w, c, cp, s, sp, isn_c, isn_s, syns=1, req=b'GET / HTTP/1.1\r\n\r\n', resp=b'HTTP/1.1 200 OK\r\n\r\n'):
    for i in range(syns):
        w.put(pkt(c, cp, s, sp, isn_c, 0, S), 1000000 if i else 100)
    w.put(pkt(s, sp, c, cp, isn_s, isn_c + 1, S | A))
    w.put(pkt(c, cp, s, sp, isn_c + 1, isn_s + 1, A))
    w.put(pkt(c, cp, s, sp, isn_c + 1, isn_s + 1, P | A, req))
    w.put(pkt(s, sp, c, cp, isn_s + 1, isn_c + 1 + len(req), P | A, resp))
    w.put(pkt(c, cp, s, sp, isn_c + 1 + len(req), isn_s + 1 + len(resp), F | A))
    w.put(pkt(s, sp, c, cp, isn_s + 1 + len(resp), isn_c + 2 + len(req), F | A))
    w.put(pkt(c, cp, s, sp, isn_c + 2 + len(req), isn_s + 2 + len(resp), A))

def bulk_flow(w, c, cp, s, sp, isn_c, isn_s, segs):
    w.put(pkt(c, cp, s, sp, isn_c, 0, S))
    w.put(pkt(s, sp, c, cp, isn_s, isn_c + 1, S | A))
    w.put(pkt(c, cp, s, sp, isn_c + 1, isn_s + 1, A))
    for i in range(segs):
        w.put(pkt(s, sp, c, cp, isn_s + 1 + 1460 * i, isn_c + 1, A, bytes([i % 251]) * 1460))
    end = isn_s + 1 + 1460 * segs
    w.put(pkt(s, sp, c, cp, end, isn_c + 1, F | A))
    w.put(pkt(c, cp, s, sp, isn_c + 1, end + 1, F | A))
    w.put(pkt(s, sp, c, cp, end + 1, isn_c + 2, A))

if sys.argv[1] == 'synrexmit':
    w = W(sys.argv[2])
    conn(w, '10.0.0.1', 40000, '10.0.0.2', 80, 1000, 5000, syns=3)
    conn(w, '10.0.0.3', 40001, '10.0.0.2', 80, 2000, 6000, syns=1)
elif sys.argv[1] == 'scale':
    w = W(sys.argv[2])
    n = int(sys.argv[3])
    fl = [('10.%d.%d.%d' % (i >> 16 & 255, i >> 8 & 255, i & 255), 1024 + i % 60000, '10.200.0.1', 80) for i in range(n)]
    for (c, cp, s, sp) in fl:
        w.put(pkt(c, cp, s, sp, 1000, 0, S), 1)
    for (c, cp, s, sp) in fl:
        w.put(pkt(s, sp, c, cp, 5000, 1001, S | A), 1)
    for (c, cp, s, sp) in fl:
        w.put(pkt(c, cp, s, sp, 1001, 5001, A), 1)
    for (c, cp, s, sp) in fl:
        w.put(pkt(c, cp, s, sp, 1001, 5001, P | A, b'hello'), 1)
    for (c, cp, s, sp) in fl:
        w.put(pkt(s, sp, c, cp, 5001, 1006, P | A, b'world'), 1)
    for (c, cp, s, sp) in fl:
        w.put(pkt(c, cp, s, sp, 1006, 5006, F | A), 1)
        w.put(pkt(s, sp, c, cp, 5006, 1007, F | A), 1)
        w.put(pkt(c, cp, s, sp, 1007, 5007, A), 1)
elif sys.argv[1] == 'ooo':
    w = W(sys.argv[2])
    c, cp, sv, sp, ic, isv = '10.0.0.1', 40000, '10.0.0.2', 80, 1000, 5000
    data = bytes(65 + i % 26 for i in range(250))
    w.put(pkt(c, cp, sv, sp, ic, 0, S))
    w.put(pkt(sv, sp, c, cp, isv, ic + 1, S | A))
    w.put(pkt(c, cp, sv, sp, ic + 1, isv + 1, A))
    for (a, b) in ((0, 100), (200, 250), (100, 200)):
        w.put(pkt(c, cp, sv, sp, ic + 1 + a, isv + 1, P | A, data[a:b]))
        for i in range(64):
            w.put(pkt(sv, sp, c, cp, isv + 1, ic + 1 + (250 if a == 100 else 100), A))
    w.put(pkt(c, cp, sv, sp, ic + 251, isv + 1, F | A))
    w.put(pkt(sv, sp, c, cp, isv + 1, ic + 252, F | A))
    w.put(pkt(c, cp, sv, sp, ic + 252, isv + 2, A))
elif sys.argv[1] == 'policy':
    w = W(sys.argv[2])
    for i, srv in enumerate(('10.0.0.2', '10.0.0.3', '10.0.0.2')):
        overlap_flow(w, '10.0.0.1', 41001 + i, srv, 80, 1000 + i * 1000, 5000 + i * 1000)
elif sys.argv[1] == 'bulk':
    w = W(sys.argv[2])
    for i, segs in enumerate(sys.argv[3:]):
        bulk_flow(w, '10.0.0.%d' % (i + 1), 40000, '10.0.1.%d' % (i + 1), 80, 1, 1000, int(segs))
