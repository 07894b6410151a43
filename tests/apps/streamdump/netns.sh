#!/usr/bin/env bash
# streamdump inline between real Linux TCP endpoints, with loss, reordering
# and delay from the impairment element, against what the receiving
# applications read (called by run.sh; also runs alone).
#
#   bash tests/apps/streamdump/netns.sh BUILD_DIR
#
#     cli [veth0] <-> [ia] imp [ib] <-> [mbc] mb [mbs] <-> [veth0] srv
#
# imp drops 2%, reorders 1% and delays 1% of frames both ways, so the box
# sees the client's segments with holes and out of order, and the server's
# retransmissions. streamdump -m inline bridges mb and writes the streams
# (and the box's own capture, -w). Transfers: peer.py connections over IPv4
# and IPv6, one at a time and concurrently; every byte each receiving
# application read is kept. Then linux_check.py compares. Prints ok/FAIL
# lines; exit 0 all passed, 1 something failed, 77 skipped (no root/netns).
set -uo pipefail

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
# shellcheck source=tests/inline/lib.sh
source "$ROOT/tests/inline/lib.sh"
SD="$(cd "$ROOT/$B" 2>/dev/null && pwd)/streamdump"
IMPAIR="$(cd "$ROOT/$B" 2>/dev/null && pwd)/tools/impair"
PY=$(command -v python3)
PEER="$HERE/peer.py"
XFER="$ROOT/tests/tools/xfer.py"
for x in "$SD" "$IMPAIR"; do
  [[ -x "$x" ]] || {
    echo "FAIL $x is not built (run make)"
    exit 1
  }
done
need_netns

W=$(mktemp -d /tmp/sd-netns.XXXXXX)
SD_PID=""
on_exit() {
  cleanup_topology
  rm -rf "$W"
}
trap on_exit EXIT
okl() { echo "ok   $*"; }
kol() { echo "FAIL $*"; }

mk_topology "streamdump$$" impair
PORT=8090
mkdir -p "$W/peers" "$W/out"
for a in "$IP4_SRV" "$IP6_SRV"; do
  ip netns exec "$NS_SRV" "$PY" "$PEER" serve --bind "$a" --port $PORT --dir "$W/peers" --ready "$W/ready.$a" &
  BG_PIDS+=($!)
done
# Phase 1 runs with imp passing every frame unchanged (the raw overlap cases
# need their segments to arrive in the order they were sent).
ip netns exec "$NS_IMP" "$IMPAIR" -a ia -b ib >"$W/impair0.out" 2>"$W/impair0.err" &
IMP=$!
BG_PIDS+=("$IMP")
# `ip netns exec` execs streamdump: $! is its pid (SIGINT goes to it).
ip netns exec "$NS_MB" "$SD" -i mbc,mbs -m inline -o "$W/out" -w "$W/box.pcap" \
  --set tcp.flows=4096 >"$W/sd.out" 2>"$W/sd.err" &
SD_PID=$!
BG_PIDS+=("$SD_PID")

if wait_for 10 test -e "$W/ready.$IP4_SRV" -a -e "$W/ready.$IP6_SRV" &&
  wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
  okl "forwarding up: cli reaches srv through impair and streamdump -m inline"
else
  kol "forwarding up (no TCP connect within 30 s)"
  sed 's/^/  /' "$W/sd.err" | tail -5
fi

# ---- phase 1: overlapping segments with other bytes, to a real Linux server ----
SPOOF="$NET4.9"
CLI_MAC=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
SRV_MAC=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
ip -n "$NS_SRV" neigh replace "$SPOOF" lladdr "$CLI_MAC" dev veth0 nud permanent
raw_ok=0
for c in A B C D E; do
  ns "$NS_CLI" "$PY" "$HERE/raw_overlap.py" --iface veth0 --smac "$CLI_MAC" --dmac "$SRV_MAC" --src "$SPOOF" \
    --dst "$IP4_SRV" --dport $PORT --sport $((41000 + $(printf '%d' "'$c"))) --case $c --dir "$W/peers" \
    >>"$W/raw.out" 2>&1 && raw_ok=$((raw_ok + 1))
done
wait_for 5 bash -c "ls $W/peers/ov?.srv_rx 2>/dev/null | wc -l | grep -qx 5"
if [[ $raw_ok = 5 ]] && [[ $(ls "$W"/peers/ov?.srv_rx 2>/dev/null | wc -l) = 5 ]]; then
  okl "5 raw-frame connections with overlapping segments: the Linux server read each to EOF"
else
  kol "raw overlap cases: $raw_ok of 5 ran, $(ls "$W"/peers/ov?.srv_rx 2>/dev/null | wc -l) server records"
  sed 's/^/  /' "$W/raw.out" | tail -5
fi

# ---- phase 2: transfers through loss, reordering and delay ----------------------
stop_pid "$IMP"
ip netns exec "$NS_IMP" "$IMPAIR" -a ia -b ib --seed 7 --drop 0.02 --reorder 0.01 --delay 0.01 --delay-ms 15 \
  >"$W/impair.out" 2>"$W/impair.err" &
BG_PIDS+=($!)
get() { ns "$NS_CLI" "$PY" "$PEER" get "$@" --dir "$W/peers" --timeout 60; }
if get "$IP4_SRV" $PORT --id up4 --up 1500000 --down 65536 --seed 11 >/dev/null &&
  get "$IP4_SRV" $PORT --id down4 --up 200 --down 3000000 --seed 22 >/dev/null &&
  get "$IP6_SRV" $PORT --id both6 --up 600000 --down 1200000 --seed 33 >/dev/null; then
  okl "3 transfers (IPv4 up, IPv4 down, IPv6 both ways) completed with the right bytes"
else
  kol "a transfer failed or got wrong bytes"
fi
pids=()
for i in 1 2 3 4; do
  get "$IP4_SRV" $PORT --id conc$i --up $((i * 100000)) --down $((i * 250000)) --seed $((40 + i)) >/dev/null &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
if [[ $rc -eq 0 ]]; then okl "4 concurrent transfers completed with the right bytes"; else kol "a concurrent transfer failed"; fi

# Every connection closed on both ends (a FIN lost by imp is retransmitted
# after an RTO): no socket of the test in a closing state any more.
wait_for 15 bash -c "! ip netns exec $NS_CLI ss -tanH state fin-wait-1 state fin-wait-2 state closing state last-ack state close-wait | grep -q . && ! ip netns exec $NS_SRV ss -tanH state fin-wait-1 state fin-wait-2 state closing state last-ack state close-wait | grep -q ." ||
  kol "connections still closing 15 s after the transfers"
# Live end: SIGINT; streamdump drains, writes every file and the index.
kill -INT "$SD_PID" 2>/dev/null
for _ in $(seq 150); do
  kill -0 "$SD_PID" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$SD_PID" 2>/dev/null; then
  kol "streamdump still running 15 s after SIGINT"
  stop_pid "$SD_PID"
else
  rc=0
  wait "$SD_PID" || rc=$?
  if [[ $rc -eq 0 ]] && tail -1 "$W/out/streamdump.json" | grep -q '"summary"'; then
    okl "SIGINT: streamdump exits 0 with the index closed by its summary line"
  else
    kol "SIGINT: exit status $rc, last index line: $(tail -1 "$W/out/streamdump.json" 2>/dev/null | cut -c1-120)"
    sed 's/^/  /' "$W/sd.err" | tail -5
  fi
fi
sed 's/^/  /' "$W/sd.err" | grep -i "streamdump:" | tail -2

mkdir -p "$W/tcpflow"
tcpflow -r "$W/box.pcap" -o "$W/tcpflow" >/dev/null 2>&1 || kol "tcpflow -r box.pcap failed"
"$SD" -q -r "$W/box.pcap" -o "$W/offline" --set tcp.flows=4096 >/dev/null 2>"$W/off.err" ||
  kol "streamdump -r box.pcap failed: $(tail -2 "$W/off.err")"
# The same capture with a 16 KB window (holes given up): gaps must be exact.
"$SD" -q -r "$W/box.pcap" -o "$W/small" --set tcp.flows=4096 --set tcp.buf_size=16K --max-gaps 100000 \
  >/dev/null 2>"$W/small.err" || kol "streamdump -r box.pcap (16 KB window) failed: $(tail -2 "$W/small.err")"
"$PY" "$HERE/linux_check.py" --small "$W/small" --peers "$W/peers" --ours "$W/out" --offline "$W/offline" --tcpflow "$W/tcpflow" \
  --pcap "$W/box.pcap" --tsv "$HERE/known-differences.tsv"
exit 0
