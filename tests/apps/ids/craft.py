#!/usr/bin/env python3
"""Crafted deliveries of a pattern to a real Linux receiver, for apps/ids
(standard library only). The truth is what the Linux server application
read; the capture is every frame on the wire, both directions.

  craft.py serve --bind ADDR --port P --dir D --ready FILE
      In the server namespace: accepts connections, reads each to EOF and
      writes what the application received to D/recv-<client port>.bin, then
      closes. Runs until killed.
  craft.py inject --iface IF --src C --dst S --dport P --dst-mac MAC --out PCAP --manifest JSON
      In the injector namespace (IF has no address, so its kernel stays
      silent): plays the client of every scenario below with an AF_PACKET
      socket: handshake with the real server, the scenario's data segments in
      its order (out of order, retransmitted, overlapping with different
      bytes), then FIN. Writes the frames sent and received to PCAP and the
      scenarios (name, client port) to JSON.
  craft.py check --manifest JSON --truth-dir D --eve EVE --rules RULES [--known TSV]
      For every scenario and rule (its "# re:" regex): the rule must have
      fired once on the client->server stream exactly when the regex matches
      what the Linux application read, and never twice. A scenario listed in
      TSV ("scenario<TAB>reason": where mospipe's reassembly is known to
      differ from Linux) must still differ, and is reported with its reason.
      PASS:/FAIL: lines.

Stream offsets below count from the first data byte (ISN + 1).
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idslib  # noqa: E402

PAT = b"attack-marker-7"  # 15 bytes, at stream offset 100 in every scenario
AT = 100
LEN = 200


def body(evil=True):
    """200 bytes: filler with the pattern (or 15 benign bytes) at 100."""
    rnd = random.Random(7)
    b = bytearray(rnd.choice(b"abcdefghij") for _ in range(LEN))
    b[AT:AT + len(PAT)] = PAT if evil else b"XXXXXXXXXXXXXXX"
    return bytes(b)


EVIL, BENIGN = body(True), body(False)
# Differs from EVIL only in [100, 108): the part two in-order copies overlap.
OVL8 = EVIL[:AT] + b"XXXXXXXX" + EVIL[AT + 8:]


def seg(a, b, src=None):
    return (a, (src or EVIL)[a:b])


# Each scenario: the data segments in sending order, as (offset, bytes).
SCENARIOS = [
    ("in-order, split over three segments", [seg(0, 105), seg(105, 110), seg(110, 200)]),
    ("out of order: third, first, second", [seg(110, 200), seg(0, 105), seg(105, 110)]),
    ("retransmitted in full, and the pattern's bytes again",
     [seg(0, 108), seg(108, 200), seg(0, 108), seg(95, 125)]),
    ("in-order overlap: the delivered copy is benign", [seg(0, 108, OVL8), seg(100, 200, EVIL)]),
    ("in-order overlap: the delivered copy is evil", [seg(0, 108, EVIL), seg(100, 200, OVL8)]),
    ("held out of order, same range twice: benign then evil", [seg(108, 200, BENIGN), seg(108, 200, EVIL),
                                                               seg(0, 108, EVIL)]),
    ("held out of order, same range twice: evil then benign", [seg(108, 200, EVIL), seg(108, 200, BENIGN),
                                                               seg(0, 108, EVIL)]),
    ("held: benign inside, then an evil segment covering it", [seg(110, 150, BENIGN), seg(105, 160, EVIL),
                                                               seg(0, 105), seg(160, 200)]),
    ("held: evil, then a benign segment inside it", [seg(100, 130, EVIL), seg(105, 120, BENIGN), seg(0, 100),
                                                     seg(130, 200)]),
    ("held: benign, then an evil one starting before it", [seg(108, 130, BENIGN), seg(100, 120, EVIL),
                                                           seg(0, 100), seg(130, 200)]),
    ("held: evil, then a benign one starting inside it", [seg(100, 120, EVIL), seg(108, 130, BENIGN),
                                                          seg(0, 100), seg(130, 200)]),
    ("byte by byte around the pattern, reversed", [seg(0, 98)] + [seg(i, i + 1) for i in range(120, 97, -1)]
     + [seg(121, 200)]),
]


# ---- server ------------------------------------------------------------------------

def serve(a):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((a.bind, a.port))
    srv.listen(64)
    open(a.ready, "w").close()

    def one(c, peer):
        data = bytearray()
        c.settimeout(20)
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                data += d
        except OSError:
            pass
        with open(os.path.join(a.dir, "recv-%d.bin" % peer[1]), "wb") as f:
            f.write(data)
        c.close()

    while True:
        c, peer = srv.accept()
        threading.Thread(target=one, args=(c, peer), daemon=True).start()


# ---- injector ----------------------------------------------------------------------

class Wire:
    def __init__(self, iface, src, dst, dmac, out):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.bind((iface, 0))
        self.smac = self.s.getsockname()[4]
        self.dmac = dmac
        self.src, self.dst = socket.inet_aton(src), socket.inet_aton(dst)
        self.out = open(out, "wb")
        self.out.write(idslib.pcap_header())
        self.ipid = 1

    def record(self, frame):
        self.out.write(idslib.pcap_record(time.time(), frame))

    def send(self, sport, dport, seq, ack, flags, payload=b"", opts=b""):
        thl = 20 + len(opts)
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, (thl // 4) << 4, flags,
                          65535, 0, 0) + opts
        pseudo = self.src + self.dst + struct.pack("!BBH", 0, 6, len(tcp) + len(payload))
        c = idslib.csum(pseudo + tcp + payload)
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        self.ipid += 1
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), self.ipid, 0x4000, 64, 6, 0,
                         self.src, self.dst)
        ip = ip[:10] + struct.pack("!H", idslib.csum(ip)) + ip[12:]
        frame = self.dmac + self.smac + b"\x08\x00" + ip + tcp + payload
        self.s.send(frame)
        self.record(frame)

    def recv(self, sport, dport, timeout):
        """Next TCP frame from (dst, dport) to (src, sport); every frame of
        this connection seen meanwhile is recorded. None on timeout."""
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                f, addr = self.s.recvfrom(65536)
            except socket.timeout:
                return None
            if addr[2] == socket.PACKET_OUTGOING or len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6:
                continue
            ihl = (f[14] & 15) * 4
            ip_src, ip_dst = f[26:30], f[30:34]
            t = 14 + ihl
            sp, dp, seq, ack, off, flags = struct.unpack("!HHIIBB", f[t:t + 14])
            if ip_src != self.dst or ip_dst != self.src or sp != dport or dp != sport:
                continue
            self.record(f)
            return {"seq": seq, "ack": ack, "flags": flags, "len": len(f) - t - (off >> 4) * 4}


def drain(w, sport, dport, secs):
    end = time.time() + secs
    while time.time() < end:
        if w.recv(sport, dport, end - time.time()) is None:
            break


def run_scenario(w, sport, dport, isn, segs):
    SYN, ACK, PSH, FIN = 2, 16, 8, 1
    w.send(sport, dport, isn, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1460))
    r = None
    for _ in range(3):
        r = w.recv(sport, dport, 2.0)
        if r and r["flags"] & SYN and r["flags"] & ACK:
            break
        w.send(sport, dport, isn, 0, SYN, opts=struct.pack("!BBH", 2, 4, 1460))
    if not r or not (r["flags"] & SYN):
        raise RuntimeError("no SYN-ACK from the server for port %d" % sport)
    sisn = r["seq"]
    w.send(sport, dport, isn + 1, sisn + 1, ACK)
    for off, data in segs:
        w.send(sport, dport, isn + 1 + off, sisn + 1, PSH | ACK, data)
        drain(w, sport, dport, 0.02)
    drain(w, sport, dport, 0.1)
    w.send(sport, dport, isn + 1 + LEN, sisn + 1, FIN | ACK)
    end = time.time() + 5
    while time.time() < end:
        r = w.recv(sport, dport, end - time.time())
        if r and r["flags"] & FIN:
            w.send(sport, dport, isn + 2 + LEN, r["seq"] + r["len"] + 1, ACK)
            return
    raise RuntimeError("the server did not close port %d's connection" % sport)


def inject(a):
    mac = bytes.fromhex(a.dst_mac.replace(":", ""))
    w = Wire(a.iface, a.src, a.dst, mac, a.out)
    manifest = []
    base = 40000 + os.getpid() % 1000 * 20
    for i, (name, segs) in enumerate(SCENARIOS):
        sport = base + i
        run_scenario(w, sport, a.dport, 1000000 * (i + 1), segs)
        manifest.append({"name": name, "client": a.src, "cport": sport, "server": a.dst, "sport": a.dport})
    w.out.close()
    with open(a.manifest, "w") as f:
        json.dump(manifest, f, indent=1)
    print("craft: %d scenarios played against the Linux server" % len(manifest))


# ---- check -----------------------------------------------------------------------------

def check(a):
    with open(a.manifest) as f:
        manifest = json.load(f)
    regex = idslib.rules_regex(a.rules)
    recs, bad = idslib.check_eve(a.eve)
    got = {}
    for r in idslib.alerts(recs):
        k = idslib.alert_key(r)
        got[k] = got.get(k, 0) + 1
    known = {}
    if a.known:
        with open(a.known) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    name, why = line.rstrip("\n").split("\t", 1)
                    known[name] = why
    fails = 0
    fired = quiet = 0
    blocked = [r for r in idslib.alerts(recs) if r["alert"]["action"] != "allowed"]
    if blocked:
        print("FAIL: craft: %d alerts say %r offline (monitor mode must say allowed, drop rules included)" % (
            len(blocked), blocked[0]["alert"]["action"]))
        fails += 1
    if bad:
        print("FAIL: craft: eve.json: %s" % "; ".join(bad[:3]))
        fails += 1
    for sc in manifest:
        path = os.path.join(a.truth_dir, "recv-%d.bin" % sc["cport"])
        if not os.path.exists(path):
            print("FAIL: craft '%s': the server recorded nothing" % sc["name"])
            fails += 1
            continue
        with open(path, "rb") as f:
            data = f.read()
        linux = "pattern" if PAT in data else "no pattern"
        if sc["name"] in known:
            verdicts = []
            for sid, rx in sorted(regex.items()):
                want = 1 if rx.search(data) else 0
                n = got.get((idslib.norm_ip(sc["client"]), sc["cport"], idslib.norm_ip(sc["server"]), sc["sport"],
                             sid), 0)
                verdicts.append((sid, want, n))
            differ = [v for v in verdicts if v[1] != v[2]]
            if differ:
                print("PASS: craft '%s': Linux read %s; ids differs on sids %s as documented (known): %s" % (
                    sc["name"], linux, ",".join(str(v[0]) for v in differ), known[sc["name"]]))
            else:
                print("FAIL: craft '%s': ids now agrees with Linux: remove it from the known list" % sc["name"])
                fails += 1
            continue
        for sid, rx in sorted(regex.items()):
            want = 1 if rx.search(data) else 0
            n = got.get((idslib.norm_ip(sc["client"]), sc["cport"], idslib.norm_ip(sc["server"]), sc["sport"], sid), 0)
            fired += n
            quiet += 1 - want
            if n == want:
                print("PASS: craft '%s': Linux read %d bytes (%s); sid %d %s" % (
                    sc["name"], len(data), linux, sid, "fired once" if n else "silent"))
            else:
                print("FAIL: craft '%s': Linux read %d bytes (%s); sid %d fired %d time(s), expected %d" % (
                    sc["name"], len(data), linux, sid, n, want))
                fails += 1
    if not fired or not quiet:
        print("FAIL: craft: the scenarios must include both verdicts (fired %d, silent %d)" % (fired, quiet))
        fails += 1
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--ready", required=True)
    i = sub.add_parser("inject")
    i.add_argument("--iface", required=True)
    i.add_argument("--src", required=True)
    i.add_argument("--dst", required=True)
    i.add_argument("--dport", type=int, required=True)
    i.add_argument("--dst-mac", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--manifest", required=True)
    c = sub.add_parser("check")
    c.add_argument("--manifest", required=True)
    c.add_argument("--truth-dir", required=True)
    c.add_argument("--eve", required=True)
    c.add_argument("--rules", required=True)
    c.add_argument("--known")
    a = ap.parse_args()
    return {"serve": serve, "inject": inject, "check": check}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
