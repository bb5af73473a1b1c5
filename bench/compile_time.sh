#!/usr/bin/env bash
# Compile time of a translation unit that includes streamll/streamll.hpp and uses one span,
# beside one that includes spdlog/spdlog.h and logs one line: same compiler, same flags
# (-std=c++17 -O2, Debian's compiled spdlog's defines), interleaved runs, medians.
#
#   bench/compile_time.sh [--runs N] [--json FILE]      (default 7 runs each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=7 json=
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --runs) runs=$2; shift 2 ;;
    --json) json=$2; shift 2 ;;
    *) echo "compile_time.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
cxx=${CXX:-g++}
flags=(-std=c++17 -O2 -DSPDLOG_COMPILED_LIB -DSPDLOG_SHARED_LIB -DSPDLOG_FMT_EXTERNAL -Iinclude -c -o /dev/null)
seconds() {  # wall seconds of one compile
  local start end
  start=$(date +%s.%N)
  "$cxx" "${flags[@]}" "$1"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}'
}
ours=() theirs=()
for _ in $(seq "$runs"); do
  ours+=("$(seconds bench/compile_time/with_streamll.cpp)")
  theirs+=("$(seconds bench/compile_time/with_spdlog.cpp)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_ours=$(median "${ours[@]}") m_theirs=$(median "${theirs[@]}")
ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN {printf "%.3f\n", a / b}')
printf '| translation unit | compile time (median of %d) |\n|---|---:|\n' "$runs"
printf '| streamll/streamll.hpp + one span | %.2f s |\n' "$m_ours"
printf '| spdlog/spdlog.h + one log line | %.2f s |\n' "$m_theirs"
printf '| ratio | %.2fx |\n' "$ratio"
if [ -n "$json" ]; then
  printf '{"runs": %d, "streamll_s": %s, "spdlog_s": %s, "ratio": %s, "streamll_runs": [%s], "spdlog_runs": [%s]}\n' \
    "$runs" "$m_ours" "$m_theirs" "$ratio" "$(IFS=,; echo "${ours[*]}")" "$(IFS=,; echo "${theirs[*]}")" > "$json"
fi
