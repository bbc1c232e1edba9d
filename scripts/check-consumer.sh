#!/usr/bin/env bash
# Installs canopy into a scratch prefix and builds an outside project with find_package(canopy).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(mktemp -d); build=$(mktemp -d)
trap 'rm -rf "$prefix" "$build"' EXIT
cmake --install build/default --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build" >/dev/null
"$build/consumer"
