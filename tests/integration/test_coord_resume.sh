#!/usr/bin/env bash
# (c) kill the coordinator mid-run, then --resume: same report as a clean run.
. "$(dirname "$0")/lib.sh"
write_plan "$WORK/plan.yaml" 100 120

"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/clean.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "clean run"; }
report_json "$WORK/clean.sqlite" > "$WORK/clean.json"

"$OFFRAMP" run "$WORK/plan.yaml" --workers 2 --db "$WORK/crash.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/crash.log" &
coord=$!; PIDS+=($coord)
wait_examples "$WORK/crash.sqlite" 400 60
kill -9 "$coord"
wait "$coord" 2>/dev/null || true
sleep 0.5
# Local workers die with their coordinator.
if pgrep -f "offramp worker --connect ipc://.*offramp-$coord.sock" > /dev/null; then
    fail "local workers outlived their coordinator"
fi
before=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from examples').fetchone()[0])" "$WORK/crash.sqlite")
[ "$before" -lt 480 ] || fail "run finished before the kill ($before examples)"
run=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select max(id) from runs').fetchone()[0])" "$WORK/crash.sqlite")
"$OFFRAMP" run --resume "$run" --workers 2 --db "$WORK/crash.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/resume.log" || { cat "$WORK/resume.log"; fail "resume"; }
report_json "$WORK/crash.sqlite" > "$WORK/resumed.json"
same_reports "$WORK/clean.json" "$WORK/resumed.json" "clean vs killed+resumed"
check_complete "$WORK/crash.sqlite" || fail "missing or duplicated examples"
echo "ok: $before examples survived the coordinator kill; resume completed the run identically"
