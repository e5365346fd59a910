#!/usr/bin/env bash
# Coverage-guided fuzzing of the block reader and WAL replay with libFuzzer (swiftc
# -sanitize=fuzzer, plus AddressSanitizer). Runs for SECONDS (default 60) and prints how many
# executions ran; a crash stops it and leaves the input as .build-fuzz/crash-* (or leak-*).
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
bash scripts/setup.sh
# libFuzzer's coverage and ASan from swiftc. SwiftPM gives the executable its own main (the
# harness's, which calls libFuzzer's driver), so libFuzzer's main is never linked in.
swift build -c release --product AriadneFuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER
CORPUS=.build-fuzz/corpus
mkdir -p "$CORPUS"
ARIADNE_FUZZ_SEEDS="$CORPUS" .build-fuzz/release/AriadneFuzz "$CORPUS" \
    -artifact_prefix=.build-fuzz/ -max_total_time="$SECONDS_TO_RUN" -max_len=200000 -print_final_stats=1 2>&1 \
    | tee .build-fuzz/fuzz.log | grep -E "^(#[0-9]+\s+(INITED|DONE|pulse))|stat::number_of_executed_units|ERROR|SUMMARY"
