#!/usr/bin/env bash
# Flow-log test: real Linux TCP through mospipe -m inline, with a lossy,
# reordering link on the far (server) side of the box, and mospipe's
# --flow-log checked against what the endpoints themselves know.
#
#   bash tests/inline/flowlog_test.sh BUILD_DIR
#
#   cli [veth0] <--> [mbc] mb [mbs] <--> [ia] imp [ib] <--> [veth0] srv
#        mb:  mospipe -i mbc,mbs -m inline --flow-log F --counters-json C
#        imp: build/tools/impair, both directions: 0.5% drop, 1% reorder,
#        (0.5%: mospipe's missed-byte accounting is exact while at most 16
#        holes are open at once in one direction (TCPSM_IVS_N); with 8, a
#        1.5 MB download here sometimes had more, and a hole given up early
#        stays counted as missed after its retransmission fills it),
#             0.5% of frames delayed 10 ms, fixed seed
#
# tests/tools/tcpmix.py runs ~27 concurrent connections (IPv4 and IPv6):
# downloads of 10 KB - 2 MB, uploads, connections closed with FIN by the
# client or by the server first, reset (SO_LINGER 0) by the client or by the
# server, half-closed either way and left so, left fully open; and two
# connections one after the other on the same 4-tuple. Each endpoint records,
# per connection, the bytes its application sent and received and how the
# connection ended. Every connection first completes its data exchange
# (each side has read all the peer's bytes) and only then ends as planned.
# After ~1 s without a packet through the box, `ss -tan` is taken in cli and
# srv, mospipe gets SIGINT, and then the flow log is compared with all that.
#
# Where the losses are, and what that means for the box:
#  * client -> server: the box is upstream of the loss. It sees every
#    segment the client transmits, first copies and retransmissions alike;
#    the copies impair drops are lost *after* the box, so the client's
#    retransmissions of them reach the box a second time: cli_rexmit > 0
#    (uploads make ~2 MB of client data, ~1% of it dropped), while cli_bytes
#    must still be exactly what the client application sent, and there can
#    be no hole in the client's sequence space: cli_missed == 0.
#  * server -> client: the box is downstream of the loss. A dropped server
#    segment never reaches the box; the server's retransmission is then the
#    first copy the box sees (not a rexmit for the box). The box sees a
#    *temporary* hole, filled by the retransmission, since the client
#    application read every byte the server sent before the connection
#    ended (the protocol waits for it) and all those bytes passed the box.
#    So svr_missed == 0 too, and svr_bytes == what the server application
#    sent. (svr_rexmit can still be > 0: server retransmissions after a lost
#    ACK or a spurious one after reordering; it is not asserted.)
#  * RSTs: the client's RST passes the box before the loss, so the box sees
#    it even when impair drops it (then the server never learns; the server
#    endpoint records that). A server RST lost before the box is never seen,
#    but the client then sends a byte and the server's kernel answers with a
#    new RST (tcpmix counts that byte as sent): the box sees an RST either
#    way. So end == "rst" and both states CLOSED for every reset connection.
#  * FIN closes: the end is "fin"; the state of the side that closed first
#    is TIME_WAIT (so is its socket in ss, Linux keeping it 60 s), the other
#    CLOSED (no socket in ss).
#  * Open / half-closed at the stop: end "open" with ESTABLISHED/ESTABLISHED,
#    FIN_WAIT_2/CLOSE_WAIT or CLOSE_WAIT/FIN_WAIT_2, as ss shows them.
#
# Also checked: mospipe exits 0 on SIGINT; its counters balance
# (rx + injected == tx + drops_total); impair really dropped frames.
# Prints PASS/FAIL per check, ends with "flowlog: N passed, M failed".
# Exit 0 all passed, 1 something failed, 77 skipped (no root / no netns).
# Run time is bounded by MP_FLOWLOG_TIMEOUT seconds (default 120).
set -euo pipefail

if [[ -z "${MP_FLOWLOG_TIMED:-}" ]]; then
  export MP_FLOWLOG_TIMED=1
  exec timeout --kill-after=10 "${MP_FLOWLOG_TIMEOUT:-120}" bash "$0" "$@"
fi

B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS="$HERE/../tools"
# shellcheck source=tests/inline/lib.sh
source "$HERE/lib.sh"

MOSPIPE="$(cd "$B" 2>/dev/null && pwd)/mospipe" || true
IMPAIR="$(dirname "$MOSPIPE")/tools/impair"
if [[ ! -x "$MOSPIPE" || ! -x "$IMPAIR" ]]; then
  echo "FAIL: $B/mospipe or $B/tools/impair is not built (run make)"
  echo "flowlog: 0 passed, 1 failed"
  exit 1
fi
need_netns
command -v ss >/dev/null || skip "ss (iproute2) is not installed"
PY=$(command -v python3)
XFER="$TOOLS/xfer.py"
MIX="$TOOLS/tcpmix.py"

begin_test flowlog MP_FLOWLOG_KEEP
MP_PID=""

# ---- topology: the impairment between mb and srv -----------------------------
s="f$$"
NS_CLI="$NSP-cli-$s" NS_MB="$NSP-mb-$s" NS_IMP="$NSP-imp-$s" NS_SRV="$NSP-srv-$s"
for n in "$NS_CLI" "$NS_MB" "$NS_IMP" "$NS_SRV"; do
  ip netns add "$n"
  NS_LIST+=("$n")
done
for n in "$NS_MB" "$NS_IMP"; do
  ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NS_CLI" link add veth0 type veth peer name mbc netns "$NS_MB"
ip -n "$NS_MB" link add mbs type veth peer name ia netns "$NS_IMP"
ip -n "$NS_IMP" link add ib type veth peer name veth0 netns "$NS_SRV"
NET4="10.$((200 + RANDOM % 50)).$((RANDOM % 250))"
IP4_CLI="$NET4.1" IP4_SRV="$NET4.2"
n6=$(printf 'fd6d:%x:%x' $((RANDOM)) $((RANDOM)))
IP6_CLI="$n6::1" IP6_SRV="$n6::2"
ns "$NS_CLI" ip addr add "$IP4_CLI/24" dev veth0
ns "$NS_SRV" ip addr add "$IP4_SRV/24" dev veth0
ns "$NS_CLI" ip addr add "$IP6_CLI/64" dev veth0 nodad
ns "$NS_SRV" ip addr add "$IP6_SRV/64" dev veth0 nodad
no_offloads "$NS_CLI" veth0
no_offloads "$NS_SRV" veth0
no_offloads "$NS_MB" mbc
no_offloads "$NS_MB" mbs
no_offloads "$NS_IMP" ia
no_offloads "$NS_IMP" ib
for n in "${NS_LIST[@]}"; do ns "$n" ip link set lo up; done
ns "$NS_CLI" ip link set veth0 up
ns "$NS_SRV" ip link set veth0 up
ns "$NS_MB" ip link set mbc up
ns "$NS_MB" ip link set mbs up
ns "$NS_IMP" ip link set ia up
ns "$NS_IMP" ip link set ib up
echo "flowlog: namespaces ${NS_LIST[*]}, $NET4.0/24, $n6::/64"

# ---- endpoints, impair, mospipe ---------------------------------------------
PORT=8080 PROBE_PORT=8081
ip netns exec "$NS_SRV" "$PY" "$MIX" serve --bind "$IP4_SRV" --bind "$IP6_SRV" --port $PORT \
  --probe-port $PROBE_PORT --log "$W/srv.log" --ready "$W/srv.ready" 2>"$W/srv.err" &
BG_PIDS+=($!)
ip netns exec "$NS_IMP" "$IMPAIR" -a ia -b ib --seed 11 --drop 0.005 --reorder 0.01 \
  --delay 0.005 --delay-ms 10 >"$W/impair.out" 2>"$W/impair.err" &
IMP_PID=$!
BG_PIDS+=("$IMP_PID")
# With MP_FLOWLOG_KEEP set, the work dir is kept and mospipe also writes what
# it forwarded to box.pcap (evidence for a failure).
ip netns exec "$NS_MB" "$MOSPIPE" -i mbc,mbs -m inline -q --flow-log "$W/flows.jsonl" \
  --counters-json "$W/counters.json" ${MP_FLOWLOG_KEEP:+-w "$W/box.pcap"} >"$W/mp.out" 2>"$W/mp.err" &
MP_PID=$!
BG_PIDS+=("$MP_PID")
TEL="/var/run/dpdk/mospipe-$MP_PID/dpdk_telemetry.v2"

finish() {
  echo "flowlog: $PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]] && exit 0
  exit 1
}
if wait_for 10 test -e "$W/srv.ready" &&
  wait_for 20 ns "$NS_CLI" "$PY" "$XFER" probe "$IP4_SRV" $PROBE_PORT --timeout 1 &&
  wait_for 10 ns "$NS_CLI" "$PY" "$XFER" probe "$IP6_SRV" $PROBE_PORT --timeout 1; then
  pass "forwarding up: cli reaches srv (IPv4 and IPv6) through mospipe and impair"
else
  fail "forwarding up: cli cannot reach srv through mospipe and impair"
  tail -5 "$W/mp.err" "$W/srv.err" "$W/impair.err" 2>/dev/null | sed 's/^/  /'
  finish
fi

# ---- the connection mix -----------------------------------------------------
ip netns exec "$NS_CLI" "$PY" "$MIX" run --srv4 "$IP4_SRV" --srv6 "$IP6_SRV" --bind4 "$IP4_CLI" \
  --port $PORT --out "$W/cli.json" --timeout 40 2>"$W/cli.err" &
BG_PIDS+=($!)
t0=$SECONDS
if wait_for 70 test -e "$W/cli.json"; then
  NCONN=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$W/cli.json")
  echo "  client: $NCONN connections done in $((SECONDS - t0)) s"
else
  fail "client: the connection mix did not finish within 70 s"
  tail -5 "$W/cli.err" | sed 's/^/  /'
  finish
fi
srv_lines() { [[ -e "$W/srv.log" ]] && [[ $(wc -l <"$W/srv.log") -ge $NCONN ]]; }
wait_for 15 srv_lines || echo "  note: server logged $(wc -l <"$W/srv.log" 2>/dev/null || echo 0) of $NCONN connections"

# Idle: mospipe's rx count unchanged for 1 s (at most 10 s of waiting), so
# that no connection has packets in flight when the sockets are sampled.
box_idle "$TEL"
ns "$NS_CLI" ss -tan >"$W/ss-cli.txt"
ns "$NS_SRV" ss -tan >"$W/ss-srv.txt"

# ---- stop mospipe ------------------------------------------------------------
kill -INT "$MP_PID"
deadline=$((SECONDS + 15))
while kill -0 "$MP_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
if kill -0 "$MP_PID" 2>/dev/null; then
  MP_RC=124
  stop_pid "$MP_PID"
else
  MP_RC=0
  wait "$MP_PID" || MP_RC=$?
fi
check "SIGINT: mospipe exits with status 0 (got $MP_RC)" test "$MP_RC" -eq 0
[[ $MP_RC -eq 0 ]] || tail -20 "$W/mp.err" | sed 's/^/  /'
kill -TERM "$IMP_PID" 2>/dev/null || true
wait "$IMP_PID" 2>/dev/null || true

counters_check() {
  "$PY" - "$W/counters.json" <<'EOF'
import json, sys
try:
    t = json.load(open(sys.argv[1]))["totals"]
except Exception as e:
    print(f"  counters json unreadable: {e!r}"); sys.exit(1)
rx, inj, tx, dt = (t.get(k) for k in ("rx", "injected", "tx", "drops_total"))
print(f"  counters json: rx={rx} injected={inj} tx={tx} drops_total={dt} "
      f"nonzero drops={ {k: v for k, v in t.get('drops', {}).items() if v} }")
ok = all(isinstance(v, int) for v in (rx, inj, tx, dt)) and rx > 0 and rx + inj == tx + dt
sys.exit(0 if ok else 1)
EOF
}
check "counters json: rx > 0 and rx + injected == tx + drops_total" counters_check

impair_check() {
  sed 's/^/  /' "$W/impair.out"
  "$PY" - "$W/impair.out" <<'EOF'
import re, sys
tot = {}
for line in open(sys.argv[1]):
    if line.startswith("impair: a->b") or line.startswith("impair: b->a"):
        for k, v in re.findall(r"(\w+)=(\d+)", line):
            tot[k] = tot.get(k, 0) + int(v)
sys.exit(0 if tot.get("dropped", 0) > 0 and tot.get("reordered", 0) > 0 else 1)
EOF
}
check "impair dropped and reordered frames between mb and srv" impair_check

# ---- the flow log against the endpoints ----------------------------------------
if [[ -s "$W/flows.jsonl" ]]; then
  out=$("$PY" "$MIX" check --flow-log "$W/flows.jsonl" --cli "$W/cli.json" --srv "$W/srv.log" \
    --ss-cli "$W/ss-cli.txt" --ss-srv "$W/ss-srv.txt" --probe-port $PROBE_PORT 2>&1) || true
  echo "$out"
  PASSED=$((PASSED + $(grep -c '^PASS:' <<<"$out" || true)))
  FAILED=$((FAILED + $(grep -c '^FAIL:' <<<"$out" || true)))
  grep -qE '^(PASS|FAIL):' <<<"$out" || fail "flow log checker produced no result"
else
  fail "flow log $W/flows.jsonl was not written (or is empty)"
fi
finish
