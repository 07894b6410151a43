#!/usr/bin/env python3
"""Checks midstat's --json --all stream for one connection's life.

live_check.py JSON_FILE CLIENT_ENDPOINT: the rows of that client endpoint,
table by table, must show the handshake (SYN_SENT or SYN_RCVD on a side),
then ESTABLISHED/ESTABLISHED, then a closing state, and at the end the
connection must be reported ended ("end" set) or gone from the live rows.
Prints the sequence of states seen. Exit 0 when all holds, 1 otherwise."""
import json
import sys

CLOSING = {"FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSING"}


def main():
    path, cli = sys.argv[1], sys.argv[2]
    tables, rows = [], []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except ValueError:
                print(f"not JSON: {line[:120]}")
                return 1
            if o.get("type") == "health":
                tables.append(rows)
                rows = []
            elif o.get("cli") == cli:
                rows.append(o)
    seq = []
    for t in tables:
        st = tuple((r["cli_state"], r["svr_state"], r["end"]) for r in t)
        if not seq or seq[-1] != st:
            seq.append(st)
    print(f"{len(tables)} tables; states of {cli}: {seq}")
    phase, ok = 0, True
    for st in seq:
        for c, s, _ in st:
            if phase == 0 and ("SYN_SENT" in (c, s) or "SYN_RCVD" in (c, s)):
                phase = 1
            elif phase == 1 and (c, s) == ("ESTABLISHED", "ESTABLISHED"):
                phase = 2
            elif phase == 2 and (c in CLOSING or s in CLOSING):
                phase = 3
    names = ["handshake (SYN_SENT/SYN_RCVD)", "ESTABLISHED/ESTABLISHED", "a closing state"]
    if phase < 3:
        print(f"never saw {names[phase]} (in order)")
        ok = False
    last = seq[-1] if seq else ()
    if last and not all(e for _, _, e in last):
        print(f"still live, not ended, in the last table: {last}")
        ok = False
    if sum(1 for t in tables[-1:] for _ in t) > 1:
        print("listed more than once in the last table")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
