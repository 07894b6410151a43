#!/usr/bin/env bash
# Inline verdicts of an mOS application through real namespaces: the API
# program BUILD_DIR/api/verdict (tests/api/verdict.c) runs inline between two
# veths in the mb namespace,
#     cli [veth0] <--> [mbc] mb: verdict [mbs] <--> [veth0] srv
# and a python3 server in srv (tests/tools/verdict_peer.py) serves the same
# ~1 MB file on four ports. The app:
#   port A  drops every packet (MOS_DROP)            -> client sees a stall
#   port B  overwrites "SECRET!!" with "REDACTED" in server->client segments
#           (MOS_OVERWRITE of MOS_TCP_PAYLOAD + IP/TCP checksum update);
#           downloaded over IPv4 and over IPv6
#   port C  no socket follows it                      -> untouched
#   port D  the same overwrite WITHOUT the checksum update (negative control:
#           the client's kernel must discard those segments -> stall; this
#           shows the port-B check really depends on the checksums)
# What the app guarantees (tests/api/verdict.c): every marker lying wholly
# inside one TCP segment is rewritten; a marker split across two segments is
# left alone. The server sends the file in 1024-byte records with MSG_EOR, so
# each record is exactly one segment; the file has markers inside records, at
# record edges, back to back, across record boundaries, and near misses. The
# client's copy from B must equal the expected file byte for byte (sha256).
# Then SIGINT: the app drains and exits 0; its own counts and the pipeline's
# totals are checked.
#
#   bash tests/inline/verdict_test.sh BUILD_DIR
#
# Last line "verdict: N passed, M failed". Exit 0 all passed, 1 failure,
# 77 skipped (no root / no netns). Time bound MP_VERDICT_TIMEOUT (default 90 s).
set -euo pipefail

if [[ -z "${MP_VERDICT_TIMED:-}" ]]; then
  export MP_VERDICT_TIMED=1
  exec timeout --kill-after=10 "${MP_VERDICT_TIMEOUT:-90}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

APP="$(cd "$B" 2>/dev/null && pwd)/api/verdict" || true
if [[ ! -x "$APP" ]]; then
  echo "FAIL: $B/api/verdict is not built (run make)"
  echo "verdict: 0 passed, 1 failed"
  exit 1
fi
need_netns
PY=$(command -v python3)
PEER="$TOOLS/verdict_peer.py"

begin_test verdict
APP_PID=""
on_exit_extra() { [[ -z "$APP_PID" ]] || rm -rf "/var/run/dpdk/mospipe-$APP_PID"; }

PA=8081 PB=8082 PC=8083 PD=8084
REQ="GET file SECRET!!"

mk_topology "v$$"
echo "verdict: namespaces $NS_CLI $NS_MB $NS_SRV, $NET4.0/24; ports drop=$PA redact=$PB plain=$PC nocsum=$PD"

# ---- data and server --------------------------------------------------------
"$PY" "$PEER" mkdata "$W" | tee "$W/mkdata.out" | sed 's/^/  data: /'
SIZE=$(stat -c %s "$W/orig.bin")
SUM_ORIG=$(sha256sum "$W/orig.bin" | cut -d' ' -f1)
SUM_RED=$(sha256sum "$W/redacted.bin" | cut -d' ' -f1)
INSIDE=$(sed -E 's/.* inside=([0-9]+).*/\1/' "$W/mkdata.out")
ACROSS=$(sed -E 's/.* across=([0-9]+).*/\1/' "$W/mkdata.out")
if [[ "$SUM_ORIG" != "$SUM_RED" && $INSIDE -gt 0 && $ACROSS -gt 0 ]]; then
  pass "test data: $INSIDE markers inside segments (to rewrite), $ACROSS across segment boundaries (kept)"
else
  fail "test data: expected file does not differ or no markers ($INSIDE inside, $ACROSS across)"
fi
ip netns exec "$NS_SRV" "$PY" "$PEER" serve --bind "$IP4_SRV" --ports "$PA,$PB,$PC,$PD" \
  --file "$W/orig.bin" --record 1024 --log "$W/srv.log" --ready "$W/srv.ready" 2>"$W/srv.err" &
BG_PIDS+=($!)
# The same file over IPv6 on B only (the rewrite's TCP checksum over IPv6).
ip netns exec "$NS_SRV" "$PY" "$PEER" serve --bind "$IP6_SRV" --ports "$PB" \
  --file "$W/orig.bin" --record 1024 --log "$W/srv.log" --ready "$W/srv6.ready" 2>"$W/srv6.err" &
BG_PIDS+=($!)
if ! wait_for 10 test -e "$W/srv.ready" -a -e "$W/srv6.ready"; then
  fail "server did not start: $(tail -3 "$W/srv.err")"
  echo "verdict: $PASSED passed, $FAILED failed"
  exit 1
fi

# ---- the app ----------------------------------------------------------------
# `ip netns exec` execs the program, so $! is the app's own pid.
MOSPIPE_INPUT="iface:mbc,mbs" \
  MOSPIPE_SET="pipeline.mode=inline;pipeline.telemetry=no;tcp.flows=4096" \
  ip netns exec "$NS_MB" "$APP" - $PA $PB $PD >"$W/app.out" 2>"$W/app.err" &
APP_PID=$!
BG_PIDS+=("$APP_PID")
show_app() {
  echo "  ---- app stderr:"
  tail -15 "$W/app.err" | sed 's/^/    /'
  echo "  ---- app stdout:"
  tail -5 "$W/app.out" | sed 's/^/    /'
}
get() { # PORT OUT [args]: the client's download; prints its line, returns its status
  local port=$1 out=$2
  shift 2
  ns "$NS_CLI" "$PY" "$PEER" get "$IP4_SRV" "$port" --request "$REQ" --out "$out" "$@" | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}

# Port C is followed by no socket: it comes up when forwarding does.
if wait_for 20 ns "$NS_CLI" "$PY" "$PEER" get "$IP4_SRV" $PC --request probe --connect-timeout 1 --timeout 5 \
  >/dev/null; then
  pass "forwarding up: cli reaches srv:$PC through the app"
else
  fail "forwarding up: no complete transfer from srv:$PC within 20 s"
  show_app
fi

# ---- port A: every packet dropped -> the client stalls ----------------------
# The server itself accepts on A (checked from inside srv), so a stall seen by
# the client can only come from the app's drops.
if ns "$NS_SRV" "$PY" "$PEER" get "$IP4_SRV" $PA --request local --connect-timeout 2 --timeout 10 >/dev/null; then
  pass "port $PA: the server answers locally (inside srv)"
else
  fail "port $PA: the server does not answer even locally"
fi
rc=0
get $PA "$W/a.bin" --connect-timeout 3 --timeout 6 || rc=$?
if [[ $rc -eq 2 ]]; then
  pass "port $PA (MOS_DROP): the client's connect stalls (timed out after 3 s)"
else
  fail "port $PA (MOS_DROP): client status $rc, expected 2 (connect timeout)"
fi
if grep -q "port=$PA peer=$IP4_CLI " "$W/srv.log"; then
  fail "port $PA: the server saw a connection from the client despite MOS_DROP"
else
  pass "port $PA: the server never saw the client (its SYNs were dropped)"
fi

# ---- port B: markers rewritten, checksums fixed -----------------------------
rc=0
get $PB "$W/b.bin" --timeout 30 || rc=$?
got=$(sha256sum "$W/b.bin" | cut -d' ' -f1)
if [[ $rc -eq 0 && "$got" == "$SUM_RED" ]]; then
  pass "port $PB (MOS_OVERWRITE + checksums): $SIZE bytes arrive, sha256 = expected rewritten file"
else
  fail "port $PB: status $rc, sha256 $got, expected $SUM_RED (original $SUM_ORIG)"
  "$PY" - "$W/b.bin" "$W/redacted.bin" "$W/orig.bin" <<'EOF' || true
import sys
got, want, orig = (open(p, "rb").read() for p in sys.argv[1:4])
print(f"  received {len(got)} bytes, expected {len(want)}; REDACTED {got.count(b'REDACTED')} "
      f"(want {want.count(b'REDACTED')}), SECRET!! {got.count(b'SECRET!!')} (want {want.count(b'SECRET!!')})")
bad = [i for i in range(min(len(got), len(want))) if got[i] != want[i]]
if bad:
    i = bad[0]
    print(f"  first difference at {i} (record {i // 1024}, offset {i % 1024}): got {got[i-8:i+8]!r} "
          f"want {want[i-8:i+8]!r} orig {orig[i-8:i+8]!r}; {len(bad)} bytes differ")
EOF
fi
rc=0
ns "$NS_CLI" "$PY" "$PEER" get "$IP6_SRV" $PB --request "$REQ" --out "$W/b6.bin" --timeout 30 | sed 's/^/  /' ||
  rc=${PIPESTATUS[0]}
got=$(sha256sum "$W/b6.bin" | cut -d' ' -f1)
if [[ $rc -eq 0 && "$got" == "$SUM_RED" ]]; then
  pass "port $PB over IPv6: $SIZE bytes arrive, sha256 = expected rewritten file"
else
  fail "port $PB over IPv6: status $rc, sha256 $got, expected $SUM_RED (original $SUM_ORIG)"
fi
if grep -q "port=$PB peer=$IP4_CLI request='$REQ'" "$W/srv.log"; then
  pass "port $PB: the client's request (with the marker) reached the server unchanged"
else
  fail "port $PB: the server did not log the request '$REQ' unchanged: $(grep "port=$PB" "$W/srv.log" | head -2)"
fi

# ---- port C: untouched ------------------------------------------------------
rc=0
get $PC "$W/c.bin" --timeout 30 || rc=$?
got=$(sha256sum "$W/c.bin" | cut -d' ' -f1)
if [[ $rc -eq 0 && "$got" == "$SUM_ORIG" ]]; then
  pass "port $PC (no verdict): $SIZE bytes arrive unchanged (sha256 = original)"
else
  fail "port $PC: status $rc, sha256 $got, expected the original $SUM_ORIG"
fi

# ---- port D: overwrite without checksum update -> discarded -----------------
rc=0
get $PD "$W/d.bin" --timeout 5 || rc=$?
dsize=$(stat -c %s "$W/d.bin" 2>/dev/null || echo 0)
if [[ $rc -eq 3 && $dsize -lt $SIZE ]]; then
  pass "port $PD (overwrite, no checksum update): the client stalls after $dsize bytes (bad segments discarded)"
else
  fail "port $PD: status $rc after $dsize bytes, expected a stall (3) before $SIZE bytes"
fi

# ---- stop the app and check its counts ----------------------------------------
kill -INT "$APP_PID" 2>/dev/null || true
deadline=$((SECONDS + 15))
while kill -0 "$APP_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
if kill -0 "$APP_PID" 2>/dev/null; then
  fail "SIGINT: the app is still running after 15 s"
  show_app
  stop_pid "$APP_PID"
else
  APP_RC=0
  wait "$APP_PID" || APP_RC=$?
  if [[ $APP_RC -eq 0 ]]; then pass "SIGINT: the app drains and exits 0"; else
    fail "SIGINT: the app exits with status $APP_RC"
    show_app
  fi
fi
sed 's/^/  /' "$W/app.out"
# Segments of B with a marker wholly inside: one per record that has one.
SEGS=$("$PY" -c 'import sys; d=open(sys.argv[1],"rb").read(); print(sum(1 for i in range(0,len(d),1024) if b"SECRET!!" in d[i:i+1024]))' "$W/orig.bin")
counts_check() {
  "$PY" - "$W/app.out" "$INSIDE" "$SEGS" <<'EOF'
import re, sys
txt = open(sys.argv[1]).read()
inside, segs = int(sys.argv[2]), int(sys.argv[3])
app = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", "".join(l for l in txt.splitlines() if l.startswith("verdict-app:"))))
tot = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", "".join(l for l in txt.splitlines() if l.startswith("verdict-totals:"))))
errs = []
if not app or not tot:
    errs.append("the app printed no counts")
else:
    if app["signal"] != 2: errs.append(f"signal={app['signal']}, expected 2 (SIGINT)")
    if app["errors"]: errs.append(f"errors={app['errors']} (setlastpkt/getlastpkt failed)")
    # A: one flow (the client's; its SYN retransmissions are the same flow),
    # at least the first SYN and one retransmission dropped.
    if app["drop_flows"] != 1: errs.append(f"drop_flows={app['drop_flows']}, expected 1")
    if app["dropped"] < 2: errs.append(f"dropped={app['dropped']}, expected >= 2 SYNs")
    # B: one download over IPv4, one over IPv6.
    if app["redact_flows"] != 2: errs.append(f"redact_flows={app['redact_flows']}, expected 2")
    if app["rewritten_pkts"] < 2 * segs: errs.append(f"rewritten_pkts={app['rewritten_pkts']} < 2 x {segs} segments with a marker")
    if app["markers"] < 2 * inside: errs.append(f"markers={app['markers']} < 2 x {inside} markers inside segments")
    if app["nocsum_pkts"] < 1: errs.append("nocsum_pkts=0: the negative control rewrote nothing")
    # Flows followed: A, B (twice), D (those of C are followed by no socket).
    if app["ends"] < 4: errs.append(f"ends={app['ends']}, expected >= 4 (A, 2 x B, D flows each get CONN_END)")
    if tot.get("verdict_drop") != app["dropped"]:
        errs.append(f"pipeline verdict_drop={tot.get('verdict_drop')} != app's dropped={app['dropped']}")
    if tot["rx"] + tot["injected"] != tot["tx"] + tot["drops"]:
        errs.append(f"conservation: rx+injected={tot['rx']+tot['injected']} != tx+drops={tot['tx']+tot['drops']}")
    if tot["drops"] != app["dropped"]:
        errs.append(f"drops={tot['drops']} but only the app's {app['dropped']} verdict drops were expected")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
}
check "app counts: drops (= pipeline verdict_drop) and rewrites > 0, no errors, rx + injected = tx + drops" counts_check

echo "verdict: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
