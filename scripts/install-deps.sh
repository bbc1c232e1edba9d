#!/usr/bin/env bash
# Installs everything canopy needs to build, test and benchmark on Debian 12 (run as root).
set -euo pipefail
PKGS=(build-essential cmake ninja-build git pkg-config
      libgtest-dev libgmock-dev libbenchmark-dev librapidcheck-dev
      libcereal-dev libtbb-dev libfmt-dev libcli11-dev nlohmann-json3-dev libexpected-dev
      libsqlite3-dev libsodium-dev libcaf-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "canopy: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
