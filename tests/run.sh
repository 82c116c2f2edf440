#!/usr/bin/env bash
# The test command of stompws: runs every test against real brokers.
#
# Usage: tests/run.sh [ARGS FOR cargo test...]     e.g. tests/run.sh -- --nocapture
#
#  1. starts RabbitMQ and ActiveMQ through tests/brokers/*.sh (in parallel; installs
#     them from Debian's packages the first time) unless they already run;
#  2. exports the brokers' STOMPWS_* variables (tests/brokers/*.sh env);
#  3. makes the Python venv ${STOMPWS_VENV:-/tmp/stompws-venv} with stomp.py 9.0.0
#     (the reference client some tests compare with) and exports STOMPWS_PYTHON;
#  4. runs `cargo test --all-targets` and the doc tests with STOMPWS_REQUIRE_BROKERS=1,
#     so a test that cannot reach its broker fails instead of skipping (ARGS are passed
#     to both; with a target selection such as --test NAME a single `cargo test ARGS`);
#  5. runs the C tests (run_c_tests; none yet);
#  6. stops the brokers it started (also on failure or interruption), never ones that
#     were running before it began.
# Exits non-zero if anything failed; the last lines sum it up.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SCRIPT_NAME=tests/run.sh
# shellcheck source=tests/brokers/common.sh
. tests/brokers/common.sh

BROKERS=(rabbitmq activemq)
STARTED=()  # brokers this run started, and so stops
FAILED=()   # names of the steps that failed
PASSED=0    # test counts read from cargo's "test result:" lines
NFAILED=0
IGNORED=0
CARGO_LOG=$(mktemp /tmp/stompws-cargo-test.XXXXXX)
T_START=$(now)

say() { printf '\n== %s\n' "$*"; }

stop_started_brokers() {
	local b
	for b in "${STARTED[@]}"; do
		bash "tests/brokers/$b.sh" stop || FAILED+=("stop $b")
	done
	STARTED=()
}

on_exit() {
	local rc=$?
	# Only reached with brokers still listed when the run was cut short.
	if [ ${#STARTED[@]} -gt 0 ]; then
		log "stopping the brokers this run started: ${STARTED[*]}"
		stop_started_brokers
	fi
	rm -f "$CARGO_LOG"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

start_brokers() {
	say "brokers"
	local b rc pids=() names=()
	for b in "${BROKERS[@]}"; do
		rc=0
		bash "tests/brokers/$b.sh" status >/dev/null 2>&1 || rc=$?
		if [ "$rc" != 3 ]; then
			log "$b was already running; it will be left running"
			continue
		fi
		# Listed before it starts, so that an interrupted start is stopped as well.
		STARTED+=("$b")
		(bash "tests/brokers/$b.sh" start 2>&1 | sed -u "s/^/[$b] /") &
		pids+=($!)
		names+=("$b")
	done
	local i
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || FAILED+=("start ${names[$i]}")
	done
	for b in "${BROKERS[@]}"; do
		bash "tests/brokers/$b.sh" status || true
		eval "$(bash "tests/brokers/$b.sh" env)"
	done
	[ ${#FAILED[@]} -eq 0 ]
}

# A Python venv with stomp.py 9.0.0; exports STOMPWS_PYTHON.
setup_python() {
	say "python venv"
	local venv=${STOMPWS_VENV:-/tmp/stompws-venv}
	local py=$venv/bin/python
	local check='import importlib.metadata as m, stomp; assert m.version("stomp.py") == "9.0.0"'
	if [ -x "$py" ] && "$py" -c "$check" 2>/dev/null; then
		log "stomp.py 9.0.0 already in $venv"
	else
		if [ -e "$venv" ] && [ ! -e "$venv/pyvenv.cfg" ]; then
			log "$venv exists and is not a Python venv; set STOMPWS_VENV elsewhere"
			return 1
		fi
		if [ ! -x "$py" ] || ! "$py" -c 'import sys' 2>/dev/null; then
			local base=python3
			[ -x /usr/bin/python3 ] && base=/usr/bin/python3
			if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
				apt_install python3-venv || return 1
			fi
			"$base" -m venv --clear "$venv" || return 1
		fi
		# (set -e does not apply here: the caller tests this function's status.)
		"$py" -m pip install -q --disable-pip-version-check 'stomp.py==9.0.0' || return 1
		"$py" -c "$check" || return 1
		log "installed stomp.py 9.0.0 into $venv"
	fi
	export STOMPWS_PYTHON=$py
}

# True when the arguments pick cargo targets themselves (then --all-targets and --doc
# do not apply).
selects_targets() {
	local a
	for a in "$@"; do
		case $a in
		--) return 1 ;;
		--lib | --bins | --bin | --bin=* | --examples | --example | --example=* | --tests | \
			--test | --test=* | --benches | --bench | --bench=* | --all-targets | --doc)
			return 0
			;;
		esac
	done
	return 1
}

run_cargo_tests() {
	say "cargo test"
	export STOMPWS_REQUIRE_BROKERS=1
	local rc=0
	if selects_targets "$@"; then
		cargo test --no-fail-fast "$@" 2>&1 | tee -a "$CARGO_LOG" || rc=$?
	else
		cargo test --no-fail-fast --all-targets "$@" 2>&1 | tee -a "$CARGO_LOG" || rc=$?
		cargo test --doc "$@" 2>&1 | tee -a "$CARGO_LOG" || rc=$?
	fi
	# Sum the "test result: ok. 3 passed; 0 failed; 1 ignored; ..." lines.
	read -r PASSED NFAILED IGNORED < <(
		sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' \
			"$CARGO_LOG" | awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}'
	)
	return "$rc"
}

# The C test suite goes here (built against include/stompws.h and the cdylib/staticlib,
# run with the same broker variables). Nothing yet.
run_c_tests() {
	say "C tests"
	log "no C tests yet (run_c_tests in tests/run.sh is where they go)"
}

main() {
	if start_brokers; then
		setup_python || FAILED+=("python venv")
		if [ ${#FAILED[@]} -eq 0 ]; then
			run_cargo_tests "$@" || FAILED+=("cargo test")
			run_c_tests || FAILED+=("C tests")
		fi
	fi
	if [ ${#STARTED[@]} -gt 0 ]; then
		say "stopping the brokers this run started: ${STARTED[*]}"
		stop_started_brokers
	fi

	say "summary ($(($(now) - T_START)) s)"
	if [ ${#FAILED[@]} -eq 0 ]; then
		echo "tests/run.sh: all passed"
	else
		local f list=
		for f in "${FAILED[@]}"; do list="${list:+$list, }$f"; done
		echo "tests/run.sh: FAILED: $list"
	fi
	echo "tests: $PASSED passed, $NFAILED failed, $IGNORED skipped"
	[ ${#FAILED[@]} -eq 0 ]
}

main "$@"
