#!/usr/bin/env python3
"""Scores the evasion cases: for each connection, the stream mospipe
reassembled (evbox, live inline and offline on the box's capture) and the
one libnids reassembled (evnids, same capture) against what the Linux
server's application read.

  compare.py DIR    (DIR/cases.json, srv/, box/, off/, nids/)

A case whose connection the box must flag (an insertion attempt) passes
only when the box also raised MOS_ON_ERROR with the expected reason.
Prints one line per case, then "libnids: N passed, M failed",
"evasion-offline: ..." and last "evasion: N passed, M failed" (mospipe
live inline: the score the suite counts). Exit 0 when every case passes
live and offline.
"""
import json
import os
import sys


def rd(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def show(b):
    if b is None:
        return "(none)"
    s = b if len(b) <= 48 else b[:20] + b"..." + b[-20:]
    return repr(s)[1:] + f" [{len(b)}]"


def main():
    d = sys.argv[1]
    cases = json.load(open(os.path.join(d, "cases.json")))
    score = {"live": [0, 0], "off": [0, 0], "nids": [0, 0]}
    by_owner = {}
    for k in cases:
        p = str(k["sport"])
        truth = rd(os.path.join(d, "srv", p + ".srv"))
        end = (rd(os.path.join(d, "srv", p + ".end")) or b"?").decode().strip()
        got = {"live": rd(os.path.join(d, "box", p + ".box")), "off": rd(os.path.join(d, "off", p + ".box")),
               "nids": rd(os.path.join(d, "nids", p + ".nids"))}
        info = (rd(os.path.join(d, "box", p + ".info")) or b"").decode().strip()
        offinfo = (rd(os.path.join(d, "off", p + ".info")) or b"").decode().strip()
        if truth is None:
            truth = b""  # the server never accepted the connection: nothing was read
            end = "no connection"
        ok = {w: got[w] is not None and got[w] == truth or (got[w] is None and truth == b"") for w in got}
        # The box must also say why (MOS_ON_ERROR with MOS_ERROR_REASON).
        want = k.get("expect_err")
        said = {"live": info, "off": offinfo}
        for w in ("live", "off"):
            if want and want not in said[w].split("errors=")[-1].split(","):
                ok[w] = False
        for w in got:
            score[w][0 if ok[w] else 1] += 1
        o = by_owner.setdefault(k["owner"], [0, 0])
        o[0 if ok["live"] else 1] += 1
        tag = "ok  " if ok["live"] and ok["off"] else "FAIL"
        print(f"{tag} {k['name']:22s} [{k['owner']}] libnids {'ok' if ok['nids'] else 'differs'}"
              f"{' (case error: ' + k['error'] + ')' if k.get('error') else ''}")
        if not (ok["live"] and ok["off"] and ok["nids"]):
            print(f"       server read {show(truth)} ({end})")
            if not ok["live"]:
                print(f"       mospipe     {show(got['live'])} {info}"
                      f"{' (reason ' + k['expect_err'] + ' expected)' if k.get('expect_err') else ''}")
            if not ok["off"]:
                print(f"       offline     {show(got['off'])}")
            if not ok["nids"]:
                print(f"       libnids     {show(got['nids'])}")
    for o, (p, f) in sorted(by_owner.items()):
        print(f"  cases decided by {o}: {p} passed, {f} failed")
    print(f"libnids: {score['nids'][0]} passed, {score['nids'][1]} failed")
    print(f"evasion-offline: {score['off'][0]} passed, {score['off'][1]} failed")
    print(f"evasion: {score['live'][0]} passed, {score['live'][1]} failed")
    return 0 if score["live"][1] == 0 and score["off"][1] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
