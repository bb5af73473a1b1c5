#pragma once
// An Instrumentor whose only sink is a MemorySink, made from options a test adjusts: for tests
// of what an instrumentor option does to the events.

#include <functional>
#include <memory>

#include <streamll/instrumentor.hpp>
#include <streamll/sinks/memory_sink.hpp>

namespace streamll::testing {

struct RecordingInstrumentor {
  explicit RecordingInstrumentor(const std::function<void(InstrumentorOptions&)>& adjust) {
    InstrumentorOptions options;
    options.sinks = {sink};
    adjust(options);
    instrumentor = std::make_unique<Instrumentor>(std::move(options));
  }
  std::shared_ptr<MemorySink> sink = std::make_shared<MemorySink>();
  std::unique_ptr<Instrumentor> instrumentor;
};

}  // namespace streamll::testing
