#!/usr/bin/env bash
# Every frame the box loses at its ports is counted (issue #15): a live
# interface whose AF_PACKET ring overflows reports the frames the kernel
# received on it that never reached rx as port_missed, and
#     frames sent to the port = rx + port_missed
# holds exactly, the frames sent being the sender's own count and the
# kernel's tx_packets on the far end of the veth (the truth from outside).
#
#   bash tests/inline/portmiss_test.sh BUILD_DIR
#
#   snd [veth0] <--> [mb0] mb
#        snd: a raw AF_PACKET sender (python), N frames as fast as it can,
#             pinned to the CPU of mospipe's lcore, so that while it runs
#             mospipe does not and its ring overflows
#        mb:  mospipe -i mb0 (monitor), [ports] ring_frames = 64,
#             ring_block = 4096 (32 blocks of 2 frames)
# Also: ring_frames and ring_block reach the PMD (a 64-frame ring loses
# frames; 16384 loses none of a slower stream, sent unpinned); the same
# count through an AF_XDP port ([ports] driver = af_xdp). IPv6 is off on
# both ends so that nothing but the test's frames crosses the link.
# Prints PASS/FAIL per check, ends with "portmiss: N passed, M failed".
# Exit 0 all passed, 1 something failed, 77 skipped (no root / no netns).
set -euo pipefail

if [[ -z "${MP_PORTMISS_TIMED:-}" ]]; then
  export MP_PORTMISS_TIMED=1
  exec timeout --kill-after=10 "${MP_PORTMISS_TIMEOUT:-120}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

MOSPIPE="$(cd "$B" 2>/dev/null && pwd)/mospipe" || true
if [[ ! -x "$MOSPIPE" ]]; then
  echo "FAIL: $B/mospipe is not built (run make)"
  echo "portmiss: 0 passed, 1 failed"
  exit 1
fi
need_netns
command -v taskset >/dev/null || skip "taskset (util-linux) is not installed"
PY=$(command -v python3)
XFER="$TOOLS/xfer.py"

begin_test portmiss

s="p$$"
NS_SND="$NSP-snd-$s" NS_MB="$NSP-mb-$s"
for n in "$NS_SND" "$NS_MB"; do
  ip netns add "$n"
  NS_LIST+=("$n")
  ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_SND" link add veth0 type veth peer name mb0 netns "$NS_MB"
ns "$NS_SND" sysctl -qw net.ipv6.conf.veth0.disable_ipv6=1
ns "$NS_MB" sysctl -qw net.ipv6.conf.mb0.disable_ipv6=1
no_offloads "$NS_SND" veth0
no_offloads "$NS_MB" mb0
ns "$NS_SND" ip link set veth0 up
ns "$NS_MB" ip link set mb0 up
echo "portmiss: namespaces ${NS_LIST[*]}"

# The frames: UDP datagrams between two made-up addresses (nothing in either
# namespace answers or forwards them), each one distinct.
cat >"$W/send.py" <<'PYEOF'
import socket, struct, sys
n, iface = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
hdr = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
sent = 0
for i in range(n):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 18, i & 0xffff, 0, 64, 17, 0,
                     bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    udp = struct.pack("!HHHH", 40000 + (i % 1000), 9, 8 + 18, 0) + i.to_bytes(18, "big")
    try:
        s.send(hdr + ip + udp)
        sent += 1
    except OSError:
        pass
print(sent)
PYEOF

txp() { ns "$NS_SND" cat /sys/class/net/veth0/statistics/tx_packets; }
port_stats() { # port_stats JSON: "rx port_missed" from the counters JSON
  "$PY" - "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
rx = d["totals"]["rx"]
pm = sum(s["counters"].get("port_missed", 0) for s in d["stages"] if s["stage"] == "rx")
print(rx, pm)
PYEOF
}

# run_box NAME PIN N [--set ...]: mospipe -i mb0 (its lcore 0 runs on CPU 0), the sender
# (pinned to the same CPU when PIN=1) sends N frames; then, once rx is idle
# for 1 s, SIGINT. Sets SENT, TX (kernel), RX, PM.
run_box() {
  local name=$1 pin=$2 n=$3
  shift 3
  local cpu
  cpu=0 # [lcores] default: lcore 0 = CPU 0
  ip netns exec "$NS_MB" "$MOSPIPE" -i mb0 -q --counters-json "$W/$name.json" \
    --set eal.args="--no-huge -m 512 --no-pci --no-shconf" --set tcp.flows=4096 "$@" >"$W/$name.out" 2>"$W/$name.err" &
  local mp=$!
  BG_PIDS+=("$mp")
  local tel="/var/run/dpdk/mospipe-$mp/dpdk_telemetry.v2"
  if ! wait_for 60 "$PY" "$XFER" tel "$tel" /mospipe/counters >/dev/null 2>&1; then
    fail "$name: mospipe did not come up: $(tail -2 "$W/$name.err")"
    stop_pid "$mp"
    return 1
  fi
  local tx0
  tx0=$(txp)
  if ((pin)); then
    SENT=$(ns "$NS_SND" taskset -c "$cpu" "$PY" "$W/send.py" "$n" veth0)
  else
    SENT=$(ns "$NS_SND" "$PY" "$W/send.py" "$n" veth0)
  fi
  TX=$(($(txp) - tx0))
  box_idle "$tel"
  kill -INT "$mp"
  local deadline=$((SECONDS + 20))
  while kill -0 "$mp" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  stop_pid "$mp"
  read -r RX PM < <(port_stats "$W/$name.json") || { fail "$name: no counters json"; return 1; }
  echo "  $name: sent $SENT frames (sender), $TX (kernel tx_packets); box rx $RX, port_missed $PM"
}

# 1. Overload: a 64-frame ring, the sender on mospipe's CPU.
if run_box small 1 200000 --set ports.ring_frames=64 --set ports.ring_block=4096; then
  check "overload: the sender's count is the kernel's ($SENT = $TX tx_packets)" test "$SENT" -eq "$TX"
  check "overload: the 64-frame ring lost frames (port_missed $PM > 0)" test "$PM" -gt 0
  check "overload: frames sent = rx + port_missed ($TX = $RX + $PM)" test "$TX" -eq $((RX + PM))
fi

# 2. The default ring, the sender on another CPU, fewer frames: none lost.
if run_box big 0 20000; then
  check "default ring: frames sent = rx + port_missed ($TX = $RX + $PM)" test "$TX" -eq $((RX + PM))
  check "default ring (16384 frames): nothing lost at the port (port_missed $PM)" test "$PM" -eq 0
fi

# 3. Two tx instances: the port gets two queue pairs, among which the kernel
#    spreads the frames (PACKET_FANOUT); rx must poll both (it polled queue
#    0 only: half the frames sat in the other ring until it overflowed).
if run_box twoq 0 20000 -l "0=rx,classify,tcpsm,events,app,tx.0;1=tx.1"; then
  check "two queue pairs: frames sent = rx + port_missed ($TX = $RX + $PM)" test "$TX" -eq $((RX + PM))
  check "two queue pairs: rx polls both queues, nothing lost (port_missed $PM)" test "$PM" -eq 0
fi

# 4. An AF_XDP port ([ports] driver = af_xdp: native XDP on veth) with a
#    64-descriptor socket ring, overloaded as in 1. The truth is the far
#    end's tx_packets (with an XDP program on mb0, its rx_dropped counts
#    again frames rx_packets holds; a frame veth could not queue to XDP is
#    the sender's tx_dropped and reached neither).
if run_box xdp 1 200000 --set ports.driver=af_xdp --set ports.rx_desc=64; then
  check "af_xdp: the start-up report says AF_XDP" grep -q "^mospipe: mb0: AF_XDP (native XDP), 1 queue pair" "$W/xdp.err"
  check "af_xdp overload: the 64-descriptor ring lost frames (port_missed $PM > 0)" test "$PM" -gt 0
  # This count came out short in 2 of 9 runs once (175,864 and 150,993 of
  # 200,000): the wait above ended on DPDK's telemetry answering null for
  # a command not yet registered, so the sender started while the port was
  # still being opened (AF_XDP's socket and program take longer than
  # AF_PACKET's ring), and the frames it sent before were not the box's.
  # xfer.py tel now fails on null: 12 of 12 exact after it, 4 of 10 short
  # before it on the same machine.
  check "af_xdp overload: frames sent = rx + port_missed ($TX = $RX + $PM)" test "$TX" -eq $((RX + PM))
fi
check "auto on veth: AF_PACKET, and the start-up report says why" \
  grep -q "^mospipe: mb0: AF_PACKET, 1 queue pair (AF_XDP not used: driver veth has no AF_XDP zero-copy" "$W/big.err"

echo "portmiss: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
