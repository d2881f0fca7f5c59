#!/usr/bin/env bash
# (e) a plugin built for another ABI is refused with a clear message naming
# the file, and a run that asks for it stops before starting.
. "$(dirname "$0")/lib.sh"
BAD="$OFR_BUILD_DIR/tests/badplugins"
[ -d "$BAD" ] || fail "no bad plugins built in $BAD"
"$OFFRAMP" plugins --path "$BAD" > "$WORK/out.txt" 2> "$WORK/err.txt" || true
grep -E "wrong_major\.so.*ABI|ABI.*wrong_major\.so" "$WORK/err.txt" \
    || { cat "$WORK/err.txt"; fail "no rejection message naming wrong_major.so"; }
grep -E "newer_minor\.so" "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "newer minor accepted"; }
if "$OFFRAMP" run --model testnet --suite synthetic --method wrong_major --limit 10 \
       --plugins "$BAD" --db "$WORK/r.sqlite" 2> "$WORK/run.txt"; then
    fail "run with a refused plugin succeeded"
fi
grep -q "method 'wrong_major': no such plugin" "$WORK/run.txt" || { cat "$WORK/run.txt"; fail "unclear run error"; }
echo "ok: refused:"; grep -E "wrong_major|newer_minor" "$WORK/err.txt" | head -2
