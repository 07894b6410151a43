#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/README.md), one at a time, niced.
#
#   bash tests/fuzz/run.sh BUILD_DIR [--secs N | --runs N] [--only TARGET]
#
# BUILD_DIR is build-fuzz (make fuzz-build). For each target: first every
# input kept in tests/fuzz/regress/<target>/ (past findings: each must run
# clean), then fuzzing for N seconds (default 15) or N executions, from the
# seeds tests/fuzz/seeds.py makes out of the shared corpus and the unit
# tests' shapes plus the corpus kept in BUILD_DIR/corpus/<target> from
# earlier runs. A crash, leak, timeout or failed check leaves its input in
# BUILD_DIR/crashes/ and fails the target.
# Prints one line per target (executions, coverage) and
# "fuzz: N passed, M failed"; exit 0 all passed, 1 otherwise.
set -uo pipefail
B=${1:-build-fuzz}
shift || true
HERE=$(cd "$(dirname "$0")" && pwd)
MODE=(-max_total_time=15)
ONLY=""
while [[ $# -gt 0 ]]; do
  case $1 in
  --secs) MODE=(-max_total_time="$2"); shift 2 ;;
  --runs) MODE=(-runs="$2"); shift 2 ;;
  --only) ONLY=$2; shift 2 ;;
  *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PASSED=0
FAILED=0
if ! ls "$B"/fuzz/fuzz_* >/dev/null 2>&1; then
  echo "FAIL no fuzz targets in $B/fuzz (run make fuzz-build)"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
SEEDS="$B/seeds"
rm -rf "$SEEDS"
python3 "$HERE/seeds.py" "$SEEDS" >/dev/null || echo "note: seeds.py failed: fuzzing from the kept corpus only"
mkdir -p "$B/crashes"
# Detect leaks; UBSan findings are fatal (the build has -fno-sanitize-recover).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
for bin in "$B"/fuzz/fuzz_*; do
  t=$(basename "$bin")
  t=${t#fuzz_}
  [[ -n "$ONLY" && "$ONLY" != "$t" ]] && continue
  log=$(mktemp)
  ok=1
  if [[ -d "$HERE/regress/$t" ]] && ls "$HERE/regress/$t"/* >/dev/null 2>&1; then
    if ! nice -n 15 "$bin" -runs=1 "$HERE/regress/$t"/* >"$log" 2>&1; then
      echo "FAIL $t: a kept regression input fails again"
      grep -E "ERROR|SUMMARY|Running:" "$log" | tail -5 | sed 's/^/  /'
      ok=0
    fi
  fi
  mkdir -p "$B/corpus/$t"
  if ((ok)) && ! nice -n 15 "$bin" "${MODE[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/crashes/$t-" "$B/corpus/$t" "$SEEDS/$t" >"$log" 2>&1; then
    echo "FAIL $t: $(grep -m1 -E 'ERROR|deadly signal|SUMMARY' "$log")"
    grep -E "Test unit written|SUMMARY" "$log" | tail -3 | sed 's/^/  /'
    ok=0
  fi
  if ((ok)); then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+) ft: ([0-9]+).*/cov \1 ft \2/')
    echo "ok   $t: ${execs:-?} executions, $cov, corpus $(ls "$B/corpus/$t" | wc -l) inputs"
    PASSED=$((PASSED + 1))
  else
    FAILED=$((FAILED + 1))
  fi
  rm -f "$log"
done
echo "fuzz: $PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
