#!/usr/bin/env bash
# Fault soak: a run over TCP on 127.0.0.1 with a pool of remote workers, of
# which KILLS are killed with SIGKILL at random moments (and replaced), one
# is stopped with SIGSTOP past the heartbeat timeout and then resumed, and
# the coordinator itself is killed once and the run resumed. The final
# report must equal an undisturbed run's, with no example lost or stored
# twice (checked in the SQLite file).
#   KILLS=100 (default; ctest's short version sets KILLS=25)
. "$(dirname "$0")/../integration/lib.sh"
KILLS=${KILLS:-100}
LIMIT=$(( KILLS * 6 > 300 ? KILLS * 6 : 300 ))   # examples per cell: long enough for the kills
TOTAL=$(( LIMIT * 4 ))
POOL=3
HB=100                         # heartbeat ms; a worker is dead after 10 of them
RANDOM=7

cat > "$WORK/plan.yaml" <<PLAN
name: soak
settings: {batch_size: 4, shard_size: 6, seed: 5}
models: [testnet]
suites: [{name: synthetic, limit: $LIMIT}]
methods:
  - full
  - name: truncate
    params: {layer: [2, 4]}
  - name: sleepy
    params: {ms: 40}
PLAN

t0=$(date +%s.%N)
"$OFFRAMP" run "$WORK/plan.yaml" --workers $POOL --db "$WORK/clean.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/clean.log" || { cat "$WORK/clean.log"; fail "clean run"; }
t1=$(date +%s.%N)
report_json "$WORK/clean.sqlite" > "$WORK/clean.json"

port=$(free_port)
ADDR="tcp://127.0.0.1:$port"
start_coord () {  # start_coord [--resume RUN]
    "$OFFRAMP" run "$@" --bind "$ADDR" --workers 0 --db "$WORK/soak.sqlite" \
        --plugins "$PLUGINS" --heartbeat-ms $HB --format none -q 2>> "$WORK/coord.log" &
    coord=$!
    PIDS+=($coord)
}
n_started=0
start_worker () {
    n_started=$((n_started + 1))
    "$OFFRAMP" worker --connect "$ADDR" --name "w$n_started" --plugins "$PLUGINS" \
        2>> "$WORK/workers.log" &
    PIDS+=($!)
    pool+=($!)
}
alive () { kill -0 "$1" 2>/dev/null; }
stored () {
    $PY -c "import sqlite3,sys
try: print(sqlite3.connect(sys.argv[1]).execute('select count(*) from examples').fetchone()[0])
except Exception: print(0)" "$WORK/soak.sqlite"
}

pool=()
start_coord "$WORK/plan.yaml"
for _ in $(seq 1 $POOL); do start_worker; done

kills=0 stopped=0 coord_killed=0 deadline=$(( $(date +%s) + 600 ))
while alive "$coord"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "soak did not finish in 600 s"
    sleep "0.0$((RANDOM % 9 + 1))"
    if [ $kills -lt "$KILLS" ]; then
        i=$((RANDOM % ${#pool[@]}))
        if alive "${pool[$i]}"; then
            kill -9 "${pool[$i]}" 2>/dev/null || true
            wait "${pool[$i]}" 2>/dev/null || true
            kills=$((kills + 1))
        fi
        unset "pool[$i]"; pool=("${pool[@]}")
        start_worker
    fi
    n=0
    [ $stopped = 1 ] && [ $coord_killed = 1 ] || n=$(stored)
    if [ $stopped = 0 ] && [ "$n" -gt $(( TOTAL / 4 )) ]; then
        # Past the heartbeat timeout: the coordinator declares it dead and
        # re-queues its task; resumed, it is told to rejoin.
        victim=${pool[0]}
        kill -STOP "$victim"; sleep $(( HB * 15 / 1000 )).5; kill -CONT "$victim"
        stopped=1
    fi
    if [ $coord_killed = 0 ] && [ "$n" -gt $(( TOTAL / 2 )) ]; then
        kill -9 "$coord"; wait "$coord" 2>/dev/null || true
        run=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select max(id) from runs').fetchone()[0])" "$WORK/soak.sqlite")
        start_coord --resume "$run"
        coord_killed=1
    fi
done
wait "$coord" || { tail -30 "$WORK/coord.log"; fail "soak run failed"; }
t2=$(date +%s.%N)
[ $stopped = 1 ] && [ $coord_killed = 1 ] || fail "run ended before the stop ($stopped) or the coordinator kill ($coord_killed)"
[ $kills -ge "$KILLS" ] || fail "run ended after only $kills of $KILLS worker kills (make the plan longer)"
grep -q "missed heartbeats" "$WORK/coord.log" || fail "the stopped worker was not declared dead"

report_json "$WORK/soak.sqlite" > "$WORK/soak.json"
same_reports "$WORK/clean.json" "$WORK/soak.json" "clean vs soak"
check_complete "$WORK/soak.sqlite" || fail "examples lost or duplicated"
$PY - "$WORK/soak.sqlite" <<'PYEOF' || fail "store check"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run = db.execute("select max(id) from runs").fetchone()[0]
total = db.execute("select sum(total) from cells where run=?", (run,)).fetchone()[0]
n, d = db.execute("select count(*), count(distinct cell || ':' || example) from examples where run=?", (run,)).fetchone()
assert n == d == total, (n, d, total)
print("store: %d examples, %d distinct, %d expected" % (n, d, total))
PYEOF
echo "ok: $TOTAL examples, $kills worker kills, 1 stop/resume, 1 coordinator kill + resume; identical report;" \
     "clean run ($POOL local workers) $($PY -c "print('%.1f' % ($t1 - $t0))") s, soak $($PY -c "print('%.1f' % ($t2 - $t1))") s"
