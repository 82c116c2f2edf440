#!/usr/bin/env bash
# Builds the C benchmark driver (benches/c/bench_driver.c) and prints its path.
#
# Usage: benches/c/build.sh
#   CARGO_TARGET_DIR (target)  cargo's target folder; the library is built in its
#                              bench-notls/ subfolder, the folder benches/harness.sh
#                              builds the Rust driver in, so neither rebuilds the other
#   CC (cc), CFLAGS (-O2 -g)   the C compiler and its optimisation flags
#
# Like the Rust driver of the harness, the library is built without the `tls` feature
# (the fixture speaks ws:// and tcp:// only) and linked statically: the comparison is
# then of the two APIs over the same optimised library code, not of the dynamic loader.
# It is linked with --gc-sections, as a program linking libstompws.a should be: the
# archive holds every export and all of std that they may use, and without it the
# linker keeps them all, whose pages then count in the driver's resident memory. The
# driver is compiled with -std=c11 -Wall -Wextra -Werror -pedantic. It goes to
# <target>/bench-notls/release/bench_driver_c.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
OUT_DIR="$TARGET_DIR/bench-notls/release"
CC="${CC:-cc}"
CFLAGS="${CFLAGS:--O2 -g}"

# With the Rust driver in the same command: building an example unifies the features of
# the dev-dependencies into the library's dependencies, and the static library's file
# name carries no hash, so a `--lib` build alone and the harness's `--example` build
# would overwrite each other's libstompws.a and rebuild it every time.
cargo build --release --no-default-features --lib --example bench_driver \
    --manifest-path "$ROOT/Cargo.toml" --target-dir "$TARGET_DIR/bench-notls" >&2

# What a Rust static library needs from the system (libc, libm, libgcc_s, ...), as
# rustc prints it for an empty static library: the same standard library, and
# stompws's own dependencies link nothing else.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
: >"$scratch/empty.rs"
native=$(rustc --crate-type staticlib --print native-static-libs \
    -o "$scratch/libempty.a" "$scratch/empty.rs" 2>&1 |
    sed -n 's/.*native-static-libs: //p')
[ -n "$native" ] || {
    echo "build.sh: rustc printed no native-static-libs" >&2
    exit 1
}

# shellcheck disable=SC2086 # CFLAGS and the native libraries are word lists
"$CC" -std=c11 -Wall -Wextra -Werror -pedantic $CFLAGS -pthread \
    -I"$ROOT/include" "$ROOT/benches/c/bench_driver.c" \
    -o "$OUT_DIR/bench_driver_c" "$OUT_DIR/libstompws.a" $native -Wl,--gc-sections
echo "$OUT_DIR/bench_driver_c"
