#!/usr/bin/env bash
# plans/decoder-compare.yaml through a real coordinator and two workers on
# the first examples: every cell complete (10 methods x 3 suites), per-token exit histograms summing
# to the decision positions (suite stat), and `full` agreeing 100% with the
# full model (and the oracle too, by construction). Skips without stories260K.
. "$(dirname "$0")/lib.sh"
MODELS="$OFR_SOURCE_DIR/models:$OFR_SOURCE_DIR/../shared/models"
DATA="$OFR_SOURCE_DIR/data:$OFR_SOURCE_DIR/../shared/data"
if [ ! -f "$OFR_SOURCE_DIR/models/stories260K/stories260K.bin" ] \
   && [ ! -f "$OFR_SOURCE_DIR/../shared/models/stories260K/stories260K.bin" ]; then
    echo "skip: no stories260K"; exit 77
fi
LIMIT=${LIMIT:-6}
"$OFFRAMP" run "$OFR_SOURCE_DIR/plans/decoder-compare.yaml" --limit "$LIMIT" --workers 2 \
    --db "$WORK/dec.sqlite" --models "$MODELS" --data "$DATA" --plugins "$PLUGINS" \
    --format json -q > "$WORK/dec.json" 2> "$WORK/dec.log" \
    || { cat "$WORK/dec.log"; fail "decoder-compare did not run"; }
$PY - "$WORK/dec.json" "$WORK/dec.sqlite" "$LIMIT" <<'PYEOF' || fail "decoder-compare report"
import json, sqlite3, struct, sys
r = json.load(open(sys.argv[1]))
limit = int(sys.argv[3])
db = sqlite3.connect(sys.argv[2])
ok = True
def err(*a):
    global ok
    ok = False
    print("FAIL:", *a, file=sys.stderr)
cells = r["cells"]
if len(cells) != 3 * 10:
    err("want 30 cells, got", len(cells))
for c in cells:
    m = c["metrics"]
    tag = "%s/%s %s" % (c["suite"], c["method"], c.get("params"))
    if c["n"] != limit:
        err(tag, "n", c["n"])
    hist = c["exit_hist"]
    if len(hist) != 5:
        err(tag, "histogram width", len(hist))
    if c["method"] in ("full", "seq_oracle"):
        if abs(m["full_agreement"] - 100.0) > 1e-9:
            err(tag, "full_agreement", m["full_agreement"])
        if c["suite"] == "tinystories_gen" and abs(m["exact_match"] - 100.0) > 1e-9:
            err(tag, "exact_match", m["exact_match"])
    if c["method"] == "full" and (hist[:4] != [0, 0, 0, 0] or abs(c["rel_flops"] - 1) > 1e-9):
        err(tag, "full: hist", hist, "rel", c["rel_flops"])
    print("ok: %-16s %-10s %-28s %s rel %.3f hist %s" % (c["suite"], c["method"],
          json.dumps(c.get("params")), {k: round(v, 2) for k, v in m.items()},
          c["rel_flops"], hist))
# Skipped layers per record = the pattern's layers per decision token
# (5 layers: every k=2 skips 2 and 4; last/middle n=1 skip one).
per_token = {"every": 2, "last": 1, "middle": 1}
for idx, c in enumerate(cells):
    want = per_token.get(c["params"].get("pattern")) if c["method"] == "layerskip" else 0
    if c["method"] not in ("layerskip", "full"):
        continue
    for sk, tok in db.execute("SELECT skipped, token_exits FROM examples WHERE cell = ?", (idx,)):
        if sk != want * len(tok or b""):
            err(c["method"], c["params"], "skipped", sk, "for", len(tok or b""), "tokens")
            break
# skipdecode skips bottom layers only: every token exits at the last layer,
# and it skips (min_layers 2 < 5) on every record with more than one token.
for idx, c in enumerate(cells):
    if c["method"] != "skipdecode":
        continue
    for sk, tok in db.execute("SELECT skipped, token_exits FROM examples WHERE cell = ?", (idx,)):
        tok = tok or b""
        if any(b != 5 for b in tok) or (len(tok) > 1 and sk <= 0):
            err("skipdecode", c["params"], "skipped", sk, "exits", list(tok))
            break
# Per record: token_exits bytes == decision positions in the stats tail.
n_bad = 0
for ex_stats, tok in db.execute("SELECT stats, token_exits FROM examples"):
    vals = struct.unpack("<%dd" % (len(ex_stats) // 8), ex_stats)
    if int(round(vals[-6])) != len(tok or b"") or any(not 1 <= b <= 5 for b in tok or b""):
        n_bad += 1
if n_bad:
    err(n_bad, "records whose token_exits do not match their positions")
# Per cell (report order = cell index): histogram total == sum of the positions.
for idx, c in enumerate(cells):
    tot = 0
    for (st,) in db.execute("SELECT stats FROM examples WHERE cell = ?", (idx,)):
        tot += int(round(struct.unpack("<%dd" % (len(st) // 8), st)[-6]))
    if sum(c["exit_hist"]) != tot:
        err(c["suite"], c["method"], "histogram sums to", sum(c["exit_hist"]), "positions", tot)
sys.exit(0 if ok else 1)
PYEOF
echo "ok: decoder-compare"
