#!/usr/bin/env bash
# Tuned-lens exits on stories260K: `offramp fit` fits the per-layer maps on
# the train openings of tinystories_gen (the artifact records that split;
# the dev split is refused), and on the first dev examples the translated
# exits agree with the full model far better than the raw head's at the
# same threshold (CALM), every cell complete; without the artifact the
# cell fails naming the fit to run. Skips without stories260K.
. "$(dirname "$0")/lib.sh"
MODELS="$OFR_SOURCE_DIR/models:$OFR_SOURCE_DIR/../shared/models"
if [ ! -f "$OFR_SOURCE_DIR/models/stories260K/stories260K.bin" ] \
   && [ ! -f "$OFR_SOURCE_DIR/../shared/models/stories260K/stories260K.bin" ]; then
    echo "skip: no stories260K"; exit 77
fi
ART="$WORK/art"
if "$OFFRAMP" fit --model stories260K --suite tinystories_gen --split dev --method tunedlens \
       --models "$MODELS" --plugins "$PLUGINS" --out "$ART" > "$WORK/dev.log" 2>&1; then
    fail "fitting on the dev split was accepted"
fi
grep -q "refusing to fit on tinystories_gen/dev" "$WORK/dev.log" || { cat "$WORK/dev.log"; fail "dev refusal message"; }
"$OFFRAMP" fit --model stories260K --suite tinystories_gen --split train --method tunedlens \
    --models "$MODELS" --plugins "$PLUGINS" --out "$ART" > "$WORK/fit.log" 2>&1 \
    || { cat "$WORK/fit.log"; fail "offramp fit"; }
SIDE="$ART/stories260K/tunedlens/lens.json"
$PY - "$SIDE" "$WORK/fit.log" <<'PYEOF' || fail "artifact sidecar / fit log"
import json, re, sys
s = json.load(open(sys.argv[1]))
assert s["split"] == "train" and s["split_desc"].startswith("tinystories_gen/train["), s
# Each layer's translated state is closer to the final state than the raw one.
rows = re.findall(r"layer (\d+): mean squared distance to the final state ([\d.e+-]+) raw, ([\d.e+-]+) translated", open(sys.argv[2]).read())
assert len(rows) == 4, rows
for l, raw, lens in rows:
    assert float(lens) < float(raw), (l, raw, lens)
PYEOF
cat > "$WORK/plan.yaml" <<PLAN
name: lens
settings: {batch_size: 1, shard_size: 8, seed: 1}
models: [stories260K]
suites: [tinystories_gen]
methods:
  - {name: calm, params: {lambda: 0.9}}
  - {name: tunedlens, params: {lambda: 0.9, kv: [copy_up, recompute]}}
PLAN
"$OFFRAMP" run "$WORK/plan.yaml" --limit 8 --workers 1 --db "$WORK/lens.sqlite" \
    --models "$MODELS" --plugins "$PLUGINS" --artifacts "$ART" --format json -q \
    > "$WORK/lens.json" 2> "$WORK/lens.log" || { cat "$WORK/lens.log"; fail "run"; }
$PY - "$WORK/lens.json" <<'PYEOF' || fail "tuned-lens report"
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
by = {(c["method"], (c.get("params") or {}).get("kv")): c for c in cells}
calm = by[("calm", None)]["metrics"]["rougeL"]
for kv in ("copy_up", "recompute"):
    c = by[("tunedlens", kv)]
    assert c["n"] == 8 and c["status"] == "done", c
    r = c["metrics"]["rougeL"]
    print("tunedlens kv=%s rougeL %.1f (calm %.1f), rel FLOPs %.3f, mean layers %.2f"
          % (kv, r, calm, c["rel_flops"], c["metrics"]["mean_layers"]))
    assert r > calm + 10, (kv, r, calm)
PYEOF
# No artifact: the cell fails and says what to fit.
"$OFFRAMP" run "$WORK/plan.yaml" --limit 2 --workers 1 --db "$WORK/none.sqlite" \
    --models "$MODELS" --plugins "$PLUGINS" --artifacts "$WORK/empty" --format json -q \
    > "$WORK/none.json" 2> "$WORK/none.log" || true
grep -q "needs fitted artifacts.*offramp fit --model stories260K" "$WORK/none.log" || { cat "$WORK/none.log"; fail "missing artifact message"; }
echo "tunedlens: ok"
