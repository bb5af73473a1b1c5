#pragma once
// Internal: the engine room of a BatchingSink. Application threads push events into a bounded
// detail::RingBuffer; one flusher thread (flusher.cpp) takes batches from it, hands them to the
// Exporter, settles what the exporter answered and retries the rest, gated by a circuit
// breaker; flush() and shutdown() (pipeline.cpp) wait for the flusher with deadlines.
//
// Accounting: every event pushed ends in exactly one of delivered, failed, dropped (refused,
// evicted, after shutdown, given up at shutdown, after fork) or still buffered (waiting, in
// the batch being exported).
//
// flush() is answered on the flusher: once every event accepted before the call is settled
// (oldest_pending_sequence() reached the call's mark), it runs Exporter::flush, then reports.
// shutdown() lets the flusher drain and close the exporter until its deadline; a flusher stuck
// in an exporter call past it is interrupted and, if it does not return, detached: it owns the
// pipeline through a shared_ptr, so nothing it touches dangles, and it never starts another
// call.
//
// fork(): a child's copy has no flusher, and the parent's threads may have held any of its
// locks at the fork. There push() only counts the event, flush() and shutdown() return at once
// and take no lock, and BatchingSink leaks the pipeline rather than destroy it.
//
// Lock order: mutex_ is never held while calling the exporter or taking the ring's lock.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "logging.hpp"
#include "pipeline/pipeline_batch.hpp"
#include "pipeline/pipeline_tuning.hpp"
#include "pipeline/ring_buffer.hpp"
#include "streamll/exporter.hpp"
#include "streamll/sinks/batching_sink.hpp"
#include "support/circuit_breaker.hpp"

namespace streamll::detail {

class Pipeline {
 public:
  /// Validates the options (ConfigError naming the option) and starts the flusher thread.
  static std::shared_ptr<Pipeline> start(std::unique_ptr<Exporter> exporter,
                                         const BatchingSinkOptions& options,
                                         const PipelineTuning& tuning);
  Pipeline(std::unique_ptr<Exporter> exporter, const BatchingSinkOptions& options,
           const PipelineTuning& tuning);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Buffers the event (moving from it) or counts it as dropped. False only when the buffer
  /// refused it under raise_error (the caller throws). Any thread; no I/O.
  bool push(Event&& event) noexcept;
  bool flush(std::chrono::milliseconds timeout);
  bool shutdown(std::chrono::milliseconds timeout);
  bool is_running() const noexcept;
  BatchingSinkStats stats() const;
  void reset_circuit_breaker();
  bool forked() const noexcept;
  const std::string& name() const noexcept { return name_; }
  const BatchingSinkOptions& options() const noexcept { return options_; }

 private:
  // Flusher thread (flusher.cpp).
  void run() noexcept;
  bool take_batch() noexcept;
  bool wait_for_turn() noexcept;
  void export_once() noexcept;
  void apply(ExportResult result, std::chrono::steady_clock::time_point started) noexcept;
  void drop_batch_given_up() noexcept;
  bool serve_flush() noexcept;
  bool stop_requested();
  /// When an exporter call started at `start` must return: export_timeout later, or earlier
  /// if shutdown()'s deadline or the process's exit deadline comes first.
  std::chrono::steady_clock::time_point io_deadline(
      std::chrono::steady_clock::time_point start) const noexcept;
  void close() noexcept;
  void give_up() noexcept;
  void report_drops() noexcept;
  void release_evicted() noexcept;
  void record_error(const std::string& reason) noexcept;

  std::uint64_t losses() const noexcept;
  std::uint64_t late_losses() const noexcept;

  const BatchingSinkOptions options_;
  const PipelineTuning tuning_;
  const std::unique_ptr<Exporter> exporter_;
  const std::string name_;
  const std::uint64_t created_in_generation_;
  RingBuffer<Event> ring_;
  CircuitBreaker breaker_;
  mutable RateLimitedLog log_;

  std::atomic<bool> accepting_{true};
  std::atomic<bool> abandoned_{false};  // shutdown() gave up: start no new exporter call
  std::atomic<bool> gone_{false};       // the flusher will take nothing more from the ring
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> given_up_{0};  // in flight or held by the exporter at a give-up
  std::atomic<std::uint64_t> dropped_after_shutdown_{0};
  std::atomic<std::uint64_t> dropped_after_fork_{0};
  std::atomic<std::uint64_t> retried_batches_{0};
  std::atomic<std::uint64_t> export_calls_{0};
  std::atomic<std::uint64_t> export_failures_{0};
  std::atomic<std::int64_t> last_export_latency_us_{0};

  // Flusher thread only.
  PipelineBatch batch_;
  std::vector<Event> evicted_;
  std::uint64_t drops_reported_ = 0;
  std::uint64_t serving_ = 0;         // the flush generation being answered, 0 for none
  std::uint64_t serving_target_ = 0;  // ... once every event below this sequence is settled

  mutable std::mutex mutex_;  // guards what follows
  std::condition_variable progress_;
  std::string last_error_;
  std::optional<std::chrono::system_clock::time_point> last_error_time_;
  std::uint64_t flush_requested_ = 0;  // flush() calls so far (a generation number)
  std::uint64_t flush_done_ = 0;       // the latest generation answered
  std::uint64_t flush_target_ = 0;     // sequence to settle before answering the latest call
  std::uint64_t losses_at_last_run_ = 0;
  // What flush() calls have answered for: only a returning call moves these, so a round served
  // after its caller gave up reports nothing by itself.
  std::uint64_t losses_reported_ = 0;
  std::uint64_t failed_runs_reported_ = 0;
  std::uint64_t failed_runs_ = 0;  // exporter flush/close calls that failed
  bool stopping_ = false;
  // shutdown()'s deadline, in steady-clock ticks; max() until shutdown() is called.
  std::atomic<std::chrono::steady_clock::rep> stop_deadline_ticks_{
      std::chrono::steady_clock::duration::max().count()};
  bool finished_ = false;  // the flusher is done with the exporter
  bool clean_ = false;     // ... because it closed it, not because it was given up on
  bool final_ok_ = false;  // close succeeded and nothing was lost since the last flush

  // shutdown() callers, serialized.
  std::mutex shutdown_mutex_;
  bool shut_down_ = false;
  bool shutdown_result_ = false;
  std::thread thread_;
};

}  // namespace streamll::detail
