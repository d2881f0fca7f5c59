#!/usr/bin/env bash
# offramp fit on the generated testnet/synthetic pair:
# (a) fit linear_exit on synthetic/train, evaluate on synthetic/dev: at
#     least as accurate as the model's own exits (maxprob, full), the
#     sidecar records the fitting split, --artifacts / OFFRAMP_ARTIFACTS
#     find it;
# (b) fitting on the evaluated split is refused, whichever way it is named;
# (c) without an artifact the cell fails and its reason is the fit command;
#     an artifact whose sidecar names the evaluated split is refused.
. "$(dirname "$0")/lib.sh"
cd "$WORK"
O() { "$OFFRAMP" "$@"; }

# (a)
O fit --model testnet --suite synthetic --method linear_exit:l2=0.5 --out "$WORK/art" \
    > fit.out 2> fit.log || { cat fit.log; fail "fit on synthetic/train"; }
grep -q "synthetic/train\[0:2000\]" fit.out || { cat fit.out; fail "fit summary"; }
grep -q "features of 2000/2000" fit.log || { cat fit.log; fail "progress line on stderr"; }
$PY - "$WORK/art/testnet/linear_exit/heads.json" "$WORK/art/testnet/linear_exit/heads.bin" <<'PYEOF'
import hashlib, json, sys
j = json.load(open(sys.argv[1]))
blob = open(sys.argv[2], "rb").read()
assert j["split_desc"].startswith("synthetic/train"), j
assert j["split"] == "train" and j["suite"] == "synthetic", j
assert j["model"] == "testnet" and j["method"] == "linear_exit", j
assert j["params"]["l2"] == "0.5" and j["params"]["threshold"] == "0.9", j["params"]
assert j["n_examples"] == 2000 and j["size"] == len(blob), j
assert j["sha256"] == hashlib.sha256(blob).hexdigest(), "sha256"
assert j["created"].endswith("Z"), j["created"]
PYEOF
O run --model testnet --suite synthetic --method full --method maxprob:threshold=0.9 \
    --method "linear_exit:threshold=0.9" --method "linear_exit:layer=6" --workers 1 \
    --artifacts "$WORK/art" --db a.sqlite --format json -q --no-tui > a.json 2> a.log \
    || { cat a.log; fail "run with --artifacts"; }
$PY - a.json <<'PYEOF'
import json, sys
cells = {(c["method"], json.dumps(c["params"], sort_keys=True)): c for c in json.load(open(sys.argv[1]))["cells"]}
acc = {k: c["metrics"]["accuracy"] for k, c in cells.items()}
full = acc[("full", "{}")]
own = acc[("maxprob", '{"threshold": "0.9"}')]
lin = cells[("linear_exit", '{"threshold": "0.9"}')]
lin6 = acc[("linear_exit", '{"layer": "6"}')]
for c in cells.values():
    assert c["status"] == "done" and c["n"] == 600, c
print(f"synthetic/dev accuracy: full {full:.2f}, maxprob {own:.2f}, "
      f"linear_exit {lin['metrics']['accuracy']:.2f} (rel FLOPs {lin['rel_flops']:.3f}), "
      f"linear_exit@6 {lin6:.2f}")
assert lin["metrics"]["accuracy"] >= max(own, full) - 1.0, "linear exit heads worse than the model's"
assert lin6 >= full - 1.0, "last-layer fitted head worse than the model's"
assert lin["rel_flops"] < 1.0, "confident rows should exit early"
PYEOF
OFFRAMP_ARTIFACTS="$WORK/art" O run --model testnet --suite synthetic --method linear_exit \
    --limit 50 --workers 1 --db e.sqlite --format json -q --no-tui > e.json 2> e.log \
    || { cat e.log; fail "run with OFFRAMP_ARTIFACTS"; }
grep -q '"status": *"done"' e.json || { cat e.json e.log; fail "OFFRAMP_ARTIFACTS not used"; }

# (b)
for args in "--suite synthetic:dev" "--suite synthetic --split dev" "--suite synthetic --split test"; do
    if O fit --model testnet $args --method linear_exit --out "$WORK/bad" > b.out 2> b.log; then
        fail "fit $args was accepted"
    fi
    grep -q "refusing to fit on synthetic/" b.log || { cat b.log; fail "fit $args: message"; }
done
[ ! -e "$WORK/bad" ] || fail "a refused fit wrote artifacts"

# (c)
O run --model testnet --suite synthetic --method linear_exit --limit 40 --workers 1 \
    --artifacts "$WORK/none" --db c.sqlite --format none -q --no-tui 2> c.log \
    || { cat c.log; fail "run with a missing artifact"; }
$PY - c.sqlite <<'PYEOF'
import sqlite3, sys
status, reason = sqlite3.connect(sys.argv[1]).execute("select status, reason from cells").fetchone()
assert status == "failed", status
want = "offramp fit --model testnet --suite synthetic --method linear_exit"
assert want in reason, reason
print("missing artifact:", reason)
PYEOF
# An artifact fitted on the split being evaluated (synthetic/train) is refused.
O run --model testnet --suite synthetic:train --method linear_exit --limit 40 --workers 1 \
    --artifacts "$WORK/art" --db d.sqlite --format none -q --no-tui 2> d.log \
    || { cat d.log; fail "run on the fitting split"; }
$PY - d.sqlite <<'PYEOF'
import sqlite3, sys
status, reason = sqlite3.connect(sys.argv[1]).execute("select status, reason from cells").fetchone()
assert status == "failed" and "the split this cell evaluates" in reason, (status, reason)
PYEOF
echo "ok: offramp fit + linear_exit on testnet/synthetic"
