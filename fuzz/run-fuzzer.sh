#!/bin/sh
# run-fuzzer.sh BINARY SEEDS WORKDIR SECONDS
# Runs one libFuzzer target for SECONDS on the committed corpus SEEDS (read
# only: new inputs go to WORKDIR/corpus), crash artifacts to WORKDIR. Exit 77
# when the target was not built (no clang/libFuzzer). Prints the executions.
set -eu
bin=$1 seeds=$2 work=$3 seconds=$4
if [ ! -x "$bin" ]; then
    echo "SKIP: $bin was not built (clang with libFuzzer is needed)"
    exit 77
fi
mkdir -p "$work/corpus" "$work/artifacts"
log="$work/log"
status=0
# -close_fd_mask=3: the parsers print usage errors; libFuzzer still reports.
"$bin" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 -timeout_exitcode=1 -rss_limit_mb=2048 -print_final_stats=1 \
    -close_fd_mask=3 -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds" >"$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
echo "$(basename "$bin"): ${runs:-?} executions in ${seconds}s, exit $status"
if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    ls -l "$work/artifacts" || true
fi
exit "$status"
