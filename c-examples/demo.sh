#!/usr/bin/env bash
# The main job, end to end, on a fresh machine: builds libstompws, starts a local
# RabbitMQ (installed from Debian's packages the first time, bound to 127.0.0.1),
# builds the C examples, sends messages with the C producer over WebSocket, receives
# and acknowledges them with the C consumer, and shows what passed.
#
# Usage: bash c-examples/demo.sh [COUNT]          (default 5 messages)
# The broker keeps running afterwards; `bash tests/brokers/rabbitmq.sh stop` stops it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
COUNT=${1:-5}

say() { printf '\n== %s\n' "$*"; }

say "building libstompws (cargo build --release)"
cargo build --release --lib

say "starting RabbitMQ with STOMP and Web STOMP on 127.0.0.1"
bash tests/brokers/rabbitmq.sh start
eval "$(bash tests/brokers/rabbitmq.sh env)"

say "building the C examples (make -C c-examples)"
# Where cargo put the library: CARGO_TARGET_DIR or a cargo config may move it.
TARGET=$(cargo metadata --format-version 1 --no-deps |
	sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
make -C c-examples LIBDIR="$TARGET/release"

DEST="/queue/stompws-demo-$$"
say "producer: $COUNT messages to $DEST over $STOMPWS_RABBITMQ_WS"
c-examples/build/producer -u "$STOMPWS_RABBITMQ_WS" -d "$DEST" -n "$COUNT"

say "consumer: receives and acknowledges them over $STOMPWS_RABBITMQ_WS"
c-examples/build/consumer -u "$STOMPWS_RABBITMQ_WS" -d "$DEST" -n "$COUNT"

say "done: $COUNT messages passed from the C producer to the C consumer through RabbitMQ"
echo "(the broker keeps running; stop it with: bash tests/brokers/rabbitmq.sh stop)"
