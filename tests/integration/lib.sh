# Shared helpers for the integration tests: real coordinator and worker
# processes on ipc:// or 127.0.0.1, compared through `offramp report`.
set -euo pipefail

: "${OFFRAMP:?OFFRAMP must point at the offramp binary}"
: "${OFR_BUILD_DIR:?}"
PY=/usr/bin/python3
PLUGINS="$OFR_BUILD_DIR/plugins:$OFR_BUILD_DIR/tests/plugins"
export OFFRAMP_LOG=${OFFRAMP_LOG:-info}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/offramp-it.XXXXXX")
PIDS=()

cleanup () {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail () { echo "FAIL: $*" >&2; exit 1; }

# 1 when $OFFRAMP is an ASan build (make test-asan): the slow end-to-end
# tests then run fewer examples (the same code paths, ~10x the cost each).
OFR_ASAN=0
if ldd "$OFFRAMP" 2>/dev/null | grep -q libasan; then OFR_ASAN=1; fi

# A plan small enough for CI and slow enough (sleepy plugin) to be interrupted.
write_plan () {   # write_plan FILE SLEEP_MS LIMIT
    cat > "$1" <<PLAN
name: it-plan
settings: {batch_size: 8, shard_size: 20, seed: 3}
models: [testnet]
suites: [{name: synthetic, limit: $3}]
methods:
  - full
  - name: truncate
    params: {layer: [2, 5]}
  - name: sleepy
    params: {ms: $2}
PLAN
}

# report_json DB -> stdout: JSON without wall-clock fields and the run id, so
# that two runs of the same plan can be compared byte for byte.
report_json () {
    "$OFFRAMP" report --db "$1" --format json > "$WORK/report.raw" || fail "report of $1"
    $PY - "$WORK/report.raw" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
r.pop("run", None)
for c in r["cells"]:
    for k in ("wall_ms_mean", "speedup"):
        c.pop(k, None)
print(json.dumps(r, sort_keys=True, indent=1))
PYEOF
}

same_reports () {  # same_reports A.json B.json WHAT
    if ! cmp -s "$1" "$2"; then
        diff "$1" "$2" | head -40 >&2
        fail "$3: reports differ"
    fi
}

# Count examples stored per cell and check no duplicates (the PK forbids
# them; this also checks nothing is missing against the cell totals).
check_complete () {  # check_complete DB
    $PY - "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
run = db.execute("select max(id) from runs").fetchone()[0]
bad = 0
for idx, total, status in db.execute("select idx, total, status from cells where run=?", (run,)):
    n, d = db.execute("select count(*), count(distinct example) from examples where run=? and cell=?",
                      (run, idx)).fetchone()
    if n != d or (status != "failed" and n != total):
        print(f"cell {idx}: {n} rows, {d} distinct, total {total}, status {status}")
        bad += 1
sys.exit(1 if bad else 0)
PYEOF
}

# A port that is free now, below the kernel's ephemeral range: a port the
# kernel handed out as ephemeral (bind to 0) can be handed out again to any
# concurrent client (srun, slurmd, ZeroMQ's own connects) before we bind it.
free_port () {
    $PY - <<'PYEOF'
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(200):
    p = random.randrange(20000, max(20001, min(lo, 32768)))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("no free port in [20000, %d)" % lo)
PYEOF
}

wait_examples () {  # wait_examples DB N TIMEOUT_S: until >= N examples stored
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        local n
        n=$($PY -c "import sqlite3,sys
try:
  print(sqlite3.connect(sys.argv[1]).execute('select count(*) from examples').fetchone()[0])
except Exception: print(0)" "$1")
        [ "$n" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "timed out waiting for $2 examples in $1"
}
