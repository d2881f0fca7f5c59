#!/usr/bin/env bash
# (a) 1 coordinator + 2 remote workers over TCP on 127.0.0.1 produce exactly
# the report of 1 local worker over ipc://.
. "$(dirname "$0")/lib.sh"
# The sleepy cell (10 ms a layer) keeps the run long enough for both workers
# to take tasks even on a loaded machine; they connect before the bind.
write_plan "$WORK/plan.yaml" 10 120

"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/one.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/one.log" || { cat "$WORK/one.log"; fail "single-worker run"; }
report_json "$WORK/one.sqlite" > "$WORK/one.json"

port=$(free_port)
for i in 1 2; do
    "$OFFRAMP" worker --connect "tcp://127.0.0.1:$port" --name "tcp-$i" \
        --plugins "$PLUGINS" 2> "$WORK/worker$i.log" &
    PIDS+=($!)
done
"$OFFRAMP" run "$WORK/plan.yaml" --bind "tcp://127.0.0.1:$port" --db "$WORK/tcp.sqlite" \
    --plugins "$PLUGINS" --format none -q 2> "$WORK/coord.log" &
coord=$!; PIDS+=($coord)
wait $coord || { cat "$WORK/coord.log"; fail "tcp run"; }
report_json "$WORK/tcp.sqlite" > "$WORK/tcp.json"
same_reports "$WORK/one.json" "$WORK/tcp.json" "1 worker vs 2 TCP workers"
check_complete "$WORK/tcp.sqlite" || fail "tcp run incomplete"
# Both remote workers did work.
for i in 1 2; do
    n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from examples where worker='tcp-$i'\").fetchone()[0])" "$WORK/tcp.sqlite")
    [ "$n" -gt 0 ] || fail "worker tcp-$i did no work"
done
echo "ok: identical reports, both TCP workers contributed"
