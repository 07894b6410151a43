#!/usr/bin/env bash
# Test of the impairment element build/tools/impair: it bridges cli and srv
# (in the mb namespace) with 2% loss, 1% reordering and 1% of frames delayed
# 15 ms in both directions; a 4 MB TCP download and a 2 MB upload must still
# complete with the right sha256, and impair's own counts must show that it
# really impaired (and did not loop its own frames back).
#
#   bash tests/inline/impair_test.sh BUILD_DIR
#
# Exit 0 all passed, 1 something failed, 77 skipped (no root / no netns).
set -euo pipefail

if [[ -z "${MP_IMPAIR_TIMED:-}" ]]; then
  export MP_IMPAIR_TIMED=1
  exec timeout --kill-after=10 "${MP_IMPAIR_TIMEOUT:-120}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

IMPAIR="$(cd "$B" 2>/dev/null && pwd)/tools/impair" || true
if [[ ! -x "$IMPAIR" ]]; then
  echo "FAIL: $B/tools/impair is not built (run make)"
  echo "impair: 0 passed, 1 failed"
  exit 1
fi
need_netns
PY=$(command -v python3)
XFER="$TOOLS/xfer.py"

begin_test impair

mk_topology "p$$"
PORT=8080
mkdir -p "$W/www"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$W/www/blob"
head -c $((2 * 1024 * 1024 + 777)) /dev/urandom >"$W/up.bin"
SUM=$(sha256sum "$W/www/blob" | cut -d' ' -f1)
ip netns exec "$NS_SRV" "$PY" "$XFER" serve --bind "$IP4_SRV" --port $PORT --dir "$W/www" --ready "$W/srv.ready" &
BG_PIDS+=($!)
wait_for 10 test -e "$W/srv.ready" || fail "server did not start"

ip netns exec "$NS_MB" "$IMPAIR" -a mbc -b mbs --seed 42 --drop 0.02 --reorder 0.01 \
  --delay 0.01 --delay-ms 15 >"$W/impair.out" 2>"$W/impair.err" &
IMP=$!
BG_PIDS+=("$IMP")

if wait_for 20 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
  pass "forwarding up through impair"
else
  fail "forwarding up through impair (no TCP connect within 20 s)"
fi
check "4 MB download with 2% loss, 1% reorder, 1% delay: sha256 matches" \
  ns "$NS_CLI" "$PY" "$XFER" get "http://$IP4_SRV:$PORT/blob" --sha256 "$SUM" --timeout 60
check "2 MB upload with 2% loss, 1% reorder, 1% delay: sha256 matches" \
  ns "$NS_CLI" "$PY" "$XFER" put "http://$IP4_SRV:$PORT/up.bin" "$W/up.bin" --timeout 60

kill -TERM "$IMP"
rc=0
for _ in $(seq 50); do
  kill -0 "$IMP" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$IMP" 2>/dev/null; then
  fail "SIGTERM: impair still running after 5 s"
  stop_pid "$IMP"
else
  wait "$IMP" || rc=$?
  check "SIGTERM: impair exits with status 0 (got $rc)" test "$rc" -eq 0
fi
sed 's/^/  /' "$W/impair.out"

counts_check() {
  "$PY" - "$W/impair.out" <<'EOF'
import re, sys
txt = open(sys.argv[1]).read()
tot = {}
for line in txt.splitlines():
    if line.startswith("impair: a->b") or line.startswith("impair: b->a"):
        for k, v in re.findall(r"(\w+)=(\d+)", line):
            tot[k] = tot.get(k, 0) + int(v)
errs = []
need = ("rx", "forwarded", "dropped", "delayed", "reordered", "overflow", "send_err")
if not all(k in tot for k in need):
    errs.append(f"counts missing: {tot}")
else:
    rx = tot["rx"]
    # ~2900 data frames down + ~1500 up, plus ACKs: a few thousand frames;
    # a loop of impair's own output would make it explode.
    if not 3000 <= rx <= 40000:
        errs.append(f"rx={rx} not in [3000, 40000] (echo of own frames?)")
    if not 0.005 * rx <= tot["dropped"] <= 0.05 * rx:
        errs.append(f"dropped={tot['dropped']} not 0.5%..5% of rx={rx}")
    if tot["reordered"] == 0 or tot["delayed"] == 0:
        errs.append("nothing reordered or delayed")
    if tot["send_err"] or tot["overflow"]:
        errs.append(f"send_err={tot['send_err']} overflow={tot['overflow']}")
    lost = tot["dropped"] + tot["overflow"] + tot["send_err"] + tot.get("discarded", 0)
    if tot["forwarded"] + lost != rx:
        errs.append(f"forwarded {tot['forwarded']} + lost {lost} != rx {rx}")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
}
check "impair counts: drops near 2%, reorders and delays happened, no loop, forwarded + dropped == rx" counts_check

echo "impair: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
