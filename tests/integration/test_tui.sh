#!/usr/bin/env bash
# The live dashboard, driven under tmux against a real coordinator and two
# local workers (sleepy plugin slows one cell down): pause stops dispatch,
# / filters, 80x24 stays readable, q leaves the run going, and at the end
# the table and the exit histogram of the dashboard started with the run
# and of one attached mid-run match `offramp report --format json`.
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || fail "tmux is not installed"
export LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color
SOCK="$WORK/tmux.sock"
T () { tmux -u -S "$SOCK" "$@"; }
cleanup_tmux () { T kill-server 2>/dev/null || true; }
trap 'cleanup_tmux; cleanup' EXIT

cat > "$WORK/plan.yaml" <<PLAN
name: tui-plan
settings: {batch_size: 8, shard_size: 20, seed: 3}
models: [testnet]
suites: [{name: synthetic, limit: 240}]
methods:
  - full
  - name: truncate
    params: {layer: [2, 5]}
  - name: sleepy
    params: {ms: 150}
PLAN
port=$(free_port)
ADDR="tcp://127.0.0.1:$port"
DB="$WORK/r.sqlite"

T new-session -d -s run -x 120 -y 40 "cd '$WORK' && '$OFFRAMP' run plan.yaml --tui --bind $ADDR \
  --workers 2 --db '$DB' --plugins '$PLUGINS' --format json > out.json 2> run.err; echo \$? > rc; sleep 600"

screen () { T capture-pane -p -t "$1"; }
done_of () { screen "$1" | sed -n 's/^ done \([0-9]*\)\/.*/\1/p' | head -1; }
wait_screen () {  # wait_screen PANE REGEX TIMEOUT_S
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        screen "$1" | grep -Eq "$2" && return 0
        sleep 0.2
    done
    screen "$1" >&2
    fail "timed out waiting for /$2/ on $1"
}

wait_screen run ' done [1-9][0-9]*/960' 30
echo "dashboard up: $(screen run | head -1)"

# A second dashboard attaches mid-run.
T new-session -d -s late -x 120 -y 40 "'$OFFRAMP' tui --connect $ADDR; sleep 600"
wait_screen late ' done [0-9]+/960' 15

# p: dispatch stops. Tasks already handed out finish, then done stays put.
T send-keys -t run p
wait_screen run 'PAUSED' 10
wait_screen late 'PAUSED' 10
prev=-1; stable=0; deadline=$(( $(date +%s) + 30 ))
while [ "$stable" -lt 3 ] && [ "$(date +%s)" -lt "$deadline" ]; do
    sleep 1
    now=$(done_of run)
    if [ "$now" = "$prev" ]; then stable=$((stable + 1)); else stable=0; fi
    prev=$now
done
[ "$stable" -ge 3 ] || fail "done count kept growing while paused"
paused_at=$prev
sleep 3
[ "$(done_of run)" = "$paused_at" ] || fail "done grew while paused ($paused_at -> $(done_of run))"
[ "$paused_at" -lt 960 ] || fail "the run finished before the pause could be seen"
echo "ok: paused at $paused_at examples for 6 s"
T send-keys -t run p
deadline=$(( $(date +%s) + 20 ))
while [ "$(done_of run)" -le "$paused_at" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.3; done
[ "$(done_of run)" -gt "$paused_at" ] || fail "dispatch did not resume"
echo "ok: resumed ($(done_of run) done)"

# /: filter rows.
T send-keys -t run / l a y e r = 5 Enter
sleep 0.5
rows=$(screen run | grep -cE '^[* ] +[0-9]+ ')
screen run | grep -qE '^[* ] +2 truncate layer=5' || fail "filtered row missing"
[ "$rows" -eq 1 ] || { screen run >&2; fail "filter shows $rows rows, expected 1"; }
T send-keys -t run / Escape
sleep 0.5
[ "$(screen run | grep -cE '^[* ] +[0-9]+ ')" -eq 4 ] || fail "clearing the filter"
echo "ok: / filters"

# 80x24: header and table stay readable.
T resize-window -t run -x 80 -y 24
sleep 1
small=$(screen run)
echo "$small" | head -1 | grep -q 'run [0-9]' || { echo "$small" >&2; fail "80x24: header"; }
echo "$small" | sed -n 2p | grep -q ' done [0-9]*/960' || { echo "$small" >&2; fail "80x24: progress"; }
echo "$small" | grep -q 'relFLOPs' || { echo "$small" >&2; fail "80x24: table header"; }
[ "$(echo "$small" | grep -cE '^[* ] +[0-9]+ ')" -eq 4 ] || { echo "$small" >&2; fail "80x24: rows"; }
$PY -c 'import sys; sys.exit(any(len(l) > 80 for l in sys.stdin.read().splitlines()))' \
    <<< "$small" || fail "80x24: a line is wider than 80"
echo "$small" > "$WORK/small.txt"
T resize-window -t run -x 120 -y 40
echo "ok: 80x24"

# q in a third dashboard: it exits, the run goes on.
T new-session -d -s quitter -x 100 -y 30 "'$OFFRAMP' tui --connect $ADDR; echo QUIT-RC \$?; sleep 600"
wait_screen quitter ' done [0-9]+/960' 15
T send-keys -t quitter q
wait_screen quitter 'QUIT-RC 0' 10
before=$(done_of run)
sleep 2
[ ! -f "$WORK/rc" ] || [ "$before" = 960 ] || fail "the run stopped when a dashboard quit"
echo "ok: q leaves the run going"

# Select cell 1 for the histogram, then wait for the end.
T send-keys -t run Down
T send-keys -t late Down
wait_screen run 'FINISHED' 120
wait_screen late 'FINISHED' 20
sleep 1.5     # the last report event, then the screen redraw
screen run > "$WORK/run.txt"
screen late > "$WORK/late.txt"
"$OFFRAMP" report --db "$DB" --format json > "$WORK/report.json" || fail "report"

$PY - "$WORK/report.json" "$WORK/run.txt" "$WORK/late.txt" <<'PYEOF'
import json, math, re, sys
rep = json.load(open(sys.argv[1]))
row_re = re.compile(r'^([* ]) *(\d+) (.+?) +synthetic +(\S+)(?: ±(\S+))? +(\S+) +(\S+) +(\S+) +(\S+) +(\d+)/(\d+) *$')
def f(fmt, v):
    return "-" if v is None else fmt % v
def front(cells):
    out = []
    for a in cells:
        acc, rel = a["metrics"].get("accuracy"), a["rel_flops"]
        on = acc is not None and rel is not None
        for b in cells:
            if b is a or b["metrics"].get("accuracy") is None or b["rel_flops"] is None:
                continue
            ba, br = b["metrics"]["accuracy"], b["rel_flops"]
            if ba >= acc and br <= rel and (ba > acc or br < rel):
                on = False
        out.append(on)
    return out
pareto = front(rep["cells"])
tables = []
for path in sys.argv[2:]:
    lines = open(path).read().splitlines()
    rows = {}
    for ln in lines:
        m = row_re.match(ln)
        if m:
            rows[int(m.group(2))] = m.groups()
    assert len(rows) == len(rep["cells"]), f"{path}: {len(rows)} rows for {len(rep['cells'])} cells"
    for i, c in enumerate(rep["cells"]):
        mark, idx, label, val, ci, rel, exp, wall, ex, n, total = rows[i]
        acc = c["metrics"]["accuracy"]
        p = acc / 100
        want = {
            "metric": f("%.2f", acc), "ci": "%.2f" % (196 * math.sqrt(p * (1 - p) / c["n"])),
            "rel": f("%.3f", c["rel_flops"]),
            "exp": f("%.2fx", 1 / c["rel_flops"] if c["rel_flops"] else None),
            "wall": f("%.2fx", c["speedup"]), "exit": f("%.2f", c["mean_exit_layer"]),
            "n": str(c["n"]), "total": str(c["total"]), "pareto": "*" if pareto[i] else " ",
        }
        got = {"metric": val, "ci": ci, "rel": rel, "exp": exp, "wall": wall, "exit": ex,
               "n": n, "total": total, "pareto": mark}
        assert got == want, f"{path}: cell {i}: dashboard {got} != report {want}"
    # Histogram of the selected cell (1): bars sum to its example count.
    title = [l for l in lines if " exits: cell " in l]
    assert title and " exits: cell 1 " in title[0], f"{path}: histogram title {title}"
    counts = [int(m.group(2)) for m in (re.search(r'^ L(\d+) .*? (\d+) +[\d.]+%', l) for l in lines) if m]
    hist = rep["cells"][1]["exit_hist"]
    assert counts == hist, f"{path}: histogram {counts} != report {hist}"
    assert sum(counts) == rep["cells"][1]["n"], f"{path}: histogram sums to {sum(counts)}"
    tables.append([rows[i] for i in sorted(rows)])
assert tables[0] == tables[1], "the late dashboard differs from the one started with the run"
print(f"ok: {len(rep['cells'])} rows match the report in both dashboards; "
      f"histogram of cell 1 sums to {sum(counts)}")
PYEOF
[ $? -eq 0 ] || fail "final screens vs report"

# q on the run's own dashboard: the coordinator prints the report and exits.
T send-keys -t run q
deadline=$(( $(date +%s) + 20 ))
while [ ! -f "$WORK/rc" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
[ "$(cat "$WORK/rc" 2>/dev/null)" = 0 ] || { cat "$WORK/run.err" >&2; fail "run exit status"; }
$PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/out.json" || fail "run's report"
check_complete "$DB" || fail "run incomplete"
echo "ok: dashboard test passed"
