#!/usr/bin/env bash
# run_fuzz.sh FUZZER NAME FUZZ_DIR WORK SECONDS -- one bounded libFuzzer run
# (ctest -L fuzz): replay the committed corpus and regressions, fuzz for
# SECONDS with ASan+UBSan, keep new inputs in WORK/corpus/NAME (never in
# the source tree) and crashes in WORK/artifacts/NAME. Appends "NAME RUNS"
# to WORK/executions.txt. A crash fails the test: copy the artifact to
# tests/fuzz/regressions/NAME/, fix the bug, and it is replayed forever.
set -euo pipefail
bin=$1 name=$2 src=$3 work=$4 secs=$5
mkdir -p "$work/corpus/$name" "$work/artifacts/$name"
dirs=("$work/corpus/$name" "$src/corpus/$name")
[ -d "$src/regressions/$name" ] && dirs+=("$src/regressions/$name")
log="$work/$name.log"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$name/" "${dirs[@]}" > "$log" 2>&1
rc=$?
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
echo "$name ${runs:-?} executions in ${secs}s, ${cov:-cov: ?}" | tee -a "$work/executions.txt"
if [ $rc -ne 0 ]; then
    tail -60 "$log"
    echo "FAIL: fuzz_$name found a crash (rc $rc); input in $work/artifacts/$name/" >&2
    exit 1
fi
