#!/usr/bin/env bash
# The test command of stompws: runs every test against real brokers.
#
# Usage: tests/run.sh [ARGS FOR cargo test...]     e.g. tests/run.sh -- --nocapture
#
#  1. starts RabbitMQ and ActiveMQ through tests/brokers/*.sh (in parallel; installs
#     them from Debian's packages the first time); ones that already run are used;
#  2. exports the brokers' STOMPWS_* variables (tests/brokers/*.sh env);
#  3. makes the Python venv ${STOMPWS_VENV:-/tmp/stompws-venv} with stomp.py 9.0.0
#     (the reference client some tests compare with) and exports STOMPWS_PYTHON, and
#     installs the tools of the C tests that are missing;
#  4. runs `cargo test --all-targets`, the doc tests, and the unit tests of a build
#     without the `tls` feature (`--no-default-features --lib`), with
#     STOMPWS_REQUIRE_BROKERS=1, so a test that cannot reach its broker fails instead of
#     skipping (ARGS are passed to all three; with a target selection such as
#     --test NAME a single `cargo test ARGS`);
#     the C side (examples, C test suite, valgrind, ASan, install + pkg-config) is one of
#     those targets, tests/c_api.rs; step 3 installs what it needs (valgrind, g++...);
#  5. stops the brokers it started (also on failure or interruption), never ones that
#     were started otherwise (by hand with tests/brokers/*.sh start). When several runs
#     overlap on one machine, the last one to finish stops the brokers a run started.
# Exits non-zero if anything failed; the last lines sum it up.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
SCRIPT_NAME=tests/run.sh
# shellcheck source=tests/brokers/common.sh
. tests/brokers/common.sh

BROKERS=(rabbitmq activemq)
OWNER=tests/run.sh # what the broker scripts record as starter (STOMPWS_BROKER_OWNER)
REGISTERED=        # set while this run has its file in $RUNS_DIR (see common.sh)
FAILED=()          # names of the steps that failed
PASSED=0           # test counts read from cargo's "test result:" lines
NFAILED=0
IGNORED=0
CARGO_LOG=$(mktemp /tmp/stompws-cargo-test.XXXXXX)
T_START=$(now)

say() { printf '\n== %s\n' "$*"; }

# One lock for registering runs, starting brokers and deciding to stop them, so that a
# run never stops the brokers under another run's feet.
lock_runs() {
	mkdir -p "$RUNS_DIR"
	exec 7>>"$BROKER_DIR/runs.lock"
	flock -w 900 7 || die "could not lock $BROKER_DIR/runs.lock within 900 s"
}
unlock_runs() { exec 7>&-; }

# Starts both brokers in parallel; `start` returns at once for one that already runs
# (and restarts the listeners of a node that is alive without them).
start_brokers() {
	say "brokers"
	lock_runs
	: >"$RUNS_DIR/$$"
	REGISTERED=1
	local b i pids=()
	for b in "${BROKERS[@]}"; do
		(STOMPWS_BROKER_OWNER=$OWNER bash "tests/brokers/$b.sh" start 2>&1 | sed -u "s/^/[$b] /") &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || FAILED+=("start ${BROKERS[$i]}")
	done
	unlock_runs
	for b in "${BROKERS[@]}"; do
		bash "tests/brokers/$b.sh" status || true
		eval "$(bash "tests/brokers/$b.sh" env)"
	done
	[ ${#FAILED[@]} -eq 0 ]
}

# Stops the brokers that a tests/run.sh started, unless another run still uses them
# (the last run to finish stops them). Brokers started any other way (by hand, with
# tests/brokers/*.sh start) are left running.
release_brokers() {
	[ -n "$REGISTERED" ] || return 0
	say "brokers"
	lock_runs
	rm -f "$RUNS_DIR/$$"
	REGISTERED=
	local others b owner
	# (This run's file is gone, so these are the others.)
	others=$(live_runs | tr '\n' ' ')
	if [ -n "$others" ]; then
		log "brokers left running for the other tests/run.sh still running (pid ${others% })"
		unlock_runs
		return 0
	fi
	for b in "${BROKERS[@]}"; do
		owner=$(cat "$(owner_file "$BROKER_DIR/$b")" 2>/dev/null || true)
		if [ "$owner" = "$OWNER" ]; then
			bash "tests/brokers/$b.sh" stop || FAILED+=("stop $b")
		elif bash "tests/brokers/$b.sh" status >/dev/null 2>&1; then
			log "$b left running: it was not started by tests/run.sh"
		fi
	done
	unlock_runs
}

on_exit() {
	local rc=$?
	# Reached with this run still registered only when it was cut short.
	release_brokers || true
	rm -f "$CARGO_LOG"
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# A Python venv with stomp.py 9.0.0; exports STOMPWS_PYTHON.
setup_python() {
	say "python venv"
	local venv=${STOMPWS_VENV:-/tmp/stompws-venv}
	local py=$venv/bin/python
	local check='import importlib.metadata as m, stomp; assert m.version("stomp.py") == "9.0.0"'
	# Overlapping runs must not pip-install into the same venv at once.
	mkdir -p "$(dirname "$venv")"
	exec 6>>"$venv.lock"
	flock -w 600 6 || return 1
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
	exec 6>&-
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
		# The unit tests again in a build without the `tls` feature (no OpenSSL linked):
		# the plain transports, and wss/ssl refused with an error that says why.
		cargo test --no-fail-fast --no-default-features --lib "$@" 2>&1 |
			tee -a "$CARGO_LOG" || rc=$?
	fi
	# Sum the "test result: ok. 3 passed; 0 failed; 1 ignored; ..." lines.
	read -r PASSED NFAILED IGNORED < <(
		sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' \
			"$CARGO_LOG" | awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}'
	)
	return "$rc"
}

# What tests/c_api.rs runs besides the C compiler: valgrind, a C++ compiler for the header
# check, make for the examples' Makefile, pkg-config and cmake for the installed library
# (tests/install.rs); and what the failure tests use: iproute2 (`ip`) for the network
# partitions of tests/failures.rs.
setup_c_tools() {
	say "C tools"
	apt_install valgrind g++ make pkg-config cmake iproute2 || return 1
	log "valgrind, g++, make, pkg-config, cmake and iproute2 present"
}

main() {
	if start_brokers; then
		setup_python || FAILED+=("python venv")
		setup_c_tools || FAILED+=("C tools")
		if [ ${#FAILED[@]} -eq 0 ]; then
			run_cargo_tests "$@" || FAILED+=("cargo test")
		fi
	fi
	release_brokers

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
