#!/usr/bin/env bash
# Runs the shared STOMP benchmark harness (../shared/bench) with the stompws drivers
# (examples/bench_driver.rs for the Rust API, benches/c/bench_driver.c for the C API)
# beside the raw limit drivers and the peer clients, and prints the harness's table.
# The harness folder is read-only for us, so it is copied to a scratch folder and our
# lines are added to its clients.tsv there.
#
# Usage: benches/harness.sh            (all clients, all scenarios)
#        CLIENTS="raw raw-tcp stompws stompws-tcp stompws-c stompws-c-tcp" \
#            SCENARIOS="publish consume" REPS=3 benches/harness.sh
#
# The Rust driver is built twice, and both run:
# - `stompws`, `stompws-tcp`: `cargo build --release --no-default-features`, i.e. without
#   the `tls` feature. The fixture speaks ws:// and tcp:// only, and the raw limit
#   drivers link no TLS library either, so this is the like-for-like build.
# - `stompws-tls`, `stompws-tls-tcp`: the default build, which links the shared libssl
#   and libcrypto. Same code on these plain sockets; what differs is memory: Debian
#   builds both libraries with BIND_NOW, so the loader reads their relocation tables,
#   dirties their relocated data and binds their ~4,000 symbols at start-up, ~1.7 MB of
#   resident memory before anything connects, TLS used or not.
# The C driver, `stompws-c` and `stompws-c-tcp`, is built by benches/c/build.sh against
# the static library of the build without `tls`, so it runs the same library code as
# `stompws` through the C API. It consumes in batches (stompws_subscription_receive_many);
# `stompws-c-one` and `stompws-c-one-tcp` are the same driver taking one message per
# call (stompws_subscription_receive), as the simplest C consumer does.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STOMPWS_BENCH_HARNESS:-$ROOT/../shared/bench}"
WORK="${STOMPWS_BENCH_WORK:-/tmp/stompws-bench-harness}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

[ -f "$SHARED/run.sh" ] || { echo "harness.sh: no harness at $SHARED" >&2; exit 1; }

# Each build in its own target folder, so neither rebuilds the other's dependencies.
cargo build --release --no-default-features --example bench_driver \
    --manifest-path "$ROOT/Cargo.toml" --target-dir "$TARGET_DIR/bench-notls" >&2
DRIVER="$TARGET_DIR/bench-notls/release/examples/bench_driver"
cargo build --release --example bench_driver --manifest-path "$ROOT/Cargo.toml" >&2
TLS_DRIVER="$TARGET_DIR/release/examples/bench_driver"
C_DRIVER=$(CARGO_TARGET_DIR="$TARGET_DIR" bash "$ROOT/benches/c/build.sh")

rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$SHARED/." "$WORK/"
chmod -R u+w "$WORK"
{
    echo "stompws            ws   $DRIVER"
    echo "stompws-tcp        tcp  $DRIVER"
    echo "stompws-tls        ws   $TLS_DRIVER"
    echo "stompws-tls-tcp    tcp  $TLS_DRIVER"
    echo "stompws-c          ws   $C_DRIVER"
    echo "stompws-c-tcp      tcp  $C_DRIVER"
    echo "stompws-c-one      ws   /usr/bin/env STOMPWS_BENCH_BATCH=1 $C_DRIVER"
    echo "stompws-c-one-tcp  tcp  /usr/bin/env STOMPWS_BENCH_BATCH=1 $C_DRIVER"
} >>"$WORK/clients.tsv"
exec bash "$WORK/run.sh"
