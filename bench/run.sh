#!/usr/bin/env bash
# Runs canopy's and CAF's request/response and fan-out workloads side by side (same machine,
# same run). Each calls workload runs RUNS times (default 21), alternating canopy and CAF, so
# that a slow spell of the machine hits both; compare the pairs, not single numbers. A pair
# takes about 1.5 s; on a noisy VM the median of a few pairs still swings by 15 %, of 21 much
# less (the whole script takes about a minute and a half).
# Usage: bench/run.sh   (builds the release preset first)   RUNS=7 bench/run.sh
# stdout carries only the JSON results; builds, progress and the final summary (each pair, then
# the median ratio per workload) go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
./scripts/install-deps.sh >&2
cmake --preset release -DCANOPY_BUILD_BENCH=ON >/dev/null
cmake --build --preset release --target canopy_cli caf_bench >&2
B=build/release
# stdout: one JSON object per run. stderr, at the end: a summary of the canopy/CAF pairs.
rate() { grep -o '"round_trips_per_sec":[0-9.]*' | cut -d: -f2; }
summary=()
for args in "--pairs 1000 --round-trips 2000000" "--pairs 100 --in-flight 20 --round-trips 2000000"; do
  ratios=()
  for ((i = 1; i <= RUNS; i++)); do
    ours=$($B/canopy bench calls $args --json)
    peer=$($B/bench/caf_bench calls $args)
    echo "$ours"
    echo "$peer"
    summary+=("$(awk -v a="$(rate <<<"$ours")" -v b="$(rate <<<"$peer")" -v w="$args" -v i="$i" \
      'BEGIN { printf "calls %s, run %d: canopy %.2f M/s, CAF %.2f M/s, %.2fx", w, i, a / 1e6, b / 1e6, a / b }')")
    ratios+=("$(awk -v a="$(rate <<<"$ours")" -v b="$(rate <<<"$peer")" 'BEGIN { print a / b }')")
  done
  # The median pair: on this noisy VM single pairs swing; the median is what to compare.
  summary+=("$(printf '%s\n' "${ratios[@]}" | sort -g | awk -v w="$args" '{r[NR] = $1} END {
    m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
    printf "calls %s: median ratio %.2fx over %d pairs (min %.2fx, max %.2fx)", w, m, NR, r[1], r[NR] }')")
done
$B/canopy bench fanout --calls 100000 --json
$B/bench/caf_bench fanout --calls 100000
for calls in 250000 500000 1000000; do
  $B/canopy bench fanout --calls $calls --json
done
printf '%s\n' "${summary[@]}" >&2
