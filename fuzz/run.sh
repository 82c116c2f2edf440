#!/usr/bin/env bash
# Runs the cargo-fuzz target `decode` (the STOMP frame decoder) for a bounded time,
# starting from the committed corpus.
#
# Usage: bash fuzz/run.sh [SECONDS] [-- LIBFUZZER_ARGS...]
#   SECONDS          fuzzing time, build excluded (default 60)
#   LIBFUZZER_ARGS   passed on to libFuzzer after the defaults below
#
# Exit status: 0 ran SECONDS without a failure; 1 the build failed or the fuzzer found
# a crash, a leak, a timeout or an out-of-memory input (the input is left in
# fuzz/artifacts/decode/, see the log); 77 skipped: no nightly toolchain or no
# cargo-fuzz (the reason is printed). STOMPWS_REQUIRE_FUZZ=1 turns a skip into exit 1.
#
# Needs `cargo +nightly` (FUZZ_TOOLCHAIN names another toolchain) and cargo-fuzz
# (`cargo install cargo-fuzz --locked`, built by any toolchain). Never installs either:
# the toolchain cannot be fetched in CI, and installing cargo-fuzz would need crates.io
# and a minute of compiling on every run; a CI image that has nightly should carry
# cargo-fuzz too.
#
# fuzz/corpus/decode is only read: new inputs go to a temporary directory, removed at
# the end, so a run leaves the tree unchanged. To grow the committed corpus, fuzz into
# it directly and minimize it afterwards:
#   cargo +nightly fuzz run decode -- -max_total_time=3600 -rss_limit_mb=2048
#   cargo +nightly fuzz cmin decode
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
	seconds=$1
	shift
fi
case $seconds in
'' | *[!0-9]* | 0)
	echo "usage: bash fuzz/run.sh [SECONDS] [-- LIBFUZZER_ARGS...]" >&2
	exit 2
	;;
esac
if [ $# -gt 0 ]; then
	if [ "$1" != "--" ]; then
		echo "usage: bash fuzz/run.sh [SECONDS] [-- LIBFUZZER_ARGS...]" >&2
		exit 2
	fi
	shift
fi

toolchain=${FUZZ_TOOLCHAIN:-nightly}

skip() {
	echo "fuzz/run.sh: SKIPPED: $*" >&2
	if [ "${STOMPWS_REQUIRE_FUZZ:-0}" = 1 ]; then
		echo "fuzz/run.sh: STOMPWS_REQUIRE_FUZZ=1, so a skip is a failure" >&2
		exit 1
	fi
	exit 77
}

# `+toolchain` needs rustup; RUSTUP_AUTO_INSTALL=0 keeps it from downloading a missing
# toolchain.
export RUSTUP_AUTO_INSTALL=0
if ! command -v rustup >/dev/null 2>&1; then
	skip "no rustup, so no '$toolchain' toolchain to build the fuzz target with"
fi
if ! rustc "+$toolchain" --version >/dev/null 2>&1; then
	skip "toolchain '$toolchain' is not installed (rustup toolchain install $toolchain)"
fi
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
	skip "cargo-fuzz is not installed (cargo install cargo-fuzz --locked)"
fi

new=$(mktemp -d /tmp/stompws-fuzz-decode.XXXXXX)
trap 'rm -rf "$new"' EXIT

echo "fuzz/run.sh: $(cargo "+$toolchain" fuzz --version), $(rustc "+$toolchain" --version)"
echo "fuzz/run.sh: decode for $seconds s from fuzz/corpus/decode ($(find fuzz/corpus/decode -type f | wc -l) inputs)"
# libFuzzer writes new inputs to the first directory and only reads the others.
# -timeout: a decoder that needs seconds for one short input is a bug worth reporting.
# -rss_limit_mb: the decoder's limits should keep memory far below this.
cargo "+$toolchain" fuzz run decode "$new" fuzz/corpus/decode -- \
	-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "$@"
echo "fuzz/run.sh: no failure in $seconds s; $(find "$new" -type f | wc -l) new inputs (not kept)"
