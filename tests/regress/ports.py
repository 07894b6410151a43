#!/usr/bin/env python3
"""Replicated pipelines on DPDK ports (issue #14, target 5): a port given in
[eal] args (a NIC, or here a virtual device) gets a receive queue per rx
instance, and an RSS key that makes the Toeplitz hash symmetric when the
device offers RSS for TCP. That the key is symmetric is checked against
DPDK's own Toeplitz hash in tests/unit/test_runtime.c (rss_key_is_symmetric);
here, through the binary, that the device is set up that way and both
pipelines read their queue:

  * net_null (RSS for TCP, and its key can be read back): the start-up line
    says two receive queues and RSS with a symmetric key, read back from the
    device; both rx instances take frames from their queue; conservation
    holds. net_null's frames are all zeros, without an address, so they all
    hash to one instance and the other hands it every frame it reads: that
    instance must still read its own queue, a burst from it at least every
    RX_STEER_RUN (8) bursts from the hand-off ring (it once served the ring
    whenever it held frames, and under ASan its queue went nearly unread:
    2,784 frames against 6.1 M for the other instance).
  * net_ring (no RSS): two receive queues and no RSS, rx hands frames over.

Live ports have no end: each run is stopped with SIGINT after RUN_S seconds,
as an operator stops mospipe.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import mplib

RUN_S = 1.5
RX_STEER_RUN = 8  # stages/rx/rx.c
REPLICATED = "0=rx.0,classify.0,tcpsm.0,events.0,app.0,tx.0;1=rx.1,classify.1,tcpsm.1,events.1,app.1,tx.1"


def run(binary, vdev, td):
    cj = os.path.join(td, "c-%s.json" % vdev)
    argv = [binary, "-q", "-l", REPLICATED, "--set", "pipeline.fanout=index", "--set", "tcp.flows=4096",
            "--set", "eal.args=--no-huge -m 512 --no-pci --no-shconf --vdev %s" % vdev,
            "--counters-json", cj]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=mplib.mospipe_env(), stdin=subprocess.DEVNULL)
    time.sleep(RUN_S)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, err + "\n(did not stop within 30 s of SIGINT)", None
    c = None
    if os.path.exists(cj):
        with open(cj) as f:
            c = json.load(f)
    return p.returncode, err, c


def rx_in(c):
    return [s["counters"]["in"] for s in c["stages"] if s["stage"] == "rx"]


def rx_steered_in(c):
    return [s["counters"].get("steered_in", 0) for s in c["stages"] if s["stage"] == "rx"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mospipe", required=True)
    ap.add_argument("--results")
    a = ap.parse_args()
    res = mplib.Results(a.results)
    with tempfile.TemporaryDirectory() as td:
        rc, err, c = run(a.mospipe, "net_null0", td)
        line = next((x for x in err.splitlines() if "net_null0" in x and "receive queues" in x), "")
        ok = (rc == 0 and c is not None and "2 receive queues, one per rx instance" in line
              and "RSS with a symmetric key" in line)
        if ok:
            ins = rx_in(c)
            t = c["totals"]
            sin = rx_steered_in(c)
            # A queue burst at least every RX_STEER_RUN ring bursts (rx.c);
            # twice that leaves room for bursts cut short by back-pressure.
            fair = all(2 * RX_STEER_RUN * n >= s for n, s in zip(ins, sin)) and any(s > 0 for s in sin)
            ok = (len(ins) == 2 and all(n > 0 for n in ins) and fair
                  and t["rx"] + t["injected"] == t["tx"] + t["drops_total"])
            detail = "rx instances took %s frames from their queues and %s handed over; %s" % (
                ins, sin, line.split(": ", 1)[-1])
        else:
            detail = "rc=%s line=%r stderr=%s" % (rc, line, err.strip()[-300:])
        res.add("ports", "net_null: a queue per rx instance, symmetric RSS key read back, the queue read under a flood of hand-offs", "PASS" if ok else "FAIL",
                detail)

        rc, err, c = run(a.mospipe, "net_ring0", td)
        line = next((x for x in err.splitlines() if "net_ring0" in x and "receive queues" in x), "")
        ok = rc == 0 and "2 receive queues" in line and "no RSS for TCP on this device" in line
        res.add("ports", "net_ring: a queue per rx instance, no RSS (rx hands frames over)",
                "PASS" if ok else "FAIL", line.split(": ", 1)[-1] if ok else "rc=%s stderr=%s" % (rc, err.strip()[-300:]))
    return 1 if res.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
