# shellcheck shell=bash
# Shared functions for the broker scripts in this folder (rabbitmq.sh, activemq.sh).
# Source it; it defines functions and a few variables and runs nothing by itself.
#
#   BROKER_DIR          state folder, ${STOMPWS_BROKER_DIR:-/tmp/stompws-brokers}
#   TLS_DIR             $BROKER_DIR/tls: ca.pem, server.pem, server.key, server.p12
#   log / die           messages on stderr, prefixed with the calling script's name
#   apt_install PKG..   installs Debian packages that are missing, under a flock, with a
#                       policy-rc.d guard so no package starts a system-wide service
#   ensure_tls          makes the throw-away CA and server certificate (kept while valid)
#   port_open H P       true when H:P accepts a TCP connection (1 s limit)
#   wait_ports SECS H P [P..]  waits until every port answers, false at the deadline
#   pid_alive PIDFILE PATTERN  true when the recorded pid runs a command line with PATTERN
#   stop_pid PIDFILE PATTERN SECS  TERM (then KILL after SECS) for the recorded pid only
#   spawn LOG CMD..     starts CMD in its own session, detached: stdin /dev/null,
#                       stdout and stderr appended to LOG, no other inherited fd (so no
#                       caller's lock or pipe stays open in it); sets SPAWNED_PID
#   set_owner DIR       records $STOMPWS_BROKER_OWNER (tests/run.sh sets it) as the
#                       starter of the broker whose state folder is DIR
#   emit NAME VALUE     prints `export NAME="VALUE"`
#   select_instance     sets INSTANCE, the instance of a broker a script works on, from
#                       $STOMPWS_INSTANCE: "default" (unset or empty too) or "restart"
#   now_ms / took T0    milliseconds since the epoch / "1.234 s" since T0 (from now_ms)
#   wait_pid_gone PID PATTERN SECS  waits until PID no longer runs PATTERN
#   wait_ports_closed SECS HOST PORT..  waits until no port accepts connections
#
# Nothing here kills by process name: only recorded pids whose /proc/PID/cmdline
# matches what the caller expects.

BROKER_DIR=${STOMPWS_BROKER_DIR:-/tmp/stompws-brokers}
TLS_DIR=$BROKER_DIR/tls
# Machine-wide, not per state folder: apt and dpkg are machine-wide.
APT_LOCK=${STOMPWS_APT_LOCK:-/tmp/stompws-apt.lock}
# The password of the PKCS#12 keystore (a test certificate; not a secret).
P12_PASSWORD=stompws
POLICY_RC_D=/usr/sbin/policy-rc.d
POLICY_MARKER="# stompws guard"

log() { printf '%s: %s\n' "${SCRIPT_NAME:-broker}" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

now() { date +%s; }
now_ms() { date +%s%3N; }

# took T0: the time since T0 (a now_ms value) as seconds with milliseconds, "1.234 s".
took() {
	local d=$(($(now_ms) - $1))
	printf '%d.%03d s' $((d / 1000)) $((d % 1000))
}

# --- instances ---------------------------------------------------------------------

# select_instance: sets INSTANCE from STOMPWS_INSTANCE, which selects the instance of a
# broker that rabbitmq.sh and activemq.sh work on. Each instance has its own state
# folder, node or broker name, ports, pid files and lock, so that one can be restarted
# or killed without touching the other:
#   default  (also when unset or empty) the shared instance that tests/run.sh starts
#            and that every other test uses;
#   restart  for the tests that restart or kill a broker while clients run. Its data
#            (RabbitMQ's database, ActiveMQ's KahaDB) survives stop, kill and start;
#            `wipe` deletes it. The tests start and stop it themselves.
select_instance() {
	INSTANCE=${STOMPWS_INSTANCE:-default}
	case $INSTANCE in
	default | restart) ;;
	*) die "STOMPWS_INSTANCE=$INSTANCE: the instances are default and restart" ;;
	esac
	# tests/run.sh starts and stops the shared instances only; an exported
	# STOMPWS_INSTANCE must not turn them into the restart ones.
	if [ "$INSTANCE" != default ] && [ "${STOMPWS_BROKER_OWNER:-}" = tests/run.sh ]; then
		die "tests/run.sh starts the default instances only; unset STOMPWS_INSTANCE"
	fi
}

# --- apt -------------------------------------------------------------------------

# Packages among the arguments that dpkg does not list as installed, on one line.
missing_packages() {
	local p found=()
	for p in "$@"; do
		if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
			found+=("$p")
		fi
	done
	echo "${found[*]}"
}

# Puts a policy-rc.d that answers 101 ("action not allowed") in place. One that already
# answers 101 (Debian container images ship one) is left as it is; any other is moved
# aside and put back by policy_guard_off.
policy_guard_on() {
	if [ -e "$POLICY_RC_D" ]; then
		grep -q 'exit 101' "$POLICY_RC_D" && return 0
		mv "$POLICY_RC_D" "$POLICY_RC_D.stompws-saved"
	fi
	printf '#!/bin/sh\n%s: no package may start a service during the install\nexit 101\n' \
		"$POLICY_MARKER" >"$POLICY_RC_D"
	chmod 755 "$POLICY_RC_D"
}

# Removes the policy-rc.d only if it is the one policy_guard_on wrote, and puts back
# one that it moved aside.
policy_guard_off() {
	if [ -f "$POLICY_RC_D" ] && grep -qF "$POLICY_MARKER" "$POLICY_RC_D"; then
		rm -f "$POLICY_RC_D"
	fi
	if [ -e "$POLICY_RC_D.stompws-saved" ] && [ ! -e "$POLICY_RC_D" ]; then
		mv "$POLICY_RC_D.stompws-saved" "$POLICY_RC_D"
	fi
}

apt_get() {
	DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		-o DPkg::Lock::Timeout=600 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"$@" </dev/null
}

# apt_install PKG...: installs the packages that are missing. One apt-get at a time on
# this machine (flock), the policy-rc.d guard in place meanwhile and removed afterwards,
# also when the install fails or is interrupted.
apt_install() {
	local missing
	missing=$(missing_packages "$@")
	[ -n "$missing" ] || return 0
	[ "$(id -u)" = 0 ] || die "packages missing ($missing) and not root to install them"
	mkdir -p "$BROKER_DIR"
	(
		flock -w 900 9 || die "could not lock $APT_LOCK within 900 s"
		# Another script may have installed them while this one waited for the lock.
		missing=$(missing_packages "$@")
		[ -n "$missing" ] || exit 0
		trap policy_guard_off EXIT
		trap 'exit 130' INT TERM HUP
		policy_guard_on
		local t0 apt_log=$BROKER_DIR/apt-$1.log
		t0=$(now)
		log "installing $missing (apt-get output in $apt_log)"
		# shellcheck disable=SC2086 # one package name per word
		if ! apt_get install --no-install-recommends $missing >"$apt_log" 2>&1; then
			log "apt-get install failed; updating the package lists and trying again"
			# shellcheck disable=SC2086
			if ! { apt_get update && apt_get install --no-install-recommends $missing; } >>"$apt_log" 2>&1; then
				tail -n 30 "$apt_log" >&2
				die "apt-get install $missing failed"
			fi
		fi
		log "installed in $(($(now) - t0)) s"
	) 9>>"$APT_LOCK"
}

# --- TLS -------------------------------------------------------------------------

# True when the TLS material exists, the server certificate is signed by the CA and
# both stay valid for at least another day.
tls_valid() {
	local f
	for f in ca.pem ca.key server.pem server.key server.p12; do
		[ -s "$TLS_DIR/$f" ] || return 1
	done
	openssl x509 -checkend 86400 -noout -in "$TLS_DIR/ca.pem" >/dev/null 2>&1 || return 1
	openssl x509 -checkend 86400 -noout -in "$TLS_DIR/server.pem" >/dev/null 2>&1 || return 1
	openssl verify -CAfile "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" >/dev/null 2>&1 || return 1
	# The key must belong to the certificate.
	[ "$(openssl x509 -noout -pubkey -in "$TLS_DIR/server.pem")" = \
		"$(openssl pkey -pubout -in "$TLS_DIR/server.key")" ] || return 1
}

# ensure_tls: a throw-away CA and a server certificate for localhost, 127.0.0.1 and ::1,
# plus a PKCS#12 keystore of it for Java. Kept as long as it is valid; made anew in a
# temporary folder and moved into place otherwise, under a lock so that two broker
# scripts starting together make it once.
ensure_tls() {
	mkdir -p "$BROKER_DIR"
	(
		flock -w 120 9 || die "could not lock $BROKER_DIR/tls.lock"
		tls_valid && exit 0
		log "making a throw-away CA and server certificate in $TLS_DIR"
		local tmp
		tmp=$(mktemp -d "$BROKER_DIR/tls.new.XXXXXX")
		trap 'rm -rf "$tmp"' EXIT
		(
			cd "$tmp" || exit 1
			openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
				-keyout ca.key -out ca.pem -subj "/CN=stompws test CA" \
				-addext "basicConstraints=critical,CA:TRUE" \
				-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
			openssl req -newkey rsa:2048 -nodes -sha256 \
				-keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
			cat >server.ext <<-'EOF'
				basicConstraints=CA:FALSE
				keyUsage=critical,digitalSignature,keyEncipherment
				extendedKeyUsage=serverAuth
				subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
			EOF
			openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
				-days 3650 -sha256 -extfile server.ext -out server.pem 2>/dev/null
			openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem \
				-name server -passout "pass:$P12_PASSWORD" -out server.p12
			rm -f server.csr server.ext ca.srl
			chmod 600 ca.key server.key server.p12
		)
		rm -rf "$TLS_DIR"
		mv "$tmp" "$TLS_DIR"
		chmod 755 "$TLS_DIR"
		tls_valid || die "the TLS material just made does not verify"
	) 9>>"$BROKER_DIR/tls.lock"
}

# --- ports and processes -----------------------------------------------------------

port_open() {
	# shellcheck disable=SC2016 # $1 and $2 belong to the inner bash
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_ports SECONDS HOST PORT...: true once every port answers; false at the deadline
# or as soon as the optional WAIT_PID (a pid variable set by the caller) has died.
wait_ports() {
	local secs=$1 host=$2 deadline p pending
	shift 2
	deadline=$(($(now) + secs))
	while :; do
		pending=
		for p in "$@"; do
			port_open "$host" "$p" || pending="$pending $p"
		done
		[ -z "$pending" ] && return 0
		if [ -n "${WAIT_PID:-}" ] && ! kill -0 "$WAIT_PID" 2>/dev/null; then
			log "process $WAIT_PID died; ports not answering:$pending"
			return 1
		fi
		if [ "$(now)" -ge "$deadline" ]; then
			log "ports not answering after $secs s:$pending"
			return 1
		fi
		sleep 0.3
	done
}

# The recorded pid, if the file holds a number.
read_pid() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(head -n1 "$1" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	printf '%s\n' "$pid"
}

# True when PID is alive and its command line contains PATTERN (a fixed string).
cmdline_matches() {
	local pid=$1 pattern=$2
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

pid_alive() {
	local pid
	pid=$(read_pid "$1") || return 1
	cmdline_matches "$pid" "$2"
}

# stop_pid PIDFILE PATTERN SECONDS: sends TERM to the recorded pid if it still runs a
# command with PATTERN, waits up to SECONDS for it to exit, then sends KILL.
# Removes the pid file. A stale pid (dead, or reused by another program) is left alone.
stop_pid() {
	local file=$1 pattern=$2 secs=$3 pid deadline
	if ! pid=$(read_pid "$file"); then
		rm -f "$file"
		return 0
	fi
	if ! cmdline_matches "$pid" "$pattern"; then
		log "pid $pid in $file is not running '$pattern' any more; nothing to stop"
		rm -f "$file"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now) + secs))
	while cmdline_matches "$pid" "$pattern"; do
		if [ "$(now)" -ge "$deadline" ]; then
			log "pid $pid still running after $secs s; sending KILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	rm -f "$file"
}

# wait_pid_gone PID PATTERN SECONDS: true once PID no longer runs a command line with
# PATTERN (exited, or its pid reused by another program); false at the deadline.
wait_pid_gone() {
	local pid=$1 pattern=$2 deadline
	deadline=$(($(now) + $3))
	while cmdline_matches "$pid" "$pattern"; do
		[ "$(now)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# wait_ports_closed SECONDS HOST PORT...: true once no port accepts a connection.
wait_ports_closed() {
	local secs=$1 host=$2 deadline p open
	shift 2
	deadline=$(($(now) + secs))
	while :; do
		open=
		for p in "$@"; do
			port_open "$host" "$p" && open="$open $p"
		done
		[ -z "$open" ] && return 0
		if [ "$(now)" -ge "$deadline" ]; then
			log "ports still accepting connections after $secs s:$open"
			return 1
		fi
		sleep 0.1
	done
}

# spawn LOG CMD...: see the header. The pid is CMD's own (the subshell and setsid exec
# into it: a background job of a script is no process group leader, so setsid does not
# fork).
spawn() {
	local out=$1
	shift
	(
		local fd
		for fd in /proc/"$BASHPID"/fd/*; do
			fd=${fd##*/}
			if [ "$fd" -gt 2 ]; then
				eval "exec $fd>&-" 2>/dev/null || true
			fi
		done
		exec setsid "$@" </dev/null >>"$out" 2>&1
	) &
	# shellcheck disable=SC2034 # read by the scripts that source this file
	SPAWNED_PID=$!
}

# Who started a broker: tests/run.sh stops only brokers it (or another run of it) started.
owner_file() { printf '%s/owner\n' "$1"; }
set_owner() {
	if [ -n "${STOMPWS_BROKER_OWNER:-}" ]; then
		printf '%s\n' "$STOMPWS_BROKER_OWNER" >"$(owner_file "$1")"
	else
		rm -f "$(owner_file "$1")"
	fi
}

# tests/run.sh registers itself as a file named by its pid in $RUNS_DIR while it uses
# the brokers. live_runs prints the pids of those still running (and forgets the rest).
RUNS_DIR=$BROKER_DIR/runs
live_runs() {
	local f pid
	for f in "$RUNS_DIR"/*; do
		[ -e "$f" ] || continue
		pid=${f##*/}
		if cmdline_matches "$pid" run.sh; then
			echo "$pid"
		else
			rm -f "$f"
		fi
	done
}

# For `stop` typed by hand: refuses while a tests/run.sh uses the brokers (it stops
# the brokers itself when it is done), unless STOMPWS_FORCE_STOP=1. The optional
# argument names what is refused ("stopping" by default; "killing", ...).
refuse_stop_during_runs() {
	local runs
	runs=$(live_runs | tr '\n' ' ')
	if [ -n "$runs" ] && [ "${STOMPWS_FORCE_STOP:-}" != 1 ]; then
		die "tests/run.sh (pid ${runs% }) is using the brokers; not ${1:-stopping} (STOMPWS_FORCE_STOP=1 forces it)"
	fi
}

# --- output --------------------------------------------------------------------------

# emit NAME VALUE: an export line that a shell can eval.
emit() {
	local v=$2
	v=${v//\\/\\\\}
	v=${v//\"/\\\"}
	v=${v//\$/\\\$}
	v=${v//\`/\\\`}
	printf 'export %s="%s"\n' "$1" "$v"
}

# The folder holding these scripts, as an absolute path.
scripts_dir() {
	cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P
}
