#!/usr/bin/env bash
# Prints Ariadne's Foundation figures on this machine (release build):
# Every figure is measured on PROFILE (default realistic: values that vary as real ones do; set
# PROFILE=loadgen for the repetitive shop traces).
#   1. OTLP protobuf decode throughput on one core;
#   2. end-to-end ingest into the store (default: the engine with fsync'd acks) over OTLP/gRPC and
#      OTLP/HTTP, loadgen on the same machine (so client and server share the cores), with the
#      server's own CPU time, peak RSS and block bytes per span;
#   3. peak RSS of a fresh server (default settings) taking a steady RATE spans/s (default 100,000)
#      over OTLP/gRPC for DURATION seconds (default 60).
# Usage: scripts/bench.sh [SPANS]   (default 1,000,000 spans per transport)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ariadne
SPANS=${1:-1000000}
# STORE_ARGS="--store memory" for the in-memory store; the default is the engine, durable acks.
STORE_ARGS=${STORE_ARGS:-}
PROFILE=${PROFILE:-realistic}
[ -x "$BIN" ] || swift build -c release --product ariadne
[ -x .build/release/ariadne-bench ] || swift build -c release --product ariadne-bench

echo "== decode (one core)"
taskset -c 0 .build/release/ariadne-bench decode --profile "$PROFILE" --seconds 5 2>/dev/null

# Starts a fresh server on free ports in a new data directory; sets PID, DATA, GRPC, HTTP, QUERY.
DIRS=()
trap 'kill $PID 2>/dev/null || true; rm -rf "${DIRS[@]}"' EXIT
start_server() {
    DATA=$(mktemp -d)
    DIRS+=("$DATA")
    local log="$DATA/server.log"
    "$BIN" serve --data-dir "$DATA" --otlp-grpc-port 0 --otlp-http-port 0 --zipkin-port 0 --query-port 0 \
        --sampling-port 0 $STORE_ARGS > "$log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do grep -q "serve started" "$log" && break; sleep 0.1; done
    GRPC=$(grep -o 'otlp_grpc=[^ ]*' "$log" | cut -d= -f2)
    HTTP=$(grep -o 'otlp_http=[^ ]*' "$log" | cut -d= -f2)
    QUERY=$(grep -o 'query=[^ ]*' "$log" | cut -d= -f2)
}
start_server

# CPU seconds (user + system) the server has used so far.
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat"; }

run() {
    local name=$1; shift
    echo "== end to end, $name, $SPANS spans"
    local before after
    before=$(server_cpu)
    "$BIN" loadgen "$@" --profile "$PROFILE" --spans "$SPANS" --batch-spans 1000 --concurrency 4 2>/dev/null
    after=$(server_cpu)
    awk -v a="$after" -v b="$before" -v n="$SPANS" \
        'BEGIN { printf "server CPU: %.2f s, %.0f spans per server CPU second\n", a - b, n / (a - b) }'
}
run "OTLP/gRPC" --protocol grpc --endpoint "$GRPC"
run "OTLP/HTTP protobuf" --protocol http --endpoint "http://$HTTP/v1/traces"
echo "== server side"
sleep 2
curl -s "http://$QUERY/metrics" | grep -E '^ariadne_(storage_spans|receiver_spans_accepted_total|engine_)'
curl -s "http://$QUERY/metrics" | awk '/^ariadne_engine_block_spans/ {s=$2} /^ariadne_engine_block_bytes/ {b=$2}
    END { if (s > 0) printf "block bytes per span: %.1f\n", b / s }'
echo "peak RSS of the server: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')"

kill $PID 2>/dev/null || true
wait $PID 2>/dev/null || true

RATE=${RATE:-100000}
DURATION=${DURATION:-60}
echo "== steady rate: $RATE spans/s for $DURATION s, fresh server with default settings"
start_server
( while kill -0 $PID 2>/dev/null; do
      awk '/VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null
      sleep 0.5
  done ) > "$DATA/rss.samples" &
SAMPLER=$!
"$BIN" loadgen --profile "$PROFILE" --protocol grpc --endpoint "$GRPC" --rate "$RATE" --duration "$DURATION" --batch-spans 1000 \
    --concurrency 4 2>/dev/null | tail -1
sleep 3
echo "server peak RSS while taking $RATE spans/s: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')" \
    "(samples: median $(sort -n "$DATA/rss.samples" | awk '{a[NR]=$1} END {print a[int(NR/2)+1]}') kB)"
kill $SAMPLER 2>/dev/null || true
