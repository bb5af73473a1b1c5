// Events' wall clock (detail/wall_clock.hpp) beside the system clock it stands for: the cost of
// one read of each, and how far the events' clock is from the system clock's reading taken
// around it (counters err_p1_ns, err_p50_ns, err_p99_ns: the event clock minus the middle of
// the two system clock reads, over a second of reads after calibration).
//
//   streamll_benchmarks --benchmark_filter='^clock/' --benchmark_repetitions=5

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench_stats.hpp"
#include "streamll/detail/wall_clock.hpp"

namespace {

using std::chrono::system_clock;

void BM_SystemClock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(system_clock::now());
}

void BM_EventWallClock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(streamll::detail::event_timestamp_now());
  state.counters["extrapolating"] = streamll::detail::event_wall_clock.extrapolating() ? 1 : 0;
}

void BM_EventWallClockError(benchmark::State& state) {
  auto& clock = streamll::detail::event_wall_clock;
  // Past the calibration first.
  const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < warm_until) clock.now_ns();
  std::vector<double> errors;
  errors.reserve(4'000'000);
  for (auto _ : state) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (std::chrono::steady_clock::now() < end) {
      const auto before = system_clock::now();
      const std::int64_t stamp = clock.now_ns();
      const auto after = system_clock::now();
      const std::int64_t middle =
          std::chrono::duration_cast<std::chrono::nanoseconds>(before.time_since_epoch()).count() +
          std::chrono::duration_cast<std::chrono::nanoseconds>(after - before).count() / 2;
      errors.push_back(static_cast<double>(stamp - middle));
    }
  }
  std::sort(errors.begin(), errors.end());
  state.counters["reads"] = static_cast<double>(errors.size());
  state.counters["err_p1_ns"] = streamll::bench::sorted_percentile(errors, 0.01);
  state.counters["err_p50_ns"] = streamll::bench::sorted_percentile(errors, 0.5);
  state.counters["err_p99_ns"] = streamll::bench::sorted_percentile(errors, 0.99);
  state.counters["extrapolating"] = clock.extrapolating() ? 1 : 0;
}

BENCHMARK(BM_SystemClock)->Name("clock/system_clock");
BENCHMARK(BM_EventWallClock)->Name("clock/event_wall_clock");
BENCHMARK(BM_EventWallClockError)->Name("clock/event_wall_clock_error")->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
