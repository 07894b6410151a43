#!/usr/bin/env python3
"""TCP endpoints that keep every byte their application read, for checking
streamdump's files against what the receivers really got (stdlib only).

  peer.py serve --bind ADDR --port P --dir D [--ready FILE]
      Threaded server. Per connection: reads until EOF and stores every byte
      read in D/<id>.srv_rx (id = the first line's first word), then sends
      the response the first line asks for and closes. Runs until killed.
  peer.py get HOST PORT --id ID --up N --down N --seed S --dir D [--timeout T]
      Connects, sends "ID DOWN SEED\\n" and N seeded random bytes, shuts its
      side down, reads until EOF into D/ID.cli_rx, and writes D/ID.json with
      the client's address and port. Exit 0 when the response is complete.

Content is random.Random(seed) bytes (request: seed, response: seed + 1),
so the bytes each side sent are known to the test as well.
"""
import argparse
import json
import os
import random
import socket
import sys
import threading


def blob(seed, n):
    return random.Random(seed).randbytes(n)


def serve_one(conn, d):
    rx = bytearray()
    conn.settimeout(120)
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            rx += b
        first = bytes(rx.split(b"\n", 1)[0]).decode("ascii", "replace").split()
        cid = first[0] if first else "noid"
        with open(os.path.join(d, os.path.basename(cid) + ".srv_rx"), "wb") as f:
            f.write(rx)
        if len(first) >= 3:
            conn.sendall(blob(int(first[2]) + 1, int(first[1])))
    except OSError as e:
        print(f"peer serve: {e}", file=sys.stderr)
    finally:
        conn.close()


def cmd_serve(a):
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(64)
    if a.ready:
        open(a.ready, "w").close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve_one, args=(c, a.dir), daemon=True).start()


def cmd_get(a):
    fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(a.timeout)
    s.connect((a.host, a.port))
    me = s.getsockname()
    req = f"{a.id} {a.down} {a.seed}\n".encode() + blob(a.seed, a.up)
    s.sendall(req)
    s.shutdown(socket.SHUT_WR)
    rx = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            break
        rx += b
    s.close()
    with open(os.path.join(a.dir, f"{a.id}.cli_rx"), "wb") as f:
        f.write(rx)
    with open(os.path.join(a.dir, f"{a.id}.json"), "w") as f:
        json.dump({"id": a.id, "cli": me[0], "cport": me[1], "srv": a.host, "sport": a.port,
                   "sent": len(req), "got": len(rx)}, f)
    ok = rx == blob(a.seed + 1, a.down)
    print(f"peer get {a.id}: sent {len(req)}, got {len(rx)} of {a.down} bytes{'' if ok else ' (WRONG)'}")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--ready")
    g = sub.add_parser("get")
    g.add_argument("host")
    g.add_argument("port", type=int)
    g.add_argument("--id", required=True)
    g.add_argument("--up", type=int, required=True)
    g.add_argument("--down", type=int, required=True)
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--dir", required=True)
    g.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    sys.exit(cmd_serve(a) if a.cmd == "serve" else cmd_get(a))


if __name__ == "__main__":
    main()
