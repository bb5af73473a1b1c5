#pragma once
// Internal: a BatchingSink with the built-in sinks' settings (their log name, the option name
// of their buffer size, a test clock). The constructor that takes them is private, so that the
// public header offers users nothing they cannot build; the terminal and JSONL sinks and the
// tests come through here.

#include <memory>
#include <utility>

#include "pipeline/pipeline_tuning.hpp"
#include "streamll/sinks/batching_sink.hpp"

namespace streamll::detail {

struct BatchingSinkAccess {
  /// Returned by value: C++17 constructs it in place (a member, a local).
  static BatchingSink make(std::unique_ptr<Exporter> exporter, BatchingSinkOptions options,
                           const PipelineTuning& tuning) {
    return BatchingSink(std::move(exporter), std::move(options), tuning);
  }
};

}  // namespace streamll::detail
