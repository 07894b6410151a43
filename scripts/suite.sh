#!/usr/bin/env bash
# The whole test suite (what `make check` runs): unit tests, pcap regression,
# inline namespace tests, format check, then unit + regression again under
# ASan+UBSan, then the ThreadSanitizer runs. Each suite prints its own closing line; this script adds them
# up and ends with "check: N passed, M failed, K skipped".
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
JOBS=${JOBS:-2}
passed=0 failed=0 skipped=0
failures=()

note() { printf '\n==== %s\n' "$*"; }

# Adds the counts of one suite's closing line to the totals.
tally() { # name status logfile
  local name=$1 status=$2 log=$3 p=0 f=0 s=0 line
  if line=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' "$log" | tail -1) && [[ -n $line ]]; then
    local n fl er
    n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
    fl=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
    er=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
    f=$((fl + er)); p=$((n - f))
  elif line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1) && [[ -n $line ]]; then
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    if grep -qE ' ([0-9]+) skipped' <<<"$line"; then s=$(sed -E 's/.* ([0-9]+) skipped.*/\1/' <<<"$line"); fi
  fi
  if [[ $status -eq 77 ]]; then
    s=$((s + 1)); echo "---- $name: SKIPPED ($(grep -m1 '^SKIP' "$log" || echo 'no reason given'))"
  elif [[ $status -ne 0 && $f -eq 0 ]]; then
    f=1
  elif [[ $status -eq 0 && $p -eq 0 && $f -eq 0 ]]; then
    p=1 # a step without its own count (build, format check)
  fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  ((f)) && failures+=("$name")
  echo "---- $name: $p passed, $f failed, $s skipped (exit $status)"
}

run() { # name command...
  local name=$1; shift
  local log; log=$(mktemp)
  note "$name: $*"
  "$@" 2>&1 | tee "$log"
  local st=${PIPESTATUS[0]}
  tally "$name" "$st" "$log"
  rm -f "$log"
}

run build make -j"$JOBS" all
for t in build/tests/test_*; do
  [[ -x $t ]] && run "unit $(basename "$t")" "$t"
done
run regress bash tests/regress/run.sh build
if [[ -f tests/inline/run.sh ]]; then run inline bash tests/inline/run.sh build; fi
if [[ -f tests/inline/impair_test.sh ]]; then run impair bash tests/inline/impair_test.sh build; fi
if [[ -f tests/inline/flowlog_test.sh ]]; then run flowlog bash tests/inline/flowlog_test.sh build; fi
if [[ -f tests/inline/verdict_test.sh ]]; then run verdict bash tests/inline/verdict_test.sh build; fi
if [[ -f tests/inline/parse_test.sh ]]; then run parse bash tests/inline/parse_test.sh build; fi
if [[ -f tests/inline/portmiss_test.sh ]]; then run portmiss bash tests/inline/portmiss_test.sh build; fi
if [[ -f tests/inline/load_test.sh ]]; then run load bash tests/inline/load_test.sh build; fi
if [[ -f tests/inline/replicated_test.sh ]]; then run replicated bash tests/inline/replicated_test.sh build; fi
if [[ -f tests/midstat/run.sh ]]; then run midstat bash tests/midstat/run.sh build; fi
if [[ -f tests/evasion/run.sh ]]; then run evasion bash tests/evasion/run.sh build; fi
if [[ -f tests/api/run.sh ]]; then run api bash tests/api/run.sh build; fi
if [[ -f tests/install/run.sh ]]; then run install bash tests/install/run.sh build; fi
# Each tool in apps/ has its tests in tests/apps/<name>/run.sh BUILD_DIR.
for t in tests/apps/*/run.sh; do
  [[ -f $t ]] && run "app $(basename "$(dirname "$t")")" bash "$t" build
done
if [[ -f bench/smoke.sh ]]; then run bench-smoke bash bench/smoke.sh build; fi
run format-check make format-check
run layers bash scripts/check-layers.sh

# Sanitizers: the unit and regression tests again under ASan+UBSan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run san-build make -j"$JOBS" SAN=1 all
for t in build-san/tests/test_*; do
  [[ -x $t ]] && run "san unit $(basename "$t")" "$t"
done
run san-regress bash tests/regress/run.sh build-san
if [[ -f tests/evasion/run.sh ]]; then run san-evasion bash tests/evasion/run.sh build-san; fi
if [[ -f tests/api/run.sh ]]; then run san-api bash tests/api/run.sh build-san; fi
for t in tests/apps/*/run.sh; do
  [[ -f $t ]] && run "san app $(basename "$(dirname "$t")")" bash "$t" build-san
done
# midstat's RCU reader stress test under ASan (needs build-san/midstat, built just above).
if [[ -f tests/midstat/run.sh ]]; then run san-midstat bash tests/midstat/run.sh build --only stress; fi
# The namespace tests under ASan too (mempools and reassembly chunks are
# poisoned while free in this build: runtime/asan.h); each takes 5-30 s.
for t in run impair_test flowlog_test verdict_test parse_test replicated_test; do
  [[ -f tests/inline/$t.sh ]] && run "san inline $t" bash "tests/inline/$t.sh" build-san
done

# libFuzzer targets: the inputs of past findings, then 15 s of fuzzing each
# (tests/fuzz/README.md has the long runs).
if [[ -f tests/fuzz/run.sh ]] && command -v clang >/dev/null; then
  run fuzz-build make -j"$JOBS" fuzz-build
  run fuzz bash tests/fuzz/run.sh build-fuzz --secs 15
fi

# ThreadSanitizer: unit tests, midstat's reader stress on 1 and 2 lcores, the
# API programs, corpus captures through every mapping (tests/tsan/README.md).
run tsan-build make -j"$JOBS" TSAN=1 all
run tsan bash tests/tsan/run.sh build-tsan

echo
((${#failures[@]})) && echo "failed suites: ${failures[*]}"
echo "check: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
