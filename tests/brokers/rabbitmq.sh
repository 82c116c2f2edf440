#!/usr/bin/env bash
# RabbitMQ 3.10 (Debian's rabbitmq-server) for the stompws tests, without systemd.
#
# Usage: [STOMPWS_INSTANCE=default|restart] tests/brokers/rabbitmq.sh VERB
#   start   installs the package if missing, writes the configuration into the state
#           folder and starts the node in the background; the default instance starts
#           with an empty database, the restart instance on the database it kept.
#           Returns once every listener answers (or fails after 60 s and shows the
#           log). Does nothing if it runs; brings the listeners back after stop_app.
#   stop    stops the node by its recorded pid (and the epmd that start launched,
#           when no other node uses it). On the default instance, refuses while a
#           tests/run.sh uses the brokers (STOMPWS_FORCE_STOP=1 overrides).
#   restart-app [SECONDS]
#           rabbitmqctl stop_app, then SECONDS (default 0) with the listeners down,
#           then start_app; returns once every listener answers again. The node, its
#           queues and persistent messages stay.
#   kill    SIGKILL to the Erlang VM (a crash: no clean shutdown); returns once the VM
#           is gone, its ports closed and its name out of epmd. `start` brings it back
#           (the restart instance with its database and durable queues).
#   restart [SECONDS]
#           stop, SECONDS (default 0) down, start.
#   wipe    stop, then delete the database (the next start begins empty).
#   status  exit 0: running and all listeners answer; 1: process alive but some
#           listener does not answer (starting, or `ctl stop_app`); 3: not running.
#   env     prints the `export` lines the tests read (works whether it runs or not).
#   ctl     runs rabbitmqctl against this node, e.g. `rabbitmq.sh ctl stop_app`.
# start, stop, restart-app, kill, restart and wipe print how long they took (stderr).
# On the default instance kill, restart and wipe are refused like stop.
#
# Instances (STOMPWS_INSTANCE, see select_instance in common.sh); everything binds
# 127.0.0.1 only and lives in $STOMPWS_BROKER_DIR (default /tmp/stompws-brokers):
#   default  ./rabbitmq, node stompws@localhost: STOMP/TCP 61613, STOMP/TLS 61614,
#            ws 15674 (/ws), wss 15673 (/ws), AMQP 5672, Erlang distribution 25672
#            (rabbitmqctl 35672-35682), epmd 4369;
#            env: STOMPWS_RABBITMQ_TCP, _SSL, _WS, _WSS, _CTL.
#   restart  ./rabbitmq-restart, node stompws-restart@localhost: STOMP/TCP 61713,
#            STOMP/TLS 61714, ws 15774 (/ws), wss 15773 (/ws), AMQP 5772, Erlang
#            distribution 25772 (rabbitmqctl 35772-35782), epmd 4371;
#            env: STOMPWS_RABBITMQ_RESTART_TCP, _SSL, _WS, _WSS, _CTL, and _SCRIPT
#            (this script for this instance, to append a verb to).
# Each instance has its own epmd and Erlang cookie (rabbitmq-cluster.sh: epmd 4370).
# Users (vhosts / and stomptest): guest/guest and stompws/stompws with all rights,
# stompro/stompro read-only (may subscribe, may not publish).
set -euo pipefail

SCRIPT_NAME=rabbitmq.sh
# shellcheck source=tests/brokers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_instance
[ "$INSTANCE" = default ] || SCRIPT_NAME="rabbitmq.sh ($INSTANCE)"
HOST=127.0.0.1
if [ "$INSTANCE" = default ]; then
	R=$BROKER_DIR/rabbitmq
	PORT_STOMP=61613
	PORT_STOMP_TLS=61614
	PORT_WS=15674
	PORT_WSS=15673
	PORT_AMQP=5672
	PORT_DIST=25672
	EPMD_PORT=4369
	NODENAME=stompws@localhost
	ENV_PREFIX=STOMPWS_RABBITMQ
	LABEL=rabbitmq
	# A fresh database at every start (see do_start).
	KEEP_DATA=
else
	# Ports away from the default instance's and from the 3-node cluster's.
	R=$BROKER_DIR/rabbitmq-restart
	PORT_STOMP=61713
	PORT_STOMP_TLS=61714
	PORT_WS=15774
	PORT_WSS=15773
	PORT_AMQP=5772
	PORT_DIST=25772
	# An epmd of its own: the default instance's stop ends its epmd when no node is
	# registered, which could happen while this node is still starting.
	EPMD_PORT=4371
	NODENAME=stompws-restart@localhost
	ENV_PREFIX=STOMPWS_RABBITMQ_RESTART
	LABEL="rabbitmq ($INSTANCE)"
	# The point of this instance: queues and persistent messages survive every restart.
	KEEP_DATA=1
fi
LOCK=$R.lock # beside the state folder, so that wipe may delete the folder
PORTS=("$PORT_STOMP" "$PORT_STOMP_TLS" "$PORT_WS" "$PORT_WSS")
START_TIMEOUT=${STOMPWS_BROKER_START_TIMEOUT:-60}
RABBIT_BIN=/usr/lib/rabbitmq/bin
SERVER_PID=$R/server.pid # the rabbitmq-server wrapper that start launched
BEAM_PID=$R/beam.pid     # the Erlang VM (written by RabbitMQ itself)
EPMD_PID=$R/epmd.pid     # only when start had to launch epmd

# The environment that points RabbitMQ (server and rabbitmqctl) at the state folder.
rabbit_env() {
	local dist='-kernel inet_dist_use_interface {127,0,0,1}'
	export RABBITMQ_NODENAME=$NODENAME
	export RABBITMQ_NODE_IP_ADDRESS=$HOST
	export RABBITMQ_NODE_PORT=$PORT_AMQP
	export RABBITMQ_DIST_PORT=$PORT_DIST
	export RABBITMQ_CONF_ENV_FILE=$R/rabbitmq-env.conf
	export RABBITMQ_CONFIG_FILE=$R/rabbitmq.conf
	export RABBITMQ_ADVANCED_CONFIG_FILE=$R/advanced.config
	export RABBITMQ_ENABLED_PLUGINS_FILE=$R/enabled_plugins
	export RABBITMQ_MNESIA_BASE=$R/mnesia
	export RABBITMQ_PLUGINS_EXPAND_DIR=$R/mnesia/plugins-expand
	export RABBITMQ_LOG_BASE=$R/log
	export RABBITMQ_LOGS=$R/log/rabbit.log
	export RABBITMQ_PID_FILE=$BEAM_PID
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=$dist
	export RABBITMQ_CTL_ERL_ARGS=$dist
	export ERL_EPMD_ADDRESS=$HOST
	export ERL_EPMD_PORT=$EPMD_PORT
	# The Erlang cookie is read from $HOME/.erlang.cookie by server and rabbitmqctl alike.
	export HOME=$R/home
}

# rabbit_password_hash PASSWORD: base64(salt + sha256(salt + password)), the format of
# rabbit_password_hashing_sha256 in a definitions file.
rabbit_password_hash() {
	local salt
	salt=$(openssl rand -hex 4 | sed 's/../\\x&/g')
	{
		# shellcheck disable=SC2059 # the format is the \x escapes of the salt
		printf "$salt"
		# shellcheck disable=SC2059
		{
			printf "$salt"
			printf '%s' "$1"
		} | openssl dgst -sha256 -binary
	} | base64 -w0
}

write_config() {
	mkdir -p "$R/home" "$R/mnesia" "$R/log"
	if [ ! -s "$R/home/.erlang.cookie" ]; then
		(umask 077 && openssl rand -hex 20 | tr -d '\n' >"$R/home/.erlang.cookie")
		chmod 400 "$R/home/.erlang.cookie"
	fi
	: >"$R/rabbitmq-env.conf"
	echo '[rabbitmq_stomp,rabbitmq_web_stomp].' >"$R/enabled_plugins"
	echo '[].' >"$R/advanced.config"

	local full='"configure": ".*", "write": ".*", "read": ".*"'
	# Read-only: stompro may declare and bind its own subscription queues (configure on
	# queues, write only on the stomp-subscription-* queues a SUBSCRIBE makes) and read
	# everything; write on an exchange (amq.default for /queue, amq.topic for /topic) is
	# what publishing needs, and it has none.
	local ro='"configure": ".*", "write": "^stomp-subscription-.*", "read": ".*"'
	cat >"$R/definitions.json" <<-EOF
		{
		  "users": [
		    {"name": "guest", "password_hash": "$(rabbit_password_hash guest)",
		     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "administrator"},
		    {"name": "stompws", "password_hash": "$(rabbit_password_hash stompws)",
		     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": "administrator"},
		    {"name": "stompro", "password_hash": "$(rabbit_password_hash stompro)",
		     "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": ""}
		  ],
		  "vhosts": [{"name": "/"}, {"name": "stomptest"}],
		  "permissions": [
		    {"user": "guest", "vhost": "/", $full},
		    {"user": "guest", "vhost": "stomptest", $full},
		    {"user": "stompws", "vhost": "/", $full},
		    {"user": "stompws", "vhost": "stomptest", $full},
		    {"user": "stompro", "vhost": "/", $ro},
		    {"user": "stompro", "vhost": "stomptest", $ro}
		  ]
		}
	EOF

	cat >"$R/rabbitmq.conf" <<-EOF
		# Written by tests/brokers/rabbitmq.sh; rewritten at every start.
		listeners.tcp.default = $HOST:$PORT_AMQP
		loopback_users.guest = false
		disk_free_limit.absolute = 50MB
		load_definitions = $R/definitions.json
		log.console = false
		log.file.level = info

		ssl_options.cacertfile = $TLS_DIR/ca.pem
		ssl_options.certfile = $TLS_DIR/server.pem
		ssl_options.keyfile = $TLS_DIR/server.key
		ssl_options.verify = verify_none
		ssl_options.fail_if_no_peer_cert = false

		stomp.listeners.tcp.1 = $HOST:$PORT_STOMP
		stomp.listeners.ssl.1 = $HOST:$PORT_STOMP_TLS

		web_stomp.tcp.ip = $HOST
		web_stomp.tcp.port = $PORT_WS
		web_stomp.ssl.ip = $HOST
		web_stomp.ssl.port = $PORT_WSS
		web_stomp.ssl.cacertfile = $TLS_DIR/ca.pem
		web_stomp.ssl.certfile = $TLS_DIR/server.pem
		web_stomp.ssl.keyfile = $TLS_DIR/server.key
		web_stomp.ws_frame = text
	EOF
}

# epmd bound to 127.0.0.1, unless one already answers (then that one is used).
ensure_epmd() {
	if epmd -names >/dev/null 2>&1; then
		return 0
	fi
	spawn "$R/log/epmd.log" epmd -address "$HOST" -port "$EPMD_PORT"
	echo "$SPAWNED_PID" >"$EPMD_PID"
	local _
	for _ in $(seq 50); do
		epmd -names >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	die "epmd did not start (see $R/log/epmd.log)"
}

# The node's own process (wrapper or Erlang VM) is alive.
node_alive() {
	pid_alive "$SERVER_PID" rabbitmq-server || pid_alive "$BEAM_PID" "-home $R/home"
}

all_ports_open() {
	local p
	for p in "${PORTS[@]}"; do
		port_open "$HOST" "$p" || return 1
	done
}

show_logs() {
	local f
	for f in "$R/log/server.out" "$R/log/rabbit.log"; do
		if [ -s "$f" ]; then
			log "last lines of $f:"
			tail -n 40 "$f" >&2
		fi
	done
}

do_ctl() {
	rabbit_env
	exec "$RABBIT_BIN/rabbitmqctl" "$@"
}

# Takes the instance's lock (start, stop and the restart verbs exclude each other); once
# per run of the script, so that restart may call stop and start.
lock_instance() {
	[ -z "${LOCKED:-}" ] || return 0
	mkdir -p "$BROKER_DIR"
	exec 8>>"$LOCK"
	flock -w 120 8 || die "another start, stop or restart holds $LOCK"
	LOCKED=1
}

# The Erlang VM's pid, if it runs.
beam_pid() {
	local pid
	pid=$(read_pid "$BEAM_PID") || return 1
	cmdline_matches "$pid" "-home $R/home" || return 1
	echo "$pid"
}

# True while epmd lists this node's name.
epmd_has_node() {
	ERL_EPMD_PORT=$EPMD_PORT epmd -names 2>/dev/null | grep -q "^name ${NODENAME%@*} at "
}

do_status() {
	if ! node_alive; then
		echo "$LABEL: not running"
		return 3
	fi
	local pid
	pid=$(read_pid "$BEAM_PID" || read_pid "$SERVER_PID")
	if all_ports_open; then
		echo "$LABEL: running (pid $pid), ports ${PORTS[*]} on $HOST answer"
		return 0
	fi
	echo "$LABEL: process $pid alive, but not every port of ${PORTS[*]} answers"
	return 1
}

# Waits until the node has finished booting. Its listeners open before the last boot
# steps: a CONNECT that comes in between can get ERROR "Processing error" (seen once in
# CI, on the first connect to a freshly started node).
await_boot() {
	(rabbit_env && timeout $((START_TIMEOUT + 10)) "$RABBIT_BIN/rabbitmqctl" await_startup \
		--timeout "$START_TIMEOUT") >&2
}

# start_app on a node whose listeners are down, and wait for them.
start_app() {
	(rabbit_env && timeout 60 "$RABBIT_BIN/rabbitmqctl" start_app) >&2 ||
		die "start_app failed"
	WAIT_PID=$(read_pid "$BEAM_PID" || true) wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}" ||
		die "listeners still down after start_app"
	await_boot || die "the node did not finish booting after start_app"
}

do_start() {
	local t0
	t0=$(now_ms)
	apt_install rabbitmq-server
	ensure_tls
	mkdir -p "$R/log"
	lock_instance

	if node_alive; then
		if wait_ports 3 "$HOST" "${PORTS[@]}" 2>/dev/null; then
			log "already running"
			return 0
		fi
		# Alive, listeners down: most likely `ctl stop_app` by a test.
		log "node alive but listeners down; running rabbitmqctl start_app"
		start_app
		log "listeners up again after $(took "$t0")"
		return 0
	fi

	local p
	for p in "${PORTS[@]}" "$PORT_AMQP" "$PORT_DIST"; do
		if port_open "$HOST" "$p"; then
			die "port $HOST:$p is taken by a program that is not this node (no live pid in $R)"
		fi
	done
	# After a kill, the VM's name may linger in epmd for a moment; a node cannot start
	# under a name that epmd still lists.
	local i
	for i in $(seq 50); do
		epmd_has_node || break
		[ "$i" -lt 50 ] || die "epmd still lists ${NODENAME%@*}, yet no node of $R runs"
		sleep 0.1
	done

	if [ -n "$KEEP_DATA" ]; then
		# Durable queues and persistent messages survive stop, kill and start here:
		# the restart tests count on it. `wipe` deletes them.
		if [ -d "$R/mnesia/$NODENAME" ]; then
			log "keeping the database in $R/mnesia"
		fi
	else
		# A fresh database at every start: users, vhosts and permissions come from the
		# definitions file, and queues left by earlier test runs would only pile up.
		# (ctl stop_app/start_app keeps the node, and so its queues and messages.)
		rm -rf "$R/mnesia"
	fi
	write_config
	rabbit_env
	ensure_epmd
	rm -f "$BEAM_PID"
	: >"$R/log/server.out"
	# The log of the run before a kill can tell why the node died: kept once.
	if [ -n "$KEEP_DATA" ] && [ -s "$R/log/rabbit.log" ]; then
		mv "$R/log/rabbit.log" "$R/log/rabbit.log.1"
	fi
	: >"$R/log/rabbit.log"
	set_owner "$R"
	spawn "$R/log/server.out" "$RABBIT_BIN/rabbitmq-server"
	local pid=$SPAWNED_PID
	echo "$pid" >"$SERVER_PID"
	log "starting node $NODENAME (pid $pid), waiting up to $START_TIMEOUT s for ports ${PORTS[*]}"
	if ! WAIT_PID=$pid wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}" || ! await_boot; then
		show_logs
		do_stop >/dev/null 2>&1 || true
		die "RabbitMQ did not start"
	fi
	log "running after $(took "$t0")"
}

do_stop() {
	local t0
	t0=$(now_ms)
	lock_instance
	local beam was_running=
	beam=$(read_pid "$BEAM_PID" || true)
	node_alive && was_running=1
	# TERM to the wrapper makes it stop the VM gracefully and wait for it.
	stop_pid "$SERVER_PID" rabbitmq-server 30
	# Left over if the wrapper died or was never ours.
	stop_pid "$BEAM_PID" "-home $R/home" 15
	if [ -n "$beam" ] && cmdline_matches "$beam" "-home $R/home"; then
		die "pid $beam is still running"
	fi
	# epmd only if this script launched it and no other node is registered with it.
	if pid_alive "$EPMD_PID" epmd; then
		if ! ERL_EPMD_PORT=$EPMD_PORT epmd -names 2>/dev/null | grep -q '^name '; then
			stop_pid "$EPMD_PID" epmd 5
		fi
	else
		rm -f "$EPMD_PID"
	fi
	rm -f "$(owner_file "$R")"
	if [ -n "$was_running" ]; then
		log "stopped in $(took "$t0")"
	else
		log "was not running"
	fi
}

# The optional SECONDS argument of restart-app and restart: a number, 0 by default.
down_seconds() {
	local s=${1:-0}
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SECONDS must be a number of seconds, not '$s'"
	echo "$s"
}

do_restart_app() {
	local down t0 t1 t2
	down=$(down_seconds "${1:-}")
	t0=$(now_ms)
	lock_instance
	node_alive || die "$NODENAME is not running; nothing to restart"
	wait_ports 3 "$HOST" "${PORTS[@]}" ||
		die "the listeners of $NODENAME do not answer before stop_app"
	(rabbit_env && timeout 60 "$RABBIT_BIN/rabbitmqctl" stop_app) >&2 ||
		die "stop_app failed"
	wait_ports_closed 10 "$HOST" "${PORTS[@]}" || die "listeners still open after stop_app"
	log "stop_app: listeners down after $(took "$t0")"
	t1=$(now_ms)
	sleep "$down"
	t2=$(now_ms)
	start_app
	log "start_app: listeners answer again after $(took "$t2")" \
		"($(took "$t1") since stop_app returned; restart-app took $(took "$t0"))"
}

do_kill() {
	local t0 beam
	t0=$(now_ms)
	lock_instance
	beam=$(beam_pid) || die "no Erlang VM of $NODENAME runs; nothing to kill"
	kill -KILL "$beam"
	# The wrapper's `wait` returns when the VM dies, and it exits; erl_child_setup and
	# the port programs exit on the end of their pipes to the VM.
	wait_pid_gone "$beam" "-home $R/home" 10 || die "pid $beam survived SIGKILL for 10 s"
	local wrapper
	if wrapper=$(read_pid "$SERVER_PID") && cmdline_matches "$wrapper" rabbitmq-server; then
		wait_pid_gone "$wrapper" rabbitmq-server 10 ||
			die "the wrapper (pid $wrapper) still runs 10 s after its VM died"
	fi
	rm -f "$SERVER_PID" "$BEAM_PID"
	wait_ports_closed 10 "$HOST" "${PORTS[@]}" "$PORT_AMQP" "$PORT_DIST" ||
		die "ports of the killed node still answer"
	local i
	for i in $(seq 100); do
		epmd_has_node || break
		[ "$i" -lt 100 ] || die "epmd still lists ${NODENAME%@*} 10 s after the kill"
		sleep 0.1
	done
	log "killed the Erlang VM (pid $beam) of $NODENAME; gone after $(took "$t0")"
}

do_restart() {
	local down t0 t1
	down=$(down_seconds "${1:-}")
	t0=$(now_ms)
	lock_instance
	node_alive || die "$NODENAME is not running; nothing to restart"
	do_stop
	t1=$(now_ms)
	sleep "$down"
	do_start
	log "restart took $(took "$t0") (down for $(took "$t1") after the stop)"
}

do_wipe() {
	local t0
	t0=$(now_ms)
	lock_instance
	do_stop
	rm -rf "$R/mnesia"
	log "database of $NODENAME deleted; wipe took $(took "$t0")"
}

do_env() {
	local script
	script=$(scripts_dir)/rabbitmq.sh
	emit STOMPWS_BROKER_DIR "$BROKER_DIR"
	emit "${ENV_PREFIX}_WS" "ws://$HOST:$PORT_WS/ws"
	emit "${ENV_PREFIX}_WSS" "wss://localhost:$PORT_WSS/ws"
	emit "${ENV_PREFIX}_TCP" "tcp://$HOST:$PORT_STOMP"
	emit "${ENV_PREFIX}_SSL" "ssl://localhost:$PORT_STOMP_TLS"
	emit STOMPWS_TLS_CA_FILE "$TLS_DIR/ca.pem"
	if [ "$INSTANCE" = default ]; then
		emit "${ENV_PREFIX}_CTL" "$script ctl"
	else
		# Words split at spaces (as tests/common/mod.rs does) give a command that works
		# on this instance whatever the caller's STOMPWS_INSTANCE.
		emit "${ENV_PREFIX}_CTL" "env STOMPWS_INSTANCE=$INSTANCE $script ctl"
		emit "${ENV_PREFIX}_SCRIPT" "env STOMPWS_INSTANCE=$INSTANCE $script"
	fi
}

# The shared instance is stopped by the tests/run.sh that started it; the restart
# instance by the tests that use it, whenever they want.
guard_shared() {
	[ "$INSTANCE" != default ] || refuse_stop_during_runs "$1"
}

VERB=${1:-}
[ $# -eq 0 ] || shift
case $VERB in
start) do_start ;;
stop)
	guard_shared stopping
	do_stop
	;;
restart-app) do_restart_app "$@" ;;
kill)
	guard_shared killing
	do_kill
	;;
restart)
	guard_shared restarting
	do_restart "$@"
	;;
wipe)
	guard_shared wiping
	do_wipe
	;;
status) do_status ;;
env) do_env ;;
ctl) do_ctl "$@" ;;
*)
	echo "usage: [STOMPWS_INSTANCE=default|restart] $0 start|stop|restart-app [SECONDS]|kill|restart [SECONDS]|wipe|status|env|ctl ARGS..." >&2
	exit 2
	;;
esac
