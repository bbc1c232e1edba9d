#!/usr/bin/env bash
# Runs canopy's and CAF's request/response and fan-out workloads side by side (same machine,
# same run). Each calls workload runs RUNS times (default 3), alternating canopy and CAF, so
# that a slow spell of the machine hits both; compare the pairs, not single numbers.
# Usage: bench/run.sh   (builds the release preset first)   RUNS=5 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
./scripts/install-deps.sh
cmake --preset release -DCANOPY_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target canopy_cli caf_bench
B=build/release
for args in "--pairs 1000 --round-trips 2000000" "--pairs 100 --in-flight 20 --round-trips 2000000"; do
  for ((i = 1; i <= RUNS; i++)); do
    $B/canopy bench calls $args --json
    $B/bench/caf_bench calls $args
  done
done
$B/canopy bench fanout --calls 100000 --json
$B/bench/caf_bench fanout --calls 100000
for calls in 250000 500000 1000000; do
  $B/canopy bench fanout --calls $calls --json
done
