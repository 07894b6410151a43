#!/usr/bin/env python3
"""TCP endpoints for acct's real-TCP tests (standard library only). Each end
reports how many bytes its application read: the truth acct's charges are
checked against (a retransmitted byte reaches the application once).

  peer.py serve --bind ADDR --port P --ready FILE --log FILE
      Per connection, the first line says what to do: "DOWN n" -> send n
      bytes and close; "UP" -> read to EOF, answer "OK <bytes>" and close;
      "HOLD" -> read until EOF or reset. Appends one JSON line per
      connection to FILE: {"peer": [ip, port], "read": bytes the server
      application read, "sent": bytes it sent, "reset": bool, "heads": the
      set of distinct byte values it read after the first line (HOLD)}.
  peer.py get HOST PORT N [--timeout S]
      Downloads N bytes; prints {"port": local port, "sent": .., "read": ..}.
  peer.py put HOST PORT N [--timeout S]
      Uploads N bytes; prints the same.
  peer.py attack HOST PORT --dev IF [--timeout S]
      The free-riding attack from the client's namespace: sends "HOLD\\n"
      and 1000 x "A", captures that data frame as it leaves IF (AF_PACKET),
      then sends it again with 1000 x "B" in its place (same sequence
      numbers: a retransmission with other payload). Prints {"port": ..,
      "reset": whether the connection was reset within S seconds, "sent":
      .., "injected": 1}.
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time


def pattern(n):
    """n deterministic bytes (a counter through a multiplier: not compressible
    into a repeated short period, so a shifted byte would show)."""
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 131 + (i >> 8) * 7) & 0xFF
    return bytes(out)


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def read_line(c):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < 64:
        b = c.recv(1)
        if not b:
            break
        buf += b
    return buf


def serve_one(c, peer, log, lock):
    rec = {"peer": [peer[0], peer[1]], "read": 0, "sent": 0, "reset": False, "heads": []}
    heads = set()
    try:
        line = read_line(c)
        rec["read"] += len(line)
        cmd = line.split()
        if cmd and cmd[0] == b"DOWN":
            data = pattern(int(cmd[1]))
            c.sendall(data)
            rec["sent"] += len(data)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        elif cmd and cmd[0] in (b"UP", b"HOLD"):
            while True:
                b = c.recv(65536)
                if not b:
                    break
                rec["read"] += len(b)
                heads.update(b)
            if cmd[0] == b"UP":
                msg = b"OK %d\n" % (rec["read"] - len(line))
                c.sendall(msg)
                rec["sent"] += len(msg)
    except ConnectionResetError:
        rec["reset"] = True
    except OSError as e:
        rec["error"] = str(e)
    finally:
        c.close()
    rec["heads"] = sorted(heads)
    with lock:
        with open(log, "a") as f:
            f.write(json.dumps(rec) + "\n")


def cmd_serve(a):
    s = socket.socket(family(a.bind), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(64)
    lock = threading.Lock()
    with open(a.ready, "w") as f:
        f.write("ready\n")
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve_one, args=(c, peer, a.log, lock), daemon=True).start()


def connect(host, port, timeout):
    c = socket.socket(family(host), socket.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect((host, port))
    return c


def cmd_get(a):
    c = connect(a.host, a.port, a.timeout)
    req = b"DOWN %d\n" % a.n
    c.sendall(req)
    got = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += len(b)
    print(json.dumps({"port": c.getsockname()[1], "sent": len(req), "read": got}))
    c.close()
    return 0 if got == a.n else 1


def cmd_put(a):
    c = connect(a.host, a.port, a.timeout)
    data = b"UP\n" + pattern(a.n)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    print(json.dumps({"port": c.getsockname()[1], "sent": len(data), "read": len(got), "reply": got.decode()}))
    c.close()
    return 0 if got == b"OK %d\n" % a.n else 1


def tcp_payload_off(fr):
    """Offset of the TCP payload and of the IP/TCP headers in an Ethernet frame."""
    et = struct.unpack("!H", fr[12:14])[0]
    l3 = 14
    if et == 0x0800:
        ihl = (fr[l3] & 15) * 4
        proto, l4 = fr[l3 + 9], l3 + ihl
    elif et == 0x86DD:
        proto, l4 = fr[l3 + 6], l3 + 40
    else:
        return None
    if proto != 6:
        return None
    return l3, l4, l4 + (fr[l4 + 12] >> 4) * 4


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def with_payload(fr, new):
    """The frame with its TCP payload replaced (same length) and checksums fixed."""
    l3, l4, pay = tcp_payload_off(fr)
    fr = bytearray(fr[:pay] + new)
    tcp = fr[l4:]
    tcp[16:18] = b"\0\0"
    if fr[l3] >> 4 == 4:
        ph = bytes(fr[l3 + 12 : l3 + 20]) + struct.pack("!BBH", 0, 6, len(tcp))
    else:
        ph = bytes(fr[l3 + 8 : l3 + 40]) + struct.pack("!I3xB", len(tcp), 6)
    struct.pack_into("!H", tcp, 16, csum(ph + bytes(tcp)))
    fr[l4:] = tcp
    return bytes(fr)


def cmd_attack(a):
    sn = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sn.bind((a.dev, 0))
    sn.settimeout(0.2)
    c = connect(a.host, a.port, a.timeout)
    port = c.getsockname()[1]
    first = b"A" * 1000
    c.sendall(b"HOLD\n")
    time.sleep(0.2)
    c.sendall(first)
    frame, deadline = None, time.time() + a.timeout
    while frame is None and time.time() < deadline:
        try:
            fr, meta = sn.recvfrom(65535)
        except socket.timeout:
            continue
        if meta[2] != socket.PACKET_OUTGOING:
            continue
        o = tcp_payload_off(fr)
        if o and struct.unpack("!H", fr[o[1] : o[1] + 2])[0] == port and fr[o[2] :] == first:
            frame = fr
    if frame is None:
        print(json.dumps({"port": port, "error": "did not see the data frame leave %s" % a.dev}))
        return 1
    time.sleep(0.3)  # the server has acknowledged it: what follows is a retransmission
    sn.send(with_payload(frame, b"B" * 1000))
    reset = False
    c.settimeout(a.timeout)
    try:
        c.recv(100)  # EOF or data: not reset
    except ConnectionResetError:
        reset = True
    except socket.timeout:
        reset = False
    print(json.dumps({"port": port, "reset": reset, "sent": 5 + len(first), "injected": 1}))
    c.close()
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--log", required=True)
    for name in ("get", "put"):
        s = sub.add_parser(name)
        s.add_argument("host")
        s.add_argument("port", type=int)
        s.add_argument("n", type=int)
        s.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("attack")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--dev", required=True)
    s.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    return {"serve": cmd_serve, "get": cmd_get, "put": cmd_put, "attack": cmd_attack}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
