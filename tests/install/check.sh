#!/usr/bin/env bash
# Builds tests/install/consumer.cpp against an installed streamll twice: with
# find_package(streamll CONFIG) and with pkg-config, then runs both binaries.
set -euo pipefail
prefix=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer" | grep -q '"event_type":"end"'
PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/$(gcc -print-multiarch)/pkgconfig" \
  bash -c 'g++ -std=c++17 "$0" -o "$1" $(pkg-config --cflags --libs streamll)' \
  "$here/consumer.cpp" "$work/consumer-pkgconfig"
"$work/consumer-pkgconfig" | grep -q '"event_type":"end"'
echo "install check: find_package and pkg-config consumers built and ran"
