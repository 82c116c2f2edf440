#!/usr/bin/env bash
# Throughput against body size, publish and consume over ws, for the raw limit, stompws
# through C and through Rust, and the peer clients, from one run of the shared harness
# per body size (benches/harness.sh), then the plot benches/throughput-by-size.png.
#
# Usage: benches/plot-sizes.sh                 (all sizes, REPS=3)
#        SIZES="128 65536" REPS=5 benches/plot-sizes.sh
# Settings (environment):
#   SIZES ("128 1024 8192 65536 262144 1048576")  body sizes in bytes
#   BYTES (100000000)     bytes per run: N = BYTES / SIZE, at most 100000, at least 200
#   REPS (3)              repetitions (the plot shows the medians)
#   CLIENTS ("raw stompws stompws-c wstomp stompjs stomp.py")
#   OUT (/tmp/stompws-plot-<timestamp>)   per-size harness results and the merged data
#   PNG (benches/throughput-by-size.png)  the plot
# Needs what benches/harness.sh needs, and Python 3 with venv (matplotlib is installed
# into $OUT/venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SIZES=${SIZES:-"128 1024 8192 65536 262144 1048576"}
BYTES=${BYTES:-100000000}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-"raw stompws stompws-c wstomp stompjs stomp.py"}
OUT=${OUT:-/tmp/stompws-plot-$(date +%Y%m%d-%H%M%S)}
PNG=${PNG:-$ROOT/benches/throughput-by-size.png}

mkdir -p "$OUT"
for size in $SIZES; do
	n=$((BYTES / size))
	[ "$n" -le 100000 ] || n=100000
	[ "$n" -ge 200 ] || n=200
	echo "== size $size: $n messages, $REPS repetitions" >&2
	# The harness fails when any run failed; the plot shows what succeeded.
	SCENARIOS="publish consume" N=$n SIZE=$size REPS=$REPS CLIENTS="$CLIENTS" SAME_CORE=0 \
		RESULTS="$OUT/size-$size" bash "$ROOT/benches/harness.sh" >"$OUT/size-$size.log" 2>&1 ||
		echo "   some runs failed: see $OUT/size-$size.log" >&2
	cat "$OUT/size-$size/results.jsonl" >>"$OUT/results.jsonl"
done

python3 -m venv "$OUT/venv"
"$OUT/venv/bin/pip" install -q matplotlib
"$OUT/venv/bin/python" "$ROOT/benches/plot_sizes.py" "$OUT/results.jsonl" "$PNG"
echo "plot: $PNG (data: $OUT/results.jsonl)" >&2
