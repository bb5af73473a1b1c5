#!/usr/bin/env bash
# Builds streamll and runs every test suite: warnings as errors (GCC), then again, built with
# clang, under AddressSanitizer+UBSan and under ThreadSanitizer, then an install checked by
# building programs against find_package(streamll CONFIG) and pkg-config, then the libFuzzer
# targets for 60 seconds each (scripts/fuzz.sh). First, the source must be formatted by
# .clang-format (scripts/check_format.sh) and follow src/'s include rule
# (scripts/check_layers.sh). Integration tests start their own
# redis-server processes on free loopback ports. 40 to 55 minutes on 2 cores from an empty
# build directory; each step's line shows the time elapsed when it started.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    the plain build and its tests only
#   scripts/test.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

SECONDS=0
elapsed() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }
scripts/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
failed=()
failed_dirs=()
if ! scripts/check_format.sh; then failed+=("format"); fi
if ! scripts/check_layers.sh; then failed+=("layers"); fi

run_suite() {  # name, build dir, extra cmake args...
  local name=$1 dir=$2; shift 2
  echo "=== [$(elapsed)] $name: configure and build ($dir)"
  cmake -S . -B "$dir" -G Ninja -DSTREAMLL_WERROR=ON -DSTREAMLL_BUILD_TESTS=ON \
    -DSTREAMLL_BUILD_EXAMPLES=ON -DSTREAMLL_REQUIRE_EXAMPLE_DEPS=ON \
    -DSTREAMLL_REQUIRE_PROMETHEUS=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "=== [$(elapsed)] $name: tests"
  if ! ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 300; then
    failed+=("$name")
    failed_dirs+=("$dir")
  fi
}

# CI shows only the tail of this script's output, so a failing test's output is printed again
# at the end: each block of ctest's LastTest.log that did not end in "Test Passed.", last 80
# lines of each.
print_failed_tests() {  # build dir
  local log=$1/Testing/Temporary/LastTest.log
  [ -f "$log" ] || return 0
  awk '/^[0-9]+\/[0-9]+ Testing: /{block=""; inside=1}
       inside{block=block $0 "\n"}
       /time elapsed:/{ if (inside && block !~ /\nTest Passed\.\n/) printf "%s", block; inside=0 }' \
    "$log" | tail -n 80
}

# Debian's multiarch library directory, so the install check covers that layout (the .pc file's
# relative prefix is one level deeper there). The benchmarks are built here too, not run, so
# that they keep compiling as the API moves. The test files compile at -O1 without debug
# information (the library, CLI, examples and benchmarks keep -O2 -g): their Catch2 assertions
# were most of this build's time.
run_suite "warnings-as-errors" build/ci-release -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_INSTALL_LIBDIR="lib/$(gcc -print-multiarch)" -DSTREAMLL_BUILD_BENCH=ON \
  -DSTREAMLL_TEST_COMPILE_OPTIONS="-O1 -g0"
if [ "$quick" -eq 0 ]; then
  # The sanitizer suites are clang builds (Debian's clang): the library, tests and examples
  # compile -Werror clean with a second compiler, so the public headers hold nothing GCC-only.
  # Clang compiled the AddressSanitizer build in about 60% of GCC's time, and its test
  # processes start in a third. The compiler is named to CMake, not taken from CC/CXX, which a
  # build directory configured before would ignore; their own directories keep GCC's cache out.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite "asan+ubsan (clang)" build/ci-asan-clang -DCMAKE_BUILD_TYPE=Debug \
    -DSTREAMLL_SANITIZE=address,undefined -DCMAKE_CXX_COMPILER=clang++
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  run_suite "tsan (clang)" build/ci-tsan-clang -DCMAKE_BUILD_TYPE=Debug \
    -DSTREAMLL_SANITIZE=thread -DCMAKE_CXX_COMPILER=clang++

  echo "=== [$(elapsed)] install: find_package(streamll CONFIG) and pkg-config from a scratch prefix"
  prefix=$(mktemp -d)
  trap 'rm -rf "$prefix"' EXIT
  cmake --install build/ci-release --prefix "$prefix/usr" >/dev/null
  if ! tests/install/check.sh "$prefix/usr" "$prefix/work"; then failed+=("install"); fi
  echo "=== [$(elapsed)] fuzz"
  if ! scripts/fuzz.sh --seconds 60; then failed+=("fuzz"); fi
fi

if [ ${#failed[@]} -gt 0 ]; then
  for dir in "${failed_dirs[@]}"; do
    echo "=== failed tests in $dir:" >&2
    cat "$dir/Testing/Temporary/LastTestsFailed.log" >&2 || true
    print_failed_tests "$dir" >&2
  done
  echo "FAILED: ${failed[*]} (after $(elapsed))" >&2
  exit 1
fi
echo "All suites passed in $(elapsed)."
