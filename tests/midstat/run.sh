#!/usr/bin/env bash
# midstat's tests (see tests/midstat/README.md).
#
#   bash tests/midstat/run.sh BUILD_DIR [--update] [--only golden,args,replicated,stress,live]
#
#   golden  offline runs over samples/ and corpus captures (-n, --all, plain
#           and --json) against tests/midstat/golden/, machine-dependent
#           health fields filtered out (filter.py); each case also run a
#           second time and on a 2-lcore mapping: same output
#   args    bad arguments: one line on stderr, exit 2; --help; --version;
#           the man page; a trailing filter expression against tcpdump
#   replicated  2 lcores of replicated pipelines through the offline gate on a
#           capture one connection fills for 15 MB (midstat used to wait
#           forever): both connections started and ended
#   stress  gen: 300,000 short connections churned while the reader walks
#           the RCU table every 3 ms (--health-only: every flow snapshotted,
#           one line printed): exit 0, every connection started and ended,
#           one health object per walk, no drops; the datapath's
#           connections/s printed, not asserted. With BUILD_DIR/../build-san
#           too (ASan+UBSan, 100,000 connections).
#   live    real TCP through namespaces, midstat -m inline in the middle:
#           the connection's states from SYN to its end (skipped without
#           namespaces)
# --update rewrites the golden files (read them before committing).
# Ends with "midstat: N passed, M failed, K skipped"; exit 1 on a failure.
# Run time is bounded by MP_MIDSTAT_TIMEOUT seconds (default 170).
set -euo pipefail

if [[ -z "${MP_MIDSTAT_TIMED:-}" ]]; then
  export MP_MIDSTAT_TIMED=1
  exec timeout --kill-after=10 "${MP_MIDSTAT_TIMEOUT:-170}" bash "$0" "$@"
fi

B=build
UPDATE=0
ONLY=golden,args,replicated,stress,live
while (($#)); do
  case $1 in
  --update) UPDATE=1 ;;
  --only) ONLY=$2; shift ;;
  *) B=$1 ;;
  esac
  shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
MIDSTAT="$(cd "$B" 2>/dev/null && pwd)/midstat" || true
if [[ ! -x "$MIDSTAT" ]]; then
  echo "FAIL: $B/midstat is not built (run make)"
  echo "midstat: 0 passed, 1 failed, 0 skipped"
  exit 1
fi
CORPUS=${CORPUS:-}
if [[ -z "$CORPUS" ]]; then
  CORPUS="$ROOT/../shared/corpus"
fi

PASSED=0 FAILED=0 SKIPPED=0
pass() { echo "PASS: $*"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $*"; FAILED=$((FAILED + 1)); }
skip_one() { echo "SKIP: $*"; SKIPPED=$((SKIPPED + 1)); }
want() { [[ ",$ONLY," == *",$1,"* ]]; }

W=$(mktemp -d /tmp/mp-midstat.XXXXXX)
NS_LIST=()
# Namespace names start with "mp", or "mp-TAG" with MP_NS_TAG=TAG.
NSP="mp${MP_NS_TAG:+-$MP_NS_TAG}"
BG_PIDS=()
on_exit() {
  local rc=$? p n
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for n in "${NS_LIST[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$n" 2>/dev/null || true
  done
  rm -rf "$W"
  exit "$rc"
}
trap on_exit EXIT
on_term() {
  fail "time limit reached or interrupted"
  echo "midstat: $PASSED passed, $FAILED failed, $SKIPPED skipped"
  exit 1
}
trap on_term TERM INT

# Small EAL memory: faster starts, nothing changes for captures this size.
FAST="eal.args=--no-huge -m 256 --no-pci --no-shconf;mempool.mbufs=8191;tcp.flows=16384"

# ---- golden ----------------------------------------------------------------
# run_case OUT CAPTURE INTERVAL json|plain [CONF]: filtered output into OUT.
run_case() {
  local out=$1 cap=$2 ival=$3 mode=$4 conf=${5:-} args=()
  [[ $mode == json ]] && args+=(--json)
  [[ -n $conf ]] && args+=(-c "$conf")
  if ! MOSPIPE_SET="$FAST" timeout 60 "$MIDSTAT" -r "$cap" -n "$ival" --all "${args[@]}" >"$out.raw" 2>"$out.err"; then
    echo "midstat -r $cap -n $ival --all ${args[*]} failed:"
    head -5 "$out.err"
    return 1
  fi
  python3 "$HERE/filter.py" <"$out.raw" >"$out"
}

if want golden; then
  while IFS=$'\t' read -r name cap ival; do
    [[ -z $name || $name == \#* ]] && continue
    if [[ $cap != samples/* ]]; then
      if [[ -z $CORPUS || ! -f $CORPUS/$cap ]]; then
        skip_one "golden $name: $cap not found (corpus: ${CORPUS:-none}; set CORPUS=DIR)"
        continue
      fi
      cap=$CORPUS/$cap
    fi
    printf '[lcores]\n0 = rx classify tcpsm\n1 = events app tx\n[input]\nsource = pcap:%s\n' "$cap" >"$W/2lcore.conf"
    for mode in plain json; do
      ext=txt
      [[ $mode == json ]] && ext=json
      g="$HERE/golden/$name.$ext"
      o="$W/$name.$ext"
      if ! run_case "$o" "$cap" "$ival" "$mode"; then
        fail "golden $name $mode: midstat failed"
        continue
      fi
      if ((UPDATE)); then
        cp "$o" "$g"
        echo "updated $g"
      elif [[ ! -f $g ]]; then
        fail "golden $name $mode: no golden file $g (run with --update, then read it)"
      elif diff -u "$g" "$o" >"$W/diff"; then
        pass "golden $name $mode"
      else
        fail "golden $name $mode: differs from $g"
        head -40 "$W/diff"
      fi
      if run_case "$o.2" "$cap" "$ival" "$mode" && cmp -s "$o" "$o.2"; then
        pass "determinism $name $mode: second run identical"
      else
        fail "determinism $name $mode: second run differs"
        diff -u "$o" "$o.2" | head -20 || true
      fi
      if run_case "$o.lc" "$cap" "$ival" "$mode" "$W/2lcore.conf" && cmp -s "$o" "$o.lc"; then
        pass "mapping $name $mode: 2-lcore output identical"
      else
        fail "mapping $name $mode: 2-lcore output differs"
        diff -u "$o" "$o.lc" | head -20 || true
      fi
    done
  done <"$HERE/cases.tsv"
fi

# ---- args ------------------------------------------------------------------
# bad_args NAME ARGS...: exit 2 and exactly one line on stderr.
bad_args() {
  local name=$1 st=0
  shift
  timeout 20 "$MIDSTAT" "$@" >"$W/ba.out" 2>"$W/ba.err" || st=$?
  local lines
  lines=$(wc -l <"$W/ba.err")
  if [[ $st -eq 2 && $lines -eq 1 ]]; then
    pass "bad args $name: exit 2, '$(cat "$W/ba.err")'"
  else
    fail "bad args $name: exit $st, $lines lines on stderr"
    head -5 "$W/ba.err"
  fi
}
if want args; then
  bad_args "missing capture" -r "$W/no-such.pcap"
  bad_args "nonexistent interface" -i mp-no-such-if0
  bad_args "unknown option" -r samples/sample.pcap --bogus
  bad_args "bad --interval" -r samples/sample.pcap -n abc
  bad_args "zero --interval" -r samples/sample.pcap -n 0
  bad_args "both -r and -i" -r samples/sample.pcap -i lo
  bad_args "no input" -n 1
  bad_args "bad --sort" -r samples/sample.pcap -s colour
  bad_args "bad filter expression" -r samples/sample.pcap tcp prot 80
  # A pipeline without the RCU table ([pipeline] conntable = no): midstat
  # has nothing to list, and says which setting to change.
  st=0
  MOSPIPE_SET="$FAST;pipeline.conntable=no" timeout 30 "$MIDSTAT" -r samples/sample.pcap >/dev/null 2>"$W/ct.err" || st=$?
  if [[ $st -eq 2 ]] && grep -q "conntable = no.*set conntable = auto" "$W/ct.err"; then
    pass "conntable = no: exit 2, '$(head -c 90 "$W/ct.err")...'"
  else
    fail "conntable = no: exit $st, stderr '$(tail -c 300 "$W/ct.err")'"
  fi
  # A trailing BPF expression, as tcpdump takes it (quoted or as words): the
  # connections midstat counts are those of the packets tcpdump prints.
  if command -v tcpdump >/dev/null; then
    for expr in 'tcp port 80' 'tcp and not port 80' 'ip6' 'tcp[tcpflags] & tcp-syn != 0'; do
      want=$(tcpdump -r samples/sample.pcap -n "$expr" 2>/dev/null | grep -oE 'IP6? [^ ]+ > [^ ]+: Flags' |
        awk '{a=$2; b=$4; sub(":$","",b); print (a<b ? a" "b : b" "a)}' | sort -u | wc -l)
      st=0
      # shellcheck disable=SC2086 # the expression is given as separate words on purpose
      MOSPIPE_SET="$FAST" timeout 30 "$MIDSTAT" -r samples/sample.pcap -n 100 --json $expr >/dev/null 2>"$W/flt.err" || st=$?
      got=$(grep -oE '^midstat: [0-9]+ connections started' "$W/flt.err" | grep -oE '[0-9]+' || echo none)
      if [[ $st -eq 0 && $got == "$want" ]]; then
        pass "filter '$expr': $got connections, as tcpdump"
      else
        fail "filter '$expr': exit $st, midstat $got connections, tcpdump $want"
      fi
    done
  else
    skip_one "filter expression: tcpdump not installed"
  fi
  want="midstat $(sed -n 's/^VERSION := //p' Makefile) "
  if [[ $("$MIDSTAT" --version) == "$want"* ]]; then
    pass "--version: $("$MIDSTAT" --version)"
  else
    fail "--version: '$("$MIDSTAT" --version)', expected the Makefile's VERSION ('$want...')"
  fi
  # --health-only: the same tables as a full run, minus the rows.
  st=0
  timeout 30 "$MIDSTAT" -r samples/sample.pcap -n 1 >"$W/full.out" 2>/dev/null || st=$?
  timeout 30 "$MIDSTAT" -r samples/sample.pcap -n 1 --health-only >"$W/ho.out" 2>/dev/null || st=$?
  full_h=$(grep -c '^midstat  ' "$W/full.out" || true)
  ho_h=$(grep -c '^midstat  ' "$W/ho.out" || true)
  full_c=$(grep -oE '^midstat  .* connections [0-9]+' "$W/full.out" | grep -oE '[0-9]+$' | tr '\n' ' ')
  ho_c=$(grep -oE '^midstat  .* connections [0-9]+' "$W/ho.out" | grep -oE '[0-9]+$' | tr '\n' ' ')
  if [[ $st -eq 0 && $full_h -gt 1 && $full_h -eq $ho_h && $full_c == "$ho_c" ]] &&
    grep -q '^Proto ' "$W/full.out" && ! grep -q -E '^(Proto |tcp )' "$W/ho.out"; then
    pass "--health-only: $ho_h tables, same connection counts ($ho_c), no rows"
  else
    fail "--health-only: exit $st, tables $full_h vs $ho_h, counts '$full_c' vs '$ho_c'"
  fi
  st=0
  "$MIDSTAT" --help >"$W/help" 2>&1 || st=$?
  if [[ $st -eq 0 ]] && grep -q -- '-r, --read' "$W/help" && grep -q -- '-i, --iface' "$W/help"; then
    pass "--help: exit 0, mentions -r and -i"
  else
    fail "--help: exit $st or -r/-i missing"
  fi
  if command -v man >/dev/null; then
    if MANWIDTH=80 man -l apps/midstat/midstat.1 2>"$W/man.err" | grep -q 'netstat for the middlebox' && [[ ! -s $W/man.err ]]; then
      pass "man -l apps/midstat/midstat.1 renders"
    else
      fail "man -l apps/midstat/midstat.1: $(head -3 "$W/man.err")"
    fi
  elif command -v groff >/dev/null; then
    if groff -man -Tutf8 apps/midstat/midstat.1 2>"$W/man.err" | grep -q 'netstat for the middlebox'; then
      pass "groff renders apps/midstat/midstat.1"
    else
      fail "groff apps/midstat/midstat.1: $(head -3 "$W/man.err")"
    fi
  else
    skip_one "man page: neither man nor groff installed"
  fi
fi

# ---- replicated --------------------------------------------------------------
# Replicated pipelines (fanout = index) share one walk of the capture
# (stages/rx/rx_split.c). A capture whose first 15 MB are one connection's
# (every record to one rx instance) leaves the other instance nothing to
# read for more blocks than the walk keeps: at each interval of the offline
# gate the first holds a packet and the second waits on it. Before rx counted
# that one stopped at the gate too, midstat waited for it forever. The
# capture (tests/api/mkpcap.py bulk): two downloads, one after the other,
# of 10,000 and 200 segments, packet time 100 us apart.
replicated() {
  local cap=$W/two_flows.pcap conf=$W/replicated.conf st=0 out
  python3 "$ROOT/tests/api/mkpcap.py" bulk "$cap" 10000 200
  printf '[pipeline]\nfanout = index\n[lcores]\n0 = rx.0 classify.0 tcpsm.0 events.0 app.0 tx.0\n1 = rx.1 classify.1 tcpsm.1 events.1 app.1 tx.1\n' >"$conf"
  MOSPIPE_SET="$FAST" timeout 30 "$MIDSTAT" -c "$conf" -r "$cap" -n 0.01 --health-only >"$W/rep.out" 2>"$W/rep.err" || st=$?
  out=$(cat "$W/rep.out" "$W/rep.err" | grep -E '^midstat: [0-9]+ connections started' | tail -1 || true)
  local walks
  walks=$(sed -nE 's/.*reader: ([0-9]+) table walks.*/\1/p' "$W/rep.err")
  if [[ $st -ne 0 ]]; then
    fail "replicated: midstat exit $st (124: it waited at the gate until the time limit)"
    tail -3 "$W/rep.err"
  elif [[ $out != "midstat: 2 connections started, 2 ended,"* ]] || ((${walks:-0} < 50)); then
    fail "replicated: want 2 connections started and ended over >= 50 table walks, got '$out', ${walks:-?} walks"
  else
    pass "replicated: a capture one flow fills for 15 MB, 2 lcores, gate every 10 ms: $out (${walks} table walks)"
  fi
}
if want replicated; then replicated; fi

# ---- stress ----------------------------------------------------------------
# stress BINARY CONNS TAG: churn CONNS short flows (2,000 at once, 2 KB each)
# while the reader walks the table every 3 ms.
stress() {
  local bin=$1 conns=$2 tag=$3 st=0
  # --health-only: the reader still snapshots every flow of the table at
  # each walk (all fields, while tcpsm writes them) but prints one line, so
  # the walk rate is not bounded by printing tens of thousands of rows.
  # TIME_WAIT of 3 ms of packet time: flows leave the table (unlinked, then
  # freed after a grace period) all through the run, under the reader.
  MOSPIPE_INPUT="gen:flows=2000,size=2k,conns=$conns,seed=7" MOSPIPE_SET="tcp.buf_size=0;tcp.time_wait=3ms" \
    timeout 100 "$bin" -n 0.003 --json --health-only >"$W/stress.out" 2>"$W/stress.err" || st=$?
  local summary tables reader walks rows rate secs
  summary=$(grep -E '^midstat: [0-9]+ connections started' "$W/stress.err" | tail -1 || true)
  reader=$(grep -E '^midstat: reader: ' "$W/stress.err" | tail -1 || true)
  tables=$(grep -c '"type": "health"' "$W/stress.out" || true)
  walks=$(sed -nE 's/.*reader: ([0-9]+) table walks.*/\1/p' <<<"$reader")
  rows=$(sed -nE 's/.* ([0-9]+) rows read.*/\1/p' <<<"$reader")
  secs=$(sed -nE 's/.*datapath: ([0-9.]+) s.*/\1/p' <<<"$reader")
  rate=$(sed -nE 's/.*, ([0-9]+) connections\/s.*/\1/p' <<<"$reader")
  echo "stress $tag: $conns connections, datapath ${secs:-?} s (~${rate:-?} connections/s, 1 lcore)," \
    "reader: ${walks:-?} walks of the RCU table, ${rows:-?} flow snapshots; $summary"
  if [[ $st -ne 0 ]]; then
    fail "stress $tag: exit $st"
    grep -m5 -E 'ERROR|Sanitizer|runtime error|midstat' "$W/stress.err" || tail -5 "$W/stress.err"
  elif [[ $summary != "midstat: $conns connections started, $conns ended,"* ]]; then
    fail "stress $tag: expected $conns connections started and ended, got '$summary'"
    tail -1 "$W/stress.out" | grep -o '"drops": {[^}]*}' || true
  elif grep -q -E 'Sanitizer|runtime error' "$W/stress.err"; then
    fail "stress $tag: sanitizer report"
    grep -m5 -E 'Sanitizer|runtime error' "$W/stress.err"
  elif [[ -z $walks || -z $rows ]] || ((walks < 5 || rows == 0)); then
    fail "stress $tag: the reader walked ${walks:-?} times, read ${rows:-?} rows (want >= 5 walks over live flows)"
  elif ((tables != walks)); then
    fail "stress $tag: $walks walks but $tables health objects printed"
  elif ! python3 -c '
import json, sys
last, peak = None, 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["type"] == "health", o
    last, peak = o, max(peak, o["flows"])
d = sum(last["drops"].values())
# Flows were deleted while the reader walked: the table never held them all.
sys.exit(0 if d == 0 and last["rx"] == last["tx"] + d and 0 < peak < int(sys.argv[2]) // 2 else 1)' "$W/stress.out" "$conns" 2>/dev/null; then
    fail "stress $tag: drops, rx != tx, or no deletions during the run (peak flows >= half the connections): $(tail -1 "$W/stress.out" | head -c 300)"
  else
    pass "stress $tag: $conns connections started and ended, $walks table walks, ~$rate connections/s on the datapath"
  fi
}
if want stress; then
  stress "$MIDSTAT" "${MP_MIDSTAT_CONNS:-300000}" "$B"
  SAN_BIN="$(dirname "$MIDSTAT")/../build-san/midstat"
  if [[ $B != *san* && -x $SAN_BIN ]]; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      stress "$SAN_BIN" "${MP_MIDSTAT_SAN_CONNS:-100000}" build-san
  elif [[ $B != *san* ]]; then
    skip_one "stress build-san: build-san/midstat not built (make SAN=1)"
  fi
fi

# ---- live ------------------------------------------------------------------
live() {
  local why=""
  if [[ $(id -u) -ne 0 ]]; then why="needs root to create network namespaces"
  elif ! command -v ip >/dev/null; then why="ip (iproute2) is not installed"
  elif ! ip netns add "$NSP-ms-probe-$$" 2>/dev/null; then why="cannot create a network namespace"
  else
    ip netns del "$NSP-ms-probe-$$"
  fi
  if [[ -n $why ]]; then
    skip_one "live: $why"
    return 0
  fi
  local s="m$$" n
  local cli="$NSP-cli-$s" mb="$NSP-mb-$s" srv="$NSP-srv-$s"
  for n in "$cli" "$mb" "$srv"; do
    ip netns add "$n"
    NS_LIST+=("$n")
  done
  ip netns exec "$mb" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$cli" link add veth0 type veth peer name mbc netns "$mb"
  ip -n "$srv" link add veth0 type veth peer name mbs netns "$mb"
  local net="10.$((200 + RANDOM % 50)).$((RANDOM % 250))"
  ip -n "$cli" addr add "$net.1/24" dev veth0
  ip -n "$srv" addr add "$net.2/24" dev veth0
  for n in "$cli:veth0" "$srv:veth0" "$mb:mbc" "$mb:mbs"; do
    ip netns exec "${n%%:*}" ethtool -K "${n#*:}" tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip -n "${n%%:*}" link set "${n#*:}" up
  done
  for n in "$cli" "$mb" "$srv"; do ip -n "$n" link set lo up; done

  ip netns exec "$mb" "$MIDSTAT" -i mbc,mbs -m inline -n 0.05 --json --all >"$W/live.json" 2>"$W/live.err" &
  local mpid=$!
  BG_PIDS+=("$mpid")
  # Forwarding is up when a TCP connect gets an answer through the bridge
  # (refused is fine: SYN and RST both crossed it). No ping: iputils is not
  # installed everywhere.
  local up=0
  for _ in $(seq 50); do
    if ip netns exec "$cli" python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], 9), 1).close()
except ConnectionRefusedError:
    pass
' "$net.2" >/dev/null 2>&1; then up=1; break; fi
    kill -0 "$mpid" 2>/dev/null || break
    sleep 0.2
  done
  if ((!up)); then
    fail "live: no forwarding through midstat -m inline"
    head -5 "$W/live.err" "$W/live.json"
    return 0
  fi
  ip netns exec "$srv" python3 "$HERE/slow_tcp.py" server --bind "$net.2" --port 8080 --ready "$W/srv.ready" &
  BG_PIDS+=($!)
  for _ in $(seq 50); do [[ -e $W/srv.ready ]] && break; sleep 0.1; done
  # Without netem, hold the handshake so that the reader sees it: the
  # server's SYN-ACKs go to a wrong MAC for 0.6 s (the client retransmits
  # its SYN after 1 s, once the server's neighbour entry is right again).
  local mac
  mac=$(ip -n "$cli" -o link show veth0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)
  ip -n "$srv" neigh replace "$net.1" lladdr 02:00:00:00:00:99 dev veth0 nud permanent
  ip netns exec "$cli" timeout 20 python3 "$HERE/slow_tcp.py" client --host "$net.2" --port 8080 >"$W/cli.out" 2>&1 &
  local cpid=$!
  # Hold from the moment the server has the SYN (a loaded machine may take
  # longer than the hold to start the client), then long enough for several
  # of the reader's 50 ms walks.
  for _ in $(seq 100); do
    [[ -n $(ip netns exec "$srv" ss -Htn state syn-recv 2>/dev/null) ]] && break
    sleep 0.05
  done
  sleep 0.5
  ip -n "$srv" neigh replace "$net.1" lladdr "$mac" dev veth0 nud reachable
  local st=0
  wait "$cpid" || st=$?
  sleep 1.5 # TIME_WAIT (1 s) passes in the middle, CONN_END reaches the table
  kill -INT "$mpid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
  local mst=0
  wait "$mpid" || mst=$?
  if [[ $st -ne 0 ]]; then
    fail "live: the TCP client failed (exit $st): $(head -3 "$W/cli.out")"
    return 0
  fi
  local ep
  ep=$(head -1 "$W/cli.out")
  if [[ $mst -eq 0 ]]; then pass "live: midstat -i -m inline exits 0 on SIGINT"; else fail "live: midstat exit $mst"; fi
  if python3 "$HERE/live_check.py" "$W/live.json" "$ep"; then
    pass "live: $ep seen in the handshake, ESTABLISHED, closing, then ended"
  else
    fail "live: states of $ep (see above)"
  fi
}
if want live; then live; fi

echo "midstat: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
