#!/usr/bin/env bash
# Ariadne's embedded engine beside ClickHouse on the same spans, in one run.
#
#   bash scripts/bench-engine-vs-clickhouse.sh [SPANS]      (default 2000000)
#
# Installs clickhouse-server from Debian if missing, starts it on 127.0.0.1:18123 with a data
# directory under a temporary folder (scripts/clickhouse-server.sh: parts compressed with zstd), creates a span table the way the OpenTelemetry Collector's
# ClickHouse exporter lays it out (ordered by service, span name and time, partitioned by day;
# attributes as key/value arrays, as 18.16 has no Map), inserts `ariadne-bench store`'s spans as RowBinary
# over HTTP, merges the parts, and prints rows/s and bytes per row. Then runs
# `ariadne-bench store` on the same spans and prints the ratios. Stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
SPANS=${1:-2000000}
PORT=18123

if ! command -v clickhouse-server >/dev/null; then
    echo "bench-clickhouse: installing clickhouse-server with apt-get"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clickhouse-server >/dev/null
fi
[ -x .build/release/ariadne ] || swift build -c release --product ariadne

WORK=$(mktemp -d /tmp/ariadne-bench-ch.XXXXXX)
CH_PID=""
cleanup() {
    if [ -n "$CH_PID" ]; then kill "$CH_PID" 2>/dev/null || true; wait "$CH_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The same server configuration as the tests' (scripts/clickhouse-server.sh): zstd parts.
bash scripts/clickhouse-server.sh "$WORK" "$PORT" 19000 >"$WORK/stdout.log" 2>&1 &
CH_PID=$!
echo "bench-clickhouse: clickhouse-server pid $CH_PID on 127.0.0.1:$PORT, data $WORK/data"
for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null || { echo "clickhouse-server did not start:"; tail -20 "$WORK/server.err.log"; exit 1; }

q() { curl -sS --fail-with-body "http://127.0.0.1:$PORT/" --data-binary "$1"; }
q "CREATE TABLE spans (
    Date Date,
    Timestamp UInt64,
    TraceIdHigh UInt64, TraceIdLow UInt64,
    SpanId UInt64, ParentSpanId UInt64,
    ServiceName String, SpanName String, SpanKind UInt8,
    Duration UInt64, StatusCode UInt8, StatusMessage String,
    SpanAttrKeys Array(String), SpanAttrValues Array(String),
    ResourceAttrKeys Array(String), ResourceAttrValues Array(String),
    EventTimes Array(UInt64), EventNames Array(String),
    EventAttrKeys Array(Array(String)), EventAttrValues Array(Array(String)),
    LinkTraceIds Array(String), LinkSpanIds Array(String)
) ENGINE = MergeTree() PARTITION BY Date ORDER BY (ServiceName, SpanName, Timestamp)"

echo "bench-clickhouse: generating $SPANS spans as RowBinary"
.build/release/ariadne-bench rows --spans "$SPANS" --out "$WORK/rows.bin" 2>/dev/null
ROWS_MB=$(du -m "$WORK/rows.bin" | cut -f1)
echo "bench-clickhouse: inserting ($ROWS_MB MB of RowBinary) over HTTP"
T0=$(date +%s.%N)
# -T streams the file (--data-binary @file would read it all into memory first).
curl -sS --fail-with-body -X POST -H "Transfer-Encoding: chunked" -T "$WORK/rows.bin" \
    "http://127.0.0.1:$PORT/?query=INSERT%20INTO%20spans%20FORMAT%20RowBinary"
T1=$(date +%s.%N)
q "OPTIMIZE TABLE spans FINAL" >/dev/null
ROWS=$(q "SELECT count() FROM spans")
BYTES=$(q "SELECT sum(bytes) FROM system.parts WHERE table = 'spans' AND active")
CH_RATE=$(python3 -c "print(round($ROWS / ($T1 - $T0)))")
CH_BPR=$(python3 -c "print(round($BYTES / $ROWS, 1))")
# Trace by id (no lookup table: the table is ordered by service) and the search `ariadne-bench store` times.
TID=$(q "SELECT TraceIdHigh, TraceIdLow FROM spans LIMIT 1 FORMAT TSV")
read -r HI LO <<<"$TID"
TQ0=$(date +%s.%N); q "SELECT count() FROM spans WHERE TraceIdHigh = $HI AND TraceIdLow = $LO" >/dev/null; TQ1=$(date +%s.%N)
SQ0=$(date +%s.%N)
q "SELECT TraceIdHigh, TraceIdLow, max(Timestamp) AS t FROM spans WHERE ServiceName = 'auth'
   AND arrayExists((k, v) -> k = 'http.response.status_code' AND v = '500', SpanAttrKeys, SpanAttrValues)
   GROUP BY TraceIdHigh, TraceIdLow ORDER BY t DESC LIMIT 20 FORMAT Null" >/dev/null
SQ1=$(date +%s.%N)
echo "clickhouse 18.16: $ROWS rows inserted at $CH_RATE rows/s (RowBinary over HTTP, one stream); $CH_BPR bytes/row after OPTIMIZE FINAL"
python3 -c "print('clickhouse 18.16: trace by id (full scan, no lookup table) %.1f ms; search service + attribute %.1f ms' % (($TQ1-$TQ0)*1000, ($SQ1-$SQ0)*1000))"

echo "bench-clickhouse: the same spans into Ariadne's engine"
OUT=$(.build/release/ariadne-bench store --spans "$SPANS" --queries 100 2>/dev/null)
echo "$OUT"
AR_RATE=$(echo "$OUT" | sed -n 's/^ingest until every span is in a block: .* \([0-9]*\) spans\/s$/\1/p')
AR_ACK=$(echo "$OUT" | sed -n 's/^ingest: .* \([0-9]*\) spans\/s .*/\1/p')
AR_BPS=$(echo "$OUT" | sed -n 's/^compaction: .* \([0-9.]*\) bytes\/span .*/\1/p')
python3 - <<EOF
ack, sustained, ch = $AR_ACK, $AR_RATE, $CH_RATE
bps, chb = $AR_BPS, $CH_BPR
print("ratio: Ariadne acknowledged %.2fx and sustained (into blocks) %.2fx ClickHouse's insert rate" % (ack / ch, sustained / ch))
print("ratio: Ariadne stores a span in %.2fx ClickHouse's bytes per row (%.1f vs %.1f)" % (bps / chb, bps, chb))
EOF
