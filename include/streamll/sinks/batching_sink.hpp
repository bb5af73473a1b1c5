#pragma once
// BatchingSink: the engine room behind a custom Exporter (streamll/exporter.hpp). The
// application's thread only moves an event into a bounded buffer; one flusher thread per sink
// takes batches from it, hands them to the exporter, retries what the exporter could not
// deliver (behind a circuit breaker and backoff), answers flush() exactly and bounds
// shutdown(). The TerminalSink and the JsonlFileSink are exporters behind one.
//
// Fork: a forked child's copy has no flusher; there every event handed over is counted in
// dropped_after_fork and flush()/shutdown() return at once. Exit: the shutdown wait honours
// the exit flush's deadline (docs/design.md, "Delivery at exit").

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "streamll/exporter.hpp"
#include "streamll/overflow_strategy.hpp"
#include "streamll/redact.hpp"
#include "streamll/redis/breaker_state.hpp"
#include "streamll/sink.hpp"

namespace streamll {
namespace detail {
class Pipeline;
struct PipelineTuning;      // internal settings of the built-in sinks
struct BatchingSinkAccess;  // builds a BatchingSink with them (src/pipeline, not installed)
}  // namespace detail

/// Retries of a failing destination (ExportResult::failure): a circuit breaker, and a short
/// backoff below its threshold.
struct RetryOptions {
  /// false: never opens; failures only delay the next attempt (the backoff below).
  bool circuit_breaker = true;
  /// Consecutive failures that open the breaker. At least 1.
  std::size_t failure_threshold = 3;
  /// First open period before a single probe batch (doubled after each failed probe, up to
  /// ten times this). Positive.
  std::chrono::milliseconds recovery_timeout{30000};
  /// Backoff below the threshold, and for failures that spare the breaker
  /// (ExportResult::counts_for_breaker false): first delay, doubled after each failure until a
  /// call succeeds or settles events (each delay spread by up to +-20%, never above the cap),
  /// and its cap. Not negative.
  std::chrono::milliseconds initial_delay{100};
  std::chrono::milliseconds max_delay{5000};
};

struct BatchingSinkOptions {
  /// Events held: waiting, plus those in the batch being exported. At least 1.
  std::size_t buffer_size = 10000;
  /// What a full buffer does with a new event: drop_oldest evicts the oldest waiting one,
  /// drop_newest refuses the new one, raise_error refuses it and throws BufferOverflowError
  /// from handle().
  OverflowStrategy overflow = OverflowStrategy::drop_oldest;
  /// Events per export_batch() call, at most. At least 1.
  std::size_t max_batch_size = 100;
  /// Longest sleep of an idle flusher (events, flush() and shutdown() wake it). Positive.
  std::chrono::milliseconds flush_interval{1000};
  /// ExportBatch::deadline(): how long one export_batch() call may take. Positive.
  std::chrono::milliseconds export_timeout{5000};
  /// The bound the destructor gives shutdown(). Not negative.
  std::chrono::milliseconds shutdown_timeout{5000};
  RetryOptions retry{};
  /// spdlog logger for losses and failures (rate-limited).
  std::string logger = "streamll.sinks.batching";
  /// Runs on the flusher thread over each event as it leaves the buffer, before the exporter
  /// sees it (redact.hpp: sensitive_data_redactor() is a ready one). Empty: none.
  EventRedactor redact = {};
};

/// Every event handed over ends in exactly one of delivered, failed, dropped(), or buffered
/// (read together once flush() or shutdown() has returned, when the flusher is quiet).
struct BatchingSinkStats {
  std::uint64_t enqueued = 0;             ///< handed to handle(), including those dropped
  std::uint64_t delivered = 0;            ///< settled and not failed
  std::uint64_t failed = 0;               ///< ExportBatch::fail
  std::uint64_t dropped_oldest = 0;       ///< evicted by drop_oldest
  std::uint64_t dropped_newest = 0;       ///< refused by drop_newest
  std::uint64_t dropped_raise_error = 0;  ///< refused by raise_error (the caller was told)
  /// Handed over after shutdown() began, or never exported because shutdown() gave up (those
  /// waiting, the rest of the batch in flight, what Exporter::discard() reported).
  std::uint64_t dropped_on_shutdown = 0;
  std::uint64_t dropped_after_fork = 0;  ///< handed to a forked child's copy
  std::uint64_t retried_batches = 0;     ///< batches offered again after a failure
  std::uint64_t export_calls = 0;
  std::uint64_t export_failures = 0;  ///< export_batch() calls answered by failure()
  std::uint64_t buffered = 0;         ///< waiting, plus in flight
  std::uint64_t in_flight = 0;        ///< in the batch being exported
  BreakerState breaker_state = BreakerState::closed;
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  std::chrono::microseconds last_export_latency{0};
  /// Events whose redactor threw: sent with their data replaced by {"redaction_failed": true}
  /// and without tags (EventRedactor says what stays).
  std::uint64_t redaction_failures = 0;

  std::uint64_t dropped() const noexcept {
    return dropped_oldest + dropped_newest + dropped_raise_error + dropped_on_shutdown +
           dropped_after_fork;
  }
};

/// Thread-safety: handle() and every other member from any thread. The exporter is only ever
/// called from the flusher thread (interrupt(): from shutdown()).
class BatchingSink : public Sink {
 public:
  /// Starts the flusher. Throws ConfigError naming the option for a bad setting.
  explicit BatchingSink(std::unique_ptr<Exporter> exporter, BatchingSinkOptions options = {});
  /// shutdown(options.shutdown_timeout) if nobody shut it down. Never throws.
  ~BatchingSink() override;
  BatchingSink(const BatchingSink&) = delete;
  BatchingSink& operator=(const BatchingSink&) = delete;

  /// Buffers a copy of the event. No I/O; a syscall only to wake an idle flusher. Under
  /// raise_error a full buffer throws BufferOverflowError.
  void handle(const Event& event) override;
  void handle_owned(Event&& event) override;
  /// Waits until every event handed over before the call was settled and the exporter's
  /// flush() ran after them. False after `timeout`, or when since the previous flush() any
  /// event was lost (failed, dropped) or the exporter's flush() failed. Each loss is reported
  /// once: a call that returned false, even on its timeout, answered for the losses known when
  /// it returned. After shutdown(): shutdown()'s answer.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Stops taking events, exports what is buffered, closes the exporter, within `timeout`
  /// (plus a short grace). True when all was delivered and nothing lost since the previous
  /// flush(). Past the deadline the flusher is given up on (Exporter::interrupt()): it
  /// finishes the call it is in and exports nothing more. Idempotent.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  /// The exporter's name().
  std::string name() const override;
  /// A pure read: moves nothing, waits for nothing but short locks.
  BatchingSinkStats stats() const;
  /// Closes the circuit breaker and lets the next batch go at once.
  void reset_circuit_breaker();

 private:
  friend struct detail::BatchingSinkAccess;
  BatchingSink(std::unique_ptr<Exporter> exporter, BatchingSinkOptions options,
               const detail::PipelineTuning& tuning);

  std::shared_ptr<detail::Pipeline> pipeline_;  // shared with the flusher thread
};

}  // namespace streamll
