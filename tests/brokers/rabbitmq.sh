#!/usr/bin/env bash
# RabbitMQ 3.10 (Debian's rabbitmq-server) for the stompws tests, without systemd.
#
# Usage: tests/brokers/rabbitmq.sh start|stop|status|env|ctl ARGS...
#   start   installs the package if missing, writes the configuration into the state
#           folder and starts the node, with an empty database, in the background;
#           returns once every listener answers (or fails after 60 s and shows the
#           log). Does nothing if it runs; brings the listeners back after stop_app.
#   stop    refuses while a tests/run.sh uses the brokers (STOMPWS_FORCE_STOP=1
#           overrides); otherwise stops the node by its recorded pid (and the epmd that start launched).
#   status  exit 0: running and all listeners answer; 1: process alive but some
#           listener does not answer (starting, or `ctl stop_app`); 3: not running.
#   env     prints the `export` lines the tests read (works whether it runs or not).
#   ctl     runs rabbitmqctl against this node, e.g. `rabbitmq.sh ctl stop_app`.
#
# Everything lives in $STOMPWS_BROKER_DIR/rabbitmq (default /tmp/stompws-brokers) and
# binds 127.0.0.1 only:
#   STOMP/TCP 61613, STOMP/TLS 61614, ws 15674 (/ws), wss 15673 (/ws),
#   AMQP 5672, Erlang distribution 25672, epmd 4369.
# Users (vhosts / and stomptest): guest/guest and stompws/stompws with all rights,
# stompro/stompro read-only (may subscribe, may not publish).
set -euo pipefail

SCRIPT_NAME=rabbitmq.sh
# shellcheck source=tests/brokers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

R=$BROKER_DIR/rabbitmq
HOST=127.0.0.1
PORT_STOMP=61613
PORT_STOMP_TLS=61614
PORT_WS=15674
PORT_WSS=15673
PORTS=("$PORT_STOMP" "$PORT_STOMP_TLS" "$PORT_WS" "$PORT_WSS")
NODENAME=stompws@localhost
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
	export RABBITMQ_NODE_PORT=5672
	export RABBITMQ_DIST_PORT=25672
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
	export ERL_EPMD_PORT=4369
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
		listeners.tcp.default = $HOST:5672
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
	spawn "$R/log/epmd.log" epmd -address "$HOST" -port 4369
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

do_status() {
	if ! node_alive; then
		echo "rabbitmq: not running"
		return 3
	fi
	local pid
	pid=$(read_pid "$BEAM_PID" || read_pid "$SERVER_PID")
	if all_ports_open; then
		echo "rabbitmq: running (pid $pid), ports ${PORTS[*]} on $HOST answer"
		return 0
	fi
	echo "rabbitmq: process $pid alive, but not every port of ${PORTS[*]} answers"
	return 1
}

do_start() {
	local t0
	t0=$(now)
	apt_install rabbitmq-server
	ensure_tls
	mkdir -p "$R/log"
	exec 8>>"$BROKER_DIR/rabbitmq.lock"
	flock -w 120 8 || die "another start or stop holds $BROKER_DIR/rabbitmq.lock"

	if node_alive; then
		if wait_ports 3 "$HOST" "${PORTS[@]}" 2>/dev/null; then
			log "already running"
			return 0
		fi
		# Alive, listeners down: most likely `ctl stop_app` by a test.
		log "node alive but listeners down; running rabbitmqctl start_app"
		(rabbit_env && timeout 60 "$RABBIT_BIN/rabbitmqctl" start_app) >&2 ||
			die "start_app failed"
		WAIT_PID=$(read_pid "$BEAM_PID" || true) wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}" ||
			die "listeners still down after start_app"
		log "listeners up again"
		return 0
	fi

	local p
	for p in "${PORTS[@]}" 5672 25672; do
		if port_open "$HOST" "$p"; then
			die "port $HOST:$p is taken by a program that is not this node (no live pid in $R)"
		fi
	done

	# A fresh database at every start: users, vhosts and permissions come from the
	# definitions file, and queues left by earlier test runs would only pile up.
	# (ctl stop_app/start_app keeps the node, and so its queues and messages.)
	rm -rf "$R/mnesia"
	write_config
	rabbit_env
	ensure_epmd
	rm -f "$BEAM_PID"
	: >"$R/log/server.out"
	: >"$R/log/rabbit.log"
	set_owner "$R"
	spawn "$R/log/server.out" "$RABBIT_BIN/rabbitmq-server"
	local pid=$SPAWNED_PID
	echo "$pid" >"$SERVER_PID"
	log "starting node $NODENAME (pid $pid), waiting up to $START_TIMEOUT s for ports ${PORTS[*]}"
	if ! WAIT_PID=$pid wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}"; then
		show_logs
		do_stop >/dev/null 2>&1 || true
		die "RabbitMQ did not start"
	fi
	log "running after $(($(now) - t0)) s"
}

do_stop() {
	mkdir -p "$BROKER_DIR"
	exec 8>>"$BROKER_DIR/rabbitmq.lock"
	flock -w 120 8 || die "another start or stop holds $BROKER_DIR/rabbitmq.lock"
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
		if ! ERL_EPMD_PORT=4369 epmd -names 2>/dev/null | grep -q '^name '; then
			stop_pid "$EPMD_PID" epmd 5
		fi
	else
		rm -f "$EPMD_PID"
	fi
	rm -f "$(owner_file "$R")"
	if [ -n "$was_running" ]; then
		log "stopped"
	else
		log "was not running"
	fi
}

do_env() {
	emit STOMPWS_BROKER_DIR "$BROKER_DIR"
	emit STOMPWS_RABBITMQ_WS "ws://$HOST:$PORT_WS/ws"
	emit STOMPWS_RABBITMQ_WSS "wss://localhost:$PORT_WSS/ws"
	emit STOMPWS_RABBITMQ_TCP "tcp://$HOST:$PORT_STOMP"
	emit STOMPWS_RABBITMQ_SSL "ssl://localhost:$PORT_STOMP_TLS"
	emit STOMPWS_TLS_CA_FILE "$TLS_DIR/ca.pem"
	emit STOMPWS_RABBITMQ_CTL "$(scripts_dir)/rabbitmq.sh ctl"
}

case ${1:-} in
start) do_start ;;
stop)
	refuse_stop_during_runs
	do_stop
	;;
status) do_status ;;
env) do_env ;;
ctl)
	shift
	do_ctl "$@"
	;;
*)
	echo "usage: $0 start|stop|status|env|ctl ARGS..." >&2
	exit 2
	;;
esac
