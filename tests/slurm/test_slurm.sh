#!/usr/bin/env bash
# `offramp run --slurm` on a real single-node Slurm: this test starts its own
# slurmctld and slurmd (and munged if auth/none is not available) on this
# machine from a private slurm.conf in a temp dir (SLURM_CONF; the system's
# Slurm configuration is never read or written), submits a plan with the
# coordinator bound to 127.0.0.1, waits for the job, and compares the report
# with a local run of the same plan. Everything it started is stopped and
# its temp dir removed on exit, failure included. docs/SLURM.md.
# Skips (77) unless root with slurm-wlm (and munge) installed.
. "$(dirname "$0")/../integration/lib.sh"

skip () { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "the single-node Slurm needs root (slurmd runs the job)"
for c in slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$c" > /dev/null || skip "$c not found: install slurm-wlm (make deps-test)"
done
PLUGDIR=
for d in /usr/lib/x86_64-linux-gnu/slurm-wlm /usr/lib/*/slurm-wlm /usr/lib64/slurm /usr/lib/slurm; do
    [ -e "$d/select_linear.so" ] && { PLUGDIR=$d; break; }
done
[ -n "$PLUGDIR" ] || skip "no Slurm plugin directory found"
# auth/none (Slurm <= 23.02) needs no daemon; OFR_SLURM_AUTH=munge forces munge.
AUTH=${OFR_SLURM_AUTH:-none}
[ "$AUTH" = none ] && [ ! -e "$PLUGDIR/auth_none.so" ] && AUTH=munge
if [ "$AUTH" = munge ]; then
    command -v munged > /dev/null || skip "munged not found: install munge (make deps-test)"
fi

# A job started from inside another Slurm job must not see its variables.
for v in $(compgen -v SLURM_ || true); do unset "$v"; done
S=$WORK/slurm
mkdir -p "$S/state" "$S/spool" "$S/log"
chmod 0700 "$S"
export SLURM_CONF=$S/slurm.conf
H=$(hostname -s)
DAEMONS=()

# Stop what this test started: its jobs, then every process that carries
# this test's SLURM_CONF (the daemons, slurmstepd, the job's workers),
# then munged; lib.sh's cleanup removes $WORK.
slurm_down () {
    local rc=$?
    trap - EXIT
    set +e
    if [ -e "$SLURM_CONF" ] && [ ${#DAEMONS[@]} -gt 0 ]; then
        timeout 10 scancel --full --quiet --user root > /dev/null 2>&1
    fi
    # From here on no process this shell starts carries SLURM_CONF, so the
    # scan below finds only the cluster's processes.
    export -n SLURM_CONF
    local conf=$SLURM_CONF
    ours () {
        local p
        for p in /proc/[0-9]*; do
            [ "${p#/proc/}" = "$$" ] && continue
            { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$conf" \
                && echo "${p#/proc/}"
        done
    }
    local pids
    pids="${DAEMONS[*]:-} $(ours)"
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 50); do
        local alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.2
    done
    for p in $pids $(ours); do kill -KILL "$p" 2>/dev/null; done
    if [ -n "${MUNGED_PID:-}" ]; then
        kill -TERM "$MUNGED_PID" 2>/dev/null
        for _ in $(seq 25); do kill -0 "$MUNGED_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$MUNGED_PID" 2>/dev/null
    fi
    if [ $rc != 0 ] && [ $rc != 77 ]; then
        for f in "$S"/log/*.log; do
            [ -e "$f" ] && { echo "--- $f (tail)"; tail -15 "$f"; }
        done >&2
    fi
    cleanup
    exit $rc
}
trap slurm_down EXIT

port_ctld=$(free_port)
port_d=$(free_port)
[ "$port_ctld" != "$port_d" ] || port_d=$(free_port)
mem_mb=$(( $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 / 2 ))

if [ "$AUTH" = munge ]; then
    dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$S/munge.key"
    munged --force --foreground --socket="$S/munge.socket" --key-file="$S/munge.key" \
        --pid-file="$S/munged.pid" --log-file="$S/log/munged.log" \
        --seed-file="$S/munged.seed" 2> "$S/log/munged.err" &
    MUNGED_PID=$!
    for _ in $(seq 50); do [ -S "$S/munge.socket" ] && break; sleep 0.1; done
    [ -S "$S/munge.socket" ] || { cat "$S/log/munged.err" >&2; fail "munged did not start"; }
    AUTH_LINES="AuthType=auth/munge
AuthInfo=socket=$S/munge.socket
CredType=cred/munge"
else
    AUTH_LINES="AuthType=auth/none
CredType=cred/none"
fi

cat > "$SLURM_CONF" <<CONF
# Private single-node cluster of tests/slurm/test_slurm.sh (loopback only).
ClusterName=offramptest
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
$AUTH_LINES
PluginDir=$PLUGDIR
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=600
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF

t0=$(date +%s)
slurmctld -D -c -i > "$S/log/slurmctld.out" 2>&1 &
DAEMONS+=($!)
slurmd -D -N "$H" > "$S/log/slurmd.out" 2>&1 &
DAEMONS+=($!)
state=
for _ in $(seq 120); do
    state=$(sinfo -h -n "$H" -o %t 2> /dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || fail "the node did not come up idle (state '$state')"
echo "slurm: single node $H idle after $(( $(date +%s) - t0 )) s ($AUTH auth)"

write_plan "$WORK/plan.yaml" 2 60

# The reference: the same plan with one local worker.
"$OFFRAMP" run "$WORK/plan.yaml" --workers 1 --db "$WORK/local.sqlite" --plugins "$PLUGINS" \
    --format none -q 2> "$WORK/local.log" || { cat "$WORK/local.log"; fail "local run"; }
report_json "$WORK/local.sqlite" > "$WORK/local.json"

# The dry run is a script bash accepts, with the requested allocation.
port=$(free_port)
"$OFFRAMP" run "$WORK/plan.yaml" --slurm --nodes 1 --time 5 --bind "tcp://127.0.0.1:$port" \
    --db "$WORK/slurm.sqlite" --plugins "$PLUGINS" --dry-run > "$WORK/job.sh" \
    || fail "--dry-run"
bash -n "$WORK/job.sh" || fail "the dry-run script does not parse"
for l in '#SBATCH --nodes=1' '#SBATCH --ntasks-per-node=1' '#SBATCH --time=5' \
         '#SBATCH --job-name=offramp-it-plan'; do
    grep -qxF -- "$l" "$WORK/job.sh" || fail "dry run lacks '$l'"
done

# slurm_job NAME [BIND]: submit the plan, wait for the job, compare.
slurm_job () {
    local name=$1 db="$WORK/$1.sqlite" t1 job jstate out workers
    local bind=()
    [ -n "${2:-}" ] && bind=(--bind "$2")
    t1=$(date +%s)
    "$OFFRAMP" run "$WORK/plan.yaml" --slurm --nodes 1 --time 5 ${bind[@]+"${bind[@]}"} \
        --db "$db" --plugins "$PLUGINS" > "$WORK/$name.submit" 2> "$WORK/$name.err" \
        || { cat "$WORK/$name.err" >&2; fail "$name: --slurm submit"; }
    cat "$WORK/$name.submit"
    job=$(awk '/^Submitted batch job/ { print $4 }' "$WORK/$name.submit")
    [ -n "$job" ] || fail "$name: no job id printed"
    out="$WORK/offramp-slurm-$job.out"
    for _ in $(seq 360); do
        jstate=$(scontrol -o show job "$job" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
        case "$jstate" in
            COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) break ;;
        esac
        sleep 0.5
    done
    echo "slurm: $name: job $job $jstate after $(( $(date +%s) - t1 )) s"
    if [ "$jstate" != COMPLETED ]; then
        [ -e "$out" ] && tail -40 "$out" >&2
        fail "$name: job $job ended $jstate"
    fi
    grep -q '^offramp: coordinator exited with status 0$' "$out" \
        || { tail -40 "$out" >&2; fail "$name: job output"; }
    report_json "$db" > "$WORK/$name.json"
    same_reports "$WORK/local.json" "$WORK/$name.json" "local run vs Slurm job ($name)"
    check_complete "$db" || fail "$name: Slurm run incomplete"
    # The examples were run by the job's srun worker, not by local workers.
    workers=$($PY -c "import sqlite3,sys; print(','.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('select distinct worker from examples')))" "$db")
    case ",$workers," in *,local-*) fail "$name: local workers in the Slurm run: $workers" ;; esac
    [ -n "$workers" ] || fail "$name: no worker recorded"
    echo "ok: $name: Slurm job $job (worker $workers) reports exactly the local run"
    LAST_OUT=$out
}

# The coordinator on 127.0.0.1.
slurm_job loopback "tcp://127.0.0.1:$port"
# The default address (what the host name resolves to) with the job's own
# CURVE keys: only where that is loopback, so the test stays on 127.0.0.0/8.
addr=$(getent ahostsv4 "$(hostname)" | awk '{ print $1; exit }' || true)
case "$addr" in
    127.*) slurm_job default-curve
           grep -q "CURVE on" "$LAST_OUT" || fail "default address: CURVE was off" ;;
    *)     echo "note: $(hostname) resolves to '${addr:-nothing}', not loopback: default-address job skipped" ;;
esac
echo "ok: total $(( $(date +%s) - t0 )) s"
