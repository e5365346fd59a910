#!/usr/bin/env bash
# The ingest cost of TLS + authentication (release build): the same realistic spans sent over
# OTLP/gRPC and OTLP/HTTP to a plain server and to one with `tls` and `auth` (an API key in the
# bearer header), in ROUNDS interleaved runs each (this VM's speed drifts minute to minute), each
# printing the server's spans per CPU-second.
# Usage: scripts/bench-security.sh [SPANS]   (default 500,000 spans per run; ROUNDS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ariadne
SPANS=${1:-500000}
ROUNDS=${ROUNDS:-2}
PROFILE=${PROFILE:-realistic}
[ -x "$BIN" ] || swift build -c release --product ariadne

WORK=$(mktemp -d)
PID=
trap 'if [ -n "$PID" ]; then kill $PID 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
(
    cd "$WORK"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=localhost 2>/dev/null
    echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext 2>/dev/null
    echo "bench-ingest-key-0123456789abcdef" > ingest.key
    printf 'tls:\n  cert_file: server.pem\n  key_file: server-key.pem\nauth:\n  api_keys:\n    - {name: bench, key_file: ingest.key, tenant: bench, role: ingest}\n' > secured.yaml
)

# Starts a fresh server (plain, or secured with the config above); sets PID, GRPC, HTTP.
start_server() {
    local data
    data=$(mktemp -d -p "$WORK")
    local extra=()
    [ "$1" = secured ] && extra=(--config "$WORK/secured.yaml")
    "$BIN" serve --data-dir "$data" --otlp-grpc-port 0 --otlp-http-port 0 --zipkin-port 0 --query-port 0 --sampling-port 0 \
        "${extra[@]}" > "$data/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do grep -q "serve started" "$data/server.log" && break; sleep 0.1; done
    GRPC=$(grep -o 'otlp_grpc=[^ ]*' "$data/server.log" | cut -d= -f2)
    HTTP=$(grep -o 'otlp_http=[^ ]*' "$data/server.log" | cut -d= -f2)
}
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat"; }

measure() {
    local mode=$1 protocol=$2
    start_server "$mode"
    local args=(--protocol "$protocol")
    if [ "$mode" = secured ]; then
        args+=(--ca-file "$WORK/ca.pem" --bearer-token-file "$WORK/ingest.key")
        [ "$protocol" = grpc ] && args+=(--endpoint "$GRPC") || args+=(--endpoint "https://$HTTP/v1/traces")
    else
        [ "$protocol" = grpc ] && args+=(--endpoint "$GRPC") || args+=(--endpoint "http://$HTTP/v1/traces")
    fi
    local before after
    before=$(server_cpu)
    "$BIN" loadgen "${args[@]}" --profile "$PROFILE" --spans "$SPANS" --batch-spans 1000 --concurrency 4 2>/dev/null | tail -1
    after=$(server_cpu)
    awk -v a="$after" -v b="$before" -v n="$SPANS" -v m="$mode" -v p="$protocol" \
        'BEGIN { printf "%-8s %-5s server CPU %.2f s, %.0f spans per server CPU second\n", m, p, a - b, n / (a - b) }'
    kill $PID
    wait $PID 2>/dev/null || true
    PID=
}

for round in $(seq "$ROUNDS"); do
    echo "== round $round of $ROUNDS ($SPANS $PROFILE spans per run)"
    for protocol in grpc http; do
        measure plain "$protocol"
        measure secured "$protocol"
    done
done
