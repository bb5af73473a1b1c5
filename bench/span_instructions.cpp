// Opens and closes N spans inside an enclosing one, into a no-op sink: kept (rate 1), inside
// a sampled-out execution (rate 0) naming its instrumentor or taking the thread's, or the
// root of a sampled-out execution. Run under callgrind by bench/instructions.sh, which counts
// the instructions per span: free of this shared machine's timing noise, so a change to the
// span's paths can be compared exactly (bench/sampling_benchmark.cpp times the same spans).
//
//   span_instructions N kept|sampled_out|sampled_out_thread|root_sampled_out

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string_view>

#include "noop_sink.hpp"
#include "streamll/streamll.hpp"

namespace {

// Out of line, so the loop cannot merge one span's work into the next.
[[gnu::noinline]] void nested_span(streamll::Instrumentor& instrumentor) {
  streamll::Span span(instrumentor, "retrieval");
  asm volatile("" : : "r"(&span) : "memory");
}
[[gnu::noinline]] void nested_span_thread() {
  streamll::Span span("retrieval");
  asm volatile("" : : "r"(&span) : "memory");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view variant = argc == 3 ? argv[2] : "";
  if (argc != 3 || std::atol(argv[1]) <= 0 ||
      (variant != "kept" && variant != "sampled_out" && variant != "sampled_out_thread" &&
       variant != "root_sampled_out")) {
    std::cerr << "usage: span_instructions N kept|sampled_out|sampled_out_thread|"
                 "root_sampled_out\n";
    return 2;
  }
  const long spans = std::atol(argv[1]);
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::bench::NoopSink>()};
  options.sample_rate = variant == "kept" ? 1.0 : 0.0;
  const auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
  if (variant == "root_sampled_out") {
    for (long i = 0; i < spans; ++i) nested_span(*instrumentor);
    return 0;
  }
  streamll::Span request(instrumentor, "request");
  for (long i = 0; i < spans; ++i) {
    if (variant == "sampled_out_thread") {
      nested_span_thread();
    } else {
      nested_span(*instrumentor);
    }
  }
  return 0;
}
