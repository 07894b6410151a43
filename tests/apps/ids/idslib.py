"""Shared helpers of the ids tests (standard library only): EVE JSON reading
and checking, rules with their Python regex equivalents, tcpflow streams,
and a small pcap writer.
"""
import ipaddress
import json
import os
import re
import struct
import subprocess

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-]\d{4}$")

# Field -> type of a Suricata EVE alert (docs: "Eve JSON Format").
ALERT_FIELDS = {"timestamp": str, "flow_id": int, "event_type": str, "src_ip": str, "src_port": int,
                "dest_ip": str, "dest_port": int, "proto": str, "alert": dict}
ALERT_SUB = {"action": str, "gid": int, "signature_id": int, "rev": int, "signature": str, "category": str,
             "severity": int}


def norm_ip(s):
    return ipaddress.ip_address(s).compressed


def check_eve(path):
    """Reads eve.json; returns (records, problems). Every line must be one
    JSON object; alerts must carry Suricata's fields with their types."""
    recs, bad = [], []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError as e:
                bad.append("line %d is not JSON: %s" % (n, e))
                continue
            if not isinstance(r, dict):
                bad.append("line %d is not an object" % n)
                continue
            recs.append(r)
            if r.get("event_type") != "alert":
                if r.get("event_type") != "stats":
                    bad.append("line %d: unexpected event_type %r" % (n, r.get("event_type")))
                continue
            for k, t in ALERT_FIELDS.items():
                if not isinstance(r.get(k), t):
                    bad.append("line %d: %s missing or not %s" % (n, k, t.__name__))
            for k, t in ALERT_SUB.items():
                if not isinstance(r.get("alert", {}).get(k), t):
                    bad.append("line %d: alert.%s missing or not %s" % (n, k, t.__name__))
            if not TS_RE.match(str(r.get("timestamp"))):
                bad.append("line %d: timestamp %r" % (n, r.get("timestamp")))
            if not (0 < r.get("flow_id", 0) < 2 ** 53):
                bad.append("line %d: flow_id %r out of range" % (n, r.get("flow_id")))
            if r.get("proto") != "TCP" or r.get("alert", {}).get("action") not in ("allowed", "blocked"):
                bad.append("line %d: proto/action %r/%r" % (n, r.get("proto"), r.get("alert", {}).get("action")))
            if r.get("direction") not in ("to_server", "to_client"):
                bad.append("line %d: direction %r" % (n, r.get("direction")))
            for k in ("src_ip", "dest_ip"):
                try:
                    ipaddress.ip_address(r.get(k, ""))
                except ValueError:
                    bad.append("line %d: %s %r is not an address" % (n, k, r.get(k)))
            for k in ("src_port", "dest_port"):
                if not (0 <= r.get(k, -1) <= 65535):
                    bad.append("line %d: %s %r" % (n, k, r.get(k)))
    return recs, bad


def alerts(recs):
    return [r for r in recs if r.get("event_type") == "alert"]


def alert_key(r):
    """(src, sport, dst, dport, sid) of an alert, addresses normalised."""
    return (norm_ip(r["src_ip"]), r["src_port"], norm_ip(r["dest_ip"]), r["dest_port"], r["alert"]["signature_id"])


def rules_regex(path):
    """{sid: compiled bytes regex} from "# re: REGEX" lines before rules."""
    out, pending = {}, None
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# re: "):
                pending = line[6:]
            elif line and not line.startswith("#"):
                m = re.search(r"\bsid\s*:\s*(\d+)", line)
                if m and pending is not None:
                    out[int(m.group(1))] = re.compile(pending.encode("latin-1"), re.DOTALL)
                pending = None
    return out


TCPFLOW_NAME = re.compile(r"^(.+)\.(\d{5})-(.+)\.(\d{5})(--\d+)?(c\d+)?$")


def tcpflow_streams(pcap, outdir):
    """Runs tcpflow on pcap; returns [((src, sport, dst, dport), bytes)]. tcpflow
    names a stream SRC.SPORT-DST.DPORT, with --VLAN for a tagged one and cN
    for the Nth reuse of the 4-tuple."""
    os.makedirs(outdir, exist_ok=True)
    subprocess.run(["tcpflow", "-r", pcap, "-o", outdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True)
    res = []
    for name in sorted(os.listdir(outdir)):
        m = TCPFLOW_NAME.match(name)
        if not m:
            continue
        def ip(s):
            if ":" in s:
                return norm_ip(s)
            return norm_ip(".".join(str(int(x)) for x in s.split(".")))
        key = (ip(m.group(1)), int(m.group(2)), ip(m.group(3)), int(m.group(4)))
        with open(os.path.join(outdir, name), "rb") as f:
            res.append((key, f.read()))
    return res


# ---- pcap writing ---------------------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def pcap_header():
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def pcap_record(ts, frame):
    sec = int(ts)
    usec = int(round((ts - sec) * 1e6))
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
