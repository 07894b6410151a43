#!/usr/bin/env python3
"""The receiving application of the evasion cases (stdlib only): a plain
Linux TCP server with default socket options (SO_OOBINLINE off) that reads
every connection until EOF or an error and keeps the bytes it read.

  server.py --bind ADDR --port P --small-port P2 --dir D [--ready FILE]

Per connection: D/<client port>.srv (the bytes read) and D/<client
port>.end ("eof" or the error). The second port has a small receive buffer
(SO_RCVBUF 2048 before listen), so that its window is small enough for the
window cases to step over. Runs until killed.
"""
import argparse
import os
import socket
import threading


def serve_one(conn, peer, d):
    rx = bytearray()
    end = "eof"
    conn.settimeout(60)
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            rx += b
    except OSError as e:
        end = f"error {e.errno} {os.strerror(e.errno) if e.errno else e}"
    finally:
        conn.close()
    base = os.path.join(d, str(peer[1]))
    with open(base + ".srv", "wb") as f:
        f.write(rx)
    with open(base + ".end", "w") as f:
        f.write(end + "\n")


def listen(addr, port, rcvbuf):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((addr, port))
    s.listen(128)
    return s


def accept_loop(s, d):
    while True:
        c, peer = s.accept()
        threading.Thread(target=serve_one, args=(c, peer, d), daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--small-port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ready")
    a = ap.parse_args()
    main_s = listen(a.bind, a.port, 0)
    small_s = listen(a.bind, a.small_port, 2048)
    threading.Thread(target=accept_loop, args=(small_s, a.dir), daemon=True).start()
    if a.ready:
        open(a.ready, "w").close()
    accept_loop(main_s, a.dir)


if __name__ == "__main__":
    main()
