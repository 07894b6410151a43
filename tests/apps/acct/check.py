#!/usr/bin/env python3
"""Checks of acct's output for tests/apps/acct/run.sh. Every check prints one
line, "PASS: what" or "FAIL: what: why"; run.sh counts them.

  check.py json OUT                    every line a JSON object with an "event"
  check.py attack OUT EXP              crafted attack capture (mkcap.py attack)
  check.py intervals OUT EXP [TAG]     usage per interval and totals (mkcap.py intervals)
  check.py same A B TAG                usage/total/abuse lines of two runs are equal
  check.py corpus ACCT CORPUS KNOWN    every corpus capture: abuse only where a peer
                                       says the data is inconsistent; charged bytes
                                       per connection vs Zeek / Arkime
  check.py xfer OUT SERVER_LOG CLIENTS TAG
                                       real TCP: per connection, charged bytes in each
                                       direction == bytes the receiving application read
  check.py attack-live OUT SERVER_LOG CLIENT
                                       inline attack: reported, reset, payload kept out
"""
import glob
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "regress"))

fails = 0


def ok(name):
    print("PASS: " + name)


def ko(name, why):
    global fails
    fails += 1
    print("FAIL: %s: %s" % (name, why))


def check(name, cond, why=""):
    (ok if cond else lambda n: ko(n, why))(name)


def load(path):
    """acct's JSON lines, or None after a FAIL line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                d = json.loads(line)
            except ValueError as e:
                ko("JSON lines of %s" % os.path.basename(path), "line %d: %s" % (n, e))
                return None
            if not isinstance(d, dict) or "event" not in d:
                ko("JSON lines of %s" % os.path.basename(path), "line %d is not an object with an event" % n)
                return None
            out.append(d)
    return out


def by(lines, ev):
    return [d for d in lines if d["event"] == ev]


def summary(lines):
    s = by(lines, "summary")
    return s[-1] if s else {}


def cmd_json(out):
    lines = load(out)
    if lines is None:
        return
    s = by(lines, "summary")
    check("%s: %d JSON lines, the last one the summary" % (os.path.basename(out), len(lines)),
          s and lines[-1]["event"] == "summary", "no summary at the end")


def cmd_attack(out, exp_path):
    lines = load(out)
    exp = json.load(open(exp_path))
    if lines is None:
        return
    got = by(lines, "abuse")
    keys = ["src_ip", "src_port", "dest_ip", "dest_port", "sender", "offset", "segment_offset", "segment_len",
            "compared_bytes", "differing_bytes", "first", "rexmit"]
    check("attack capture: %d abuse records, as many as attacks planted" % len(got), len(got) == len(exp["abuse"]),
          "got %d, planted %d" % (len(got), len(exp["abuse"])))
    for i, e in enumerate(exp["abuse"]):
        g = got[i] if i < len(got) else {}
        diff = {k: (g.get(k), e[k]) for k in keys if g.get(k) != e[k]}
        check("attack %d (%s, sender %s, offset %d): flow, offsets, counts and both samples exact" %
              (i + 1, e["src_ip"], e["sender"], e["offset"]), not diff, "got/expected %s" % diff)
    flows = {d["src_port"]: d for d in by(lines, "flow")}
    for e in exp["flows"]:
        g = flows.get(e["src_port"], {})
        diff = {k: (g.get(k), v) for k, v in e.items() if g.get(k) != v}
        check("flow %s:%d: charged and retransmitted bytes per direction" % (e["src_ip"], e["src_port"]), not diff,
              "got/expected %s" % diff)
    s = summary(lines)
    check("keepalive probe with a garbage byte: counted (%s), not reported" % s.get("keepalives"),
          s.get("keepalives") == exp["keepalives"])
    check("a changed retransmission 200 KiB behind: unverified (%s bytes), not reported" % s.get("unverified_bytes"),
          s.get("unverified_bytes") == exp["unverified_bytes"])


def usage_key(d):
    return (round(d["start"]), d["subscriber"])


def cmd_intervals(out, exp_path, tag=""):
    lines = load(out)
    exp = json.load(open(exp_path, encoding="utf-8"))
    if lines is None:
        return
    tag = (" " + tag) if tag else ""
    got = {usage_key(d): d for d in by(lines, "usage")}
    want = {(u["start"], u["subscriber"]): u for u in exp["usage"]}
    check("intervals%s: %d usage lines, one per subscriber and interval with traffic" % (tag, len(got)),
          set(got) == set(want), "extra %s, missing %s" % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    for k, u in want.items():
        g = got.get(k, {})
        fields = {"end": u["end"], "up_bytes": u["up_bytes"], "down_bytes": u["down_bytes"], "flows": u["flows"]}
        diff = {f: (g.get(f), v) for f, v in fields.items() if (round(g[f]) if f == "end" and f in g else g.get(f)) != v}
        if u["name"] != g.get("name"):
            diff["name"] = (g.get("name"), u["name"])
        check("intervals%s: %s [%d, %d): bytes up/down, flows, name" % (tag, u["subscriber"], u["start"], u["end"]),
              not diff, "got/expected %s" % diff)
    tot = {d["subscriber"]: d for d in by(lines, "total")}
    for t in exp["total"]:
        g = tot.get(t["subscriber"], {})
        diff = {f: (g.get(f), t[f]) for f in ("up_bytes", "down_bytes", "flows") if g.get(f) != t[f]}
        check("totals%s: %s" % (tag, t["subscriber"]), not diff, "got/expected %s" % diff)
    s = summary(lines)
    check("intervals%s: %d flows, %d matching no subscriber" % (tag, exp["flows"], exp["unmatched_flows"]),
          s.get("flows") == exp["flows"] and s.get("unmatched_flows") == exp["unmatched_flows"],
          "summary says %s flows, %s unmatched" % (s.get("flows"), s.get("unmatched_flows")))


def cmd_same(a, b, tag):
    la, lb = load(a), load(b)
    if la is None or lb is None:
        return
    for ev in ("usage", "total", "abuse"):
        xa = sorted(json.dumps({k: v for k, v in d.items() if k != "ts"}, sort_keys=True) for d in by(la, ev))
        xb = sorted(json.dumps({k: v for k, v in d.items() if k != "ts"}, sort_keys=True) for d in by(lb, ev))
        check("%s: %s lines equal (%d)" % (tag, ev, len(xa)), xa == xb,
              "only in the first: %s; only in the second: %s" % (sorted(set(xa) - set(xb))[:2], sorted(set(xb) - set(xa))[:2]))


# ------------------------------------------------------------------ corpus
# Captures whose data is inconsistent on purpose, and what the peer says
# about it: acct must report exactly that; every other capture is benign.
INCONSISTENT = {
    # Zeek: "exactly one rexmit_inconsistency in the responder stream;
    # first-seen data "..." (43 bytes, injected) vs later data starting "..."".
    "qi_internet_SYNACK_curl_jsonip": "zeek",
    # Suricata: "two segments with identical seq=2 len=4: "GOOD" then "EVIL"".
    "eve-payload-01-tcp-exact-overlap__tcp-overlap": "suricata",
}


RUNS = {}


def run_acct(acct, cap, csum):
    if (cap, csum) not in RUNS:
        RUNS[(cap, csum)] = run_acct1(acct, cap, csum)
    return RUNS[(cap, csum)]


def run_acct1(acct, cap, csum):
    r = subprocess.run([acct, "-r", cap, "-C", csum, "--interval", "0", "--per-flow", "--sample", "64",
                        "--set", "eal.args=--no-huge -m 256 --no-pci --no-shconf", "--set", "mempool.mbufs=8191",
                        "--set", "tcp.flows=16384"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, "exit %d: %s" % (r.returncode, r.stderr.strip()[-300:])
    try:
        return [json.loads(l) for l in r.stdout.splitlines()], None
    except ValueError as e:
        return None, "not JSON lines: %s" % e


def note_strings(note):
    return re.findall(r'"((?:[^"\\]|\\.)*)"', note)


def unesc(s):
    return s.replace("\\r", "\r").replace("\\n", "\n").encode()


def expect_abuse(stem, rows):
    """(sender, offset, first bytes, rexmit bytes) from the peer's own words."""
    note = rows[0]["note"]
    q = note_strings(note)
    if stem.startswith("qi_"):
        a, b = unesc(q[0]), unesc(q[1])
        i = next(k for k in range(min(len(a), len(b))) if a[k] != b[k])
        # The later data is quoted only as far as "Date:": compare that much.
        return "server", i, a[i:], b[i:]
    # eve-payload-01: the client's bytes at seq 2 (the SYN had seq 1: offset 0).
    return "client", 0, q[0].encode(), q[1].encode()


def cmd_corpus(acct, corpus_dir, known_path):
    import corpus as cp

    known = {}
    for line in open(known_path):
        if line.startswith("#") or not line.strip() or line.startswith("capture\t"):
            continue
        f = line.rstrip("\n").split("\t")
        known[(f[0], f[1])] = (f[2], f[3], f[4])
    caps = sorted(glob.glob(os.path.join(corpus_dir, "*", "*.pcap")) + glob.glob(os.path.join(corpus_dir, "*", "*.pcapng")))
    exps = {}
    for p in sorted(glob.glob(os.path.join(corpus_dir, "*", "*.expected*.tsv"))):
        e = cp.Expectation(p)
        exps.setdefault(e.stem, []).append(e)
    benign_ok, used_known = [], set()
    for cap in caps:
        stem = os.path.basename(cap).rsplit(".", 1)[0]
        for csum in ("verify", "ignore"):
            lines, err = run_acct(acct, cap, csum)
            if lines is None:
                ko("corpus %s (-C %s): runs" % (stem, csum), err)
                continue
            ab = by(lines, "abuse")
            s = summary(lines)
            if stem not in INCONSISTENT:
                if ab or s.get("abuse_segments"):
                    ko("corpus %s (-C %s): benign, no abuse" % (stem, csum),
                       "%d records: %s" % (len(ab), json.dumps(ab[:1])))
                else:
                    benign_ok.append((stem, csum, s.get("compared_bytes", 0)))
                continue
            peer = INCONSISTENT[stem]
            e = [x for x in exps[stem] if x.peer == peer][0]
            sender, off, first, rexmit = expect_abuse(stem, e.tcp_rows())
            if len(ab) != 1:
                ko("corpus %s (-C %s): exactly one abuse record (%s)" % (stem, csum, peer), "got %d" % len(ab))
                continue
            g = ab[0]
            n = len(g["first"]) // 2
            want_first, want_rx = first[:n].hex(), rexmit[:n].hex()
            good = (g["sender"] == sender and g["offset"] == off and n > 0 and g["first"] == want_first
                    and g["rexmit"] == want_rx)
            check("corpus %s (-C %s): one abuse record, %s stream offset %d, both samples as %s states them "
                  "(%r / %r)" % (stem, csum, sender, off, peer.capitalize(), first[:n].decode(errors="replace"),
                                 rexmit[:n].decode(errors="replace")), good,
                  "got sender %s offset %s first %s rexmit %s" % (g["sender"], g["offset"], g["first"], g["rexmit"]))
        # Charged bytes per connection against the peers' byte counts.
        for e in exps.get(stem, []):
            if e.peer not in ("zeek", "arkime"):
                continue
            lines, err = run_acct(acct, cap, e.checksum)
            if lines is None:
                ko("corpus %s: runs" % e.case, err)
                continue
            compare_bytes(e, lines, known, used_known, cp)
            if stem == "rst-inject-rae":
                # Data after the RST that ended the flow: charged to the
                # subscriber all the same (known-differences.tsv).
                tot = by(lines, "total")
                check("corpus rst-inject-rae: bytes sent after the accepted RST are charged: subscriber total up %s = "
                      "Zeek's orig_bytes %s" % (tot[0]["up_bytes"] if tot else "?", e.tcp_rows()[0]["orig_bytes"]),
                      len(tot) == 1 and str(tot[0]["up_bytes"]) == e.tcp_rows()[0]["orig_bytes"])
    n_cmp = sum(1 for b in benign_ok if b[2])
    check("corpus: %d benign capture runs without an abuse record (%d of them compared retransmitted bytes)" %
          (len(benign_ok), n_cmp), len(benign_ok) >= 2 * (len(caps) - len(INCONSISTENT)) and n_cmp > 0)
    stale = set(known) - used_known
    check("corpus: every known difference still occurs", not stale, "stale rows: %s" % sorted(stale))


def compare_bytes(e, lines, known, used_known, cp):
    ours = {}
    for f in by(lines, "flow"):
        k = frozenset([cp.norm_ep(f["src_ip"], f["src_port"]), cp.norm_ep(f["dest_ip"], f["dest_port"])])
        ours.setdefault(k, []).append(f)
    theirs = {}
    for r in e.tcp_rows():
        if r.get("orig_bytes", "-") == "-" or not r["orig_bytes"].isdigit():
            continue
        a, b = cp.norm_ep(r["orig_ip"], r["orig_port"]), cp.norm_ep(r["resp_ip"], r["resp_port"])
        theirs.setdefault(frozenset([a, b]), []).append(r)
    agree = 0
    for k, rows in theirs.items():
        o = ours.get(k, [])
        if len(rows) != 1 or len(o) != 1:
            continue  # the peers split connections their own way (regress/known-differences.tsv)
        r, f = rows[0], o[0]
        oe = cp.norm_ep(r["orig_ip"], r["orig_port"])
        cid = "%s:%s-%s:%s" % (r["orig_ip"], r["orig_port"], r["resp_ip"], r["resp_port"])
        cli = cp.norm_ep(f["src_ip"], f["src_port"])
        mine = (f["client_bytes"], f["server_bytes"]) if cli == oe else (f["server_bytes"], f["client_bytes"])
        for col, v in zip(("orig_bytes", "resp_bytes"), mine):
            kk = (e.case, cid + " " + col)
            if str(v) == r[col]:
                agree += 1
                if kk in known:
                    ko("corpus %s %s %s: known difference no longer differs" % (e.case, cid, col), "both %s" % v)
                continue
            if kk in known and known[kk][0] == str(v) and known[kk][1] == r[col]:
                used_known.add(kk)
                continue
            ko("corpus %s %s %s: charged bytes = %s's" % (e.case, cid, col, e.peer.capitalize()),
               "ours %s, %s %s" % (v, e.peer, r[col]))
    if agree:
        ok("corpus %s: %d byte counts equal %s's (orig/resp_bytes per connection)" % (e.case, agree, e.peer.capitalize()))


# ------------------------------------------------------------------ real TCP
def cmd_xfer(out, server_log, clients, tag):
    lines = load(out)
    if lines is None:
        return
    flows = {}
    for f in by(lines, "flow"):
        flows.setdefault(f["src_port"], []).append(f)
    srv = {}
    for l in open(server_log):
        d = json.loads(l)
        srv[d["peer"][1]] = d
    n = 0
    for l in open(clients):
        if not l.strip().startswith("{"):
            continue
        c = json.loads(l)
        n += 1
        f = flows.get(c["port"], [])
        s = srv.get(c["port"])
        if len(f) != 1 or not s:
            ko("%s: connection from port %d: one flow line and the server's record" % (tag, c["port"]),
               "%d flow lines, server record %s" % (len(f), bool(s)))
            continue
        f = f[0]
        check("%s: port %d: charged client->server %d = bytes the server application read (%d), "
              "server->client %d = bytes the client application read (%d); %d+%d retransmitted bytes not charged" %
              (tag, c["port"], f["client_bytes"], s["read"], f["server_bytes"], c["read"], f["client_rexmit_bytes"],
               f["server_rexmit_bytes"]), f["client_bytes"] == s["read"] and f["server_bytes"] == c["read"],
              "mismatch")
    us, tot = by(lines, "usage"), by(lines, "total")
    if us:
        su = sum(d["up_bytes"] + d["down_bytes"] for d in us)
        st = sum(d["up_bytes"] + d["down_bytes"] for d in tot)
        check("%s: %d usage lines (live, per interval of packet time) add up to the totals (%d bytes)" %
              (tag, len(us), st), su == st and len({d["start"] for d in us}) >= 1, "usage %d, totals %d" % (su, st))
    s = summary(lines)
    check("%s: %d transfers checked, no abuse record (%d records, %d abuse segments), %d retransmitted bytes "
          "compared, %d unverified" % (tag, n, len(by(lines, "abuse")), s.get("abuse_segments", -1),
                                       s.get("compared_bytes", 0), s.get("unverified_bytes", 0)),
          n > 0 and not by(lines, "abuse") and s.get("abuse_segments") == 0)
    return s


def cmd_attack_live(out, server_log, client):
    lines = load(out)
    if lines is None:
        return
    c = json.loads(open(client).read().strip().splitlines()[-1])
    ab = [d for d in by(lines, "abuse") if d["src_port"] == c.get("port")]
    check("inline attack: one abuse record for the connection", len(ab) == 1, "got %d" % len(ab))
    if ab:
        a = ab[0]
        check("inline attack: sender client, offset 5 (after \"HOLD\\n\"), first copy 'A'*16, retransmitted 'B'*16, "
              "action reset", a["sender"] == "client" and a["offset"] == 5 and a["first"] == "41" * 16 and
              a["rexmit"] == "42" * 16 and a["action"] == "reset", json.dumps(a))
    check("inline attack: the client's connection was reset", c.get("reset") is True, json.dumps(c))
    srv = [json.loads(l) for l in open(server_log)]
    s = [d for d in srv if d["peer"][1] == c.get("port")]
    check("inline attack: the server was reset too and its application read only the first copy "
          "(%s bytes, byte values %s)" % (s[0]["read"] if s else "?", s[0]["heads"] if s else "?"),
          len(s) == 1 and s[0]["reset"] and s[0]["heads"] == [ord("A")] and s[0]["read"] == 5 + 1000,
          json.dumps(s))
    fl = [d for d in by(lines, "flow") if d["src_port"] == c.get("port")]
    check("inline attack: flow line says reset, 1000 client bytes charged, 1000 not charged",
          len(fl) == 1 and fl[0]["reset"] and fl[0]["client_bytes"] == 1005 and fl[0]["client_rexmit_bytes"] == 1000,
          json.dumps(fl))


def main():
    a = sys.argv[1:]
    cmds = {"json": cmd_json, "attack": cmd_attack, "intervals": cmd_intervals, "same": cmd_same,
            "corpus": cmd_corpus, "xfer": cmd_xfer, "attack-live": cmd_attack_live}
    if not a or a[0] not in cmds:
        sys.exit(__doc__)
    try:
        cmds[a[0]](*a[1:])
    except Exception as e:  # a broken checker must fail, not pass
        ko("check.py %s" % a[0], "%s: %s" % (type(e).__name__, e))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
