#!/usr/bin/env python3
"""The inline bench (issue #15): real Linux TCP through the box against a
plain Linux bridge on the same veths, in one run.

    cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv

For each box in --boxes (bridge: br0 on mbc and mbs; auto, af_xdp,
af_packet: `mospipe -i mbc,mbs -m inline` with that [ports] driver), each
rep, in this order:
  * downloads: --downloads concurrent downloads of a --size file, once per
    congestion control in --ccs (the server's route congctl), each checked by
    sha256; meanwhile a 64-byte echo every millisecond on one more connection
    gives the latency under load (p50/p99/p99.9 of its round trips);
  * churn: --churn short connections (connect, 100-byte answer, close),
    --churn-conc at a time: connections/s and each one's time (p50/p99);
  * bulk: --bulk-flows uploads for --bulk-secs: Gbps the server counted.
Then, per box, uploads paced to each of --latency-at percents of that box's
median bulk rate, with the echo probe, each on a fresh mospipe so that its
own latency histogram covers that load alone.
For the box also: frames the kernel counted on mbc and mbs, rx and
port_missed (frames lost at the ports), drops, and its own latency over the
whole run (tx's histogram: from the poll in which rx took a frame to the
moment tx handed it to the port; counters JSON "latency_ns").
Prints a table of medians with box/bridge ratios and writes
bench/results/bench-inline[-TAG].json. Needs root (namespaces).

    python3 bench/inline.py                      # the full-size run (~10 min)
    python3 bench/inline.py --downloads 200 --churn 2000 --bulk-secs 2 --reps 1   # a quick look
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.path.join(ROOT, "bench", "tools", "loadgen.py")
PY = sys.executable
PORT = 9001


def sh(*cmd, check=True, **kw):
    return subprocess.run(list(cmd), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def ns(n, *cmd, **kw):
    return sh("ip", "netns", "exec", n, *cmd, **kw)


class Topo:
    def __init__(self, rps=""):
        self.rps = rps
        tag = f"mp-bi{os.getpid() % 10000}"
        self.cli, self.mb, self.srv = f"{tag}-cli", f"{tag}-mb", f"{tag}-srv"
        self.made = []
        net = f"10.{200 + random.randrange(50)}.{random.randrange(250)}"
        self.ip_cli, self.ip_srv, self.net = f"{net}.1", f"{net}.2", f"{net}.0/24"

    def up(self):
        for n in (self.cli, self.mb, self.srv):
            sh("ip", "netns", "add", n)
            self.made.append(n)
            ns(n, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
            ns(n, "ip", "link", "set", "lo", "up")
        sh("ip", "-n", self.cli, "link", "add", "veth0", "type", "veth", "peer", "name", "mbc", "netns", self.mb)
        sh("ip", "-n", self.srv, "link", "add", "veth0", "type", "veth", "peer", "name", "mbs", "netns", self.mb)
        for n, i in ((self.cli, "veth0"), (self.srv, "veth0"), (self.mb, "mbc"), (self.mb, "mbs")):
            # A userspace box cannot carry frames above the MTU or unfilled checksums.
            ns(n, "ethtool", "-K", i, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off", check=False)
            ns(n, "ip", "link", "set", i, "up")
        ns(self.cli, "ip", "addr", "add", self.ip_cli + "/24", "dev", "veth0")
        ns(self.srv, "ip", "addr", "add", self.ip_srv + "/24", "dev", "veth0")
        if self.rps:
            for n in (self.cli, self.srv):
                ns(n, "sh", "-c", f"echo {self.rps} > /sys/class/net/veth0/queues/rx-0/rps_cpus")
        mc = ns(self.cli, "cat", "/sys/class/net/veth0/address").stdout.strip()
        ms = ns(self.srv, "cat", "/sys/class/net/veth0/address").stdout.strip()
        ns(self.cli, "ip", "neigh", "replace", self.ip_srv, "lladdr", ms, "dev", "veth0", "nud", "permanent")
        ns(self.srv, "ip", "neigh", "replace", self.ip_cli, "lladdr", mc, "dev", "veth0", "nud", "permanent")

    def down(self):
        for n in self.made:
            pids = sh("ip", "netns", "pids", n, check=False).stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            sh("ip", "netns", "del", n, check=False)

    def kern(self):
        s = 0
        for i in ("mbc", "mbs"):
            for f in ("rx_packets", "rx_dropped"):
                s += int(ns(self.mb, "cat", f"/sys/class/net/{i}/statistics/{f}").stdout)
        return s

    def peers_tx(self):
        return sum(int(ns(n, "cat", "/sys/class/net/veth0/statistics/tx_packets").stdout) for n in (self.cli, self.srv))


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def probe(t, secs=30):
    end = time.time() + secs
    while time.time() < end:
        r = ns(t.cli, PY, "-c", f"import socket; socket.create_connection(('{t.ip_srv}', {PORT}), timeout=1).close()",
               check=False)
        if r.returncode == 0:
            return True
        time.sleep(0.2)
    return False


def loadgen(t, *args, timeout=600):
    r = ns(t.cli, PY, LOADGEN, *args, check=False, timeout=timeout)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": (r.stderr or r.stdout)[-300:]}


def run_profiles(t, a, fpath):
    out = {}
    for cc in a.ccs.split(","):
        ns(t.srv, "ip", "route", "replace", t.net, "dev", "veth0", "congctl", cc)
        d = loadgen(t, "dl", t.ip_srv, str(PORT), "--file", fpath, "-n", str(a.downloads), "--ping",
                    "--timeout", str(a.dl_timeout))
        rtt = d.pop("rtt_us", [])
        d.update({"rtt_p50_us": pct(rtt, 50), "rtt_p99_us": pct(rtt, 99), "rtt_p999_us": pct(rtt, 99.9),
                  "rtt_samples": len(rtt)})
        out[f"dl_{cc}"] = d
        print(f"    downloads {cc}: {d.get('ok')}/{a.downloads} in {d.get('secs')} s, rtt p50 {d['rtt_p50_us']} "
              f"p99 {d['rtt_p99_us']} us", flush=True)
    ns(t.srv, "ip", "route", "replace", t.net, "dev", "veth0", "congctl", a.ccs.split(",")[0])
    c = loadgen(t, "churn", t.ip_srv, str(PORT), "-n", str(a.churn), "-c", str(a.churn_conc))
    lat = c.pop("lat_us", [])
    c.update({"lat_p50_us": pct(lat, 50), "lat_p99_us": pct(lat, 99)})
    out["churn"] = c
    print(f"    churn: {c.get('ok')}/{a.churn}, {c.get('conn_s')} conn/s, p50 {c['lat_p50_us']} p99 {c['lat_p99_us']} us",
          flush=True)
    b = loadgen(t, "bulk", t.ip_srv, str(PORT), "--flows", str(a.bulk_flows), "--secs", str(a.bulk_secs))
    out["bulk"] = b
    print(f"    bulk: {b.get('gbps')} Gbps", flush=True)
    return out


def paced(mbps):
    """The latency profile: --bulk-flows uploads paced to mbps in all, with
    the echo probe; the box's histogram then covers this load alone."""
    def prof(t, a, fpath):
        b = loadgen(t, "bulk", t.ip_srv, str(PORT), "--flows", str(a.bulk_flows), "--secs", str(a.latency_secs),
                    "--mbps", str(mbps), "--ping")
        rtt = b.pop("rtt_us", [])
        b.update({"mbps_asked": mbps, "rtt_p50_us": pct(rtt, 50), "rtt_p99_us": pct(rtt, 99),
                  "rtt_p999_us": pct(rtt, 99.9), "rtt_samples": len(rtt)})
        print(f"    paced {mbps:.0f} Mbit/s: got {b.get('gbps')} Gbps, rtt p50 {b['rtt_p50_us']} p99 {b['rtt_p99_us']} "
              f"p99.9 {b['rtt_p999_us']} us", flush=True)
        return {"paced": b}
    return prof


def run_box(t, a, box, fpath, work, prof=None):
    prof = prof or run_profiles
    if box == "bridge":
        ns(t.mb, "ip", "link", "add", "br0", "type", "bridge")
        ns(t.mb, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0", check=False)
        for i in ("mbc", "mbs"):
            ns(t.mb, "ip", "link", "set", i, "master", "br0")
        ns(t.mb, "ip", "link", "set", "br0", "up")
        try:
            if not probe(t):
                return {"error": "the bridge does not forward"}
            return prof(t, a, fpath)
        finally:
            ns(t.mb, "ip", "link", "del", "br0", check=False)
    cj = os.path.join(work, f"{box}.json")
    err = open(os.path.join(work, f"{box}.err"), "w")
    mp = subprocess.Popen(["ip", "netns", "exec", t.mb, os.path.join(a.build, "mospipe"), "-i", "mbc,mbs", "-m",
                           "inline", "-q", "--counters-json", cj, "--set", f"ports.driver={box}"] + a.mospipe_arg,
                          stdout=subprocess.DEVNULL, stderr=err)
    try:
        time.sleep(0.5)
        k0, p0 = t.kern(), t.peers_tx()
        if not probe(t):
            return {"error": "mospipe does not forward: " + open(err.name).read()[-300:]}
        res = prof(t, a, fpath)
    finally:
        time.sleep(1.0)
        mp.send_signal(signal.SIGINT)
        try:
            mp.wait(30)
        except subprocess.TimeoutExpired:
            mp.kill()
            mp.wait()
    k1, p1 = t.kern(), t.peers_tx()
    try:
        cjd = json.load(open(cj))
        tot = cjd["totals"]
        lat = [st["latency_ns"] for st in cjd["stages"] if st["stage"] == "tx" and st.get("latency_ns")]
    except (OSError, ValueError, KeyError):
        return dict(res, error="no counters json: " + open(err.name).read()[-300:])
    rep = [l for l in open(err.name).read().splitlines() if l.startswith("mospipe: mbc: ")]
    res["box"] = {"port": rep[0] if rep else "", "kernel_frames": k1 - k0, "peers_tx": p1 - p0, "rx": tot["rx"],
                  "port_missed": tot.get("port_missed", 0), "drops_total": tot["drops_total"]}
    if lat:  # the box's own latency, rx poll to the port (the first tx instance's)
        res["box"].update({"lat_p50_us": lat[0]["p50"] / 1e3, "lat_p99_us": lat[0]["p99"] / 1e3,
                           "lat_p999_us": lat[0]["p999"] / 1e3, "lat_max_us": lat[0]["max"] / 1e3})
    b = res["box"]
    print(f"    box: {b['port']}; ports {b['kernel_frames']} frames (peers sent {b['peers_tx']}), rx {b['rx']}, "
          f"port_missed {b['port_missed']}, drops {b['drops_total']}; in the box p50 {b.get('lat_p50_us')} "
          f"p99 {b.get('lat_p99_us')} p99.9 {b.get('lat_p999_us')} us", flush=True)
    return res


def med(runs, *path):
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            vals.append(v)
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--boxes", default="bridge,auto,af_xdp")
    ap.add_argument("--downloads", type=int, default=2000)
    ap.add_argument("--size", type=int, default=262144)
    ap.add_argument("--ccs", default="cubic,bbr")
    ap.add_argument("--dl-timeout", type=float, default=60)
    ap.add_argument("--churn", type=int, default=20000)
    ap.add_argument("--churn-conc", type=int, default=50)
    ap.add_argument("--bulk-flows", type=int, default=4)
    ap.add_argument("--bulk-secs", type=float, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--latency-at", default="50,90",
                    help="after the reps: per box, uploads paced to these percents of its own median bulk rate, "
                         "with the echo probe (empty: none)")
    ap.add_argument("--latency-secs", type=float, default=5)
    ap.add_argument("--endpoint-rps", default="",
                    help="hex CPU mask of RPS on cli's and srv's veth0: where the endpoints' receive work runs "
                         "(default none: in the sender's context, which for frames the box sends is the box's lcore)")
    ap.add_argument("--mospipe-arg", action="append", default=[], help="extra mospipe argument (repeat)")
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/inline.py: needs root (network namespaces)")
    if not os.access(os.path.join(a.build, "mospipe"), os.X_OK):
        sys.exit(f"bench/inline.py: {a.build}/mospipe is not built (run make)")
    work = tempfile.mkdtemp(prefix="mp-binline.")
    fpath = os.path.join(work, "f.bin")
    with open(fpath, "wb") as f:
        f.write(os.urandom(a.size))
    os.chmod(work, 0o755)
    t = Topo(a.endpoint_rps)
    boxes = a.boxes.split(",")
    runs = {b: [] for b in boxes}
    lat_runs = {b: {} for b in boxes}
    t0 = time.time()
    srv = None
    try:
        t.up()
        srv = subprocess.Popen(["ip", "netns", "exec", t.srv, PY, LOADGEN, "serve", "--bind", t.ip_srv, "--port",
                                str(PORT), "--file", fpath], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for rep in range(a.reps):
            for b in boxes:  # alternated, so that drift hits every box alike
                print(f"rep {rep + 1}/{a.reps}, {b}:", flush=True)
                runs[b].append(run_box(t, a, b, fpath, work))
        lat_runs = {b: {} for b in boxes}
        for p in [int(x) for x in a.latency_at.split(",") if x]:
            for b in boxes:
                peak = med(runs[b], "bulk", "gbps")
                if not peak:
                    continue
                print(f"latency at {p}% of {b}'s bulk ({peak} Gbps):", flush=True)
                lat_runs[b][p] = run_box(t, a, b, fpath, work, paced(peak * 1000 * p / 100))
    finally:
        if srv:
            srv.kill()
        t.down()
        shutil.rmtree(work, ignore_errors=True)
    ccs = a.ccs.split(",")
    rows = [(f"downloads {cc}: s", ("dl_" + cc, "secs"), "lower") for cc in ccs]
    rows += [(f"downloads {cc}: ok", ("dl_" + cc, "ok"), None) for cc in ccs]
    rows += [(f"latency under {ccs[0]} load p50 us", ("dl_" + ccs[0], "rtt_p50_us"), "lower"),
             (f"latency under {ccs[0]} load p99 us", ("dl_" + ccs[0], "rtt_p99_us"), "lower"),
             (f"latency under {ccs[0]} load p99.9 us", ("dl_" + ccs[0], "rtt_p999_us"), "lower"),
             ("churn conn/s", ("churn", "conn_s"), "higher"),
             ("churn p50 us", ("churn", "lat_p50_us"), "lower"),
             ("churn p99 us", ("churn", "lat_p99_us"), "lower"),
             ("bulk Gbps", ("bulk", "gbps"), "higher"),
             ("in the box (rx to port) p50 us", ("box", "lat_p50_us"), None),
             ("in the box p99 us", ("box", "lat_p99_us"), None),
             ("in the box p99.9 us", ("box", "lat_p999_us"), None),
             ("port_missed", ("box", "port_missed"), None),
             ("kernel frames on the ports", ("box", "kernel_frames"), None)]
    summary = {}
    print(f"\nmedians of {a.reps} (ratio: box/bridge)")
    print(f"{'':38}" + "".join(f"{b:>20}" for b in boxes))
    for name, path, better in rows:
        vals = {b: med(runs[b], *path) for b in boxes}
        summary[name] = vals
        line = f"{name:38}"
        for b in boxes:
            v = vals[b]
            s = "-" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)
            if better and b != "bridge" and v and vals.get("bridge"):
                s += f" ({v / vals['bridge']:.2f})"
            line += f"{s:>20}"
        print(line)
    lat_rows = []
    for p in [int(x) for x in a.latency_at.split(",") if x]:
        lat_rows += [(f"at {p}% of peak: rtt p50 us", p, ("paced", "rtt_p50_us")),
                     (f"at {p}% of peak: rtt p99 us", p, ("paced", "rtt_p99_us")),
                     (f"at {p}% of peak: rtt p99.9 us", p, ("paced", "rtt_p999_us")),
                     (f"at {p}% of peak: in the box p50 us", p, ("box", "lat_p50_us")),
                     (f"at {p}% of peak: in the box p99 us", p, ("box", "lat_p99_us")),
                     (f"at {p}% of peak: in the box p99.9 us", p, ("box", "lat_p999_us")),
                     (f"at {p}% of peak: port_missed", p, ("box", "port_missed"))]
    for name, p, path in lat_rows:
        vals = {b: med([lat_runs[b].get(p, {})], *path) for b in boxes}
        summary[name] = vals
        print(f"{name:38}" + "".join(f"{'-' if vals[b] is None else f'{vals[b]:.4g}':>20}" for b in boxes))
    os.makedirs(a.results, exist_ok=True)
    out = os.path.join(a.results, f"bench-inline{'-' + a.tag if a.tag else ''}.json")
    args = vars(a).copy()
    args["build"] = os.path.relpath(a.build, ROOT) if a.build.startswith(ROOT) else os.path.basename(a.build)
    args["results"] = os.path.relpath(a.results, ROOT) if a.results.startswith(ROOT) else a.results
    json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_s": round(time.time() - t0, 1),
               "args": args, "medians": summary, "runs": runs,
               "latency_runs": {b: {str(p): r for p, r in v.items()} for b, v in lat_runs.items()}}, open(out, "w"), indent=1)
    print(f"\nwall {time.time() - t0:.0f} s; results: {os.path.relpath(out, ROOT)}")


if __name__ == "__main__":
    main()
