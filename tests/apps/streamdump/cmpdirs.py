#!/usr/bin/env python3
"""Compares two stream directories file by file (tcpflow's and streamdump's).

usage: cmpdirs.py THEIRS OURS   -> one TSV row per difference on stdout:
    file  kind  ours  theirs
kind: presence (file only on one side), content (same name, other bytes:
ours/theirs = size and the first differing offset). report.xml (tcpflow's)
and streamdump.json (ours) are not stream files and are skipped."""
import os
import sys

SKIP = {"report.xml", "streamdump.json"}


def files(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), d)
            if rel not in SKIP:
                out[rel] = os.path.join(root, n)
    return out


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def main():
    theirs, ours = files(sys.argv[1]), files(sys.argv[2])
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            print(f"{name}\tpresence\tmissing\tpresent({os.path.getsize(theirs[name])})")
            continue
        if name not in theirs:
            print(f"{name}\tpresence\tpresent({os.path.getsize(ours[name])})\tmissing")
            continue
        a = open(ours[name], "rb").read()
        b = open(theirs[name], "rb").read()
        if a != b:
            at = first_diff(a, b)
            print(f"{name}\tcontent\tsize={len(a)},differs_at={at}\tsize={len(b)}")


if __name__ == "__main__":
    main()
