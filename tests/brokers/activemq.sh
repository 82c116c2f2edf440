#!/usr/bin/env bash
# ActiveMQ Classic 5.17 (Debian's activemq package) for the stompws tests, without
# systemd and without Debian's init script.
#
# Usage: [STOMPWS_INSTANCE=default|restart] tests/brokers/activemq.sh VERB
#   start   installs the package if missing, writes activemq.xml into the state folder
#           and starts the broker's JVM in the background (setsid); returns once both
#           listeners answer (or fails after 60 s and shows the log). Does nothing if
#           it already runs.
#   stop    stops the JVM by its recorded pid (TERM: a clean shutdown, KahaDB closed).
#           On the default instance, refuses while a tests/run.sh uses the brokers
#           (STOMPWS_FORCE_STOP=1 overrides).
#   restart [SECONDS]
#           stop, SECONDS (default 0) down, start; the restart instance keeps its
#           persistent messages.
#   kill    SIGKILL to the JVM (a crash); returns once it is gone and its ports are
#           closed. `start` brings it back (the restart instance recovers KahaDB).
#   wipe    stop, then delete the broker's data folder (KahaDB).
#   status  exit 0: running and both listeners answer; 1: alive, some listener does
#           not answer; 3: not running.
#   env     prints the `export` lines the tests read (works whether it runs or not).
# start, stop, restart, kill and wipe print how long they took (stderr). On the default
# instance kill, restart and wipe are refused like stop.
#
# Instances (STOMPWS_INSTANCE, see select_instance in common.sh); everything binds
# 127.0.0.1 only and lives in $STOMPWS_BROKER_DIR (default /tmp/stompws-brokers):
#   default  ./activemq, broker "stompws": STOMP/TCP 61623, STOMP/TLS 61625. Messages
#            are kept in memory (persistent="false"). env: STOMPWS_ACTIVEMQ_TCP, _SSL.
#   restart  ./activemq-restart, broker "stompws-restart": STOMP/TCP 61723, STOMP/TLS
#            61725. Persistent messages go to KahaDB in ./activemq-restart/data/kahadb
#            and survive stop + start and kill + start. env:
#            STOMPWS_ACTIVEMQ_RESTART_TCP, _SSL, and _SCRIPT (this script for this
#            instance, to append a verb to).
# No OpenWire (upstream's 61616), AMQP, MQTT, JMX or web console on either instance;
# Debian's build has no WebSocket transport. Users: guest/guest and stompws/stompws may
# do anything, stompro/stompro may subscribe but not send; advisory topics are open to
# all three.
set -euo pipefail

SCRIPT_NAME=activemq.sh
# shellcheck source=tests/brokers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_instance
[ "$INSTANCE" = default ] || SCRIPT_NAME="activemq.sh ($INSTANCE)"
HOST=127.0.0.1
if [ "$INSTANCE" = default ]; then
	A=$BROKER_DIR/activemq
	PORT_STOMP=61623
	PORT_STOMP_TLS=61625
	BROKER_NAME=stompws
	PERSISTENT=false
	ENV_PREFIX=STOMPWS_ACTIVEMQ
	LABEL=activemq
else
	A=$BROKER_DIR/activemq-restart
	PORT_STOMP=61723
	PORT_STOMP_TLS=61725
	BROKER_NAME=stompws-restart
	# The point of this instance: persistent messages survive a restart.
	PERSISTENT=true
	ENV_PREFIX=STOMPWS_ACTIVEMQ_RESTART
	LABEL="activemq ($INSTANCE)"
fi
LOCK=$A.lock # beside the state folder, so that wipe may delete the folder
PORTS=("$PORT_STOMP" "$PORT_STOMP_TLS")
START_TIMEOUT=${STOMPWS_BROKER_START_TIMEOUT:-60}
ACTIVEMQ_HOME=/usr/share/activemq
JAVA_PID=$A/java.pid
# What /proc/PID/cmdline of our JVM contains (and no other program's).
PATTERN="-Dactivemq.base=$A "

# The <persistenceAdapter> element of the restart instance (nothing for the default
# one): KahaDB in the state folder, which stop, kill and start keep.
persistence_adapter() {
	[ "$PERSISTENT" = true ] || return 0
	printf '    <persistenceAdapter><kahaDB directory="%s/data/kahadb"/></persistenceAdapter>\n' "$A"
}

write_config() {
	mkdir -p "$A/conf" "$A/data" "$A/log" "$A/tmp"
	cat >"$A/conf/activemq.xml" <<-EOF
		<?xml version="1.0" encoding="UTF-8"?>
		<!-- Written by tests/brokers/activemq.sh ($INSTANCE instance); rewritten at every start. -->
		<beans xmlns="http://www.springframework.org/schema/beans"
		       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
		       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
		         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
		  <broker xmlns="http://activemq.apache.org/schema/core"
		          brokerName="$BROKER_NAME" useJmx="false" persistent="$PERSISTENT"
		          dataDirectory="$A/data">
		$(persistence_adapter)
		    <plugins>
		      <simpleAuthenticationPlugin anonymousAccessAllowed="false">
		        <users>
		          <authenticationUser username="guest" password="guest" groups="users,everyone"/>
		          <authenticationUser username="stompws" password="stompws" groups="users,everyone"/>
		          <authenticationUser username="stompro" password="stompro" groups="readers,everyone"/>
		        </users>
		      </simpleAuthenticationPlugin>
		      <authorizationPlugin>
		        <map>
		          <authorizationMap>
		            <authorizationEntries>
		              <!-- readers may create (admin) and consume (read), never send (write) -->
		              <authorizationEntry queue=">" read="users,readers" write="users" admin="users,readers"/>
		              <authorizationEntry topic=">" read="users,readers" write="users" admin="users,readers"/>
		              <!-- every connection uses the advisory topics -->
		              <authorizationEntry topic="ActiveMQ.Advisory.>" read="everyone" write="everyone" admin="everyone"/>
		            </authorizationEntries>
		            <tempDestinationAuthorizationEntry>
		              <tempDestinationAuthorizationEntry read="everyone" write="everyone" admin="everyone"/>
		            </tempDestinationAuthorizationEntry>
		          </authorizationMap>
		        </map>
		      </authorizationPlugin>
		    </plugins>
		    <systemUsage>
		      <systemUsage>
		        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
		        <storeUsage><storeUsage limit="1 gb"/></storeUsage>
		        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
		      </systemUsage>
		    </systemUsage>
		    <sslContext>
		      <sslContext keyStore="file:$TLS_DIR/server.p12" keyStorePassword="$P12_PASSWORD"
		                  keyStoreType="PKCS12"/>
		    </sslContext>
		    <transportConnectors>
		      <transportConnector name="stomp" uri="stomp://$HOST:$PORT_STOMP"/>
		      <transportConnector name="stomp+ssl" uri="stomp+ssl://$HOST:$PORT_STOMP_TLS"/>
		    </transportConnectors>
		  </broker>
		</beans>
	EOF
	# Debian's ActiveMQ logs through log4j 1.2; stdout goes to $A/log/activemq.log.
	cat >"$A/conf/log4j.properties" <<-'EOF'
		log4j.rootLogger=INFO, stdout
		log4j.logger.org.springframework=WARN
		log4j.logger.org.apache.xbean=WARN
		log4j.logger.org.apache.activemq.spring=WARN
		log4j.appender.stdout=org.apache.log4j.ConsoleAppender
		log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
		log4j.appender.stdout.layout.ConversionPattern=%d | %-5p | %m | %c | %t%n
	EOF
}

java_alive() {
	pid_alive "$JAVA_PID" "$PATTERN"
}

all_ports_open() {
	local p
	for p in "${PORTS[@]}"; do
		port_open "$HOST" "$p" || return 1
	done
}

show_logs() {
	if [ -s "$A/log/activemq.log" ]; then
		log "last lines of $A/log/activemq.log:"
		tail -n 40 "$A/log/activemq.log" >&2
	fi
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

do_status() {
	if ! java_alive; then
		echo "$LABEL: not running"
		return 3
	fi
	if all_ports_open; then
		echo "$LABEL: running (pid $(read_pid "$JAVA_PID")), ports ${PORTS[*]} on $HOST answer"
		return 0
	fi
	echo "$LABEL: process $(read_pid "$JAVA_PID") alive, but not every port of ${PORTS[*]} answers"
	return 1
}

do_start() {
	local t0
	t0=$(now_ms)
	apt_install activemq
	ensure_tls
	mkdir -p "$A/log"
	lock_instance

	if java_alive; then
		WAIT_PID=$(read_pid "$JAVA_PID") wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}" ||
			die "the JVM (pid $(read_pid "$JAVA_PID")) runs but its listeners do not answer"
		log "already running"
		return 0
	fi

	local p
	for p in "${PORTS[@]}"; do
		if port_open "$HOST" "$p"; then
			die "port $HOST:$p is taken by a program that is not this broker (no live pid in $A)"
		fi
	done

	write_config
	set_owner "$A"
	# The log of the run before a kill or restart can tell what the broker did: kept once.
	if [ "$PERSISTENT" = true ] && [ -s "$A/log/activemq.log" ]; then
		mv "$A/log/activemq.log" "$A/log/activemq.log.1"
	fi
	: >"$A/log/activemq.log"
	# The trailing space in $PATTERN: -Dactivemq.base is followed by another argument.
	spawn "$A/log/activemq.log" "${JAVA:-java}" -Xms64m -Xmx256m -XX:+UseSerialGC \
		-Djava.awt.headless=true -Djava.io.tmpdir="$A/tmp" \
		-Dactivemq.base="$A" -Dactivemq.home="$ACTIVEMQ_HOME" \
		-Dactivemq.conf="$A/conf" -Dactivemq.data="$A/data" \
		-Dlog4j.configuration="file:$A/conf/log4j.properties" \
		-jar "$ACTIVEMQ_HOME/bin/activemq.jar" start "xbean:file:$A/conf/activemq.xml"
	local pid=$SPAWNED_PID
	echo "$pid" >"$JAVA_PID"
	log "starting the JVM (pid $pid), waiting up to $START_TIMEOUT s for ports ${PORTS[*]}"
	if ! WAIT_PID=$pid wait_ports "$START_TIMEOUT" "$HOST" "${PORTS[@]}"; then
		show_logs
		stop_pid "$JAVA_PID" "$PATTERN" 10 || true
		die "ActiveMQ did not start"
	fi
	log "running after $(took "$t0")"
}

do_stop() {
	local t0
	t0=$(now_ms)
	lock_instance
	if java_alive; then
		# TERM runs the broker's shutdown hook: connections closed, KahaDB flushed.
		stop_pid "$JAVA_PID" "$PATTERN" 20
		log "stopped in $(took "$t0")"
	else
		rm -f "$JAVA_PID"
		log "was not running"
	fi
	rm -f "$(owner_file "$A")"
}

# The optional SECONDS argument of restart: a number, 0 by default.
down_seconds() {
	local s=${1:-0}
	[[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "SECONDS must be a number of seconds, not '$s'"
	echo "$s"
}

do_restart() {
	local down t0 t1
	down=$(down_seconds "${1:-}")
	t0=$(now_ms)
	lock_instance
	java_alive || die "the broker $BROKER_NAME is not running; nothing to restart"
	do_stop
	t1=$(now_ms)
	sleep "$down"
	do_start
	log "restart took $(took "$t0") (down for $(took "$t1") after the stop)"
}

do_kill() {
	local t0 pid
	t0=$(now_ms)
	lock_instance
	java_alive || die "the broker $BROKER_NAME is not running; nothing to kill"
	pid=$(read_pid "$JAVA_PID")
	kill -KILL "$pid"
	wait_pid_gone "$pid" "$PATTERN" 10 || die "pid $pid survived SIGKILL for 10 s"
	rm -f "$JAVA_PID"
	wait_ports_closed 10 "$HOST" "${PORTS[@]}" || die "ports of the killed broker still answer"
	log "killed the JVM (pid $pid) of $BROKER_NAME; gone after $(took "$t0")"
}

do_wipe() {
	local t0
	t0=$(now_ms)
	lock_instance
	do_stop
	rm -rf "$A/data"
	log "data of $BROKER_NAME deleted; wipe took $(took "$t0")"
}

do_env() {
	emit STOMPWS_BROKER_DIR "$BROKER_DIR"
	emit "${ENV_PREFIX}_TCP" "tcp://$HOST:$PORT_STOMP"
	emit "${ENV_PREFIX}_SSL" "ssl://localhost:$PORT_STOMP_TLS"
	emit STOMPWS_TLS_CA_FILE "$TLS_DIR/ca.pem"
	if [ "$INSTANCE" != default ]; then
		# Words split at spaces give a command for this instance whatever the caller's
		# STOMPWS_INSTANCE.
		emit "${ENV_PREFIX}_SCRIPT" "env STOMPWS_INSTANCE=$INSTANCE $(scripts_dir)/activemq.sh"
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
restart)
	guard_shared restarting
	do_restart "$@"
	;;
kill)
	guard_shared killing
	do_kill
	;;
wipe)
	guard_shared wiping
	do_wipe
	;;
status) do_status ;;
env) do_env ;;
*)
	echo "usage: [STOMPWS_INSTANCE=default|restart] $0 start|stop|restart [SECONDS]|kill|wipe|status|env" >&2
	exit 2
	;;
esac
