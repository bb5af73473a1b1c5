#pragma once
// Internal: what the built-in sinks set on their pipeline beyond BatchingSinkOptions.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "pipeline/ring_buffer.hpp"
#include "streamll/redis/breaker_state.hpp"
#include "support/backoff.hpp"
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
  /// The backoffs' jitter (the breaker's, the exporter engine's); empty: random_unit(). Each
  /// user draws from its own copy.
  RandomSource random;
  /// Events the exporter settled as delivered and lost afterwards (a write buffer whose
  /// write-out failed), so that flush() reports them. Called from any thread; must not throw.
  std::function<std::uint64_t()> late_losses;
  /// Producers meeting on a full drop_oldest buffer may stage events (ring_buffer_staging.hpp).
  Staging staging = Staging::off;
  /// Whether shutdown() answers like a flush (false when something was lost since the last
  /// flush() answered) or only says whether every event left the buffer (RedisSink's rule).
  bool shutdown_reports_losses = true;
  /// Called by shutdown(), after the flusher stopped, with the events it left behind when it
  /// had to give up; whether the exit deadline cut it short; how long it took. Unset: the
  /// flusher logs one line itself when it gives up.
  std::function<void(std::uint64_t left, bool cut_short_by_exit, std::chrono::milliseconds took,
                     std::chrono::milliseconds timeout)>
      report_left_at_shutdown;
  /// Whether events the full buffer refused (drop_newest, raise_error, drop_oldest with every
  /// place in flight) make flush() false. RedisSink: no, they were never enqueued (its
  /// `enqueued` leaves them out too).
  bool refusals_fail_flush = true;
  /// Told every change of the circuit breaker's state (for a log line).
  std::function<void(BreakerState from, BreakerState to)> on_breaker_change;
};

}  // namespace streamll::detail
