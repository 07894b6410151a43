#!/usr/bin/env python3
"""bench/flood.py: the flood benchmark (bench/README.md, "Floods"; issue #11 §2).

Real downloads (the generator's connections) with a flood mixed in: spoofed
SYNs and spoofed bare ACKs from many sources, spread evenly among the
downloads' frames (runtime/gen.h: syn_flood, ack_flood, flood_sources,
flood_data). One mospipe run on the in-memory generator, the flow log read
through a FIFO as it is written (the flood's millions of records are counted,
not stored), then:

  * fidelity: every download has exactly one flow-log record, ended by its
    FIN exchange, with the bytes the generator sent both ways (the
    generator's own count for one download, `gen` on a file), nothing missed,
    not picked up mid-stream: no real flow was evicted, refused or split;
  * memory: the peak RSS (wait4) against the sum of the configured caps
    (EAL memory, the reassembly pool, the flow table's arrays), printed part
    by part;
  * what happened to the flood: the tcpsm counters (evictions by kind,
    refusals, flow-log records lost), and the rates (packets per second of
    pipeline time, tcpsm cycles per packet).

Exit 0 when fidelity and memory hold, 1 otherwise; timings are reported,
never asserted. Results: one JSON object (--out, default stdout summary).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECS_RE = re.compile(r"^mospipe: .* ([0-9.]+) s$", re.M)

# Sizes the caps are made of (stages/tcpsm: struct tcpsm_flow, struct reasm,
# a private table slot, a reassembly chunk with its bitmap). They make the
# printed breakdown; the bound asserted is their sum plus a fixed allowance.
FLOW_BYTES = 904
MBUF_BYTES = 2560  # rte_mbuf 128 + metadata + 2176 data room + mempool header, rounded up
REASM_DESC_BYTES = 352
TABLE_SLOT_BYTES = 16
CHUNK = 4096
CHUNK_BYTES = CHUNK + CHUNK // 8
INLINE_SLOTS = 18
ALLOWANCE_MIB = 160  # code, libraries, thread stacks, conntable, generator


def parse_count(s):
    """1000, 10k, 10m (powers of 1000), as the gen: spec reads them."""
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", s)
    if not m:
        raise argparse.ArgumentTypeError("a count such as 10000, 10k, 10m: %r" % s)
    return int(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2).lower()]


def parse_size(s):
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", s)
    if not m:
        raise argparse.ArgumentTypeError("a size such as 65536, 64k: %r" % s)
    return int(m.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[m.group(2).lower()]


def per_download_bytes(build, size):
    """TCP payload of one download, both ways, as the generator counts it
    (request + HTTP response header + body): gen on a file, no retransmission."""
    with tempfile.TemporaryDirectory() as td:
        out = subprocess.run([os.path.join(build, "bench", "gen"), "-w", os.path.join(td, "one.pcap"), "-n", "1",
                              "-s", str(size), "-c", "1", "-r", "0"], check=True, capture_output=True,
                             text=True).stdout
    m = re.search(r"(\d+) bytes of TCP payload", out)
    return int(m.group(1))


def request_bytes(size):
    # The client's request (runtime/gen.c): what the flow log's cli_bytes is.
    return len("GET /%d.bin HTTP/1.1\r\nHost: bench\r\nUser-Agent: mospipe-gen\r\n\r\n" % size)


class LogReader(threading.Thread):
    """Reads the flow log from a FIFO: keeps the records of real clients
    (10.0.0.0/8), counts the others."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.real = []
        self.other = 0
        self.ends = {}

    def run(self):
        with open(self.path, "rb", buffering=1 << 20) as f:
            for line in f:
                if line.startswith(b'{"cli":"10.'):
                    self.real.append(json.loads(line))
                else:
                    self.other += 1
                    i = line.find(b'"end":"')
                    if i >= 0:
                        e = line[i + 7:line.index(b'"', i + 7)].decode()
                        self.ends[e] = self.ends.get(e, 0) + 1


def caps(flows, buf_size, buf_pool, eal_mib, n_tcpsm, mbufs):
    """The memory the configuration allows, part by part (bytes)."""
    pool_objs = flows + max(flows // 4, 16384) + 256
    slots = 16
    while slots < 2 * flows:
        slots <<= 1
    if buf_size:
        nslots = (buf_size + CHUNK - 1) // CHUNK + 1
        per_side = 2 if nslots > INLINE_SLOTS else 1
        reasm = buf_pool or 2 * flows * per_side * CHUNK_BYTES
        desc = 2 * pool_objs * REASM_DESC_BYTES
    else:
        reasm = desc = 0
    parts = {
        # Flow objects and mbufs are mappings of their own, touched as used
        # (stages/tcpsm/tcpsm_flowtab.c, runtime/mbufpool.c).
        "eal_memory (rings, stage state: [eal] -m)": eal_mib << 20,
        "flow_objects ([tcp] flows + retire slack)": n_tcpsm * pool_objs * FLOW_BYTES,
        "mbufs ([mempool] mbufs)": mbufs * MBUF_BYTES,
        "reassembly_pool ([tcp] buf_pool)": n_tcpsm * reasm,
        "reassembly_descriptors": n_tcpsm * desc,
        "flow_table_slots": n_tcpsm * slots * TABLE_SLOT_BYTES,
        "allowance (code, libraries, stacks, conntable, generator)": ALLOWANCE_MIB << 20,
    }
    return parts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--syns", type=parse_count, default=10**7)
    ap.add_argument("--acks", type=parse_count, default=10**7)
    ap.add_argument("--sources", type=parse_count, default=10**6)
    ap.add_argument("--flood-data", type=int, default=0, help="payload bytes on each spoofed ACK")
    ap.add_argument("--downloads", type=parse_count, default=10**4, help="real connections in all")
    ap.add_argument("--concurrent", type=parse_count, default=1000, help="real connections at once")
    ap.add_argument("--size", type=parse_size, default=64 << 10, help="bytes each download carries")
    ap.add_argument("--lcores", default="0=rx,classify,tcpsm,events,app,tx")
    ap.add_argument("--eal-mib", type=int, default=1024)
    ap.add_argument("--set", action="append", default=[], help="more --set KEY=VALUE for mospipe")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", help="write the JSON result here")
    a = ap.parse_args()

    mospipe = os.path.join(a.build, "mospipe")
    conf = {"tcp.flows": "262144", "tcp.buf_size": "65536", "tcp.buf_pool": "0", "mempool.mbufs": "65535"}
    for s in a.set:
        k, v = s.split("=", 1)
        conf[k] = v
    flows, buf_size, buf_pool = (parse_size(conf["tcp.flows"]), parse_size(conf["tcp.buf_size"]),
                                 parse_size(conf["tcp.buf_pool"]))
    n_tcpsm = sum(len(re.findall(r"\btcpsm\b(?:\.\d+)?", part)) for part in a.lcores.split(";"))
    src = ("gen:flows=%d,size=%d,conns=%d,rexmit=0,seed=1,syn_flood=%d,ack_flood=%d,flood_sources=%d,"
           "flood_data=%d" % (a.concurrent, a.size, a.downloads, a.syns, a.acks, a.sources, a.flood_data))
    want_total = per_download_bytes(a.build, a.size)
    want_cli = request_bytes(a.size)

    with tempfile.TemporaryDirectory() as td:
        fifo = os.path.join(td, "flows.fifo")
        os.mkfifo(fifo)
        cj = os.path.join(td, "c.json")
        cmd = [mospipe, "-l", a.lcores, "--set", "input.source=" + src, "--set",
               "eal.args=--no-huge -m %d --no-pci --no-shconf" % a.eal_mib, "--flow-log", fifo,
               "--counters-json", cj]
        for k, v in conf.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        reader = LogReader(fifo)
        reader.start()
        t0 = time.monotonic()
        with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
            p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True)
            deadline = t0 + a.timeout
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    pid, status, ru = os.wait4(p.pid, 0)
                    break
                time.sleep(0.05)
            wall = time.monotonic() - t0
            rc = os.waitstatus_to_exitcode(status)
            fo.seek(0)
            fe.seek(0)
            out, err = fo.read(), fe.read()
        if reader.is_alive():
            # mospipe never opened the log (it failed first): unblock the reader.
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
        reader.join(60)
        counters = json.load(open(cj)) if os.path.exists(cj) else None

    res = {"cmd": " ".join(cmd).replace(ROOT + os.sep, ""), "rc": rc, "wall_s": round(wall, 2),
           "peak_rss_mib": round(ru.ru_maxrss / 1024, 1)}
    problems = []
    if rc != 0 or not counters:
        problems.append("mospipe rc=%d: %s" % (rc, (err or out).strip()[-300:]))
        res["problems"] = problems
        print(json.dumps(res, indent=1))
        return 1
    m = SECS_RE.search(out)
    secs = float(m.group(1)) if m else 0.0
    t = counters["totals"]
    tc = {}
    cyc = {}
    for s in counters["stages"]:
        if s["stage"] == "tcpsm":
            for k, v in s["counters"].items():
                tc[k] = tc.get(k, 0) + v
        cyc["%s.%d" % (s["stage"], s["instance"])] = s["cycles_per_pkt"]
    res.update({
        "pkts": t["rx"], "pipeline_s": secs, "mpps": round(t["rx"] / secs / 1e6, 3) if secs else None,
        "cycles_per_pkt": cyc, "drops": t["drops_total"],
        "conservation_ok": t["rx"] + t["injected"] == t["tx"] + t["drops_total"],
        "flood": {"syns": a.syns, "acks": a.acks, "sources": a.sources, "data": a.flood_data},
        "downloads": a.downloads, "concurrent": a.concurrent, "size": a.size,
        "tcpsm": {k: v for k, v in tc.items() if v and not k.endswith(("_polls", "_cycles"))},
        "flow_log": {"real_records": len(reader.real), "flood_records": reader.other, "flood_ends": reader.ends},
    })

    # Fidelity: one exact record per download.
    bad = []
    seen = set()
    for r in reader.real:
        key = r["cli"]
        ok = (r["end"] == "fin" and not r["midstream"] and r["cli_bytes"] == want_cli
              and r["cli_bytes"] + r["svr_bytes"] == want_total and r["cli_missed"] == 0
              and r["svr_missed"] == 0 and key not in seen)
        seen.add(key)
        if not ok:
            bad.append(r)
    res["fidelity"] = {"expected": a.downloads, "records": len(reader.real), "exact": len(reader.real) - len(bad),
                       "bytes_per_download": want_total, "examples_of_bad": bad[:3]}
    if len(reader.real) != a.downloads or bad:
        problems.append("fidelity: %d records for %d downloads, %d not exact" % (len(reader.real), a.downloads,
                                                                                len(bad)))
    if not res["conservation_ok"]:
        problems.append("conservation broken")
    if tc.get("flowlog_lost"):
        problems.append("flow log lost %d records" % tc["flowlog_lost"])

    # Memory against the caps.
    parts = caps(flows, buf_size, buf_pool, a.eal_mib, n_tcpsm, parse_size(conf["mempool.mbufs"]))
    cap = sum(parts.values())
    res["memory"] = {"caps_mib": {k: round(v / 2**20, 1) for k, v in parts.items()},
                     "cap_total_mib": round(cap / 2**20, 1), "peak_rss_mib": res["peak_rss_mib"]}
    if ru.ru_maxrss * 1024 > cap:
        problems.append("peak RSS %.0f MiB above the caps' %.0f MiB" % (ru.ru_maxrss / 1024, cap / 2**20))
    res["problems"] = problems
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
