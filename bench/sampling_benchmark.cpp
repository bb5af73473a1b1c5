// What head sampling costs the application thread, beside the kept span of the same run: a
// span inside a sampled-out execution (the budget is 10 ns), the root that decides it, and a
// kept span, each opened and closed inside an enclosing span, into a no-op sink. Mean per
// iteration over many (a per-call timer would add more than the span costs).
//
//   streamll_benchmarks --benchmark_filter='^sampling/' --benchmark_repetitions=5

#include <benchmark/benchmark.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "noop_sink.hpp"
#include "streamll/streamll.hpp"

namespace {

using streamll::bench::NoopSink;

std::shared_ptr<streamll::Instrumentor> instrumentor_at(double rate) {
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<NoopSink>()};
  options.sample_rate = rate;
  return std::make_shared<streamll::Instrumentor>(std::move(options));
}

// A span inside an enclosing one ("request"), whose execution is kept at rate 1 and left out
// at rate 0. `Explicit`: the span names its instrumentor; else it takes the thread's.
template <bool Explicit>
void nested(benchmark::State& state, double rate, std::string_view operation) {
  const auto instrumentor = instrumentor_at(rate);
  streamll::Span request(instrumentor, "request");
  for (auto _ : state) {
    if constexpr (Explicit) {
      streamll::Span span(*instrumentor, operation);
      benchmark::DoNotOptimize(&span);
    } else {
      streamll::Span span(operation);
      benchmark::DoNotOptimize(&span);
    }
  }
}

void nested_span(benchmark::State& state, double rate, std::string_view operation) {
  nested<true>(state, rate, operation);
}
void nested_span_thread(benchmark::State& state, double rate, std::string_view operation) {
  nested<false>(state, rate, operation);
}

// The root of an execution: it decides, and at rate 0 leaves the execution out.
void root_span(benchmark::State& state, double rate) {
  const auto instrumentor = instrumentor_at(rate);
  for (auto _ : state) {
    streamll::Span span(*instrumentor, "request");
    benchmark::DoNotOptimize(&span);
  }
}

// "retrieval" fits std::string's inline buffer; the longer name costs an allocation when the
// span inside a sampled-out execution keeps it for its possible error event.
constexpr std::string_view kShortName = "retrieval";
constexpr std::string_view kLongName = "retrieve_documents_from_index";

BENCHMARK_CAPTURE(nested_span, kept, 1.0, kShortName)->Name("sampling/span_kept");
BENCHMARK_CAPTURE(nested_span, out, 0.0, kShortName)->Name("sampling/span_sampled_out");
BENCHMARK_CAPTURE(nested_span_thread, out_implicit, 0.0, kShortName)
    ->Name("sampling/span_sampled_out_thread_instrumentor");
BENCHMARK_CAPTURE(nested_span, out_long, 0.0, kLongName)
    ->Name("sampling/span_sampled_out_long_name");
BENCHMARK_CAPTURE(root_span, kept, 1.0)->Name("sampling/root_kept");
BENCHMARK_CAPTURE(root_span, out, 0.0)->Name("sampling/root_sampled_out");

}  // namespace
