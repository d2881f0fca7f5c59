#!/usr/bin/env bash
# ESPNet + CamVid through the real harness path: `offramp import` of the
# published checkpoint, then coordinator + local workers on 6 test images.
# (a) 2 workers, shards of 2 images, batches of 2 and (b) 1 worker, one
# shard give identical reports (the confusion matrices are pooled, never
# averaged), and (c) the mIoU equals the standalone evaluator's on the same
# images. Skips (77) without ../shared, python3-torch, or while the
# registries do not list the camvid suite / ESPNet models yet.
. "$(dirname "$0")/lib.sh"
SRC=${OFR_SOURCE_DIR:?}
PTH="$SRC/../shared/models/espnet-camvid/espnet_p_2_q_8_camvid.pth"
DATA="$SRC/../shared/data"
skip () { echo "SKIP: $*"; exit 77; }
[ -f "$PTH" ] && [ -d "$DATA/segmentation/camvid" ] || skip "$PTH or $DATA/segmentation/camvid is absent"
$PY -c "import torch, numpy" 2>/dev/null || skip "$PY with torch and numpy is not available"
"$OFFRAMP" suites --data "$DATA" 2>/dev/null | grep -q '^camvid ' \
    || skip "the camvid suite is not registered (suites/registry.c)"

"$OFFRAMP" import "$PTH" --arch espnet-p2q8 --out "$WORK/models/espnet-camvid" \
    > "$WORK/import.log" 2>&1 || { cat "$WORK/import.log"; fail "offramp import"; }

write_espnet_plan () {   # FILE SHARD_SIZE
    cat > "$1" <<PLAN
name: it-espnet
settings: {batch_size: 2, shard_size: $2, seed: 1}
models: [espnet-camvid]
suites: [{name: camvid, split: test, limit: 6}]
methods: [full]
PLAN
}
write_espnet_plan "$WORK/sharded.yaml" 2
write_espnet_plan "$WORK/whole.yaml" 6
for r in sharded:2 whole:1; do
    name=${r%%:*}; workers=${r##*:}
    "$OFFRAMP" run "$WORK/$name.yaml" --workers "$workers" --threads 1 --db "$WORK/$name.sqlite" \
        --models "$WORK/models" --data "$DATA" --plugins "$PLUGINS" --format none -q \
        2> "$WORK/$name.log" || { cat "$WORK/$name.log"; fail "$name run"; }
    report_json "$WORK/$name.sqlite" > "$WORK/$name.json"
done
same_reports "$WORK/sharded.json" "$WORK/whole.json" "3 shards on 2 workers vs 1 shard"
miou=$($PY -c "import json,sys; print('%.2f' % json.load(open(sys.argv[1]))['cells'][0]['metrics']['miou'])" "$WORK/sharded.json")
n=$($PY -c "import json,sys; print(json.load(open(sys.argv[1]))['cells'][0]['n'])" "$WORK/sharded.json")
[ "$n" = 6 ] || fail "$n examples scored, expected 6"
"$OFR_BUILD_DIR/espnet_camvid_eval" --model "$WORK/models/espnet-camvid" \
    --data "$DATA/segmentation/camvid" --limit 6 > "$WORK/eval.txt" || fail "espnet_camvid_eval"
want=$(sed -n 's/^mIoU (classes 0..10) \([0-9.]*\).*/\1/p' "$WORK/eval.txt")
[ "$miou" = "$want" ] || fail "harness mIoU $miou, standalone evaluator $want"
echo "ok: 6 CamVid images through coordinator + workers, mIoU $miou (standalone $want), identical whatever the sharding"
