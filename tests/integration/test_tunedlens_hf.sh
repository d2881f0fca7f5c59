#!/usr/bin/env bash
# Tuned lens on Hugging Face decoders (issue 6): generated GPT-2 and
# GPT-NeoX checkpoints (LayerNorm heads with bias) and a Llama with a
# SentencePiece-style tokenizer.json (tests/ref/gptx_ref.py,
# hf_llama_ref.py) are fitted by `offramp fit` through the generic decoder
# interface (every layer's translation closer to the final state than the
# raw state, an artifact of the model's layers x width), then run through
# coordinator + worker: forced to exit after layer 1 (threshold 0), the
# translated state through the model's own head agrees with the full model
# far better than the raw layer-1 state through it (calm) on GPT-2 / NeoX;
# a threshold never reached gives the full model's text. The head's
# LayerNorm arithmetic itself is checked in test_tunedlens (these random
# models cannot tell it from RMSNorm). Skips without torch.
. "$(dirname "$0")/lib.sh"
$PY -c 'import torch, numpy' 2>/dev/null || { echo "skip: no torch"; exit 77; }
REF="$OFR_SOURCE_DIR/tests/ref"
mkdir -p "$WORK/models"
$PY "$REF/gptx_ref.py" make "$WORK/models/g2h" --family gpt2 --seed 5 --n-positions 128 \
    > /dev/null || fail "make g2h"
$PY "$REF/gptx_ref.py" make "$WORK/models/nxh" --family gpt_neox --seed 6 --n-positions 128 \
    > /dev/null || fail "make nxh"
$PY "$REF/hf_llama_ref.py" make "$WORK/models/spl" --seed 7 --dim 32 --hidden 48 \
    --layers 3 --heads 4 --kv-heads 2 --vocab 300 --max-pos 128 > /dev/null || fail "make spl"
$PY "$REF/gptx_ref.py" sptok "$WORK/models/spl" > /dev/null || fail "sptok"
ART="$WORK/art"
for m in g2h nxh spl; do
    "$OFFRAMP" fit --model $m --suite tinystories_gen --split train --limit 4 \
        --method tunedlens --models "$WORK/models" --plugins "$PLUGINS" --out "$ART" \
        > "$WORK/fit_$m.log" 2>&1 || { cat "$WORK/fit_$m.log"; fail "offramp fit $m"; }
    $PY - "$ART/$m/tunedlens/lens.bin" "$WORK/fit_$m.log" <<'PYEOF' || fail "fit of $m"
import re, struct, sys
magic, L, d = struct.unpack_from("<Iii", open(sys.argv[1], "rb").read(), 0)
assert (magic, L, d) == (0x534e454c, 3, 32), (hex(magic), L, d)
rows = re.findall(r"layer (\d+): mean squared distance to the final state ([\d.e+-]+) raw, ([\d.e+-]+) translated", open(sys.argv[2]).read())
assert len(rows) == 2, rows
for l, raw, lens in rows:
    assert float(lens) < 0.5 * float(raw), (l, raw, lens)
PYEOF
done
# tau 1000 over horizon 1: the threshold is 0 from the second position on.
cat > "$WORK/plan.yaml" <<'PLAN'
name: lens-hf
settings: {batch_size: 1, shard_size: 8, seed: 1}
models: [g2h, nxh, spl]
suites: [tinystories_gen]
methods:
  - {name: calm, params: {lambda: 0.0, tau: 1000, horizon: 1}}
  - {name: tunedlens, params: {lambda: 0.0, tau: 1000, horizon: 1, kv: [copy_up, recompute]}}
  - {name: tunedlens, params: {lambda: 1.0, tau: 0, kv: copy_up}}
PLAN
"$OFFRAMP" run "$WORK/plan.yaml" --limit 16 --workers 1 --db "$WORK/r.sqlite" \
    --models "$WORK/models" --plugins "$PLUGINS" --artifacts "$ART" --format json -q \
    > "$WORK/r.json" 2> "$WORK/r.log" || { cat "$WORK/r.log"; fail "run"; }
$PY - "$WORK/r.json" <<'PYEOF' || { cat "$WORK/r.log"; fail "tuned-lens report"; }
import json, sys
cells = json.load(open(sys.argv[1]))["cells"]
assert len(cells) == 12 and all(c["status"] == "done" and c["n"] == 16 for c in cells), cells
by = {}
for c in cells:
    p = c.get("params") or {}
    by[(c["model"], c["method"], p.get("lambda"), p.get("kv"))] = c
for m in ("g2h", "nxh", "spl"):
    calm = by[(m, "calm", "0.0", None)]["metrics"]["rougeL"]
    never = by[(m, "tunedlens", "1.0", "copy_up")]
    assert never["metrics"]["full_agreement"] == 100, (m, never["metrics"])
    for kv in ("copy_up", "recompute"):
        c = by[(m, "tunedlens", "0.0", kv)]
        r = c["metrics"]["rougeL"]
        print("%s tunedlens kv=%s exit after layer 1: rougeL %.1f (raw head %.1f), rel "
              "FLOPs %.3f" % (m, kv, r, calm, c["rel_flops"]))
        assert abs(c["metrics"]["mean_layers"] - 1) < 1e-9, (m, kv, c["metrics"])
        if m != "spl":   # LayerNorm heads
            assert r > calm + 10, (m, kv, r, calm)
PYEOF
echo "tunedlens hf: ok"
