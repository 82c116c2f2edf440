#!/usr/bin/env bash
# Compares the CPU time of two builds of the stompws bench driver (examples/bench_driver.rs)
# on the shared harness's scenarios (../shared/bench), in interleaved runs, and prints
# per scenario the median task-clock of each build, their ratio, the spread of the runs
# and the median throughput. The question it answers: did a change cost CPU per message?
#
# Usage: benches/compare-cpu.sh BEFORE AFTER
#   BEFORE, AFTER: each either the path of a built bench_driver, or a git revision of
#   this repository; a revision is checked out into a scratch worktree (removed again)
#   and built like benches/harness.sh builds `stompws`: release, --no-default-features.
#   A revision means its commit: uncommitted changes are not in it.
# Examples:
#   benches/compare-cpu.sh 683e683 HEAD
#   PAIRS=21 SCENARIOS="rtt" TRANSPORTS=tcp benches/compare-cpu.sh old/bench_driver new/bench_driver
#
# Settings (environment):
#   PAIRS (31)                   before/after pairs per scenario (11 cannot tell 3% apart
#                                on a busy machine; see below)
#   SCENARIOS ("publish consume rtt publish-big consume-big")
#   TRANSPORTS ("ws tcp")
#   N, SIZE (100000, 128)        publish/consume count and body size
#   BIG_N, BIG_SIZE (5000, 65536) publish-big/consume-big
#   RTT_N (10000)                round trips of rtt (body SIZE)
#   SAME_CORE (1)                also run rtt with driver and fixture on the fixture's core
#   FIXTURE_CPU, CLIENT_CPU (0, 1) cores for taskset, as in the harness's run.sh
#   LIMIT (1.03)                 largest accepted median(after) / median(before)
#   DRIVER_TIMEOUT (300)         seconds before a run is killed and counted failed
#   WORK (/tmp/stompws-compare-cpu)  scratch folder: harness copy, target dirs, worktrees
#   RESULTS ($WORK/results-<timestamp>)  runs.tsv, the drivers' output, fixture logs, table
#   STOMPWS_BENCH_HARNESS (../shared/bench)  the harness, copied to $WORK (it is read-only)
#
# How it measures:
# - Each run is `perf stat -e task-clock` of one driver process: the CPU time of all its
#   threads (I/O thread included) over its whole life, start-up, connect and disconnect
#   included. That part is the same for both builds, so it cannot hide a difference, only
#   dilute it slightly; the driver's own timed part is reported as throughput.
# - Interleaved: the outer loop is the pair, the inner one the scenario, and within a
#   pair the two builds run back to back, in the order before-after on odd pairs and
#   after-before on even ones. Load from other processes that drifts over minutes then
#   hits both builds alike, and neither build always runs first (warm caches).
# - The fixtures (sink, firehose; one thread per connection) are pinned to FIXTURE_CPU
#   and the driver to CLIENT_CPU, so the fixture never takes CPU from the driver; rtt is
#   also run with both on FIXTURE_CPU (same-core), where a round trip is two context
#   switches instead of two cross-core wake-ups.
# - The verdict per row compares medians: median(after) / median(before) <= LIMIT. Beside
#   it: a 90% bootstrap interval of that ratio (resampling pairs), the median of the
#   per-pair ratios (less sensitive to slow drift) and in how many pairs `after` took
#   more CPU. On a busy machine a run's CPU time varies by tens of percent (cache and
#   frequency effects of the other load, batching that depends on timing), so a few
#   percent needs many pairs: an interval that straddles LIMIT says "rerun with more
#   PAIRS"; a large N shows a per-message cost that start-up would otherwise dilute.
#
# Exit status: 0 when every row is within LIMIT and no run failed, 1 on a failed run or
# setup error, 2 when a row is over LIMIT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STOMPWS_BENCH_HARNESS:-$ROOT/../shared/bench}"
WORK="${WORK:-/tmp/stompws-compare-cpu}"
RESULTS="${RESULTS:-$WORK/results-$(date +%Y%m%d-%H%M%S)}"
PAIRS="${PAIRS:-31}"
SCENARIOS="${SCENARIOS:-publish consume rtt publish-big consume-big}"
TRANSPORTS="${TRANSPORTS:-ws tcp}"
N="${N:-100000}"
SIZE="${SIZE:-128}"
BIG_N="${BIG_N:-5000}"
BIG_SIZE="${BIG_SIZE:-65536}"
RTT_N="${RTT_N:-10000}"
SAME_CORE="${SAME_CORE:-1}"
FIXTURE_CPU="${FIXTURE_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
LIMIT="${LIMIT:-1.03}"
DRIVER_TIMEOUT="${DRIVER_TIMEOUT:-300}"

log() { printf '%s\n' "$*" >&2; }
die() {
    log "compare-cpu.sh: $*"
    exit 1
}

[ $# -eq 2 ] || die "usage: benches/compare-cpu.sh BEFORE AFTER (driver paths or git revisions)"
command -v perf >/dev/null || die "no perf (Debian: apt-get install linux-perf)"
command -v taskset >/dev/null || die "no taskset (util-linux)"
perf stat -e task-clock -x, -o /dev/null true ||
    die "perf stat -e task-clock does not work here (kernel.perf_event_paranoid?)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: the fixture and the driver each get one"
[ -f "$SHARED/run.sh" ] || die "no harness at $SHARED"

mkdir -p "$WORK" "$RESULTS"

# A driver path as given, or a revision built in a scratch worktree that is removed
# again. Each revision has its own target dir, so the two builds never rebuild each
# other's dependencies. Prints the driver's path.
driver_for() {
    local label=$1 spec=$2
    if [ -f "$spec" ] && [ -x "$spec" ]; then
        realpath "$spec"
        return
    fi
    local rev tree="$WORK/src-$label" target="$WORK/target-$label"
    rev=$(git -C "$ROOT" rev-parse --verify --quiet "$spec^{commit}") ||
        die "$spec is neither an executable nor a revision of $ROOT"
    if [ -e "$tree" ]; then
        git -C "$ROOT" worktree remove --force "$tree" >&2 || die "cannot remove stale worktree $tree"
    fi
    git -C "$ROOT" worktree add --detach "$tree" "$rev" >&2 || die "git worktree add $tree $rev failed"
    log "== building $label ($rev)"
    if ! cargo build --release --no-default-features --example bench_driver \
        --manifest-path "$tree/Cargo.toml" --target-dir "$target" >&2; then
        git -C "$ROOT" worktree remove --force "$tree" >&2 || true
        die "building $label ($rev) failed"
    fi
    git -C "$ROOT" worktree remove --force "$tree" >&2 || log "warning: could not remove worktree $tree"
    echo "$target/release/examples/bench_driver"
}

BEFORE_BIN=$(driver_for before "$1")
AFTER_BIN=$(driver_for after "$2")
[ "$BEFORE_BIN" != "$AFTER_BIN" ] || log "warning: BEFORE and AFTER are the same file"

# The harness's fixture, from a writable copy of the harness (as benches/harness.sh does).
BENCH="$WORK/bench"
rm -rf "$BENCH"
mkdir -p "$BENCH"
cp -r --preserve=timestamps "$SHARED/." "$BENCH/"
chmod -R u+w "$BENCH"
log "== building stomp-fixture"
cargo build --release --manifest-path "$BENCH/Cargo.toml" -p stomp-fixture \
    --target-dir "$WORK/target-bench" >&2 || die "building the fixture failed"
FIXTURE="$WORK/target-bench/release/stomp-fixture"

# --- fixtures: port 0, the ports are read from the ready line -----------------------
declare -A WS_ADDR TCP_ADDR
FIX_PIDS=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local pid
    for pid in "${FIX_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${FIX_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

modes="sink"
[[ " $SCENARIOS " == *" consume"* ]] && modes="$modes firehose"
for mode in $modes; do
    # taskset execs the fixture, so $! is the fixture's pid
    taskset -c "$FIXTURE_CPU" "$FIXTURE" --mode "$mode" --ws-port 0 --tcp-port 0 --verbose \
        >"$RESULTS/fixture-$mode.out" 2>"$RESULTS/fixture-$mode.log" &
    FIX_PIDS+=("$!")
done
for mode in $modes; do
    for _ in $(seq 50); do
        grep -q ready "$RESULTS/fixture-$mode.out" && break
        sleep 0.1
    done
    ready=$(grep ready "$RESULTS/fixture-$mode.out") ||
        die "fixture $mode did not start: $(cat "$RESULTS/fixture-$mode.log")"
    WS_ADDR[$mode]=$(sed -n 's/.* ws=\([0-9.:]*\).*/\1/p' <<<"$ready")
    TCP_ADDR[$mode]=$(sed -n 's/.* tcp=\([0-9.:]*\).*/\1/p' <<<"$ready")
    if [ -z "${WS_ADDR[$mode]}" ] || [ -z "${TCP_ADDR[$mode]}" ]; then
        die "cannot read the ports of: $ready"
    fi
    log "$ready"
done

# --- runs ----------------------------------------------------------------------------
configs=() # scenario-name driver-scenario n size fixture placement transport
for s in $SCENARIOS; do
    for t in $TRANSPORTS; do
        case "$s" in
            publish) configs+=("publish publish $N $SIZE sink split $t") ;;
            consume) configs+=("consume consume $N $SIZE firehose split $t") ;;
            publish-big) configs+=("publish-big publish $BIG_N $BIG_SIZE sink split $t") ;;
            consume-big) configs+=("consume-big consume $BIG_N $BIG_SIZE firehose split $t") ;;
            rtt)
                configs+=("rtt rtt $RTT_N $SIZE sink split $t")
                if [ "$SAME_CORE" = 1 ]; then configs+=("rtt rtt $RTT_N $SIZE sink same-core $t"); fi
                ;;
            *) die "unknown scenario $s" ;;
        esac
    done
done

RUNS="$RESULTS/runs.tsv"
printf 'pair\tbuild\tscenario\ttransport\tplacement\tn\tsize\ttask_ms\tmsgs_per_s\tp50_us\n' >"$RUNS"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "before: $BEFORE_BIN"
    echo "after: $AFTER_BIN"
    echo "cpus: $(nproc), fixture cpu: $FIXTURE_CPU, client cpu: $CLIENT_CPU, pairs: $PAIRS"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/info.txt"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START"

failures=0
run_one() { # pair build scenario-name driver-scenario n size fixture placement transport
    local pair=$1 build=$2 name=$3 scen=$4 n=$5 size=$6 mode=$7 placement=$8 transport=$9
    local bin=$BEFORE_BIN cpu=$CLIENT_CPU url
    [ "$build" = after ] && bin=$AFTER_BIN
    [ "$placement" = same-core ] && cpu=$FIXTURE_CPU
    if [ "$transport" = ws ]; then url="ws://${WS_ADDR[$mode]}/stomp"; else url="tcp://${TCP_ADDR[$mode]}"; fi
    local base="$RESULTS/run-$pair-$build-$name-$transport-$placement"
    local rc=0
    timeout -k 5 "$DRIVER_TIMEOUT" taskset -c "$cpu" \
        perf stat -e task-clock -x, -o "$base.perf" -- "$bin" "$url" "$scen" "$n" "$size" \
        >"$base.out" 2>"$base.err" || rc=$?
    local ms rate p50
    ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$base.perf" 2>/dev/null || true)
    rate=$(sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p' "$base.out")
    p50=$(sed -n 's/.*"p50_us":\([0-9.a-z]*\).*/\1/p' "$base.out")
    if [ "$rc" -ne 0 ] || [ -z "$ms" ] || [ -z "$rate" ] || [ "$(wc -l <"$base.out")" -ne 1 ]; then
        log "   FAILED (rc $rc): $build $name $transport $placement: $(tail -n 2 "$base.err")"
        failures=$((failures + 1))
        return
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pair" "$build" "$name" "$transport" \
        "$placement" "$n" "$size" "$ms" "$rate" "$p50" >>"$RUNS"
    log "   $build $name $transport $placement: ${ms} ms task-clock, $rate msgs/s"
}

for pair in $(seq "$PAIRS"); do
    if [ $((pair % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
    log "== pair $pair/$PAIRS ($order), load $(cut -d' ' -f1 /proc/loadavg)"
    for cfg in "${configs[@]}"; do
        read -r name scen n size mode placement transport <<<"$cfg"
        for build in $order; do
            run_one "$pair" "$build" "$name" "$scen" "$n" "$size" "$mode" "$placement" "$transport"
        done
    done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load at end: $LOAD_END" >>"$RESULTS/info.txt"

# --- table ---------------------------------------------------------------------------
rc=0
python3 - "$RUNS" "$LIMIT" >"$RESULTS/table.md" <<'EOF' || rc=$?
import csv, random, statistics, sys

runs, limit = sys.argv[1], float(sys.argv[2])
rows = {}
for r in csv.DictReader(open(runs), delimiter="\t"):
    key = (r["scenario"], r["transport"], r["placement"], r["n"], r["size"])
    rows.setdefault(key, {"before": {}, "after": {}})[r["build"]][r["pair"]] = (
        float(r["task_ms"]), float(r["msgs_per_s"]))

def ratio_ci(pairs, b, a, rounds=2000):
    # 90% interval of median(after) / median(before), resampling whole pairs (a pair's
    # two runs shared the machine's load of that moment). Seeded: the same runs always
    # print the same interval.
    rng = random.Random(1)
    rs = []
    for _ in range(rounds):
        pick = [rng.choice(pairs) for _ in pairs]
        rs.append(statistics.median(a[p][0] for p in pick) / statistics.median(b[p][0] for p in pick))
    rs.sort()
    return rs[int(0.05 * rounds)], rs[int(0.95 * rounds) - 1]

def fmt_rate(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k"

print("| scenario | transport | placement | n x size | pairs | task-clock ms before: median (min-max) "
      "| after: median (min-max) | after/before | 90% interval | per-pair ratio median "
      "| pairs after>before | msgs/s before | msgs/s after | within |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
over = 0
for key in rows:  # insertion order: the order the runs were made in
    scen, transport, placement, n, size = key
    b, a = rows[key]["before"], rows[key]["after"]
    pairs = sorted(set(b) & set(a), key=int)
    if not pairs:
        print(f"| {scen} | {transport} | {placement} | {n} x {size} | 0 | - | - | - | - | - | - | - | - | no pair |")
        over += 1
        continue
    bt = [b[p][0] for p in pairs]
    at = [a[p][0] for p in pairs]
    ratio = statistics.median(at) / statistics.median(bt)
    pair_ratio = statistics.median(a[p][0] / b[p][0] for p in pairs)
    slower = sum(a[p][0] > b[p][0] for p in pairs)
    lo, hi = ratio_ci(pairs, b, a)
    ok = ratio <= limit
    over += not ok
    print(f"| {scen} | {transport} | {placement} | {n} x {size} | {len(pairs)} "
          f"| {statistics.median(bt):.1f} ({min(bt):.1f}-{max(bt):.1f}) "
          f"| {statistics.median(at):.1f} ({min(at):.1f}-{max(at):.1f}) "
          f"| {ratio:.3f} | {lo:.3f}-{hi:.3f} | {pair_ratio:.3f} | {slower}/{len(pairs)} "
          f"| {fmt_rate(statistics.median(b[p][1] for p in pairs))} "
          f"| {fmt_rate(statistics.median(a[p][1] for p in pairs))} "
          f"| {'yes' if ok else 'NO'} |")
print()
print(f"limit: median(after) / median(before) <= {limit}; rows over: {over}")
print("90% interval: of that ratio, resampling the pairs (bootstrap); an interval that")
print("straddles the limit means more pairs are needed to tell. pairs after>before: with")
print("no difference about half; far more than half is a systematic cost (a sign test).")
sys.exit(2 if over else 0)
EOF
cat "$RESULTS/table.md"
echo
cat "$RESULTS/info.txt"
echo "results: $RESULTS"
if [ "$failures" -ne 0 ]; then
    log "compare-cpu.sh: $failures run(s) failed"
    exit 1
fi
exit "$rc"
