#!/usr/bin/env bash
# The shipped plan files run end to end (their methods and parameters exist,
# their models and data are found), on the first examples of each suite.
. "$(dirname "$0")/lib.sh"
for plan in "$OFR_SOURCE_DIR"/plans/*.yaml; do
    name=$(basename "$plan" .yaml)
    "$OFFRAMP" run "$plan" --limit 40 --workers 2 --db "$WORK/$name.sqlite" \
        --models "$OFR_SOURCE_DIR/models" --data "$OFR_SOURCE_DIR/data" \
        --format json -q > "$WORK/$name.json" 2> "$WORK/$name.log" \
        || { cat "$WORK/$name.log"; fail "plan $name did not run"; }
    $PY - "$WORK/$name.json" "$name" <<'PYEOF' || fail "plan $(basename "$plan")"
import json, sys
r = json.load(open(sys.argv[1]))
bad = [c for c in r["cells"] if c["n"] != 40 or not c["metrics"]]
for c in bad:
    print("cell", c["method"], c["params"], "n", c["n"], file=sys.stderr)
print("ok: %s: %d cells of 40 examples" % (sys.argv[2], len(r["cells"])))
sys.exit(1 if bad or not r["cells"] else 0)
PYEOF
done
