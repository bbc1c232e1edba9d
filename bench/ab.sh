#!/usr/bin/env bash
# A/B of canopy binaries on `canopy bench calls`: runs them in alternation (so that a slow spell
# of the machine hits all of them) and prints, per binary and workload, the best, median and
# worst rate. On this VM compare the best rates; a difference below ~5 % is noise.
# Usage: bench/ab.sh RUNS THREADS canopy_a canopy_b [...]
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: bench/ab.sh RUNS THREADS canopy_a [canopy_b ...]" >&2; exit 2; }
R=$1
T=$2
shift 2
for w in "--pairs 100 --in-flight 20" "--pairs 1000"; do
  declare -A rates=()
  for ((i = 0; i < R; i++)); do
    for b in "$@"; do
      # shellcheck disable=SC2086
      r=$("$b" bench calls $w --round-trips 1000000 --threads "$T" --json |
        grep -o '"round_trips_per_sec":[0-9.]*' | cut -d: -f2)
      rates[$b]+=" $r"
    done
  done
  echo "calls $w, $T thread(s), $R runs each:"
  for b in "$@"; do
    # shellcheck disable=SC2086
    printf '%s\n' ${rates[$b]} | sort -g | awk -v n="$b" '{a[NR] = $1} END {
      printf "  %-40s best %6.2f  median %6.2f  worst %6.2f M/s\n", n, a[NR] / 1e6,
             a[int((NR + 1) / 2)] / 1e6, a[1] / 1e6 }'
  done
  unset rates
done
