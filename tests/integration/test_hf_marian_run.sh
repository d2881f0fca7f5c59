#!/usr/bin/env bash
# Generated Hugging Face Marian and T5 checkpoints (tests/ref/hf_marian_ref.py:
# config.json, model.safetensors, vocab.json, source.spm; hf_t5_ref.py with
# tokenizer.json, gated-gelu, relative position biases) through the model
# registry, a real coordinator + worker and the seq2seq driver on 4
# multi30k_en_de test sentences (raw text -> source.spm / tokenizer.json
# pieces -> ids): full, CALM and static layer skipping all complete; every
# record has token exits, each in 1..3; full costs rel_flops 1 and exits at
# layer 3; layer skipping
# costs less. A checkpoint whose max_position_embeddings is shorter than
# the pieces of a sentence gets it truncated, with a warning. Skips (77)
# without ../shared's Multi30k test set.
. "$(dirname "$0")/lib.sh"
DATA="$OFR_SOURCE_DIR/../shared/data"
[ -f "$DATA/translation/multi30k/test_2016_flickr.en" ] || { echo "skip: no multi30k"; exit 77; }
mkdir -p "$WORK/models"
python3 "$OFR_SOURCE_DIR/tests/ref/hf_marian_ref.py" make "$WORK/models/tiny-marian" --seed 3 \
    --max-pos 512
python3 "$OFR_SOURCE_DIR/tests/ref/hf_marian_ref.py" make "$WORK/models/short-marian" --seed 3 \
    --max-pos 8
python3 "$OFR_SOURCE_DIR/tests/ref/hf_t5_ref.py" make "$WORK/models/tiny-t5" --seed 2 \
    --ff gated-gelu
export OPENBLAS_NUM_THREADS=1
for M in tiny-marian tiny-t5; do
"$OFFRAMP" run --model $M --suite multi30k_en_de:test --limit 4 --method full \
    --method 'calm:lambda=0.5' --method 'layerskip:pattern=every,k=2' --workers 1 \
    --db "$WORK/$M.sqlite" --models "$WORK/models" --data "$DATA" --plugins "$PLUGINS" \
    --format json -q > "$WORK/$M.json" 2> "$WORK/$M.log" \
    || { cat "$WORK/$M.log"; fail "offramp run on $M"; }
$PY - "$WORK/$M.json" "$WORK/$M.sqlite" <<'PYEOF' || fail "$M report"
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
ok = True
def err(*a):
    global ok
    ok = False
    print("FAIL:", *a, file=sys.stderr)
cells = r["cells"]
if [c["method"] for c in cells] != ["full", "calm", "layerskip"]:
    err("cells", [c["method"] for c in cells])
for idx, c in enumerate(cells):
    if c["n"] != 4:
        err(c["method"], "n", c["n"])
    rows = list(db.execute("SELECT example, pred_text, token_exits FROM examples WHERE cell = ?",
                           (idx,)))
    if len(rows) != 4:
        err(c["method"], "rows", len(rows))
    for ex, text, tok in rows:
        tok = tok or b""
        n_out = len(text.split()) if text else 0
        if not tok or any(not 1 <= b <= 3 for b in tok):
            err(c["method"], ex, "token exits", list(tok))
        if c["method"] == "full" and any(b != 3 for b in tok):
            err("full exits before layer 3", ex)
    print("ok: %-9s rel_flops %.3f hist %s" % (c["method"], c["rel_flops"], c["exit_hist"]))
if abs(cells[0]["rel_flops"] - 1) > 1e-12:
    err("full rel_flops", cells[0]["rel_flops"])
if not cells[2]["rel_flops"] < 1:
    err("layerskip rel_flops", cells[2]["rel_flops"])
sys.exit(0 if ok else 1)
PYEOF
done
# The driver truncates a source past max_position_embeddings (8 = 7 pieces
# + </s>), as CTranslate2 and HF's tokenizer do, and says so.
"$OFFRAMP" run --model short-marian --suite multi30k_en_de:test --limit 1 --method full \
    --workers 1 --db "$WORK/s.sqlite" --models "$WORK/models" --data "$DATA" \
    --plugins "$PLUGINS" -q > "$WORK/s.out" 2> "$WORK/s.log" \
    || { cat "$WORK/s.out" "$WORK/s.log"; fail "short-marian did not run"; }
grep -q "longer than the model's maximum of 7 tokens truncated" "$WORK/s.log" \
    || { cat "$WORK/s.out" "$WORK/s.log"; fail "short-marian: no truncation warning"; }
echo "ok: hf marian run"
