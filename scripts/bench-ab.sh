#!/usr/bin/env bash
# Compares two server binaries by server CPU per span, in interleaved runs: this machine's CPU
# speed drifts ~2x from minute to minute, so runs of A then all of B say more about the minute
# than about the change. Each run starts a fresh server (its own data directory, free ports),
# sends SPANS realistic spans with `ariadne loadgen` (500-span requests, 2 client threads, as
# OTel SDKs batch), waits until the server is idle (its cuts done), and reads the server's own
# user + system CPU from /proc. Prints every run, then each binary's runs sorted (take the median).
# Usage: scripts/bench-ab.sh A_BIN B_BIN [ROUNDS] [grpc|http] [server args...]
#   e.g. scripts/bench-ab.sh /tmp/ariadne-before .build/release/ariadne 5 grpc --store memory
# SPANS (default 1,000,000) and PROFILE (default realistic) from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 A_BIN B_BIN [ROUNDS] [grpc|http] [server args...]" >&2; exit 2; }
A=$1
B=$2
ROUNDS=${3:-5}
PROTO=${4:-http}
shift $(($# < 4 ? $# : 4))
SPANS=${SPANS:-1000000}
PROFILE=${PROFILE:-realistic}
LOADGEN=.build/release/ariadne
[ -x "$LOADGEN" ] || swift build -c release --product ariadne
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "$bin: not an executable" >&2; exit 2; }; done

PID=""
DATA=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; [ -n "$DATA" ] && rm -rf "$DATA"' EXIT
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat"; }

# One run of binary $1: prints spans per server CPU-second.
run() {
    local bin=$1
    shift
    DATA=$(mktemp -d)
    local log="$DATA/server.log"
    "$bin" serve --data-dir "$DATA/data" --otlp-grpc-port 0 --otlp-http-port 0 --zipkin-port 0 --query-port 0 \
        --sampling-port 0 "$@" > "$log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do grep -q "serve started" "$log" && break; sleep 0.1; done
    local endpoint
    if [ "$PROTO" = grpc ]; then
        endpoint=$(grep -o 'otlp_grpc=[^ ]*' "$log" | cut -d= -f2)
    else
        endpoint="http://$(grep -o 'otlp_http=[^ ]*' "$log" | cut -d= -f2)/v1/traces"
    fi
    local before after prev now
    before=$(cpu)
    "$LOADGEN" loadgen --protocol "$PROTO" --endpoint "$endpoint" --profile "$PROFILE" --spans "$SPANS" \
        --batch-spans 500 --concurrency 2 > /dev/null 2>&1
    prev=$(cpu)
    while sleep 1.5; do
        now=$(cpu)
        awk -v a="$now" -v b="$prev" 'BEGIN { exit !(a - b < 0.05) }' && break
        prev=$now
    done
    after=$(cpu)
    kill -INT $PID
    wait $PID 2>/dev/null || true
    PID=""
    rm -rf "$DATA"
    DATA=""
    awk -v a="$after" -v b="$before" -v n="$SPANS" 'BEGIN { printf "%.0f", n / (a - b) }'
}

SERVER_ARGS=("$@")
declare -a RA RB
for r in $(seq "$ROUNDS"); do
    a=$(run "$A" "${SERVER_ARGS[@]}")
    b=$(run "$B" "${SERVER_ARGS[@]}")
    RA+=("$a")
    RB+=("$b")
    echo "round $r/$ROUNDS: A $a, B $b spans per server CPU-second ($PROTO, $PROFILE)"
done
echo "A $A: $(printf '%s\n' "${RA[@]}" | sort -n | tr '\n' ' ')"
echo "B $B: $(printf '%s\n' "${RB[@]}" | sort -n | tr '\n' ' ')"
