#!/usr/bin/env python3
"""Planted patterns in generator traffic (outside truth: the generator knows
where and how often it planted them).

  gen_check.py BUILD_DIR WORKDIR CONF [--lcores MAP]   (env IDS_WANT_CONTEXTS: app instances, default 1)

Writes a capture with build/bench/gen -w (complete connections, 10% of the
data segments retransmitted, four patterns: even ones straddle two segments,
odd ones sit inside one), writes rules from gen's report (the patterns, one
with nocase, one with its exact offset, one off by one, a request at depth 5,
a two-content rule with distance/within between two planted patterns), runs
ids and checks: every rule fires exactly once in every connection where the
generator says it must (by flow_id: once per connection, never twice), never
where it must not, each alert on the right side, every line valid EVE.
Prints PASS:/FAIL: lines; exit 1 on any FAIL.
"""
import collections
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idslib  # noqa: E402

PATS = ["ids-needle-0", "IDS\\x00needle-1", "needle-2-xyz", "needle-3"]


def main():
    build, w, conf = sys.argv[1:4]
    extra = sys.argv[4:]
    os.makedirs(w, exist_ok=True)
    pcap = os.path.join(w, "gen.pcap")
    cmd = [os.path.join(build, "bench", "gen"), "-w", pcap, "-n", "64", "-s", "16k", "-c", "160", "-r", "0.1",
           "--seed", "7"]
    for p in PATS:
        cmd += ["--pattern", p]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    conns = int(re.search(r"(\d+) connections started, (\d+) finished", out).group(2))
    pat = {}
    for m in re.finditer(r"pattern (\d) '.*' at server stream offset (\d+) \((straddles two segments|in one "
                         r"segment)\): planted (\d+), expected matches (\d+)", out):
        pat[int(m.group(1))] = {"off": int(m.group(2)), "straddle": m.group(3).startswith("straddles"),
                                "planted": int(m.group(4)), "expect": int(m.group(5))}
    fails = 0
    if len(pat) != 4 or any(p["planted"] != conns or p["expect"] != conns for p in pat.values()):
        print("FAIL: gen: unexpected report: %s" % out)
        return 1
    o0, o2, o3 = pat[0]["off"], pat[2]["off"], pat[3]["off"]
    gap = o2 - (o0 + len("ids-needle-0"))
    rules = os.path.join(w, "gen.rules")
    with open(rules, "w") as f:
        f.write('alert tcp any 80 -> any any (msg:"p0 straddling"; flow:to_client,established; '
                'content:"ids-needle-0"; sid:100; rev:1;)\n')
        f.write('alert tcp any any -> any any (msg:"p1 with a NUL"; content:"IDS|00|needle-1"; sid:101;)\n')
        f.write('alert tcp any any <> any any (msg:"p2 nocase"; content:"NEEDLE-2-XYZ"; nocase; sid:102;)\n')
        f.write('alert tcp any any -> any any (msg:"p3 at its offset"; content:"needle-3"; offset:%d; depth:8; '
                'sid:103;)\n' % o3)
        f.write('alert tcp any any -> any any (msg:"p3 one byte further"; content:"needle-3"; offset:%d; '
                'sid:104;)\n' % (o3 + 1))
        f.write('alert tcp any any -> any 80 (msg:"request"; flow:to_server; content:"GET /"; depth:5; sid:105;)\n')
        f.write('alert tcp any any -> any any (msg:"p0 then p2"; content:"ids-needle-0"; content:"needle-2"; '
                'distance:%d; within:%d; sid:106;)\n' % (gap, len("needle-2")))
        f.write('alert tcp any any -> any any (msg:"p0 then p2, one byte short"; content:"ids-needle-0"; '
                'content:"needle-2"; distance:%d; sid:107;)\n' % (gap + 1))
        f.write('alert tcp any any -> any 80 (msg:"to_server only, pattern is to_client"; flow:to_server; '
                'content:"needle-3"; sid:108;)\n')
    # sid -> (expected alerts per connection, direction)
    want = {100: (1, "to_client"), 101: (1, "to_client"), 102: (1, "to_client"), 103: (1, "to_client"),
            104: (0, None), 105: (1, "to_server"), 106: (1, "to_client"), 107: (0, None), 108: (0, None)}
    eve = os.path.join(w, "eve.json")
    if os.path.exists(eve):
        os.unlink(eve)
    r = subprocess.run([os.path.join(build, "ids"), "-S", rules, "-r", pcap, "-l", w, "-c", conf] + extra,
                       capture_output=True, text=True)
    tag = "gen%s" % (" " + " ".join(extra) if extra else "")
    if r.returncode != 0:
        print("FAIL: %s: ids exit %d: %s" % (tag, r.returncode, r.stderr.strip()[-400:]))
        return 1
    recs, bad = idslib.check_eve(eve)
    if bad:
        print("FAIL: %s: eve.json: %s" % (tag, "; ".join(bad[:3])))
        fails += 1
    al = idslib.alerts(recs)
    per = collections.Counter((a["flow_id"], a["alert"]["signature_id"]) for a in al)
    flows = {a["flow_id"] for a in al}
    for sid, (n, d) in sorted(want.items()):
        got = [a for a in al if a["alert"]["signature_id"] == sid]
        twice = [k for k, v in per.items() if k[1] == sid and v > 1]
        wrong_dir = [a for a in got if a["direction"] != d or
                     (d == "to_client" and a["src_port"] != 80) or (d == "to_server" and a["dest_port"] != 80)]
        if len(got) == n * conns and not twice and not wrong_dir:
            print("PASS: %s: sid %d: %d alerts = %d connections x %d, none twice in a flow%s" % (
                tag, sid, len(got), conns, n, ", all %s" % d if d else ""))
        else:
            print("FAIL: %s: sid %d: %d alerts, expected %d (%d connections x %d); %d flows with two; %d on the "
                  "wrong side" % (tag, sid, len(got), n * conns, conns, n, len(twice), len(wrong_dir)))
            fails += 1
    st = [r for r in recs if r.get("event_type") == "stats"]
    want_ctx = int(os.environ.get("IDS_WANT_CONTEXTS", "1"))
    ctx = st[-1]["stats"]["ids"]["contexts"] if st else None
    if ctx == want_ctx:
        print("PASS: %s: %d mOS context(s) ran, as the mapping says" % (tag, ctx))
    else:
        print("FAIL: %s: %s mOS contexts ran, expected %d" % (tag, ctx, want_ctx))
        fails += 1
    if len(flows) != conns:
        print("FAIL: %s: alerts in %d flows, the generator made %d connections" % (tag, len(flows), conns))
        fails += 1
    else:
        print("PASS: %s: alerts in all %d connections (%d straddling patterns among 4), flow_ids distinct" % (
            tag, conns, sum(p["straddle"] for p in pat.values())))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
