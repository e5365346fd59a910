#!/usr/bin/env bash
# Prints the cluster's figures on this machine (scripts/cluster.sh: 3 NATS R3, 2 ClickHouse
# shards, 2 collectors, 2 ingesters, 2 query nodes — all sharing this machine's cores with the
# load generators), on the realistic profile:
#   1. spans/s end to end: OTLP into both collectors → stored and queryable (ClickHouse holds
#      every span and the ingesters' lag is 0);
#   2. CPU seconds per span of each role (collectors, ingesters, NATS, ClickHouse);
#   3. publish-to-queryable latency, p50/p99: single traces sent to a collector during the load,
#      polled by id on a query node;
#   4. the same spans straight into ClickHouse through one all-in-one node in the same run, and
#      the ratio.
# Usage: scripts/bench-cluster.sh [SPANS]   (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
SPANS=${1:-1000000}
export ARIADNE_BIN=${ARIADNE_BIN:-$(pwd)/.build/release/ariadne}
[ -x "$ARIADNE_BIN" ] || swift build -c release --product ariadne
export CLUSTER_DIR=$(mktemp -d) CLUSTER_PORT=${CLUSTER_PORT:-25000}
BASE=$CLUSTER_PORT
DIRECT=""
trap 'kill $DIRECT 2>/dev/null || true; bash scripts/cluster.sh down > /dev/null 2>&1 || true' EXIT
bash scripts/cluster.sh up
CH=http://127.0.0.1:$((BASE + 20))
q() { curl -s --data-binary "$1" "$CH/"; }
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }
pid() { cat "$CLUSTER_DIR/$1.pid"; }
# ClickHouse's own process (the script execs it) and each role's processes.
declare -A ROLE_PIDS=(
    [collectors]="$(pid collector-1) $(pid collector-2)"
    [ingesters]="$(pid ingester-1) $(pid ingester-2)"
    [nats]="$(pid nats-1) $(pid nats-2) $(pid nats-3)"
    [clickhouse]="$(pid clickhouse-1) $(pid clickhouse-2)"
)
role_cpu() { local t=0; for p in ${ROLE_PIDS[$1]}; do t=$(echo "$t + $(cpu "$p")" | bc); done; echo "$t"; }
declare -A CPU0
for r in "${!ROLE_PIDS[@]}"; do CPU0[$r]=$(role_cpu "$r"); done

echo "== end to end: $SPANS realistic spans into two collectors → NATS → two ingesters → ClickHouse"
t0=$(date +%s.%N)
# Publish-to-queryable probes, through the load and after it.
python3 - "127.0.0.1:$((BASE + 50))" "127.0.0.1:$((BASE + 80))" > "$CLUSTER_DIR/latency.txt" <<'PY' &
import json, sys, time, urllib.request, os
collector, query = sys.argv[1:3]
lat = []
for n in range(60):
    tid = "%016x%016x" % (0xB0B0, n + 1)
    now = time.time_ns()
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "probe"}}]},
            "scopeSpans": [{"scope": {}, "spans": [{"traceId": tid, "spanId": "%016x" % 1, "name": "probe", "kind": 2,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1000)}]}]}]}
    req = urllib.request.Request(f"http://{collector}/v1/traces", json.dumps(body).encode(), {"Content-Type": "application/json"})
    t = time.perf_counter()
    try:
        urllib.request.urlopen(req, timeout=30).read()
    except Exception:
        continue
    while time.perf_counter() - t < 60:
        try:
            urllib.request.urlopen(f"http://{query}/api/traces/{tid}", timeout=30).read()
            lat.append((time.perf_counter() - t) * 1000)
            break
        except Exception:
            time.sleep(0.02)
    time.sleep(0.2)
lat.sort()
print(f"{lat[len(lat) // 2]:.0f} {lat[int(len(lat) * 0.99) - 1]:.0f} {len(lat)}")
PY
PROBE=$!
half=$((SPANS / 2))
# Two senders, one per collector (or both at one endpoint): waits for both.
send() { # ENDPOINT1 ENDPOINT2 OUTDIR
    local pids=()
    for k in 0 1; do
        local endpoint=$1
        [ "$k" = 1 ] && endpoint=$2
        "$ARIADNE_BIN" loadgen --protocol grpc --endpoint "$endpoint" --profile realistic --spans "$half" --seed $((7 + k)) \
            --batch-spans 1000 --concurrency 8 2>/dev/null | tail -1 > "$3/loadgen-$k.txt" &
        pids+=($!)
    done
    wait "${pids[@]}"
}
send "127.0.0.1:$((BASE + 40))" "127.0.0.1:$((BASE + 41))" "$CLUSTER_DIR"
sent=$(cat "$CLUSTER_DIR"/loadgen-*.txt | grep -o 'acknowledged=[0-9]*' | cut -d= -f2 | paste -sd+ | bc)
t_ack=$(date +%s.%N)
cat "$CLUSTER_DIR"/loadgen-*.txt
# Stored: the ingesters have settled (stored, then acknowledged) as many spans as the senders got
# acknowledged — read from their metrics, so that polling does not load ClickHouse; counted there once after.
ingested() { # METRIC
    for p in 70 71; do curl -s "http://127.0.0.1:$((BASE + p))/metrics" | awk -v m="$1" '$1 ~ "^"m {s += $2} END {printf "%d\n", s}'; done | paste -sd+ | bc
}
for _ in $(seq 2400); do
    [ "$(ingested ariadne_buffer_spans_consumed_total)" -ge "$sent" ] && break
    sleep 0.25
done
t1=$(date +%s.%N)
stored=$(q "SELECT count() FROM ariadne.traces WHERE name != 'probe'")
cluster_rate=$(echo "$sent / ($t1 - $t0)" | bc)
awk -v n="$sent" -v t="$(echo "$t1 - $t0" | bc)" -v a="$(echo "$t_ack - $t0" | bc)" 'BEGIN {
    printf "%.0f spans/s end to end (%d spans stored in %.1f s; senders acknowledged after %.1f s)\n", n / t, n, t, a }'
echo "stored spans (ClickHouse, both shards): $stored"
for r in collectors ingesters nats clickhouse; do
    d=$(echo "$(role_cpu "$r") - ${CPU0[$r]}" | bc)
    awk -v r="$r" -v d="$d" -v n="$sent" 'BEGIN { printf "  %-11s %6.1f CPU-s = %5.1f CPU-µs per span (%.0f spans per CPU-s)\n", r, d, d / n * 1e6, n / d }'
done
wait $PROBE || true
read -r p50 p99 probes < "$CLUSTER_DIR/latency.txt"
echo "publish → queryable by id: p50 ${p50} ms, p99 ${p99} ms ($probes probes during and after the load)"

echo "== the same spans straight into ClickHouse: one all-in-one node, OTLP/gRPC → ClickHouse"
DATA=$(mktemp -d -p "$CLUSTER_DIR")
"$ARIADNE_BIN" serve --data-dir "$DATA" --otlp-grpc-port 0 --otlp-http-port 0 --zipkin-port 0 --query-port 0 --sampling-port 0 \
    --store clickhouse --clickhouse-url "$CH,http://127.0.0.1:$((BASE + 21))" --clickhouse-cluster ariadne --clickhouse-database direct \
    > "$DATA/log" 2>&1 &
DIRECT=$!
for _ in $(seq 300); do grep -q "serve started" "$DATA/log" && break; sleep 0.1; done
GRPC=$(grep -o 'otlp_grpc=[^ ]*' "$DATA/log" | cut -d= -f2)
t0=$(date +%s.%N)
send "$GRPC" "$GRPC" "$DATA"
t1=$(date +%s.%N)
direct=$(cat "$DATA"/loadgen-*.txt | grep -o 'acknowledged=[0-9]*' | cut -d= -f2 | paste -sd+ | bc)
direct_rate=$(echo "$direct / ($t1 - $t0)" | bc)
echo "$direct_rate spans/s straight into ClickHouse ($direct spans acknowledged, each once ClickHouse had it)"
echo "cluster / straight: $(echo "scale=2; $cluster_rate / $direct_rate" | bc) (the cluster's price: every span also through NATS R3 and a second hop)"
echo "Jaeger v2 with Kafka and ClickHouse publishes no end-to-end figure; its ClickHouse backend alone: 52k spans/s on 4 OCPUs (ADR 008)."
