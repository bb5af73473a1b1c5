// The flusher's per-event CPU cost, off the application thread but on the delivery path:
// serializing an event to the JSON that goes into XADD. At 100 events per pipelined batch, the
// flusher spends 100 times this per round trip while Redis waits, so it bounds how close the
// RedisSink's throughput gets to redis-benchmark's (docs/performance.md).
//
//   streamll_benchmarks --benchmark_filter='^flusher/'

#include <benchmark/benchmark.h>

#include <string>

#include "streamll/sinks/memory_sink.hpp"
#include "typical_events.hpp"

namespace {

void serialize(benchmark::State& state, const streamll::Event& event) {
  std::string json;
  for (auto _ : state) {
    json.clear();
    streamll::append_json(event, json);
    benchmark::DoNotOptimize(json.data());
  }
  state.counters["bytes"] = static_cast<double>(json.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
}

void BM_SerializeLlmCall(benchmark::State& state) {
  serialize(state, streamll::bench::typical_llm_call_event());
}
BENCHMARK(BM_SerializeLlmCall)->Name("flusher/append_json/llm_call");

void BM_SerializeToken(benchmark::State& state) {
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor instrumentor(streamll::bench::bench_instrumentor_options(memory));
  {
    streamll::LlmCall call(instrumentor, "gpt-4o-mini");
    call.token(" streaming");
  }
  serialize(state, memory->events_of_type(streamll::EventType::token).at(0));
}
BENCHMARK(BM_SerializeToken)->Name("flusher/append_json/token");

}  // namespace
