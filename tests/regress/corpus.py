#!/usr/bin/env python3
"""Corpus comparator: mospipe's flow log against the peers' expectations.

For every capture with an .expected*.tsv (one "case" per expectation file),
mospipe runs with --flow-log (and -C ignore when the expectation's provenance
says the peer ignored checksums), then the connections are compared with the
columns that peer fills.  README.md explains the matching, which of our
columns each peer column is compared with, and the end-state mapping table.

Every disagreement must be listed in known-differences.tsv with a reason, or
the case fails.  Listed differences that no longer occur are reported as
stale (a warning).  While mospipe writes no flow log, every case is reported
"not run: flow log not available" and counted as failed.

  corpus.py --mospipe build/mospipe [--only NAME] [--results FILE]
  corpus.py --self-test
"""

import argparse
import ipaddress
import json
import re
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import mplib

KNOWN = mplib.HERE / "known-differences.tsv"

TCP_STATES = {"CLOSED", "LISTEN", "SYN_SENT", "SYN_RCVD", "ESTABLISHED", "FIN_WAIT_1",
              "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"}
END_VALUES = {"fin", "rst", "timeout", "evicted", "open"}
SIDE_KEYS = ("pkts", "bytes", "missed", "rexmit", "rexmit_bytes")
FLOW_KEYS = ({"cli", "svr", "cli_state", "svr_state", "end", "first_ts", "last_ts", "midstream"}
             | {f"{s}_{k}" for s in ("cli", "svr") for k in SIDE_KEYS})

NOT_AVAILABLE = "not run: flow log not available"
NO_FILE = "no flow log file written"

# ---------------------------------------------------------------- end states
# Peer end vocabulary -> the set of our `end` values that agree with it.
# README.md has the same table with the reasons; keep the two in step.
STILL_OPEN = frozenset({"open", "timeout"})
ZEEK_END = {
    "SF": frozenset({"fin"}),
    "REJ": frozenset({"rst"}),
    "RSTO": frozenset({"rst"}),
    "RSTR": frozenset({"rst"}),
    "RSTOS0": frozenset({"rst"}),
    "RSTRH": frozenset({"rst"}),
    "S0": STILL_OPEN,
    "S1": STILL_OPEN,
    "S2": STILL_OPEN,
    "S3": STILL_OPEN,
    "SH": STILL_OPEN,
    "SHR": STILL_OPEN,
    # OTH: decided from the history letters (zeek_end_from_history).
}
SURICATA_OPEN_STATES = {"none", "syn_sent", "syn_recv", "established", "fin_wait1", "fin_wait2",
                        "close_wait"}
SURICATA_BOTH_FIN_STATES = {"closing", "last_ack", "time_wait"}


def zeek_end_from_history(history):
    """For OTH and for baselines that give only the history: a reset letter
    means the connection ended by RST; a FIN from both sides means it closed;
    anything else was still open when the trace ended."""
    if not history or history == "-":
        return None
    if "R" in history or "r" in history:
        return frozenset({"rst"})
    if "F" in history and "f" in history:
        return frozenset({"fin"})
    return STILL_OPEN


def zeek_end(row):
    state, history = row.get("conn_state", "-"), row.get("history", "-")
    if state in ZEEK_END:
        return ZEEK_END[state], state
    if state in ("OTH", "-"):
        want = zeek_end_from_history(history)
        if want is None:
            return None, None
        return want, f"{state}/{history}" if state != "-" else f"history {history}"
    return None, None


def suricata_end(row):
    state = row.get("peer_tcp_state", "-")
    if state in ("-", ""):
        return None, None
    flags = row.get("tcp_flags", "")
    if state == "closed":
        want = set()
        if "rst=true" in flags:
            want.add("rst")
        if "fin=true" in flags:
            want.add("fin")
        return frozenset(want or {"fin", "rst"}), state
    if state in SURICATA_BOTH_FIN_STATES:
        # Both FINs seen, the last ACK maybe not: closed or still closing.
        return frozenset({"fin"}) | STILL_OPEN, state
    if state in SURICATA_OPEN_STATES:
        return STILL_OPEN, state
    return None, None


# --------------------------------------------------------------- endpoints
def norm_ep(ip, port):
    """(canonical ip, int port); raises ValueError on garbage."""
    return ipaddress.ip_address(ip.strip("[]")).compressed, int(port)


def parse_ep(text):
    """'1.2.3.4:80' or '[::1]:80' -> (ip, port)."""
    m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([0-9.]+):(\d+)", text)
    if not m:
        raise ValueError(f"bad endpoint {text!r} (want ip:port or [ipv6]:port)")
    ip, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    ep = norm_ep(ip, port)
    if ":" in ep[0] and not m.group(1):
        raise ValueError(f"bad endpoint {text!r}: IPv6 needs brackets")
    if not 0 <= ep[1] <= 65535:
        raise ValueError(f"bad endpoint {text!r}: port out of range")
    return ep


def fmt_ep(ep):
    ip, port = ep
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --------------------------------------------------------------- flow log
class FlowLogError(Exception):
    pass


def parse_flow_log(text, origin="flow log"):
    """Validate and parse a flow log; returns a list of dicts with 'cli_ep'
    and 'svr_ep' added.  Any schema violation raises FlowLogError: the keys
    are a contract with the TCP stage."""
    flows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{origin}:{n}"
        try:
            f = json.loads(line)
        except ValueError as e:
            raise FlowLogError(f"{where}: not JSON: {e}") from None
        if not isinstance(f, dict):
            raise FlowLogError(f"{where}: not a JSON object")
        keys = set(f)
        if keys != FLOW_KEYS:
            missing, extra = sorted(FLOW_KEYS - keys), sorted(keys - FLOW_KEYS)
            raise FlowLogError(f"{where}: keys differ from the contract: missing {missing}, extra {extra}")
        try:
            f["cli_ep"], f["svr_ep"] = parse_ep(f["cli"]), parse_ep(f["svr"])
        except (ValueError, TypeError) as e:
            raise FlowLogError(f"{where}: {e}") from None
        for k in ("cli_state", "svr_state"):
            if f[k] not in TCP_STATES:
                raise FlowLogError(f"{where}: {k} {f[k]!r} is not an RFC 793 state name")
        if f["end"] not in END_VALUES:
            raise FlowLogError(f"{where}: end {f['end']!r} not one of {sorted(END_VALUES)}")
        if not isinstance(f["midstream"], bool):
            raise FlowLogError(f"{where}: midstream must be true/false")
        for k in ("first_ts", "last_ts"):
            if not isinstance(f[k], (int, float)) or isinstance(f[k], bool):
                raise FlowLogError(f"{where}: {k} must be a number")
        if f["first_ts"] > f["last_ts"]:
            raise FlowLogError(f"{where}: first_ts > last_ts")
        for s in ("cli", "svr"):
            for k in SIDE_KEYS:
                v = f[f"{s}_{k}"]
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise FlowLogError(f"{where}: {s}_{k} must be a non-negative integer")
            if f[f"{s}_missed"] > f[f"{s}_bytes"]:
                raise FlowLogError(f"{where}: {s}_missed > {s}_bytes (missed bytes lie inside the range)")
        flows.append(f)
    return flows


# -------------------------------------------------------------- expectations
class Expectation:
    def __init__(self, path):
        self.path = Path(path)
        name = self.path.name
        m = re.fullmatch(r"(.+)\.expected(?:\.([^.]+))?\.tsv", name)
        if not m:
            raise ValueError(f"{path}: not an expectation file name")
        self.stem, self.variant = m.group(1), m.group(2)
        self.case = self.stem + (f"/{self.variant}" if self.variant else "")
        self.capture = None
        for ext in (".pcap", ".pcapng"):
            c = self.path.with_name(self.stem + ext)
            if c.exists():
                self.capture = c
        self.header, self.rows = [], []
        lines = self.path.read_text().splitlines()
        body = [l for l in lines if not l.startswith("#") and l.strip()]
        self.header = [l for l in lines if l.startswith("#")]
        cols = body[0].split("\t")
        for l in body[1:]:
            vals = l.split("\t")
            self.rows.append(dict(zip(cols, vals + ["-"] * (len(cols) - len(vals)))))
        self.peer = self._peer()
        self.checksum, self.checksum_why = self._checksum()

    def _peer(self):
        for l in self.header:
            m = re.match(r"#\s*peer:\s*(\w+)", l)
            if m:
                p = m.group(1).lower()
                if p in ("zeek", "suricata", "arkime"):
                    return p
        if self.variant in ("zeek", "suricata"):
            return self.variant
        raise ValueError(f"{self.path}: no '# peer:' line naming Zeek, Suricata or Arkime")

    def _checksum(self):
        """('ignore'|'verify', why) from the provenance header."""
        if self.variant == "ignore-checksums":
            return "ignore", "ignore-checksums variant"
        if self.peer == "arkime":
            # Arkime's capture never verifies TCP (or IP) checksums: its
            # sessions include bad-checksum packets whatever the config.
            return "ignore", "Arkime never verifies checksums"
        meta = [l for l in self.header if not re.match(r"#\s*exec:", l)]
        text = " ".join(meta)
        if re.search(r"checksums verified|default checksum checking", text):
            return "verify", "header: checksums verified"
        m = re.search(r"(?<![\w-])(-C|-k none|ignore_checksums\w*|ignore-checksums)(?![\w-])", text)
        if m:
            return "ignore", f"header: {m.group(1)}"
        trace = self.capture.name if self.capture else self.stem
        runs = [l for l in self.header if re.match(r"#\s*exec:", l) and trace in l
                and re.search(r"\b(zeek|suricata)\b", l)]
        if runs:
            c = [bool(re.search(r"(?<![\w-])(-C|-k none)(?![\w-])|ignore_checksums", l)) for l in runs]
            if all(c):
                return "ignore", "exec line: -C"
            if not any(c):
                return "verify", "exec line: no -C"
            return "verify", "exec lines disagree; default"
        return "verify", "header silent; default"

    def tcp_rows(self):
        return [r for r in self.rows if r.get("proto") == "tcp"]


# ------------------------------------------------------------------ matching
def conn_id(a, b, k):
    s = f"{fmt_ep(a)}-{fmt_ep(b)}"
    return s if k == 1 else f"{s}#{k}"


def parse_conn_id(text):
    """'A-B' or 'A-B#k' -> (frozenset{A,B}, k); '*' -> None."""
    if text == "*":
        return None
    m = re.fullmatch(r"(.+?)-(.+?)(?:#(\d+))?", text)
    if not m:
        raise ValueError(f"bad connection {text!r}")
    return frozenset({parse_ep(m.group(1)), parse_ep(m.group(2))}), int(m.group(3) or 1)


def match(ours, theirs):
    """Pair our flows with peer rows: same unordered endpoint pair, then in
    order of appearance (ours by first_ts; the peer's in file order).
    Returns (pairs, ours_only, theirs_only) with pairs of (k, ours, theirs)."""
    og, tg = defaultdict(list), defaultdict(list)
    for f in sorted(ours, key=lambda f: (f["first_ts"], f["last_ts"])):
        og[frozenset({f["cli_ep"], f["svr_ep"]})].append(f)
    for r in theirs:
        tg[frozenset({r["orig_ep"], r["resp_ep"]})].append(r)
    pairs, ours_only, theirs_only = [], [], []
    for key in list(tg) + [k for k in og if k not in tg]:
        o, t = og.get(key, []), tg.get(key, [])
        for i in range(max(len(o), len(t))):
            if i < len(o) and i < len(t):
                pairs.append((i + 1, o[i], t[i]))
            elif i < len(o):
                ours_only.append((i + 1, o[i]))
            else:
                theirs_only.append((i + 1, t[i]))
    return pairs, ours_only, theirs_only


# ---------------------------------------------------------------- comparing
class Diff:
    def __init__(self, conn, column, ours, theirs):
        self.conn, self.column, self.ours, self.theirs = conn, column, str(ours), str(theirs)
        self.known = None  # the KnownDiff entry that covers it

    def row(self, case):
        return f"{case}\t{self.conn}\t{self.column}\t{self.ours}\t{self.theirs}"


def side_of(flow, ep):
    return "cli" if flow["cli_ep"] == ep else "svr"


def compare(exp, flows):
    """Compare one expectation with our flows.  Returns (n_compared,
    n_agree, diffs, columns) where columns is the set of column names
    compared."""
    theirs = []
    for r in exp.tcp_rows():
        try:
            r = dict(r, orig_ep=norm_ep(r["orig_ip"], r["orig_port"]),
                     resp_ep=norm_ep(r["resp_ip"], r["resp_port"]))
        except ValueError:
            continue  # no usable tuple (e.g. ports '-'): nothing to match on
        theirs.append(r)
    diffs, compared, agree, columns = [], 0, 0, set()

    def check(conn, column, ours_v, theirs_v, ok):
        nonlocal compared, agree
        compared += 1
        columns.add(column)
        if ok:
            agree += 1
        else:
            diffs.append(Diff(conn, column, ours_v, theirs_v))

    check("*", "connections", len(flows), len(theirs), len(flows) == len(theirs))
    pairs, ours_only, theirs_only = match(flows, theirs)
    for k, f in ours_only:
        diffs.append(Diff(conn_id(f["cli_ep"], f["svr_ep"], k), "presence", "present", "missing"))
    for k, r in theirs_only:
        diffs.append(Diff(conn_id(r["orig_ep"], r["resp_ep"], k), "presence", "missing", "present"))

    for k, f, r in pairs:
        cid = conn_id(r["orig_ep"], r["resp_ep"], k)
        o_side = side_of(f, r["orig_ep"])
        r_side = "svr" if o_side == "cli" else "cli"
        check(cid, "orient", "cli=" + fmt_ep(f["cli_ep"]), "orig=" + fmt_ep(r["orig_ep"]),
              f["cli_ep"] == r["orig_ep"])
        # Values are compared per endpoint, so a flipped orientation is one
        # disagreement (orient), not one per column.
        for col, side in (("orig", o_side), ("resp", r_side)):
            tb = r.get(f"{col}_bytes", "-")
            if tb != "-" and exp.peer in ("zeek", "arkime"):
                if exp.peer == "zeek":
                    ob = f[f"{side}_bytes"]
                else:  # Arkime: bytes delivered in order = range minus holes
                    ob = f[f"{side}_bytes"] - f[f"{side}_missed"]
                check(cid, f"{col}_bytes", ob, tb, str(ob) == tb)
            tp = r.get(f"{col}_pkts", "-")
            if tp != "-":
                check(cid, f"{col}_pkts", f[f"{side}_pkts"], tp, str(f[f"{side}_pkts"]) == tp)
        tm = r.get("missed_bytes", "-")
        if tm != "-" and exp.peer == "zeek":
            om = f["cli_missed"] + f["svr_missed"]
            check(cid, "missed_bytes", om, tm, str(om) == tm)
        if exp.peer == "zeek":
            want, label = zeek_end(r)
        elif exp.peer == "suricata":
            want, label = suricata_end(r)
        else:
            want, label = None, None
        if want is not None:
            check(cid, "end", f["end"], label, f["end"] in want)
    return compared, agree, diffs, columns


# --------------------------------------------------------- known differences
class KnownDiff:
    def __init__(self, lineno, capture, connection, column, ours, theirs, reason):
        self.lineno, self.capture, self.connection = lineno, capture, connection
        self.column, self.ours, self.theirs, self.reason = column, ours, theirs, reason
        self.conn_key = parse_conn_id(connection)
        self.used = False

    def covers(self, exp, d):
        if self.capture not in (exp.stem, exp.case):
            return False
        if self.column != d.column:
            return False
        if self.conn_key is not None:
            if d.conn == "*":
                return False
            if parse_conn_id(d.conn) != self.conn_key:
                return False
        elif self.connection != d.conn and d.conn != "*" and self.connection != "*":
            return False
        return self.ours in ("*", d.ours) and self.theirs in ("*", d.theirs)


def load_known(path):
    """Returns (entries, errors).  A row without a reason is an error."""
    entries, errors = [], []
    if not Path(path).exists():
        return entries, [f"{path}: missing"]
    header_seen = False
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if not header_seen:
            header_seen = True
            if cols[:6] != ["capture", "connection", "column", "ours", "theirs", "reason"]:
                errors.append(f"{path}:{n}: header must be capture connection column ours theirs reason")
            continue
        if len(cols) != 6:
            errors.append(f"{path}:{n}: {len(cols)} tab-separated columns, want 6")
            continue
        if not cols[5].strip():
            errors.append(f"{path}:{n}: no reason given")
            continue
        try:
            entries.append(KnownDiff(n, *cols))
        except ValueError as e:
            errors.append(f"{path}:{n}: {e}")
    return entries, errors


# ------------------------------------------------------------------- driver
def load_expectations(corpus, only=()):
    exps = []
    for p in sorted(Path(corpus).glob("*/*.expected*.tsv")):
        e = Expectation(p)
        if only and not any(o in e.case or o in str(p) for o in only):
            continue
        exps.append(e)
    return exps


def run_flows(binary, exp, workdir, cache, extra=()):
    """Run mospipe on the case's capture; returns (flows | None, error).
    None means no flow log was written.  Runs are cached per (capture,
    checksum mode)."""
    key = (str(exp.capture), exp.checksum)
    if key in cache:
        return cache[key]
    log = Path(workdir) / f"{len(cache)}.flows.jsonl"
    args = ["-q", "-r", exp.capture, "--flow-log", log] + list(extra)
    if exp.checksum == "ignore":
        args += ["-C", "ignore"]
    r = mplib.run_mospipe(binary, args)
    if r.timed_out:
        out = (None, f"timed out: {r.cmdline()}")
    elif r.sanitizer_report():
        out = (None, f"sanitizer: {r.sanitizer_report()} ({r.cmdline()})")
    elif r.rc != 0:
        first = r.stderr.strip().splitlines()[:1]
        if re.search(r"flow-log", " ".join(first)) and r.rc == 2:
            out = ("n/a", f"mospipe rejects --flow-log: {first}")
        else:
            out = (None, f"exit {r.rc}: {first} ({r.cmdline()})")
    elif not log.exists():
        out = ("n/a", NO_FILE)
    else:
        out = (log.read_text(errors="replace"), None)
    cache[key] = out
    return out


def evaluate(exps, texts, known, res, verbose=True):
    """texts: case -> (flow log text | 'n/a' | None, error).  Adds rows to
    res, prints the agreement table; returns the list of printed lines."""
    out = []
    available = any(t not in ("n/a", None) and t.strip() for t, _ in texts.values())
    hdr = f"{'capture':58} {'peer':8} {'conns':>9} {'cols':>4} {'agree':>5} {'disagree':>8} {'known':>5}  checksum"
    out.append(hdr)
    unexpected_rows = []
    for exp in exps:
        text, err = texts[exp.case]
        name = f"{exp.path.parent.name}/{exp.case}"
        if err and text is None:
            res.add("corpus", name, "FAIL", err)
            out.append(f"{name:58} {exp.peer:8} {'-':>9} {'-':>4} {'-':>5} {'-':>8} {'-':>5}  {exp.checksum}  ERROR")
            continue
        if available and text == "n/a" and err == NO_FILE:
            text = ""  # other captures got a log: no file here means no connection
        if not available or text == "n/a":
            why = err or "every flow log is empty"
            res.add("corpus", name, "NOTRUN", f"{NOT_AVAILABLE} ({why})")
            out.append(f"{name:58} {exp.peer:8} {'-':>9} {'-':>4} {'-':>5} {'-':>8} {'-':>5}  {exp.checksum}  NOT RUN")
            continue
        try:
            flows = parse_flow_log(text, f"{name} flow log")
        except FlowLogError as e:
            res.add("corpus", name, "FAIL", str(e))
            out.append(f"{name:58} {exp.peer:8} {'-':>9} {'-':>4} {'-':>5} {'-':>8} {'-':>5}  {exp.checksum}  BAD LOG")
            continue
        compared, agree, diffs, columns = compare(exp, flows)
        n_known = 0
        for d in diffs:
            for k in known:
                if k.covers(exp, d):
                    k.used = True
                    d.known = k
                    break
            if d.known:
                n_known += 1
            else:
                unexpected_rows.append(d.row(exp.case))
        n_unexp = len(diffs) - n_known
        conns = f"{len(flows)}/{len(exp.tcp_rows())}"
        out.append(f"{name:58} {exp.peer:8} {conns:>9} {len(columns):>4} {agree:>5} {len(diffs):>8} {n_known:>5}  {exp.checksum}")
        detail = (f"{exp.peer}: conns {conns}, {compared} values in {len(columns)} columns "
                  f"({','.join(sorted(columns))}), {agree} agree, {len(diffs)} differ ({n_known} known)")
        if n_unexp:
            res.add("corpus", name, "FAIL", f"{n_unexp} unlisted difference(s); " + detail)
        else:
            res.add("corpus", name, "PASS", detail)
    if available:
        for k in known:
            if not k.used and any(k.capture in (e.stem, e.case) for e in exps):
                res.add("corpus", "known-differences", "WARN",
                        f"stale entry {KNOWN.name}:{k.lineno} ({k.capture} {k.connection} {k.column}): no longer occurs")
    if unexpected_rows:
        out.append("")
        out.append("unlisted differences (fix mospipe, or add to known-differences.tsv with a reason):")
        out.append("capture\tconnection\tcolumn\tours\ttheirs")
        out.extend(unexpected_rows)
    if verbose:
        print("\n".join(out))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mospipe", help="mospipe binary")
    ap.add_argument("--corpus", default=str(mplib.DEFAULT_CORPUS))
    ap.add_argument("--known", default=str(KNOWN))
    ap.add_argument("--results", help="append result rows here (default: print)")
    ap.add_argument("--only", action="append", default=[], help="case name substring (repeatable)")
    ap.add_argument("--set", action="append", default=[], help="extra --set for every run")
    ap.add_argument("--list", action="store_true", help="list cases, peers and checksum modes")
    ap.add_argument("--self-test", action="store_true", help="test the comparator on fake flow logs")
    args = ap.parse_args(argv)

    if args.self_test:
        import corpus_selftest
        return corpus_selftest.run(args.corpus)
    exps = load_expectations(args.corpus, args.only)
    if not exps:
        mplib.die(f"no expectations under {args.corpus}")
    if args.list:
        for e in exps:
            cap = e.capture.name if e.capture else "(no capture!)"
            print(f"{e.path.parent.name}/{e.case}\t{e.peer}\t{cap}\t{len(e.tcp_rows())} tcp\t"
                  f"{e.checksum} ({e.checksum_why})")
        return 0
    if not args.mospipe:
        mplib.die("--mospipe is required")
    res = mplib.Results(args.results)
    known, errors = load_known(args.known)
    for e in errors:
        res.add("corpus", "known-differences", "FAIL", e)
    texts = {}
    with tempfile.TemporaryDirectory(prefix="regress-corpus.") as tmp:
        cache = {}
        for exp in exps:
            if exp.capture is None:
                texts[exp.case] = (None, f"no capture next to {exp.path.name}")
                continue
            texts[exp.case] = run_flows(args.mospipe, exp, tmp, cache,
                                        [a for s in args.set for a in ("--set", s)])
    evaluate(exps, texts, known, res)
    return 1 if res.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
