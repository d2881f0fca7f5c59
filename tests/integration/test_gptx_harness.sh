#!/usr/bin/env bash
# Hugging Face decoders through the harness driver (coordinator + a worker):
# generated GPT-2 and GPT-NeoX checkpoints (byte-level BPE tokenizer.json)
# and a Llama with a SentencePiece-style BPE tokenizer.json
# (tests/ref/gptx_ref.py, hf_llama_ref.py), on tinystories_gen and
# truthfulqa_mc1 (a two-question mc_task.json written here), with full,
# calm and layerskip: every cell complete, `full` agreeing 100% with the
# full model, calm at threshold 0 (exits after the first layer, K/V copied
# up) and layerskip (every 2nd layer of 3) charging less than the full
# model. Skips without /usr/bin/python3 + torch.
. "$(dirname "$0")/lib.sh"
$PY -c 'import torch, numpy' 2>/dev/null || { echo "skip: no torch"; exit 77; }
REF="$OFR_SOURCE_DIR/tests/ref"
mkdir -p "$WORK/models" "$WORK/data/truthfulqa"
$PY "$REF/gptx_ref.py" make "$WORK/models/g2h" --family gpt2 --seed 5 --n-positions 128 \
    > /dev/null || fail "make g2h"
$PY "$REF/gptx_ref.py" make "$WORK/models/nxh" --family gpt_neox --seed 6 --n-positions 128 \
    > /dev/null || fail "make nxh"
$PY "$REF/hf_llama_ref.py" make "$WORK/models/spl" --seed 7 --dim 32 --hidden 48 \
    --layers 3 --heads 4 --kv-heads 2 --vocab 300 --max-pos 128 > /dev/null || fail "make spl"
$PY "$REF/gptx_ref.py" sptok "$WORK/models/spl" > /dev/null || fail "sptok"
cat > "$WORK/data/truthfulqa/mc_task.json" <<'JSON'
[{"question": "What is the cat on?",
  "mc1_targets": {"The cat is on the mat.": 1, "The cat is in the tree.": 0},
  "mc2_targets": {"The cat is on the mat.": 1, "The cat is in the tree.": 0}},
 {"question": "Is the sky green?",
  "mc1_targets": {"No, it is not.": 1, "Yes.": 0, "It is on a cat.": 0},
  "mc2_targets": {"No, it is not.": 1, "Yes.": 0}}]
JSON
cat > "$WORK/plan.yaml" <<'PLAN'
name: gptx-harness
settings: {batch_size: 1, shard_size: 2, seed: 1}
models: [g2h, nxh, spl]
suites: [tinystories_gen, truthfulqa_mc1]
methods:
  - full
  - {name: calm, params: {lambda: 0.0, tau: 4, horizon: 64}}
  - {name: layerskip, params: {pattern: every, k: 2}}
PLAN
"$OFFRAMP" run "$WORK/plan.yaml" --limit 2 --workers 1 --db "$WORK/g.sqlite" \
    --models "$WORK/models" --data "$WORK/data" --plugins "$PLUGINS" --format json -q \
    > "$WORK/g.json" 2> "$WORK/g.log" || { cat "$WORK/g.log"; fail "plan did not run"; }
$PY - "$WORK/g.json" <<'PYEOF' || { cat "$WORK/g.log"; fail "report"; }
import json, sys
r = json.load(open(sys.argv[1]))
cells = r["cells"]
ok = len(cells) == 3 * 2 * 3
if not ok:
    print("FAIL: want 18 cells, got", len(cells))
for c in cells:
    tag = "%s %s %s" % (c["model"], c["suite"], c["method"])
    m = c["metrics"]
    bad = c["n"] != 2
    if c["method"] == "full":
        bad |= abs(m["full_agreement"] - 100) > 1e-9 or abs(c["rel_flops"] - 1) > 1e-9
    if c["method"] == "calm":     # threshold 0: every token exits early
        bad |= not (c["rel_flops"] < 1 and m["mean_layers"] < 3)
    if c["method"] == "layerskip":
        bad |= not c["rel_flops"] < 1
    print("%s: %-28s n %d rel %.3f %s" % ("FAIL" if bad else "ok", tag, c["n"],
          c["rel_flops"], {k: round(v, 2) for k, v in m.items()}))
    ok &= not bad
sys.exit(0 if ok else 1)
PYEOF
echo "gptx harness ok"
