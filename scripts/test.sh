#!/usr/bin/env bash
# Command 2 of the README: build everything and run the whole test suite.
#   scripts/test.sh            default build + all tests + the find_package consumer (CI runs this)
#   scripts/test.sh sanitizers ASan+UBSan build + tests, then TSan build + tests
#   scripts/test.sh quick      default build (RelWithDebInfo, assertions on) + tests only
#   scripts/test.sh asan|tsan|consumer   one part
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
run_preset() {
  local p=$1
  cmake --preset "$p" >/dev/null
  cmake --build --preset "$p"
  ctest --preset "$p"
}
case "${1:-all}" in
  quick|default) run_preset default ;;
  asan) run_preset asan ;;
  tsan) run_preset tsan ;;
  consumer) ./scripts/check-consumer.sh ;;
  all) run_preset default; ./scripts/check-consumer.sh ;;
  sanitizers) run_preset asan; run_preset tsan ;;
  *) echo "usage: scripts/test.sh [all|sanitizers|quick|asan|tsan|consumer]" >&2; exit 2 ;;
esac
