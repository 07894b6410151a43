#!/usr/bin/env python3
"""Traffic endpoints for the inline tests (standard library only).

  xfer.py serve --bind ADDR --port P --dir D [--ready FILE]
      HTTP/1.1 server: GET serves files from D, PUT stores the body in
      D/uploads/<name> and answers with its sha256. Threaded, runs until killed.
  xfer.py probe HOST PORT [--timeout S]
      Retries a TCP connect until it succeeds (exit 0) or S seconds pass (exit 1).
  xfer.py get URL [--sha256 HEX] [--timeout S] [-n N]
      Downloads URL N times concurrently; prints one line per download and
      exits 0 only if every download completed and matched HEX.
  xfer.py put URL FILE [--timeout S]
      Uploads FILE with PUT; exit 0 if the server's sha256 matches the file's.
  xfer.py tel SOCKET CMD [CMD...]
      Queries a DPDK telemetry socket (SOCK_SEQPACKET); prints one JSON object
      {CMD: reply} with every reply. Exit 1 when a reply is null (a command
      not registered yet: mospipe registers its own once its ports are open).
"""
import argparse
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.request


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test prints its own lines
        pass

    def do_PUT(self):
        name = os.path.basename(self.path.rstrip("/")) or "upload"
        length = int(self.headers.get("Content-Length", "0"))
        updir = os.path.join(self.directory, "uploads")
        os.makedirs(updir, exist_ok=True)
        h = hashlib.sha256()
        left = length
        with open(os.path.join(updir, name), "wb") as f:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
        body = (h.hexdigest() + "\n").encode()
        self.send_response(201 if left == 0 else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def cmd_serve(a):
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET

    class Server(http.server.ThreadingHTTPServer):
        address_family = fam
        daemon_threads = True
        allow_reuse_address = True
        # socketserver's listen backlog is 5: hundreds of concurrent
        # connects then lose SYNs and wait out 1-63 s of SYN backoff.
        request_queue_size = 1024

    def handler(*args, **kw):
        return Handler(*args, directory=a.dir, **kw)

    srv = Server((a.bind, a.port), handler)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    srv.serve_forever()


def cmd_probe(a):
    deadline = time.monotonic() + a.timeout
    while True:
        try:
            with socket.create_connection((a.host, a.port), timeout=1.0):
                return 0
        except OSError:
            if time.monotonic() >= deadline:
                return 1
            time.sleep(0.2)


def cmd_get(a):
    results = [None] * a.n

    def one(i):
        t0 = time.monotonic()
        try:
            h = hashlib.sha256()
            size = 0
            with urllib.request.urlopen(a.url, timeout=a.timeout) as r:
                for chunk in iter(lambda: r.read(1 << 16), b""):
                    h.update(chunk)
                    size += len(chunk)
            results[i] = (h.hexdigest(), size, time.monotonic() - t0, None)
        except Exception as e:  # reported, not raised: every download is checked
            results[i] = (None, 0, time.monotonic() - t0, repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(a.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = True
    for i, (digest, size, secs, err) in enumerate(results):
        good = err is None and (a.sha256 is None or digest == a.sha256)
        ok &= good
        print(f"get[{i}] {'ok' if good else 'BAD'} bytes={size} secs={secs:.2f}"
              f" sha256={digest} err={err}")
    return 0 if ok else 1


def cmd_put(a):
    with open(a.file, "rb") as f:
        data = f.read()
    want = hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(a.url, data=data, method="PUT")
    try:
        with urllib.request.urlopen(req, timeout=a.timeout) as r:
            got = r.read().decode().strip()
    except Exception as e:
        print(f"put BAD err={e!r}")
        return 1
    print(f"put {'ok' if got == want else 'BAD'} bytes={len(data)} sent={want} server={got}")
    return 0 if got == want else 1


def tel_query(path, cmds, timeout=3.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(timeout)
    s.connect(path)
    out = {}
    try:
        hello = json.loads(s.recv(1 << 16).decode())
        bufsz = int(hello.get("max_output_len", 1 << 16))
        for c in cmds:
            s.send(c.encode())
            reply = json.loads(s.recv(bufsz + 1024).decode())
            out[c] = reply.get(c.split(",")[0], reply)
    finally:
        s.close()
    return out


def cmd_tel(a):
    try:
        out = tel_query(a.socket, a.cmd)
    except (OSError, ValueError) as e:
        print(f"telemetry: {a.socket}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    # DPDK's telemetry answers a command nobody registered with null, and
    # its socket is up as soon as EAL is, before mospipe registers its
    # commands once the ports are started: null is "not up yet", and a
    # wait on it must not end there (it did: senders started before the
    # box's ports were open, and their first frames were not the box's).
    missing = [c for c, v in out.items() if v is None]
    if missing:
        print(f"telemetry: {a.socket}: {' '.join(missing)}: not registered (yet)", file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--ready")
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("probe")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--timeout", type=float, default=20.0)
    s.set_defaults(fn=cmd_probe)
    s = sub.add_parser("get")
    s.add_argument("url")
    s.add_argument("--sha256")
    s.add_argument("--timeout", type=float, default=30.0)
    s.add_argument("-n", type=int, default=1)
    s.set_defaults(fn=cmd_get)
    s = sub.add_parser("put")
    s.add_argument("url")
    s.add_argument("file")
    s.add_argument("--timeout", type=float, default=30.0)
    s.set_defaults(fn=cmd_put)
    s = sub.add_parser("tel")
    s.add_argument("socket")
    s.add_argument("cmd", nargs="+")
    s.set_defaults(fn=cmd_tel)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
