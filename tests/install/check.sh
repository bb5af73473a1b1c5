#!/usr/bin/env bash
# Builds programs against an installed streamll, as a user's project would, and runs them:
# tests/install/consumer.cpp with find_package(streamll CONFIG) and again with pkg-config, and
# examples/basic_setup.cpp (the RedisSink, so hiredis and OpenSSL come through the package).
#
#   tests/install/check.sh <install prefix> <scratch directory>
set -euo pipefail
case "${1:-}" in
  -h|--help|"") sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ]; exit $? ;;
esac
prefix=$1 work=${2:?usage: check.sh <install prefix> <scratch directory>}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer" | grep -q '"event_type":"end"'
"$work/cmake/basic_setup" --help | grep -q usage
PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/$(gcc -print-multiarch)/pkgconfig" \
  bash -c 'g++ -std=c++17 "$0" -o "$1" $(pkg-config --cflags --libs streamll)' \
  "$here/consumer.cpp" "$work/consumer-pkgconfig"
"$work/consumer-pkgconfig" | grep -q '"event_type":"end"'
echo "install check: find_package and pkg-config consumers built and ran"
