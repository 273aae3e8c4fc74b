#!/bin/sh
# fuzz/smoke.sh — for CI: builds every libFuzzer target (fuzz/build.sh) and
# runs each for a short while from its seed corpus, one after the other (new
# inputs go to a temporary folder, never into fuzz/corpus). Any crash, leak,
# UB report, timeout or out-of-memory fails the run; the input is left as
# BUILD_DIR/smoke-TARGET-crash-... and the fuzzer's report is printed.
#
#   fuzz/smoke.sh [BUILD_DIR] [SECONDS]   (defaults: build-fuzz, 20 s a target)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-fuzz}
seconds=${2:-20}
"$root/fuzz/build.sh" "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
failed=""
for harness in "$root"/fuzz/fuzz_*.c; do
    target=$(basename "$harness" .c)
    name=${target#fuzz_}
    mkdir -p "$work/$name"
    if "$out/$target" -dict="$root/fuzz/$name.dict" -max_total_time="$seconds" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$out/smoke-$name-" \
        "$work/$name" "$root/fuzz/corpus/$name" >"$work/$name.log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$name.log")
        echo "fuzz smoke: $name: $runs runs in ${seconds} s, no finding"
    else
        cat "$work/$name.log" >&2
        echo "fuzz smoke: $name: FAILED (see above)" >&2
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz smoke: failed:$failed" >&2
    exit 1
fi
