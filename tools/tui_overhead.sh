#!/usr/bin/env bash
# Does an attached, redrawing dashboard slow the run down? Runs PLAN
# alternately without and with `--tui` (inside a detached tmux, 120x40),
# REPS times each, and prints each run's duration from the results DB
# (runs.finished - runs.started, so the wait for `q` is not counted).
#   tools/tui_overhead.sh [PLAN] [REPS]     (from the project root, after make)
set -euo pipefail
PLAN=${1:-plans/compare-exits.yaml}
REPS=${2:-3}
BIN=${OFFRAMP:-build/offramp}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/offramp-tuiov.XXXXXX")
trap 'tmux kill-session -t ofr-tuiov 2>/dev/null || true; rm -rf "$WORK"' EXIT
duration () { sqlite3 "$1" "select printf('%.3f', finished - started) from runs order by id desc limit 1"; }
for r in $(seq 1 "$REPS"); do
    "$BIN" run "$PLAN" --db "$WORK/plain$r.sqlite" --no-tui --format none -q 2>/dev/null
    echo "plain  $r $(duration "$WORK/plain$r.sqlite") s"
    tmux new-session -d -s ofr-tuiov -x 120 -y 40 \
        "$BIN run $PLAN --db $WORK/tui$r.sqlite --tui --format none"
    for _ in $(seq 1 600); do
        sleep 0.5
        if tmux capture-pane -p -t ofr-tuiov 2>/dev/null | grep -q FINISHED; then break; fi
    done
    tmux send-keys -t ofr-tuiov q
    sleep 1
    tmux kill-session -t ofr-tuiov 2>/dev/null || true
    echo "tui    $r $(duration "$WORK/tui$r.sqlite") s"
done
