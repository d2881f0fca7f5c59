#!/usr/bin/env bash
# The seq2seq driver's batching (issue 8): the same cells at batch_size 1
# and 16 through coordinator + workers give, example for example, the same
# output text, the same per-token exit layers and the same FLOPs (full,
# CALM -- exits leave the batch mid-position -- and layer skipping), on
# the shipped Multi30k models (small; hybrid: encoder and decoder widths
# differ) and multi30k_en_de test. With beam 4 the same holds, and `full`
# equals `offramp translate --beam 4` line for line; CALM under beam exits
# per hypothesis (some tokens exit early). A source past the model's
# maximum is truncated with a warning; max_length = translate --max-length;
# bad decoding options fail up front. Skips (77) without the data.
. "$(dirname "$0")/lib.sh"
MODELS="$OFR_SOURCE_DIR/models:$OFR_SOURCE_DIR/../shared/models"
DATA="$OFR_SOURCE_DIR/data:$OFR_SOURCE_DIR/../shared/data"
SRC="$OFR_SOURCE_DIR/../shared/data/translation/multi30k/test_2016_flickr.en"
[ -f "$SRC" ] || { echo "skip: no multi30k test data"; exit 77; }
[ -f "$OFR_SOURCE_DIR/models/mt-multi30k-small/model.bin" ] || { echo "skip: no model"; exit 77; }
N=${S2S_BATCH_N:-48}
export OPENBLAS_NUM_THREADS=1

plan () {   # plan FILE BATCH BEAM_PARAM
    cat > "$1" <<PLAN
name: s2s-batch
settings: {batch_size: $2, shard_size: 24, seed: 1}
models: [mt-multi30k-small, mt-multi30k-hybrid]
suites: [{name: multi30k_en_de, split: test, limit: $N}]
methods:
  - {name: full, params: {$3}}
  - {name: calm, params: {lambda: 0.6, tau: 4, horizon: 64, $3}}
  - {name: layerskip, params: {pattern: every, k: 2, $3}}
PLAN
}
run () {   # run NAME BATCH BEAM_PARAM
    plan "$WORK/$1.yaml" "$2" "$3"
    "$OFFRAMP" run "$WORK/$1.yaml" --workers 2 --db "$WORK/$1.sqlite" --models "$MODELS" \
        --data "$DATA" --plugins "$PLUGINS" --format json -q > "$WORK/$1.json" \
        2> "$WORK/$1.log" || { cat "$WORK/$1.log"; fail "$1 did not run"; }
}
compare () {   # compare A B
$PY - "$WORK/$1.sqlite" "$WORK/$2.sqlite" <<'PYEOF' || fail "$1 vs $2"
import sqlite3, sys
rows = []
for db in sys.argv[1:3]:
    c = sqlite3.connect(db)
    rows.append({(cell, ex): (t, bytes(k or b""), f, ff) for cell, ex, t, k, f, ff in c.execute(
        "SELECT cell, example, pred_text, token_exits, flops, flops_full FROM examples")})
a, b = rows
ok = len(a) == len(b) and len(a) > 0
for key in sorted(a):
    x, y = a[key], b.get(key)
    if y is None or x[0] != y[0] or x[1] != y[1] \
       or abs(x[2] - y[2]) > 1e-9 * x[2] or abs(x[3] - y[3]) > 1e-9 * x[3]:
        ok = False
        print("FAIL: cell %d example %d:\n  %r\n  %r" % (key[0], key[1], x, y), file=sys.stderr)
        break
print("ok: %d records identical" % len(a) if ok else "differ")
sys.exit(0 if ok else 1)
PYEOF
}
run b1 1 ""
run b16 16 ""
compare b1 b16

# Beam 4 (length penalty 0.6): batch 1 = batch 16 as well.
run k1 1 "beam: 4, length_penalty: 0.6"
run k16 16 "beam: 4, length_penalty: 0.6"
compare k1 k16
# `full` at beam 4 = `offramp translate --beam 4` on the model's BPE pieces
# (its output is target pieces, joined here as the driver does).
head -n "$N" "$SRC" > "$WORK/src.en"
for mdl in small hybrid; do
    "$OFR_BUILD_DIR/tests/test_seq2seq_run" bpe "$OFR_SOURCE_DIR/models/mt-multi30k-$mdl/bpe_merges.txt" \
        < "$WORK/src.en" > "$WORK/src.$mdl.bpe" || fail "BPE of the sources"
    "$OFFRAMP" translate --model "$OFR_SOURCE_DIR/models/mt-multi30k-$mdl" --input "$WORK/src.$mdl.bpe" \
        --beam 4 --length-penalty 0.6 --quiet > "$WORK/tr.$mdl" || fail "offramp translate ($mdl)"
done
$PY - "$WORK/k16.sqlite" "$WORK/tr.small" "$WORK/tr.hybrid" "$WORK/b16.sqlite" <<'PYEOF' || fail "beam vs translate"
import re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
def detok(l):   # SentencePiece pieces (U+2581 = space) or subword-nmt "@@"
    l = l.rstrip("\n")
    if "\u2581" in l:
        return "".join(l.split()).replace("\u2581", " ").strip(" ")
    return re.sub(r"@@( |$)", "", l)
want = {c: [detok(l) for l in open(f, encoding="utf-8")]
        for c, f in ((0, sys.argv[2]), (3, sys.argv[3]))}
ok, n = True, 0
for cell, ref in want.items():
    for ex, text in db.execute("SELECT example, pred_text FROM examples WHERE cell = ?", (cell,)):
        n += 1
        if text != ref[ex]:
            ok = False
            print("FAIL: cell %d example %d: %r, translate %r" % (cell, ex, text, ref[ex]), file=sys.stderr)
# CALM decides per hypothesis: some positions exit early; greedy and beam
# differ somewhere (the beam is real).
def early(db, cell):
    return sum(any(b < 2 for b in bytes(t)) for (t,) in db.execute(
        "SELECT token_exits FROM examples WHERE cell = ?", (cell,)))
for calm in (1, 4):
    if not early(db, calm) > 0:
        ok = False
        print("FAIL: cell %d: no early exit under beam" % calm, file=sys.stderr)
g = sqlite3.connect(sys.argv[4])
gt = dict(g.execute("SELECT cell * 100000 + example, pred_text FROM examples"))
bt = dict(db.execute("SELECT cell * 100000 + example, pred_text FROM examples"))
if gt == bt:
    ok = False
    print("FAIL: beam 4 gives the greedy outputs everywhere", file=sys.stderr)
print("ok: %d beam-4 outputs = offramp translate; early exits under beam: %d, %d sentences"
      % (n, early(db, 1), early(db, 4)) if ok else "beam checks failed")
sys.exit(0 if ok else 1)
PYEOF

# A source longer than the model's maximum (1,024 tokens for these
# sinusoidal models) is truncated to it with a warning, not a failed task;
# an empty source gives an empty output; the batch around them is as usual.
mkdir -p "$WORK/data/translation/multi30k"
$PY - "$WORK/data/translation/multi30k" "$SRC" <<'PYEOF'
import sys
d, src = sys.argv[1], open(sys.argv[2], encoding="utf-8").read().split("\n")
en = [src[0], " ".join(["a man"] * 700), "", src[1]]
open(d + "/test_2016_flickr.en", "w", encoding="utf-8").write("\n".join(en) + "\n")
open(d + "/test_2016_flickr.de", "w", encoding="utf-8").write("\n".join(["x"] * len(en)) + "\n")
PYEOF
"$OFFRAMP" run --model mt-multi30k-small --suite multi30k_en_de:test --method full \
    --workers 1 --db "$WORK/long.sqlite" --models "$MODELS" --data "$WORK/data" \
    --plugins "$PLUGINS" --format json -q > "$WORK/long.json" 2> "$WORK/long.log" \
    || { cat "$WORK/long.log"; fail "a long source failed the run"; }
grep -q "longer than the model's maximum of 1024 tokens truncated to it (the longest: example 1, 1400 tokens)" \
    "$WORK/long.log" || { cat "$WORK/long.log"; fail "no truncation warning"; }
got=$(sqlite3 "$WORK/long.sqlite" "SELECT example || ':' || (length(pred_text) > 0) FROM examples ORDER BY example" | tr '\n' ' ')
[ "$got" = "0:1 1:1 2:0 3:1 " ] || fail "long/empty source outputs: $got"
got=$(sqlite3 "$WORK/b1.sqlite" "SELECT pred_text FROM examples WHERE cell = 0 AND example = 1")
want=$(sqlite3 "$WORK/long.sqlite" "SELECT pred_text FROM examples WHERE example = 3")
[ "$got" = "$want" ] || fail "the sentence after a long one: '$want', alone '$got'"
echo "ok: a 1,400-token source truncated to 1,024 (warning), an empty one empty"

# max_length bounds the decoding steps (as `offramp translate --max-length`).
"$OFFRAMP" run --model mt-multi30k-small --suite multi30k_en_de:test --limit 12 \
    --method 'full:max_length=4' --method 'full:max_length=4,beam=3' --workers 1 \
    --db "$WORK/ml.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
    --format json -q > "$WORK/ml.json" 2> "$WORK/ml.log" || { cat "$WORK/ml.log"; fail "max_length run"; }
head -n 12 "$WORK/src.small.bpe" > "$WORK/ml.bpe"
for k in 1 3; do
    "$OFFRAMP" translate --model "$OFR_SOURCE_DIR/models/mt-multi30k-small" --input "$WORK/ml.bpe" \
        --beam $k --max-length 4 --quiet > "$WORK/ml.pieces$k" || fail "translate --max-length"
    $PY -c '
import re, sys
for l in open(sys.argv[1], encoding="utf-8"):
    l = l.rstrip("\n")
    print("".join(l.split()).replace("\u2581", " ").strip(" ") if "\u2581" in l
          else re.sub(r"@@( |$)", "", l))' "$WORK/ml.pieces$k" > "$WORK/ml.tr$k"
done
for c in 0 1; do
    k=$([ $c = 0 ] && echo 1 || echo 3)
    sqlite3 "$WORK/ml.sqlite" "SELECT pred_text FROM examples WHERE cell = $c ORDER BY example" > "$WORK/ml.got$c"
    cmp -s "$WORK/ml.got$c" "$WORK/ml.tr$k" || { diff "$WORK/ml.got$c" "$WORK/ml.tr$k" | head; fail "max_length=4 beam $k"; }
    n=$(sqlite3 "$WORK/ml.sqlite" "SELECT max(length(token_exits)) FROM examples WHERE cell = $c")
    [ "$n" = 4 ] || fail "max_length=4: $n positions"
done
echo "ok: max_length=4 (greedy, beam 3) = offramp translate --max-length 4"

# Bad decoding options fail the run up front, naming the option.
for bad in "full:beam=0|beam=0: want an integer 1..64" \
           "calm:length_penalty=x|length_penalty=x: want a number 0..10" \
           "full:max_length=300|max_length=300: want an integer 1..256"; do
    m=${bad%%|*}; want=${bad#*|}
    if "$OFFRAMP" run --model mt-multi30k-small --suite multi30k_en_de:test --limit 2 --method "$m" \
        --workers 1 --db "$WORK/bad.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
        -q > /dev/null 2> "$WORK/bad.log"; then fail "$m was accepted"; fi
    grep -qF "$want" "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "$m: no '$want'"; }
    rm -f "$WORK/bad.sqlite"*
done
echo "ok: bad beam / length_penalty / max_length refused"
