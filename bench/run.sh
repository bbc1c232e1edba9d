#!/usr/bin/env bash
# Runs canopy's and CAF's request/response workloads side by side (same machine, same run).
# Usage: bench/run.sh   (builds the release preset first)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset release -DCANOPY_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target canopy_cli caf_bench
B=build/release
for args in "--pairs 1000 --round-trips 2000000" "--pairs 100 --in-flight 20 --round-trips 2000000"; do
  $B/canopy bench calls $args --json
  $B/bench/caf_bench calls $args
done
$B/canopy bench fanout --calls 100000 --json
$B/bench/caf_bench fanout --calls 100000
$B/canopy bench fanout --calls 1000000 --json
