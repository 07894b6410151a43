#!/usr/bin/env bash
# streamdump's tests (apps/streamdump). Usage: tests/apps/streamdump/run.sh BUILD_DIR
# Last line: "streamdump: N passed, M failed"; exit 1 when anything failed.
#
#  1. command line: --help, and every bad argument, file or directory gets
#     one line naming it and exit 2;
#  2. byte for byte against tcpflow 1.6 (`tcpflow -r FILE -o DIR`): the
#     bundled sample, every capture of the shared corpus, and the captures
#     mkcaps.py writes (gaps, 4-tuple reuse, IPv6 in a VLAN); the differences
#     are data in known-differences.tsv, one row per file with its reason and
#     which tool holds what the receiving endpoint got; all of it again
#     with [tcp] buf_history = no on two lcores;
#  3. the options tcpflow users know, against tcpflow with the same option
#     (-b, -T with a subdirectory, a second run into the same directory);
#  4. the index: valid JSON per line, agreeing with the files; gaps at the
#     offsets the generator put them, --fill, -X -; how each connection
#     ended against Zeek's conn_state;
#  5. the same files whatever the open-file cap (--max-open 1 reopens files),
#     the write-behind buffers and the lcore mapping (two app instances);
#  6. real Linux TCP through loss and reordering, streamdump inline
#     (netns.sh; skipped without root/netns).
set -u
B=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
SD="$ROOT/$B/streamdump"
SAMPLE="$ROOT/samples/sample.pcap"
CORPUS=${CORPUS:-$(cd "$ROOT" && git rev-parse --show-toplevel 2>/dev/null || echo "$ROOT")/../shared/corpus}
PY=$(command -v python3)
T=$(mktemp -d /tmp/sd-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() {
	echo "ok   $1"
	pass=$((pass + 1))
}
ko() {
	echo "FAIL $1"
	fail=$((fail + 1))
}
finish() {
	echo "streamdump: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}
# Small EAL and tables: every run here is a small capture.
export MOSPIPE_SET="eal.args=--no-huge -m 512 --no-pci --no-shconf;mempool.mbufs=8191;tcp.flows=16384"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
san() { grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$1"; }

if [ ! -x "$SD" ]; then
	ko "$SD is not built (run make)"
	finish
fi
if ! command -v tcpflow >/dev/null; then
	ko "tcpflow is not installed (the peer every comparison here needs): run scripts/deps.sh as root"
	finish
fi

# ---- 1. command line ----------------------------------------------------------------
if "$SD" --help >"$T/help" 2>&1 && grep -q -- '-o DIR' "$T/help"; then ok "--help: usage on stdout, exit 0"; else ko "--help"; fi
touch "$T/plainfile"
printf 'not a capture\n' >"$T/garbage.pcap"
head -c 50000 "$SAMPLE" >"$T/trunc.pcap"
mkdir -p "$T/outdir"
# bad NAME EXIT REGEX ARGS...: exit status and a one-line message matching REGEX.
bad() {
	local name=$1 want=$2 re=$3
	shift 3
	"$SD" "$@" >"$T/bad.out" 2>"$T/bad.err"
	local rc=$?
	if [ "$rc" = "$want" ] && grep -qE -- "$re" "$T/bad.err" && ! san "$T/bad.err"; then
		ok "error: $name -> exit $rc: $(grep -E -- "$re" "$T/bad.err" | head -1 | cut -c1-110)"
	else
		ko "error: $name: exit $rc (want $want), stderr: $(head -3 "$T/bad.err" | tr '\n' ' ' | cut -c1-200)"
	fi
}
bad "no input" 2 'nothing to read' -o "$T/outdir"
bad "missing capture" 2 "cannot read capture '$T/nope.pcap'" -r "$T/nope.pcap" -o "$T/outdir"
bad "missing interface" 2 "interface 'sdnope0' does not exist" -i sdnope0 -o "$T/outdir"
bad "capture that is not a pcap" 2 'garbage.pcap' -r "$T/garbage.pcap" -o "$T/outdir"
bad "-b not a number" 2 "-b 'ten'" -b ten -r "$SAMPLE" -o "$T/outdir"
bad "-b negative" 2 "-b '-5'" -b -5 -r "$SAMPLE" -o "$T/outdir"
bad "-T unknown conversion" 2 'unknown conversion %Z' -T '%A-%Z' -r "$SAMPLE" -o "$T/outdir"
bad "-T absolute path" 2 'inside -o DIR' -T '/tmp/%A' -r "$SAMPLE" -o "$T/outdir"
bad "--fill out of range" 2 "--fill '300'" --fill 300 -r "$SAMPLE" -o "$T/outdir"
bad "--max-open 0" 2 "--max-open '0'" --max-open 0 -r "$SAMPLE" -o "$T/outdir"
bad "--write-buffers not a number" 2 "--write-buffers 'x'" --write-buffers x -r "$SAMPLE" -o "$T/outdir"
bad "unknown option" 2 "unknown option '--frobnicate'" --frobnicate -r "$SAMPLE"
bad "option without value" 2 'needs a value' -r "$SAMPLE" -o
bad "stray argument" 2 "unexpected argument 'extra'" -r "$SAMPLE" -o "$T/outdir" extra
bad "-o is a file" 2 "plainfile" -r "$SAMPLE" -o "$T/plainfile"
bad "-o under a file" 2 "cannot create output directory" -r "$SAMPLE" -o "$T/plainfile/sub"
bad "index in a missing directory" 2 "cannot create the index $T/no/dir/i.json" -X "$T/no/dir/i.json" -r "$SAMPLE" -o "$T/outdir"
bad "missing pipeline.conf" 2 'nope.conf' -c "$T/nope.conf" -r "$SAMPLE" -o "$T/outdir"
bad "bad --set key" 2 'nokey' --set tcp.nokey=1 -r "$SAMPLE" -o "$T/outdir"

bad "capture cut in the middle of a packet" 2 'trunc.pcap.*damaged' -r "$T/trunc.pcap" -o "$T/outdir"
# A full disk: every stream fails, none crashes; a few lines say so, the
# index (elsewhere) flags each stream and the exit status is 1.
mkdir -p "$T/full"
if mount -t tmpfs -o size=32k tmpfs "$T/full" 2>/dev/null; then
	"$SD" -q -r "$SAMPLE" -o "$T/full" -X "$T/full.json" 2>"$T/full.err"
	rc=$?
	umount "$T/full"
	nerr=$(grep -c 'No space left on device' "$T/full.err")
	nflag=$(grep -o '"write_error":true' "$T/full.json" | wc -l)
	if [ $rc = 1 ] && [ "$nerr" -ge 1 ] && [ "$nerr" -le 5 ] && [ "$nflag" -gt 10 ] &&
		tail -1 "$T/full.json" | grep -q '"write_errors":[1-9]' && ! san "$T/full.err"; then
		ok "full disk (32 KB tmpfs): exit 1, $nerr messages, $nflag streams flagged write_error in the index"
	else
		ko "full disk: exit $rc, $nerr messages, $nflag flagged: $(head -2 "$T/full.err" | tr '\n' ' ' | cut -c1-200)"
	fi
else
	echo "note: cannot mount a small tmpfs here: the full-disk case is not run"
fi

# ---- 2. against tcpflow, file by file --------------------------------------------------
python3 "$HERE/mkcaps.py" "$T/caps"
caps=("sample=$SAMPLE" "gaps=$T/caps/gaps.pcap" "reuse=$T/caps/reuse.pcap" "v6vlan=$T/caps/v6vlan.pcap")
if [ -d "$CORPUS" ]; then
	while IFS= read -r f; do
		n=$(basename "$f")
		caps+=("${n%.pcap*}=$f")
	done < <(find "$CORPUS" -name '*.pcap' -o -name '*.pcapng' | sort)
else
	ko "corpus not found at $CORPUS (set CORPUS=DIR)"
fi
# tcpflow verifies no checksum: compare with the stack's checks off too
# (localhost-bad-chksum carries offloaded checksums).
while IFS= read -r line; do
	case "$line" in
	ok*) ok "${line#ok   }" ;;
	*) ko "${line#FAIL }" ;;
	esac
done < <("$PY" "$HERE/vs_tcpflow.py" --streamdump "$SD" --tsv "$HERE/known-differences.tsv" --arg=-C --arg=ignore \
	"${caps[@]}" 2>&1)

# The same with [tcp] buf_history = no (a packet's bytes readable at its own
# events only, their chunks back as soon as the reader released them), on
# two lcores so that the app lags behind tcpsm: what streamdump writes must
# not change (tcpflow is the truth, the listed differences the same).
while IFS= read -r line; do
	case "$line" in
	ok*) ok "buf_history = no, two lcores: ${line#ok   }" ;;
	*) ko "buf_history = no, two lcores: ${line#FAIL }" ;;
	esac
done < <("$PY" "$HERE/vs_tcpflow.py" --streamdump "$SD" --tsv "$HERE/known-differences.tsv" --arg=-C --arg=ignore \
	--arg=--set --arg=tcp.buf_history=no --arg=-l "--arg=0=rx classify tcpsm;1=events app tx" "${caps[@]}" 2>&1)

# ---- 3. tcpflow's options --------------------------------------------------------------
# same_as_tcpflow NAME "TCPFLOW ARGS" STREAMDUMP ARGS...: both into fresh dirs, diff -r.
same_as_tcpflow() {
	local name=$1 targs=$2
	shift 2
	rm -rf "$T/o.t" "$T/o.s"
	mkdir -p "$T/o.t"
	# shellcheck disable=SC2086
	tcpflow $targs -o "$T/o.t" >/dev/null 2>&1
	"$SD" -q "$@" -o "$T/o.s" 2>"$T/o.err"
	local rc=$?
	rm -f "$T/o.t/report.xml" "$T/o.s/streamdump.json"
	local nt ns
	nt=$(find "$T/o.t" -type f | wc -l)
	ns=$(find "$T/o.s" -type f | wc -l)
	if [ $rc = 0 ] && [ "$nt" -gt 0 ] && diff -r "$T/o.t" "$T/o.s" >"$T/o.diff" 2>&1 && ! san "$T/o.err"; then
		ok "$name: the same $ns files as tcpflow, byte for byte"
	else
		ko "$name: exit $rc, tcpflow $nt files, streamdump $ns: $(head -3 "$T/o.diff" | tr '\n' ' ' | cut -c1-200)"
	fi
}
same_as_tcpflow "-b 1000 (first 1000 bytes per direction)" "-b 1000 -r $SAMPLE" -b 1000 -r "$SAMPLE"
same_as_tcpflow "-b 2500 on a stream with a gap (gaps.pcap)" "-b 2500 -r $T/caps/gaps.pcap" -b 2500 -r "$T/caps/gaps.pcap"
same_as_tcpflow "-T '%A/%a-%B.%b' (one directory per source address)" "-T %A/%a-%B.%b -r $SAMPLE" -T '%A/%a-%B.%b' -r "$SAMPLE"
same_as_tcpflow "IPv6 names (ipv6.pcap)" "-r $CORPUS/zeek/ipv6.pcap" -r "$CORPUS/zeek/ipv6.pcap"
# A second run into the same directory: tcpflow takes the next free cN names.
rm -rf "$T/tw.t" "$T/tw.s" && mkdir -p "$T/tw.t"
tcpflow -r "$T/caps/reuse.pcap" -o "$T/tw.t" >/dev/null 2>&1
tcpflow -r "$T/caps/reuse.pcap" -o "$T/tw.t" >/dev/null 2>&1
"$SD" -q -r "$T/caps/reuse.pcap" -o "$T/tw.s" && "$SD" -q -r "$T/caps/reuse.pcap" -o "$T/tw.s"
rm -f "$T/tw.t/report.xml" "$T/tw.s/streamdump.json"
if diff -r "$T/tw.t" "$T/tw.s" >/dev/null && [ "$(find "$T/tw.s" -type f | wc -l)" = 8 ]; then
	ok "second run into the same directory: the same 8 names (c1, c2, c3) and bytes as tcpflow's second run"
else ko "second run into the same directory differs from tcpflow: $(diff -rq "$T/tw.t" "$T/tw.s" | head -2 | tr '\n' ' ')"; fi
# File times: tcpflow sets a file's times to its direction's first packet;
# for the client's direction that is the SYN, the connection's start.
rm -rf "$T/mt.t" "$T/mt.s" && mkdir -p "$T/mt.t"
tcpflow -r "$SAMPLE" -o "$T/mt.t" >/dev/null 2>&1
"$SD" -q -r "$SAMPLE" -o "$T/mt.s"
mt_bad=0
mt_n=0
while IFS= read -r c2s; do
	mt_n=$((mt_n + 1))
	[ "$(stat -c %Y "$T/mt.t/$c2s")" = "$(stat -c %Y "$T/mt.s/$c2s")" ] || mt_bad=$((mt_bad + 1))
done < <("$PY" -c '
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if "flow_id" in j and not j["midstream"] and j["c2s"]["file"]:
        print(j["c2s"]["file"])' "$T/mt.s/streamdump.json")
if [ "$mt_n" -gt 0 ] && [ "$mt_bad" = 0 ]; then ok "file times: $mt_n client-side files carry tcpflow's mtime (the SYN's time)"; else
	ko "file times: $mt_bad of $mt_n client-side files have another mtime than tcpflow's"
fi

# ---- 4. the index ----------------------------------------------------------------------
"$SD" -q -r "$T/caps/gaps.pcap" -o "$T/g0" 2>"$T/g0.err"
"$SD" -q --fill 0x2a -r "$T/caps/gaps.pcap" -o "$T/g42" 2>>"$T/g0.err"
"$SD" -q -X - -r "$SAMPLE" -o "$T/xo" >"$T/xo.stdout" 2>>"$T/g0.err"
"$SD" -q -r "$SAMPLE" -o "$T/s0" 2>>"$T/g0.err"
san "$T/g0.err" && ko "sanitizer report: $(grep -m1 -E 'ERROR|runtime error' "$T/g0.err")"
while IFS= read -r line; do
	case "$line" in
	ok*) ok "${line#ok   }" ;;
	*) ko "${line#FAIL }" ;;
	esac
done < <("$PY" "$HERE/index_check.py" --gen "$HERE/mkcaps.py" --gaps "$T/g0" --fill42 "$T/g42" --stdout "$T/xo.stdout" \
	--stdout-dir "$T/xo" --sample "$T/s0" "$T/g0" "$T/g42" "$T/s0" 2>&1)

# How connections ended (mospipe_flow_info()), against Zeek's conn_state.
for c in pop3 wikipedia modbus-and-non-modbus-p502 ipv6 mixed-vlan-mpls missing-syn; do
	rm -rf "$T/end"
	"$SD" -q -C ignore -r "$CORPUS/zeek/$c.pcap" -o "$T/end" 2>"$T/end.err"
	line=$("$PY" "$HERE/ends_check.py" "$T/end/streamdump.json" "$CORPUS/zeek/$c.expected.tsv" "$c" 2>&1)
	case "$line" in
	ok*) ok "end: ${line#ok   }" ;;
	*) ko "end: ${line#FAIL }" ;;
	esac
done

# ---- 5. open-file cap and lcore mapping -------------------------------------------------
same_as_tcpflow "--max-open 1 (every write reopens its file)" "-r $CORPUS/zeek/wikipedia.pcap" --max-open 1 \
	-r "$CORPUS/zeek/wikipedia.pcap"
"$ROOT/$B/bench/gen" -w "$T/gen.pcap" -n 64 -s 64k -c 300 >/dev/null 2>&1 || ko "bench/gen -w failed"
same_as_tcpflow "bench workload (64 concurrent 64 KB downloads, 1% retransmitted), 8 open files, 4 write buffers" \
	"-r $T/gen.pcap" --max-open 8 --write-buffers 4 -r "$T/gen.pcap"
same_as_tcpflow "bench workload, no write buffer (--write-buffers 0)" "-r $T/gen.pcap" --write-buffers 0 -r "$T/gen.pcap"
same_as_tcpflow "two app instances (-l 0=rx..tcpsm.1;1=events.0..app.1 tx)" "-r $CORPUS/zeek/pop3.pcap" \
	-l "0=rx classify tcpsm.0 tcpsm.1;1=events.0 events.1 app.0 app.1 tx" -r "$CORPUS/zeek/pop3.pcap"

# ---- 6. real Linux TCP ------------------------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	ko "real Linux TCP tests need root (network namespaces)"
else
	env -u MOSPIPE_SET timeout --kill-after=10 "${SD_NETNS_TIMEOUT:-150}" bash "$HERE/netns.sh" "$B" >"$T/netns.out" 2>&1
	rc=$?
	if [ $rc = 77 ]; then
		ko "real Linux TCP tests skipped: $(grep SKIP "$T/netns.out" | head -1)"
	else
		while IFS= read -r line; do
			case "$line" in
			ok*) ok "${line#ok   }" ;;
			FAIL*) ko "${line#FAIL }" ;;
			*) echo "$line" ;;
			esac
		done <"$T/netns.out"
		[ $rc = 0 ] || [ $rc = 1 ] || ko "netns.sh: exit $rc (time limit?)"
	fi
fi
finish
