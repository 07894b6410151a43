#!/usr/bin/env python3
"""How each connection ended, in streamdump's index (mospipe_flow_info()'s
`end`), against Zeek's conn_state for the same capture (the corpus'
expected.tsv, copied from Zeek's own test baselines).

  ends_check.py INDEX EXPECTED_TSV NAME

Only Zeek states with one meaning are compared: SF (both FINs) -> fin;
REJ, RSTO, RSTR (a reset) -> rst; S1 (established, still open at the end of
the trace) -> open. Connections are matched by their unordered endpoint
pair, in order of appearance. Prints one ok/FAIL line."""
import json
import sys

WANT = {"SF": "fin", "REJ": "rst", "RSTO": "rst", "RSTR": "rst", "S1": "open"}


def main():
    index, tsv, name = sys.argv[1:4]
    ours = {}
    for line in open(index):
        j = json.loads(line)
        if "flow_id" in j:
            k = frozenset([(j["cli_ip"], j["cli_port"]), (j["svr_ip"], j["svr_port"])])
            ours.setdefault(k, []).append(j["end"])
    rows, header = [], None
    for line in open(tsv):
        if line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if header is None:
            header = cols
            continue
        rows.append(dict(zip(header, cols)))
    n, bad = 0, []
    seen = {}
    for r in rows:
        k = frozenset([(r["orig_ip"], int(r["orig_port"])), (r["resp_ip"], int(r["resp_port"]))])
        i = seen.get(k, 0)
        seen[k] = i + 1
        want = WANT.get(r["conn_state"]) if r.get("proto") == "tcp" else None
        if not want:
            continue
        got = ours.get(k, [])
        g = got[i] if i < len(got) else None
        n += 1
        if g != want:
            bad.append(f"{r['orig_ip']}:{r['orig_port']}-{r['resp_ip']}:{r['resp_port']} Zeek {r['conn_state']}, "
                       f"index end {g}")
    if n and not bad:
        print(f"ok   {name}: the index's end of {n} connections agrees with Zeek's conn_state (SF fin, REJ/RSTO/RSTR "
              f"rst, S1 open)")
    else:
        print(f"FAIL {name}: {len(bad)} of {n} connections end otherwise than Zeek says: " + "; ".join(bad[:4]))
    sys.exit(0 if n and not bad else 1)


if __name__ == "__main__":
    main()
