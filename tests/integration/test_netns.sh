#!/usr/bin/env bash
# Multi-host without Slurm (issue 9): the coordinator and two workers each
# in their own network namespace (separate network stacks), joined by veth
# pairs to a bridge in the coordinator's namespace. The addresses
# 10.200.0.0/24 exist only inside namespaces this test creates and removes;
# nothing is sent anywhere else. The coordinator binds 10.200.0.1, so CURVE
# is on by default: two allowed workers finish the run with the report of a
# local run, a plaintext (--insecure) worker is refused.
# Skips (77) where namespaces cannot be created (not root, no CAP_NET_ADMIN).
. "$(dirname "$0")/lib.sh"

tag=$$
NSC="ofr-c-$tag"; NS1="ofr-w1-$tag"; NS2="ofr-w2-$tag"
netns_cleanup () {
    for ns in "$NSC" "$NS1" "$NS2"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'cleanup; netns_cleanup' EXIT
skip () { echo "SKIP: $*"; exit 77; }

command -v ip > /dev/null || skip "no ip(8) (iproute2)"
ip netns add "$NSC" 2> "$WORK/ns.err" || skip "cannot create network namespaces: $(cat "$WORK/ns.err")"
ip netns add "$NS1" && ip netns add "$NS2" || skip "cannot create network namespaces"
# Interface names are per namespace: created inside them, they cannot
# clash with the host's or another run's.
ip -n "$NSC" link add br0 type bridge 2> "$WORK/ns.err" || skip "no bridge support: $(cat "$WORK/ns.err")"
ip -n "$NSC" addr add 10.200.0.1/24 dev br0
ip -n "$NSC" link set br0 up
ip -n "$NSC" link set lo up
i=2
for ns in "$NS1" "$NS2"; do
    ip -n "$NSC" link add "v$i" type veth peer name eth0 netns "$ns" \
        || skip "cannot create veth pairs"
    ip -n "$NSC" link set "v$i" master br0 up
    ip -n "$ns" addr add "10.200.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    i=$((i + 1))
done
# The stacks really are separate: a worker namespace has only lo and eth0,
# and reaches the coordinator only through the veth.
[ "$(ip -n "$NS1" -o link show | wc -l)" = 2 ] || fail "worker namespace has extra links"
if command -v ping > /dev/null; then
    ip netns exec "$NS1" ping -c 1 -W 2 10.200.0.1 > /dev/null \
        || skip "veth link does not pass traffic here"
fi

write_plan "$WORK/plan.yaml" 10 80
"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/one.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/one.log" || { cat "$WORK/one.log"; fail "local run"; }
report_json "$WORK/one.sqlite" > "$WORK/one.json"

K="$WORK/keys"
"$OFFRAMP" keygen --dir "$K" coordinator w1 w2 > /dev/null 2>&1 || fail "keygen"
cat "$K/w1.pub" "$K/w2.pub" > "$K/allowlist"
EP="tcp://10.200.0.1:5555"

# Without keys the coordinator refuses to serve a non-loopback address.
ip netns exec "$NSC" env OFFRAMP_KEYS="$WORK/none" "$OFFRAMP" run "$WORK/plan.yaml" --bind "$EP" \
    --db "$WORK/nokeys.sqlite" --plugins "$PLUGINS" --format none -q 2> "$WORK/nokeys.log" \
    && fail "coordinator served $EP without keys"

w=1
for ns in "$NS1" "$NS2"; do
    ip netns exec "$ns" "$OFFRAMP" worker --connect "$EP" --name "ns-w$w" --key "$K/w$w.key" \
        --server-key "$K/coordinator.pub" --plugins "$PLUGINS" 2> "$WORK/w$w.log" &
    PIDS+=($!)
    w=$((w + 1))
done
ip netns exec "$NS2" "$OFFRAMP" worker --connect "$EP" --name plain --insecure \
    --plugins "$PLUGINS" 2> "$WORK/plain.log" &
plain=$!; PIDS+=($plain)
ip netns exec "$NSC" "$OFFRAMP" run "$WORK/plan.yaml" --bind "$EP" --keys "$K" \
    --db "$WORK/ns.sqlite" --plugins "$PLUGINS" --format none -q 2> "$WORK/coord.log" &
coord=$!; PIDS+=($coord)
wait $coord || { cat "$WORK/coord.log"; fail "namespaced run"; }
grep -q "CURVE on" "$WORK/coord.log" || fail "CURVE was not on by default for $EP"
report_json "$WORK/ns.sqlite" > "$WORK/ns.json"
same_reports "$WORK/one.json" "$WORK/ns.json" "local run vs workers in other namespaces"
check_complete "$WORK/ns.sqlite" || fail "namespaced run incomplete"
for w in 1 2; do
    n=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from examples where worker='ns-w$w'\").fetchone()[0])" "$WORK/ns.sqlite")
    [ "$n" -gt 0 ] || fail "worker ns-w$w (namespace $w) did no work"
done
for _ in $(seq 100); do kill -0 $plain 2>/dev/null || break; sleep 0.1; done
kill -0 $plain 2>/dev/null && { cat "$WORK/plain.log"; fail "the plaintext worker is still running"; }
wait $plain && fail "plaintext worker was not refused"
grep -q "refused this worker" "$WORK/plain.log" || { cat "$WORK/plain.log"; fail "plaintext worker log"; }
echo "ok: coordinator and workers in separate namespaces, CURVE by default, same report"
