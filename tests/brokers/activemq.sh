#!/usr/bin/env bash
# ActiveMQ Classic 5.17 (Debian's activemq package) for the stompws tests, without
# systemd and without Debian's init script.
#
# Usage: tests/brokers/activemq.sh start|stop|status|env
#   start   installs the package if missing, writes activemq.xml into the state folder
#           and starts the broker's JVM in the background (setsid); returns once both
#           listeners answer (or fails after 60 s and shows the log). Does nothing if
#           it already runs.
#   stop    refuses while a tests/run.sh uses the brokers (STOMPWS_FORCE_STOP=1
#           overrides); otherwise stops the JVM by its recorded pid.
#   status  exit 0: running and both listeners answer; 1: alive, some listener does
#           not answer; 3: not running.
#   env     prints the `export` lines the tests read (works whether it runs or not).
#
# Everything lives in $STOMPWS_BROKER_DIR/activemq (default /tmp/stompws-brokers) and
# binds 127.0.0.1 only: STOMP/TCP 61623, STOMP/TLS 61625 (no OpenWire, no JMX, no web
# console; Debian's build has no WebSocket transport). Messages are kept in memory
# (persistent="false"). Users: guest/guest and stompws/stompws may do anything,
# stompro/stompro may subscribe but not send; advisory topics are open to all three.
set -euo pipefail

SCRIPT_NAME=activemq.sh
# shellcheck source=tests/brokers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

A=$BROKER_DIR/activemq
HOST=127.0.0.1
PORT_STOMP=61623
PORT_STOMP_TLS=61625
PORTS=("$PORT_STOMP" "$PORT_STOMP_TLS")
START_TIMEOUT=${STOMPWS_BROKER_START_TIMEOUT:-60}
ACTIVEMQ_HOME=/usr/share/activemq
JAVA_PID=$A/java.pid
# What /proc/PID/cmdline of our JVM contains (and no other program's).
PATTERN="-Dactivemq.base=$A "

write_config() {
	mkdir -p "$A/conf" "$A/data" "$A/log" "$A/tmp"
	cat >"$A/conf/activemq.xml" <<-EOF
		<?xml version="1.0" encoding="UTF-8"?>
		<!-- Written by tests/brokers/activemq.sh; rewritten at every start. -->
		<beans xmlns="http://www.springframework.org/schema/beans"
		       xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
		       xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
		         http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
		  <broker xmlns="http://activemq.apache.org/schema/core"
		          brokerName="stompws" useJmx="false" persistent="false"
		          dataDirectory="$A/data">
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

do_status() {
	if ! java_alive; then
		echo "activemq: not running"
		return 3
	fi
	if all_ports_open; then
		echo "activemq: running (pid $(read_pid "$JAVA_PID")), ports ${PORTS[*]} on $HOST answer"
		return 0
	fi
	echo "activemq: process $(read_pid "$JAVA_PID") alive, but not every port of ${PORTS[*]} answers"
	return 1
}

do_start() {
	local t0
	t0=$(now)
	apt_install activemq
	ensure_tls
	mkdir -p "$A/log"
	exec 8>>"$BROKER_DIR/activemq.lock"
	flock -w 120 8 || die "another start or stop holds $BROKER_DIR/activemq.lock"

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
	log "running after $(($(now) - t0)) s"
}

do_stop() {
	mkdir -p "$BROKER_DIR"
	exec 8>>"$BROKER_DIR/activemq.lock"
	flock -w 120 8 || die "another start or stop holds $BROKER_DIR/activemq.lock"
	if java_alive; then
		stop_pid "$JAVA_PID" "$PATTERN" 20
		log "stopped"
	else
		rm -f "$JAVA_PID"
		log "was not running"
	fi
	rm -f "$(owner_file "$A")"
}

do_env() {
	emit STOMPWS_BROKER_DIR "$BROKER_DIR"
	emit STOMPWS_ACTIVEMQ_TCP "tcp://$HOST:$PORT_STOMP"
	emit STOMPWS_ACTIVEMQ_SSL "ssl://localhost:$PORT_STOMP_TLS"
	emit STOMPWS_TLS_CA_FILE "$TLS_DIR/ca.pem"
}

case ${1:-} in
start) do_start ;;
stop)
	refuse_stop_during_runs
	do_stop
	;;
status) do_status ;;
env) do_env ;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
