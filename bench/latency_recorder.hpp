#pragma once
// Per-call latency for Google Benchmark loops, the way logger latency benchmarks measure it:
// every call is timed on its own with the steady clock and kept, so that the distribution
// (median, p99, p99.9) is reported, not only the mean that Google Benchmark prints.
//
//   LatencyRecorder& rec = ...;            // one per benchmark run, shared by its threads
//   auto samples = rec.thread_samples(state);
//   for (auto _ : state) {
//     const auto t0 = LatencyRecorder::now();
//     work();
//     samples.add(state, LatencyRecorder::now() - t0);
//   }
//   rec.finish(state, std::move(samples));  // the last thread publishes pooled percentiles
//
// The timed region contains one clock read on top of the work (the other falls outside it on
// either side); that cost is measured on each thread before the loop and published as
// `clock_ns` so that readers can subtract it. Percentiles are over all calls of all threads.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace streamll::bench {

class LatencyRecorder {
 public:
  using Clock = std::chrono::steady_clock;
  static Clock::time_point now() noexcept { return Clock::now(); }

  /// One thread's samples (nanoseconds, saturated at 4.29 s).
  class Samples {
   public:
    void add(benchmark::State& state, Clock::duration elapsed) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count();
      ns_.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(ns, 0, UINT32_MAX)));
      state.SetIterationTime(std::chrono::duration<double>(elapsed).count());
    }

   private:
    friend class LatencyRecorder;
    std::vector<std::uint32_t> ns_;
    std::uint32_t clock_ns_ = 0;
  };

  /// Prepares the calling thread's sample storage (reserved, so the loop does not allocate)
  /// and measures its clock overhead. Call before the benchmark loop.
  Samples thread_samples(const benchmark::State& state) const {
    Samples s;
    s.ns_.reserve(static_cast<std::size_t>(
        std::min<benchmark::IterationCount>(state.max_iterations, 50'000'000)));
    s.clock_ns_ = measure_clock_overhead();
    return s;
  }

  /// Hands the thread's samples over after its loop. The last of the run's threads computes
  /// the percentiles over everyone's calls and publishes them as counters (only on its own
  /// State, since Google Benchmark sums counters across threads): p50_ns, p99_ns, p999_ns,
  /// max_ns, mean_ns, clock_ns, calls. Returns true on that last thread, which may then tear
  /// down what the threads shared.
  bool finish(benchmark::State& state, Samples&& samples) {
    std::lock_guard<std::mutex> lock(mutex_);
    all_.insert(all_.end(), samples.ns_.begin(), samples.ns_.end());
    clock_.push_back(samples.clock_ns_);
    if (++finished_threads_ < state.threads()) return false;
    publish(state);
    return true;
  }

 private:
  static std::uint32_t measure_clock_overhead() {
    constexpr int rounds = 20000;
    std::vector<std::uint32_t> gaps(rounds);
    for (auto& gap : gaps) {
      const auto t0 = now();
      const auto t1 = now();
      gap = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
    std::nth_element(gaps.begin(), gaps.begin() + rounds / 2, gaps.end());
    return gaps[rounds / 2];
  }

  static double at_fraction(std::vector<std::uint32_t>& v, double fraction) {
    if (v.empty()) return 0;
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(index), v.end());
    return v[index];
  }

  void publish(benchmark::State& state) {
    double sum = 0;
    std::uint32_t max = 0;
    for (auto ns : all_) {
      sum += ns;
      max = std::max(max, ns);
    }
    state.counters["calls"] = static_cast<double>(all_.size());
    state.counters["mean_ns"] = all_.empty() ? 0 : sum / static_cast<double>(all_.size());
    state.counters["p50_ns"] = at_fraction(all_, 0.50);
    state.counters["p99_ns"] = at_fraction(all_, 0.99);
    state.counters["p999_ns"] = at_fraction(all_, 0.999);
    state.counters["max_ns"] = max;
    state.counters["clock_ns"] = at_fraction(clock_, 0.5);
  }

  std::mutex mutex_;
  std::vector<std::uint32_t> all_;
  std::vector<std::uint32_t> clock_;
  int finished_threads_ = 0;
};

}  // namespace streamll::bench
