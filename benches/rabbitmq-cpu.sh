#!/usr/bin/env bash
# Client CPU time per consumed message through a real broker (issue 14, part 4):
# consuming N pre-loaded messages of SIZE bytes (ack:auto) from the local RabbitMQ, over
# ws and tcp, for a raw client of our own (benches/rabbitmq/raw_consumer.rs: plain
# tungstenite / plain TCP, STOMP by hand), the stompws Rust driver
# (examples/bench_driver.rs) and the stompws C driver (benches/c/bench_driver.c).
# Prints, per client and transport, the median and every run's CPU us per message, and
# the ratio of the medians to the raw client's over the same transport.
#
# Usage: benches/rabbitmq-cpu.sh
#        RUNS=9 TRANSPORTS=tcp CLIENTS="raw c" benches/rabbitmq-cpu.sh
# Settings (environment):
#   N (50000), SIZE (128)       messages pre-loaded per run and their body size
#   RUNS (5)                    interleaved runs of every (client, transport)
#   CLIENTS ("raw rust c")      which clients: raw, rust (stompws Rust API), c (C API)
#   TRANSPORTS ("ws tcp")       which transports
#   CLIENT_CPU ()               pin the consumer to this core (taskset); empty: unpinned
#   DRIVER_TIMEOUT (120)        seconds before a consumer run is killed and counted failed
#   RESULTS (/tmp/stompws-rabbitmq-cpu/<timestamp>)  runs.tsv, each run's output, table.md
#   CARGO_TARGET_DIR (target)   builds go to its bench-notls/ folder, as harness.sh's
#
# RabbitMQ is started through tests/brokers/rabbitmq.sh start if it does not run (it is
# never stopped here: other tests use it). Its addresses come from `rabbitmq.sh env`.
#
# How it measures:
# - Before every run the queue `firehose` of vhost / is purged and pre-loaded over tcp by
#   the raw client (N messages, then one with `x-last:true`, confirmed by a receipt), so
#   every consumer finds the same N + 1 messages waiting and ends at the marker, exactly
#   as in the harness's consume scenario.
# - A run's CPU time is `perf stat -e task-clock` of the consumer process: all its
#   threads, user + system, over its whole life (start-up, connect and disconnect
#   included, the same for all clients and small beside N messages). The broker is the
#   limit of the delivery rate, so the client's cost is its CPU per message, not its
#   throughput; msgs/s is shown only to see that all ran at the broker's pace.
# - Interleaved: the outer loop is the run, and within a run every (transport, client)
#   once, in an order rotated from run to run, so drifting load from other processes
#   and warm caches hit all clients alike.
# Exit status: 0 when every run succeeded, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${N:-50000}"
SIZE="${SIZE:-128}"
RUNS="${RUNS:-5}"
CLIENTS="${CLIENTS:-raw rust c}"
TRANSPORTS="${TRANSPORTS:-ws tcp}"
CLIENT_CPU="${CLIENT_CPU:-}"
DRIVER_TIMEOUT="${DRIVER_TIMEOUT:-120}"
RESULTS="${RESULTS:-/tmp/stompws-rabbitmq-cpu/$(date +%Y%m%d-%H%M%S)}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac

log() { printf '%s\n' "$*" >&2; }
die() {
    log "rabbitmq-cpu.sh: $*"
    exit 1
}

command -v perf >/dev/null || die "no perf (Debian: apt-get install linux-perf)"
perf stat -e task-clock -x, -o /dev/null true ||
    die "perf stat -e task-clock does not work here (kernel.perf_event_paranoid?)"
if [ -n "$CLIENT_CPU" ]; then
    command -v taskset >/dev/null || die "CLIENT_CPU is set but there is no taskset"
fi
for c in $CLIENTS; do
    case "$c" in raw | rust | c) ;; *) die "unknown client $c (raw, rust, c)" ;; esac
done
for t in $TRANSPORTS; do
    case "$t" in ws | tcp) ;; *) die "unknown transport $t (ws, tcp)" ;; esac
done

# --- broker --------------------------------------------------------------------------
if ! bash "$ROOT/tests/brokers/rabbitmq.sh" status >/dev/null 2>&1; then
    log "== starting RabbitMQ"
    bash "$ROOT/tests/brokers/rabbitmq.sh" start >&2 || die "RabbitMQ did not start"
fi
eval "$(bash "$ROOT/tests/brokers/rabbitmq.sh" env)"
declare -A URL=([ws]="$STOMPWS_RABBITMQ_WS" [tcp]="$STOMPWS_RABBITMQ_TCP")
purge() { bash "$ROOT/tests/brokers/rabbitmq.sh" ctl purge_queue firehose >/dev/null 2>&1 || true; }

# --- builds (the like-for-like build without TLS, as benches/harness.sh) --------------
log "== building the raw client and the drivers"
cargo build --release --no-default-features --example bench_driver --example bench_raw_consumer \
    --manifest-path "$ROOT/Cargo.toml" --target-dir "$TARGET_DIR/bench-notls" >&2 ||
    die "cargo build failed"
EXAMPLES="$TARGET_DIR/bench-notls/release/examples"
RAW="$EXAMPLES/bench_raw_consumer"
C_DRIVER=$(CARGO_TARGET_DIR="$TARGET_DIR" bash "$ROOT/benches/c/build.sh") ||
    die "building the C driver failed"
declare -A BIN=([raw]="$RAW" [rust]="$EXAMPLES/bench_driver" [c]="$C_DRIVER")

# --- runs ----------------------------------------------------------------------------
mkdir -p "$RESULTS"
RUNS_TSV="$RESULTS/runs.tsv"
printf 'run\tclient\ttransport\ttask_ms\tus_per_msg\tmsgs_per_s\n' >"$RUNS_TSV"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "n: $N, size: $SIZE, runs: $RUNS, client cpu: ${CLIENT_CPU:-unpinned}, cpus: $(nproc)"
    echo "ws: ${URL[ws]}, tcp: ${URL[tcp]}"
    echo "kernel: $(uname -r)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RESULTS/info.txt"

combos=()
for t in $TRANSPORTS; do
    for c in $CLIENTS; do combos+=("$c $t"); done
done

failures=0
run_one() { # run client transport
    local run=$1 client=$2 transport=$3
    local base="$RESULTS/run-$run-$client-$transport" rc=0
    purge
    if ! "$RAW" "${URL[tcp]}" preload "$N" "$SIZE" >"$base.preload" 2>&1; then
        log "   FAILED: pre-loading for $client $transport: $(tail -n 2 "$base.preload")"
        failures=$((failures + 1))
        return
    fi
    local pin=()
    [ -z "$CLIENT_CPU" ] || pin=(taskset -c "$CLIENT_CPU")
    timeout -k 5 "$DRIVER_TIMEOUT" "${pin[@]}" perf stat -e task-clock -x, -o "$base.perf" -- \
        "${BIN[$client]}" "${URL[$transport]}" consume "$N" "$SIZE" >"$base.out" 2>"$base.err" ||
        rc=$?
    local ms rate
    ms=$(awk -F, '$3 == "task-clock" { print $1 }' "$base.perf" 2>/dev/null || true)
    rate=$(sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p' "$base.out")
    if [ "$rc" -ne 0 ] || [ -z "$ms" ] || [ -z "$rate" ] || [ "$(wc -l <"$base.out")" -ne 1 ]; then
        log "   FAILED (rc $rc): $client $transport: $(tail -n 2 "$base.err")"
        failures=$((failures + 1))
        return
    fi
    local us
    us=$(awk -v ms="$ms" -v n="$N" 'BEGIN { printf "%.3f", ms * 1000 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$client" "$transport" "$ms" "$us" "$rate" >>"$RUNS_TSV"
    log "   $client $transport: $us us/msg ($ms ms task-clock), $rate msgs/s"
}

for run in $(seq "$RUNS"); do
    log "== run $run/$RUNS, load $(cut -d' ' -f1 /proc/loadavg)"
    count=${#combos[@]}
    for i in $(seq 0 $((count - 1))); do
        read -r client transport <<<"${combos[$(((i + run - 1) % count))]}"
        run_one "$run" "$client" "$transport"
    done
done
purge
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RESULTS/info.txt"

# --- table ---------------------------------------------------------------------------
python3 - "$RUNS_TSV" >"$RESULTS/table.md" <<'EOF'
import csv, statistics, sys

runs = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in runs:
    groups.setdefault((r["transport"], r["client"]), []).append(r)
names = {"raw": "raw (tungstenite / TCP)", "rust": "stompws Rust API", "c": "stompws C API"}
print("| transport | client | runs | CPU us/msg median | min-max | per run (in run order) "
      "| vs raw (medians) | per-run ratio median | msgs/s median |")
print("|---|---|---|---|---|---|---|---|---|")
for (transport, client), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "ws", kv[0][0],
                                       ["raw", "rust", "c"].index(kv[0][1]))):
    us = [float(r["us_per_msg"]) for r in rs]
    med = statistics.median(us)
    raw = groups.get((transport, "raw"))
    if raw:
        raw_by_run = {r["run"]: float(r["us_per_msg"]) for r in raw}
        ratio = f"{med / statistics.median(raw_by_run.values()):.3f}"
        pr = [float(r["us_per_msg"]) / raw_by_run[r["run"]] for r in rs if r["run"] in raw_by_run]
        pair = f"{statistics.median(pr):.3f}" if pr else "-"
    else:
        ratio = pair = "-"
    rate = statistics.median(float(r["msgs_per_s"]) for r in rs)
    print(f"| {transport} | {names[client]} | {len(rs)} | {med:.2f} | {min(us):.2f}-{max(us):.2f} "
          f"| {' '.join(f'{u:.2f}' for u in us)} | {ratio} | {pair} | {rate:,.0f} |")
print()
print("CPU us/msg: perf stat task-clock (user + sys, all threads, whole process) / N.")
print("vs raw: median / the raw client's median, same transport; per-run ratio: the")
print("median over runs of (client / raw of the same run).")
EOF
cat "$RESULTS/table.md"
echo
cat "$RESULTS/info.txt"
echo "results: $RESULTS"
if [ "$failures" -ne 0 ]; then
    log "rabbitmq-cpu.sh: $failures run(s) failed"
    exit 1
fi
