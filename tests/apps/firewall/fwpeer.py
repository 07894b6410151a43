#!/usr/bin/env python3
"""Endpoints for the firewall's inline tests (Python standard library only).

  fwpeer.py serve --bind ADDR --ports P[,P...] --file F [--rate BYTES_PER_S]
                  [--udp-ports P[,P...]] --log LOG [--ready FILE]
      TCP: on every connection logs "tcp accept port=P peer=IP:PORT", sends F
      (paced at --rate if given) and closes; logs "tcp done ..." or
      "tcp error ...". UDP: logs "udp port=P peer=IP:PORT data=TEXT" for each
      datagram. Runs until killed.
  fwpeer.py get HOST PORT --out FILE [--connect-timeout S] [--timeout S]
      Connects, reads until EOF into FILE. Prints "result=WHAT bytes=N
      errno=NAME secs=S" and exits with what the Linux client saw:
        0 ok (EOF after the data)   2 connect timed out (no answer at all)
        3 ECONNREFUSED (a RST answered the SYN)
        4 ECONNRESET during the transfer   5 the transfer stalled (--timeout)
        1 anything else
  fwpeer.py udp HOST PORT TEXT
      Sends one datagram.
  fwpeer.py inject --iface IF --src-mac M --dst-mac M --src IP --dst IP
                   --sport N --dport N --flags S|A|PA|SA|R... [--seq N]
                   [--ack N] [--payload TEXT]
      Sends one raw Ethernet/IPv4/TCP frame with correct checksums through an
      AF_PACKET socket (root), bypassing the kernel's TCP: the out-of-state
      packets of the tests.
"""
import argparse
import errno
import os
import socket
import struct
import sys
import threading
import time


def log_line(path, text):
    with open(path, "a") as f:
        f.write(text + "\n")


def cmd_serve(a):
    data = open(a.file, "rb").read()
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    def handle(conn, peer, port):
        who = "port=%d peer=%s:%d" % (port, peer[0], peer[1])
        log_line(a.log, "tcp accept " + who)
        sent = 0
        try:
            if a.rate:
                chunk = max(1024, int(a.rate / 20))
                t0 = time.monotonic()
                while sent < len(data):
                    conn.sendall(data[sent:sent + chunk])
                    sent += min(chunk, len(data) - sent)
                    ahead = sent / a.rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            else:
                conn.sendall(data)
                sent = len(data)
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(10)
            while conn.recv(4096):
                pass
            log_line(a.log, "tcp done %s bytes=%d" % (who, sent))
        except OSError as e:
            log_line(a.log, "tcp error %s bytes=%d err=%s" % (who, sent, errno.errorcode.get(e.errno, e)))
        finally:
            conn.close()

    def tcp_loop(port):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind, port))
        s.listen(64)
        while True:
            c, peer = s.accept()
            threading.Thread(target=handle, args=(c, peer, port), daemon=True).start()

    def udp_loop(s, port):
        while True:
            d, peer = s.recvfrom(65535)
            log_line(a.log, "udp port=%d peer=%s:%d data=%s" % (port, peer[0], peer[1], d.decode(errors="replace")))

    threads = []
    for p in [int(x) for x in a.ports.split(",") if x]:
        threads.append(threading.Thread(target=tcp_loop, args=(p,), daemon=True))
    for p in [int(x) for x in (a.udp_ports or "").split(",") if x]:
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((a.bind, p))
        threads.append(threading.Thread(target=udp_loop, args=(u, p), daemon=True))
    for t in threads:
        t.start()
    time.sleep(0.2)
    if a.ready:
        open(a.ready, "w").write("ready\n")
    while True:
        time.sleep(3600)


def cmd_get(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    got = 0
    t0 = time.monotonic()

    def done(what, code, err=""):
        print("result=%s bytes=%d errno=%s secs=%.2f" % (what, got, err or "-", time.monotonic() - t0), flush=True)
        return code

    s.settimeout(a.connect_timeout)
    try:
        s.connect((a.host, a.port))
    except socket.timeout:
        return done("timeout", 2)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        return done("refused" if e.errno == errno.ECONNREFUSED else "error", 3 if e.errno == errno.ECONNREFUSED else 1,
                    name)
    s.settimeout(a.timeout)
    with open(a.out, "wb") as f:
        try:
            while True:
                d = s.recv(1 << 16)
                if not d:
                    break
                f.write(d)
                got += len(d)
        except socket.timeout:
            return done("stall", 5)
        except OSError as e:
            name = errno.errorcode.get(e.errno, str(e.errno))
            return done("reset" if e.errno == errno.ECONNRESET else "error", 4 if e.errno == errno.ECONNRESET else 1,
                        name)
    s.close()
    return done("ok", 0)


def cmd_udp(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.sendto(a.text.encode(), (a.host, a.port))
    return 0


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def cmd_inject(a):
    flags = 0
    for ch in a.flags:
        flags |= {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16, "U": 32}[ch]
    payload = (a.payload or "").encode()
    src, dst = socket.inet_aton(a.src), socket.inet_aton(a.dst)
    tcp = struct.pack("!HHIIBBHHH", a.sport, a.dport, a.seq, a.ack, 5 << 4, flags, 64240, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp + payload)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0x1234, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frame = mac(a.dst_mac) + mac(a.src_mac) + b"\x08\x00" + ip + tcp + payload
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    s.send(frame)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--udp-ports")
    s.add_argument("--file", required=True)
    s.add_argument("--rate", type=float, default=0)
    s.add_argument("--log", required=True)
    s.add_argument("--ready")
    s = sub.add_parser("get")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--out", required=True)
    s.add_argument("--connect-timeout", type=float, default=5)
    s.add_argument("--timeout", type=float, default=30)
    s = sub.add_parser("udp")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("text")
    s = sub.add_parser("inject")
    for k in ("iface", "src-mac", "dst-mac", "src", "dst", "flags"):
        s.add_argument("--" + k, required=True)
    for k in ("sport", "dport"):
        s.add_argument("--" + k, type=int, required=True)
    s.add_argument("--seq", type=int, default=1000)
    s.add_argument("--ack", type=int, default=0)
    s.add_argument("--payload")
    a = p.parse_args()
    return {"serve": cmd_serve, "get": cmd_get, "udp": cmd_udp, "inject": cmd_inject}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
