#!/usr/bin/env bash
# Replicated pipelines on live interfaces (issue #14, target 5): two lcores,
# each a whole pipeline (bench/mappings/best.conf: fanout = index), on the
# queues of the same two ports. The ports get a queue pair per rx instance
# (AF_PACKET, PACKET_FANOUT); the kernel spreads each port's frames over its
# queues by its own hash (symmetric on veth here, not for every driver), and
# when a queue's ring is full it rolls the frame over to another queue: so
# rx hands every frame to the instance its address hash falls to. A first
# phase has small rings (128 frames) so that frames do roll over: without the
# hand-off it fails (49 of 60 downloads split over the two pipelines, tried);
# a second has the default rings, and also checks each download's end.
#
#   bash tests/inline/replicated_test.sh BUILD_DIR
#
#   cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv (two addresses, a server on each)
#        mb: mospipe -i mbc,mbs -m inline -c best.conf, then midstat the same way
# Checked against the endpoints and the kernel: every download arrives whole
# (sha256); the flow log has each download once, every byte of both sides
# seen and its close (a flow split over two pipelines would show as two
# records each missing what the other saw, a record with data besides the
# downloads); frames were handed between the
# instances (steered = steered_in); conservation; the kernel's frame count
# on the ports = rx + port_missed. Then midstat -m inline on the same two
# lcores lists every download as a connection that ended by FIN.
# Prints PASS/FAIL per check, ends with "replicated: N passed, M failed".
set -euo pipefail

if [[ -z "${MP_REPL_TIMED:-}" ]]; then
  export MP_REPL_TIMED=1
  exec timeout --kill-after=10 "${MP_REPL_TIMEOUT:-180}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

MOSPIPE="$(cd "$B" 2>/dev/null && pwd)/mospipe" || true
MIDSTAT="$(cd "$B" 2>/dev/null && pwd)/midstat" || true
if [[ ! -x "$MOSPIPE" || ! -x "$MIDSTAT" ]]; then
  echo "FAIL: $B/mospipe or $B/midstat is not built (run make)"
  echo "replicated: 0 passed, 1 failed"
  exit 1
fi
need_netns
PY=$(command -v python3)
XFER="$TOOLS/xfer.py"
N=${MP_REPL_N:-30} # downloads per server address
CONF="$ROOT/bench/mappings/best.conf"
EAL="--no-huge -m 1024 --no-pci --no-shconf"
RING=${MP_REPL_RING---set ports.ring_frames=128 --set ports.ring_block=4096}

begin_test replicated

mk_topology "r$$"
for n in "$NS_CLI" "$NS_SRV"; do
  ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
    net.ipv6.conf.veth0.disable_ipv6=1
done
IP4_SRV2="$NET4.3"
ns "$NS_SRV" ip addr add "$IP4_SRV2/24" dev veth0
MAC_CLI=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
MAC_SRV=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
ns "$NS_CLI" ip neigh replace "$IP4_SRV" lladdr "$MAC_SRV" dev veth0 nud permanent
ns "$NS_CLI" ip neigh replace "$IP4_SRV2" lladdr "$MAC_SRV" dev veth0 nud permanent
ns "$NS_SRV" ip neigh replace "$IP4_CLI" lladdr "$MAC_CLI" dev veth0 nud permanent
echo "replicated: namespaces ${NS_LIST[*]}, $NET4.0/24, $N downloads from each of 2 servers per phase"

mkdir -p "$W/www"
head -c 262144 /dev/urandom >"$W/www/f.bin"
SUM=$(sha256sum "$W/www/f.bin" | cut -d' ' -f1)
PORT=8080
for a in "$IP4_SRV" "$IP4_SRV2"; do
  ip netns exec "$NS_SRV" "$PY" "$XFER" serve --bind "$a" --port $PORT --dir "$W/www" --ready "$W/srv-$a.ready" \
    >/dev/null 2>"$W/srv-$a.err" &
  BG_PIDS+=($!)
  wait_for 10 test -e "$W/srv-$a.ready" || fail "the server on $a did not start"
done

kern() { # frames the kernel counted on mbc and mbs
  local s=0 i f
  for i in mbc mbs; do
    for f in rx_packets rx_dropped; do s=$((s + $(ns "$NS_MB" cat /sys/class/net/$i/statistics/$f))); done
  done
  echo "$s"
}

# downloads TAG: N concurrent downloads from each server address at once.
downloads() {
  local tag=$1 rc1=0 rc2=0
  ns "$NS_CLI" "$PY" "$XFER" get "http://$IP4_SRV:$PORT/f.bin" -n "$N" --sha256 "$SUM" --timeout 60 \
    >"$W/$tag.1.out" 2>&1 &
  local p1=$!
  ns "$NS_CLI" "$PY" "$XFER" get "http://$IP4_SRV2:$PORT/f.bin" -n "$N" --sha256 "$SUM" --timeout 60 \
    >"$W/$tag.2.out" 2>&1 || rc2=$?
  wait "$p1" || rc1=$?
  local good
  good=$(cat "$W/$tag.1.out" "$W/$tag.2.out" | grep -c ' ok ' || true)
  check "$tag: $good of $((2 * N)) downloads arrive whole (sha256)" test "$rc1" -eq 0 -a "$rc2" -eq 0 -a "$good" -eq $((2 * N))
}

# stop_box PID: SIGINT once its traffic has stopped; sets BOX_RC.
stop_box() {
  local pid=$1 deadline
  kill -INT "$pid"
  deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  BOX_RC=0
  if kill -0 "$pid" 2>/dev/null; then BOX_RC=124; stop_pid "$pid"; else wait "$pid" || BOX_RC=$?; fi
}

# ---- mospipe on two lcores, a pipeline each -------------------------------------
# box_phase TAG STRICT RING...: mospipe inline with these ring settings, the
# downloads through it, then the checks against the endpoints and the kernel.
# STRICT=1 also holds every download's end to the FIN both hosts exchanged.
box_phase() {
  local tag=$1 strict=$2
  shift 2
  ip netns exec "$NS_MB" "$MOSPIPE" -c "$CONF" --set eal.args="$EAL" "$@" -i mbc,mbs -m inline -q \
    --flow-log "$W/$tag.flows.jsonl" --counters-json "$W/$tag.counters.json" >"$W/$tag.mp.out" 2>"$W/$tag.mp.err" &
  local pid=$!
  BG_PIDS+=("$pid")
  local tel="/var/run/dpdk/mospipe-$pid/dpdk_telemetry.v2"
  wait_for 60 "$PY" "$XFER" tel "$tel" /mospipe/counters >/dev/null 2>&1 || fail "$tag: mospipe's telemetry did not answer: $(tail -2 "$W/$tag.mp.err")"
  local k0 k1
  k0=$(kern)
  if [[ $strict == 1 ]]; then
    # [tcp] prefault = auto with live ports: each tcpsm instance's flow objects
    # (262,144 flows + 65,792 of retire slack, ~0.9 KiB each) are in memory
    # before the first packet, as the kernel counts it (VmRSS).
    local rss_kb
    rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
    check "$tag: prefault = auto on live ports: RSS ${rss_kb} KiB before traffic, at least two instances' flow objects (2 x 327936 x 800 B)" \
      test "${rss_kb:-0}" -ge $((2 * 327936 * 800 / 1024))
  fi
  if wait_for 30 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
    downloads "$tag"
  else
    fail "$tag: mospipe does not forward: $(tail -2 "$W/$tag.mp.err")"
  fi
  closes_done "$NS_CLI" "$NS_SRV"
  box_idle "$tel"
  links_down
  stop_box "$pid"
  k1=$(kern)
  links_up "$IP4_SRV" "$IP4_SRV2"
  check "$tag: SIGINT, exit status 0 (got $BOX_RC)" test "$BOX_RC" -eq 0
  check "$tag: the start-up report gives each port 2 queue pairs" grep -q "^mospipe: mbc: AF_PACKET, 2 queue pairs" "$W/$tag.mp.err"

  "$PY" - "$W/$tag.counters.json" "$W/$tag.flows.jsonl" "$((k1 - k0))" "$((2 * N))" "$PORT" "$strict" <<'PYEOF' >"$W/$tag.checks.txt" || true
import json, sys
cj, fl, kern, ndl, port, strict = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] == "1"
d = json.load(open(cj))
t = d["totals"]
rx, inj, tx, dt, pm = t["rx"], t["injected"], t["tx"], t["drops_total"], t.get("port_missed", 0)
print(f"CHECK {int(rx + inj == tx + dt)} conservation: rx + injected == tx + drops_total ({rx} + {inj} == {tx} + {dt})")
print(f"CHECK {int(kern == rx + pm)} ports: frames the kernel counted on mbc and mbs = rx + port_missed ({kern} == {rx} + {pm})")
rxs = [s for s in d["stages"] if s["stage"] == "rx"]
steered = sum(s["counters"]["steered"] for s in rxs)
steered_in = sum(s["counters"]["steered_in"] for s in rxs)
ins = [s["in"] for s in rxs]
print(f"CHECK {int(len(rxs) == 2 and all(ins))} two rx instances, each polled frames from its queues ({ins})")
print(f"CHECK {int(steered > 0 and steered == steered_in)} frames handed between them: steered {steered} = steered_in {steered_in}")
tcpsm = [s["in"] for s in d["stages"] if s["stage"] == "tcpsm"]
print(f"INFO tcpsm instances took {tcpsm} packets (flows go by address pair)")
rows = [json.loads(l) for l in open(fl)]
dl = [r for r in rows if r["svr"].endswith(f":{port}") and r["svr_bytes"] > 262144]
# Other records: the readiness probes (connect, close: no data). A part of a
# download seen by the other pipeline would be one with data.
part = [r for r in rows if r not in dl and (r["svr_bytes"] or r["cli_bytes"])]
print(f"CHECK {int(len(dl) == ndl and not part)} flow log: {len(dl)} downloads logged, {ndl} made, "
      f"{len(part)} other records with data")
whole = [r for r in dl if r["svr_missed"] or r["cli_missed"] or r["midstream"]]
print(f"CHECK {int(not whole)} flow log: every download seen whole from its SYN, one pipeline each"
      + (f"; first bad: {whole[0]}" if whole else ""))
ends = {}
for r in dl:
    ends[r["end"]] = ends.get(r["end"], 0) + 1
if strict:
    bad = [r for r in dl if r["end"] != "fin"]
    print(f"CHECK {int(not bad)} flow log: every download ended by the FIN both hosts exchanged"
          + (f"; first bad: {bad[0]}" if bad else ""))
else:
    print(f"INFO ends {ends} (not checked here: rolled-over frames come through the other queue, "
          f"and an overloaded box reorders a flow's frames)")
PYEOF
  report_checks "$W/$tag.checks.txt" "$tag: "
  [[ -s "$W/$tag.checks.txt" ]] || fail "$tag: counters json or flow log unreadable: $(tail -2 "$W/$tag.mp.err")"
}

# Rings of 128 frames: the kernel rolls frames over to the other queue when
# one is full, so a flow's frames come through both queues and only the
# hand-off keeps each flow in one pipeline (without it 49 of 60 downloads
# split, tried). The box is overloaded then (frames lost at its ports, the
# endpoints retransmitting) and reorders a flow's frames between the two
# queues: its model can then refuse a segment a host took (a FIN failing
# PAWS against the timestamp of a retransmission the host had discarded as
# old, because the host's ACKs still sat in the box: 3 runs of 22), so the
# ends are checked in the next phase, whose rings keep up.
box_phase rollover 0 $RING
# The default rings (16,384 frames): no frame lost or rolled over; flows
# still reach the other instance's queue by the kernel's own hash.
box_phase mospipe 1

# ---- midstat on the same two lcores ---------------------------------------------
ip netns exec "$NS_MB" "$MIDSTAT" -c "$CONF" -i mbc,mbs -m inline -n 0.2 --json --all >"$W/ms.json" 2>"$W/ms.err" &
MS_PID=$!
BG_PIDS+=("$MS_PID")
if wait_for 60 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PORT --timeout 1; then
  downloads midstat
else
  fail "midstat does not forward: $(tail -2 "$W/ms.err")"
fi
closes_done "$NS_CLI" "$NS_SRV"
sleep 1 # a table after the last close
stop_box "$MS_PID"
check "midstat: SIGINT, exit status 0 (got $BOX_RC)" test "$BOX_RC" -eq 0
"$PY" - "$W/ms.json" "$((2 * N))" "$PORT" <<'PYEOF' >"$W/ms.txt" || true
import json, sys
f, ndl, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
last = {}
health = None
for l in open(f):
    try:
        o = json.loads(l)
    except ValueError:
        continue
    if o.get("type") == "health":
        health = o
    elif "cli" in o:
        last[(o["cli"], o["svr"])] = o
dl = [o for o in last.values() if o["svr"].endswith(f":{port}") and o["svr_bytes"] > 262144]
fin = [o for o in dl if o.get("end") == "fin" and not o["svr_missed"] and not o["cli_missed"]]
print(f"CHECK {int(len(dl) == ndl)} midstat lists {len(dl)} downloads, {ndl} made")
print(f"CHECK {int(len(fin) == ndl)} midstat: {len(fin)} of them ended by FIN with every byte seen")
st = health.get("stages", []) if health else []
print(f"CHECK {int(len(st) == 12)} midstat's health names the 12 stage instances of two pipelines ({len(st)})")
PYEOF
report_checks "$W/ms.txt"
[[ -s "$W/ms.txt" ]] || fail "midstat's output unreadable: $(tail -2 "$W/ms.err")"

echo "replicated: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
