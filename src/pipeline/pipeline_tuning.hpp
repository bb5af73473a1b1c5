#pragma once
// Internal: what the built-in sinks set on their BatchingSink beyond BatchingSinkOptions.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "support/clock.hpp"

namespace streamll::detail {

struct PipelineTuning {
  /// The sink's name in log lines ("TerminalSink"); empty: the exporter's name().
  std::string log_name;
  /// The option a bad buffer size is reported under ("queue_size" for the development sinks,
  /// whose public option has that name).
  std::string buffer_size_option = "buffer_size";
  /// How long shutdown() waits, after giving the flusher up, for it to leave a call that was
  /// just slow before detaching it.
  std::chrono::milliseconds join_grace{100};
  /// The circuit breaker's time source; nullptr: the real clocks. Must outlive the sink.
  const ClockSource* clock = nullptr;
  /// Events the exporter settled as delivered and lost afterwards (a write buffer whose
  /// write-out failed), so that flush() reports them. Called from any thread; must not throw.
  std::function<std::uint64_t()> late_losses;
};

}  // namespace streamll::detail
