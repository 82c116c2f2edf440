#!/usr/bin/env bash
# A 3-node RabbitMQ 3.10 cluster (Debian's rabbitmq-server) on this host for the failover
# tests, without systemd. It runs beside the single broker of rabbitmq.sh and shares
# nothing with it: other node names, ports, state folder, Erlang cookie and epmd.
#
# Usage: tests/brokers/rabbitmq-cluster.sh start|stop|status|env|kill N|revive N|ctl N ARGS...
#   start     installs the package if missing, writes each node's configuration and
#             starts the three nodes with empty databases; nodes 2 and 3 join node 1
#             (stop_app, join_cluster, start_app). Returns once the three run as one
#             cluster and every listener answers, or fails after
#             $STOMPWS_CLUSTER_START_TIMEOUT s (default 180) and shows the logs.
#             Does nothing if the cluster runs; revives killed nodes and runs start_app
#             on stopped apps when only part of it runs.
#   stop      stops every node by its recorded pid (and the epmd that start launched).
#             A cluster that tests/run.sh started (STOMPWS_BROKER_OWNER) is not stopped
#             while a tests/run.sh uses the brokers (STOMPWS_FORCE_STOP=1 overrides).
#   status    prints each node's state; exit 0: all three run, every listener answers and
#             node 1 (or the first live node) sees all three running in its cluster;
#             1: some of it runs; 3: no node runs.
#   env       prints the `export` lines the tests read (works whether it runs or not):
#             STOMPWS_CLUSTER_TCP_1..3, STOMPWS_CLUSTER_WS_1..3, STOMPWS_CLUSTER_NODES
#             (the node names, space-separated) and STOMPWS_CLUSTER_SCRIPT (this script).
#   kill N    SIGKILL to node N's Erlang VM by its recorded pid: a hard node loss.
#   revive N  starts node N again on its kept database and returns once another node's
#             cluster_status lists it as running and its listeners answer (or fails after
#             $STOMPWS_CLUSTER_REVIVE_TIMEOUT s, default 120); prints how long it took.
#   ctl N     runs rabbitmqctl against node N, e.g. `rabbitmq-cluster.sh ctl 1 list_queues`.
#
# Everything lives in $STOMPWS_BROKER_DIR/rabbitmq-cluster (default /tmp/stompws-brokers)
# and binds 127.0.0.1 only. Node N (1..3) is stompws-cN@localhost with
#   STOMP/TCP 6164N, ws 1568N (/ws), AMQP 568N, Erlang distribution 2569N;
# one epmd on port 4370 serves the three nodes (not 4369, the single broker's, so that
# neither script's stop can take the other's epmd away), and rabbitmqctl uses
# distribution ports 35700-35730 (not the default 35672-35682 of the single broker).
# Users on vhosts / and stomptest, as for rabbitmq.sh: guest/guest and stompws/stompws
# with all rights, stompro/stompro read-only.
# A queue that survives the loss of one node is a quorum queue: SUBSCRIBE and every SEND
# to /queue/NAME carry `x-queue-type:quorum` and `durable:true` (RabbitMQ refuses a SEND
# whose declaration arguments differ from the queue's).
set -euo pipefail

SCRIPT_NAME=rabbitmq-cluster.sh
# shellcheck source=tests/brokers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

C=$BROKER_DIR/rabbitmq-cluster
HOST=127.0.0.1
NODES=(1 2 3)
EPMD_PORT=4370
CTL_DIST_MIN=35700
CTL_DIST_MAX=35730
START_TIMEOUT=${STOMPWS_CLUSTER_START_TIMEOUT:-180}
REVIVE_TIMEOUT=${STOMPWS_CLUSTER_REVIVE_TIMEOUT:-120}
RABBIT_BIN=/usr/lib/rabbitmq/bin
EPMD_PID=$C/epmd.pid # only when start had to launch epmd
LOCK=$BROKER_DIR/rabbitmq-cluster.lock

case $C in *[[:space:]]*) die "the state folder $C contains white space" ;; esac

port_stomp() { echo $((61640 + $1)); }
port_ws() { echo $((15680 + $1)); }
port_amqp() { echo $((5680 + $1)); }
port_dist() { echo $((25690 + $1)); }
node_name() { echo "stompws-c$1@localhost"; }
node_dir() { echo "$C/n$1"; }
node_ports() { echo "$(port_stomp "$1") $(port_ws "$1") $(port_amqp "$1")"; }
server_pidfile() { echo "$(node_dir "$1")/server.pid"; } # the rabbitmq-server wrapper
beam_pidfile() { echo "$(node_dir "$1")/beam.pid"; }     # the VM (written by RabbitMQ)
# What /proc/PID/cmdline of node N's VM contains, and no other program's: a marker
# argument that the node's environment adds (all nodes share HOME, so -home does not
# tell them apart). The trailing space keeps n1 from matching n10.
beam_pattern() { echo "-stompws_cluster_node $(node_dir "$1") "; }

check_node_arg() {
	case ${1:-} in
	1 | 2 | 3) ;;
	*) die "node number must be 1, 2 or 3, not '${1:-}'" ;;
	esac
}

# node_env N: the environment that points RabbitMQ (server and rabbitmqctl) at node N.
# Exports into the calling shell: call it in a subshell.
node_env() {
	local d dist='-kernel inet_dist_use_interface {127,0,0,1}'
	d=$(node_dir "$1")
	export RABBITMQ_NODENAME
	RABBITMQ_NODENAME=$(node_name "$1")
	export RABBITMQ_NODE_IP_ADDRESS=$HOST
	export RABBITMQ_NODE_PORT
	RABBITMQ_NODE_PORT=$(port_amqp "$1")
	export RABBITMQ_DIST_PORT
	RABBITMQ_DIST_PORT=$(port_dist "$1")
	export RABBITMQ_CTL_DIST_PORT_MIN=$CTL_DIST_MIN
	export RABBITMQ_CTL_DIST_PORT_MAX=$CTL_DIST_MAX
	export RABBITMQ_CONF_ENV_FILE=$d/rabbitmq-env.conf
	export RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf
	export RABBITMQ_ADVANCED_CONFIG_FILE=$d/advanced.config
	export RABBITMQ_ENABLED_PLUGINS_FILE=$C/enabled_plugins
	export RABBITMQ_MNESIA_BASE=$d/mnesia
	export RABBITMQ_PLUGINS_EXPAND_DIR=$d/mnesia/plugins-expand
	export RABBITMQ_LOG_BASE=$d/log
	export RABBITMQ_LOGS=$d/log/rabbit.log
	export RABBITMQ_PID_FILE
	RABBITMQ_PID_FILE=$(beam_pidfile "$1")
	export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$dist -stompws_cluster_node $d"
	export RABBITMQ_CTL_ERL_ARGS=$dist
	export ERL_EPMD_ADDRESS=$HOST
	export ERL_EPMD_PORT=$EPMD_PORT
	# The Erlang cookie is read from $HOME/.erlang.cookie by server and rabbitmqctl
	# alike: one HOME for the three nodes, so one cookie, the cluster's own.
	export HOME=$C/home
}

# ctl_node N SECS ARGS...: rabbitmqctl against node N, killed after SECS.
ctl_node() {
	local n=$1 secs=$2
	shift 2
	(
		node_env "$n"
		timeout "$secs" "$RABBIT_BIN/rabbitmqctl" "$@"
	)
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
	mkdir -p "$C/home"
	if [ ! -s "$C/home/.erlang.cookie" ]; then
		(umask 077 && openssl rand -hex 20 | tr -d '\n' >"$C/home/.erlang.cookie")
		chmod 400 "$C/home/.erlang.cookie"
	fi
	echo '[rabbitmq_stomp,rabbitmq_web_stomp].' >"$C/enabled_plugins"

	local full='"configure": ".*", "write": ".*", "read": ".*"'
	# As in rabbitmq.sh: stompro may declare, bind and read its subscription queues, and
	# has no write right on any exchange, so it cannot publish.
	local ro='"configure": ".*", "write": "^stomp-subscription-.*", "read": ".*"'
	cat >"$C/definitions.json" <<-EOF
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

	local n d defs
	for n in "${NODES[@]}"; do
		d=$(node_dir "$n")
		mkdir -p "$d/mnesia" "$d/log"
		: >"$d/rabbitmq-env.conf"
		echo '[].' >"$d/advanced.config"
		# Users, vhosts and permissions live in the cluster's shared database: node 1
		# loads them, and join_cluster replaces what nodes 2 and 3 had with node 1's.
		defs=
		if [ "$n" = 1 ]; then defs="load_definitions = $C/definitions.json"; fi
		cat >"$d/rabbitmq.conf" <<-EOF
			# Written by tests/brokers/rabbitmq-cluster.sh; rewritten at every start.
			listeners.tcp.default = $HOST:$(port_amqp "$n")
			loopback_users.guest = false
			disk_free_limit.absolute = 50MB
			$defs
			log.console = false
			log.file.level = info

			stomp.listeners.tcp.1 = $HOST:$(port_stomp "$n")

			web_stomp.tcp.ip = $HOST
			web_stomp.tcp.port = $(port_ws "$n")
			web_stomp.ws_frame = text
		EOF
	done
}

epmd_answers() { ERL_EPMD_PORT=$EPMD_PORT epmd -names >/dev/null 2>&1; }

# The cluster's epmd on 127.0.0.1:$EPMD_PORT, unless one already answers there.
ensure_epmd() {
	epmd_answers && return 0
	mkdir -p "$C/log"
	# In a subshell, as the nodes: then it is no job of this script's shell.
	(
		spawn "$C/log/epmd.log" epmd -address "$HOST" -port "$EPMD_PORT"
		echo "$SPAWNED_PID" >"$EPMD_PID"
	)
	local _
	for _ in $(seq 50); do
		epmd_answers && return 0
		sleep 0.1
	done
	die "epmd did not start on port $EPMD_PORT (see $C/log/epmd.log)"
}

# The node's own process (wrapper or Erlang VM) is alive.
node_alive() {
	pid_alive "$(server_pidfile "$1")" rabbitmq-server || pid_alive "$(beam_pidfile "$1")" "$(beam_pattern "$1")"
}

node_ports_open() {
	local p
	# shellcheck disable=SC2046 # one port per word
	for p in $(node_ports "$1"); do
		port_open "$HOST" "$p" || return 1
	done
}

# running_nodes M: the running nodes of the cluster as node M sees them, one a line
# (empty when M does not answer).
running_nodes() {
	ctl_node "$1" 30 -q cluster_status --formatter json 2>/dev/null |
		grep -o '"running_nodes":\[[^]]*\]' | grep -o 'stompws-c[0-9]*@[A-Za-z0-9._-]*' || true
}

# sees M N: node M's cluster_status lists node N as running.
sees() { running_nodes "$1" | grep -qxF "$(node_name "$2")"; }

# A live node other than N whose listeners answer, to ask about the cluster.
other_live_node() {
	local m
	for m in "${NODES[@]}"; do
		[ "$m" = "$1" ] && continue
		if node_alive "$m" && node_ports_open "$m"; then
			echo "$m"
			return 0
		fi
	done
	return 1
}

show_logs() {
	local n f
	for n in "$@"; do
		for f in "$(node_dir "$n")/log/server.out" "$(node_dir "$n")/log/rabbit.log"; do
			if [ -s "$f" ]; then
				log "last lines of $f:"
				tail -n 30 "$f" >&2
			fi
		done
	done
}

ms_now() { date +%s%3N; }
# secs_since MS: seconds since the millisecond time MS, with one decimal.
secs_since() {
	local d=$(($(ms_now) - $1))
	printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

# spawn_node N: starts node N's server in the background on its kept database.
spawn_node() {
	local n=$1 d
	d=$(node_dir "$n")
	rm -f "$(beam_pidfile "$n")"
	printf '\n--- start %s\n' "$(date '+%F %T')" >>"$d/log/server.out"
	(
		node_env "$n"
		spawn "$d/log/server.out" "$RABBIT_BIN/rabbitmq-server"
		echo "$SPAWNED_PID" >"$(server_pidfile "$n")"
	)
}

# wait_node_ports N DEADLINE: node N's listeners answer before DEADLINE (epoch seconds);
# false at once when its wrapper dies.
wait_node_ports() {
	local n=$1 left
	left=$(($2 - $(now)))
	[ "$left" -gt 0 ] || left=1
	# shellcheck disable=SC2046 # one port per word
	WAIT_PID=$(read_pid "$(server_pidfile "$n")" || true) wait_ports "$left" "$HOST" $(node_ports "$n")
}

# wait_seen N DEADLINE: some other live node lists node N as running before DEADLINE.
wait_seen() {
	local n=$1 deadline=$2 m
	while :; do
		if m=$(other_live_node "$n") && sees "$m" "$n"; then
			return 0
		fi
		if ! node_alive "$n"; then
			log "node $n died"
			return 1
		fi
		if [ "$(now)" -ge "$deadline" ]; then
			log "no other node lists node $n as running"
			return 1
		fi
		sleep 1
	done
}

# revive_node N DEADLINE: starts node N again and waits until it has rejoined.
revive_node() {
	local n=$1 deadline=$2
	[ -d "$(node_dir "$n")/mnesia/$(node_name "$n")" ] ||
		die "node $n has no database to revive (run stop, then start)"
	# A killed node waits at boot for a running member to copy the database from.
	other_live_node "$n" >/dev/null ||
		die "no other node of the cluster runs for node $n to rejoin (run stop, then start)"
	ensure_epmd
	spawn_node "$n"
	log "node $n: started (pid $(read_pid "$(server_pidfile "$n")")), waiting for it to rejoin"
	if ! wait_node_ports "$n" "$deadline" || ! wait_seen "$n" "$deadline"; then
		show_logs "$n"
		die "node $n did not come back"
	fi
}

# True when every node runs, every listener answers and node 1 sees all three.
cluster_complete() {
	local n running
	for n in "${NODES[@]}"; do
		node_alive "$n" && node_ports_open "$n" || return 1
	done
	running=$(running_nodes 1)
	for n in "${NODES[@]}"; do
		grep -qxF "$(node_name "$n")" <<<"$running" || return 1
	done
}

# One start, stop, kill or revive at a time. Taken once per run of the script (start's
# failure path calls do_stop, which must not reopen fd 8 and so drop the lock).
LOCKED=
lock() {
	[ -z "$LOCKED" ] || return 0
	mkdir -p "$BROKER_DIR"
	exec 8>>"$LOCK"
	flock -w 300 8 || die "another start, stop, kill or revive holds $LOCK"
	LOCKED=1
}

do_start() {
	local t0 deadline n p any_alive=
	t0=$(ms_now)
	deadline=$(($(now) + START_TIMEOUT))
	apt_install rabbitmq-server
	lock

	for n in "${NODES[@]}"; do
		if node_alive "$n"; then any_alive=1; fi
	done
	if [ -n "$any_alive" ]; then
		if cluster_complete; then
			log "already running"
			return 0
		fi
		# Part of it runs: a node killed by `kill N`, or an app stopped by `ctl N stop_app`.
		for n in "${NODES[@]}"; do
			if ! node_alive "$n"; then
				revive_node "$n" "$deadline"
			elif ! node_ports_open "$n"; then
				log "node $n alive but listeners down; running rabbitmqctl start_app"
				ctl_node "$n" 120 start_app >&2 || die "start_app on node $n failed"
				wait_node_ports "$n" "$deadline" || die "node $n's listeners still down after start_app"
			fi
		done
		while ! cluster_complete; do
			[ "$(now)" -lt "$deadline" ] || die "the nodes run but do not form one cluster; try stop, then start"
			sleep 1
		done
		log "running again after $(secs_since "$t0") s"
		return 0
	fi

	for n in "${NODES[@]}"; do
		for p in $(node_ports "$n") $(port_dist "$n"); do
			if port_open "$HOST" "$p"; then
				die "port $HOST:$p is taken by a program that is not a node of this cluster (no live pid in $C)"
			fi
		done
	done

	# Fresh databases at every start: users, vhosts and permissions come from the
	# definitions file, and queues left by earlier test runs would only pile up.
	# (kill/revive keeps a node's database: that is the point of reviving it.)
	for n in "${NODES[@]}"; do
		rm -rf "$(node_dir "$n")/mnesia"
	done
	write_config
	ensure_epmd
	set_owner "$C"
	for n in "${NODES[@]}"; do
		: >"$(node_dir "$n")/log/server.out"
		: >"$(node_dir "$n")/log/rabbit.log"
	done
	# The three boot at once: each boots alone first, and nodes 2 and 3 join node 1 only
	# once all three answer.
	for n in "${NODES[@]}"; do
		spawn_node "$n"
	done
	local pids=""
	for n in "${NODES[@]}"; do
		pids="$pids $(read_pid "$(server_pidfile "$n")")"
	done
	log "starting nodes ${NODES[*]} (pids${pids}), up to $START_TIMEOUT s in all"
	for n in "${NODES[@]}"; do
		if ! wait_node_ports "$n" "$deadline"; then
			show_logs "$n"
			do_stop >/dev/null 2>&1 || true
			die "node $n did not start"
		fi
	done
	log "the three nodes run alone after $(secs_since "$t0") s; nodes 2 and 3 join node 1"
	for n in 2 3; do
		if ! {
			ctl_node "$n" 120 -q stop_app &&
				ctl_node "$n" 120 -q join_cluster "$(node_name 1)" &&
				ctl_node "$n" 120 -q start_app
		} >&2 || ! wait_node_ports "$n" "$deadline"; then
			show_logs "$n" 1
			do_stop >/dev/null 2>&1 || true
			die "node $n could not join node 1"
		fi
	done
	while ! cluster_complete; do
		if [ "$(now)" -ge "$deadline" ]; then
			show_logs "${NODES[@]}"
			do_stop >/dev/null 2>&1 || true
			die "the nodes did not form one cluster within $START_TIMEOUT s"
		fi
		sleep 1
	done
	log "cluster of $(node_name 1) $(node_name 2) $(node_name 3) running after $(secs_since "$t0") s"
}

do_stop() {
	lock
	local n beam was_running="" still=""
	for n in "${NODES[@]}"; do
		if node_alive "$n"; then was_running=1; fi
	done
	# TERM to each wrapper makes it stop its VM gracefully and wait for it; the nodes
	# stop in parallel (the next start wipes their databases anyway).
	# Waits for those jobs by pid only: a bare `wait` would also wait for an epmd that
	# this same run launched (start's failure path calls do_stop).
	local jobs=()
	for n in "${NODES[@]}"; do
		stop_pid "$(server_pidfile "$n")" rabbitmq-server 30 &
		jobs+=("$!")
	done
	wait "${jobs[@]}"
	# Left over if a wrapper died or was never ours.
	for n in "${NODES[@]}"; do
		beam=$(read_pid "$(beam_pidfile "$n")" || true)
		stop_pid "$(beam_pidfile "$n")" "$(beam_pattern "$n")" 15
		if [ -n "$beam" ] && cmdline_matches "$beam" "$(beam_pattern "$n")"; then
			still="$still $beam"
		fi
	done
	[ -z "$still" ] || die "pid(s)$still still running"
	# epmd only if this script launched it and no node is registered with it.
	if pid_alive "$EPMD_PID" "-port $EPMD_PORT"; then
		if ! ERL_EPMD_PORT=$EPMD_PORT epmd -names 2>/dev/null | grep -q '^name '; then
			stop_pid "$EPMD_PID" "-port $EPMD_PORT" 5
		fi
	else
		rm -f "$EPMD_PID"
	fi
	rm -f "$(owner_file "$C")"
	if [ -n "$was_running" ]; then
		log "stopped"
	else
		log "was not running"
	fi
}

do_status() {
	local n pid ask="" alive=0 complete=1 running
	for n in "${NODES[@]}"; do
		if ! node_alive "$n"; then
			echo "node $n $(node_name "$n"): not running"
			complete=
			continue
		fi
		alive=$((alive + 1))
		pid=$(read_pid "$(beam_pidfile "$n")" || read_pid "$(server_pidfile "$n")")
		if node_ports_open "$n"; then
			echo "node $n $(node_name "$n"): running (pid $pid), ports $(node_ports "$n") on $HOST answer"
			[ -n "$ask" ] || ask=$n
		else
			echo "node $n $(node_name "$n"): process $pid alive, but not every port of $(node_ports "$n") answers"
			complete=
		fi
	done
	if [ "$alive" = 0 ]; then
		return 3
	fi
	if [ -z "$ask" ]; then
		echo "cluster: no node answers"
		return 1
	fi
	running=$(running_nodes "$ask")
	echo "cluster as node $ask sees it: running nodes: $(echo "$running" | tr '\n' ' ')"
	for n in "${NODES[@]}"; do
		grep -qxF "$(node_name "$n")" <<<"$running" || complete=
	done
	[ -n "$complete" ] || return 1
}

do_kill() {
	local n=$1 pid t0
	check_node_arg "$n"
	lock
	pid=$(read_pid "$(beam_pidfile "$n")") || die "node $n has no recorded VM pid"
	cmdline_matches "$pid" "$(beam_pattern "$n")" || die "node $n is not running (pid $pid is not its VM)"
	t0=$(ms_now)
	kill -KILL "$pid"
	while [ -e "/proc/$pid" ] && cmdline_matches "$pid" "$(beam_pattern "$n")"; do
		[ $(($(ms_now) - t0)) -lt 10000 ] || die "pid $pid survived SIGKILL for 10 s"
		sleep 0.05
	done
	log "node $n $(node_name "$n"): VM pid $pid killed (SIGKILL)"
}

do_revive() {
	local n=$1 t0
	check_node_arg "$n"
	t0=$(ms_now)
	lock
	if node_alive "$n"; then
		node_ports_open "$n" || die "node $n runs, but its listeners do not answer (try start)"
		log "node $n already runs"
		return 0
	fi
	revive_node "$n" $(($(now) + REVIVE_TIMEOUT))
	log "node $n $(node_name "$n") rejoined and answers after $(secs_since "$t0") s"
}

do_ctl() {
	local n=${1:-}
	check_node_arg "$n"
	shift
	node_env "$n"
	exec "$RABBIT_BIN/rabbitmqctl" "$@"
}

do_env() {
	local n nodes=
	for n in "${NODES[@]}"; do
		emit "STOMPWS_CLUSTER_TCP_$n" "tcp://$HOST:$(port_stomp "$n")"
	done
	for n in "${NODES[@]}"; do
		emit "STOMPWS_CLUSTER_WS_$n" "ws://$HOST:$(port_ws "$n")/ws"
	done
	for n in "${NODES[@]}"; do
		nodes="$nodes $(node_name "$n")"
	done
	emit STOMPWS_CLUSTER_NODES "${nodes# }"
	emit STOMPWS_CLUSTER_SCRIPT "$(scripts_dir)/rabbitmq-cluster.sh"
}

case ${1:-} in
start) do_start ;;
stop)
	# Only a cluster that tests/run.sh started is its to stop; one that a test or a
	# person started is theirs to stop, also while a tests/run.sh runs.
	if [ "$(cat "$(owner_file "$C")" 2>/dev/null || true)" = tests/run.sh ]; then
		refuse_stop_during_runs stopping
	fi
	do_stop
	;;
status) do_status ;;
env) do_env ;;
kill) do_kill "${2:-}" ;;
revive) do_revive "${2:-}" ;;
ctl)
	shift
	do_ctl "$@"
	;;
*)
	echo "usage: $0 start|stop|status|env|kill N|revive N|ctl N ARGS..." >&2
	exit 2
	;;
esac
