// The application's side of a Pipeline: construction, push, flush, shutdown, stats and the
// fork rule. The flusher's side is flusher.cpp; what the engine calls is engine_services.cpp.

#include "pipeline/pipeline.hpp"

#include <algorithm>
#include <string>

#include "exit_deadline.hpp"
#include "fork_generation.hpp"
#include "streamll/errors.hpp"
#include "support/deadline.hpp"

namespace streamll::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

// Checked, and with every duration clamped to a year: the flusher converts them to nanoseconds
// and adds them to now(), which milliseconds::max() would overflow.
BatchingSinkOptions validated(const BatchingSinkOptions& o, const PipelineTuning& t) {
  if (o.buffer_size == 0) throw ConfigError(t.buffer_size_option, "must be at least 1 (got 0)");
  if (o.max_batch_size == 0) throw ConfigError("max_batch_size", "must be at least 1 (got 0)");
  if (o.flush_interval.count() <= 0) {
    throw ConfigError("flush_interval", "must be positive (got " + ms(o.flush_interval) + ")");
  }
  if (o.export_timeout.count() <= 0) {
    throw ConfigError("export_timeout", "must be positive (got " + ms(o.export_timeout) + ")");
  }
  if (o.shutdown_timeout.count() < 0) {
    throw ConfigError("shutdown_timeout",
                      "must not be negative (got " + ms(o.shutdown_timeout) + ")");
  }
  const RetryOptions& r = o.retry;
  if (r.failure_threshold == 0) {
    throw ConfigError("retry.failure_threshold", "must be at least 1 (got 0)");
  }
  if (r.recovery_timeout.count() <= 0) {
    throw ConfigError("retry.recovery_timeout",
                      "must be positive (got " + ms(r.recovery_timeout) + ")");
  }
  if (r.initial_delay.count() < 0) {
    throw ConfigError("retry.initial_delay",
                      "must not be negative (got " + ms(r.initial_delay) + ")");
  }
  if (r.max_delay.count() < 0) {
    throw ConfigError("retry.max_delay", "must not be negative (got " + ms(r.max_delay) + ")");
  }
  BatchingSinkOptions clamped = o;
  clamped.flush_interval = clamp_to_a_year(o.flush_interval);
  clamped.export_timeout = clamp_to_a_year(o.export_timeout);
  clamped.shutdown_timeout = clamp_to_a_year(o.shutdown_timeout);
  clamped.retry.recovery_timeout = clamp_to_a_year(r.recovery_timeout);
  clamped.retry.initial_delay = clamp_to_a_year(r.initial_delay);
  clamped.retry.max_delay = clamp_to_a_year(r.max_delay);
  return clamped;
}

CircuitBreakerOptions breaker_options(const RetryOptions& r, const PipelineTuning& t) {
  CircuitBreakerOptions b;
  b.enabled = r.circuit_breaker;
  b.failure_threshold = r.failure_threshold;
  b.recovery_timeout = r.recovery_timeout;
  b.max_backoff = r.recovery_timeout * 10;
  b.retry_initial_delay = r.initial_delay;
  b.retry_max_delay = r.max_delay;
  b.clock = t.clock;
  b.random = t.random;
  b.on_state_change = t.on_breaker_change;
  return b;
}

RingBuffer<BufferedItem> make_ring(const BatchingSinkOptions& o, const PipelineTuning& t) {
  try {
    return RingBuffer<BufferedItem>(o.buffer_size, o.overflow, t.staging);
  } catch (const ConfigError&) {
    throw ConfigError(t.buffer_size_option,
                      "cannot allocate a buffer of " + std::to_string(o.buffer_size) + " events");
  }
}

}  // namespace

std::shared_ptr<Pipeline> Pipeline::start(const EngineFactory& make_engine,
                                          const BatchingSinkOptions& options,
                                          const PipelineTuning& tuning) {
  auto pipeline = std::make_shared<Pipeline>(options, tuning);
  pipeline->engine_ = make_engine(*pipeline);
  // The thread shares ownership: a flusher detached at a shutdown that gave up keeps what it
  // touches alive until it returns.
  pipeline->thread_ = std::thread([p = pipeline] { p->run(); });
  return pipeline;
}

Pipeline::Pipeline(const BatchingSinkOptions& options, const PipelineTuning& tuning)
    : options_(validated(options, tuning)),
      tuning_(tuning),
      name_(tuning.log_name),
      created_in_generation_(current_fork_generation()),
      ring_(make_ring(options_, tuning_)),
      breaker_(breaker_options(options_.retry, tuning_)),
      log_(options_.logger) {}

Pipeline::~Pipeline() {
  // Joined or detached by shutdown(); a thread that is neither would terminate the process.
  if (thread_.joinable()) thread_.detach();
}

std::uint64_t Pipeline::late_losses() const noexcept {
  return tuning_.late_losses ? tuning_.late_losses() : 0;
}

std::uint64_t Pipeline::losses() const noexcept {
  return failed_.load(std::memory_order_relaxed) + given_up_.load(std::memory_order_relaxed) +
         late_losses() + (tuning_.refusals_fail_flush ? ring_.rejected() : 0) +
         ring_.evicted_oldest();
}

std::uint64_t Pipeline::given_up() const noexcept {
  return given_up_.load(std::memory_order_acquire);
}

bool Pipeline::flush(std::chrono::milliseconds timeout) {
  if (forked()) return dropped_after_fork_.load(std::memory_order_relaxed) == 0;
  const auto deadline = deadline_in(timeout);
  // What producers staged before this call gets its sequence number now. What stays staged
  // (every slot in flight) gets numbers from accepted() on: counting that many more (staged()
  // read first, so a move in between can only add) may also wait for another thread's later
  // events, never for fewer than this call must.
  ring_.drain_stages();
  const std::uint64_t still_staged = ring_.staged();
  const std::uint64_t mark = ring_.accepted() + still_staged;
  std::unique_lock<std::mutex> lock(mutex_);
  if (answered_at_shutdown_) {
    // A flusher detached at a give-up may still finish the call it was stuck in: waiting for
    // it (within the timeout) gives the stream back to the caller.
    progress_.wait_until(lock, deadline, [&] { return finished_; });
    return shutdown_answer_;
  }
  if (finished_) return clean_ && final_ok_;
  const std::uint64_t generation = ++flush_requested_;
  // Every event whose push() returned before this call has a sequence number below this.
  flush_target_ = std::max(flush_target_, mark);
  // Losses a previous call already answered for (false: it said so; true: there were none)
  // are not this call's to report.
  const std::uint64_t base_losses = losses_reported_;
  const std::uint64_t base_failed_runs = failed_runs_reported_;
  lock.unlock();
  ring_.wake_consumer();
  lock.lock();
  const bool answered =
      progress_.wait_until(lock, deadline, [&] { return flush_done_ >= generation || finished_; });
  if (!answered || (finished_ && !clean_)) {
    // False answers for every loss known by now.
    losses_reported_ = std::max(losses_reported_, losses());
    failed_runs_reported_ = std::max(failed_runs_reported_, failed_runs_);
    return false;
  }
  const std::uint64_t judged_losses = losses_at_last_run_;
  const std::uint64_t judged_failed_runs = failed_runs_;
  losses_reported_ = std::max(losses_reported_, judged_losses);
  failed_runs_reported_ = std::max(failed_runs_reported_, judged_failed_runs);
  return judged_losses <= base_losses && judged_failed_runs <= base_failed_runs;
}

bool Pipeline::shutdown(std::chrono::milliseconds timeout) {
  if (forked()) return dropped_after_fork_.load(std::memory_order_relaxed) == 0;
  std::lock_guard<std::mutex> once(shutdown_mutex_);
  if (shut_down_) return shutdown_result_;
  shut_down_ = true;
  const auto started = SteadyClock::now();
  const auto deadline = deadline_in(timeout);
  accepting_.store(false, std::memory_order_relaxed);
  stop_deadline_ticks_.store(deadline.time_since_epoch().count(), std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  ring_.drain_stages();
  ring_.wake_consumer();
  std::unique_lock<std::mutex> lock(mutex_);
  bool cut_short_by_exit = false;
  if (!wait_until_done_or_exit(progress_, lock, deadline, [&] { return finished_; })) {
    cut_short_by_exit = exit_deadline() < deadline;
    // Given up: the flusher's I/O bounds end now too, not at the deadline it was given,
    // which the exit may have cut short.
    stop_deadline_ticks_.store(std::min(SteadyClock::now(), deadline).time_since_epoch().count(),
                               std::memory_order_release);
    abandoned_.store(true, std::memory_order_release);
    gone_.store(true, std::memory_order_release);
    lock.unlock();
    engine_->interrupt();
    ring_.wake_consumer();
    lock.lock();
    progress_.wait_for(lock, tuning_.join_grace, [&] { return finished_; });
  }
  const bool finished = finished_;
  const bool closed_cleanly = finished && clean_ && final_ok_;
  lock.unlock();
  if (finished) {
    thread_.join();
  } else {
    // Stuck in a call that may never return: the thread owns the pipeline through its shared
    // pointer and ends on its own if the call does.
    thread_.detach();
  }
  ring_.drain_stages();  // a producer that raced with `accepting_` may have staged since
  // Left behind: given up, or pushed by such a producer after the flusher closed.
  const std::uint64_t left = given_up() + (gone() ? ring_.size() : ring_.in_flight());
  shutdown_result_ = left == 0 && (closed_cleanly || !tuning_.shutdown_reports_losses);
  if (tuning_.report_left_at_shutdown && left > 0) {
    tuning_.report_left_at_shutdown(
        left, cut_short_by_exit,
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started),
        timeout);
  }
  lock.lock();
  shutdown_answer_ = shutdown_result_;
  answered_at_shutdown_ = true;
  return shutdown_result_;
}

bool Pipeline::is_running() const noexcept {
  return !forked() && accepting_.load(std::memory_order_relaxed);
}

void Pipeline::reset_circuit_breaker() {
  if (forked()) return;
  breaker_.reset();
  breaker_resets_.fetch_add(1, std::memory_order_release);
  ring_.wake_consumer();
}

Pipeline::Snapshot Pipeline::snapshot() const {
  Snapshot snap;
  BatchingSinkStats& s = snap.stats;
  const bool child = forked();
  // The ring's counts first: an event settled meanwhile is then found in delivered (counted
  // before the ring lets it go) rather than in neither. In a forked child the ring's lock may
  // have been held by the parent's flusher at the fork: its atomics are read one by one.
  snap.buffer = child ? ring_.counts_without_lock() : ring_.counts();
  const auto& counts = snap.buffer;
  const std::uint64_t given_up = given_up_.load(std::memory_order_acquire);
  s.delivered = delivered_.load(std::memory_order_acquire);
  s.failed = failed_.load(std::memory_order_acquire);
  // drop_oldest refuses the new event when nothing waits to be evicted (every slot in flight).
  s.dropped_oldest = counts.evicted_oldest +
                     (options_.overflow == OverflowStrategy::drop_oldest ? counts.rejected : 0);
  s.dropped_newest = options_.overflow == OverflowStrategy::drop_newest ? counts.rejected : 0;
  s.dropped_raise_error = options_.overflow == OverflowStrategy::raise_error ? counts.rejected : 0;
  s.dropped_after_fork = dropped_after_fork_.load(std::memory_order_relaxed);
  s.in_flight = counts.in_flight;
  const std::uint64_t waiting = counts.size - counts.in_flight + counts.staged;
  // Once the flusher is given up on, what waits will never be exported. In a forked child the
  // ring's counters may be mid-update from the parent's flusher at the fork: only what was
  // handed to the child is added.
  const bool waiting_lost = !child && gone_.load(std::memory_order_acquire);
  s.dropped_on_shutdown = dropped_after_shutdown_.load(std::memory_order_relaxed) + given_up +
                          (waiting_lost ? waiting : 0);
  s.buffered = (waiting_lost ? 0 : waiting) + s.in_flight;
  s.enqueued = counts.accepted + counts.rejected + counts.staged +
               dropped_after_shutdown_.load(std::memory_order_relaxed) + s.dropped_after_fork;
  s.retried_batches = retried_batches_.load(std::memory_order_relaxed);
  s.export_calls = export_calls_.load(std::memory_order_relaxed);
  s.export_failures = export_failures_.load(std::memory_order_relaxed);
  s.breaker_state = breaker_.state();
  s.redaction_failures = redaction_failures_.load(std::memory_order_relaxed);
  s.last_export_latency =
      std::chrono::microseconds(last_export_latency_us_.load(std::memory_order_relaxed));
  if (!child) {  // the parent's flusher may have held the lock at the fork
    std::lock_guard<std::mutex> lock(mutex_);
    s.last_error = last_error_;
    s.last_error_time = last_error_time_;
  }
  return snap;
}

}  // namespace streamll::detail
