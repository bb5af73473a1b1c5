// What an event's timestamp costs: one std::chrono::system_clock read on the application
// thread (through the vDSO; its cost depends on the kernel's clocksource: see
// /sys/devices/system/clocksource/clocksource0/current_clocksource).
//
//   streamll_benchmarks --benchmark_filter='^clock/' --benchmark_repetitions=5

#include <benchmark/benchmark.h>

#include <chrono>

#include "streamll/event.hpp"

namespace {

void BM_SystemClock(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::system_clock::now());
}

// The whole capture (clock, id, no payload), for the clock's share of it.
void BM_EventCapture(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(streamll::Event::capture(streamll::EventType::token, nullptr));
  }
}

BENCHMARK(BM_SystemClock)->Name("clock/system_clock");
BENCHMARK(BM_EventCapture)->Name("clock/event_capture");

}  // namespace
