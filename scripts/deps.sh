#!/usr/bin/env bash
# Installs the Debian packages streamll builds, tests and demos with, when any is missing.
# Safe to run again: it does nothing when everything is there. Uses apt-get (through sudo when
# not root).
#
#   scripts/deps.sh
set -euo pipefail
case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "deps.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build pkg-config git
  libhiredis-dev nlohmann-json3-dev libfmt-dev libspdlog-dev catch2 libssl-dev openssl
  libbenchmark-dev redis-server redis-tools redis-sentinel python3 python3-redis
  libcurl4-openssl-dev prometheus python3-prometheus-client
  libcpp-httplib-dev
  clang libclang-rt-14-dev clang-format
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "deps.sh: missing packages (${missing[*]}) and no root or sudo to install them" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
