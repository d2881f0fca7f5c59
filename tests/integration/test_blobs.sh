#!/usr/bin/env bash
# Blob service (protocol 1.2): a worker with no plugins, models or data of
# its own (and an empty cache) fetches them from the coordinator by hash and
# produces the report of a local run; a second run is served from the cache;
# a corrupted cache file is detected and fetched again; fitted artifacts
# are fetched too.
. "$(dirname "$0")/lib.sh"
SRC=${OFR_SOURCE_DIR:?}
MODELS="$SRC/models"
DATA="$SRC/data"
CACHE="$WORK/cache"
[ -f "$MODELS/glue-sst2-multiexit/model.safetensors" ] && [ -f "$DATA/glue/sst2/dev.tsv" ] \
    || { echo "SKIP: glue-sst2-multiexit or data/glue/sst2 missing"; exit 0; }
write_plan "$WORK/plan.yaml" 1 40
SST=(--model glue-sst2-multiexit --suite sst2 --limit 32 --method full
     --method truncate:layer=2)

# Local reference runs (the coordinator's own workers, shared paths).
"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/ref-plan.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/ref-plan.log" || { cat "$WORK/ref-plan.log"; fail "local plan run"; }
report_json "$WORK/ref-plan.sqlite" > "$WORK/ref-plan.json"
"$OFFRAMP" run "${SST[@]}" --workers 1 --db "$WORK/ref-sst.sqlite" --plugins "$PLUGINS" \
    --models "$MODELS" --data "$DATA" --format none -q 2> "$WORK/ref-sst.log" \
    || { cat "$WORK/ref-sst.log"; fail "local sst2 run"; }
report_json "$WORK/ref-sst.sqlite" > "$WORK/ref-sst.json"

# remote_run NAME ARGS...: coordinator on 127.0.0.1 + one fetching worker
# with empty paths; logs in NAME-coord.log / NAME-worker.log.
remote_run () {
    local name=$1; shift
    local port; port=$(free_port)
    "$OFFRAMP" worker --connect "tcp://127.0.0.1:$port" --name "fetch-$name" \
        --plugins /nonexistent --models /nonexistent --data /nonexistent \
        --artifacts /nonexistent --fetch --cache "$CACHE" 2> "$WORK/$name-worker.log" &
    local wpid=$!; PIDS+=($wpid)
    "$OFFRAMP" run "$@" --bind "tcp://127.0.0.1:$port" --db "$WORK/$name.sqlite" \
        --plugins "$PLUGINS" --models "$MODELS" --data "$DATA" --format none -q \
        2> "$WORK/$name-coord.log" &
    local cpid=$!; PIDS+=($cpid)
    wait $cpid || { tail -n 30 "$WORK/$name-coord.log" "$WORK/$name-worker.log"; fail "$name: run"; }
    wait $wpid || true
    report_json "$WORK/$name.sqlite" > "$WORK/$name.json"
    check_complete "$WORK/$name.sqlite" || fail "$name: incomplete"
    $PY -c "import json,sys; c=json.load(open(sys.argv[1]))['cells']; sys.exit(0 if c and all(x['status']=='done' for x in c) else 1)" \
        "$WORK/$name.json" || fail "$name: some cell did not finish"
    n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from examples where worker='fetch-$name'\").fetchone()[0])" "$WORK/$name.sqlite")
    [ "$n" -gt 0 ] || fail "$name: the fetching worker did no work"
}
gets () { grep -c "blob_get " "$1" || true; }

# 1. Empty cache: everything is fetched.
remote_run plan1 "$WORK/plan.yaml"
same_reports "$WORK/ref-plan.json" "$WORK/plan1.json" "synthetic plan: local vs fetched"
[ "$(gets "$WORK/plan1-coord.log")" -ge 2 ] || fail "plan1: expected blob_get of the plugins"
grep -q "sha256 .* verified" "$WORK/plan1-worker.log" || fail "plan1: no verified fetch logged"
remote_run sst1 "${SST[@]}"
same_reports "$WORK/ref-sst.json" "$WORK/sst1.json" "sst2: local vs fetched"
grep -q "blob_get .*model.safetensors" "$WORK/sst1-coord.log" || fail "sst1: model not fetched"
grep -q "blob_get .*dev.tsv" "$WORK/sst1-coord.log" || fail "sst1: data not fetched"
echo "ok: empty worker fetched plugins, model and data; reports identical"

# 2. Warm cache: no blob_get at all.
remote_run sst2 "${SST[@]}"
same_reports "$WORK/ref-sst.json" "$WORK/sst2.json" "sst2: cached run"
[ "$(gets "$WORK/sst2-coord.log")" -eq 0 ] || { grep "blob_get " "$WORK/sst2-coord.log"; fail "sst2: cached hashes fetched again"; }
remote_run plan2 "$WORK/plan.yaml"
[ "$(gets "$WORK/plan2-coord.log")" -eq 0 ] || fail "plan2: cached hashes fetched again"
echo "ok: second runs served from the cache"

# 3. A corrupted cache file is detected and fetched again (only that one).
vocab=$(sha256sum "$MODELS/glue-sst2-multiexit/vocab.txt" | cut -d' ' -f1)
[ -f "$CACHE/blobs/$vocab" ] || fail "vocab.txt not in the cache as blobs/$vocab"
printf 'corrupt' | dd of="$CACHE/blobs/$vocab" bs=1 seek=100 conv=notrunc 2> /dev/null
remote_run sst3 "${SST[@]}"
same_reports "$WORK/ref-sst.json" "$WORK/sst3.json" "sst2: after corruption"
grep -q "cached blob $vocab .*corrupt" "$WORK/sst3-worker.log" || fail "sst3: corruption not detected"
[ "$(gets "$WORK/sst3-coord.log")" -eq 1 ] || { grep "blob_get " "$WORK/sst3-coord.log"; fail "sst3: expected exactly one re-fetch"; }
grep -q "blob_get $vocab" "$WORK/sst3-coord.log" || fail "sst3: vocab.txt not re-fetched"
[ "$(sha256sum "$CACHE/blobs/$vocab" | cut -d' ' -f1)" = "$vocab" ] || fail "sst3: cache not repaired"
echo "ok: corrupted cache file detected and re-fetched"

# 4. Fitted artifacts (offramp fit on testnet/synthetic) are fetched as well.
"$OFFRAMP" fit --model testnet --suite synthetic --method linear_exit --out "$WORK/art" \
    > "$WORK/fit.out" 2> "$WORK/fit.log" || { cat "$WORK/fit.log"; fail "fit"; }
FIT=(--model testnet --suite synthetic --limit 60 --method linear_exit:threshold=0.9
     --artifacts "$WORK/art")
"$OFFRAMP" run "${FIT[@]}" --workers 1 --db "$WORK/ref-fit.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/ref-fit.log" || { cat "$WORK/ref-fit.log"; fail "local fit run"; }
report_json "$WORK/ref-fit.sqlite" > "$WORK/ref-fit.json"
remote_run fit1 "${FIT[@]}"
same_reports "$WORK/ref-fit.json" "$WORK/fit1.json" "fitted method: local vs fetched"
grep -q "blob_get .*linear_exit/heads.bin" "$WORK/fit1-coord.log" || fail "fit1: artifact not fetched"
echo "ok: fitted artifacts fetched"
