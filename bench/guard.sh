#!/usr/bin/env bash
# Performance guard: measures the working tree (head) against a base commit in the same run and
# checks the limits of docs/performance.md ("Performance guard"): each figure for base and head
# (medians over runs; base and head interleaved so that load drift hits both), the ratio, the
# limit and PASS or FAIL. Exit status 1 when a limit fails.
#
#   bench/guard.sh [BASE]          (BASE: any commit; default: the one named in bench/guard-base)
#   GUARD_RUNS=7 bench/guard.sh    (runs; default 5: about 6 minutes, plus the builds)
#   bench/guard.sh --clean         (removes the base's worktree and build, build/guard-base)
#
# Builds head in build/bench and the base in build/guard-base (a git worktree of BASE, kept and
# reused by later runs), both in Release with bench/run.sh's flags. Redis: REDIS_URL when set,
# else each harness starts its own redis-server. Raw results: build/guard/results/{base,head}/;
# bench/guard_report.py build/guard/results prints the verdicts again. On a shared machine a
# single FAIL may be noise: run it again before acting on it.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --clean)
    git worktree remove --force build/guard-base/src 2>/dev/null || true
    rm -rf build/guard-base build/guard
    exit 0 ;;
esac

base_ref=${1:-$(tr -d '[:space:]' < bench/guard-base)}
base=$(git rev-parse --verify --quiet "$base_ref^{commit}") \
  || { echo "bench/guard.sh: unknown commit '$base_ref'" >&2; exit 2; }
head="$(git rev-parse --short HEAD)"
[ -z "$(git status --porcelain --untracked-files=no)" ] || head="$head + uncommitted changes"
runs=${GUARD_RUNS:-5}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench/guard.sh: GUARD_RUNS must be >= 1" >&2; exit 2; }
head_build=build/bench
base_src=build/guard-base/src
base_build=build/guard-base/bench
results=build/guard/results

scripts/deps.sh

SECONDS=0
phase() { echo "== [${SECONDS}s] $*" >&2; }

phase "base ${base:0:12}: worktree $base_src"
if [ -e "$base_src/.git" ]; then
  git -C "$base_src" checkout --quiet --detach "$base"
else
  git worktree prune
  mkdir -p "$(dirname "$base_src")"
  git worktree add --quiet --detach "$base_src" "$base"
fi

targets=(streamll_benchmarks e2e_throughput buffer_memory emit_to_visible)
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
build() {  # source dir, build dir
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTREAMLL_BUILD_BENCH=ON \
    -DSTREAMLL_WERROR=ON -DSTREAMLL_BUILD_TESTS=OFF -DSTREAMLL_BUILD_EXAMPLES=OFF \
    "${launcher[@]}" >/dev/null
  cmake --build "$2" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null
}
phase "build head (Release, $head_build)"
build . "$head_build"
phase "build base (Release, $base_build)"
build "$base_src" "$base_build"

rm -rf "$results"
mkdir -p "$results/base" "$results/head"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# One harness for one side; a harness that fails (say, a benchmark the base lacks) leaves no
# file, and the report shows that figure as missing.
measure() {  # side, run, harness...
  local side=$1 run=$2 bin out
  bin=$([ "$side" = head ] && echo "$head_build" || echo "$base_build")/bench
  out=$results/$side
  shift 2
  case "$1" in
    hot)
      "$bin/streamll_benchmarks" --benchmark_min_time=0.2 --benchmark_repetitions=2 \
        --benchmark_enable_random_interleaving=true \
        --benchmark_filter='^hot/token/(noop|redis|redis_down|spdlog_async_overrun_oldest)/' \
        --benchmark_out="$out/hot_$run.json" --benchmark_out_format=json >/dev/null ;;
    e2e)
      "$bin/e2e_throughput" --events 100000 --p1-events 1000 --rounds 3 \
        --json "$out/e2e_$run.json" >/dev/null ;;
    memory)
      "$bin/buffer_memory" --tokens-per-call 100 --json "$out/memory_stream_$run.json" >/dev/null
      "$bin/buffer_memory" --tokens-per-call 0 --json "$out/memory_llmcall_$run.json" >/dev/null ;;
    latency)
      "$bin/emit_to_visible" --rates 10000 --seconds 3 --json "$out/latency_$run.json" >/dev/null ;;
  esac || echo "bench/guard.sh: $1 failed on $side (run $run)" >&2
}

# Two values per process for the hot path and delivery rate (the noisiest figures; the delivery
# rate's first round warms the server and is left out): each process start lands differently
# in memory and on the CPUs, hence runs in separate processes.
for run in $(seq "$runs"); do
  # Alternating which side goes first cancels a bias towards the first or second slot.
  if [ $((run % 2)) -eq 1 ]; then order=(base head); else order=(head base); fi
  for harness in hot e2e memory latency; do
    phase "run $run/$runs: $harness (${order[*]})"
    for side in "${order[@]}"; do measure "$side" "$run" "$harness"; done
  done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$results/meta.json" "$(git rev-parse --short "$base")" "$head" "$runs" \
  "$load_before" "$load_after" <<'PY'
import json, sys
keys = ("base", "head", "runs", "load_before", "load_after")
json.dump(dict(zip(keys, sys.argv[2:])), open(sys.argv[1], "w"))
PY
phase "done"
/usr/bin/python3 bench/guard_report.py "$results"
