#!/usr/bin/env bash
# Application-thread instructions per streamed token (callgrind, thread 1 only), with content
# capture on, off, and on with sensitive_data_redactor() on the sink: (Ir(2N) - Ir(N)) / N,
# so setup and shutdown cancel out. Several runs per variant, since the flusher's wake-ups
# depend on how valgrind interleaves the threads (a few % either way).
#
#   bench/token_instructions.sh [BUILD_DIR] [RUNS]   (default build/bench, 3)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
build=${1:-build/bench}
runs=${2:-3}
bin="$build/bench/token_instructions"
[ -x "$bin" ] || { echo "token_instructions.sh: $bin not built (-DSTREAMLL_BUILD_BENCH=ON)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "token_instructions.sh: needs valgrind" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
main_thread_ir() {
  rm -f "$out"/ct.*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/ct.%p" \
    "$bin" "$1" "$2" >/dev/null 2>&1
  callgrind_annotate "$(ls "$out"/ct.*-01 | head -1)" | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}'
}
n=20000
for variant in on off redactor; do
  counts=()
  for _ in $(seq "$runs"); do
    a=$(main_thread_ir "$n" "$variant")
    b=$(main_thread_ir $((2 * n)) "$variant")
    counts+=($(( (b - a) / n )))
  done
  sorted=$(printf '%s\n' "${counts[@]}" | sort -n | tr '\n' ' ')
  echo "$variant: ${sorted}instructions/token (median $(printf '%s\n' "${counts[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"))"
done
