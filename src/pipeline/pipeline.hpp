#pragma once
// Internal: the engine room of every asynchronous sink (BatchingSink, RedisSink). Application
// threads push events into a bounded detail::RingBuffer; one flusher thread runs a BatchEngine
// (batch_engine.hpp), which takes batches from the buffer, sends them and settles what was
// answered; flush() and shutdown() wait for the flusher with deadlines.
//
// Accounting: every event pushed ends in exactly one of delivered, failed, dropped (refused,
// evicted, after shutdown, given up at shutdown, after fork) or still buffered (waiting, staged,
// in a batch the engine holds).
//
// flush() is answered on the flusher: once every event accepted before the call is settled
// (oldest_pending_sequence() reached the call's mark), it runs BatchEngine::flush, then reports.
// shutdown() lets the flusher drain and close the engine until its deadline; a flusher stuck
// in a call past it is interrupted and, if it does not return, detached: it owns the pipeline
// through a shared_ptr, so nothing it touches dangles, and it never starts another call.
//
// fork(): a child's copy has no flusher, and the parent's threads may have held any of its
// locks at the fork. There push() only counts the event, flush() and shutdown() return at once
// and take no lock, and the sink leaks the pipeline rather than destroy it.
//
// Lock order: mutex_ is never held while calling the engine or taking the ring's lock.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fork_generation.hpp"
#include "logging.hpp"
#include "pipeline/batch_engine.hpp"
#include "pipeline/buffered_item.hpp"
#include "pipeline/pipeline_tuning.hpp"
#include "pipeline/ring_buffer.hpp"
#include "streamll/sinks/batching_sink.hpp"
#include "support/circuit_breaker.hpp"

namespace streamll::detail {

class Pipeline {
 public:
  using SteadyClock = std::chrono::steady_clock;
  /// Builds the pipeline's engine; called once, by start(), before the flusher starts.
  using EngineFactory = std::function<std::unique_ptr<BatchEngine>(Pipeline&)>;

  /// Validates the options (ConfigError naming the option) and starts the flusher thread.
  static std::shared_ptr<Pipeline> start(const EngineFactory& make_engine,
                                         const BatchingSinkOptions& options,
                                         const PipelineTuning& tuning);
  Pipeline(const BatchingSinkOptions& options, const PipelineTuning& tuning);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // ------------------------------------------------ any thread

  /// Buffers the event (moving from it) or counts it as dropped. False only when the buffer
  /// refused it under raise_error (the caller throws). No I/O. Inline: it is the hot path.
  bool push(Event&& event) noexcept {
    if (forked()) {
      dropped_after_fork_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    if (!accepting_.load(std::memory_order_relaxed)) {
      dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    // A refused event is counted by the ring and reported by the flusher.
    return ring_.push(std::move(event)).accepted() ||
           options_.overflow != OverflowStrategy::raise_error;
  }
  bool flush(std::chrono::milliseconds timeout);
  bool shutdown(std::chrono::milliseconds timeout);
  bool is_running() const noexcept;
  /// What stats() reports, with the buffer's raw counts it was computed from: a sink that
  /// reports overflow in buckets of its own maps those.
  struct Snapshot {
    BatchingSinkStats stats;
    RingBuffer<BufferedItem>::Counts buffer;
  };
  /// A pure read.
  Snapshot snapshot() const;
  BatchingSinkStats stats() const { return snapshot().stats; }
  void reset_circuit_breaker();
  bool forked() const noexcept { return current_fork_generation() != created_in_generation_; }
  const std::string& name() const noexcept { return name_; }
  const BatchingSinkOptions& options() const noexcept { return options_; }
  const PipelineTuning& tuning() const noexcept { return tuning_; }
  const RingBuffer<BufferedItem>& ring() const noexcept { return ring_; }
  const CircuitBreaker& breaker() const noexcept { return breaker_; }
  std::uint64_t dropped_after_fork() const noexcept {
    return dropped_after_fork_.load(std::memory_order_relaxed);
  }
  std::uint64_t dropped_after_shutdown() const noexcept {
    return dropped_after_shutdown_.load(std::memory_order_relaxed);
  }
  /// Events given up at a shutdown that gave up waiting (in a held batch, or waiting once the
  /// flusher was gone).
  std::uint64_t given_up() const noexcept;
  /// Whether the flusher will take nothing more from the buffer.
  bool gone() const noexcept { return gone_.load(std::memory_order_acquire); }

  // ------------------------------------------------ the engine, on the flusher thread

  RingBuffer<BufferedItem>& ring() noexcept { return ring_; }
  /// RingBuffer::take_batch, then the redactor (options().redact) over each event taken: the
  /// one way engines take events, so that no sink serializes an event before it ran.
  std::size_t take_batch(std::size_t max, std::vector<BufferedItem>& out,
                         std::uint64_t* first_sequence);
  /// The redactor over `item` when it is an event (the Redis sink serializes waiting events
  /// during an outage, and redacts them first). A redactor that throws is counted, and the
  /// event keeps its ids and timestamp but no data (sampled_out aside), tags nor tracestate
  /// (pipeline_redaction.cpp).
  void redact(BufferedItem& item) noexcept;
  /// Every event waiting below `sequence` went through redact() already (outage compaction
  /// visits them in order): take_batch() does not run the redactor over them again.
  void note_redacted_before(std::uint64_t sequence) noexcept {
    redacted_before_ = std::max(redacted_before_, sequence);
  }
  CircuitBreaker& breaker() noexcept { return breaker_; }
  RateLimitedLog& log() const noexcept { return log_; }
  /// shutdown() gave up: start no new call.
  bool abandoned() const noexcept { return abandoned_.load(std::memory_order_acquire); }
  const std::atomic<bool>& abandoned_flag() const noexcept { return abandoned_; }
  /// shutdown()'s deadline; max() until shutdown() is called.
  SteadyClock::time_point stop_deadline() const noexcept;
  /// When a call starting now must return: `timeout` later, or earlier if shutdown()'s
  /// deadline or the process's exit deadline comes first.
  SteadyClock::time_point deadline_after(std::chrono::milliseconds timeout) const noexcept;
  /// Sleeps up to `wait` (at most flush_interval); flush(), shutdown(), reset_circuit_breaker()
  /// and reset() cut it short.
  void pause(std::chrono::nanoseconds wait) noexcept;
  /// The engine answered `delivered + failed` events for good: counted here before the ring
  /// lets them go (acknowledge), so the sum is never short.
  void count_settled(std::uint64_t delivered, std::uint64_t failed) noexcept;
  void acknowledge(std::size_t n) noexcept { ring_.acknowledge(n); }
  /// At a give-up: `events` the engine holds will never be sent (counted before the engine
  /// acknowledges them).
  void count_given_up(std::uint64_t events) noexcept {
    given_up_.fetch_add(events, std::memory_order_release);
  }
  /// Events the engine had settled as delivered and lost afterwards (a write buffer discarded
  /// at a give-up).
  void take_back_delivered(std::uint64_t events) noexcept;
  /// How many times reset_circuit_breaker() was called: an engine with waits of its own ends
  /// them when this changes (the caller's thread must not touch the engine's state).
  std::uint64_t breaker_resets() const noexcept {
    return breaker_resets_.load(std::memory_order_acquire);
  }
  void count_retried_batches(std::uint64_t n) noexcept {
    retried_batches_.fetch_add(n, std::memory_order_relaxed);
  }
  void count_export(bool failed, std::chrono::microseconds latency) noexcept;
  /// Keeps `reason` as stats().last_error and logs it, rate-limited.
  void record_error(const std::string& reason) noexcept;
  /// Destroys what producers evicted (drop_oldest), on this thread rather than theirs.
  void release_evicted() noexcept;
  /// shutdown() was called (engines skip what only a running sink needs, e.g. heartbeats).
  bool stop_requested();

 private:
  void run() noexcept;
  bool serve_flush() noexcept;
  bool past_stop_deadline_with_work() noexcept;
  void close() noexcept;
  void give_up() noexcept;
  void report_drops() noexcept;

  std::uint64_t losses() const noexcept;
  std::uint64_t late_losses() const noexcept;

  const BatchingSinkOptions options_;
  const PipelineTuning tuning_;
  const std::string name_;
  const std::uint64_t created_in_generation_;
  RingBuffer<BufferedItem> ring_;
  CircuitBreaker breaker_;
  mutable RateLimitedLog log_;
  std::unique_ptr<BatchEngine> engine_;

  std::atomic<bool> accepting_{true};
  std::atomic<bool> abandoned_{false};  // shutdown() gave up: start no new engine call
  std::atomic<bool> gone_{false};       // the flusher will take nothing more from the ring
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> given_up_{0};  // held by the engine at a give-up
  std::atomic<std::uint64_t> dropped_after_shutdown_{0};
  std::atomic<std::uint64_t> dropped_after_fork_{0};
  std::atomic<std::uint64_t> retried_batches_{0};
  std::atomic<std::uint64_t> breaker_resets_{0};
  std::atomic<std::uint64_t> export_calls_{0};
  std::atomic<std::uint64_t> export_failures_{0};
  std::atomic<std::int64_t> last_export_latency_us_{0};
  std::atomic<std::uint64_t> redaction_failures_{0};

  // Flusher thread only.
  std::uint64_t redacted_before_ = 0;  // see note_redacted_before()
  std::vector<BufferedItem> evicted_;
  std::uint64_t drops_reported_ = 0;
  std::uint64_t evictions_released_ = 0;
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
  std::uint64_t failed_runs_ = 0;  // engine flush/close calls that failed
  bool stopping_ = false;
  // shutdown()'s deadline, in steady-clock ticks; max() until shutdown() is called.
  std::atomic<SteadyClock::rep> stop_deadline_ticks_{SteadyClock::duration::max().count()};
  bool finished_ = false;              // the flusher is done with the engine
  bool clean_ = false;                 // ... because it closed it, not because it was given up on
  bool final_ok_ = false;              // close succeeded and nothing was lost since the last flush
  bool answered_at_shutdown_ = false;  // flush() after shutdown() returns shutdown()'s answer
  bool shutdown_answer_ = false;

  // shutdown() callers, serialized.
  std::mutex shutdown_mutex_;
  bool shut_down_ = false;
  bool shutdown_result_ = false;
  std::thread thread_;
};

}  // namespace streamll::detail
