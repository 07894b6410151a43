# shellcheck shell=bash
# Shared helpers of the inline tests (sourced by run.sh and impair_test.sh).
#
# Topology made by mk_topology: three private network namespaces
#     cli [veth0] <--> [mbc] mb [mbs] <--> [veth0] srv
# with cli and srv in one private /24 (and one private /64), so that whatever
# runs in mb is a transparent L2 bridge. Nothing outside these namespaces is
# touched: the veths are created directly inside them.

PASSED=0
FAILED=0
NS_LIST=()
BG_PIDS=()

pass() {
  echo "PASS: $*"
  PASSED=$((PASSED + 1))
}
fail() {
  echo "FAIL: $*"
  FAILED=$((FAILED + 1))
}
# check NAME CMD...: runs CMD, counts PASS/FAIL by its status.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
skip() {
  echo "SKIP: $*"
  exit 77
}

# Namespace names start with $NSP: "mp", or "mp-TAG" with MP_NS_TAG=TAG, so
# that runs from several checkouts on one machine are told apart.
NSP="mp${MP_NS_TAG:+-$MP_NS_TAG}"

# Preconditions for making namespaces; exits 77 with a reason if missing.
need_netns() {
  [[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
  command -v ip >/dev/null || skip "ip (iproute2) is not installed"
  command -v ethtool >/dev/null || skip "ethtool is not installed (apt-get install ethtool)"
  command -v python3 >/dev/null || skip "python3 is not installed"
  local probe="$NSP-probe-$$"
  ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace (ip netns add failed)"
  if ! ip -n "$probe" link add p0 type veth peer name p1 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null || true
    skip "cannot create veth pairs (no veth support)"
  fi
  ip netns del "$probe"
}

# ns NAME CMD...: run CMD inside namespace NAME.
ns() {
  local n=$1
  shift
  ip netns exec "$n" "$@"
}

# Offloads a userspace bridge cannot carry: segmentation offloads make
# frames larger than the MTU, checksum offloads leave checksums unfilled.
no_offloads() {
  ns "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 ||
    echo "note: ethtool -K $2 in $1 did not apply every setting" >&2
}

# mk_topology SUFFIX [impair]: sets NS_CLI NS_MB NS_SRV, NET4 (x.y.z),
# IP4_CLI IP4_SRV, IP6_CLI IP6_SRV. The mb namespace has IPv6 disabled so that
# its kernel does not add router/multicast chatter to what the bridge sees.
# With "impair", a fourth namespace NS_IMP sits between cli and mb:
#     cli [veth0] <--> [ia] imp [ib] <--> [mbc] mb [mbs] <--> [veth0] srv
mk_topology() {
  local s=$1 with_imp=${2:-}
  NS_CLI="$NSP-cli-$s"
  NS_MB="$NSP-mb-$s"
  NS_SRV="$NSP-srv-$s"
  NS_IMP=""
  [[ -z "$with_imp" ]] || NS_IMP="$NSP-imp-$s"
  local n
  for n in "$NS_CLI" "$NS_MB" "$NS_SRV" $NS_IMP; do
    ip netns add "$n"
    NS_LIST+=("$n")
  done
  ns "$NS_MB" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  if [[ -n "$NS_IMP" ]]; then
    ns "$NS_IMP" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n "$NS_CLI" link add veth0 type veth peer name ia netns "$NS_IMP"
    ip -n "$NS_IMP" link add ib type veth peer name mbc netns "$NS_MB"
    no_offloads "$NS_IMP" ia
    no_offloads "$NS_IMP" ib
    ns "$NS_IMP" ip link set lo up
    ns "$NS_IMP" ip link set ia up
    ns "$NS_IMP" ip link set ib up
  else
    ip -n "$NS_CLI" link add veth0 type veth peer name mbc netns "$NS_MB"
  fi
  ip -n "$NS_SRV" link add veth0 type veth peer name mbs netns "$NS_MB"
  # A /24 in 10.0.0.0/8 that only exists inside these namespaces.
  NET4="10.$((200 + RANDOM % 50)).$((RANDOM % 250))"
  IP4_CLI="$NET4.1"
  IP4_SRV="$NET4.2"
  local n6
  n6=$(printf 'fd6d:%x:%x' $((RANDOM)) $((RANDOM)))
  IP6_CLI="$n6::1"
  IP6_SRV="$n6::2"
  ns "$NS_CLI" ip addr add "$IP4_CLI/24" dev veth0
  ns "$NS_SRV" ip addr add "$IP4_SRV/24" dev veth0
  ns "$NS_CLI" ip addr add "$IP6_CLI/64" dev veth0 nodad
  ns "$NS_SRV" ip addr add "$IP6_SRV/64" dev veth0 nodad
  no_offloads "$NS_CLI" veth0
  no_offloads "$NS_SRV" veth0
  no_offloads "$NS_MB" mbc
  no_offloads "$NS_MB" mbs
  for n in "$NS_CLI" "$NS_MB" "$NS_SRV"; do
    ns "$n" ip link set lo up
  done
  ns "$NS_CLI" ip link set veth0 up
  ns "$NS_SRV" ip link set veth0 up
  ns "$NS_MB" ip link set mbc up
  ns "$NS_MB" ip link set mbs up
}

# Stops a background process we started: TERM, then KILL after 3 s.
stop_pid() {
  local p=$1 _
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 30); do
    kill -0 "$p" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null || true
}

# Cleanup for trap EXIT: our background processes, anything still running in
# our namespaces, the namespaces (and with them the veths).
cleanup_topology() {
  local p n
  for p in "${BG_PIDS[@]}"; do stop_pid "$p"; done
  for n in "${NS_LIST[@]}"; do
    for p in $(ip netns pids "$n" 2>/dev/null); do stop_pid "$p"; done
    ip netns del "$n" 2>/dev/null || true
  done
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# box_rx TEL: mospipe's rx count from its telemetry socket TEL, or "x".
box_rx() {
  local py xfer
  py=$(command -v python3)
  xfer="$(dirname "${BASH_SOURCE[0]}")/../tools/xfer.py"
  "$py" "$xfer" tel "$1" /mospipe/counters 2>/dev/null |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["/mospipe/counters"]["rx"])' 2>/dev/null || echo x
}

# box_idle TEL: waits until mospipe's rx count (telemetry socket TEL) has not
# changed for 1 s, 10 s at most (then says so), so that no packet is in
# flight when the endpoints or the kernel's counters are read.
box_idle() {
  local prev cur idle=0 _
  prev=$(box_rx "$1")
  for _ in $(seq 20); do
    sleep 0.5
    cur=$(box_rx "$1")
    if [[ $cur == "$prev" && $cur != x ]]; then
      idle=$((idle + 1))
      ((idle >= 2)) && return 0
    else
      idle=0
    fi
    prev=$cur
  done
  echo "  note: traffic through the box did not stop for 1 s (rx=$cur)"
}

# fins_acked NS...: no TCP socket in these namespaces still waits for its
# FIN to be acknowledged (FIN-WAIT-1, CLOSING, LAST-ACK).
fins_acked() {
  local n
  for n in "$@"; do
    [[ -z $(ns "$n" ss -Htan state fin-wait-1 state closing state last-ack 2>/dev/null) ]] || return 1
  done
}

# closes_done NS...: waits (at most 30 s) until every FIN the endpoints in
# these namespaces sent was acknowledged: each then crossed the box (inline
# it is the only path), however long the sender's retransmission backoff
# after a frame a port lost. What the box saw of the closes is then no race
# with the endpoints' timers (box_idle's one second of quiet was one: a FIN
# lost at a small ring and retransmitted after more than a second left a
# download "open" in the flow log).
closes_done() {
  wait_for 30 fins_acked "$@" || echo "  note: a FIN was still unacknowledged after 30 s"
}

# links_down / links_up: the endpoints' veth0 in NS_CLI and NS_SRV down (no
# frame can reach the box's ports: a retransmission after seconds of backoff
# would otherwise arrive after the box's final count and before the test's),
# then up again with their permanent neighbours (an admin down drops them).
links_down() {
  ns "$NS_CLI" ip link set veth0 down
  ns "$NS_SRV" ip link set veth0 down
  sleep 0.2
}
links_up() {
  local a
  ns "$NS_CLI" ip link set veth0 up
  ns "$NS_SRV" ip link set veth0 up
  for a in "$@"; do ns "$NS_CLI" ip neigh replace "$a" lladdr "$MAC_SRV" dev veth0 nud permanent; done
  ns "$NS_SRV" ip neigh replace "$IP4_CLI" lladdr "$MAC_CLI" dev veth0 nud permanent
}

# begin_test NAME [KEEP_VAR]: the work dir W (/tmp/mp-NAME.XXXXXX), removed
# at exit with our processes and namespaces (kept, and said so, when the
# variable named KEEP_VAR is set); a test with more to clean up defines
# on_exit_extra. SIGTERM/SIGINT (the test's time limit) count a failure and
# print the summary line "NAME: N passed, M failed".
begin_test() {
  TEST_NAME=$1
  TEST_KEEP_VAR=${2:-}
  W=$(mktemp -d "/tmp/mp-$1.XXXXXX")
  trap _test_on_exit EXIT
  trap _test_on_term TERM INT
}
_test_on_exit() {
  local rc=$?
  cleanup_topology
  if declare -F on_exit_extra >/dev/null; then on_exit_extra; fi
  if [[ -n $TEST_KEEP_VAR && -n ${!TEST_KEEP_VAR:-} ]]; then
    echo "$TEST_NAME: work dir kept: $W"
  else
    rm -rf "$W"
  fi
  exit "$rc"
}
_test_on_term() {
  fail "time limit reached or interrupted"
  echo "$TEST_NAME: $PASSED passed, $FAILED failed"
  exit 1
}

# report_checks FILE [PREFIX]: a checker's lines "CHECK 1|0 TEXT" as
# PASS/FAIL (TEXT after PREFIX), its lines "INFO TEXT" echoed indented.
report_checks() {
  local tag ok rest
  while read -r tag ok rest; do
    case $tag in
      CHECK) if [[ $ok == 1 ]]; then pass "${2:-}$rest"; else fail "${2:-}$rest"; fi ;;
      INFO) echo "  $ok $rest" ;;
    esac
  done <"$1"
}
