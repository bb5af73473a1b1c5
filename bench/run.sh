#!/usr/bin/env bash
# Builds the benchmarks in Release (build/bench) and runs all of them, then prints the Markdown
# tables of docs/performance.md: each figure, its reference from the same run, their ratio,
# the target and whether it was met. Every figure is a median over several runs.
#
#   bench/run.sh                 (builds, then runs every harness: hot path, end to end, batch
#                                 sizes, memory, latency, consumers, high availability, compile
#                                 time)
#   BENCH_RUNS=3 bench/run.sh    (fewer runs per figure; default 5)
#
# It installs what it needs with scripts/deps.sh (libbenchmark-dev, redis-server, redis-tools)
# and tries to install gnuplot-nox for the batch-size plot (skipped without it).
#
# Redis: REDIS_URL (redis://host:port without credentials) when set; otherwise each harness
# starts its own redis-server on a free loopback port and stops it at the end. Raw results:
# build/bench/results/ (Google Benchmark JSON and the harnesses' JSON).
#
# To check a change against its base commit in one run (PASS/FAIL per limit): bench/guard.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

scripts/deps.sh
if ! command -v gnuplot >/dev/null; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    gnuplot-nox >/dev/null 2>&1 || echo "bench/run.sh: could not install gnuplot-nox" >&2
fi

runs=${BENCH_RUNS:-5}
build=build/bench
results=$build/results

SECONDS=0
phase() { echo "== [${SECONDS}s] $*" >&2; }
phase "build (Release, $build)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTREAMLL_BUILD_BENCH=ON \
  -DSTREAMLL_WERROR=ON -DSTREAMLL_BUILD_TESTS=OFF -DSTREAMLL_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" \
  --target streamll_benchmarks e2e_throughput buffer_memory emit_to_visible consumer_throughput \
  ha_throughput exporter_throughput streamll_cli >/dev/null

rm -rf "$results"
mkdir -p "$results"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

phase "hot path (Google Benchmark, $runs repetitions, interleaved)"
"$build/bench/streamll_benchmarks" --benchmark_repetitions="$runs" --benchmark_min_time=0.2 \
  --benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true \
  --benchmark_out="$results/hot_path.json" --benchmark_out_format=json >&2

# More, shorter rounds than the other figures: the server's speed drifts on a shared machine,
# and each round's ratio only compares figures taken within the same few seconds.
e2e_rounds=$((runs * 2 - 1))
phase "end to end throughput ($e2e_rounds rounds)"
"$build/bench/e2e_throughput" --events 100000 --p1-events 5000 --rounds "$e2e_rounds" \
  --json "$results/e2e.json" >&2

phase "buffer memory with Redis down ($runs fresh processes each)"
for i in $(seq "$runs"); do
  "$build/bench/buffer_memory" --tokens-per-call 100 --json "$results/memory_stream_$i.json" >&2
  "$build/bench/buffer_memory" --tokens-per-call 0 --json "$results/memory_llmcall_$i.json" >&2
  "$build/bench/buffer_memory" --tokens-per-call 0 --burst --json "$results/memory_llmcallburst_$i.json" >&2
done

phase "emit-to-visible latency (1,000, 10,000 and 50,000 events/s, 3 s each)"
"$build/bench/emit_to_visible" --rates 1000,10000,50000 --seconds 3 --json "$results/latency.json" >&2

phase "throughput by max_batch_size ($runs rounds)"
"$build/bench/e2e_throughput" --batch-sizes 1,10,100,500,1000 --events 50000 --p1-events 5000 \
  --rounds "$runs" --json "$results/batch_sizes.json" >&2
if command -v gnuplot >/dev/null; then
  /usr/bin/python3 -c 'import json,sys; [print(r["max_batch_size"], r["events_per_second"]) for r in json.load(open(sys.argv[1]))]' \
    "$results/batch_sizes.json" > "$results/batch_sizes.dat"
  gnuplot <<GP
set terminal pngcairo size 800,480 font ",11" noenhanced
set output "$results/throughput_by_batch_size.png"
set title "RedisSink throughput by max_batch_size (1 producer thread, llm_call events)"
set xlabel "max_batch_size"
set ylabel "events/s acknowledged by Redis"
set logscale x
set grid
set key off
set format y "%.0s%c"
plot "$results/batch_sizes.dat" using 1:2 with linespoints lw 2 pt 7
GP
  echo "plot: $results/throughput_by_batch_size.png (copy it to docs/ to publish it)" >&2
else
  echo "gnuplot not found (Debian: gnuplot-nox): no plot" >&2
fi

phase "consumers: group consumer and streamll stats over 1,000,000 entries"
"$build/bench/consumer_throughput" --events 1000000 --batch 1000 --cli "$build/streamll" \
  --json "$results/consumer.json" >&2

phase "exporter: streamll exporter beside the group consumer, scrape at about 1,000 series"
"$build/bench/exporter_throughput" --events 500000 --models 25 --cli "$build/streamll" \
  --json "$results/exporter.json" >&2

phase "high availability: Redis Cluster and durable acknowledgements ($((runs * 2 - 1)) rounds)"
"$build/bench/ha_throughput" --events 100000 --rounds "$((runs * 2 - 1))" --json "$results/ha.json" >&2

phase "compile time ($((runs + 2)) runs each)"
bench/compile_time.sh --runs "$((runs + 2))" --json "$results/compile_time.json" >&2

phase "done"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$results/machine.json" "$load_before" "$load_after" <<'PY'
import json, os, subprocess, sys, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    commit = "unknown"
json.dump({"nproc": os.cpu_count(), "cpu": cpu, "load_before": sys.argv[2], "load_after": sys.argv[3],
           "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "commit": commit or "unknown"}, open(sys.argv[1], "w"))
PY
/usr/bin/python3 bench/report.py "$results"
