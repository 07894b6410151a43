#!/usr/bin/env bash
# Inline under load, the short version for the suite (issue #15): real Linux
# TCP through mospipe -m inline, with a Linux bridge on the same veths as the
# baseline in the same run, once with cubic senders and once with BBR.
#
#   bash tests/inline/load_test.sh BUILD_DIR      (N downloads: MP_LOAD_N, 200)
#
#   cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv
#        mb: first br0 (a plain Linux bridge), then mospipe -i mbc,mbs -m inline
#            ([ports] driver = auto: AF_PACKET on veth), then the same with
#            driver = af_xdp (DPDK's net_af_xdp, native XDP on veth; cubic only)
# Each phase: N concurrent downloads of a 256 KiB file (xfer.py, HTTP), the
# server's congestion control set to cubic or bbr (its route's congctl). Checked (the truths are
# the endpoints' and the kernel's): every download arrives whole (sha256),
# through the bridge and through the box, cubic and BBR; the flow log has
# each download once, every server byte seen (svr_missed 0) and its close;
# conservation (rx + injected = tx + drops_total); and the ports' count:
# the frames the kernel received on mbc and mbs while mospipe ran equal
# rx + port_missed exactly. The box/bridge time ratios are printed, not
# asserted (bench/ measures; a timed assertion would be flaky).
# IPv6 is off everywhere and the neighbours are permanent, so that no chatter
# crosses the box's ports outside mospipe's run; the first count is taken once
# mospipe answers on its telemetry socket (a SYN sent while it was starting
# made it 1 frame off).
# Prints PASS/FAIL per check, ends with "load: N passed, M failed".
set -euo pipefail

if [[ -z "${MP_LOAD_TIMED:-}" ]]; then
  export MP_LOAD_TIMED=1
  exec timeout --kill-after=10 "${MP_LOAD_TIMEOUT:-240}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

MOSPIPE="$(cd "$B" 2>/dev/null && pwd)/mospipe" || true
if [[ ! -x "$MOSPIPE" ]]; then
  echo "FAIL: $B/mospipe is not built (run make)"
  echo "load: 0 passed, 1 failed"
  exit 1
fi
need_netns
PY=$(command -v python3)
XFER="$TOOLS/xfer.py"
N=${MP_LOAD_N:-200}

begin_test load

mk_topology "l$$"
for n in "$NS_CLI" "$NS_SRV"; do
  ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.veth0.disable_ipv6=1
done
# Permanent neighbours: no ARP either, so that every frame on the box's ports
# while mospipe runs is the test's (the kernel's count is held against it).
MAC_CLI=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
MAC_SRV=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
ns "$NS_CLI" ip neigh replace "$IP4_SRV" lladdr "$MAC_SRV" dev veth0 nud permanent
ns "$NS_SRV" ip neigh replace "$IP4_CLI" lladdr "$MAC_CLI" dev veth0 nud permanent
echo "load: namespaces ${NS_LIST[*]}, $NET4.0/24, $N downloads per phase"

mkdir -p "$W/www"
head -c 262144 /dev/urandom >"$W/www/f.bin"
SUM=$(sha256sum "$W/www/f.bin" | cut -d' ' -f1)
PORT=8080
ip netns exec "$NS_SRV" "$PY" "$XFER" serve --bind "$IP4_SRV" --port $PORT --dir "$W/www" --ready "$W/srv.ready" \
  >"$W/srv.out" 2>"$W/srv.err" &
BG_PIDS+=($!)
wait_for 10 test -e "$W/srv.ready" || fail "the server did not start"

# phase NAME CC: N concurrent downloads, the server sending with CC.
declare -A SECS
phase() {
  local name=$1 cc=$2 t0 t1 rc=0
  # Per route: a new namespace may only pick from the host's allowed list by
  # sysctl (here reno and bbr, bbr the default), a route takes any.
  ns "$NS_SRV" ip route replace "$NET4.0/24" dev veth0 congctl "$cc"
  t0=$(date +%s.%N)
  ns "$NS_CLI" "$PY" "$XFER" get "http://$IP4_SRV:$PORT/f.bin" -n "$N" --sha256 "$SUM" --timeout 60 \
    >"$W/$name.out" 2>"$W/$name.err" || rc=$?
  t1=$(date +%s.%N)
  SECS[$name]=$("$PY" -c "print(f'{$t1 - $t0:.2f}')")
  local good
  good=$(grep -c ' ok ' "$W/$name.out" || true)
  check "$name ($cc): $good of $N downloads arrive whole (sha256) in ${SECS[$name]} s" test "$rc" -eq 0 -a "$good" -eq "$N"
}

# ---- the bridge ---------------------------------------------------------------
ns "$NS_MB" ip link add br0 type bridge
ns "$NS_MB" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
ns "$NS_MB" ip link set mbc master br0
ns "$NS_MB" ip link set mbs master br0
ns "$NS_MB" ip link set br0 up
if wait_for 20 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
  phase bridge-cubic cubic
  phase bridge-bbr bbr
else
  fail "the bridge does not forward"
fi
ns "$NS_MB" ip link del br0

# ---- the box --------------------------------------------------------------------
# kern auto: frames the kernel counted on mbc and mbs (rx_packets +
# rx_dropped). kern af_xdp: frames the far ends sent into them (tx_packets
# of cli's and srv's veth0): with an XDP program on mbc and mbs their
# rx_dropped counts again frames rx_packets holds, and a frame veth could
# not queue to XDP is the sender's tx_dropped, in neither.
kern() {
  local s=0 i f n
  if [[ $1 == af_xdp ]]; then
    for n in "$NS_CLI" "$NS_SRV"; do s=$((s + $(ns "$n" cat /sys/class/net/veth0/statistics/tx_packets))); done
  else
    for i in mbc mbs; do
      for f in rx_packets rx_dropped; do s=$((s + $(ns "$NS_MB" cat /sys/class/net/$i/statistics/$f))); done
    done
  fi
  echo "$s"
}
# box_run DRIVER TAG CC...: mospipe -i mbc,mbs -m inline with [ports] driver
# = DRIVER on the same veths, one phase of N downloads per congestion control
# CC, then its checks (prefixed by the driver in the PYEOF lines' callers).
box_run() {
  local d=$1 tag=$2
  shift 2
  local ccs=("$@")
  ip netns exec "$NS_MB" "$MOSPIPE" -i mbc,mbs -m inline -q --flow-log "$W/$d.flows.jsonl" \
    --counters-json "$W/$d.counters.json" --set ports.driver="$d" >"$W/$d.mp.out" 2>"$W/$d.mp.err" &
  MP_PID=$!
  BG_PIDS+=("$MP_PID")
  TEL="/var/run/dpdk/mospipe-$MP_PID/dpdk_telemetry.v2"
  # The first count once mospipe runs (its telemetry answers), before any
  # frame: a SYN sent while it was starting reached the port but not the box.
  wait_for 60 "$PY" "$XFER" tel "$TEL" /mospipe/counters >/dev/null 2>&1 || fail "mospipe's telemetry did not answer"
  K0=$(kern "$d")
  if wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
    for cc in "${ccs[@]}"; do phase "$tag-$cc" "$cc"; done
  else
    fail "$d: mospipe does not forward: $(tail -2 "$W/$d.mp.err")"
  fi
  box_idle "$TEL"
  links_down
  kill -INT "$MP_PID"
  deadline=$((SECONDS + 20))
  while kill -0 "$MP_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  MP_RC=0
  if kill -0 "$MP_PID" 2>/dev/null; then MP_RC=124; stop_pid "$MP_PID"; else wait "$MP_PID" || MP_RC=$?; fi
  K1=$(kern "$d")
  links_up "$IP4_SRV"
  check "$d: SIGINT: mospipe exits with status 0 (got $MP_RC)" test "$MP_RC" -eq 0

  "$PY" - "$W/$d.counters.json" "$W/$d.flows.jsonl" "$((K1 - K0))" "$((${#ccs[@]} * N))" "$PORT" <<'PYEOF' >"$W/$d.checks.txt" || true
import json, sys
cj, fl, kern, ndl, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t = json.load(open(cj))["totals"]
rx, inj, tx, dt, pm = t["rx"], t["injected"], t["tx"], t["drops_total"], t.get("port_missed", 0)
print(f"CHECK {int(rx + inj == tx + dt)} counters: rx + injected == tx + drops_total ({rx} + {inj} == {tx} + {dt})")
# AF_XDP: printed, not asserted (an AF_XDP port's final count was short in
# 2 of 9 overload runs of portmiss_test.sh; README, "Counters").
print(f"{'CHECK' if not cj.endswith('af_xdp.counters.json') else 'INFO'} {int(kern == rx + pm)} ports: frames the kernel counted into mbc and mbs = rx + port_missed "
      f"({kern} == {rx} + {pm})")
# The box's own latency (tx: rx poll to the port): every forwarded frame in
# it (none is made inside this pipeline), its percentiles in order.
lat = [s.get("latency_ns") for s in json.load(open(cj))["stages"] if s["stage"] == "tx"]
lat = [l for l in lat if l]
nl = sum(l["frames"] for l in lat)
print(f"CHECK {int(nl == tx)} latency: every frame sent is measured ({nl} == {tx})")
order = all(l["p50"] <= l["p90"] <= l["p99"] <= l["p999"] <= l["max"] for l in lat)
print(f"CHECK {int(bool(lat) and order)} latency: p50 <= p90 <= p99 <= p99.9 <= max "
      + "; ".join(f"p50 {l['p50'] / 1e3:.1f} us, p99 {l['p99'] / 1e3:.1f} us, p99.9 {l['p999'] / 1e3:.1f} us, "
                  f"max {l['max'] / 1e3:.1f} us" for l in lat))
rows = [json.loads(l) for l in open(fl)]
dl = [r for r in rows if r["svr"].endswith(f":{port}") and r["svr_bytes"] > 262144]
bad = [r for r in dl if r["svr_missed"] or r["cli_missed"] or r["end"] not in ("fin", "open")]
print(f"CHECK {int(len(dl) == ndl)} flow log: {len(dl)} downloads logged, {ndl} made")
print(f"CHECK {int(not bad)} flow log: every download's bytes seen (missed 0) and its end logged"
      + (f"; first bad: {bad[0]}" if bad else ""))
print(f"INFO port_missed {pm}, drops {dt} {dict((k, v) for k, v in t['drops'].items() if v)}")
PYEOF
  report_checks "$W/$d.checks.txt"
  [[ -s "$W/$d.checks.txt" ]] || fail "counters json or flow log unreadable: $(tail -2 "$W/$d.mp.err")"
  local line
  line=$(grep -m1 "^mospipe: mbc: " "$W/$d.mp.err" || true)
  echo "  $d: ${line:-no start-up report}"
}
# auto: AF_PACKET on veth (no AF_XDP zero-copy there); af_xdp: the same
# downloads through DPDK's net_af_xdp (native XDP on veth), cubic only.
box_run auto box cubic bbr
check "auto: the start-up report says AF_PACKET on veth, and why" \
  grep -q "^mospipe: mbc: AF_PACKET, 1 queue pair (AF_XDP not used: driver veth has no AF_XDP zero-copy" "$W/auto.mp.err"
box_run af_xdp xdp cubic
check "af_xdp: the start-up report says AF_XDP" grep -q "^mospipe: mbc: AF_XDP (native XDP), 1 queue pair" "$W/af_xdp.mp.err"
for k in box-cubic box-bbr xdp-cubic; do
  b=${SECS[bridge-${k#*-}]:-} x=${SECS[$k]:-}
  [[ -n $b && -n $x ]] && echo "  $k: $N downloads in ${x} s through the box, ${b} s through the bridge" \
    "(box/bridge time $("$PY" -c "print(f'{$x / $b:.2f}')"))"
done
echo "load: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
