#!/usr/bin/env bash
# Application-thread instructions per operation, counted by callgrind (thread 1 only), free of
# this shared machine's timing noise: (Ir(2N) - Ir(N)) / N, so setup and shutdown cancel out.
#   tokens  a streamed token with content capture on, off, and on with
#           sensitive_data_redactor() on the sink (bench/token_instructions.cpp)
#   spans   a span kept, inside a sampled-out execution (naming its instrumentor, or taking
#           the thread's), and the root of a sampled-out execution (bench/span_instructions.cpp)
# Several runs per variant, since a sink's flusher wakes up as valgrind interleaves the
# threads (a few % either way for tokens; spans have no flusher and count the same each run).
#
#   bench/instructions.sh [BUILD_DIR] [RUNS] [tokens|spans|all]   (default build/bench, 3, all)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
build=${1:-build/bench}
runs=${2:-3}
what=${3:-all}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "instructions.sh: RUNS must be a positive number, not '$runs'" >&2; exit 2; }
case "$what" in tokens|spans|all) ;; *) echo "instructions.sh: tokens, spans or all, not '$what'" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

main_thread_ir() {  # binary N variant
  rm -f "$out"/ct.*
  # A harness that fails still leaves a callgrind file: its count would be meaningless.
  if ! valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/ct.%p" \
    "$1" "$2" "$3" >/dev/null 2>"$out/log"; then
    echo "instructions.sh: $1 $2 $3 failed:" >&2
    tail -5 "$out/log" >&2
    return 1
  fi
  callgrind_annotate "$(ls "$out"/ct.*-01 | head -1)" | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}'
}

count() {  # harness N unit variant...
  local bin="$build/bench/$1" n=$2 unit=$3
  shift 3
  [ -x "$bin" ] || { echo "instructions.sh: $bin not built (-DSTREAMLL_BUILD_BENCH=ON)" >&2; exit 1; }
  for variant in "$@"; do
    local counts=()
    for _ in $(seq "$runs"); do
      local a b
      a=$(main_thread_ir "$bin" "$n" "$variant")
      b=$(main_thread_ir "$bin" $((2 * n)) "$variant")
      counts+=($(( (b - a) / n )))
    done
    local sorted median
    sorted=$(printf '%s\n' "${counts[@]}" | sort -n | tr '\n' ' ')
    median=$(printf '%s\n' "${counts[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    echo "$variant: ${sorted}instructions/$unit (median $median)"
  done
}

if [ "$what" != spans ]; then count token_instructions 20000 token on off redactor; fi
if [ "$what" != tokens ]; then
  count span_instructions 20000 span kept sampled_out sampled_out_thread root_sampled_out
fi
