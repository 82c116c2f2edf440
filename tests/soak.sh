#!/usr/bin/env bash
# The reconnect soak of tests/soak.rs, outside CI: a producer and a consumer client
# through a fault-injecting proxy to the shared RabbitMQ, the proxy cutting every 30 s;
# prints RSS, descriptors and threads every 10 s and start vs end, and the message
# accounting (lost, duplicates, cuts, reconnects, cut-to-Connected times).
#
# Usage: [SOAK_SECS=600] [SOAK_RATE=3000] [SOAK_TRANSPORT=tcp|ws] tests/soak.sh [ARGS...]
#   SOAK_SECS       seconds of traffic (default 600)
#   SOAK_RATE       messages per second, in batches of 100 with one receipt (default 3000)
#   SOAK_TRANSPORT  tcp (STOMP over TCP, default) or ws (STOMP over WebSocket)
#   ARGS            passed to cargo test after `--release --test soak`
#
#  1. starts the shared RabbitMQ with tests/brokers/rabbitmq.sh start (does nothing when
#     it runs; one started here is left running, like a start by hand);
#  2. exports its STOMPWS_* variables and STOMPWS_REQUIRE_BROKERS=1, so an unreachable
#     broker fails the soak instead of skipping it;
#  3. runs `cargo test --release --test soak` with SOAK_SECS=600 (the soak's own default,
#     which `cargo test` and so CI use, is one minute).
# Exits with the test's status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

export SOAK_SECS="${SOAK_SECS:-600}"
export SOAK_RATE="${SOAK_RATE:-3000}"
export SOAK_TRANSPORT="${SOAK_TRANSPORT:-tcp}"

bash tests/brokers/rabbitmq.sh start
eval "$(bash tests/brokers/rabbitmq.sh env)"
export STOMPWS_REQUIRE_BROKERS=1

echo "tests/soak.sh: SOAK_SECS=$SOAK_SECS SOAK_RATE=$SOAK_RATE SOAK_TRANSPORT=$SOAK_TRANSPORT" >&2
exec cargo test --release --test soak "$@"
