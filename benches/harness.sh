#!/usr/bin/env bash
# Runs the shared STOMP benchmark harness (../shared/bench) with the stompws driver
# (examples/bench_driver.rs) beside the raw limit drivers and the peer clients, and
# prints the harness's table. The harness folder is read-only for us, so it is copied
# to a scratch folder and our two lines are added to its clients.tsv there.
#
# Usage: benches/harness.sh            (all clients, all scenarios)
#        CLIENTS="raw stompws" SCENARIOS="publish consume" REPS=3 benches/harness.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STOMPWS_BENCH_HARNESS:-$ROOT/../shared/bench}"
WORK="${STOMPWS_BENCH_WORK:-/tmp/stompws-bench-harness}"

[ -f "$SHARED/run.sh" ] || { echo "harness.sh: no harness at $SHARED" >&2; exit 1; }
cargo build --release --example bench_driver --manifest-path "$ROOT/Cargo.toml" >&2
DRIVER="$ROOT/target/release/examples/bench_driver"

rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$SHARED/." "$WORK/"
chmod -R u+w "$WORK"
{
    echo "stompws          ws   $DRIVER"
    echo "stompws-tcp      tcp  $DRIVER"
} >>"$WORK/clients.tsv"
exec bash "$WORK/run.sh"
