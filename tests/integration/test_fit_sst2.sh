#!/usr/bin/env bash
# (d) real data: fit linear_exit heads on the first 4000 examples of SST-2
# train ([CLS] states of the frozen shipped encoder models/glue-sst2-multiexit)
# and compare them, layer by layer on SST-2 dev, with the model's own trained
# exit heads (truncate:layer=k). Skipped without ../shared (train split).
. "$(dirname "$0")/lib.sh"
SRC=${OFR_SOURCE_DIR:?}
SHARED="$SRC/../shared/data"
if [ ! -f "$SHARED/glue/sst2/train.tsv" ]; then
    echo "SKIP: $SHARED/glue/sst2/train.tsv not found (needs ../shared)"
    exit 77
fi
cd "$WORK"
MODELS="$SRC/models"
DATA="$SRC/data:$SHARED"
"$OFFRAMP" fit --model glue-sst2-multiexit --suite sst2 --method linear_exit --limit 4000 \
    --models "$MODELS" --data "$DATA" --out "$WORK/art" > fit.out 2> fit.log \
    || { cat fit.log; fail "fit on sst2/train"; }
grep -q '"split_desc": "sst2/train\[0:4000\]"' "$WORK/art/glue-sst2-multiexit/linear_exit/heads.json" \
    || fail "sidecar split_desc"
"$OFFRAMP" run --model glue-sst2-multiexit --suite sst2 --method "truncate:layer=1|2|3|4|5|6" \
    --method "linear_exit:layer=1|2|3|4|5|6" --method maxprob:threshold=0.9 \
    --method linear_exit:threshold=0.9 --workers 2 --threads 1 --models "$MODELS" \
    --data "$DATA" --artifacts "$WORK/art" --db s.sqlite --format json -q --no-tui \
    > s.json 2> s.log || { cat s.log; fail "run on sst2/dev"; }
$PY - s.json <<'PYEOF'
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
acc = {(c["method"], tuple(sorted(c["params"].items()))): c for c in cells}
for c in cells:
    assert c["status"] == "done" and c["n"] == 872, c
print("SST-2 dev accuracy per layer: model's own head vs fitted linear head ([CLS], 4000 train)")
worst = 0.0
for k in range(1, 7):
    own = acc[("truncate", (("layer", str(k)),))]["metrics"]["accuracy"]
    lin = acc[("linear_exit", (("layer", str(k)),))]["metrics"]["accuracy"]
    worst = max(worst, own - lin)
    print(f"  layer {k}: own {own:6.2f}   linear_exit {lin:6.2f}")
mp = acc[("maxprob", (("threshold", "0.9"),))]
lx = acc[("linear_exit", (("threshold", "0.9"),))]
print(f"  threshold 0.9: maxprob {mp['metrics']['accuracy']:.2f} at rel FLOPs {mp['rel_flops']:.3f}, "
      f"linear_exit {lx['metrics']['accuracy']:.2f} at rel FLOPs {lx['rel_flops']:.3f}")
assert worst <= 3.0, f"a fitted head is {worst:.2f} points below the model's"
assert lx["metrics"]["accuracy"] > 75 and lx["rel_flops"] < 0.8, lx
PYEOF
echo "ok: linear_exit on SST-2"
