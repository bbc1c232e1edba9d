#!/usr/bin/env bash
# Command 1 of the README: install what is missing, build, run the seed-000 demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target canopy_cli
./build/default/canopy demo parallel-calls "$@"
