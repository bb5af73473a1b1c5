#!/usr/bin/env bash
# Builds programs against an installed streamll, as a user's project would, and runs them:
# tests/install/consumer.cpp with find_package(streamll CONFIG) and again with pkg-config, and
# examples/basic_setup.cpp (the RedisSink, so hiredis and OpenSSL come through the package), and
# tests/install/spdlog_consumer.cpp (the optional spdlog sink's installed header).
# Checks that pkg-config's flags leave a C++20 program C++20 and require no dependency publicly,
# and that no internal header is installed.
#
#   tests/install/check.sh <install prefix> <scratch directory>
set -euo pipefail
case "${1:-}" in
  -h|--help|"") sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ]; exit $? ;;
esac
prefix=$1 work=${2:?usage: check.sh <install prefix> <scratch directory>}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer" | grep -q '"event_type":"end"'
"$work/cmake/basic_setup" --help | grep -q usage
"$work/cmake/spdlog_consumer" | grep -q '"event_type":"log"'
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/$(gcc -print-multiarch)/pkgconfig"
# The library is static by default: --static adds its private dependencies' libraries.
g++ -std=c++17 "$here/consumer.cpp" -o "$work/consumer-pkgconfig" \
  $(pkg-config --cflags --libs --static streamll)
"$work/consumer-pkgconfig" | grep -q '"event_type":"end"'
# The package states no language standard and exports none of its dependencies: a C++20
# program stays C++20, and the headers need nothing but streamll's own include directory.
if pkg-config --cflags streamll | grep -q -- '-std='; then
  echo "install check: pkg-config --cflags streamll sets a language standard" >&2; exit 1
fi
if [ -n "$(pkg-config --print-requires streamll)" ]; then
  echo "install check: public Requires: $(pkg-config --print-requires streamll | tr '\n' ' ')" \
    "(the headers need none of them: Requires.private)" >&2
  exit 1
fi
g++ -std=c++20 -c "$here/cxx_standard.cpp" -o "$work/cxx_standard.o" $(pkg-config --cflags streamll)
# Internals stay out of the install: a detail header is installed only when a public one needs it.
for header in "$prefix"/include/streamll/detail/*.hpp; do
  name=streamll/detail/$(basename "$header")
  if ! grep -rqF --exclude-dir=detail "\"$name\"" "$prefix/include/streamll"; then
    echo "install check: $name is installed but no public header includes it" >&2; exit 1
  fi
done
echo "install check: find_package and pkg-config consumers built and ran"
