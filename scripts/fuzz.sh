#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan+UBSan, library instrumented) in
# build/fuzz and runs each for a bounded time from its seed corpus fuzz/corpus/<target>/. New
# inputs go to a scratch directory unless --grow-corpus. Exits non-zero when a target crashes,
# leaks or times out, printing the reproducer's path.
#
#   scripts/fuzz.sh                  each target 60 seconds
#   scripts/fuzz.sh --seconds 3600   longer runs
#   scripts/fuzz.sh --grow-corpus    keep the new inputs in fuzz/corpus/<target>/ (commit a few)
#   scripts/fuzz.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
grow=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds)
      [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds needs a number" >&2; exit 2; }
      seconds=$2; shift ;;
    --grow-corpus) grow=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

targets=(fuzz_xadd_encoder fuzz_event_parse)
dir=build/fuzz
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
echo "=== fuzz: configure and build ($dir)"
# Warnings are errors for the fuzz targets only (fuzz/CMakeLists.txt): the library's warnings
# are judged by scripts/test.sh's builds, GCC's and clang's (its TSan suite).
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSTREAMLL_BUILD_FUZZERS=ON -DSTREAMLL_SANITIZE=address,undefined -DSTREAMLL_WERROR=OFF \
  -DSTREAMLL_BUILD_TESTS=OFF -DSTREAMLL_BUILD_EXAMPLES=OFF -DSTREAMLL_BUILD_CLI=OFF \
  -DSTREAMLL_INSTALL=OFF "${launcher[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for target in "${targets[@]}"; do
  seeds=fuzz/corpus/$target
  artifacts=$dir/artifacts/$target
  mkdir -p "$artifacts" "$scratch/$target"
  # libFuzzer writes new inputs into the first corpus directory.
  if [ "$grow" -eq 1 ]; then corpora=("$seeds"); else corpora=("$scratch/$target" "$seeds"); fi
  dict=()
  if [ -f "fuzz/$target.dict" ]; then dict=("-dict=fuzz/$target.dict"); fi
  echo "=== fuzz: $target for ${seconds}s"
  log=$dir/$target.log
  if "$dir/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/" -print_final_stats=1 "${dict[@]}" "${corpora[@]}" >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || true
  else
    failed+=("$target")
    tail -n 60 "$log"
    reproducer=$(ls -t "$artifacts"/{crash,leak,timeout,oom,slow-unit}-* 2>/dev/null | head -n 1 || true)
    echo "fuzz.sh: $target FAILED (log: $log)" >&2
    if [ -n "$reproducer" ]; then
      echo "fuzz.sh: reproducer: $reproducer (replay: $dir/fuzz/$target $reproducer)" >&2
    fi
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${targets[*]} (${seconds}s each)"
