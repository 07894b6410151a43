#!/usr/bin/env python3
"""Endpoints and data for tests/inline/verdict_test.sh (standard library only).

  verdict_peer.py mkdata DIR [--size N] [--record R] [--seed S]
      Writes DIR/orig.bin (random bytes with the marker SECRET!! planted at
      known offsets: inside records, at record edges, twice in a row, and
      across record boundaries, plus near misses) and DIR/redacted.bin, what
      a client must receive when every marker lying wholly inside one record
      is replaced by REDACTED and markers across two records are left alone.
      Prints the counts (markers inside records, markers across records).
  verdict_peer.py serve --bind ADDR --ports P[,P...] --file F --record R
                        --log FILE [--ready FILE]
      TCP server on each port: reads one request line, logs it with the
      peer's address, sends F in records of R bytes, each with MSG_EOR (Linux
      starts a new segment after an EOR skb and never merges it with the
      next, also on retransmission), so that with R <= MSS every record is
      exactly one TCP segment; then closes. Runs until killed.
  verdict_peer.py get HOST PORT --request LINE [--out FILE]
                      [--connect-timeout S] [--timeout S]
      Connects, sends LINE + newline, reads until EOF. Prints one line.
      Exit 0: complete (EOF); 2: connect timed out; 3: no EOF within
      --timeout (stall); 4: connection reset or refused; 1: other error.
"""
import argparse
import hashlib
import os
import random
import socket
import sys
import threading
import time

MARK = b"SECRET!!"
REPL = b"REDACTED"


def cmd_mkdata(a):
    rng = random.Random(a.seed)
    n = a.size // a.record
    R = a.record
    buf = bytearray(rng.randbytes(n * R))
    used = bytearray(n * R)  # 1 where something was planted

    def plant(pos, what):
        if pos < 0 or pos + len(what) > len(buf) or any(used[pos:pos + len(what)]):
            return False
        buf[pos:pos + len(what)] = what
        used[pos:pos + len(what)] = b"\x01" * len(what)
        return True

    for i in range(n):
        base = i * R
        if i % 16 == 5 and i + 1 < n:  # across the boundary with record i+1
            k = 1 + (i // 16) % 7     # 1..7 bytes in record i
            plant(base + R - k, MARK)
        if i % 4 == 0:                 # record edges
            plant(base, MARK)
            plant(base + R - 8, MARK)
        if i % 8 == 3:                 # two in a row
            plant(base + 100 + i % 200, MARK + MARK)
        if i % 10 == 7:                # near misses, never rewritten
            plant(base + 400 + i % 100, b"SECRET!?")
            plant(base + 600 + i % 100, b"SECRET! ")
        plant(base + 8 + (i * 131) % (R - 24), MARK)
    orig = bytes(buf)
    # The app's rule, segment by segment: non-overlapping, left to right.
    red = b"".join(orig[i:i + R].replace(MARK, REPL) for i in range(0, len(orig), R))
    total = orig.count(MARK)
    inside = sum(orig[i:i + R].count(MARK) for i in range(0, len(orig), R))
    os.makedirs(a.dir, exist_ok=True)
    with open(os.path.join(a.dir, "orig.bin"), "wb") as f:
        f.write(orig)
    with open(os.path.join(a.dir, "redacted.bin"), "wb") as f:
        f.write(red)
    assert red.count(MARK) == total - inside and red.count(REPL) == inside + orig.count(REPL)
    print(f"size={len(orig)} records={n} record={R} markers={total} inside={inside} across={total - inside}")
    return 0


def serve_conn(c, peer, port, data, record, log, lock):
    try:
        c.settimeout(10)
        req = b""
        while not req.endswith(b"\n") and len(req) < 4096:
            chunk = c.recv(4096)
            if not chunk:
                break
            req += chunk
        with lock:
            log.write(f"port={port} peer={peer[0]} request={req.decode(errors='replace').strip()!r}\n")
            log.flush()
        c.settimeout(60)
        for off in range(0, len(data), record):
            c.sendall(data[off:off + record], socket.MSG_EOR)
        c.shutdown(socket.SHUT_WR)
        # Wait for the client's FIN so that the close is orderly.
        while c.recv(4096):
            pass
    except OSError:
        pass
    finally:
        c.close()


def cmd_serve(a):
    with open(a.file, "rb") as f:
        data = f.read()
    log = open(a.log, "a")
    lock = threading.Lock()
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    socks = []
    for p in a.ports.split(","):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind, int(p)))
        s.listen(16)
        socks.append((s, int(p)))

    def loop(s, port):
        while True:
            c, peer = s.accept()
            threading.Thread(target=serve_conn, args=(c, peer, port, data, a.record, log, lock), daemon=True).start()

    for s, p in socks:
        threading.Thread(target=loop, args=(s, p), daemon=True).start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    while True:
        time.sleep(3600)


def cmd_get(a):
    t0 = time.monotonic()
    h = hashlib.sha256()
    size = 0
    out = open(a.out, "wb") if a.out else None

    def done(rc, what):
        if out:
            out.close()
        print(f"get {a.host}:{a.port} {what} bytes={size} secs={time.monotonic() - t0:.2f} sha256={h.hexdigest()}")
        return rc

    try:
        s = socket.create_connection((a.host, a.port), timeout=a.connect_timeout)
    except socket.timeout:
        return done(2, "connect-timeout")
    except (ConnectionRefusedError, ConnectionResetError) as e:
        return done(4, f"connect-error={e!r}")
    except OSError as e:
        return done(1, f"connect-error={e!r}")
    deadline = t0 + a.timeout
    try:
        s.sendall(a.request.encode() + b"\n")
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return done(3, "stall")
            s.settimeout(left)
            try:
                chunk = s.recv(1 << 16)
            except socket.timeout:
                return done(3, "stall")
            if not chunk:
                return done(0, "complete")
            h.update(chunk)
            size += len(chunk)
            if out:
                out.write(chunk)
    except ConnectionResetError as e:
        return done(4, f"reset={e!r}")
    except OSError as e:
        return done(1, f"error={e!r}")
    finally:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("mkdata")
    s.add_argument("dir")
    s.add_argument("--size", type=int, default=1 << 20)
    s.add_argument("--record", type=int, default=1024)
    s.add_argument("--seed", type=int, default=7)
    s.set_defaults(fn=cmd_mkdata)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--ports", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--record", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--ready")
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("get")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--request", required=True)
    s.add_argument("--out")
    s.add_argument("--connect-timeout", type=float, default=3.0)
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(fn=cmd_get)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
