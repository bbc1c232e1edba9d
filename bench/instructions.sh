#!/usr/bin/env bash
# Instructions per round trip of `canopy bench calls`, counted by callgrind on one thread: a
# deterministic measure of the hot path (the same binary and arguments give the same count,
# whatever else the machine is doing), for A/B checks on this machine's noisy clock. The setup
# (installing canisters, the first round) is cancelled out by running each workload at N and N/2
# round trips and dividing the difference by N/2.
# Usage: bench/instructions.sh [path/to/canopy]   (default: build/release/canopy, built if absent)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || {
  echo "bench/instructions.sh: installing valgrind" >&2
  apt-get install -y -qq valgrind >/dev/null
}
B=${1:-build/release/canopy}
if [ ! -x "$B" ]; then
  ./scripts/install-deps.sh >&2
  cmake --preset release >/dev/null
  cmake --build --preset release --target canopy_cli >&2
fi
N=200000
count() {  # instructions of one run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$B" bench calls "$@" --threads 1 \
    --json 2>&1 | grep -o 'Collected : [0-9]*' | grep -o '[0-9]*'
}
for w in "--pairs 100 --in-flight 20" "--pairs 1000"; do
  # shellcheck disable=SC2086
  full=$(count $w --round-trips $N)
  # shellcheck disable=SC2086
  half=$(count $w --round-trips $((N / 2)))
  echo "calls $w: $(((full - half) / (N / 2))) instructions per round trip"
done
