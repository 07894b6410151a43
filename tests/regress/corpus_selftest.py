"""Self-test of corpus.py (run with `corpus.py --self-test`): the matching,
column mapping, end-state table, known-differences handling and the
"flow log not available" detection, on small fake expectations and fake
flow logs, plus an end-to-end pass through main() with a fake mospipe.
Needs no mospipe and no DPDK."""

import io
import json
import os
import stat
import sys
import tempfile
import textwrap
import unittest
from contextlib import redirect_stdout
from pathlib import Path

import corpus
import mplib

COLS = ("orig_ip orig_port resp_ip resp_port proto conn_state history orig_bytes resp_bytes "
        "missed_bytes orig_pkts resp_pkts orig_ip_bytes resp_ip_bytes orig_wire_bytes "
        "resp_wire_bytes orig_tcp_state resp_tcp_state peer_tcp_state tcp_flags note").split()


def row(*vals, **kw):
    d = dict(zip(COLS, vals))
    d.update(kw)
    return "\t".join(d.get(c, "-") for c in COLS)


def flow(cli, svr, first_ts, end="fin", cli_pkts=0, svr_pkts=0, cli_bytes=0, svr_bytes=0,
         cli_missed=0, svr_missed=0, **kw):
    f = {"cli": cli, "svr": svr, "cli_state": "TIME_WAIT", "svr_state": "CLOSED", "end": end,
         "first_ts": first_ts, "last_ts": first_ts + 1, "midstream": False,
         "cli_pkts": cli_pkts, "cli_bytes": cli_bytes, "cli_missed": cli_missed,
         "cli_rexmit": 0, "cli_rexmit_bytes": 0,
         "svr_pkts": svr_pkts, "svr_bytes": svr_bytes, "svr_missed": svr_missed,
         "svr_rexmit": 0, "svr_rexmit_bytes": 0}
    f.update(kw)
    return json.dumps(f)


def write_exp(d, source, stem, header, rows, variant=None):
    p = Path(d) / source
    p.mkdir(parents=True, exist_ok=True)
    (p / f"{stem}.pcap").write_bytes(b"\xd4\xc3\xb2\xa1fake")
    name = f"{stem}.expected.{variant}.tsv" if variant else f"{stem}.expected.tsv"
    (p / name).write_text("\n".join(header + ["\t".join(COLS)] + rows) + "\n")
    return corpus.Expectation(p / name)


ZEEK_HDR = ["# peer: Zeek (fake)", "# exec: @TEST-EXEC: zeek -b -C -r $TRACES/fake.pcap %INPUT"]

# A Zeek expectation: a rejected attempt then a full connection on the same
# tuple, a connection Zeek flipped ('^'), an IPv6 one still open, and UDP
# (ignored: the flow log is TCP only).
ZEEK_ROWS = [
    row("10.0.0.1", "1000", "10.0.0.2", "80", "tcp", "REJ", "Sr", "0", "0", "0", "1", "1"),
    row("10.0.0.1", "1000", "10.0.0.2", "80", "tcp", "SF", "ShADadFf", "12", "175", "0", "6", "6"),
    row("10.0.0.3", "2000", "10.0.0.2", "80", "tcp", "SF", "^hADdFaf", "98", "9417", "5", "11", "10"),
    row("2001:db8::1", "3000", "2001:db8:0::2", "21", "tcp", "S1", "ShADad", "10", "20", "0", "4", "3"),
    row("10.0.0.9", "53", "10.0.0.2", "53", "udp", "SF", "Dd", "30", "40", "0", "1", "1"),
]


def zeek_flows(**over):
    """Our flows that agree with ZEEK_ROWS, in an order unlike the peer's."""
    fl = {
        "sf": dict(cli="10.0.0.1:1000", svr="10.0.0.2:80", first_ts=5, end="fin", cli_pkts=6,
                   svr_pkts=6, cli_bytes=12, svr_bytes=175),
        "v6": dict(cli="[2001:db8::1]:3000", svr="[2001:db8::2]:21", first_ts=7, end="open",
                   cli_pkts=4, svr_pkts=3, cli_bytes=10, svr_bytes=20),
        "rej": dict(cli="10.0.0.1:1000", svr="10.0.0.2:80", first_ts=1, end="rst", cli_pkts=1,
                    svr_pkts=1),
        "flip": dict(cli="10.0.0.3:2000", svr="10.0.0.2:80", first_ts=3, end="fin", cli_pkts=11,
                     svr_pkts=10, cli_bytes=98, svr_bytes=9417, svr_missed=5),
    }
    for k, v in over.items():
        if v is None:
            del fl[k]
        else:
            fl[k] = dict(fl[k], **v)
    return "\n".join(flow(**f) for f in fl.values()) + "\n"


class T(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="corpus-selftest.")
        self.d = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def cmp(self, exp, text):
        return corpus.compare(exp, corpus.parse_flow_log(text))

    # -- endpoints and the flow-log contract
    def test_endpoints(self):
        self.assertEqual(corpus.parse_ep("1.2.3.4:80"), ("1.2.3.4", 80))
        self.assertEqual(corpus.parse_ep("[2001:0db8:0:0::1]:443"), ("2001:db8::1", 443))
        self.assertEqual(corpus.fmt_ep(("2001:db8::1", 443)), "[2001:db8::1]:443")
        for bad in ("1.2.3.4", "2001:db8::1:443", "[1.2.3.4]x:80", "1.2.3.4:99999", "host:80"):
            with self.assertRaises(ValueError, msg=bad):
                corpus.parse_ep(bad)

    def test_flow_log_contract(self):
        good = flow("1.1.1.1:1", "2.2.2.2:2", 1)
        self.assertEqual(len(corpus.parse_flow_log(good + "\n\n" + good)), 2)
        broken = [
            json.dumps({k: v for k, v in json.loads(good).items() if k != "svr_missed"}),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, extra=1),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, cli_state="SYN_RECEIVED"),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, end="closed"),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, midstream="no"),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, cli_bytes=4, cli_missed=5),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, svr_pkts=-1),
            flow("1.1.1.1:1", "2.2.2.2:2", 1, last_ts=0),
            flow("2001:db8::1:1", "2.2.2.2:2", 1),
            "not json",
        ]
        for b in broken:
            with self.assertRaises(corpus.FlowLogError, msg=b):
                corpus.parse_flow_log(good + "\n" + b)

    # -- matching and columns
    def test_all_agree(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        n, agree, diffs, cols = self.cmp(exp, zeek_flows())
        self.assertEqual([d.row("x") for d in diffs], [])
        self.assertEqual(n, agree)
        self.assertEqual(cols, {"connections", "orient", "orig_bytes", "resp_bytes", "orig_pkts",
                                "resp_pkts", "missed_bytes", "end"})
        # 1 count + 4 connections x (orient, 2 bytes, 2 pkts, missed, end)
        self.assertEqual(n, 1 + 4 * 7)

    def test_order_of_appearance_on_same_tuple(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        # Swap the first_ts: now our first connection on the tuple is the SF one.
        _, _, diffs, _ = self.cmp(exp, zeek_flows(sf={"first_ts": 0.5}))
        got = {(d.conn, d.column) for d in diffs}
        self.assertIn(("10.0.0.1:1000-10.0.0.2:80", "end"), got)
        self.assertIn(("10.0.0.1:1000-10.0.0.2:80#2", "end"), got)
        self.assertIn(("10.0.0.1:1000-10.0.0.2:80#2", "orig_pkts"), got)

    def test_orientation_is_one_difference(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        # We took the IPv6 server for the client: bytes/pkts still compare per endpoint.
        _, _, diffs, _ = self.cmp(exp, zeek_flows(v6=dict(
            cli="[2001:db8::2]:21", svr="[2001:db8::1]:3000", cli_pkts=3, svr_pkts=4,
            cli_bytes=20, svr_bytes=10)))
        self.assertEqual([(d.conn, d.column, d.ours, d.theirs) for d in diffs],
                         [("[2001:db8::1]:3000-[2001:db8::2]:21", "orient",
                           "cli=[2001:db8::2]:21", "orig=[2001:db8::1]:3000")])

    def test_missing_and_extra_connections(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        text = zeek_flows(flip=None) + flow("10.9.9.9:9", "10.0.0.2:80", 9) + "\n"
        _, _, diffs, _ = self.cmp(exp, text)
        got = {(d.conn, d.column, d.ours, d.theirs) for d in diffs}
        self.assertEqual(got, {("10.0.0.3:2000-10.0.0.2:80", "presence", "missing", "present"),
                               ("10.9.9.9:9-10.0.0.2:80", "presence", "present", "missing")})
        # Same count (one missing, one extra) so 'connections' agrees.
        exp2 = write_exp(self.d, "zeek", "fake2", ZEEK_HDR, ZEEK_ROWS)
        _, _, diffs, _ = self.cmp(exp2, zeek_flows(flip=None))
        self.assertIn(("*", "connections", "3", "4"),
                      {(d.conn, d.column, d.ours, d.theirs) for d in diffs})

    def test_missed_and_bytes_semantics(self):
        # Zeek: X_bytes is the sequence range (gaps included); missed is the sum.
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        _, _, diffs, _ = self.cmp(exp, zeek_flows(flip={"svr_missed": 2, "cli_missed": 1}))
        self.assertEqual([(d.column, d.ours, d.theirs) for d in diffs], [("missed_bytes", "3", "5")])
        # Arkime: in-order delivered bytes = X_bytes - X_missed; no missed column.
        arow = row("10.180.156.1", "40005", "10.180.156.2", "80", "tcp", "-", "-", "37", "8", "-",
                   "6", "5")
        aexp = write_exp(self.d, "arkime", "gap", ["# peer: Arkime capture (fake)"], [arow])
        ok = flow("10.180.156.1:40005", "10.180.156.2:80", 1, cli_pkts=6, svr_pkts=5,
                  cli_bytes=37, svr_bytes=32, svr_missed=24)
        n, agree, diffs, cols = self.cmp(aexp, ok)
        self.assertEqual(diffs, [])
        self.assertNotIn("missed_bytes", cols)
        self.assertNotIn("end", cols)
        bad = flow("10.180.156.1:40005", "10.180.156.2:80", 1, cli_pkts=6, svr_pkts=5,
                   cli_bytes=37, svr_bytes=32)
        _, _, diffs, _ = self.cmp(aexp, bad)
        self.assertEqual([(d.column, d.ours, d.theirs) for d in diffs], [("resp_bytes", "32", "8")])

    def test_dash_means_not_compared(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR,
                        [row("1.1.1.1", "1", "2.2.2.2", "2", "tcp", "OTH", "R")])
        n, _, diffs, cols = self.cmp(exp, flow("1.1.1.1:1", "2.2.2.2:2", 1, end="rst", cli_pkts=7))
        self.assertEqual(diffs, [])
        self.assertEqual(cols, {"connections", "orient", "end"})

    def test_end_tables(self):
        z = lambda s, h="-": corpus.zeek_end({"conn_state": s, "history": h})[0]
        self.assertEqual(z("SF"), {"fin"})
        for s in ("REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH"):
            self.assertEqual(z(s), {"rst"}, s)
        for s in ("S0", "S1", "S2", "S3", "SH", "SHR"):
            self.assertEqual(z(s), {"open", "timeout"}, s)
        self.assertEqual(z("OTH", "R"), {"rst"})
        self.assertEqual(z("OTH", "SaFR"), {"rst"})
        self.assertEqual(z("OTH", "DdA"), {"open", "timeout"})
        self.assertEqual(z("-", "Hs^ADadFf"), {"fin"})
        self.assertIsNone(z("-", "-"))
        s = lambda st, fl="": corpus.suricata_end({"peer_tcp_state": st, "tcp_flags": fl})[0]
        self.assertEqual(s("closed", "syn=true,rst=true,ack=true"), {"rst"})
        self.assertEqual(s("closed", "syn=true,fin=true,ack=true"), {"fin"})
        self.assertEqual(s("close_wait"), {"open", "timeout"})
        self.assertEqual(s("syn_sent"), {"open", "timeout"})
        self.assertIsNone(s("-"))

    def test_suricata_columns(self):
        exp = write_exp(self.d, "suricata-verify", "s", ["# peer: Suricata (fake)", "# suricata args: -k none"],
                        [row("fe80::1", "5", "fe80::2", "80", "tcp", orig_pkts="4", resp_pkts="3",
                             orig_bytes="-", peer_tcp_state="close_wait", tcp_flags="fin=true")])
        self.assertEqual(exp.checksum, "ignore")
        _, _, diffs, cols = self.cmp(exp, flow("[fe80::1]:5", "[fe80::2]:80", 1, end="fin",
                                               cli_pkts=4, svr_pkts=3))
        self.assertEqual(cols, {"connections", "orient", "orig_pkts", "resp_pkts", "end"})
        self.assertEqual([(d.column, d.ours, d.theirs) for d in diffs], [("end", "fin", "close_wait")])

    def test_checksum_mode_from_header(self):
        mk = lambda hdr, v=None, stem="c": write_exp(self.d, "zeek", stem, hdr, [], v).checksum
        self.assertEqual(mk(["# peer: Zeek", "# exec: @TEST-EXEC: zeek -b -C -r $TRACES/c.pcap"]), "ignore")
        self.assertEqual(mk(["# peer: Zeek", "# exec: @TEST-EXEC: zeek -b -r $TRACES/c.pcap"]), "verify")
        self.assertEqual(mk(["# peer: Zeek", "# derivation: x (zeek -b, default checksum checking).",
                             "# exec: zeek -b -r $TRACES/c.pcap \"ignore_checksums_nets += {}\""]), "verify")
        self.assertEqual(mk(["# peer: Zeek"], "ignore-checksums"), "ignore")
        self.assertEqual(mk(["# peer: Suricata", "# suricata args: (none)"]), "verify")
        # Arkime never verifies TCP checksums, whatever its header says.
        self.assertEqual(mk(["# peer: Arkime capture (fake)"]), "ignore")
        # A -C in a run of another trace of the same btest does not count.
        self.assertEqual(mk(["# peer: Zeek", "# exec: zeek -C -r $TRACES/other.pcap",
                             "# exec: zeek -r $TRACES/c.pcap"]), "verify")

    def test_real_corpus_headers(self):
        corpus_dir = mplib.DEFAULT_CORPUS
        if not corpus_dir.is_dir():
            self.skipTest("no corpus")
        want = {"zeek/localhost-bad-chksum": "verify", "zeek/localhost-bad-chksum/ignore-checksums": "ignore",
                "zeek/missing-syn": "ignore", "zeek/pop3": "verify", "zeek/Teredo": "verify",
                "zeek/Teredo/suricata": "ignore", "arkime/ldap-simpleauth/zeek": "ignore",
                "arkime/twovlan": "ignore", "arkime/tcp-reassembly-synthetic": "ignore",
                "suricata-verify/bug-814__input": "ignore",
                "suricata-verify/bug-6733-syn-packet-flow-output__input": "verify",
                "zeek/retransmit-fast009": "ignore", "zeek/wikipedia": "ignore"}
        got = {f"{e.path.parent.name}/{e.case}": e for e in corpus.load_expectations(corpus_dir)}
        for case, mode in want.items():
            if case in got:
                self.assertEqual(got[case].checksum, mode, case)
        for e in got.values():
            self.assertIsNotNone(e.capture, e.path)

    # -- known differences
    def known_file(self, rows):
        p = self.d / "known.tsv"
        p.write_text("# comment\ncapture\tconnection\tcolumn\tours\ttheirs\treason\n"
                     + "".join("\t".join(r) + "\n" for r in rows))
        return p

    def test_known_differences(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        text = zeek_flows(rej={"end": "fin"}, v6={"svr_pkts": 9})
        known, errs = corpus.load_known(self.known_file([
            ("fake", "10.0.0.2:80-10.0.0.1:1000", "end", "fin", "REJ", "listed reversed: still matches"),
            ("fake", "*", "resp_pkts", "*", "*", "wildcards"),
            ("fake", "10.0.0.3:2000-10.0.0.2:80", "end", "open", "SF", "never occurs: stale"),
            ("other", "*", "end", "*", "*", "other capture: not stale here"),
        ]))
        self.assertEqual(errs, [])
        res = mplib.Results(str(self.d / "res.tsv"))
        with redirect_stdout(io.StringIO()):
            corpus.evaluate([exp], {exp.case: (text, None)}, known, res)
        rows = [(g, n, s) for g, n, s, _ in res.rows]
        self.assertIn(("corpus", "zeek/fake", "PASS"), rows)
        stale = [r for r in res.rows if r[2] == "WARN"]
        self.assertEqual(len(stale), 1)
        self.assertIn("never occurs", "".join(open(self.d / "known.tsv").read()))
        self.assertIn(":5 ", stale[0][3])

        # Without the entries the same log fails and the output lists the rows to paste.
        known, _ = corpus.load_known(self.known_file([]))
        res = mplib.Results(str(self.d / "res2.tsv"))
        buf = io.StringIO()
        with redirect_stdout(buf):
            corpus.evaluate([exp], {exp.case: (text, None)}, known, res)
        self.assertEqual(res.failed(), 1)
        self.assertIn("fake\t10.0.0.1:1000-10.0.0.2:80\tend\tfin\tREJ", buf.getvalue())

    def test_known_file_errors(self):
        _, errs = corpus.load_known(self.known_file([("fake", "*", "end", "fin", "REJ", "")]))
        self.assertTrue(any("no reason" in e for e in errs))
        _, errs = corpus.load_known(self.known_file([("fake", "*", "end", "fin")]))
        self.assertTrue(any("columns" in e for e in errs))
        _, errs = corpus.load_known(self.known_file([("fake", "nonsense", "end", "a", "b", "r")]))
        self.assertTrue(errs)

    def test_checked_in_known_file_loads(self):
        _, errs = corpus.load_known(corpus.KNOWN)
        self.assertEqual(errs, [])

    # -- the whole driver with a fake mospipe
    def fake_mospipe(self, body):
        p = self.d / "fake-mospipe"
        p.write_text("#!/bin/bash\nset -euo pipefail\nlog=''; cs=verify\n"
                     "while [ $# -gt 0 ]; do case $1 in --flow-log) log=$2; shift;; -C) cs=$2; shift;; esac; shift; done\n"
                     + textwrap.dedent(body))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
        return p

    def run_main(self, mospipe):
        corpus_dir = self.d / "corpus"
        write_exp(corpus_dir, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        (self.d / "flows.jsonl").write_text(zeek_flows())
        known = self.known_file([])
        res = self.d / "results.tsv"
        res.unlink(missing_ok=True)
        with redirect_stdout(io.StringIO()):
            rc = corpus.main(["--mospipe", str(mospipe), "--corpus", str(corpus_dir), "--known",
                              str(known), "--results", str(res)])
        return rc, [l.split("\t") for l in res.read_text().splitlines()]

    def test_main_end_to_end(self):
        # Flow log only right when -C ignore is passed (the header says zeek -C).
        m = self.fake_mospipe(f"""
            if [ "$cs" = ignore ]; then cp {self.d}/flows.jsonl "$log"; else echo '{{}}' > "$log"; fi
            """)
        rc, rows = self.run_main(m)
        self.assertEqual((rc, [r[2] for r in rows]), (0, ["PASS"]), rows)

    def test_main_flow_log_not_available(self):
        for body in ("exit 0\n",                                   # option accepted, nothing written
                     ': > "$log"\n',                              # empty log everywhere
                     "echo \"mospipe: unknown option '--flow-log'\" >&2; exit 2\n"):
            rc, rows = self.run_main(self.fake_mospipe(body))
            self.assertEqual(rc, 1, body)
            self.assertEqual([r[2] for r in rows], ["NOTRUN"], body)
            self.assertIn(corpus.NOT_AVAILABLE, rows[0][3])

    def test_missing_file_is_empty_once_logs_exist(self):
        exp = write_exp(self.d, "zeek", "fake", ZEEK_HDR, ZEEK_ROWS)
        other = write_exp(self.d, "zeek", "other", ZEEK_HDR, [])
        res = mplib.Results(str(self.d / "r.tsv"))
        with redirect_stdout(io.StringIO()):
            corpus.evaluate([exp, other], {exp.case: (zeek_flows(), None),
                                           other.case: ("n/a", corpus.NO_FILE)}, [], res)
        self.assertEqual([r[2] for r in res.rows], ["PASS", "PASS"])

    def test_main_crash_is_failure(self):
        rc, rows = self.run_main(self.fake_mospipe("echo boom >&2; exit 139\n"))
        self.assertEqual((rc, rows[0][2]), (1, "FAIL"))
        rc, rows = self.run_main(self.fake_mospipe(
            "echo '==1==ERROR: AddressSanitizer: heap-use-after-free' >&2; exit 0\n"))
        self.assertEqual((rc, rows[0][2]), (1, "FAIL"))
        self.assertIn("sanitizer", rows[0][3])

    def test_main_bad_log_is_failure(self):
        rc, rows = self.run_main(self.fake_mospipe('echo \'{"cli": "1.1.1.1:1"}\' > "$log"\n'))
        self.assertEqual((rc, rows[0][2]), (1, "FAIL"))
        self.assertIn("keys differ", rows[0][3])


def run(corpus_dir):
    os.environ.setdefault("CORPUS", str(corpus_dir))
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(T)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1
