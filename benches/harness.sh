#!/usr/bin/env bash
# Runs the shared STOMP benchmark harness (../shared/bench) with the stompws driver
# (examples/bench_driver.rs) beside the raw limit drivers and the peer clients, and
# prints the harness's table. The harness folder is read-only for us, so it is copied
# to a scratch folder and our lines are added to its clients.tsv there.
#
# Usage: benches/harness.sh            (all clients, all scenarios)
#        CLIENTS="raw stompws" SCENARIOS="publish consume" REPS=3 benches/harness.sh
#
# The driver is built twice, and both run:
# - `stompws`, `stompws-tcp`: as `cargo build --release --example` builds it, against
#   the shared libc, libssl and libcrypto, like the raw drivers and the peers.
# - `stompws-static`, `stompws-static-tcp`: the way an application that ships one
#   self-contained binary builds it: OpenSSL and glibc linked statically
#   (OPENSSL_STATIC, crt-static), as a static PIE (still position-independent, with
#   ASLR) with packed relative relocations. Same code, same API; only the linking
#   differs. This is about memory: a program linked against the shared libcrypto and
#   libssl pays ~1.7 MB of resident memory before it connects anywhere, TLS or not,
#   because Debian builds both with BIND_NOW, so the loader reads their relocation
#   tables, dirties their relocated data and binds their ~4,000 symbols at start-up.
#   Linked statically, only what is used is paged in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${STOMPWS_BENCH_HARNESS:-$ROOT/../shared/bench}"
WORK="${STOMPWS_BENCH_WORK:-/tmp/stompws-bench-harness}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

[ -f "$SHARED/run.sh" ] || { echo "harness.sh: no harness at $SHARED" >&2; exit 1; }

cargo build --release --example bench_driver --manifest-path "$ROOT/Cargo.toml" >&2
DRIVER="$TARGET_DIR/release/examples/bench_driver"

# Its own target folder: the OpenSSL settings would otherwise make every other build
# rebuild openssl-sys and all that depends on it. With --target, RUSTFLAGS reach the
# driver and not the build scripts; cargo warns that it drops the cdylib, which cannot
# be built with crt-static (the rlib is all the driver needs).
HOST="$(rustc -vV | sed -n 's/^host: //p')"
STATIC_TARGET="$TARGET_DIR/bench-static"
OPENSSL_STATIC=1 \
    OPENSSL_LIB_DIR="${OPENSSL_LIB_DIR:-$(pkg-config --variable=libdir openssl)}" \
    OPENSSL_INCLUDE_DIR="${OPENSSL_INCLUDE_DIR:-$(pkg-config --variable=includedir openssl)}" \
    RUSTFLAGS="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" \
    CARGO_TARGET_DIR="$STATIC_TARGET" \
    cargo build --release --target "$HOST" --example bench_driver \
    --manifest-path "$ROOT/Cargo.toml" >&2
STATIC_DRIVER="$STATIC_TARGET/$HOST/release/examples/bench_driver"

rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$SHARED/." "$WORK/"
chmod -R u+w "$WORK"
{
    echo "stompws            ws   $DRIVER"
    echo "stompws-tcp        tcp  $DRIVER"
    echo "stompws-static     ws   $STATIC_DRIVER"
    echo "stompws-static-tcp tcp  $STATIC_DRIVER"
} >>"$WORK/clients.tsv"
exec bash "$WORK/run.sh"
