#!/usr/bin/env bash
# ThreadSanitizer runs (README.md in this folder says why and how).
#
#   make TSAN=1 all && bash tests/tsan/run.sh build-tsan
#
#   unit     every Check unit test
#   midstat  the RCU reader stress: short connections churned (3 ms TIME_WAIT,
#            so flows are unlinked and freed under the reader) while
#            midstat's reader walks the table every 3 ms; on one lcore and on
#            the 2-lcore mapping (rings and pools crossing threads)
#   reclaim  a dry reassembly pool taking chunks back on tcpsm's lcore while
#            the app's lcore reads them (bench/apps/hs_search)
#   nohist   the same with [tcp] buf_history = no: chunks trimmed at each
#            burst while the app's lcore reads later ones
#   api      the API programs (tests/api/run.sh): callbacks, app threads,
#            signals, 100K-flow scaling
#   inline   tests/inline/run.sh: real TCP through the inline bridge
#   regress  corpus captures through the 5 stage/lcore mappings of
#            tests/regress (REGRESS_ONLY, default "arkime")
# Each step passes when it passes on its own terms and TSan wrote no report
# (TSAN_OPTIONS log_path: one file per process that reported).
# Ends with "tsan: N passed, M failed, K skipped".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
B=${1:-build-tsan}
HERE=tests/tsan
passed=0 failed=0 skipped=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
skip_one() { echo "SKIP: $*"; skipped=$((skipped + 1)); }

if [[ ! -x $B/mospipe || ! -x $B/midstat ]]; then
  fail "$B/mospipe or $B/midstat missing: run make TSAN=1 all"
  echo "tsan: $passed passed, $failed failed, $skipped skipped"
  exit 1
fi
W=$(mktemp -d /tmp/mp-tsan.XXXXXX)
trap 'rm -rf "$W"' EXIT
SUPP="$PWD/$HERE/suppressions.txt"

# step NAME: runs the rest of the line with reports going to $W/NAME/, then
# fails if the command failed or any report was written.
step() {
  local name=$1 st=0
  shift
  mkdir -p "$W/$name"
  TSAN_OPTIONS="suppressions=$SUPP log_path=$W/$name/report halt_on_error=0 ${MP_TSAN_OPTIONS:-}" \
    "$@" >"$W/$name.out" 2>&1 || st=$?
  local reports
  reports=$(find "$W/$name" -name 'report*' -size +0 | wc -l)
  if ((reports)); then
    fail "$name: $reports process(es) with ThreadSanitizer reports"
    cat "$W/$name"/report* | grep -E '^(WARNING|  (Write|Read|Previous|Atomic)|    #[0-3] )' | head -40
    return 1
  fi
  if ((st)); then
    fail "$name: exit $st"
    tail -15 "$W/$name.out"
    return 1
  fi
  return 0
}

# ---- unit ------------------------------------------------------------------
for t in "$B"/tests/test_*; do
  [[ -x $t ]] || continue
  n=$(basename "$t")
  if step "unit-$n" "$t"; then
    pass "unit $n: $(grep -E '^[0-9]+%: Checks' "$W/unit-$n.out" | tail -1)"
  fi
done

# ---- midstat ---------------------------------------------------------------
stress() { # tag conns [midstat args]
  local tag=$1 conns=$2
  shift 2
  if MOSPIPE_INPUT="gen:flows=2000,size=2k,conns=$conns,seed=7" MOSPIPE_SET="tcp.buf_size=0;tcp.time_wait=3ms" \
    step "midstat-$tag" timeout 600 "$B/midstat" -n 0.003 --json --health-only "$@"; then
    local sum reader walks
    sum=$(grep -E '^midstat: [0-9]+ connections started' "$W/midstat-$tag.out" | tail -1)
    reader=$(grep -E '^midstat: reader: ' "$W/midstat-$tag.out" | tail -1)
    walks=$(sed -nE 's/.*reader: ([0-9]+) table walks.*/\1/p' <<<"$reader")
    if [[ $sum != "midstat: $conns connections started, $conns ended,"* ]]; then
      fail "midstat $tag: '$sum'"
    elif [[ -z $walks ]] || ((walks < 5)); then
      fail "midstat $tag: the reader walked ${walks:-?} times"
    else
      pass "midstat $tag: $conns connections started and ended, ${reader#midstat: }, no report"
    fi
  fi
}
stress 1lcore "${MP_TSAN_CONNS:-30000}"
stress 2lcore "${MP_TSAN_CONNS2:-20000}" -c bench/mappings/2lcore.conf

# ---- reassembly pool: reclaim under a reader ---------------------------------
# A pool just large enough for the table (flows = 256), 200 connections at
# once with 16K windows and Hyperscan peeking every byte on the other lcore:
# the pool runs dry and tcpsm takes chunks back from idle sides of open
# flows while the app reads them (tcpsm_reasm.c). Each literal once per
# connection, nothing missed (only quiet flows' chunks are taken).
# hs_step NAME COUNTER WHAT: hs_search on $W/NAME.conf (counters in
# $W/NAME.json); passes with every literal once per connection, tcpsm's
# COUNTER above 0 and no report.
hs_step() {
  local name=$1 ctr=$2 what=$3 got n=${MP_TSAN_RECLAIM_CONNS:-1000}
  step "$name" timeout 600 "$B/bench/hs_search" "$W/$name.conf" mospipe-needle-A mospipe-needle-B || return 0
  got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=[s["counters"] for s in d["stages"] if s["stage"] == "tcpsm"][0]; print(c.get(sys.argv[2], 0))' "$W/$name.json" "$ctr")
  if grep -q "\"matches\": \[$n, $n\]" "$W/$name.out" && ((got > 0)); then
    pass "$name: $got $what, $(grep -o '"matches": [^]]*]' "$W/$name.out"), no report"
  else
    fail "$name: $(tail -1 "$W/$name.out"), $got $what"
  fi
}
if [[ -x $B/bench/hs_search ]]; then
  cat >"$W/reclaim.conf" <<EOF
[lcores]
0 = rx classify tcpsm
1 = events app tx
[input]
source = gen:flows=200,size=16k,conns=${MP_TSAN_RECLAIM_CONNS:-1000},pattern=mospipe-needle-A,pattern=mospipe-needle-B
[pipeline]
# Short rings bound how far the (instrumented, slow) app lags behind tcpsm:
# the least recently active flows are then quiet (every callback of theirs
# returned), which is when a read side's chunks may be taken.
ring_size = 64
burst = 16
[tcp]
buf_size = 16K
flows = 256
[output]
counters_json = $W/reclaim.json
[eal]
args = --no-huge -m 512 --no-pci --no-shconf
EOF
  hs_step reclaim buf_chunks_reclaimed_idle "idle chunks taken back under the reader"
else
  skip_one "reclaim: $B/bench/hs_search not built (make TSAN=1 bench-apps)"
fi

# The same app without history ([tcp] buf_history = no): tcpsm gives each
# packet's chunks back at its next burst, as soon as the app's lcore has
# released them, and the next bytes go into those chunks while the app reads
# later packets' bytes.
if [[ -x $B/bench/hs_search ]]; then
  sed -e 's/^buf_size = 16K$/buf_size = 16K\nbuf_history = no/' -e "s#$W/reclaim.json#$W/nohist.json#" \
    "$W/reclaim.conf" >"$W/nohist.conf"
  hs_step nohist buf_edge_chunks_trimmed "edge chunks trimmed under the reader"
fi

# ---- api -------------------------------------------------------------------
if step api bash tests/api/run.sh "$B"; then
  pass "api: $(tail -1 "$W/api.out")"
fi

# ---- inline ----------------------------------------------------------------
# Real TCP through mospipe -m inline between namespaces (af_packet, telemetry
# queries while running, SIGINT shutdown); the script skips without root.
if MP_EXIT_WAIT=90 step inline bash tests/inline/run.sh "$B"; then
  pass "inline: $(tail -1 "$W/inline.out")"
fi

# ---- regress (mappings) ----------------------------------------------------
CORPUS=${CORPUS:-$(pwd)/../shared/corpus}
if [[ ! -d $CORPUS ]]; then
  skip_one "regress: corpus $CORPUS not found"
elif REGRESS_ONLY=${REGRESS_ONLY:-arkime} step regress bash tests/regress/run.sh "$B"; then
  pass "regress (${REGRESS_ONLY:-arkime}): $(tail -1 "$W/regress.out")"
fi

echo "tsan: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
