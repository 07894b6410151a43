#!/usr/bin/env bash
# Runs the mOS API example programs (built by `make` into BUILD_DIR/api/)
# on small captures and checks what they print: exact traces against
# tests/api/expected/, counts against tcpdump where one applies.
# Usage: tests/api/run.sh BUILD_DIR   (last line: "api: N passed, M failed")
set -u
B=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
conf=$here/pipeline.conf
sample=$root/samples/sample.pcap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
ok() { echo "ok   $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; fail=$((fail + 1)); }
# The independent counts come from tcpdump: without it they would read 0.
if ! command -v tcpdump >/dev/null; then
	ko "tcpdump is not installed (it gives the counts checked here): run scripts/deps.sh as root"
fi

# run NAME PCAP [args...]: runs the program, output in $tmp/NAME.out
run() {
	local name=$1 pcap=$2
	shift 2
	MOSPIPE_INPUT=pcap:$pcap "$root/$B/api/$name" "$conf" "$tmp/$name.out" "$@" >"$tmp/$name.log" 2>&1
}
expect_same() { # NAME: output equals expected/NAME.txt
	if diff -u "$here/expected/$1.txt" "$tmp/$1.out" >"$tmp/$1.diff"; then ok "$1 (trace matches expected/$1.txt)"; else
		ko "$1 (trace differs from expected/$1.txt)"
		head -20 "$tmp/$1.diff"
	fi
}

# 1. Every built-in event, hooks, sides, states, peeked totals.
if run trace "$sample"; then expect_same trace; else ko "trace (exit status)"; fi

# 2. HTTP-request UDE: one REQ per GET in the capture.
if run http_ude "$sample"; then
	expect_same http_ude
	want=$(tcpdump -nn -r "$sample" 'tcp dst port 80' 2>/dev/null | grep -c ': GET /')
	got=$(grep -c ' REQ ' "$tmp/http_ude.out")
	[ "$want" = "$got" ] && ok "http_ude: $got requests = tcpdump's $want" || ko "http_ude: $got requests, tcpdump $want"
else ko "http_ude (exit status)"; fi

# 3. Monitor scope "dst net ... and dst port 80": only those flows.
if run filter80 "$sample" 198.51.100.0/24; then
	expect_same filter80
	want=$(tcpdump -nn -r "$sample" 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn and dst net 198.51.100.0/24 and dst port 80' 2>/dev/null |
		awk '{print $3">"$5}' | sort -u | wc -l)
	got=$(wc -l <"$tmp/filter80.out")
	bad=$(grep -vc '>198\.51\.100\.[0-9]*:80$' "$tmp/filter80.out")
	[ "$want" = "$got" ] && [ "$bad" = 0 ] && ok "filter80: $got flows = tcpdump's $want, none outside the scope" ||
		ko "filter80: $got flows (tcpdump $want), $bad outside the scope"
else ko "filter80 (exit status)"; fi

# 4. UDE on MOS_ON_REXMIT counting SYN retransmissions (capture written here).
python3 "$here/mkpcap.py" synrexmit "$tmp/synrexmit.pcap"
if run rexmit_syn "$tmp/synrexmit.pcap" && grep -qx 'total 2' "$tmp/rexmit_syn.out"; then
	ok "rexmit_syn: 2 SYN retransmissions of one flow, none of the other"
else ko "rexmit_syn: $(tail -1 "$tmp/rexmit_syn.out" 2>/dev/null)"; fi

# 5. A callback registering (then unregistering) an event on its own flow.
if run selfreg "$sample" && grep -qx 'selfreg: 0 failures' "$tmp/selfreg.out"; then
	expect_same selfreg
else
	ko "selfreg"
	grep FAIL "$tmp/selfreg.out" | head
fi

# 6. Misuse, UDE nesting/dedup, children, timers, options.
if run errors "$sample" && grep -qx 'errors: 0 failures' "$tmp/errors.out"; then ok "errors"; else
	ko "errors"
	grep FAIL "$tmp/errors.out" | head
fi

# 7. Per-flow options, raw and orphan sockets, setup timers, socket order.
if MOSPIPE_INPUT=pcap:$sample "$root/$B/api/options" "$here/options.conf" "$tmp/options.out" >"$tmp/options.log" 2>&1 &&
	grep -qx 'options: 0 failures' "$tmp/options.out"; then
	expect_same options
	dns=$(tcpdump -nn -r "$sample" 'udp port 53' 2>/dev/null | wc -l)
	udp=$(tcpdump -nn -r "$sample" 'udp' 2>/dev/null | wc -l)
	if grep -q "^raw dns $dns orphans $udp " "$tmp/options.out"; then ok "options: raw socket saw $dns DNS packets, orphan filter $udp UDP packets (= tcpdump)"; else
		ko "options: $(grep '^raw' "$tmp/options.out"), tcpdump dns $dns udp $udp"
	fi
else
	ko "options"
	grep FAIL "$tmp/options.out" | head
fi

# 7b. MOS_FRAGINFO_* with an out-of-order segment held: all fragments.
python3 "$here/mkpcap.py" ooo "$tmp/ooo.pcap"
if MOSPIPE_INPUT=pcap:$tmp/ooo.pcap "$root/$B/api/fraginfo" "$here/options.conf" "$tmp/fraginfo.out" >"$tmp/fraginfo.log" 2>&1 &&
	grep -qx 'fraginfo: 0 failures' "$tmp/fraginfo.out"; then
	expect_same fraginfo
else
	ko "fraginfo"
	grep FAIL "$tmp/fraginfo.out" | head
fi

# 8. Inline verdicts: rewrite with checksum, drop, reset, injected copy.
cat >"$tmp/inline.conf" <<EOC
[pipeline]
mode = inline
telemetry = no
[tcp]
flows = 4096
buf_pool = 16M
[output]
pcap = $tmp/inline-out.pcap
EOC
if MOSPIPE_INPUT=pcap:$sample "$root/$B/api/inline" "$tmp/inline.conf" "$tmp/inline.out" >"$tmp/inline.log" 2>&1 &&
	grep -qx 'inline: 0 failures' "$tmp/inline.out"; then
	o=$tmp/inline-out.pcap
	put=$(tcpdump -nn -r "$o" 2>/dev/null | grep -c ': PUT /obj/22.txt')
	get22=$(tcpdump -nn -r "$o" 2>/dev/null | grep -c 'GET /obj/22.txt')
	get28=$(tcpdump -nn -r "$o" 2>/dev/null | grep -c 'GET /obj/28.txt')
	dup7=$(tcpdump -nn -r "$o" 2>/dev/null | grep -c 'GET /obj/7.txt')
	rst=$(tcpdump -nn -r "$o" 'tcp[tcpflags] & tcp-rst != 0 and host 192.168.50.10 and port 56791' 2>/dev/null | wc -l)
	bad=$(tcpdump -nn -vv -r "$o" 2>/dev/null | grep -c incorrect)
	if [ "$put" = 1 ] && [ "$get22" = 0 ] && [ "$get28" = 0 ] && [ "$dup7" = 2 ] && [ "$rst" = 2 ] && [ "$bad" = 0 ]; then
		ok "inline: rewrite (PUT, checksum right), drop, 2 RSTs, duplicate; $(grep totals "$tmp/inline.out")"
	else
		ko "inline: put=$put get22=$get22 get28=$get28 dup7=$dup7 rst=$rst bad_csum=$bad"
	fi
else
	ko "inline"
	cat "$tmp/inline.out" "$tmp/inline.log" 2>/dev/null | grep -v '^$' | tail -5
fi

# 9. Mappings: the trace is the same with the app on its own lcore, and two
#    contexts on two app instances (one thread each) share the flows.
{ cat "$conf"; printf '[lcores]\n0 = rx classify tcpsm\n1 = events app tx\n'; } >"$tmp/2lc.conf"
if MOSPIPE_INPUT=pcap:$sample "$root/$B/api/trace" "$tmp/2lc.conf" "$tmp/trace2.out" >"$tmp/trace2.log" 2>&1 &&
	diff -q "$here/expected/trace.txt" "$tmp/trace2.out" >/dev/null; then ok "trace on 2 lcores = expected/trace.txt"; else
	ko "trace on 2 lcores differs"
fi
{ cat "$conf"; printf '[lcores]\n0 = rx classify tcpsm events app.0 tx\n1 = app.1\n'; } >"$tmp/2app.conf"
nflows=$(grep -c ' CONN_START SND ' "$here/expected/trace.txt")
if MOSPIPE_INPUT=pcap:$sample "$root/$B/api/threads" "$tmp/2app.conf" "$tmp/threads.out" "$nflows" >"$tmp/threads.log" 2>&1; then
	ok "threads: $(grep '^context' "$tmp/threads.out")"
else
	ko "threads: $(cat "$tmp/threads.out" "$tmp/threads.log" 2>/dev/null | tail -3)"
fi

# 10. NEW_DATA batching (MOSPIPE_NEWDATA_BATCH=1): fewer callbacks, same bytes
#     peeked per flow and side, same HTTP requests found.
if MOSPIPE_NEWDATA_BATCH=1 MOSPIPE_INPUT=pcap:$sample "$root/$B/api/trace" "$conf" "$tmp/tb.out" >/dev/null 2>&1 &&
	MOSPIPE_NEWDATA_BATCH=1 MOSPIPE_INPUT=pcap:$sample "$root/$B/api/http_ude" "$conf" "$tmp/hb.out" >/dev/null 2>&1; then
	nb=$(grep -c ' NEW_DATA ' "$tmp/tb.out")
	np=$(grep -c ' NEW_DATA ' "$here/expected/trace.txt")
	if [ "$nb" -le "$np" ] && diff -q <(grep peeked "$tmp/tb.out") <(grep peeked "$here/expected/trace.txt") >/dev/null &&
		diff -q "$tmp/hb.out" "$here/expected/http_ude.txt" >/dev/null; then
		ok "batching: $nb NEW_DATA callbacks (per segment: $np), same bytes and requests"
	else ko "batching: $nb NEW_DATA callbacks (per segment: $np), bytes or requests differ"; fi
else ko "batching (exit status)"; fi

# 11. Event sets scale with distinct sets, not flows (100,000 flows).
if [ -x "$root/$B/api/scale" ]; then
	python3 "$here/mkpcap.py" scale "$tmp/scale.pcap" 100000
	if MOSPIPE_INPUT=pcap:$tmp/scale.pcap "$root/$B/api/scale" "$here/scale.conf" "$tmp/scale.out" >"$tmp/scale.log" 2>&1 &&
		grep -q '^scale: ok' "$tmp/scale.out"; then ok "scale: $(grep '^scale:' "$tmp/scale.out")"; else
		ko "scale: $(tail -2 "$tmp/scale.out" "$tmp/scale.log" 2>/dev/null)"
	fi
	# 12. SIGINT halfway through the same capture (raised by the program): clean stop, handler,
	#     every open flow ends.
	MOSPIPE_INPUT=pcap:$tmp/scale.pcap "$root/$B/api/sig" "$here/scale.conf" "$tmp/sig.out" >"$tmp/sig.log" 2>&1 &
	pid=$!
	if wait $pid && grep -q '^sig: ok' "$tmp/sig.out"; then ok "sig: $(head -1 "$tmp/sig.out")"; else
		ko "sig: $(cat "$tmp/sig.out" 2>/dev/null | head -2)"
	fi
fi

echo "api: $pass passed, $fail failed"
[ "$fail" = 0 ]
