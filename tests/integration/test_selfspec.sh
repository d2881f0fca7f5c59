#!/usr/bin/env bash
# plans/decoder-spec.yaml through a real coordinator and a worker on the
# first examples: self-speculative cells reproduce the full model exactly
# (tinystories_gen exact match and agreement 100%, every token exits at
# the last layer) and report an acceptance rate; on a scoring suite they
# cost what the full model costs; CALM runs under all three KV policies;
# tuned-lens exits (fitted here on the train openings) beat CALM's raw
# head at the same threshold.
# Skips without stories260K.
. "$(dirname "$0")/lib.sh"
MODELS="$OFR_SOURCE_DIR/models:$OFR_SOURCE_DIR/../shared/models"
DATA="$OFR_SOURCE_DIR/data:$OFR_SOURCE_DIR/../shared/data"
if [ ! -f "$OFR_SOURCE_DIR/models/stories260K/stories260K.bin" ] \
   && [ ! -f "$OFR_SOURCE_DIR/../shared/models/stories260K/stories260K.bin" ]; then
    echo "skip: no stories260K"; exit 77
fi
LIMIT=${LIMIT:-2}
[ "$OFR_ASAN" = 1 ] && LIMIT=1   # 44 cells; each example costs ~10x under ASan
"$OFFRAMP" fit --model stories260K --suite tinystories_gen --split train --method tunedlens \
    --models "$MODELS" --plugins "$PLUGINS" --out "$WORK/art" > "$WORK/fit.log" 2>&1 \
    || { cat "$WORK/fit.log"; fail "offramp fit tunedlens"; }
"$OFFRAMP" run "$OFR_SOURCE_DIR/plans/decoder-spec.yaml" --limit "$LIMIT" --workers 1 \
    --db "$WORK/spec.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
    --artifacts "$WORK/art" \
    --format json -q > "$WORK/spec.json" 2> "$WORK/spec.log" \
    || { cat "$WORK/spec.log"; fail "decoder-spec did not run"; }
$PY - "$WORK/spec.json" "$LIMIT" <<'PYEOF' || fail "decoder-spec report"
import json, sys
r = json.load(open(sys.argv[1]))
limit = int(sys.argv[2])
ok = True
def err(*a):
    global ok
    ok = False
    print("FAIL:", *a, file=sys.stderr)
cells = r["cells"]
if len(cells) != 2 * (1 + 6 + 9 + 6):
    err("want 44 cells, got", len(cells))
seen = set()
for c in cells:
    m, p = c["metrics"], c.get("params") or {}
    tag = "%s/%s %s" % (c["suite"], c["method"], p)
    if c["n"] != limit or c["status"] != "done":
        err(tag, "n", c["n"], c["status"])
    if c["method"] == "selfspec":
        hist = c["exit_hist"]
        if abs(m["full_agreement"] - 100) > 1e-9 or hist[:4] != [0, 0, 0, 0]:
            err(tag, "agreement", m["full_agreement"], "hist", hist)
        if c["suite"] == "tinystories_gen":
            if abs(m["exact_match"] - 100) > 1e-9 or not 0 <= m.get("accept_rate", -1) <= 100:
                err(tag, "exact", m["exact_match"], "accept", m.get("accept_rate"))
            if c["rel_flops"] <= 0:
                err(tag, "rel_flops", c["rel_flops"])
        elif abs(c["rel_flops"] - 1) > 1e-9:
            err(tag, "scoring at full depth: rel", c["rel_flops"])
    if c["method"] == "calm":
        seen.add(p.get("kv"))
    if c["method"] == "tunedlens" and c["suite"] == "tinystories_gen":
        calm = [d for d in cells if d["method"] == "calm" and d["suite"] == c["suite"]
                and d["params"]["lambda"] == p["lambda"] and d["params"]["kv"] == p["kv"]]
        if calm and m["rougeL"] <= calm[0]["metrics"]["rougeL"]:
            err(tag, "translated exits no better than the raw head", m["rougeL"])
    print("ok: %-16s %-9s %-32s rel %.3f %s" % (c["suite"], c["method"], json.dumps(p),
          c["rel_flops"], {k: round(v, 2) for k, v in m.items()}))
if seen != {"copy_up", "recompute", "mask"}:
    err("kv policies seen", seen)
sys.exit(0 if ok else 1)
PYEOF
echo "decoder-spec: ok"
