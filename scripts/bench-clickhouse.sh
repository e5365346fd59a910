#!/usr/bin/env bash
# Prints Ariadne's figures on ClickHouse on this machine (release build, one clickhouse-server
# started here on loopback, both sharing the machine's cores with the load generator):
#   1. spans/s end to end (OTLP/gRPC in → acknowledged once in ClickHouse), Ariadne's CPU
#      seconds per span, and ClickHouse's;
#   2. bytes per span on disk (system.parts, after merges), per table, against a plain table of
#      the same spans with every attribute as key/value string arrays (the shape most
#      ClickHouse trace schemas take) filled from ours in the same run;
#   3. trace by id and searches (service + attribute, attribute only, duration range), p50/p99
#      over the query API.
# Usage: scripts/bench-clickhouse.sh [SPANS]   (default 1,000,000; PROFILE=loadgen for the repetitive traces;
#        SERVE_ARGS="--clickhouse-batch-spans 50000" passes flags to ariadne serve)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/ariadne
SPANS=${1:-1000000}
PROFILE=${PROFILE:-realistic}
SERVE_ARGS=${SERVE_ARGS:-}
[ -x "$BIN" ] || swift build -c release --product ariadne
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

CH_DIR=$(mktemp -d) DATA=$(mktemp -d)
CH_HTTP=$(port) CH_TCP=$(port)
CH=http://127.0.0.1:$CH_HTTP
PID="" CH_PID=""
trap 'kill $PID $CH_PID 2>/dev/null || true; wait 2>/dev/null; rm -rf "$CH_DIR" "$DATA"' EXIT
bash scripts/clickhouse-server.sh "$CH_DIR" "$CH_HTTP" "$CH_TCP" > "$CH_DIR/stdout.log" 2>&1 &
CH_PID=$!
for _ in $(seq 300); do curl -s "$CH/ping" 2>/dev/null | grep -q Ok && break; sleep 0.1; done
q() { curl -s --data-binary "$1" "$CH/"; }

"$BIN" serve --data-dir "$DATA" --otlp-grpc-port 0 --otlp-http-port 0 --zipkin-port 0 --query-port 0 --sampling-port 0 $SERVE_ARGS \
    --store clickhouse --clickhouse-url "$CH" --clickhouse-database bench > "$DATA/server.log" 2>&1 &
PID=$!
for _ in $(seq 300); do grep -q "serve started" "$DATA/server.log" && break; sleep 0.1; done
GRPC=$(grep -o 'otlp_grpc=[^ ]*' "$DATA/server.log" | cut -d= -f2)
QUERY=$(grep -o 'query=[^ ]*' "$DATA/server.log" | cut -d= -f2)
# CH_SERVER: the clickhouse-server process itself (the script's child).
CH_SERVER=$(pgrep -f "clickhouse-server --config-file=$CH_DIR/config.xml" | head -1)
cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$1/stat"; }

echo "== end to end, OTLP/gRPC → ClickHouse, $SPANS $PROFILE spans"
a0=$(cpu $PID) c0=$(cpu $CH_SERVER) t0=$(date +%s.%N)
"$BIN" loadgen --protocol grpc --endpoint "$GRPC" --profile "$PROFILE" --spans "$SPANS" --batch-spans 1000 --concurrency 16 2>/dev/null | tail -1
t1=$(date +%s.%N) a1=$(cpu $PID) c1=$(cpu $CH_SERVER)
awk -v n="$SPANS" -v t="$(echo "$t1 - $t0" | bc)" -v a="$(echo "$a1 - $a0" | bc)" -v c="$(echo "$c1 - $c0" | bc)" 'BEGIN {
    printf "%.0f spans/s end to end (%.1f s); Ariadne CPU %.1f s = %.0f spans per CPU second; ClickHouse CPU %.1f s\n", n / t, t, a, n / a, c }'
echo "Ariadne peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2, $3}')"

echo "== bytes on disk (after OPTIMIZE FINAL)"
# The plain table: the Collector's otel_traces shape (hex ids, one row per span, every span and
# resource attribute as key/value strings, no events or links), filled from ours by joining the
# search rows to their ids on the search table's key.
q "CREATE TABLE bench.plain (TraceId String, SpanId String, ParentSpanId String, ServiceName String, SpanName String, SpanKind Int8, StatusCode Int8, Timestamp UInt64, Duration UInt64, AttrKeys Array(String), AttrValues Array(String)) ENGINE = MergeTree PARTITION BY toDate(intDiv(Timestamp, 1000000000)) ORDER BY (ServiceName, SpanName, Timestamp)"
q "INSERT INTO bench.plain SELECT tid, sid, pid, service, name, kind, status, start, duration, arrayConcat(attr_str.key, attr_int.key, attr_float.key, attr_bool.key), arrayConcat(attr_str.value, arrayMap(x -> toString(x), attr_int.value), arrayMap(x -> toString(x), attr_float.value), arrayMap(x -> toString(x), attr_bool.value)) FROM bench.spans ANY LEFT JOIN (SELECT trace_key, start, name, service, lower(hex(trace_id)) AS tid, lower(hex(span_id)) AS sid, lower(hex(parent_span_id)) AS pid FROM bench.traces) USING (trace_key, start, name, service)"
for t in spans traces operations plain; do q "OPTIMIZE TABLE bench.$t FINAL"; done
q "SELECT table, sum(rows) AS rows, sum(data_compressed_bytes) AS bytes, round(sum(data_compressed_bytes) / $SPANS, 1) AS per_span FROM system.parts WHERE database = 'bench' AND active GROUP BY table ORDER BY table FORMAT PrettyCompactMonoBlock"
q "SELECT round(sum(data_compressed_bytes) / $SPANS, 1) FROM system.parts WHERE database = 'bench' AND active AND table != 'plain'" | awk '{print "Ariadne (spans + traces + operations): " $1 " B/span"}'
q "SELECT table, name, round(sum(data_compressed_bytes) / $SPANS, 1) AS per_span FROM system.columns WHERE database = 'bench' AND table IN ('spans', 'traces') GROUP BY table, name ORDER BY per_span DESC LIMIT 8 FORMAT PrettyCompactMonoBlock"

echo "== queries over the query API (p50 / p99 of 200 each)"
IDS=$(q "SELECT lower(hex(trace_id)) FROM (SELECT DISTINCT trace_id FROM bench.traces LIMIT 100000) ORDER BY rand() LIMIT 200")
SERVICE=$(q "SELECT service FROM bench.operations GROUP BY service ORDER BY count() DESC LIMIT 1")
USERS=$(q "SELECT DISTINCT a.value FROM bench.spans ARRAY JOIN attr_str AS a WHERE a.key = 'user.id' LIMIT 200")
python3 - "$QUERY" "$SERVICE" <<PY
import sys, time, urllib.request, urllib.parse, json, random
query, service = sys.argv[1:3]
ids = """$IDS""".split()
users = """$USERS""".split()
def timed(paths):
    out = []
    for p in paths:
        t = time.perf_counter()
        with urllib.request.urlopen(f"http://{query}{p}", timeout=60) as r:
            body = r.read()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99) - 1], body
def show(name, paths, jaeger):
    p50, p99, body = timed(paths)
    n = len(json.loads(body).get("data", []))
    print(f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (last answer: {n} traces){'   Jaeger v2 on ClickHouse: ' + jaeger if jaeger else ''}")
q = urllib.parse.quote
show("trace by id", [f"/api/traces/{i}" for i in ids], "~101 ms")
tags = [q(json.dumps({"user.id": u})) for u in users]
show("search service + attribute", [f"/api/traces?service={q(service)}&tags={t}&lookback=24h&limit=20" for t in tags], "37-139 ms")
show("search attribute only", [f"/api/traces?tags={t}&lookback=24h&limit=20" for t in tags], "~1.8 s")
show("search service + duration range", [f"/api/traces?service={q(service)}&minDuration=50ms&maxDuration=2s&lookback=24h&limit=20"] * 200, "37-139 ms")
PY
