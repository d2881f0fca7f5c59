#!/usr/bin/env bash
# CURVE (issue 9): with keys, a worker whose public key is not on the
# allowlist and a plaintext worker are refused and logged on both sides;
# the run still completes with the allowed workers and its report equals a
# local run's. Also: key files and the results file are 0600, local workers
# of a CURVE coordinator get a throwaway key (file removed afterwards),
# allowlist errors name FILE:LINE, and a non-loopback --bind without keys
# refuses to start (CURVE is the default there) unless --insecure.
. "$(dirname "$0")/lib.sh"
write_plan "$WORK/plan.yaml" 10 80

"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/one.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/one.log" || { cat "$WORK/one.log"; fail "single-worker run"; }
report_json "$WORK/one.sqlite" > "$WORK/one.json"

K="$WORK/keys"
"$OFFRAMP" keygen --dir "$K" coordinator w1 w2 evil > "$WORK/keygen.out" 2> "$WORK/keygen.log" \
    || { cat "$WORK/keygen.log"; fail "keygen"; }
[ "$(wc -l < "$WORK/keygen.out")" = 4 ] || fail "keygen prints one line per key"
for f in "$K"/*.key "$K"/*.pub; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f: mode $(stat -c %a "$f"), expected 600"
done
[ "$(stat -c %a "$K")" = 700 ] || fail "$K: mode $(stat -c %a "$K"), expected 700"
"$OFFRAMP" keygen --dir "$K" w1 2> "$WORK/keygen2.log" && fail "keygen overwrote w1.key"
grep -q -- "--force" "$WORK/keygen2.log" || fail "keygen refusal does not mention --force"
{ echo "# workers allowed to join"; cat "$K/w1.pub" "$K/w2.pub"; } > "$K/allowlist"

# Allowlist errors: FILE:LINE.
printf '%s\nnot-a-key bad\n' "$(grep -v '^#' "$K/w1.pub")" > "$WORK/bad-allow"
"$OFFRAMP" run "$WORK/plan.yaml" --bind "tcp://127.0.0.1:$(free_port)" --keys "$K" \
    --allow "$WORK/bad-allow" --db "$WORK/bad.sqlite" --plugins "$PLUGINS" --format none -q \
    2> "$WORK/bad.log" && fail "a bad allowlist was accepted"
grep -q "bad-allow:2:" "$WORK/bad.log" || { cat "$WORK/bad.log"; fail "no FILE:LINE in the allowlist error"; }

# Default on: a non-loopback bind without keys does not start. (The check
# happens before anything binds; no traffic.)
mkdir -m 700 "$WORK/nokeys"
OFFRAMP_KEYS="$WORK/nokeys" "$OFFRAMP" run "$WORK/plan.yaml" --bind "tcp://10.200.0.1:5555" \
    --db "$WORK/nokeys.sqlite" --plugins "$PLUGINS" --format none -q 2> "$WORK/nokeys.log" \
    && fail "non-loopback bind without keys started"
grep -q "offramp keygen" "$WORK/nokeys.log" && grep -q -- "--insecure" "$WORK/nokeys.log" \
    || { cat "$WORK/nokeys.log"; fail "missing-keys error does not say what to do"; }
# ... and a worker refuses to send plaintext to a non-loopback address.
"$OFFRAMP" worker --connect "tcp://10.200.0.1:5555" --plugins "$PLUGINS" 2> "$WORK/wnokey.log" \
    && fail "worker connected in plaintext to a non-loopback address"
grep -q -- "--server-key" "$WORK/wnokey.log" || { cat "$WORK/wnokey.log"; fail "worker error"; }

port=$(free_port)
EP="tcp://127.0.0.1:$port"
for w in w1 w2; do
    "$OFFRAMP" worker --connect "$EP" --name "$w" --key "$K/$w.key" \
        --server-key "$K/coordinator.pub" --plugins "$PLUGINS" 2> "$WORK/$w.log" &
    PIDS+=($!)
done
"$OFFRAMP" worker --connect "$EP" --name evil --key "$K/evil.key" \
    --server-key "$K/coordinator.pub" --plugins "$PLUGINS" 2> "$WORK/evil.log" &
evil=$!; PIDS+=($evil)
"$OFFRAMP" worker --connect "$EP" --name plain --plugins "$PLUGINS" 2> "$WORK/plain.log" &
plain=$!; PIDS+=($plain)
"$OFFRAMP" run "$WORK/plan.yaml" --bind "$EP" --keys "$K" --db "$WORK/curve.sqlite" \
    --plugins "$PLUGINS" --format none -q 2> "$WORK/coord.log" &
coord=$!; PIDS+=($coord)
wait $coord || { cat "$WORK/coord.log"; fail "CURVE run"; }
echo "CURVE run done"
grep -q "CURVE on" "$WORK/coord.log" || fail "coordinator did not turn CURVE on"
report_json "$WORK/curve.sqlite" > "$WORK/curve.json"
same_reports "$WORK/one.json" "$WORK/curve.json" "local run vs CURVE run"
check_complete "$WORK/curve.sqlite" || fail "CURVE run incomplete"
[ "$(stat -c %a "$WORK/curve.sqlite")" = 600 ] || fail "results file not 0600"

# The refused workers exit with an error saying why; the coordinator logged both.
for p in $evil $plain; do
    for _ in $(seq 100); do kill -0 $p 2>/dev/null || break; sleep 0.1; done
    kill -0 $p 2>/dev/null && { cat "$WORK/evil.log" "$WORK/plain.log"; fail "a refused worker is still running"; }
done
wait $evil && fail "the unknown-key worker exited 0"
wait $plain && fail "the plaintext worker exited 0"
grep -q "refused this worker: authentication refused" "$WORK/evil.log" \
    || { cat "$WORK/evil.log"; fail "unknown-key worker does not say it was refused"; }
grep -Eq "refused this worker: (security mechanism mismatch|handshake failed)" "$WORK/plain.log" \
    || { cat "$WORK/plain.log"; fail "plaintext worker does not say it was refused"; }
evil_pub=$(grep -v '^#' "$K/evil.pub" | cut -d' ' -f1)
grep -qF "public key $evil_pub is not on the allowlist" "$WORK/coord.log" \
    || { cat "$WORK/coord.log"; fail "coordinator did not log the unknown key"; }
# (Which side notices the mismatch first is a race: the other sees a
# handshake cut short.)
grep -Eq "refused a connection: (security mechanism mismatch|handshake failed)" "$WORK/coord.log" \
    || { cat "$WORK/coord.log"; fail "coordinator did not log the plaintext client"; }
n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from examples where worker not in ('w1','w2')\").fetchone()[0])" "$WORK/curve.sqlite")
[ "$n" = 0 ] || fail "$n examples from workers that should have been refused"
for w in w1 w2; do
    n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from examples where worker='$w'\").fetchone()[0])" "$WORK/curve.sqlite")
    [ "$n" -gt 0 ] || fail "allowed worker $w did no work"
done

# Local workers of a CURVE coordinator: a throwaway key pair, removed after.
TMPDIR="$WORK" "$OFFRAMP" run "$WORK/plan.yaml" --bind "tcp://127.0.0.1:$(free_port)" \
    --keys "$K" --workers 2 --db "$WORK/localcurve.sqlite" --plugins "$PLUGINS" --format none \
    -q 2> "$WORK/localcurve.log" || { cat "$WORK/localcurve.log"; fail "CURVE run with local workers"; }
report_json "$WORK/localcurve.sqlite" > "$WORK/localcurve.json"
same_reports "$WORK/one.json" "$WORK/localcurve.json" "local run vs CURVE local workers"
ls "$WORK"/offramp-*-local.key 2>/dev/null && fail "local workers' key file left behind"
echo "ok: refused unknown-key and plaintext workers, run completed with the allowed ones"
