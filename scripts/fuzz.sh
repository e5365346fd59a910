#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (swiftc -sanitize=fuzzer, plus AddressSanitizer) of every
# wire decoder that faces the network and of the engine's files. Each target runs for SECONDS
# (default 60) with its own corpus under .build-fuzz/corpus/TARGET, after replaying the inputs
# kept in Tests/fuzz/TARGET (earlier findings: regression tests). A crash, leak or hang stops the
# run and leaves the input as .build-fuzz/crash-* (or leak-*, timeout-*): copy it into
# Tests/fuzz/TARGET once fixed. Prints the executions of each target and the total.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(otlp-protobuf otlp-json zipkin-json jaeger-thrift-compact jaeger-thrift-binary jaeger-protobuf gzip block chunk wal search)
fi
bash scripts/setup.sh
# libFuzzer's coverage and ASan from swiftc. SwiftPM gives the executable its own main (the
# harness's, which calls libFuzzer's driver), so libFuzzer's main is never linked in.
echo "fuzz: building the harness (release, -sanitize=fuzzer,address)"
swift build -c release --product AriadneFuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER 2>&1 | grep -E "error|Compiling AriadneFuzz|Build complete" || true
[ -x .build-fuzz/release/AriadneFuzz ] || { echo "fuzz: the harness did not build" >&2; exit 1; }
total=0
for target in "${TARGETS[@]}"; do
    corpus=.build-fuzz/corpus/$target
    mkdir -p "$corpus" "Tests/fuzz/$target"
    log=.build-fuzz/fuzz-$target.log
    echo "fuzz: $target for ${SECONDS_TO_RUN}s"
    if ! ARIADNE_FUZZ_TARGET=$target ARIADNE_FUZZ_SEEDS="$corpus" .build-fuzz/release/AriadneFuzz "$corpus" "Tests/fuzz/$target" \
        -artifact_prefix=.build-fuzz/ -max_total_time="$SECONDS_TO_RUN" -max_len=200000 -timeout=10 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E "ERROR|SUMMARY|Test unit written" "$log" >&2 || tail -20 "$log" >&2
        echo "fuzz: $target FAILED (log: $log)" >&2
        exit 1
    fi
    runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | awk '{print $2}')
    total=$((total + ${runs:-0}))
    echo "fuzz: $target: ${runs:-0} executions, no crash, leak or hang ($(grep -oE 'cov: [0-9]+' "$log" | tail -1))"
done
echo "fuzz: $total executions in total over ${#TARGETS[@]} targets ran clean"
