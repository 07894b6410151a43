#!/usr/bin/env bash
# Tests of the firewall (apps/firewall), in three parts:
#   1. command line and rules files: --help, bad options, every kind of
#      malformed rule ("FILE:LINE: what is wrong", exit 2), --check/--eval
#      matching semantics (first match, ranges, lists, prefixes, states);
#   2. offline on samples/sample.pcap: per-rule counts against tcpdump's
#      reading of the capture (truth.py);
#   3. inline between network namespaces with real Linux TCP (root):
#        cli [veth0] <--> [mbc] mb: firewall -m inline [mbs] <--> [veth0] srv
#      an allowed 4 MB download arrives byte-exact (IPv4 and IPv6); a `reset`
#      rule makes the client's connect fail with ECONNREFUSED, `drop` and the
#      default policy make it time out, the server seeing nothing; UDP rules;
#      out-of-state packets injected raw from cli (an ACK of no connection,
#      data before the handshake, a SYN with data, data on a denied
#      connection) never reach srv (tcpdump there) while the allowed control
#      SYN does, and the same injection through the bare stack does reach
#      it; SIGHUP reload changes new connections' verdicts while a running
#      transfer goes on byte-exact, an `established` rule resets a running
#      transfer (the client sees ECONNRESET), a bad file on reload keeps the
#      old rules and says FILE:LINE; counters (JSON lines, valid line by
#      line) agree with what the clients saw and with the stack's drops.
#
#   bash tests/apps/firewall/run.sh BUILD_DIR
#
# Last line "firewall: N passed, M failed"; exit 0 when all passed. Part 3 is
# skipped (with a note) without root or network namespaces. Time bound:
# MP_FW_TIMEOUT seconds (default 170; 340 for a sanitizer build).
set -euo pipefail

B=${1:-build}
if [[ -z "${MP_FW_TIMED:-}" ]]; then
  export MP_FW_TIMED=1
  lim=170
  [[ "$B" != *san* ]] || lim=340
  exec timeout --kill-after=10 "${MP_FW_TIMEOUT:-$lim}" bash "$0" "$@"
fi

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
# shellcheck source=tests/inline/lib.sh
source "$ROOT/tests/inline/lib.sh"
FW="$(cd "$B" 2>/dev/null && pwd)/firewall" || true
MOSPIPE="$(cd "$B" 2>/dev/null && pwd)/mospipe" || true
PY=$(command -v python3)
PEER="$HERE/fwpeer.py"
W=$(mktemp -d /tmp/mp-firewall.XXXXXX)
FW_PID=""

finish() {
  echo "firewall: $PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}
on_exit() {
  local rc=$?
  cleanup_topology
  [[ -z "$FW_PID" ]] || rm -rf "/var/run/dpdk/mospipe-$FW_PID"
  rm -rf "$W"
  exit "$rc"
}
trap on_exit EXIT
on_term() {
  fail "time limit reached or interrupted"
  finish
  exit 1
}
trap on_term TERM INT

if [[ ! -x "$FW" ]]; then
  fail "$B/firewall is not built (run make)"
  finish
  exit 1
fi

# ============================================================================
# 1. Command line and rules files
# ============================================================================
rc=0
"$FW" --help >"$W/help" 2>&1 || rc=$?
check "--help: exit 0, usage names -R and --check" \
  bash -c "[[ $rc -eq 0 ]] && grep -q -- '-R, --rules' '$W/help' && grep -q -- '--check' '$W/help'"

# one_line_err NAME EXPECTED_RC REGEX CMD...: CMD exits EXPECTED_RC with exactly
# one line on stderr, matching REGEX.
one_line_err() {
  local name=$1 want=$2 re=$3 rc=0
  shift 3
  "$@" >"$W/o.out" 2>"$W/o.err" || rc=$?
  if [[ $rc -eq $want && $(wc -l <"$W/o.err") -eq 1 ]] && grep -Eq -- "$re" "$W/o.err"; then
    pass "$name"
  else
    fail "$name: exit $rc (want $want), stderr: $(head -c 300 "$W/o.err")"
  fi
}
printf 'default drop\nallow tcp any -> any 80\n' >"$W/ok.rules"
one_line_err "no -R: one line, exit 2" 2 "^firewall: no rules: give -R FILE" "$FW" -r "$ROOT/samples/sample.pcap"
one_line_err "unknown option: one line, exit 2" 2 "^firewall: unknown option '--bogus'" "$FW" -R "$W/ok.rules" --bogus
one_line_err "-I without a value: exit 2" 2 "needs a value" "$FW" -R "$W/ok.rules" -I
one_line_err "-I abc: exit 2" 2 "bad interval 'abc'" "$FW" -R "$W/ok.rules" -I abc
one_line_err "missing rules file: exit 2, names it" 2 "^$W/none.rules: No such file or directory$" \
  "$FW" -R "$W/none.rules" --check
one_line_err "no input: exit 2" 2 "^firewall: no input" "$FW" -R "$W/ok.rules"
one_line_err "-o into a missing directory: exit 2" 2 "^firewall: $W/nodir/x: No such file" \
  "$FW" -R "$W/ok.rules" -r "$ROOT/samples/sample.pcap" -o "$W/nodir/x"
rc=0
"$FW" -R "$W/ok.rules" -r "$W/none.pcap" -I 0 >"$W/o.out" 2>"$W/o.err" || rc=$?
if [[ $rc -eq 2 ]] && grep -q "none.pcap" "$W/o.err"; then
  pass "a missing capture: exit 2, the stack names the file"
else
  fail "a missing capture: exit $rc, stderr $(head -c 300 "$W/o.err")"
fi

# Malformed rules: LINE|CONTENT (\n separated)|what the message must say.
n_bad=0
while IFS='|' read -r line content re; do
  [[ -n "$line" ]] || continue
  printf '%b' "$content" >"$W/bad.rules"
  rc=0
  "$FW" -R "$W/bad.rules" --check >"$W/o.out" 2>"$W/o.err" || rc=$?
  if [[ $rc -eq 2 && $(wc -l <"$W/o.err") -eq 1 ]] && grep -Eq "^$W/bad.rules:$line: .*($re)" "$W/o.err"; then
    n_bad=$((n_bad + 1))
  else
    fail "malformed rules '$content': exit $rc, stderr: $(cat "$W/o.err")"
  fi
done <<'EOF'
2|default drop\npermit tcp any -> any\n|unknown action 'permit'
3|# c\n\nallow tcp 10.0.0.1/8 -> any\n|host bits set \(the network is 10.0.0.0/8\)
1|allow tcp 10.0.0.300 -> any\n|bad address '10.0.0.300'
1|allow tcp fd00::/129 -> any\n|too long for IPv6
1|allow tcp 2001:db8::zz -> any\n|bad IPv6 address
1|allow udp any -> any 70000\n|bad port '70000'
1|allow udp any -> any 90-80\n|port range 90-80 is empty
1|allow udp any -> any 80,\n|bad port list
1|allow icmp any 80 -> any\n|ports apply to tcp and udp only
1|allow udp any -> any established\n|applies to tcp rules only
1|reset udp any -> any\n|use drop for udp
1|allow tcp any any\n|missing '->'
1|allow tcp any->any\n|blank on each side
1|allow icmp fd00::/8 -> any\n|use icmp6
1|allow tcp 10.0.0.0/8 -> fd00::/8\n|different IP versions
2|default drop\ndefault allow\n|second default policy \(the first is on line 1\)
1|default permit\n|expected 'default allow'
1|allow tcp any -> any 80 new extra\n|unexpected 'extra'
1|allow tcp any -> any 80 nwe\n|unknown state 'nwe'
1|allow foo any -> any\n|unknown protocol 'foo'
1|allow\n|needs a protocol
1|allow tcp -> any\n|expected SRC \[PORT\] before
1|allow tcp any -> any -> any\n|appears twice
EOF
[[ $n_bad -eq 0 ]] || pass "malformed rules files: $n_bad kinds, each 'FILE:LINE: what is wrong' and exit 2"
"$PY" -c 'print("allow tcp any -> any " + ",".join(["80"] * 2000))' >"$W/long.rules"
one_line_err "an over-long line: FILE:1, exit 2" 2 "^$W/long.rules:1: line too long" "$FW" -R "$W/long.rules" --check
# The same message on the way to a real start (no stack started: quick).
printf 'default drop\nallow tcp 10.0.0.0/8 -> any 8o\n' >"$W/bad.rules"
one_line_err "a bad rule stops the start (not only --check): FILE:LINE, exit 2" 2 "^$W/bad.rules:2: bad port '8o'" \
  "$FW" -R "$W/bad.rules" -r "$ROOT/samples/sample.pcap"

# --check/--eval: the matching rules of firewall.1 ("RULES", "STATES").
cat >"$W/m.rules" <<'EOF'
default reset
drop  tcp 10.1.2.0/24 -> any 22
allow tcp 10.1.0.0/16 1024-65535 -> any 22,80,8000-8009
allow tcp any -> 192.0.2.10 443 new,established
drop  tcp any -> 192.0.2.10 443 established
reset tcp any -> 192.0.2.11 any established
allow udp any -> 2001:db8::/32 53
allow icmp6 any -> any
drop  any 198.51.100.0/24 -> any
allow any any -> any
EOF
# TUPLE|LINE OF THE DECIDING RULE (null: the default)|ACTION
evals=(
  "tcp 10.1.2.9 40000 -> 10.9.9.9 22|2|drop"              # first match wins: line 2 before line 3
  "tcp 10.1.3.9 40000 -> 10.9.9.9 22|3|allow"
  "tcp 10.1.3.9 1023 -> 10.9.9.9 22|10|allow"             # below the source port range
  "tcp 10.1.3.9 1024 -> 10.9.9.9 8009|3|allow"            # both range ends inclusive
  "tcp 10.1.3.9 65535 -> 10.9.9.9 8000|3|allow"
  "tcp 10.1.3.9 1024 -> 10.9.9.9 8010|10|allow"
  "tcp 10.2.0.1 1024 -> 10.9.9.9 80|10|allow"             # /16 boundary
  "tcp 10.1.255.255 1024 -> 10.9.9.9 80|3|allow"
  "tcp 1.1.1.1 5 -> 192.0.2.10 443 established|4|allow"   # new,established matches established (line 5 shadowed)
  "tcp 1.1.1.1 5 -> 192.0.2.11 80 established|6|reset"
  "tcp 1.1.1.1 5 -> 192.0.2.11 80 new|10|allow"           # an established rule does not touch new connections
  "tcp 1.1.1.1 5 -> 192.0.2.12 80 established|null|reset" # rules without a state: new connections only
  "udp 2001::1 5 -> 2001:db8:ffff::1 53|7|allow"          # IPv6 prefix
  "udp 2001::1 5 -> 2001:db9::1 53|10|allow"
  "icmp6 2001::1 -> 2001:db9::1|8|allow"
  "icmp 198.51.100.7 -> 10.0.0.1|9|drop"                  # an any-protocol rule on ICMP and UDP
  "udp 198.51.100.7 1 -> 10.0.0.1 2|9|drop"
)
eval_args=()
for e in "${evals[@]}"; do eval_args+=(--eval "${e%%|*}"); done
rc=0
"$FW" -R "$W/m.rules" --check "${eval_args[@]}" >"$W/check.out" 2>"$W/check.err" || rc=$?
check_eval() {
  "$PY" - "$W/check.out" "${evals[@]}" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]  # every line must be JSON
rules = [r for r in rows if "rule" in r and "eval" not in r and "proto" in r]
summ = [r for r in rows if "rules_file" in r]
ev = [r for r in rows if "eval" in r]
errs = []
if len(rules) != 9 or not summ or summ[0]["rules"] != 9 or summ[0]["default"] != "reset":
    errs.append("rules listing: %d rules, summary %s" % (len(rules), summ))
for spec, got in zip(sys.argv[2:], ev):
    tup, line, act = spec.split("|")
    g = str(got["line"]) if got["rule"] is not None else "null"
    if got["eval"] != tup or g != line or got["action"] != act:
        errs.append("%s: got rule %s line %s %s, want line %s %s" % (tup, got["rule"], got["line"], got["action"],
                                                                      line, act))
if len(ev) != len(sys.argv) - 2:
    errs.append("%d evals answered of %d" % (len(ev), len(sys.argv) - 2))
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
}
if [[ $rc -eq 0 ]]; then
  check "--check lists 9 rules as JSON; --eval: first match, ranges, prefixes, lists, states (${#evals[@]} cases)" check_eval
else
  fail "--check on a valid file: exit $rc: $(head -3 "$W/check.err")"
fi

# ============================================================================
# 2. Offline: sample.pcap against tcpdump
# ============================================================================
if command -v tcpdump >/dev/null; then
  rc=0
  "$FW" -R "$HERE/data/sample.rules" -r "$ROOT/samples/sample.pcap" -I 0 -o "$W/sample.jsonl" \
    2>"$W/sample.err" || rc=$?
  if [[ $rc -eq 0 ]]; then
    check "sample.pcap: per-rule connections and packets, out-of-state packets = tcpdump's count" \
      "$PY" "$HERE/truth.py" "$ROOT/samples/sample.pcap" "$W/sample.jsonl"
    check "sample.pcap: monitor mode says so (enforced false), no API errors" \
      "$PY" -c 'import json,sys; d=[json.loads(l) for l in open(sys.argv[1])]; f=d[-1];
sys.exit(not (d[0]["event"]=="start" and f["event"]=="final" and f["enforced"] is False and f["errors"]==0))' \
      "$W/sample.jsonl"
  else
    fail "sample.pcap run: exit $rc: $(tail -3 "$W/sample.err")"
  fi
  # Everything but TCP connections (data/edge.pcap, made by mkpcap.py): ARP,
  # neighbour discovery, UDP, ICMPv6, IPv4 and IPv6 fragments, a malformed
  # IPv4 header, GRE, a TCP ACK of no connection. Each frame counted once,
  # as tcpdump reads it, except fragments: each fragmented datagram counts
  # once, judged by the rules (mospipe_pkt_reassembled says it is one).
  check "edge.pcap is what mkpcap.py makes" "$PY" "$HERE/mkpcap.py" --check
  printf 'default drop\nallow udp any -> 10.9.0.2 53\nallow icmp6 any -> any\n' >"$W/edge.rules"
  rc=0
  "$FW" -R "$W/edge.rules" -r "$HERE/data/edge.pcap" -I 0 -o "$W/edge.jsonl" 2>"$W/edge.err" || rc=$?
  edge_check() {
    tcpdump -r "$HERE/data/edge.pcap" -nn -vv 2>/dev/null >"$W/edge.txt"
    "$PY" - "$W/edge.txt" "$W/edge.jsonl" <<'EOF'
import json, re, sys
want = {"non_ip": 0, "ndp": 0, "fragment": 0, "malformed": 0, "no_conn": 0, "rule1": 0, "rule2": 0, "default": 0}
groups = set()
pkts = []  # one string per packet: tcpdump's continuation lines joined to it
for ln in open(sys.argv[1]):
    if ln[:1].isspace() and pkts:
        pkts[-1] += " " + ln.strip()
    else:
        pkts.append(ln.strip())
for ln in pkts:
    # IP fragments: the stack holds them until their datagram completes and
    # the application judges the datagram, whose verdict goes to every one
    # of them (#11): a datagram counts once, as its first fragment shows it.
    v4f, v6f = "flags [+]" in ln or re.search(r"offset [1-9]", ln), " frag (" in ln
    if v4f and "flags [+]" not in ln: groups.add("v4")       # the last fragment completes it
    if v6f and not re.search(r"frag \(0x[0-9a-f]+:0\|", ln): groups.add("v6")
    if (v4f and not re.search(r"offset 0,", ln)) or (v6f and not re.search(r"frag \(0x[0-9a-f]+:0\|", ln)):
        continue
    if " ARP," in ln: want["non_ip"] += 1
    elif "neighbor solicitation" in ln or "neighbor advertisement" in ln: want["ndp"] += 1
    elif "bad-hlen" in ln: want["malformed"] += 1
    elif "proto TCP" in ln: want["no_conn"] += 1              # the capture has no SYN
    elif "proto UDP" in ln and ".53:" in ln: want["rule1"] += 1
    elif "echo request" in ln: want["rule2"] += 1
    else: want["default"] += 1
f = [json.loads(l) for l in open(sys.argv[2])][-1]
got = {"non_ip": f["passed"]["non_ip"], "ndp": f["passed"]["ndp"], "fragment": f["invalid"]["fragment"],
       "malformed": f["invalid"]["malformed"], "no_conn": f["invalid"]["no_conn"], "rule1": f["rules"][0]["pkts"],
       "rule2": f["rules"][1]["pkts"], "default": f["default"]["pkts"]}
print("  firewall %s\n  tcpdump  %s; reassembled %d, datagrams completed %d" % (got, want, f["reassembled"], len(groups)))
sys.exit(0 if got == want and f["reassembled"] == len(groups) == 2 else 1)
EOF
  }
  if [[ $rc -eq 0 ]]; then
    check "edge.pcap: ARP, ND, malformed IP, UDP, ICMPv6, GRE each counted once as tcpdump reads them; each fragmented datagram once, judged whole" edge_check
  else
    fail "edge.pcap run: exit $rc: $(tail -3 "$W/edge.err")"
  fi
  # The API extension itself: its answers in and out of callbacks.
  EXT="$(dirname "$FW")/tests/apps/firewall/ext_test"
  if [[ -x "$EXT" ]]; then
    e1=$("$EXT" "$HERE/data/edge.pcap" 2>"$W/ext1.err" | tail -1) || true
    e2=$("$EXT" "$ROOT/samples/sample.pcap" 2>"$W/ext2.err" | tail -1) || true
    echo "  $e1"
    echo "  $e2"
    check "mospipe_pkt_reassembled: EACCES/EPERM outside callbacks; 1 for the 2 rebuilt datagrams of edge.pcap, 0 for every received packet, ENODATA without a packet" \
      bash -c "[[ '$e1' == 'ext_test: reassembled=2 received='*' nodata='*' errors=0' && '$e2' == 'ext_test: reassembled=0 received='*' errors=0' && '$e2' != *'nodata=0 '* ]]"
  else
    fail "$EXT is not built (run make)"
  fi
  # Two app instances (two contexts, two counter blocks): the same counts.
  rc=0
  # (Each tcpsm instance holds a table of [tcp] flows: two default tables
  # do not fit the EAL's default 1 GB without hugepages.)
  "$FW" -R "$HERE/data/sample.rules" -r "$ROOT/samples/sample.pcap" -I 0 -o "$W/sample2.jsonl" \
    -l "0=rx,classify,tcpsm.0,tcpsm.1,events.0,events.1;1=app.0,app.1,tx" --set tcp.flows=65536 \
    2>"$W/sample2.err" || rc=$?
  if [[ $rc -eq 0 ]] && grep -q '"contexts":2' "$W/sample2.jsonl"; then
    check "sample.pcap on two app instances: the same counts as tcpdump's" \
      "$PY" "$HERE/truth.py" "$ROOT/samples/sample.pcap" "$W/sample2.jsonl"
  else
    fail "sample.pcap on two app instances: exit $rc: $(tail -3 "$W/sample2.err")"
  fi
  # tcp.midstream=yes: an `established` rule admits the connections the
  # capture joined mid-stream, and takes over the port-80 ones at their
  # second packet.
  (cat "$HERE/data/sample.rules" && echo "allow tcp any -> any 80 established") >"$W/mid.rules"
  rc=0
  "$FW" -R "$W/mid.rules" -r "$ROOT/samples/sample.pcap" -I 0 -o "$W/mid.jsonl" --set tcp.midstream=yes \
    2>"$W/mid.err" || rc=$?
  if [[ $rc -eq 0 ]]; then
    check "sample.pcap with tcp.midstream=yes and an established rule: counts as tcpdump's" \
      "$PY" "$HERE/truth.py" "$ROOT/samples/sample.pcap" "$W/mid.jsonl" --midstream
  else
    fail "sample.pcap with tcp.midstream=yes: exit $rc: $(tail -3 "$W/mid.err")"
  fi
else
  echo "SKIP: offline checks: tcpdump is not installed"
fi

# ============================================================================
# 3. Inline, real Linux TCP through namespaces
# ============================================================================
if [[ $(id -u) -ne 0 ]] || ! ip netns add "mp-probe-firewall-$$" 2>/dev/null; then
  echo "SKIP: inline checks need root and network namespaces"
  finish
  exit $?
fi
ip netns del "mp-probe-firewall-$$"
if ! command -v tcpdump >/dev/null; then
  echo "SKIP: inline checks need tcpdump"
  finish
  exit $?
fi

mk_topology "firewall$$"
echo "firewall: namespaces $NS_CLI $NS_MB $NS_SRV, $NET4.0/24, $IP6_CLI/64"
SIZE=4000000
head -c $SIZE /dev/urandom >"$W/data.bin"
SUM=$(sha256sum "$W/data.bin" | cut -d' ' -f1)
# 8080 allowed, 8081 reset, 8082 drop, 8083 no rule (default drop),
# 8084/8085 paced downloads for the reload checks. UDP 5353 allowed, 5354 not.
ns "$NS_SRV" "$PY" "$PEER" serve --bind "$IP4_SRV" --ports 8080,8081,8082,8083 --udp-ports 5353,5354 \
  --file "$W/data.bin" --log "$W/srv.log" --ready "$W/srv.ready" 2>"$W/srv.err" &
BG_PIDS+=($!)
ns "$NS_SRV" "$PY" "$PEER" serve --bind "$IP4_SRV" --ports 8084,8085 --rate 700000 \
  --file "$W/data.bin" --log "$W/srv.log" --ready "$W/srv-slow.ready" 2>"$W/srv-slow.err" &
BG_PIDS+=($!)
ns "$NS_SRV" "$PY" "$PEER" serve --bind "$IP6_SRV" --ports 8080 \
  --file "$W/data.bin" --log "$W/srv.log" --ready "$W/srv6.ready" 2>"$W/srv6.err" &
BG_PIDS+=($!)
if ! wait_for 10 test -e "$W/srv.ready" -a -e "$W/srv-slow.ready" -a -e "$W/srv6.ready"; then
  fail "servers did not start: $(tail -3 "$W/srv.err")"
  finish
  exit 1
fi

RULES="$W/fw.rules"
cat >"$RULES" <<EOF
# generation 1
default drop
allow tcp $NET4.0/24 any -> $IP4_SRV 8080,8084,8085
allow tcp $IP6_CLI -> $IP6_SRV 8080
reset tcp any -> $IP4_SRV 8081
drop  tcp any -> $IP4_SRV 8082
allow udp $NET4.0/24 -> $IP4_SRV 5353
EOF
# `ip netns exec` execs the program: $! is the firewall's own pid.
ip netns exec "$NS_MB" "$FW" -R "$RULES" -i mbc,mbs -m inline -I 1 -o "$W/fw.jsonl" \
  --counters-json "$W/counters.json" --set pipeline.telemetry=no --set tcp.flows=4096 \
  >"$W/fw.out" 2>"$W/fw.err" &
FW_PID=$!
BG_PIDS+=("$FW_PID")
show_fw() {
  echo "  ---- firewall stderr:"
  tail -15 "$W/fw.err" | sed 's/^/    /'
  echo "  ---- firewall output (last line):"
  tail -1 "$W/fw.jsonl" | head -c 2000 | sed 's/^/    /'
  echo
}
get() { # HOST PORT OUT [args]: the client's download; prints its line, returns its status
  local host=$1 port=$2 out=$3
  shift 3
  ns "$NS_CLI" "$PY" "$PEER" get "$host" "$port" --out "$out" "$@" | tee "$out.res" | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}
srv_saw() { grep -c "tcp accept port=$1 peer=$2:" "$W/srv.log" || true; }

if wait_for 30 ns "$NS_CLI" "$PY" "$PEER" get "$IP4_SRV" 8080 --out /dev/null --connect-timeout 1 --timeout 10 \
  >/dev/null; then
  pass "forwarding up: an allowed connection crosses the firewall"
else
  fail "forwarding up: no allowed transfer within 30 s"
  show_fw
  finish
  exit 1
fi

# ---- allowed downloads --------------------------------------------------------
rc=0
get "$IP4_SRV" 8080 "$W/a4.bin" --timeout 30 || rc=$?
check "allow: 4 MB over IPv4 arrive byte-exact (sha256, status $rc)" \
  test "$rc" -eq 0 -a "$(sha256sum <"$W/a4.bin" | cut -d' ' -f1)" = "$SUM"
rc=0
get "$IP6_SRV" 8080 "$W/a6.bin" --timeout 30 || rc=$?
check "allow: 4 MB over IPv6 arrive byte-exact (sha256, status $rc)" \
  test "$rc" -eq 0 -a "$(sha256sum <"$W/a6.bin" | cut -d' ' -f1)" = "$SUM"

# ---- denied connections ---------------------------------------------------------
rc=0
get "$IP4_SRV" 8081 "$W/r.bin" --connect-timeout 5 || rc=$?
secs=$(sed -E 's/.*secs=([0-9.]+).*/\1/' "$W/r.bin.res")
if [[ $rc -eq 3 ]] && "$PY" -c "import sys; sys.exit(not float('$secs') < 2.5)"; then
  pass "reset rule: the client's connect fails with ECONNREFUSED at once (${secs}s)"
else
  fail "reset rule: client status $rc after ${secs}s, want 3 (ECONNREFUSED) in < 2.5 s"
fi
rc=0
get "$IP4_SRV" 8082 "$W/d.bin" --connect-timeout 3 || rc=$?
check "drop rule: the client's connect times out (status $rc, want 2)" test "$rc" -eq 2
rc=0
get "$IP4_SRV" 8083 "$W/n.bin" --connect-timeout 3 || rc=$?
check "default drop: the client's connect times out (status $rc, want 2)" test "$rc" -eq 2
check "denied ports: the server never saw a connection on 8081, 8082 or 8083" \
  test "$(srv_saw 8081 "$IP4_CLI")$(srv_saw 8082 "$IP4_CLI")$(srv_saw 8083 "$IP4_CLI")" = "000"

# ---- UDP: stateless rules ------------------------------------------------------
ns "$NS_CLI" "$PY" "$PEER" udp "$IP4_SRV" 5353 udp-allowed
ns "$NS_CLI" "$PY" "$PEER" udp "$IP4_SRV" 5354 udp-denied
sleep 0.5
check "udp: the datagram to an allowed port arrives, the one to a port without a rule does not" \
  bash -c "grep -q 'udp port=5353 .*data=udp-allowed' '$W/srv.log' && ! grep -q 'udp-denied' '$W/srv.log'"

# ---- out-of-state packets, injected raw ------------------------------------------
CMAC=$(ns "$NS_CLI" cat /sys/class/net/veth0/address)
SMAC=$(ns "$NS_SRV" cat /sys/class/net/veth0/address)
X="$NET4.77" # an address nobody owns: the server's SYN-ACK to it never leaves srv (no ARP answer)
inject() { ns "$NS_CLI" "$PY" "$PEER" inject --iface veth0 --src-mac "$CMAC" --dst-mac "$SMAC" --dst "$IP4_SRV" "$@"; }
# run_injection TAG: sends the set of packets; the far side's capture is $W/far-TAG.pcap.
run_injection() {
  local tag=$1 td
  # Not through ns(): `ip netns exec` execs tcpdump, so $! is tcpdump itself.
  ip netns exec "$NS_SRV" tcpdump -i veth0 -nn -U -w "$W/far-$tag.pcap" 'tcp and src portrange 41000-41099' \
    2>"$W/td-$tag.err" &
  td=$!
  BG_PIDS+=("$td")
  wait_for 5 grep -q "listening on" "$W/td-$tag.err" || true
  inject --src "$IP4_CLI" --sport 41001 --dport 8080 --flags A --seq 5000 --ack 7777 --payload OOS-ACK
  inject --src "$X" --sport 41002 --dport 8080 --flags S --seq 100000 # allowed: the control
  sleep 0.3
  inject --src "$X" --sport 41002 --dport 8080 --flags PA --seq 100001 --ack 1 --payload OOS-EARLY
  inject --src "$X" --sport 41003 --dport 8080 --flags S --seq 200000 --payload OOS-SYNDATA
  inject --src "$X" --sport 41004 --dport 8082 --flags S --seq 300000 # denied by the drop rule
  sleep 0.3
  inject --src "$X" --sport 41004 --dport 8082 --flags PA --seq 300001 --ack 1 --payload OOS-DENIED
  # A sentinel the rules allow, sent last: the box keeps the order of what
  # it forwards, so once srv has it, whatever was going to arrive has.
  inject --src "$X" --sport 41099 --dport 8080 --flags S --seq 400000
  wait_for 15 bash -c "tcpdump -r '$W/far-$tag.pcap' -nn 'src port 41099' 2>/dev/null | grep -q ." ||
    echo "  note: the sentinel did not reach srv within 15 s"
  kill -INT "$td" 2>/dev/null || true
  wait "$td" 2>/dev/null || true
}
# far_count TAG FILTER: packets of the far side's capture matching FILTER.
far_count() { tcpdump -r "$W/far-$1.pcap" -nn "$2" 2>/dev/null | wc -l; }
run_injection fw
far_fw="$(far_count fw 'src port 41001') $(far_count fw 'src port 41002 and tcp[tcpflags] == tcp-syn') \
$(far_count fw 'src port 41002 and tcp[tcpflags] != tcp-syn') $(far_count fw 'src port 41003') \
$(far_count fw 'src port 41004') $(far_count fw 'src port 41099')"
if [[ "$far_fw" == "0 1 0 0 0 1" ]]; then
  pass "out of state: the allowed control SYN and the sentinel sent last reach srv; the ACK of no connection, data before the handshake, a SYN with data and data on a denied connection do not"
else
  fail "out of state: on srv (ack, control syn, early data, syn+data, denied, sentinel): $far_fw, want 0 1 0 0 0 1"
  tcpdump -r "$W/far-fw.pcap" -nn 2>/dev/null | sed 's/^/    /' | head
fi

# ---- SIGHUP: reload ------------------------------------------------------------
# Two paced downloads (about 6 s each) start under generation 1.
get "$IP4_SRV" 8084 "$W/slow.bin" --timeout 30 >"$W/slow.res" 2>&1 &
SLOW=$!
get "$IP4_SRV" 8085 "$W/cut.bin" --timeout 30 >"$W/cut.res" 2>&1 &
CUT=$!
BG_PIDS+=("$SLOW" "$CUT")
wait_for 5 bash -c "[[ \$(grep -c 'tcp accept port=808[45] peer=$IP4_CLI' '$W/srv.log') -ge 2 ]]" || true
sleep 1
cat >"$RULES.new" <<EOF
# generation 2: 8084 closed to new connections, 8082 opened, 8085 cut
default drop
reset tcp any -> $IP4_SRV 8085 established
reset tcp any -> $IP4_SRV 8084
allow tcp $NET4.0/24 any -> $IP4_SRV 8080,8082
EOF
mv "$RULES.new" "$RULES"
kill -HUP "$FW_PID"
if wait_for 5 grep -q '"event":"reload","time":[0-9.]*,"ok":true,"gen":2' "$W/fw.jsonl"; then
  pass "SIGHUP: the firewall reloads (a reload line with ok true, generation 2)"
else
  fail "SIGHUP: no successful reload line within 5 s"
  show_fw
fi
rc=0
get "$IP4_SRV" 8084 "$W/r2.bin" --connect-timeout 5 || rc=$?
check "after reload: a new connection to 8084 is refused (status $rc, want 3)" test "$rc" -eq 3
rc=0
get "$IP4_SRV" 8082 "$W/o2.bin" --timeout 30 || rc=$?
check "after reload: 8082 now allowed, 4 MB byte-exact (status $rc)" \
  test "$rc" -eq 0 -a "$(sha256sum <"$W/o2.bin" | cut -d' ' -f1)" = "$SUM"
rc=0
wait "$SLOW" || rc=$?
sed 's/^/  /' "$W/slow.res"
check "after reload: the transfer on 8084 that was running goes on and ends byte-exact (status $rc)" \
  test "$rc" -eq 0 -a "$(sha256sum <"$W/slow.bin" | cut -d' ' -f1)" = "$SUM"
rc=0
wait "$CUT" || rc=$?
sed 's/^/  /' "$W/cut.res"
cut_bytes=$(stat -c %s "$W/cut.bin" 2>/dev/null || echo 0)
check "established rule: the running transfer on 8085 is reset, the client sees ECONNRESET after $cut_bytes of $SIZE bytes (status $rc, want 4)" \
  test "$rc" -eq 4 -a "$cut_bytes" -lt "$SIZE"

# A bad file on reload: the rules in force stay, the reason is given.
cp "$RULES" "$W/gen2.rules"
printf 'default drop\nallow tcp any -> any 8080\nallow tcp any -> any 80 establshed\n' >"$RULES"
kill -HUP "$FW_PID"
if wait_for 5 grep -q '"event":"reload","time":[0-9.]*,"ok":false,"gen":2' "$W/fw.jsonl"; then
  if grep -q "\"error\":\"$RULES:3: unknown state 'establshed'" "$W/fw.jsonl" &&
    grep -q "reload refused, the rules of generation 2 stay in force: $RULES:3: unknown state" "$W/fw.err"; then
    pass "bad file on reload: refused with FILE:3 in the JSON line and on stderr; generation 2 stays"
  else
    fail "bad file on reload: the reason does not name $RULES:3"
    show_fw
  fi
else
  fail "bad file on reload: no 'ok false' reload line within 5 s"
  show_fw
fi
rc=0
get "$IP4_SRV" 8084 "$W/r3.bin" --connect-timeout 5 || rc=$?
rc2=0
get "$IP4_SRV" 8082 "$W/o3.bin" --timeout 30 || rc2=$?
check "after the refused reload: generation 2 still decides (8084 refused: $rc, 8082 allowed: $rc2)" \
  test "$rc" -eq 3 -a "$rc2" -eq 0

# ---- stop, then the counters ----------------------------------------------------
sleep 1.2 # one more periodic line
kill -INT "$FW_PID" 2>/dev/null || true
deadline=$((SECONDS + ${MP_EXIT_WAIT:-30}))
while kill -0 "$FW_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
if kill -0 "$FW_PID" 2>/dev/null; then
  fail "SIGINT: the firewall is still running"
  show_fw
  stop_pid "$FW_PID"
else
  FW_RC=0
  wait "$FW_PID" || FW_RC=$?
  check "SIGINT: the firewall drains and exits 0 (status $FW_RC)" test "$FW_RC" -eq 0
fi
counters_check() {
  "$PY" - "$W/fw.jsonl" "$W/counters.json" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]  # every line must be valid JSON
errs = []
ev = [r["event"] for r in rows]
if ev[0] != "start" or ev[-1] != "final" or ev.count("stats") < 3:
    errs.append("events: start, >= 3 stats, final expected: %s" % sorted(set(ev)))
rel = [r for r in rows if r["event"] == "reload"]
if [(r["ok"], r["gen"]) for r in rel] != [(True, 2), (False, 2)]:
    errs.append("reloads: %s" % [(r["ok"], r["gen"]) for r in rel])
g1 = rel[0]["previous"] if rel else None
fin = rows[-1]
def rule(rs, line_text):
    return next(r for r in rs["rules"] if line_text in r["text"])
if g1:
    # What the clients saw under generation 1: one refused connect on 8081,
    # one timed-out connect on 8082 (its SYN retransmissions: same
    # connection), one on 8083 (default) plus the injected SYNs.
    r = rule(g1, "8081")
    if r["conns"] != 1 or r["pkts"] != 1:
        errs.append("gen 1 reset rule: %d conns / %d pkts, want 1/1" % (r["conns"], r["pkts"]))
    r = rule(g1, "8082")
    if r["conns"] != 2 or r["pkts"] < 3:  # the client's + the injected one; >= 2 retransmissions
        errs.append("gen 1 drop rule: %d conns / %d pkts, want 2 / >= 3" % (r["conns"], r["pkts"]))
    if g1["default"]["conns"] != 1:
        errs.append("gen 1 default: %d conns, want 1 (8083)" % g1["default"]["conns"])
    r = rule(g1, "8080,8084,8085")
    if r["conns"] < 5 or r["pkts"] < 2 * 4000000 // 1448:
        errs.append("gen 1 allow rule: %d conns / %d pkts" % (r["conns"], r["pkts"]))
r = rule(fin, "8084")
if fin["gen"] != 2 or r["conns"] != 2 or r["pkts"] != 2:
    errs.append("gen 2 reset rule (8084): gen %d, %d conns / %d pkts, want 2/2" % (fin["gen"], r["conns"], r["pkts"]))
r = rule(fin, "8085 established")
if r["conns"] != 1:
    errs.append("gen 2 established reset rule: %d conns, want 1" % r["conns"])
if fin["kept"]["pkts"] < 100:
    errs.append("kept: %d packets of the connection that outlived generation 1" % fin["kept"]["pkts"])
inv = fin["invalid"]
if inv["no_conn"] < 2 or inv["handshake"] < 1 or inv["syn_data"] < 1:
    errs.append("invalid: %s, want no_conn >= 2, handshake >= 1, syn_data >= 1" % inv)
if fin["rst_sent"] != 3 or fin["conn_resets"] != 1 or fin["errors"] or fin["enforced"] is not True:
    errs.append("rst_sent %d (want 3), conn_resets %d (want 1), errors %d, enforced %s" %
                (fin["rst_sent"], fin["conn_resets"], fin["errors"], fin["enforced"]))
# Every packet the firewall counted as dropped was dropped by the stack,
# and nothing else was: its verdict_drop counter.
mine = sum(inv.values())
for rs in ([g1] if g1 else []) + [fin]:
    for r in rs["rules"]:
        if r["action"] != "allow":
            mine += r["pkts"]
    if rs["default"]["action"] != "allow":
        mine += rs["default"]["pkts"]
mine -= fin["conn_resets"]  # an established reset lets its packet through, then the RSTs
t = json.load(open(sys.argv[2]))["totals"]
vd = t["drops"].get("verdict_drop", 0)
if vd != mine:
    errs.append("the stack dropped %d packets by verdict, the firewall's counters say %d" % (vd, mine))
if t["rx"] + t["injected"] != t["tx"] + t["drops_total"]:
    errs.append("conservation: rx + injected != tx + drops")
print("  final: invalid %s, rst_sent %d, conn_resets %d, kept %d pkts; stack verdict drops %d = firewall %d" %
      (inv, fin["rst_sent"], fin["conn_resets"], fin["kept"]["pkts"], vd, mine))
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
EOF
}
if [[ -s "$W/counters.json" && -s "$W/fw.jsonl" ]]; then
  check "counters: JSON lines valid; per-rule counts = what the clients saw; drops = the stack's verdict drops" \
    counters_check
else
  fail "counters: $W/fw.jsonl or the counters JSON is missing"
fi

# ---- negative control: the same injection through the bare stack ----------------
# Shows the out-of-state check above can fail: without the firewall the
# injected packets do reach srv.
if [[ -x "$MOSPIPE" ]]; then
  ip netns exec "$NS_MB" "$MOSPIPE" -i mbc,mbs -m inline --set pipeline.telemetry=no --set tcp.flows=4096 \
    >"$W/bare.out" 2>"$W/bare.err" &
  BARE=$!
  BG_PIDS+=("$BARE")
  if wait_for 30 ns "$NS_CLI" "$PY" "$PEER" get "$IP4_SRV" 8083 --out /dev/null --connect-timeout 1 --timeout 10 \
    >/dev/null; then
    run_injection bare
    far_bare="$(far_count bare 'src port 41001') $(far_count bare 'src port 41002') $(far_count bare 'src port 41003') \
$(far_count bare 'src port 41004')"
    # Each kind must show up (the exact counts are 1 2 1 2; a loaded
    # machine may lose a frame on the veths, which proves nothing here).
    check "control: through the bare stack the injected packets reach srv (ack, syn+early data, syn+data, denied: $far_bare)" \
      "$PY" -c 'import sys; sys.exit(not all(int(x) >= 1 for x in sys.argv[1].split()))' "$far_bare"
  else
    fail "control: the bare stack did not forward within 30 s"
  fi
  kill -INT "$BARE" 2>/dev/null || true
  wait "$BARE" 2>/dev/null || true
fi

finish
