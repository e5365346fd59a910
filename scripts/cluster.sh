#!/usr/bin/env bash
# Ariadne's cluster on this machine, on loopback: a 3-node NATS JetStream cluster (every message
# on all three), two ClickHouse shards behind Distributed tables, two collectors, two ingesters
# and two query nodes — each with its own ports, data directory and log.
#
#   scripts/cluster.sh up              start everything, print the endpoints
#   scripts/cluster.sh status          each process: running or not, and /health?ready
#   scripts/cluster.sh kill ROLE N     SIGKILL one (ROLE: nats, clickhouse, collector, ingester, query; N from 1)
#   scripts/cluster.sh start ROLE N    start one again (after kill)
#   scripts/cluster.sh down            stop everything (SIGTERM) and remove the directory
#
# CLUSTER_DIR (default ./ariadne-cluster) holds the state; CLUSTER_PORT (default 24000) is the
# first of the ports used (up to +99); ARIADNE_BIN the binary (default the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DIR=${CLUSTER_DIR:-$ROOT/ariadne-cluster}
BASE=${CLUSTER_PORT:-24000}
BIN=${ARIADNE_BIN:-$ROOT/.build/release/ariadne}

# Ports by role and index (1-based).
nats_port() { echo $((BASE + $1 - 1)); }
nats_route() { echo $((BASE + 10 + $1 - 1)); }
ch_http() { echo $((BASE + 20 + $1 - 1)); }
ch_tcp() { echo $((BASE + 30 + $1 - 1)); }
otlp_grpc() { echo $((BASE + 40 + $1 - 1)); }
otlp_http() { echo $((BASE + 50 + $1 - 1)); }
health() { echo $((BASE + 60 + $1 - 1)); }      # collectors' query port: /health and /metrics
ingester_port() { echo $((BASE + 70 + $1 - 1)); }
query_port() { echo $((BASE + 80 + $1 - 1)); }

NATS_URLS="nats://127.0.0.1:$(nats_port 1),nats://127.0.0.1:$(nats_port 2),nats://127.0.0.1:$(nats_port 3)"
CH_URLS="http://127.0.0.1:$(ch_http 1),http://127.0.0.1:$(ch_http 2)"
STORE=(--store clickhouse --clickhouse-url "$CH_URLS" --clickhouse-cluster ariadne --clickhouse-database ariadne)
BUFFER=(--buffer "$NATS_URLS")
COMMON=(--zipkin-port 0 --sampling-port 0)

pidfile() { echo "$DIR/$1-$2.pid"; }
running() { [ -f "$(pidfile "$1" "$2")" ] && kill -0 "$(cat "$(pidfile "$1" "$2")")" 2>/dev/null; }

start() {
    local role=$1 n=$2 data="$DIR/$1-$2"
    mkdir -p "$data"
    if running "$role" "$n"; then echo "$role $n is running"; return; fi
    case $role in
    nats)
        local routes=""
        for k in 1 2 3; do [ "$k" = "$n" ] || routes="$routes${routes:+,}nats://127.0.0.1:$(nats_route "$k")"; done
        nats-server -js -a 127.0.0.1 -p "$(nats_port "$n")" -sd "$data" -n "nats-$n" --cluster_name ariadne \
            --cluster "nats://127.0.0.1:$(nats_route "$n")" --routes "$routes" >> "$data/log" 2>&1 &
        ;;
    clickhouse)
        printf '<remote_servers><ariadne><shard><replica><host>127.0.0.1</host><port>%s</port></replica></shard><shard><replica><host>127.0.0.1</host><port>%s</port></replica></shard></ariadne></remote_servers>' \
            "$(ch_tcp 1)" "$(ch_tcp 2)" > "$DIR/remote_servers.xml"
        bash scripts/clickhouse-server.sh "$data" "$(ch_http "$n")" "$(ch_tcp "$n")" "$DIR/remote_servers.xml" >> "$data/log" 2>&1 &
        ;;
    collector)
        "$BIN" serve --role collector "${BUFFER[@]}" "${COMMON[@]}" --data-dir "$data" --otlp-grpc-port "$(otlp_grpc "$n")" \
            --otlp-http-port "$(otlp_http "$n")" --query-port "$(health "$n")" >> "$data/log" 2>&1 &
        ;;
    ingester)
        "$BIN" serve --role ingester --ingester-id "ingester-$n" "${BUFFER[@]}" "${STORE[@]}" "${COMMON[@]}" --data-dir "$data" \
            --otlp-grpc-port 0 --otlp-http-port 0 --query-port "$(ingester_port "$n")" >> "$data/log" 2>&1 &
        ;;
    query)
        "$BIN" serve --role query "${STORE[@]}" "${COMMON[@]}" --data-dir "$data" --otlp-grpc-port 0 --otlp-http-port 0 \
            --query-port "$(query_port "$n")" >> "$data/log" 2>&1 &
        ;;
    *) echo "cluster: unknown role $role (nats, clickhouse, collector, ingester, query)" >&2; exit 2 ;;
    esac
    echo $! > "$(pidfile "$role" "$n")"
}

wait_http() { # URL WHAT
    for _ in $(seq 600); do curl -sf "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    echo "cluster: $2 did not answer $1 within 60 s (see $DIR)" >&2
    exit 1
}

wait_port() { # PORT WHAT
    for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "cluster: $2 did not listen on $1 within 30 s" >&2
    exit 1
}

endpoints() {
    echo "cluster: $DIR"
    echo "  OTLP gRPC      127.0.0.1:$(otlp_grpc 1)  127.0.0.1:$(otlp_grpc 2)    (collectors)"
    echo "  OTLP HTTP      http://127.0.0.1:$(otlp_http 1)  http://127.0.0.1:$(otlp_http 2)"
    echo "  query + UI     http://127.0.0.1:$(query_port 1)  http://127.0.0.1:$(query_port 2)"
    echo "  health/metrics collectors :$(health 1) :$(health 2), ingesters :$(ingester_port 1) :$(ingester_port 2)"
    echo "  NATS           $NATS_URLS"
    echo "  ClickHouse     $CH_URLS (cluster 'ariadne', database 'ariadne')"
}

case ${1:-} in
up)
    command -v nats-server > /dev/null && command -v clickhouse-server > /dev/null || {
        echo "cluster: needs nats-server and clickhouse-server: run scripts/setup.sh --python" >&2
        exit 1
    }
    [ -x "$BIN" ] || swift build -c release --product ariadne
    mkdir -p "$DIR"
    echo "cluster: starting NATS (3 nodes) and ClickHouse (2 shards)"
    for n in 1 2 3; do start nats $n; done
    for n in 1 2; do start clickhouse $n; done
    for n in 1 2 3; do wait_port "$(nats_port $n)" "nats $n"; done
    for n in 1 2; do wait_http "http://127.0.0.1:$(ch_http $n)/ping" "clickhouse $n"; done
    echo "cluster: starting 2 collectors, 2 ingesters, 2 query nodes"
    # One ingester first: it creates the schema the others then find.
    start ingester 1
    wait_http "http://127.0.0.1:$(ingester_port 1)/health?ready" "ingester 1"
    start ingester 2
    for n in 1 2; do start collector $n; start query $n; done
    for n in 1 2; do
        wait_http "http://127.0.0.1:$(health $n)/health?ready" "collector $n"
        wait_http "http://127.0.0.1:$(ingester_port $n)/health?ready" "ingester $n"
        wait_http "http://127.0.0.1:$(query_port $n)/health?ready" "query $n"
    done
    endpoints
    ;;
status)
    for spec in nats:3 clickhouse:2 collector:2 ingester:2 query:2; do
        role=${spec%:*}
        for n in $(seq "${spec#*:}"); do
            state=stopped
            if running "$role" "$n"; then
                state="running (pid $(cat "$(pidfile "$role" "$n")"))"
                case $role in
                collector) port=$(health "$n") ;;
                ingester) port=$(ingester_port "$n") ;;
                query) port=$(query_port "$n") ;;
                *) port="" ;;
                esac
                [ -n "$port" ] && state="$state, $(curl -s "http://127.0.0.1:$port/health?ready" || echo 'no answer')"
            fi
            printf '%-10s %s  %s\n' "$role" "$n" "$state"
        done
    done
    ;;
kill)
    [ $# -eq 3 ] || { echo "usage: $0 kill ROLE N" >&2; exit 2; }
    running "$2" "$3" || { echo "cluster: $2 $3 is not running" >&2; exit 1; }
    pid=$(cat "$(pidfile "$2" "$3")")
    kill -9 "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "cluster: killed $2 $3 (SIGKILL)"
    ;;
start)
    [ $# -eq 3 ] || { echo "usage: $0 start ROLE N" >&2; exit 2; }
    start "$2" "$3"
    echo "cluster: started $2 $3 (log $DIR/$2-$3/log)"
    ;;
down)
    for f in "$DIR"/*.pid; do
        [ -f "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$DIR"
    echo "cluster: stopped"
    ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
