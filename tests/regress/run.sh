#!/usr/bin/env bash
# mospipe regression suite: `make regress` runs `bash tests/regress/run.sh build`
# (and `build-san` under sanitizers).  Runs, in order:
#   selftest  corpus.py --self-test (comparator logic on fake flow logs)
#   badinput  badinput.tsv: bad captures, conf files, options -> exit 2, one line
#   mapping   every corpus capture through 7 stage/lcore mappings: same counters
#   corpus    corpus.py: flow log vs Zeek/Suricata/Arkime expectations
#   filter    filter.py: the trailing BPF expression vs tcpdump
#   equiv     equiv.py: API programs' per-flow traces identical at every
#             burst and mapping (one lcore, burst 1 is the reference)
#   wirelen   wirelen.py: the frame's length on the wire through every capture
#             reader (snaplen cut vs. a datagram longer than its frame) vs tcpdump
#   ports     ports.py: replicated pipelines on DPDK ports (net_null, net_ring):
#             a receive queue per rx instance, the symmetric RSS key read back
# prints one table of all checks and ends with "regress: N passed, M failed";
# exit 1 if anything failed.  README.md in this folder says more.
#
# Environment: CORPUS (default ../shared/corpus from the repository root),
# REGRESS_ONLY (substring:
# limit mapping/corpus to matching captures), REGRESS_EAL_DEFAULT=1 (run with
# the default EAL memory instead of the faster small-memory settings).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR   (e.g. build or build-san)" >&2
	exit 2
fi
build=$1
mospipe=$build/mospipe
corpus=${CORPUS:-$(cd "$here/../.." && pwd)/../shared/corpus}

if [ ! -x "$mospipe" ]; then
	echo "regress: $mospipe not found or not executable (run make first)" >&2
	echo "regress: 0 passed, 1 failed"
	exit 1
fi
if [ ! -d "$corpus" ]; then
	echo "regress: corpus $corpus not found (set CORPUS=DIR)" >&2
	echo "regress: 0 passed, 1 failed"
	exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/regress.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
: >"$results"

# Smaller EAL memory and mbuf pool: halves the ~0.4 s start of every run and
# changes nothing for captures this size (the largest has < 1,000 packets;
# 8191 mbufs are never exhausted).
set_args=()
if [ "${REGRESS_EAL_DEFAULT:-0}" != 1 ]; then
	set_args=(--set "eal.args=--no-huge -m 256 --no-pci --no-shconf" --set "mempool.mbufs=8191" --set "tcp.flows=16384")
fi
only_args=()
if [ -n "${REGRESS_ONLY:-}" ]; then
	only_args=(--only "$REGRESS_ONLY")
fi

start=$(date +%s)
echo "regress: $mospipe, corpus $corpus"

# 1. Comparator self-test (no mospipe needed).
if python3 "$here/corpus.py" --self-test --corpus "$corpus" >"$work/selftest.log" 2>&1; then
	printf 'selftest\tcorpus.py\tPASS\t%s\n' "$(grep -E '^Ran ' "$work/selftest.log")" >>"$results"
else
	printf 'selftest\tcorpus.py\tFAIL\tsee below\n' >>"$results"
	cat "$work/selftest.log"
fi

# 2-4. The checks through the binary.  Each script writes its rows to
# $results; a non-zero exit only means "something failed", which the table
# shows, but a crash of the script itself leaves a FAIL row.
run_part() {
	local group=$1
	shift
	local rc=0
	"$@" >"$work/$group.log" 2>&1 || rc=$?
	if [ "$rc" -gt 1 ]; then
		printf '%s\t(script)\tFAIL\t%s exited %d\n' "$group" "$(basename "$2")" "$rc" >>"$results"
		cat "$work/$group.log"
	fi
}
run_part badinput python3 "$here/badinput.py" --mospipe "$mospipe" --corpus "$corpus" --results "$results"
run_part mapping python3 "$here/mapping.py" --mospipe "$mospipe" --corpus "$corpus" --results "$results" \
	${set_args[@]+"${set_args[@]}"} ${only_args[@]+"${only_args[@]}"}
run_part corpus python3 "$here/corpus.py" --mospipe "$mospipe" --corpus "$corpus" --results "$results" \
	${set_args[@]+"${set_args[@]}"} ${only_args[@]+"${only_args[@]}"}
run_part filter python3 "$here/filter.py" --mospipe "$mospipe" --corpus "$corpus" --results "$results" \
	${set_args[@]+"${set_args[@]}"} ${only_args[@]+"${only_args[@]}"}
# Run-to-completion equivalence: the API programs over the whole corpus give
# the same per-flow callback traces at every burst and mapping (equiv.py).
if [ -z "${REGRESS_ONLY:-}" ]; then
	run_part equiv python3 "$here/equiv.py" --build "$build" --corpus "$corpus" --results "$results"
fi
run_part wirelen python3 "$here/wirelen.py" --mospipe "$mospipe" --results "$results" ${set_args[@]+"${set_args[@]}"}
run_part ports python3 "$here/ports.py" --mospipe "$mospipe" --results "$results"

# The table: one row per check, warnings after it.
echo
printf '%-8s %-62s %-6s %s\n' GROUP CHECK RESULT DETAIL
awk -F'\t' '$3 != "WARN" { d = $4; if (length(d) > 150) d = substr(d, 1, 147) "...";
	printf "%-8s %-62s %-6s %s\n", $1, $2, $3, d }' "$results"
if grep -q $'\tWARN\t' "$results"; then
	echo
	echo "warnings (not counted):"
	awk -F'\t' '$3 == "WARN" { printf "  %s/%s: %s\n", $1, $2, $4 }' "$results"
fi

echo
echo "corpus agreement table:"
sed -n '/^capture /,$p' "$work/corpus.log"

passed=$(awk -F'\t' '$3 == "PASS"' "$results" | wc -l)
failed=$(awk -F'\t' '$3 == "FAIL" || $3 == "NOTRUN"' "$results" | wc -l)
echo
echo "regress: took $(($(date +%s) - start)) s"
echo "regress: $((passed)) passed, $((failed)) failed"
if [ "$failed" -gt 0 ]; then
	exit 1
fi
