#!/usr/bin/env bash
# Command 2 of the README: build everything and run the whole test suite.
#   scripts/test.sh            default build (RelWithDebInfo, assertions on)
#   scripts/test.sh asan       ASan + UBSan build of the tests
#   scripts/test.sh tsan       TSan build, threaded tests
#   scripts/test.sh all        all three, plus the find_package(canopy) consumer check
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
run_preset() {
  local p=$1
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p"
  ctest --preset "$p"
}
case "${1:-default}" in
  default) run_preset default ;;
  asan) run_preset asan ;;
  tsan) run_preset tsan ;;
  consumer) ./scripts/check-consumer.sh ;;
  all) run_preset default; ./scripts/check-consumer.sh; run_preset asan; run_preset tsan ;;
  *) echo "usage: scripts/test.sh [default|asan|tsan|consumer|all]" >&2; exit 2 ;;
esac
