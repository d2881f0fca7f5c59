#!/usr/bin/env bash
# The Multi30k model layouts (docs/TRANSLATION.md) through the seq2seq
# driver, against torch: tests/ref/mt_hybrid_ref.py exports a tiny
# random-weight hybrid (encoder 32 wide -> hybrid/projection -> decoder 16
# wide) and a plain model with recipes/train_mt.py's exporter, and decodes
# the first multi30k test lines greedily in torch. Here: the C BPE gives
# recipes/mt_bpe.py's pieces on 4,028 Multi30k lines; `full` through
# coordinator + worker gives torch's detokenised outputs exactly, with
# flops == flops_full; CALM and layer skipping run (token exit histograms
# sum to the tokens; layer skipping costs less). Skips without torch.
. "$(dirname "$0")/lib.sh"
DATA="$OFR_SOURCE_DIR/data:$OFR_SOURCE_DIR/../shared/data"
if [ ! -f "$OFR_SOURCE_DIR/../shared/data/translation/multi30k/val.en" ]; then
    echo "skip: no ../shared multi30k"; exit 77
fi
if ! $PY -c "import torch" 2>/dev/null; then echo "skip: no python3-torch"; exit 77; fi
N=6
$PY "$OFR_SOURCE_DIR/tests/ref/mt_hybrid_ref.py" "$WORK/ref" $N > "$WORK/ref.log" 2>&1 \
    || { cat "$WORK/ref.log"; fail "reference"; }
"$OFR_BUILD_DIR/tests/test_seq2seq_run" bpe "$WORK/ref/hybrid/bpe_merges.txt" \
    < "$WORK/ref/bpe.txt" > "$WORK/c.pieces" || fail "C BPE"
cmp -s "$WORK/c.pieces" "$WORK/ref/bpe.pieces" \
    || { diff "$WORK/c.pieces" "$WORK/ref/bpe.pieces" | head; fail "BPE pieces differ"; }
echo "ok: BPE pieces of $(wc -l < "$WORK/c.pieces") lines"
for mdl in hybrid plain; do
    "$OFFRAMP" run --model "$WORK/ref/$mdl" --suite multi30k_en_de:test --limit $N \
        --method full --method 'calm:lambda=0.5' --method 'layerskip:pattern=every,k=2' \
        --workers 1 --db "$WORK/$mdl.sqlite" --data "$DATA" --plugins "$PLUGINS" \
        --format json -q > "$WORK/$mdl.json" 2> "$WORK/$mdl.log" \
        || { cat "$WORK/$mdl.log"; fail "$mdl did not run"; }
    $PY - "$WORK/$mdl.json" "$WORK/$mdl.sqlite" "$WORK/ref/$mdl.de" $N $mdl <<'PYEOF' || fail "$mdl"
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
ref = open(sys.argv[3], encoding="utf-8").read().split("\n")
n, ok = int(sys.argv[4]), True
def err(*a):
    global ok
    ok = False
    print("FAIL:", *a, file=sys.stderr)
for idx, c in enumerate(r["cells"]):
    if c["n"] != n:
        err(c["method"], "n", c["n"])
    tokens = 0
    for ex, text, tok, fl, ff in db.execute("SELECT example, pred_text, token_exits, flops, "
                                            "flops_full FROM examples WHERE cell = ?", (idx,)):
        tokens += len(tok or b"")
        if any(not 1 <= b <= 3 for b in tok or b""):
            err(c["method"], ex, "exit layers")
        if c["method"] == "full" and (text != ref[ex] or fl != ff):
            err("full", ex, "output %r, torch %r" % (text[:60], ref[ex][:60]))
    if sum(c["exit_hist"]) != tokens:
        err(c["method"], "histogram", sum(c["exit_hist"]), "tokens", tokens)
    if c["method"] == "layerskip" and not c["rel_flops"] < 1:
        err("layerskip rel_flops", c["rel_flops"])
    print("ok: %s %-9s rel_flops %.3f tokens %d hist %s" % (sys.argv[5], c["method"],
          c["rel_flops"], tokens, c["exit_hist"]))
sys.exit(0 if ok else 1)
PYEOF
done
echo "ok: mt layouts"
