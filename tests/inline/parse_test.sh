#!/usr/bin/env bash
# What classify lets into a stream, against what a real Linux receiver reads
# (issue #11, classify's part): raw frames from the client namespace reach a
# Linux TCP server through the box, with bad IPv4 header checksums, IP
# lengths longer than the frame, TCP options running past the header, and
# IP fragments that are duplicated, overlapping, empty, cut to odd lengths
# or too small (IPv4 and IPv6; tests/inline/parse_craft.py --list says what
# Linux does with each). Every case's bytes in the stream the box monitored
# must equal what the server's application read.
#
#     cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv
#
# The box reads its veths through DPDK's net_pcap (libpcap, inbound only),
# not `-i` (net_af_packet): the af_packet driver joins a fanout group with
# PACKET_FANOUT_FLAG_DEFRAG, so the mb namespace's kernel reassembles IPv4
# fragments before the box sees them (and the box then forwards the rebuilt
# datagram), which would leave classify's reassembly untested.
#
# Phase 1: streamdump -m inline with [security] unparsable = forward, so
#   that every crafted frame reaches the server and the server decides; the
#   stream files are compared with the server's reads.
# Phase 2: mospipe -m inline with the default unparsable = drop: the frames
#   no receiver takes are dropped and counted (ipv4_csum_bad, ip_len_bad,
#   unparsable in --counters-json), the streams still arrive whole.
# Phase 3: the API program tests/api/verdict drops every packet of one
#   port's flows: a SYN sent in fragments to that port gets no answer (the
#   rebuilt datagram's drop verdict stops its fragments), one to another
#   port does.
#
#   bash tests/inline/parse_test.sh BUILD_DIR
#
# Namespace names carry MP_NS_TAG (tests/inline/lib.sh). Last line
# "parse: N passed, M failed". Exit 0 all passed, 1 failure, 77 skipped (no
# root / no netns). Time bound MP_PARSE_TIMEOUT (default 150 s).
set -uo pipefail

if [[ -z "${MP_PARSE_TIMED:-}" ]]; then
  export MP_PARSE_TIMED=1
  exec timeout --kill-after=10 "${MP_PARSE_TIMEOUT:-150}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"
BD="$(cd "$ROOT/$B" 2>/dev/null && pwd)" || true
SD="$BD/streamdump" MOSPIPE="$BD/mospipe" APP="$BD/api/verdict"
for x in "$SD" "$MOSPIPE" "$APP"; do
  if [[ ! -x "$x" ]]; then
    echo "FAIL: $x is not built (run make)"
    echo "parse: 0 passed, 1 failed"
    exit 1
  fi
done
need_netns
PY=$(command -v python3)
PEER="$ROOT/tests/apps/streamdump/peer.py"
CRAFT="$HERE/parse_craft.py"
XFER="$ROOT/tests/tools/xfer.py"

begin_test parse MP_PARSE_KEEP
BOX_PID=""

mk_topology "p$$"
PORT=8091 DROP_PORT=8092
echo "parse: namespaces $NS_CLI $NS_MB $NS_SRV, $NET4.0/24, $IP6_CLI/64"
mkdir -p "$W/peers" "$W/out"
for a in "$IP4_SRV" "$IP6_SRV"; do
  ip netns exec "$NS_SRV" "$PY" "$PEER" serve --bind "$a" --port $PORT --dir "$W/peers" --ready "$W/ready.$a" &
  BG_PIDS+=($!)
done
ip netns exec "$NS_SRV" "$PY" "$PEER" serve --bind "$IP4_SRV" --port $DROP_PORT --dir "$W/peers" \
  --ready "$W/ready.drop" &
BG_PIDS+=($!)
wait_for 10 test -e "$W/ready.$IP4_SRV" -a -e "$W/ready.$IP6_SRV" -a -e "$W/ready.drop" ||
  fail "servers did not start"

# The client speaks from addresses its namespace does not have, so that its
# kernel neither answers nor resets the server: the script is the endpoint.
SPOOF4="$NET4.9"
SPOOF6="${IP6_CLI%::1}::9"
CLI_MAC=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
SRV_MAC=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
ip -n "$NS_SRV" neigh replace "$SPOOF4" lladdr "$CLI_MAC" dev veth0 nud permanent
ip -n "$NS_SRV" -6 neigh replace "$SPOOF6" lladdr "$CLI_MAC" dev veth0 nud permanent
craft() { # CASE SPORT [DPORT]
  local c=$1 sp=$2 dp=${3:-$PORT} src=$SPOOF4 dst=$IP4_SRV
  if [[ $c == frag6* ]]; then src=$SPOOF6 dst=$IP6_SRV; fi
  ns "$NS_CLI" "$PY" "$CRAFT" --iface veth0 --smac "$CLI_MAC" --dmac "$SRV_MAC" --src "$src" --dst "$dst" \
    --dport "$dp" --sport "$sp" --case "$c"
}
stop_box() { # stops BOX_PID with SIGINT, waits; @return its exit status
  kill -INT "$BOX_PID" 2>/dev/null
  local _ rc=0
  for _ in $(seq 150); do
    kill -0 "$BOX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$BOX_PID" 2>/dev/null; then
    stop_pid "$BOX_PID"
    return 124
  fi
  wait "$BOX_PID" || rc=$?
  return $rc
}
VDEVS="--vdev net_pcap0,rx_iface_in=mbc,tx_iface=mbc --vdev net_pcap1,rx_iface_in=mbs,tx_iface=mbs"
EAL="eal.args=--no-huge -m 1024 --no-pci --no-shconf $VDEVS"
mapfile -t CASES < <("$PY" "$CRAFT" --list | cut -f1 | grep -E "^(${MP_PARSE_CASES:-.*})\$")

# ---- phase 1: the receiver decides ------------------------------------------
# streamdump wants its input named: a conf file holds the EAL ports.
printf '[pipeline]\nmode = inline\n[eal]\nargs = --no-huge -m 1024 --no-pci --no-shconf %s\n' "$VDEVS" >"$W/sd.conf"
# MP_PARSE_SET=SEC.KEY=VAL changes the box's configuration in phase 1 (to
# see the comparisons fail with a target that is not Linux's).
ip netns exec "$NS_MB" "$SD" -c "$W/sd.conf" -o "$W/out" --set security.unparsable=forward \
  --set tcp.flows=256 --set tcp.buf_pool=0 ${MP_PARSE_SET:+--set "$MP_PARSE_SET"} >"$W/sd.out" 2>"$W/sd.err" &
BOX_PID=$!
BG_PIDS+=("$BOX_PID")
if wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
  pass "forwarding up through streamdump -m inline"
else
  fail "forwarding up (no TCP connect within 30 s)"
  tail -5 "$W/sd.err" | sed 's/^/  /'
fi
sp=42000
declare -A SPORT
for c in "${CASES[@]}"; do
  sp=$((sp + 1))
  SPORT[$c]=$sp
  craft "$c" $sp >>"$W/craft.out" 2>&1 || echo "note: $c: $(tail -1 "$W/craft.out")"
done
wait_for 5 bash -c "ls $W/peers/*.srv_rx 2>/dev/null | wc -l | grep -qx $((${#CASES[@]} + 1))"
stop_box || fail "streamdump did not exit 0 on SIGINT (status $?)"
for c in "${CASES[@]}"; do
  truth="$W/peers/$c.srv_rx"
  mon=$(ls "$W/out"/*."$(printf %05d "${SPORT[$c]}")"-* 2>/dev/null | head -1)
  if [[ ! -s "$truth" ]]; then
    fail "$c: the server read nothing ($(grep "$c" "$W/craft.out" | tail -1))"
  elif [[ -z "$mon" ]]; then
    fail "$c: no monitored stream for port ${SPORT[$c]}"
  elif cmp -s "$truth" "$mon"; then
    pass "$c: the monitored stream equals what Linux read ($(stat -c %s "$truth") bytes)"
  else
    fail "$c: monitored $(od -An -c "$mon" | tr -s ' ' | head -c 160) vs read $(od -An -c "$truth" | tr -s ' ' | head -c 160)"
  fi
done

# ---- phase 2: unparsable = drop (the default) -------------------------------
rm -f "$W"/peers/*.srv_rx
ip netns exec "$NS_MB" "$MOSPIPE" -m inline --set "$EAL" --counters-json "$W/c2.json" --set tcp.flows=256 \
  --set tcp.buf_pool=0 >"$W/m2.out" 2>"$W/m2.err" &
BOX_PID=$!
BG_PIDS+=("$BOX_PID")
wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1 || fail "phase 2: forwarding up"
for c in ipcsum iplen fragdup; do
  sp=$((sp + 1))
  craft "$c" $sp >>"$W/craft.out" 2>&1 || echo "note: $c: $(tail -1 "$W/craft.out")"
done
wait_for 5 test -s "$W/peers/fragdup.srv_rx"
stop_box || fail "mospipe did not exit 0 on SIGINT (status $?)"
ctr() { "$PY" -c 'import json,sys
d=json.load(open(sys.argv[1]))
def walk(o):
    if isinstance(o,dict):
        for k,v in o.items():
            if k==sys.argv[2] and isinstance(v,int): yield v
            else: yield from walk(v)
    elif isinstance(o,list):
        for v in o: yield from walk(v)
print(sum(walk(d)))' "$W/c2.json" "$1" 2>/dev/null || echo 0; }
csb=$(ctr ipv4_csum_bad) ilb=$(ctr ip_len_bad) unp=$(ctr unparsable) inj=$(ctr injected)
if [[ $csb -ge 1 && $ilb -ge 1 && $unp -ge $((csb + ilb)) && $inj -ge 1 ]]; then
  pass "unparsable = drop: ipv4_csum_bad $csb, ip_len_bad $ilb, unparsable $unp dropped, $inj datagram(s) rebuilt"
else
  fail "unparsable = drop counters: ipv4_csum_bad $csb ip_len_bad $ilb unparsable $unp injected $inj"
fi
ok=1
for c in ipcsum iplen fragdup; do
  grep -q "GOOD-bytes" "$W/peers/$c.srv_rx" 2>/dev/null && ! grep -q "EVIL" "$W/peers/$c.srv_rx" || ok=0
done
if ((ok)); then pass "unparsable = drop: the streams arrived whole"; else fail "unparsable = drop: a stream is wrong"; fi

# ---- phase 3: a drop verdict on a rebuilt datagram stops its fragments --------
MOSPIPE_SET="$EAL;pipeline.mode=inline;pipeline.telemetry=no;tcp.flows=256;tcp.buf_pool=0" \
  ip netns exec "$NS_MB" "$APP" - $DROP_PORT 65000 >"$W/app.out" 2>"$W/app.err" &
BOX_PID=$!
BG_PIDS+=("$BOX_PID")
wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1 || fail "phase 3: forwarding up"
rc=0
craft synfrag $((sp + 1)) $PORT >>"$W/craft.out" 2>&1 || rc=$?
if [[ $rc -eq 0 ]]; then
  pass "a SYN in fragments to port $PORT (no verdict) is answered"
else
  fail "a SYN in fragments to port $PORT got no answer (status $rc)"
fi
rc=0
craft synfrag $((sp + 2)) $DROP_PORT >>"$W/craft.out" 2>&1 || rc=$?
if [[ $rc -eq 3 ]]; then
  pass "a SYN in fragments to port $DROP_PORT (MOS_DROP) is not answered: its fragments were dropped too"
else
  fail "a SYN in fragments to port $DROP_PORT: status $rc (3 = no answer expected)"
fi
stop_box || fail "verdict app did not exit 0 on SIGINT"
if grep -q "verdict_drop=" "$W/app.out"; then
  pass "verdict app: $(grep verdict-totals "$W/app.out" | head -1)"
else
  fail "verdict app totals: $(tail -2 "$W/app.out")"
fi
echo "parse: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
