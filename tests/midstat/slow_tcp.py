#!/usr/bin/env python3
"""One TCP connection that walks slowly through its states (stdlib only).

server --bind IP --port P --ready FILE: accepts one connection, reads until
  the client's FIN, waits 0.5 s, closes.
client --host IP --port P: connects, waits 0.5 s, sends, waits 0.5 s,
  shuts down its sending side (FIN), waits for the server's close, waits
  0.5 s; prints its own "ip:port" first."""
import argparse
import socket
import sys
import time


def server(a):
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(1)
    open(a.ready, "w").close()
    s.settimeout(30)
    c, _ = s.accept()
    c.settimeout(30)
    while c.recv(65536):
        pass
    time.sleep(0.5)
    c.close()
    s.close()


def client(a):
    c = socket.create_connection((a.host, a.port), timeout=30)
    ip, port = c.getsockname()[:2]
    print(f"{ip}:{port}", flush=True)
    time.sleep(0.5)
    c.sendall(b"hello midstat\n" * 10)
    time.sleep(0.5)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    time.sleep(0.5)
    c.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--ready", required=True)
    c = sub.add_parser("client")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    server(a) if a.cmd == "server" else client(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
