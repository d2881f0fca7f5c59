#!/usr/bin/env bash
# (f) 1,000 random, truncated and hostile msgpack messages sent to a running
# coordinator do not crash it, and the run's report is unchanged.
. "$(dirname "$0")/lib.sh"
write_plan "$WORK/plan.yaml" 20 60

"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/clean.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "clean run"; }
report_json "$WORK/clean.sqlite" > "$WORK/clean.json"

port=$(free_port)
"$OFFRAMP" run "$WORK/plan.yaml" --bind "tcp://127.0.0.1:$port" --workers 1 \
    --db "$WORK/fuzz.sqlite" --plugins "$PLUGINS" --format none -q 2> "$WORK/fuzz.log" &
coord=$!; PIDS+=($coord)
"$OFR_BUILD_DIR/tests/fuzz_client" "tcp://127.0.0.1:$port" 1000 7 || fail "fuzz client"
kill -0 "$coord" 2>/dev/null || { wait "$coord" || { tail -20 "$WORK/fuzz.log"; fail "coordinator died"; }; }
wait "$coord" || { tail -20 "$WORK/fuzz.log"; fail "fuzzed run failed"; }
dropped=$(grep -c "dropped" "$WORK/fuzz.log" || true)
[ "$dropped" -gt 100 ] || { tail -20 "$WORK/fuzz.log"; fail "only $dropped messages reported dropped"; }
report_json "$WORK/fuzz.sqlite" > "$WORK/fuzz.json"
same_reports "$WORK/clean.json" "$WORK/fuzz.json" "clean vs fuzzed"
check_complete "$WORK/fuzz.sqlite" || fail "missing or duplicated examples"
echo "ok: coordinator survived 1000 hostile messages ($dropped logged as dropped)"
