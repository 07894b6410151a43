#!/usr/bin/env python3
"""Endpoints of the ids inline test (standard library only).

  peer.py serve --bind ADDR --port P --dir D --file F --ready FILE
      Per connection, the first line says what to do:
        "PUT\\n" + bytes: read to EOF, storing what arrives in D/recv-<port>.bin
                         as it arrives; answer "OK <sha256>\\n" and close;
        "GET\\n": send F, then close.
      Each connection's outcome (eof, reset, timeout, sent) is appended to
      D/server.log as "port=<client port> <mode> <outcome> bytes=<n>".
  peer.py put HOST PORT FILE [--timeout S]
      Uploads FILE; exit 0 when the server's sha256 matches, 3 when the
      connection was reset, 2 on a timeout, 1 otherwise.
  peer.py get HOST PORT --out FILE [--timeout S]
      Downloads into FILE; exit 0 at a clean end, 3 reset, 2 timeout.
Each client prints one line: its local port, outcome and byte count.
"""
import argparse
import hashlib
import os
import socket
import sys
import threading


def serve(a):
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.bind, a.port))
    srv.listen(64)
    lock = threading.Lock()
    with open(a.file, "rb") as f:
        blob = f.read()
    open(a.ready, "w").close()

    def log(line):
        with lock, open(os.path.join(a.dir, "server.log"), "a") as f:
            f.write(line + "\n")

    def one(c, peer):
        c.settimeout(30)
        port = peer[1]
        mode, outcome, n = "?", "eof", 0
        data = bytearray()
        try:
            first = b""
            while not first.endswith(b"\n") and len(first) < 16:
                d = c.recv(1)
                if not d:
                    break
                first += d
            mode = first.strip().decode("latin-1") or "?"
            if mode == "PUT":
                # Written as it arrives, so a test can look while the
                # connection is still open.
                with open(os.path.join(a.dir, "recv-%d.bin" % port), "wb") as f:
                    while True:
                        d = c.recv(65536)
                        if not d:
                            break
                        data += d
                        f.write(d)
                        f.flush()
                c.sendall(b"OK " + hashlib.sha256(data).hexdigest().encode() + b"\n")
                n = len(data)
            elif mode == "GET":
                c.sendall(blob)
                n = len(blob)
                outcome = "sent"
        except ConnectionResetError:
            outcome = "reset"
        except socket.timeout:
            outcome = "timeout"
        except OSError as e:
            outcome = "error:%s" % e.errno
        if mode == "PUT":
            n = len(data)
        log("port=%d %s %s bytes=%d" % (port, mode, outcome, n))
        c.close()

    while True:
        c, peer = srv.accept()
        threading.Thread(target=one, args=(c, peer), daemon=True).start()


def connect(host, port, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def put(a):
    with open(a.file, "rb") as f:
        data = f.read()
    port, got = 0, b""
    try:
        s = connect(a.host, a.port, a.timeout)
        port = s.getsockname()[1]
        s.sendall(b"PUT\n" + data)
        s.shutdown(socket.SHUT_WR)
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except ConnectionResetError:
        print("port=%d reset sent<=%d" % (port, len(data)))
        return 3
    except socket.timeout:
        print("port=%d timeout" % port)
        return 2
    except OSError as e:
        print("port=%d error %s" % (port, e))
        # ECONNRESET, EPIPE, or ENOTCONN from shutdown() once reset
        return 3 if e.errno in (104, 32, 107) else 1
    ok = got.strip() == b"OK " + hashlib.sha256(data).hexdigest().encode()
    print("port=%d %s bytes=%d" % (port, "ok" if ok else "mismatch (%r)" % got[:80], len(data)))
    return 0 if ok else 1


def get(a):
    port, n, rc = 0, 0, 0
    with open(a.out, "wb") as f:
        try:
            s = connect(a.host, a.port, a.timeout)
            port = s.getsockname()[1]
            s.sendall(b"GET\n")
            while True:
                d = s.recv(65536)
                if not d:
                    break
                f.write(d)
                n += len(d)
            outcome = "eof"
        except ConnectionResetError:
            outcome, rc = "reset", 3
        except socket.timeout:
            outcome, rc = "timeout", 2
    print("port=%d %s bytes=%d" % (port, outcome, n))
    return rc


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--ready", required=True)
    p = sub.add_parser("put")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("file")
    p.add_argument("--timeout", type=float, default=20)
    g = sub.add_parser("get")
    g.add_argument("host")
    g.add_argument("port", type=int)
    g.add_argument("--out", required=True)
    g.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    return {"serve": serve, "put": put, "get": get}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
