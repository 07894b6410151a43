#!/usr/bin/env python3
"""Endpoints of the inline bench (bench/inline.py), standard library only.

  loadgen.py serve --bind ADDR --port P --file F [--ready FILE]
      One threaded TCP server on P:
        "D\\n"      sends F (the download)
        "S n\\n"    sends n bytes of F (a short request, the churn)
        "E\\n"      echoes whatever follows (the latency probe)
        "U\\n"      reads until EOF, then answers the byte count (the bulk)
  loadgen.py dl HOST P --file F -n N [--timeout S] [--ping SECS]
      N concurrent downloads of F, each checked by sha256 against F; with
      --ping, a 64-byte echo every millisecond on one more connection while
      they run. Prints one JSON object: ok, n, secs, rtt_us (sorted).
  loadgen.py churn HOST P -n N -c C [--bytes B]
      N short connections (connect, request B bytes, read them, close), C at
      a time. Prints JSON: ok, n, secs, conn_s, lat_us (each one's time).
  loadgen.py bulk HOST P --flows K --secs S [--mbps R] [--ping]
      K uploads for S seconds each (paced to R Mbit/s in all with --mbps);
      prints JSON: bytes the server counted, secs, gbps (and rtt_us with
      --ping, as dl takes them).
"""
import argparse
import hashlib
import json
import socket
import socketserver
import sys
import threading
import time


def read_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(1 << 16, n - len(b)))
        if not c:
            break
        b += c
    return bytes(b)


def cmd_serve(a):
    data = open(a.file, "rb").read()

    class H(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            f = s.makefile("rb")
            line = f.readline()
            if line == b"D\n":
                s.sendall(data)
            elif line.startswith(b"S "):
                s.sendall(data[: int(line[2:])])
            elif line == b"E\n":
                while True:
                    c = f.read1(4096)  # what readline buffered first
                    if not c:
                        break
                    s.sendall(c)
            elif line == b"U\n":
                total = 0
                while True:
                    c = f.read1(1 << 18)
                    if not c:
                        break
                    total += len(c)
                s.sendall(b"%d\n" % total)
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    class S(socketserver.ThreadingTCPServer):
        allow_reuse_address = True
        daemon_threads = True
        request_queue_size = 4096

    srv = S((a.bind, a.port), H)
    if a.ready:
        open(a.ready, "w").close()
    srv.serve_forever()


def connect(host, port, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def start_ping(a, stop, rtts):
    """With --ping: a 64-byte echo every millisecond on one more connection
    until stop is set, each round trip appended to rtts (us)."""
    if not a.ping:
        return None

    def ping():
        try:
            s = connect(a.host, a.port, 5)
            s.sendall(b"E\n")
            msg = b"x" * 64
            while not stop.is_set():
                t0 = time.perf_counter()
                s.sendall(msg)
                if len(read_exact(s, 64)) != 64:
                    break
                rtts.append((time.perf_counter() - t0) * 1e6)
                time.sleep(0.001)
            s.close()
        except OSError:
            pass

    t = threading.Thread(target=ping, daemon=True)
    t.start()
    time.sleep(0.2)  # the idle RTT first
    return t


def run_all(fn, n, join_timeout=None, ping=None):
    """Runs fn(i) for i < n on threads at once, waits for them (join_timeout
    each), then stops the echo probe (ping: (thread, stop event) or None).
    @return the seconds they took."""
    th = [threading.Thread(target=fn, args=(i,), daemon=True) for i in range(n)]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join(join_timeout)
    secs = time.perf_counter() - t0
    if ping:
        ping[1].set()
        if ping[0]:
            ping[0].join(5)
    return secs


def cmd_dl(a):
    want = hashlib.sha256(open(a.file, "rb").read()).hexdigest()
    size = len(open(a.file, "rb").read())
    ok = [0] * a.n
    stop = threading.Event()
    rtts = []

    def one(i):
        try:
            s = connect(a.host, a.port, a.timeout)
            s.sendall(b"D\n")
            h = hashlib.sha256()
            got = 0
            while got < size:
                c = s.recv(1 << 16)
                if not c:
                    break
                h.update(c)
                got += len(c)
            s.close()
            ok[i] = int(got == size and h.hexdigest() == want)
        except OSError:
            pass

    secs = run_all(one, a.n, a.timeout + 5, (start_ping(a, stop, rtts), stop))
    print(json.dumps({"ok": sum(ok), "n": a.n, "secs": round(secs, 3), "rtt_us": sorted(round(r, 1) for r in rtts)}))


def cmd_churn(a):
    lat = []
    okc = [0]
    lock = threading.Lock()
    todo = iter(range(a.n))

    def worker(_):
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            t0 = time.perf_counter()
            try:
                s = connect(a.host, a.port, 10)
                s.sendall(b"S %d\n" % a.bytes)
                got = len(read_exact(s, a.bytes))
                s.close()
                good = got == a.bytes
            except OSError:
                good = False
            dt = (time.perf_counter() - t0) * 1e6
            with lock:
                if good:
                    okc[0] += 1
                    lat.append(dt)

    secs = run_all(worker, a.c)
    print(json.dumps({"ok": okc[0], "n": a.n, "secs": round(secs, 3), "conn_s": round(okc[0] / secs, 1),
                      "lat_us": sorted(round(x, 1) for x in lat)}))


def cmd_bulk(a):
    total = [0] * a.flows
    buf = b"\0" * (1 << 18)
    # Paced (--mbps, all flows together): each flow sends 64 KiB whenever it
    # is behind its share of the schedule.
    per = a.mbps * 1e6 / 8 / a.flows if a.mbps else 0
    chunk = buf[: 1 << 16] if per else buf
    stop = threading.Event()
    rtts = []

    def one(i):
        try:
            s = connect(a.host, a.port, 30)
            s.sendall(b"U\n")
            t0 = time.perf_counter()
            end = t0 + a.secs
            sent = 0
            while True:
                now = time.perf_counter()
                if now >= end:
                    break
                if per and sent > per * (now - t0):
                    time.sleep(0.0002)
                    continue
                s.sendall(chunk)
                sent += len(chunk)
            s.shutdown(socket.SHUT_WR)
            total[i] = int(s.makefile("rb").readline() or b"0")
            s.close()
        except (OSError, ValueError):
            pass

    secs = run_all(one, a.flows, a.secs + 60, (start_ping(a, stop, rtts), stop))
    print(json.dumps({"bytes": sum(total), "flows": a.flows, "secs": round(secs, 3),
                      "gbps": round(sum(total) * 8 / secs / 1e9, 3), "rtt_us": sorted(round(r, 1) for r in rtts)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--ready")
    for name in ("dl", "churn", "bulk"):
        s = sub.add_parser(name)
        s.add_argument("host")
        s.add_argument("port", type=int)
        if name == "dl":
            s.add_argument("--file", required=True)
            s.add_argument("-n", type=int, default=1)
            s.add_argument("--timeout", type=float, default=60)
            s.add_argument("--ping", action="store_true")
        elif name == "churn":
            s.add_argument("-n", type=int, default=1000)
            s.add_argument("-c", type=int, default=50)
            s.add_argument("--bytes", type=int, default=100)
        else:
            s.add_argument("--flows", type=int, default=4)
            s.add_argument("--secs", type=float, default=5)
            s.add_argument("--mbps", type=float, default=0, help="paced: this many Mbit/s in all (0: as fast as it can)")
            s.add_argument("--ping", action="store_true")
    a = ap.parse_args()
    {"serve": cmd_serve, "dl": cmd_dl, "churn": cmd_churn, "bulk": cmd_bulk}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
