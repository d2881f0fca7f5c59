#!/usr/bin/env bash
# (b) kill -9 of a worker in the middle of a task: same report, no example
# missing or duplicated.
. "$(dirname "$0")/lib.sh"
write_plan "$WORK/plan.yaml" 100 120

"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/clean.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "clean run"; }
report_json "$WORK/clean.sqlite" > "$WORK/clean.json"

"$OFFRAMP" run "$WORK/plan.yaml" --workers 2 --db "$WORK/kill.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/kill.log" &
coord=$!; PIDS+=($coord)
# Wait until the slow cell is under way, then kill a worker that holds a task.
wait_examples "$WORK/kill.sqlite" 380 60
victim=""
for p in $(pgrep -P "$coord" || true); do
    if pgrep -P "$p" > /dev/null; then victim=$p; break; fi   # has a task child
done
[ -n "$victim" ] || victim=$(pgrep -P "$coord" | head -1 || true)
[ -n "$victim" ] || fail "no worker process to kill"
kill -9 "$victim"
echo "killed worker pid $victim"
wait $coord || { cat "$WORK/kill.log"; fail "run after kill"; }
grep -q "lost" "$WORK/kill.log" || { cat "$WORK/kill.log"; fail "coordinator did not notice the kill"; }
report_json "$WORK/kill.sqlite" > "$WORK/kill.json"
same_reports "$WORK/clean.json" "$WORK/kill.json" "clean vs worker killed"
check_complete "$WORK/kill.sqlite" || fail "missing or duplicated examples"
echo "ok: identical report after kill -9 of a worker"
