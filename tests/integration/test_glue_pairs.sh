#!/usr/bin/env bash
# Sentence-pair checkpoints through the C runtime: the shipped MRPC and RTE
# multi-exit encoders (recipes/pretrain_mlm.py + train_glue.py --init) on
# their full dev splits. Every exit (truncate:layer=k) and the PALBERT /
# BERxiT / JEI rules at 0.5 must give the metrics and mean exit layers of
# the python3-torch reference recipes/eval_reference.py on the same files
# (pair tokenisation, [SEP] and segment ids, longest-first truncation);
# and the full model must beat the dev majority class. Skipped without the
# models, ../shared or python3-torch.
. "$(dirname "$0")/lib.sh"
SRC=${OFR_SOURCE_DIR:?}
SHARED="$SRC/../shared/data"
if ! $PY -c "import torch" 2>/dev/null; then echo "SKIP: no python3-torch"; exit 77; fi
for t in mrpc rte; do
    if [ ! -f "$SRC/models/glue-$t-multiexit/model.safetensors" ]; then
        echo "SKIP: models/glue-$t-multiexit not found (recipes/logs/README.md)"; exit 77
    fi
    if [ ! -f "$SHARED/glue/$t/dev.tsv" ]; then
        echo "SKIP: $SHARED/glue/$t/dev.tsv not found (needs ../shared)"; exit 77
    fi
done
cd "$WORK"
METHODS=(--method "truncate:layer=1|2|3|4|5|6" --method palbert:q=0.5
         --method berxit:threshold=0.5 --method jei:threshold=0.5)
# Under ASan the full model and one learned rule (the pair path and a
# component head) are enough for the memory checks.
[ "$OFR_ASAN" = 1 ] && METHODS=(--method truncate:layer=6 --method palbert:q=0.5)
for t in mrpc rte; do
    "$OFFRAMP" run --model "glue-$t-multiexit" --suite "$t" "${METHODS[@]}" \
        --workers 1 --threads 1 --models "$SRC/models" --data "$SRC/data:$SHARED" \
        --db "$t.sqlite" --format json -q --no-tui > "$t.json" 2> "$t.log" \
        || { cat "$t.log"; fail "run glue-$t-multiexit on $t/dev"; }
    $PY - "$t.json" "$t" "$SRC" "$SHARED/glue" <<'PYEOF' || fail "glue-$t-multiexit: C vs torch"
import json, os, sys
import torch
cells = json.load(open(sys.argv[1]))["cells"]
task, src, data = sys.argv[2], sys.argv[3], sys.argv[4]
sys.path.insert(0, os.path.join(src, "recipes"))
import eval_reference as er
torch.set_num_threads(1)
cfg, T, vocab = er.load_dir(os.path.join(src, "models", "glue-%s-multiexit" % task))
enc, gold = er.encode_split(cfg, vocab, data, task, "dev")
hs, logits = er.run(cfg, T, enc)
ref = {("truncate", str(i + 1)): (er.metrics(task, er.predictions(task, lg), gold), float(i + 1))
       for i, lg in enumerate(logits)}
names = {"palbert Q-exit q=0.5": "palbert", "berxit certainty>=0.5": "berxit", "jei gate>=0.5": "jei"}
for name, (layer, out) in er.method_rules(cfg, T, hs, False).items():
    ref[(names[name], None)] = (er.metrics(task, er.predictions(task, out), gold),
                                layer.float().mean().item() + 1)
n, bad = len(gold), 0
for c in cells:
    assert c["status"] == "done" and c["n"] == n, c
    key = (c["method"], c["params"].get("layer"))
    m, mean_layer = ref[key]
    for k, v in m.items():
        # one example of slack: a logit tie at float precision may flip
        ok = abs(c["metrics"][k] - 100 * v) <= 100.0 / n + 1e-6
        bad += not ok
        print("%-8s %-5s %-8s C %6.2f torch %6.2f %s" % (key[0], key[1] or "", k, c["metrics"][k],
              100 * v, "" if ok else "MISMATCH"))
    if abs(c["mean_exit_layer"] - mean_layer) > 1.0 / n + 1e-6:
        bad += 1
        print("  mean exit layer C %.4f torch %.4f MISMATCH" % (c["mean_exit_layer"], mean_layer))
majority = 100 * max(sum(gold), n - sum(gold)) / n
full = [c for c in cells if c["method"] == "truncate" and c["params"]["layer"] == "6"][0]
print("%s dev: full model accuracy %.2f, majority class %.2f" % (task, full["metrics"]["accuracy"], majority))
assert full["metrics"]["accuracy"] > majority, "full model not above the majority class"
sys.exit(1 if bad else 0)
PYEOF
done
echo "ok: glue pairs (C = torch on mrpc and rte dev)"
