// The flusher thread of a Pipeline: takes batches, hands them to the exporter, settles what it
// answered, retries the rest (paced by ExportResult::not_before, the circuit breaker and its
// backoff), serves flush() rounds, and closes or gives up at shutdown.

#include <algorithm>
#include <exception>
#include <string>

#include "exit_deadline.hpp"
#include "pipeline/pipeline.hpp"

namespace streamll::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

// After exporting, the flusher polls the buffer for a while instead of sleeping until
// notified, so an application emitting a steady stream never pays for waking it (a futex
// syscall). Idle longer than the linger time, it sleeps until the next event wakes it.
constexpr std::chrono::microseconds kPollInterval{250};
constexpr std::chrono::milliseconds kLingerTime{20};
// While a retry waits on a test clock, the flusher looks at it this often.
constexpr std::chrono::milliseconds kTestClockSlice{1};
// Shortest sleep while blocked, so a breaker probing (no wait left) never makes it spin.
constexpr std::chrono::milliseconds kShortestBlockedWait{1};
// Shortest pause before the unsettled rest of a batch is offered again.
constexpr std::chrono::milliseconds kShortestRetryWait{1};

}  // namespace

void Pipeline::run() noexcept {
  auto last_activity = SteadyClock::now();
  while (!abandoned_.load(std::memory_order_acquire)) {
    release_evicted();
    if (batch_.events.empty()) take_batch();
    bool exported = false;
    // Looked at again right before the call: shutdown() may have given up (and interrupted
    // the exporter) since the loop's test, and a given-up flusher starts no new call.
    if (!batch_.events.empty() && wait_for_turn() && !abandoned_.load(std::memory_order_acquire)) {
      export_once();
      exported = true;
      last_activity = SteadyClock::now();
    }
    report_drops();
    if (serve_flush() || exported || !batch_.events.empty()) continue;
    if (stop_requested()) {
      close();
      return;
    }
    if (SteadyClock::now() - last_activity < kLingerTime) {
      ring_.wait_for_events(ring_.no_event_wake, kPollInterval);
    } else {
      ring_.wait_for_events(1, options_.flush_interval);
    }
  }
  give_up();
}

bool Pipeline::take_batch() noexcept {
  std::uint64_t first = 0;
  std::size_t count = 0;
  try {
    count = ring_.take_batch(options_.max_batch_size, batch_.events, &first);
  } catch (...) {
    // Out of memory for the ring's bookkeeping: leave the events waiting, try again soon.
    ring_.wait_for_events(ring_.no_event_wake, kLingerTime);
    return false;
  }
  if (count == 0) return false;
  batch_.reset(first);
  return true;
}

// Whether the batch may go now; if not, sleeps a while (flush(), shutdown() and
// reset_circuit_breaker() cut the sleep short).
bool Pipeline::wait_for_turn() noexcept {
  const auto now = SteadyClock::now();
  std::chrono::nanoseconds wait{0};
  if (batch_.not_before > now) {
    wait = batch_.not_before - now;
  } else if (!breaker_.allow_request()) {
    wait = std::max<std::chrono::nanoseconds>(breaker_.next_attempt_in(), kShortestBlockedWait);
    if (tuning_.clock != nullptr) wait = std::min<std::chrono::nanoseconds>(wait, kTestClockSlice);
  } else {
    return true;
  }
  ring_.wait_for_events(ring_.no_event_wake,
                        std::min<std::chrono::nanoseconds>(wait, options_.flush_interval));
  return false;
}

void Pipeline::export_once() noexcept {
  const auto started = SteadyClock::now();
  batch_.deadline = io_deadline(started);
  export_calls_.fetch_add(1, std::memory_order_relaxed);
  ExportResult result;
  try {
    ExportBatch view = batch_.view();
    result = exporter_->export_batch(view);
  } catch (const std::exception& e) {
    result.settled = 0;
    result.rest = ExportResult::Rest::retry_after_failure;
    try {
      result.reason = e.what();
    } catch (...) {
    }
  } catch (...) {
    result.settled = 0;
    result.rest = ExportResult::Rest::retry_after_failure;
  }
  apply(std::move(result), started);
}

void Pipeline::apply(ExportResult result, SteadyClock::time_point started) noexcept {
  const auto now = SteadyClock::now();
  last_export_latency_us_.store(
      std::chrono::duration_cast<std::chrono::microseconds>(now - started).count(),
      std::memory_order_relaxed);
  const std::size_t settled = std::min(result.settled, batch_.events.size());
  if (settled > 0) {
    const std::size_t failed_in_prefix = batch_.drop_prefix(settled);
    // Counted before the ring lets them go, so the sum is never short. Release: a reader that
    // sees a count also sees the export it counts.
    failed_.fetch_add(failed_in_prefix, std::memory_order_release);
    delivered_.fetch_add(settled - failed_in_prefix, std::memory_order_release);
    ring_.acknowledge(settled);
  }
  const bool rest_left = !batch_.events.empty();
  if (result.rest == ExportResult::Rest::retry_after_failure) {
    export_failures_.fetch_add(1, std::memory_order_relaxed);
    record_error(result.reason.empty() ? std::string("export failed") : result.reason);
    if (result.counts_for_breaker) {
      breaker_.record_failure();
    } else {
      // The destination answered; the exporter still wants a pause before the retry.
      breaker_.record_success();
      batch_.not_before = now + options_.retry.initial_delay;
    }
    if (rest_left) retried_batches_.fetch_add(1, std::memory_order_relaxed);
  } else {
    breaker_.record_success();
    // retry_later paces the rest. A rest offered again at once (retry_later without a time, or
    // `none` that settled less than the batch) waits kShortestRetryWait when the call settled
    // nothing, so an exporter that keeps answering that cannot make the flusher spin; one
    // that makes progress goes on at once.
    const auto at_once = settled == 0 ? now + kShortestRetryWait : now;
    batch_.not_before = result.rest == ExportResult::Rest::retry_later
                            ? std::max(result.not_before, at_once)
                            : at_once;
  }
  if (rest_left) ++batch_.attempt;
  if (abandoned_.load(std::memory_order_acquire)) drop_batch_given_up();
}

void Pipeline::drop_batch_given_up() noexcept {
  const std::size_t left = batch_.events.size();
  if (left == 0) return;
  // The exporter failed some already: those stay failed, the others were never exported.
  const std::size_t failed = batch_.failed_count();
  batch_.events.clear();
  batch_.failed.clear();
  failed_.fetch_add(failed, std::memory_order_release);
  given_up_.fetch_add(left - failed, std::memory_order_release);
  ring_.acknowledge(left);
}

// Runs the exporter's flush once every event the pending flush() calls wait for is settled.
// Calls that arrive meanwhile wait for the next round: answering the current ones never waits
// for events enqueued after them, however fast events and calls keep coming.
bool Pipeline::serve_flush() noexcept {
  // Given up on: the exporter was interrupted and gets no further call (give_up() answers the
  // pending rounds).
  if (abandoned_.load(std::memory_order_acquire)) return false;
  if (serving_ == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flush_done_ == flush_requested_) return false;
    serving_ = flush_requested_;
    serving_target_ = flush_target_;
  }
  if (ring_.oldest_pending_sequence() < serving_target_) return false;
  const bool ok = exporter_->flush(io_deadline(SteadyClock::now()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    flush_done_ = serving_;
    if (!ok) ++failed_runs_;
    losses_at_last_run_ = losses();
  }
  progress_.notify_all();
  serving_ = 0;
  return true;
}

SteadyClock::time_point Pipeline::io_deadline(SteadyClock::time_point start) const noexcept {
  const SteadyClock::time_point stop_by(
      SteadyClock::duration(stop_deadline_ticks_.load(std::memory_order_acquire)));
  return std::min({start + options_.export_timeout, stop_by, exit_deadline()});
}

bool Pipeline::stop_requested() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void Pipeline::close() noexcept {
  const bool ok = exporter_->close(io_deadline(SteadyClock::now()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t lost = losses();
    // Anything lost that no flush() has answered for, including what a flush round served
    // after its caller had given up waiting found.
    final_ok_ = ok && lost <= losses_reported_ && failed_runs_ <= failed_runs_reported_;
    if (!ok) ++failed_runs_;
    losses_at_last_run_ = lost;
    flush_done_ = flush_requested_;
    clean_ = true;
    finished_ = true;
    gone_.store(true, std::memory_order_release);
  }
  progress_.notify_all();
}

// shutdown() stopped waiting for this thread: drop what the exporter holds and leave.
void Pipeline::give_up() noexcept {
  drop_batch_given_up();
  const std::uint64_t held = exporter_->discard();
  if (held > 0) {
    // Settled as delivered when the exporter took them; they never will be.
    std::uint64_t delivered = delivered_.load(std::memory_order_relaxed);
    const std::uint64_t taken_back = std::min(held, delivered);
    // Added before it is taken back: a reader never finds the events in neither counter.
    given_up_.fetch_add(taken_back, std::memory_order_release);
    delivered_.fetch_sub(taken_back, std::memory_order_release);
  }
  const std::uint64_t left = ring_.waiting() + given_up_.load(std::memory_order_relaxed);
  if (left > 0) {
    log_.log_lazy(spdlog::level::warn, [&] {
      return name_ + ": shutdown gave up waiting for the exporter; " + std::to_string(left) +
             " event(s) not exported";
    });
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    flush_done_ = flush_requested_;
    finished_ = true;
  }
  progress_.notify_all();
}

// A full buffer is noticed and logged here, not on the application thread that hit it.
void Pipeline::report_drops() noexcept {
  const std::uint64_t dropped = ring_.rejected() + ring_.evicted_oldest();
  if (dropped == drops_reported_) return;
  log_.log_lazy(spdlog::level::warn, [&] {
    return name_ + ": buffer full (" + tuning_.buffer_size_option + "=" +
           std::to_string(ring_.capacity()) + ", " + std::string(to_string(options_.overflow)) +
           "): " + std::to_string(dropped - drops_reported_) + " event(s) dropped (" +
           std::to_string(dropped) + " in total)";
  });
  drops_reported_ = dropped;
}

void Pipeline::release_evicted() noexcept {
  if (options_.overflow != OverflowStrategy::drop_oldest) return;
  try {
    ring_.release_evicted(evicted_);
  } catch (...) {
    // Out of memory growing the list: the ring keeps them until the next round.
  }
  evicted_.clear();
}

void Pipeline::record_error(const std::string& reason) noexcept {
  const auto when = (tuning_.clock ? tuning_.clock : &ClockSource::real())->system_now();
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    last_error_ = reason;
    last_error_time_ = when;
  } catch (...) {
  }
  log_.log_lazy(spdlog::level::warn,
                [&] { return name_ + ": export failed (will retry): " + reason; });
}

}  // namespace streamll::detail
