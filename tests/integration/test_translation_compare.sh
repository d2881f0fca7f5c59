#!/usr/bin/env bash
# plans/translation-compare.yaml through a real coordinator and two workers
# on ct2-aren-transliteration (the seq2seq driver): every cell complete;
# `full` reproduces CTranslate2's known outputs (a t z m o n, a c h i s o n,
# a z z a: exact match 100) with every token exiting at layer 6 and
# rel_flops 1; every record's token_exits has one entry per output token
# plus the EOS step, each in 1..6, and each cell's exit histogram sums to
# its tokens; layer skipping costs less than the full model; CALM never
# runs more layers than the full model. Also the same through the flags
# (--model/--suite/--method). Skips without ../shared's model.
. "$(dirname "$0")/lib.sh"
MODELS="$OFR_SOURCE_DIR/models:$OFR_SOURCE_DIR/../shared/models"
DATA="$OFR_SOURCE_DIR/data:$OFR_SOURCE_DIR/../shared/data"
if [ ! -f "$OFR_SOURCE_DIR/../shared/models/ct2-aren-transliteration/model.bin" ] \
   && [ ! -f "$OFR_SOURCE_DIR/models/ct2-aren-transliteration/model.bin" ]; then
    echo "skip: no ct2-aren-transliteration"; exit 77
fi
check () {   # check JSON SQLITE N_CELLS
$PY - "$1" "$2" "$3" <<'PYEOF'
import json, sqlite3, sys
r = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
ok = True
def err(*a):
    global ok
    ok = False
    print("FAIL:", *a, file=sys.stderr)
cells = r["cells"]
if len(cells) != int(sys.argv[3]):
    err("want", sys.argv[3], "cells, got", len(cells))
known = {0: "a t z m o n", 1: "a c h i s o n", 2: "a z z a"}
for idx, c in enumerate(cells):
    m = c["metrics"]
    tag = "%s %s" % (c["method"], json.dumps(c.get("params")))
    if c["n"] != 3:
        err(tag, "n", c["n"])
    hist = c["exit_hist"]
    if len(hist) != 6:
        err(tag, "histogram width", len(hist))
    tokens, wall = 0, 0.0
    for ex, text, tok, fl, ff, w in db.execute(
            "SELECT example, pred_text, token_exits, flops, flops_full, wall_ms "
            "FROM examples WHERE cell = ?", (idx,)):
        tok = tok or b""
        n_out = len(text.split()) if text else 0
        if len(tok) != n_out + 1 and len(tok) != 256:
            err(tag, "example", ex, "token_exits", len(tok), "for", n_out, "output tokens")
        if any(not 1 <= b <= 6 for b in tok):
            err(tag, "example", ex, "exit layers", list(tok))
        if c["method"] == "full":
            if text != known[ex]:
                err(tag, "example", ex, "output %r, want %r" % (text, known[ex]))
            if fl != ff:
                err(tag, "example", ex, "flops", fl, "full", ff)
        tokens += len(tok)
        wall += w
    if sum(hist) != tokens:
        err(tag, "histogram sums to", sum(hist), "tokens", tokens)
    if c["method"] == "full":
        if abs(m["exact_match"] - 100) > 1e-9 or abs(m["chrf"] - 100) > 1e-9:
            err(tag, "exact_match", m["exact_match"], "chrf", m["chrf"])
        if hist[:5] != [0] * 5 or abs(c["rel_flops"] - 1) > 1e-12:
            err(tag, "hist", hist, "rel", c["rel_flops"])
    if c["method"] == "layerskip" and not c["rel_flops"] < 1:
        err(tag, "layer skipping rel_flops", c["rel_flops"])
    print("ok: %-9s %-48s exact %6.2f chrf %6.2f rel_flops %.3f tokens %d tok/s %.0f hist %s"
          % (c["method"], json.dumps(c.get("params")), m["exact_match"], m["chrf"],
             c["rel_flops"], tokens, tokens / (wall / 1000) if wall > 0 else 0, hist))
sys.exit(0 if ok else 1)
PYEOF
}
"$OFFRAMP" run "$OFR_SOURCE_DIR/plans/translation-compare.yaml" --workers 2 \
    --db "$WORK/tr.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
    --format json -q > "$WORK/tr.json" 2> "$WORK/tr.log" \
    || { cat "$WORK/tr.log"; fail "translation-compare did not run"; }
check "$WORK/tr.json" "$WORK/tr.sqlite" 7 || fail "translation-compare report"
"$OFFRAMP" run --model ct2-aren-transliteration --suite aren_translit --method full \
    --method 'calm:lambda=0.5|0.9' --method 'layerskip:pattern=every,k=3' --workers 2 \
    --db "$WORK/flags.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
    --format json -q > "$WORK/flags.json" 2> "$WORK/flags.log" \
    || { cat "$WORK/flags.log"; fail "offramp run with flags did not run"; }
check "$WORK/flags.json" "$WORK/flags.sqlite" 4 || fail "flags report"
echo "ok: translation-compare"
