#!/usr/bin/env bash
# The evasion tests (issue #11 §1): crafted TCP traffic against a real Linux
# receiver through a mospipe box; for every case the stream mospipe
# reassembled must equal what the receiving application read.
#
#   bash tests/evasion/run.sh BUILD_DIR [--keep DIR] [--only CASE]
#
#     cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv
#
# cli: cases.py, a TCP client made of raw frames (a spoofed address its
# kernel does not own, so that only the script answers); mb: evbox inline
# (the box, -w box.pcap); srv: server.py, a plain Linux server that keeps
# what it read. Then evbox again offline on box.pcap, and libnids (evnids)
# on it for the record; compare.py scores them (last line: "evasion: N
# passed, M failed"). Exit 0 all passed, 1 a case failed, 77 skipped (no
# root or namespaces). Namespaces are named after $MP_NS_TAG (lib.sh).
set -uo pipefail
B=${1:-build}
shift || true
KEEP="" ONLY=""
while (($#)); do
  case $1 in
  --keep) KEEP=$2; shift 2 ;;
  --only) ONLY=$2; shift 2 ;;
  *) echo "usage: run.sh BUILD_DIR [--keep DIR] [--only CASE]" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/inline/lib.sh
source "$ROOT/tests/inline/lib.sh"
BD="$(cd "$ROOT/$B" 2>/dev/null && pwd)"
EVBOX="$BD/evasion/evbox"
EVNIDS="$BD/evasion/evnids"
PY=$(command -v python3)
for x in "$EVBOX" "$EVNIDS"; do
  [[ -x "$x" ]] || {
    echo "FAIL $x is not built (run make)"
    echo "evasion: 0 passed, 1 failed"
    exit 1
  }
done
need_netns
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

W=${KEEP:-$(mktemp -d /tmp/evasion.XXXXXX)}
mkdir -p "$W"/{srv,box,off,nids}
on_exit() {
  cleanup_topology
  [[ -n "$KEEP" ]] || rm -rf "$W"
}
trap on_exit EXIT

mk_topology "ev$$"
PORT=9000
SMALL=9001
# A buffer smaller than the receivers' first window, so that a segment can be
# inside the window and beyond the box's buffer (far_ooo); bursts small
# enough that offline the stack never runs a buffer's worth ahead of evbox.
BOXOPT=(-s tcp.flows=4096 -s tcp.buf_pool=0 -s tcp.buf_size=32K -s pipeline.burst=8)
ns "$NS_SRV" "$PY" "$HERE/server.py" --bind "$IP4_SRV" --port $PORT --small-port $SMALL --dir "$W/srv" \
  --ready "$W/ready" >"$W/server.log" 2>&1 &
BG_PIDS+=($!)
# `ip netns exec` execs evbox: $! is its pid (SIGINT goes to it).
ip netns exec "$NS_MB" "$EVBOX" -i mbc,mbs -m inline -w "$W/box.pcap" "${BOXOPT[@]}" "$W/box" \
  >"$W/evbox.log" 2>&1 &
BOX=$!
BG_PIDS+=("$BOX")
if ! wait_for 10 test -e "$W/ready" ||
  ! wait_for 30 ns "$NS_CLI" "$PY" "$ROOT/tests/tools/xfer.py" probe "$IP4_SRV" $PORT --timeout 1; then
  echo "FAIL the box does not forward (no TCP connect within 30 s)"
  tail -5 "$W/evbox.log"
  echo "evasion: 0 passed, 1 failed"
  exit 1
fi

SPOOF="$NET4.9"
CLI_MAC=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
SRV_MAC=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
ip -n "$NS_SRV" neigh replace "$SPOOF" lladdr "$CLI_MAC" dev veth0 nud permanent
timeout 150 ip netns exec "$NS_CLI" "$PY" "$HERE/cases.py" run --iface veth0 --smac "$CLI_MAC" --dmac "$SRV_MAC" \
  --src "$SPOOF" --dst "$IP4_SRV" --port $PORT --small-port $SMALL --dir "$W" ${ONLY:+--only "$ONLY"} \
  >"$W/cases.log" 2>&1 || {
  echo "FAIL cases.py did not finish: $(tail -2 "$W/cases.log")"
}
grep ERROR "$W/cases.log" | sed 's/^/  /'
# Every server thread has written its record once its connection ended.
sleep 1
kill -INT "$BOX" 2>/dev/null
for _ in $(seq 100); do
  kill -0 "$BOX" 2>/dev/null || break
  sleep 0.1
done
stop_pid "$BOX"
"$EVBOX" -r "$W/box.pcap" "${BOXOPT[@]}" "$W/off" >"$W/off.log" 2>&1 || echo "note: evbox offline failed: $(tail -1 "$W/off.log")"
"$EVNIDS" "$W/box.pcap" "$W/nids" >"$W/nids.log" 2>&1 || echo "note: evnids failed: $(tail -1 "$W/nids.log")"
"$PY" "$HERE/compare.py" "$W"
