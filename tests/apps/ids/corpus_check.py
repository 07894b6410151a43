#!/usr/bin/env python3
"""Corpus test of apps/ids against tcpflow (outside truth).

  corpus_check.py IDS RULES KNOWN TMPDIR CAPTURE...

For each capture: tcpflow writes each connection's two streams to files;
every rule's Python regex equivalent (the "# re:" line above it in RULES) is
searched in each stream file, giving the expected alerts as a multiset of
(src, sport, dst, dport, sid). ids runs on the same capture (checksums not
verified, as tcpflow does not verify them) and its eve.json must give the
same multiset, every line valid EVE. Differences are allowed only where
KNOWN (a TSV: capture, sid or *, stream "src:sport>dst:dport",
missing|extra, reason) lists them, and each listed difference must still
occur.
Prints PASS:/FAIL: lines; exits 1 on any FAIL.
"""
import collections
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idslib  # noqa: E402


def fmt(k):
    return "%s:%d>%s:%d" % k[:4]


def main():
    ids, rules, known_path, tmp = sys.argv[1:5]
    caps = sys.argv[5:]
    regex = idslib.rules_regex(rules)
    known = {}
    with open(known_path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cap, sid, stream, kind, why = line.rstrip("\n").split("\t")
            known[(cap, sid, stream, kind)] = why
    seen_known = set()
    fails = 0
    total_expected = total_alerts = 0
    for cap in caps:
        name = os.path.basename(cap)
        d = os.path.join(tmp, name)
        os.makedirs(d, exist_ok=True)
        want = collections.Counter()
        for key, data in idslib.tcpflow_streams(cap, os.path.join(d, "tcpflow")):
            for sid, rx in regex.items():
                if rx.search(data):
                    want[key + (sid,)] += 1
        eve = os.path.join(d, "eve.json")
        if os.path.exists(eve):
            os.unlink(eve)
        r = subprocess.run([ids, "-S", rules, "-r", cap, "-l", d, "-C", "ignore", "-c", os.environ["IDS_CONF"]],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL: %s: ids exit %d: %s" % (name, r.returncode, r.stderr.strip()[-300:]))
            fails += 1
            continue
        recs, bad = idslib.check_eve(eve)
        got = collections.Counter(idslib.alert_key(a) for a in idslib.alerts(recs))
        total_expected += sum(want.values())
        total_alerts += sum(got.values())
        diffs = []
        for k in sorted(set(want) | set(got)):
            if want[k] != got[k]:
                kind = "missing" if want[k] > got[k] else "extra"
                kk = (name, str(k[4]), fmt(k), kind)
                kw = (name, "*", fmt(k), kind)
                if kk in known or kw in known:
                    seen_known.add(kk if kk in known else kw)
                else:
                    diffs.append("%s sid %d %s: tcpflow+regex %d, ids %d" % (kind, k[4], fmt(k), want[k], got[k]))
        if bad:
            print("FAIL: %s: eve.json: %s" % (name, "; ".join(bad[:3])))
            fails += 1
        if diffs:
            print("FAIL: %s: %d difference(s) from tcpflow+regex: %s" % (name, len(diffs), "; ".join(diffs[:6])))
            fails += 1
        else:
            print("PASS: %s: %d alerts = tcpflow+regex's %d%s" % (
                name, sum(got.values()), sum(want.values()),
                " (with %d known difference(s))" % len([k for k in seen_known if k[0] == name])
                if any(k[0] == name for k in seen_known) else ""))
    for kk, why in sorted(known.items()):
        if kk[0] in [os.path.basename(c) for c in caps] and kk not in seen_known:
            print("FAIL: known difference no longer occurs (update known-differences.tsv): %s sid %s %s %s (%s)"
                  % (kk[0], kk[1], kk[2], kk[3], why))
            fails += 1
    if total_expected == 0:
        print("FAIL: the corpus produced no expected alert at all: the test has no teeth")
        fails += 1
    print("corpus: %d alerts expected by tcpflow+regex in %d captures, %d raised" % (total_expected, len(caps),
                                                                                    total_alerts))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
