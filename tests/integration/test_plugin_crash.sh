#!/usr/bin/env bash
# (d) a plugin that segfaults fails its task with the reason stored; the
# worker keeps serving the other cells.
. "$(dirname "$0")/lib.sh"
cat > "$WORK/plan.yaml" <<PLAN
name: crash-plan
settings: {batch_size: 8, shard_size: 25}
models: [testnet]
suites: [{name: synthetic, limit: 100}]
methods:
  - full
  - name: crash
    params: {at: 2}
  - name: truncate
    params: {layer: 3}
PLAN
"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/r.sqlite" --plugins "$PLUGINS" \
    --format json -q > "$WORK/report.json" 2> "$WORK/run.log" || { cat "$WORK/run.log"; fail "run"; }
$PY - "$WORK/report.json" "$WORK/r.sqlite" <<'PYEOF' || { cat "$WORK/run.log"; exit 1; }
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
cells = {c["method"]: c for c in r["cells"]}
assert cells["crash"]["status"] == "failed", cells["crash"]
assert cells["full"]["n"] == 100 and cells["truncate"]["n"] == 100, (cells["full"]["n"], cells["truncate"]["n"])
db = sqlite3.connect(sys.argv[2])
reason = db.execute("select reason from cells where method='crash'").fetchone()[0]
assert "signal 11" in reason and "Segmentation fault" in reason, reason
fails = db.execute("select count(*) from tasks where status='failed' and reason like '%signal 11%'").fetchone()[0]
assert fails >= 1, fails
dead = db.execute("select count(*) from workers where state='dead'").fetchone()[0]
assert dead == 0, f"{dead} workers died"
print("crash cell failed with:", reason)
PYEOF
echo "ok: crashing plugin failed its cell, worker kept serving"
