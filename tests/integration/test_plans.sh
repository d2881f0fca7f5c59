#!/usr/bin/env bash
# The shipped plan files run end to end (their methods and parameters exist,
# their models and data are found on the default paths: the project's models/
# and data/, then ../shared), on the first examples of each suite. A plan
# with its own integration test is left to it.
. "$(dirname "$0")/lib.sh"
LIMIT=10
[ "$OFR_ASAN" = 1 ] && LIMIT=4   # every plan still runs every cell
for plan in "$OFR_SOURCE_DIR"/plans/*.yaml; do
    name=$(basename "$plan" .yaml)
    if [ "$name" = translation-compare ] \
       || [ "$name" = decoder-spec ]; then   # it_translation_compare (3-example suite), it_selfspec
        echo "skip: $name has its own test"
        continue
    fi
    if grep -q "mt-multi30k" "$plan" && [ ! -f "$OFR_SOURCE_DIR/models/mt-multi30k-hybrid/model.bin" ]; then
        echo "skip: $name needs models/mt-multi30k-* (recipes/train_mt.py)"
        continue
    fi
    if grep -q "stories260K\|truthfulqa" "$plan" && [ ! -d "$OFR_SOURCE_DIR/../shared/models/stories260K" ]; then
        echo "skip: $name needs ../shared (stories260K, TruthfulQA)"
        continue
    fi
    "$OFFRAMP" run "$plan" --limit $LIMIT --workers 2 --db "$WORK/$name.sqlite" \
        --format json -q > "$WORK/$name.json" 2> "$WORK/$name.log" \
        || { cat "$WORK/$name.log"; fail "plan $name did not run"; }
    $PY - "$WORK/$name.json" "$name" "$LIMIT" <<'PYEOF' || fail "plan $(basename "$plan")"
import json, sys
r = json.load(open(sys.argv[1]))
limit = int(sys.argv[3])
bad = [c for c in r["cells"] if c["n"] != limit or not c["metrics"]]
for c in bad:
    print("cell", c["method"], c["params"], "n", c["n"], file=sys.stderr)
print("ok: %s: %d cells of %d examples" % (sys.argv[2], len(r["cells"]), limit))
sys.exit(1 if bad or not r["cells"] else 0)
PYEOF
done
