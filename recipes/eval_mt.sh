#!/bin/sh
# Score an exported Multi30k model directory with offramp's own scorer, from
# the C runtime's greedy output and from torch's greedy decode of the same
# model.bin (recipes/mt_eval_torch.py), and count identical lines.
#   sh recipes/eval_mt.sh models/mt-multi30k-large [build-mtr] [OUTDIR]
# Writes OUTDIR/{c,torch}.{val,test_2016_flickr}.de and OUTDIR/eval.txt.
set -eu
M=$1
B=${2:-build-mtr}
O=${3:-/tmp/eval-$(basename "$M")}
D=${OFFRAMP_MT_DATA:-/work/shared/data/translation/multi30k}
PY=/usr/bin/python3
MAXLEN=100
mkdir -p "$O"
: > "$O/eval.txt"
for split in val test_2016_flickr; do
    case $split in val) s=val ;; *) s=test ;; esac
    python3 recipes/mt_bpe.py encode "$M" < "$D/$split.en" > "$O/src.$split.bpe"
    "$B/offramp" translate --model "$M" --input "$O/src.$split.bpe" --beam 1 --max-length $MAXLEN \
        --output "$O/c.$split.bpe" 2>> "$O/eval.txt"
    python3 recipes/mt_bpe.py decode < "$O/c.$split.bpe" > "$O/c.$split.de"
    OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} $PY recipes/mt_eval_torch.py "$M" $split \
        "$O/torch.$split.de" --max-length $MAXLEN --threads 1 >> "$O/eval.txt"
    for who in c torch; do
        echo "== $who $split" >> "$O/eval.txt"
        "$B/offramp" score --suite multi30k_en_de --split $s --hyp "$O/$who.$split.de" \
            | grep -E '^(BLEU|chrF2)' >> "$O/eval.txt"
    done
    n=$(wc -l < "$O/c.$split.de")
    same=$(paste -d '\t' "$O/c.$split.de" "$O/torch.$split.de" | awk -F '\t' '$1 == $2' | wc -l)
    echo "== $split: C and torch identical on $same / $n lines" >> "$O/eval.txt"
done
cat "$O/eval.txt"
