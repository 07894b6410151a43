#!/usr/bin/env python3
"""The evasion cases: each one connection from the raw client (rawtcp.py)
to a real Linux server whose application reads to EOF; the truth is what
that application read. Insertion (the receiver drops bytes a careless
monitor keeps) and evasion (the receiver keeps bytes a careless monitor
drops), after Ptacek & Newsham 1998, plus the cases of issue #11.

  cases.py run --iface IF --smac MAC --dmac MAC --src SPOOF --dst SRV
               --port P --small-port P2 --base-sport N --dir D [--only NAME]
      Runs every case (or one), one connection each, source port
      base-sport + index; writes D/cases.json (name, sport, owner, what).

Owner: which part of the stack decides the case (tcpsm: the receiver's TCP
model; classify: IP/TCP parsing and fragments).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rawtcp import ACK, FIN, PSH, RST, SYN, URG, Conn, Raw, opt_bytes  # noqa: E402

H = b"HEAD."
T = b".TAIL"
CASES = []


def case(name, owner="tcpsm", port="main", what="", err=None):
    """err: the MOS_ERROR_REASON name the box must report for the case's
    connection (mos_error_name()), when the case is one."""

    def deco(fn):
        CASES.append({"name": name, "owner": owner, "port": port, "what": what, "err": err, "fn": fn})
        return fn

    return deco


def fake_then_real(c, **bad):
    """HEAD, a fake EVIL at offset 5 with `bad`, the real GOOD there, TAIL."""
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", **bad)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


# ---- baseline -------------------------------------------------------------------


@case("baseline", what="in-order data, nothing odd: both must read it all")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"hello")
    c.send(10, T)
    c.close()


# ---- checksums and lengths (classify) ------------------------------------------


@case("tcp_csum", what="fake segment with a bad TCP checksum, then the real one")
def _(c):
    fake_then_real(c, bad_tcp_csum=True)


@case("ip_csum", owner="classify", what="fake segment with a bad IPv4 header checksum (ip_rcv_core drops it)")
def _(c):
    fake_then_real(c, bad_ip_csum=True)


@case("ip_len_long", owner="classify", what="fake segment whose IPv4 total length exceeds the frame (dropped)")
def _(c):
    fake_then_real(c, ip_len_extra=40)


@case("tcp_opt_overrun", owner="classify",
      what="data segment whose last TCP option runs past the header: Linux stops parsing options, keeps data")
def _(c):
    c.use_ts = False
    c.connect()
    c.send(0, H)
    # doff = 6: 4 option bytes holding a timestamp option that says 10.
    c.send(5, b"SEEN", opts=b"\x08\x0a\x00\x00")
    c.send(9, T)
    c.close()


@case("ttl_low", what="segment with TTL 1 (no router between): the host takes it")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"TTL1", ttl=1)
    c.send(9, T)
    c.close()


# ---- flags ----------------------------------------------------------------------


@case("no_ack", what="fake data without the ACK flag (tcp_rcv_established: dropped)", err="no_ack")
def _(c):
    fake_then_real(c, flags=PSH)


@case("no_flags", what="fake data with no flag at all", err="no_ack")
def _(c):
    fake_then_real(c, flags=0)


@case("syn_data", what="data on the SYN without Fast Open: not queued", err="syn_data")
def _(c):
    c.connect(syn_data=b"EVIL")
    c.send(0, b"GOOD")
    c.send(4, T)
    c.close()


@case("syn_in_est", what="SYN with another ISN inside the connection: challenge ACK, connection goes on", err="syn_est")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"", SYN, seq=(c.isn + 12345) & 0xFFFFFFFF, ack=0)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("syn_in_est_data", what="SYN at rcv_nxt carrying data inside the connection: discarded", err="syn_est")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", SYN | ACK, seq=c.seq(4), advance=False)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


# ---- window ---------------------------------------------------------------------


@case("rwin_right", port="small", what="fake segment right of a small receive window, real data later there", err="window")
def _(c):
    c.connect()
    c.send(0, H)
    far = 5 + c.srv_win + 200
    c.send(far, b"EVIL", advance=False)
    body = bytes((i * 7 + 3) % 26 + 65 for i in range(far + 200 - 5))
    c.stream(5, body, chunk=500)
    c.close()


@case("rwin_right_scaled", what="fake segment just right of a scaled window (wscale 7), real data later there", err="window")
def _(c):
    c.connect()
    c.send(0, H)
    far = 5 + c.srv_win + 1000
    c.send(far, b"EVIL", advance=False)
    body = bytes((i * 11 + 5) % 26 + 97 for i in range(far + 1000 - 5))
    c.stream(5, body, chunk=1400, timeout=10)
    c.close()


@case("rwin_partial", port="small",
      what="out-of-order segment starting inside a small window and ending beyond it: taken whole")
def _(c):
    c.connect()
    c.send(0, H)
    room = c.srv_win
    a = room - 400
    c.send(5 + a, bytes((i % 10) + 48 for i in range(1000)), advance=False)
    c.send(5, bytes((i % 26) + 97 for i in range(a)))
    c.hi = 5 + a + 1000
    c.send(None, T)
    c.close()


@case("far_ooo", what="out-of-order segment far ahead (in the receiver's window): earlier bytes stay monitored", err="beyond")
def _(c):
    c.connect()
    c.send(0, H)
    far = 5 + 40000  # inside the receiver's window (64K), beyond the box's buffer (run.sh: 32K)
    c.send(far, b"FARAWAY", advance=False)
    body = bytes((i * 5 + i // 26) % 26 + 65 for i in range(3000))
    c.stream(5, body)
    c.close()


# ---- timestamps (PAWS) --------------------------------------------------------------


@case("paws_old", what="fake segment whose timestamp is older than ts_recent (tcp_paws_discard)", err="paws")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", ts=c.tsval - 100000)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("paws_zero", what="fake segment with timestamp 0 after timestamps were agreed", err="paws")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", ts=0)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("ts_missing", what="segment without the timestamp option after timestamps were agreed")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"NOTS", ts=None)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


# ---- acknowledgments ------------------------------------------------------------------


@case("ack_unsent", what="fake data acknowledging bytes the server never sent (tcp_ack: dropped)", err="ack_unsent")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", ack=(c.rnxt() + 50000) & 0xFFFFFFFF)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("ack_old_slow", what="fake data with an ACK older than the window allows, other window: slow path drops it", err="ack_old")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", ack=(c.rnxt() - 200000) & 0xFFFFFFFF, win=1000)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("ack_old_fast", what="same, with the window header prediction expects (its fast path could queue it: Linux 6.18 "
      "dropped it here)", err="ack_old")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"OLDA", ack=(c.rnxt() - 200000) & 0xFFFFFFFF)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


# ---- resets ---------------------------------------------------------------------------


@case("rst_inwin", what="RST inside the window, not at rcv_nxt: challenge ACK, data keeps flowing", err="rst_inwin")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(105, b"", RST | ACK, advance=False)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


@case("rst_outwin", what="RST far outside the window: ignored", err="rst_out")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5 + 10000000, b"", RST | ACK, advance=False)
    c.send(5, b"GOOD")
    c.send(9, T)
    c.close()


# The data after the RST is refused (counted: refused_after_rst) but raises no
# MOS_ON_ERROR: the RST ended the flow (MOS_ON_CONN_END) and, as in mOS, no
# event of a flow follows its CONN_END (stages/app/README.md, #12).
@case("rst_exact_data", what="RST at rcv_nxt resets; data sent after it is never read")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"", RST | ACK, advance=False)
    c.send(5, b"EVIL")
    c.send(9, T)
    c.poll(0.05)


@case("rst_payload", what="RST at rcv_nxt carrying a payload: the payload is not data")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"EVIL", RST | ACK, advance=False)
    c.poll(0.05)


# ---- FIN ------------------------------------------------------------------------------


@case("data_at_fin", what="FIN, then data at the FIN's sequence number: the reader got EOF", err="after_fin")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"", FIN | ACK, wait=0.1)
    c.send(5, b"EVIL")
    c.close()


@case("data_after_fin", what="FIN, then data after it", err="after_fin")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"", FIN | ACK, wait=0.1)
    c.send(6, b"EVIL")
    c.close()


@case("fin_ooo", what="FIN out of order after a hole, then the hole filled: all read")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(9, b"", FIN | ACK, advance=False)
    c.send(5, b"GOOD")
    c.poll(0.1)
    if c.fin_seen:
        c.send(10, b"", ACK, ack=c.fin_seq + 1)


@case("fin_ooo_then_data", what="FIN out of order, the hole filled, then data at the FIN's place: after EOF",
      err="after_fin")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(9, b"", FIN | ACK, advance=False)
    c.send(5, b"GOOD", wait=0.1)
    c.send(9, b"EVIL")
    c.poll(0.1)
    if c.fin_seen:
        c.send(10, b"", ACK, ack=c.fin_seq + 1)


# ---- urgent data ------------------------------------------------------------------------


@case("urg_byte", what="urgent pointer on a segment: a default Linux socket takes the urgent byte out", err="urgent")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"ABCD", PSH | ACK | URG, urp=2)
    c.send(9, T)
    c.close()


@case("urg_next_seg", what="urgent pointer pointing into the next segment", err="urgent")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"ABCD", PSH | ACK | URG, urp=6)
    c.send(9, b"EFGH")
    c.send(13, T)
    c.close()


@case("urg_two", what="two urgent bytes in turn, data between them", err="urgent")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"AB", PSH | ACK | URG, urp=1)
    c.send(7, b"CDEF")
    c.send(11, b"GH", PSH | ACK | URG, urp=2)
    c.send(13, T)
    c.close()


@case("urg_zero", what="urgent pointer 0: Linux takes it to name the segment's first byte", err="urgent")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"ABCD", PSH | ACK | URG, urp=0)
    c.send(9, T)
    c.close()


# ---- overlaps -----------------------------------------------------------------------------


def overlap_case(c, segs, tail_at):
    c.connect()
    c.send(0, H)
    for off, data in segs:
        c.send(5 + off, data, advance=False)
    c.hi = 5 + tail_at
    c.send(None, T)
    c.close()


@case("rexmit_diff", what="in-order bytes, then other bytes at the same place: the first copy was read")
def _(c):
    overlap_case(c, [(0, b"GOOD"), (0, b"EVIL")], 4)


@case("ov_inorder_covers", what="bytes held out of order, then an in-order segment over them (new wins)", err="overlap")
def _(c):
    overlap_case(c, [(4, b"BBBB"), (0, b"AAAAXXXX")], 8)


@case("ov_straddle_edge", what="in order, then a segment straddling the in-order edge")
def _(c):
    overlap_case(c, [(0, b"AAAA"), (2, b"XXBBBB")], 8)


@case("ov_held_covered", what="held, then a held run covering it from before", err="overlap")
def _(c):
    overlap_case(c, [(6, b"CCCC"), (4, b"BBBBDD"), (0, b"AAAA")], 10)


@case("ov_held_inside", what="held, then a held run inside it")
def _(c):
    overlap_case(c, [(4, b"BBBBBB"), (6, b"CC"), (0, b"AAAA")], 10)


@case("ov_same_start_longer", what="held, then a longer held run at the same start (tcp_data_queue_ofo replaces)", err="overlap")
def _(c):
    overlap_case(c, [(4, b"BB"), (4, b"XXXX"), (0, b"AAAA")], 8)


@case("ov_same_start_shorter", what="held, then a shorter held run at the same start (dropped)")
def _(c):
    overlap_case(c, [(4, b"BBBB"), (4, b"XX"), (0, b"AAAA")], 8)


@case("ov_head", what="held, then a held run overlapping its head from before", err="overlap")
def _(c):
    overlap_case(c, [(6, b"CCCC"), (4, b"XXXX"), (0, b"AAAA")], 10)


@case("ov_tail", what="held, then a held run overlapping its tail", err="overlap")
def _(c):
    overlap_case(c, [(4, b"BBBB"), (6, b"XXXX"), (0, b"AAAA")], 10)


@case("ov_coalesced", what="two adjacent held runs (coalesced by Linux), then one inside their union")
def _(c):
    overlap_case(c, [(4, b"BB"), (6, b"CC"), (5, b"XX"), (0, b"AAAA")], 8)


# ---- IP fragments (classify) ---------------------------------------------------------------


@case("frag_dup", owner="classify", what="a datagram in fragments with a duplicate fragment: Linux completes it")
def _(c):
    c.connect()
    c.send(0, H)
    # TCP header (32 bytes with timestamps) + 24 payload bytes = 56: 0-24, 24-40 twice, 40-end.
    c.send(5, b"FRAGMENTEDPAYLOAD1234567", frags=[(0, 24, None), (24, 16, None), (24, 16, None), (40, None, None)])
    c.send(29, T)
    c.close()


@case("frag_overlap", owner="classify", what="overlapping fragments with other bytes: Linux drops the datagram")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"OVERLAPPINGFRAGS", frags=[(0, 24, None), (16, None, None)])
    c.send(5, b"GOODGOODGOODGOOD")
    c.send(21, T)
    c.close()


@case("frag_tiny", owner="classify", what="first fragment of 8 bytes (tiny), the rest after: reassembled")
def _(c):
    c.connect()
    c.send(0, H)
    c.send(5, b"TINYFRAG", frags=[(0, 8, None), (8, None, None)])
    c.send(13, T)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    for k in ("iface", "smac", "dmac", "src", "dst", "dir"):
        r.add_argument("--" + k, required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--small-port", type=int, required=True)
    r.add_argument("--base-sport", type=int, default=42000)
    r.add_argument("--only")
    sub.add_parser("list")
    a = ap.parse_args()
    if a.cmd == "list":
        for i, k in enumerate(CASES):
            print(f"{i:3d} {k['name']:24s} {k['owner']:9s} {k['what']}")
        return
    raw = Raw(a.iface, a.smac, a.dmac, a.src, a.dst)
    meta = []
    for i, k in enumerate(CASES):
        if a.only and k["name"] != a.only:
            continue
        sport = a.base_sport + i
        c = Conn(raw, sport, a.small_port if k["port"] == "small" else a.port)
        t0 = time.time()
        err = ""
        try:
            k["fn"](c)
        except Exception as e:  # a case that cannot run is reported, the others go on
            err = f"{type(e).__name__}: {e}"
        meta.append({"name": k["name"], "sport": sport, "owner": k["owner"], "what": k["what"], "error": err,
                     "expect_err": k["err"], "secs": round(time.time() - t0, 3)})
        print(f"case {k['name']}: sport {sport}{' ERROR ' + err if err else ''}", flush=True)
    with open(os.path.join(a.dir, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
