#!/usr/bin/env python3
"""A mix of concurrent TCP connections with known endings, for checking a
middlebox's flow log against what the endpoints know (standard library only).

  tcpmix.py serve --bind ADDR [--bind ADDR6] --port P --probe-port Q --log FILE [--ready FILE]
      Accepts connections on ADDR:P (each carries a plan in its first line)
      and on ADDR:Q (readiness probes: accepted and closed, not logged).
      Appends one JSON line per connection to FILE when the connection
      reaches the end of its plan. Runs until killed; sockets that the plan
      leaves open stay open until then.
  tcpmix.py run --srv4 ADDR --srv6 ADDR6 --port P --out FILE [--timeout S]
      Runs the built-in plan (PLAN below) concurrently, then writes a JSON list
      with one object per connection to FILE and sleeps until killed, holding
      the sockets the plan leaves open.
  tcpmix.py check --flow-log F --cli C --srv S --ss-cli X --ss-srv Y --probe-port Q
      Compares mospipe's flow log with the endpoints' records and the `ss -tan`
      snapshots; prints PASS:/FAIL: lines (counted by the caller).

Protocol of one connection: the client sends "ID KIND UP DOWN\\n" and UP
bytes; the server reads them and sends DOWN bytes; the client reads them.
Only then does the connection end, as KIND says:
  fin_c   client shutdown(SHUT_WR), reads EOF, closes; server reads EOF, closes
  fin_s   server shutdown(SHUT_WR), reads EOF, closes; client reads EOF, closes
  rst_c   client closes with SO_LINGER 0 (RST); server waits for ECONNRESET
  rst_s   client sends "K"; server reads it, closes with SO_LINGER 0 (RST);
          client waits for ECONNRESET (if the RST is lost on the way, the
          client sends one byte "P" at a time to provoke a new one)
  half_c  client shutdown(SHUT_WR) and holds; server reads EOF and holds
  half_s  server shutdown(SHUT_WR) and holds; client reads EOF and holds
  open    both hold the connection, idle
Every endpoint counts the bytes its application sent and received.
"""
import argparse
import json
import os
import random
import socket
import struct
import sys
import threading
import time

HOLD = []  # sockets a plan leaves open: referenced until the process ends
HOLD_LOCK = threading.Lock()
DATA = b""


def ep(addr):
    """ip:port, or [ip]:port for IPv6 (the flow log's format)."""
    ip, port = addr[0], addr[1]
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def hold(s):
    with HOLD_LOCK:
        HOLD.append(s)


def recv_exact(s, n):
    got = 0
    while got < n:
        b = s.recv(min(n - got, 1 << 16))
        if not b:
            break
        got += len(b)
    return got


def send_all(s, n):
    """Sends n bytes of DATA; returns how many the application handed over."""
    sent = 0
    mv = memoryview(DATA)
    while sent < n:
        off = sent % len(DATA)
        sent += s.send(mv[off:off + min(n - sent, 1 << 16, len(DATA) - off)])
    return sent


def wait_eof(s, timeout):
    """Reads until EOF: returns ("eof", extra bytes) or ("reset"/"timeout"/...)."""
    s.settimeout(timeout)
    extra = 0
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                return "eof", extra
            extra += len(b)
    except ConnectionResetError:
        return "reset", extra
    except socket.timeout:
        return "timeout", extra


# ---- server ------------------------------------------------------------------

def serve_conn(c, log, lock):
    rec = {"cli": ep(c.getpeername()), "svr": ep(c.getsockname()), "sent": 0, "rcvd": 0}
    try:
        c.settimeout(30)
        line = b""
        while not line.endswith(b"\n") and len(line) < 200:
            b = c.recv(1)
            if not b:
                break
            line += b
        rec["rcvd"] += len(line)
        cid, kind, up, down = line.decode().split()
        up, down = int(up), int(down)
        rec.update(id=int(cid), kind=kind)
        rec["rcvd"] += recv_exact(c, up)
        rec["sent"] += send_all(c, down)
        how = "held"
        if kind == "fin_c":
            how, x = wait_eof(c, 30)
            rec["rcvd"] += x
            c.close()
        elif kind == "fin_s":
            c.shutdown(socket.SHUT_WR)
            how, x = wait_eof(c, 30)
            rec["rcvd"] += x
            c.close()
        elif kind == "rst_c":
            how, x = wait_eof(c, 5)
            rec["rcvd"] += x
            if how == "reset":
                c.close()
            else:
                hold(c)  # RST lost on the lossy link: keep quiet until the end
        elif kind == "rst_s":
            rec["rcvd"] += recv_exact(c, 1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
            how = "sent-rst"
        elif kind == "half_c":
            how, x = wait_eof(c, 30)
            rec["rcvd"] += x
            how += "-held"
            hold(c)
        elif kind == "half_s":
            c.shutdown(socket.SHUT_WR)
            how = "shut-held"
            hold(c)
        else:  # open
            hold(c)
        rec["how"] = how
    except Exception as e:  # recorded: the checker reports it
        rec["how"] = "error"
        rec["err"] = repr(e)
    with lock:
        log.write(json.dumps(rec) + "\n")
        log.flush()


def cmd_serve(a):
    global DATA
    DATA = os.urandom(1 << 20)
    lock = threading.Lock()
    log = open(a.log, "a")
    socks = []
    for addr in a.bind:
        for port, probe in ((a.port, False), (a.probe_port, True)):
            fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(128)
            socks.append((s, probe))

    def acceptor(s, probe):
        while True:
            c, _ = s.accept()
            if probe:
                c.close()
                continue
            threading.Thread(target=serve_conn, args=(c, log, lock), daemon=True).start()

    for s, probe in socks:
        threading.Thread(target=acceptor, args=(s, probe), daemon=True).start()
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    while True:
        time.sleep(3600)


# ---- client ------------------------------------------------------------------

# (kind, up, down, v6): downloads of 10 KB - 2 MB, some uploads, every ending.
PLAN = [
    ("fin_c", 0, 2 * 1024 * 1024, False),
    ("fin_c", 0, 1024 * 1024 + 17, False),
    ("fin_c", 0, 300 * 1024, False),
    ("fin_c", 0, 10 * 1024, False),
    ("fin_c", 700 * 1024 + 3, 1000, False),
    ("fin_c", 0, 512 * 1024, True),
    ("fin_c", 20000, 0, True),
    ("fin_s", 0, 1536 * 1024, False),
    ("fin_s", 0, 64 * 1024, False),
    ("fin_s", 400 * 1024, 10 * 1024, False),
    ("fin_s", 0, 200 * 1024, True),
    ("rst_c", 0, 800 * 1024, False),
    ("rst_c", 0, 10 * 1024, False),
    ("rst_c", 300 * 1024, 50 * 1024, True),
    ("rst_s", 0, 600 * 1024, False),
    ("rst_s", 100 * 1024, 10 * 1024, False),
    ("rst_s", 0, 40 * 1024, True),
    ("half_c", 0, 1024 * 1024, False),
    ("half_c", 250 * 1024, 30 * 1024, False),
    ("half_c", 0, 100 * 1024, True),
    ("half_s", 0, 700 * 1024, False),
    ("half_s", 50 * 1024, 15 * 1024, True),
    ("open", 0, 1200 * 1024, False),
    ("open", 500 * 1024, 0, False),
    ("open", 0, 80 * 1024, True),
]
# Reuse of a 4-tuple: the same client port for a rst_s connection and then,
# once that one is reset, a new connection (a new flow on the same tuple).
REUSE = [("rst_s", 0, 120 * 1024, False), ("fin_c", 0, 90 * 1024, False)]


def client_conn(cid, kind, up, down, srv, port, timeout, bind_port=None):
    rec = {"id": cid, "kind": kind, "up": up, "down": down, "sent": 0, "rcvd": 0, "ok": False}
    fam = socket.AF_INET6 if ":" in srv else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if bind_port is not None:
            s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", bind_port))
        s.settimeout(timeout)
        rec["t_start"] = time.time()
        s.connect((srv, port))
        rec["cli"], rec["svr"] = ep(s.getsockname()), ep(s.getpeername())
        hdr = f"{cid} {kind} {up} {down}\n".encode()
        s.sendall(hdr)
        rec["sent"] += len(hdr)
        rec["sent"] += send_all(s, up)
        rec["rcvd"] += recv_exact(s, down)
        ok = rec["rcvd"] == down
        how = "held"
        if kind == "fin_c":
            s.shutdown(socket.SHUT_WR)
            how, x = wait_eof(s, timeout)
            rec["rcvd"] += x
            s.close()
            ok &= how == "eof"
        elif kind == "fin_s":
            how, x = wait_eof(s, timeout)
            rec["rcvd"] += x
            s.close()
            ok &= how == "eof"
        elif kind == "rst_c":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            how = "sent-rst"
        elif kind == "rst_s":
            s.sendall(b"K")
            rec["sent"] += 1
            how, x = wait_eof(s, 2)
            rec["rcvd"] += x
            tries = 0
            while how == "timeout" and tries < 5:
                # The server's RST was lost after it left the server: its
                # socket is gone, so a new segment draws a new RST.
                try:
                    rec["sent"] += s.send(b"P")
                except ConnectionResetError:
                    how = "reset"
                    break
                how, x = wait_eof(s, 2)
                rec["rcvd"] += x
                tries += 1
            rec["provoked"] = tries
            s.close()
            ok &= how == "reset"
        elif kind == "half_c":
            s.shutdown(socket.SHUT_WR)
            how = "shut-held"
            hold(s)
        elif kind == "half_s":
            how, x = wait_eof(s, timeout)
            rec["rcvd"] += x
            ok &= how == "eof"
            how += "-held"
            hold(s)
        else:
            hold(s)
        rec["how"], rec["ok"] = how, ok
    except Exception as e:
        rec["how"], rec["err"] = "error", repr(e)
    rec["t_end"] = time.time()
    return rec


def cmd_run(a):
    global DATA
    DATA = os.urandom(1 << 20)
    recs = []
    lock = threading.Lock()
    jobs = [(i, p) for i, p in enumerate(PLAN)]
    random.Random(a.seed).shuffle(jobs)

    def one(cid, p):
        srv = a.srv6 if p[3] else a.srv4
        r = client_conn(cid, p[0], p[1], p[2], srv, a.port, a.timeout)
        with lock:
            recs.append(r)

    def reuse():
        base = len(PLAN)
        # A port picked by the kernel, then bound explicitly twice.
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((a.bind4, 0))
        port = t.getsockname()[1]
        t.close()
        for k, p in enumerate(REUSE):
            r = client_conn(base + k, p[0], p[1], p[2], a.srv4, a.port, a.timeout, bind_port=port)
            r["reuse"] = True
            with lock:
                recs.append(r)
            if not r["ok"]:
                break

    threads = [threading.Thread(target=one, args=j) for j in jobs]
    threads.append(threading.Thread(target=reuse))
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    recs.sort(key=lambda r: r["id"])
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(recs, f, indent=1)
    os.rename(tmp, a.out)
    while True:
        time.sleep(3600)


# ---- check -------------------------------------------------------------------

SS_MAP = {
    "ESTAB": "ESTABLISHED", "SYN-SENT": "SYN_SENT", "SYN-RECV": "SYN_RCVD",
    "FIN-WAIT-1": "FIN_WAIT_1", "FIN-WAIT-2": "FIN_WAIT_2", "TIME-WAIT": "TIME_WAIT",
    "CLOSE-WAIT": "CLOSE_WAIT", "LAST-ACK": "LAST_ACK", "CLOSING": "CLOSING", "LISTEN": "LISTEN",
}
KEYS = ("cli", "svr", "cli_state", "svr_state", "end", "first_ts", "last_ts", "midstream",
        "cli_pkts", "cli_bytes", "cli_missed", "cli_rexmit", "cli_rexmit_bytes",
        "svr_pkts", "svr_bytes", "svr_missed", "svr_rexmit", "svr_rexmit_bytes")
END_OF = {"fin_c": "fin", "fin_s": "fin", "rst_c": "rst", "rst_s": "rst",
          "half_c": "open", "half_s": "open", "open": "open"}


def read_ss(path):
    """{(local, peer): STATE} from `ss -tan` output."""
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0] in SS_MAP:
            out[(f[3], f[4])] = SS_MAP[f[0]]
    return out


def cmd_check(a):
    results = []

    def res(ok, name, details=()):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
        for d in list(details)[:40]:
            print(f"    {d}")

    cli = json.load(open(a.cli))
    srv = {}
    for line in open(a.srv):
        r = json.loads(line)
        if "id" in r:
            srv[r["id"]] = r
    log, bad = [], []
    for n, line in enumerate(open(a.flow_log), 1):
        try:
            r = json.loads(line)
            miss = [k for k in KEYS if k not in r]
            if miss:
                bad.append(f"line {n}: keys missing {miss}")
            log.append(r)
        except ValueError as e:
            bad.append(f"line {n}: not JSON ({e}): {line.strip()[:120]}")
    res(not bad and log, f"flow log: {len(log)} records, every line a JSON object with every key", bad)
    if bad:
        return 1
    ss_cli, ss_srv = read_ss(a.ss_cli), read_ss(a.ss_srv)

    # The endpoints did what the plan says.
    errs = []
    for c in cli:
        s = srv.get(c["id"])
        if not c.get("ok"):
            errs.append(f"id {c['id']} {c['kind']}: client {c.get('how')} rcvd={c['rcvd']}/{c['down']} err={c.get('err')}")
        elif s is None:
            errs.append(f"id {c['id']} {c['kind']} {c.get('cli')}: no server record")
        elif s.get("how") == "error" or s["rcvd"] != c["sent"] or s["sent"] != c["rcvd"]:
            errs.append(f"id {c['id']} {c['kind']} {c['cli']}: server {s.get('how')} {s.get('err', '')} "
                        f"sent={s['sent']} rcvd={s['rcvd']}, client sent={c['sent']} rcvd={c['rcvd']}")
    nreuse = sum(1 for c in cli if c.get("reuse"))
    res(not errs and len(cli) >= 20 and nreuse == 2,
        f"endpoints: {len(cli)} connections ({nreuse} on one reused 4-tuple) ran their plan; "
        "bytes each application sent == bytes the peer application received", errs)
    lost_rst = [f"id {i} {s['cli']}" for i, s in srv.items() if s.get("kind") == "rst_c" and s.get("how") != "reset"]
    if lost_rst:
        print(f"    note: client RST lost after the box (server never saw it): {', '.join(lost_rst)}")
    prov = [f"id {c['id']} x{c['provoked']}" for c in cli if c.get("provoked")]
    if prov:
        print(f"    note: server RST lost before the box, client provoked a new one: {', '.join(prov)}")

    # Records of the test connections (the probe port's are readiness probes).
    probe = [r for r in log if r["svr"].endswith(f":{a.probe_port}")]
    main = [r for r in log if not r["svr"].endswith(f":{a.probe_port}")]
    by_tuple = {}
    for r in main:
        by_tuple.setdefault((r["cli"], r["svr"]), []).append(r)
    for v in by_tuple.values():
        v.sort(key=lambda r: r["first_ts"])
    conns = {}
    for c in sorted(cli, key=lambda c: c.get("t_start", 0)):
        if "cli" in c:
            conns.setdefault((c["cli"], c["svr"]), []).append(c)
    match = {}  # id -> record
    errs = []
    for t, cs in conns.items():
        rs = by_tuple.get(t, [])
        if len(rs) != len(cs):
            errs.append(f"cli={t[0]} svr={t[1]}: {len(rs)} records for {len(cs)} connection(s) "
                        f"({', '.join(c['kind'] for c in cs)}); ends {[r['end'] for r in rs]}")
        for c, r in zip(cs, rs):
            match[c["id"]] = r
    extra = [r for t, rs in by_tuple.items() if t not in conns for r in rs]
    for r in extra:
        errs.append(f"record of no test connection: {json.dumps(r)}")
    res(not errs, f"one record per connection ({len(main)} records for {len(cli)} connections, "
        f"{len(probe)} readiness-probe records ignored), none extra", errs)

    errs = []
    for t, rs in by_tuple.items():
        if t not in conns and (t[1], t[0]) in conns:
            errs.append(f"reversed record cli={t[0]} svr={t[1]}")
    for c in cli:
        r = match.get(c["id"])
        if r and r["midstream"]:
            errs.append(f"id {c['id']} {c['cli']}: midstream=true (the box saw its SYN)")
    res(not errs and match, "orientation: cli is the connecting endpoint, svr the listener; midstream false", errs)

    def per_conn(name, f):
        errs = []
        for c in cli:
            r = match.get(c["id"])
            if r is not None:
                e = f(c, srv.get(c["id"], {}), r)
                if e:
                    errs.append(f"id {c['id']} {c['kind']} cli={c['cli']}: {e}")
        res(not errs and match, name, errs)

    per_conn("cli_bytes == bytes the client application sent (retransmissions not counted twice)",
             lambda c, s, r: r["cli_bytes"] != c["sent"] and
             f"cli_bytes={r['cli_bytes']} expected {c['sent']} (cli_rexmit={r['cli_rexmit']}, "
             f"cli_rexmit_bytes={r['cli_rexmit_bytes']})")
    per_conn("svr_bytes == bytes the server application sent (retransmissions not counted twice)",
             lambda c, s, r: r["svr_bytes"] != s.get("sent") and
             f"svr_bytes={r['svr_bytes']} expected {s.get('sent')} (svr_rexmit={r['svr_rexmit']}, "
             f"svr_rexmit_bytes={r['svr_rexmit_bytes']}, svr_missed={r['svr_missed']})")
    per_conn("end: rst for reset connections, fin for closed ones, open for those left open or half-closed",
             lambda c, s, r: r["end"] != END_OF[c["kind"]] and
             f"end={r['end']} expected {END_OF[c['kind']]} (states {r['cli_state']}/{r['svr_state']})")

    def states(c, s, r):
        if c["kind"].startswith("rst"):
            want = ("CLOSED", "CLOSED")  # the box saw the accepted RST
            src = "after an RST"
        else:
            # The last connection on a tuple is what ss shows; an earlier
            # one on a reused tuple was reset (handled above).
            want = (ss_cli.get((c["cli"], c["svr"]), "CLOSED"), ss_srv.get((c["svr"], c["cli"]), "CLOSED"))
            src = "ss -tan in cli/srv"
        got = (r["cli_state"], r["svr_state"])
        return got != want and f"cli_state/svr_state={got[0]}/{got[1]}, {src}: {want[0]}/{want[1]}"

    per_conn("cli_state/svr_state match the endpoints' sockets (ss -tan before stop; "
             "ESTAB/FIN-WAIT-2/CLOSE-WAIT for open ones, TIME-WAIT side of closed ones; CLOSED after RST)",
             states)
    per_conn("cli_missed == 0 for every connection (the box is upstream of every loss of client data)",
             lambda c, s, r: r["cli_missed"] and
             f"cli_missed={r['cli_missed']} (cli_bytes={r['cli_bytes']} cli_rexmit={r['cli_rexmit']})")
    per_conn("svr_missed == 0 for every connection (every server byte the client read passed the box)",
             lambda c, s, r: r["svr_missed"] and
             f"svr_missed={r['svr_missed']} (svr_bytes={r['svr_bytes']} svr_pkts={r['svr_pkts']} "
             f"svr_rexmit={r['svr_rexmit']})")
    cr = sum(r["cli_rexmit"] for r in main)
    sr = sum(r["svr_rexmit"] for r in main)
    crb = sum(r["cli_rexmit_bytes"] for r in main)
    srb = sum(r["svr_rexmit_bytes"] for r in main)
    res(cr + sr > 0 and cr > 0, f"retransmissions seen: cli_rexmit={cr} ({crb} bytes), "
        f"svr_rexmit={sr} ({srb} bytes); cli_rexmit > 0 (client data lost after the box)")
    return 0 if all(results) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd_name", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", action="append", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--probe-port", type=int, required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--ready")
    s.set_defaults(fn=cmd_serve)
    s = sub.add_parser("run")
    s.add_argument("--srv4", required=True)
    s.add_argument("--srv6", required=True)
    s.add_argument("--bind4", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--timeout", type=float, default=40.0)
    s.set_defaults(fn=cmd_run)
    s = sub.add_parser("check")
    s.add_argument("--flow-log", required=True)
    s.add_argument("--cli", required=True)
    s.add_argument("--srv", required=True)
    s.add_argument("--ss-cli", required=True)
    s.add_argument("--ss-srv", required=True)
    s.add_argument("--probe-port", type=int, required=True)
    s.set_defaults(fn=cmd_check)
    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
