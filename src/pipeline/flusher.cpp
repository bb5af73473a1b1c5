// The flusher thread of a Pipeline: runs the engine round after round, polling the buffer while
// busy and sleeping when idle; serves flush() rounds; closes the engine, or gives up, at
// shutdown.

#include <algorithm>
#include <string>

#include "exit_deadline.hpp"
#include "pipeline/pipeline.hpp"

namespace streamll::detail {
namespace {

// After the engine worked, the flusher polls the buffer for a while instead of sleeping until
// notified, so an application emitting a steady stream never pays for waking it (a futex
// syscall). Idle longer than the linger time, it sleeps until the next event wakes it.
constexpr std::chrono::microseconds kPollInterval{250};
constexpr std::chrono::milliseconds kLingerTime{20};

}  // namespace

void Pipeline::run() noexcept {
  auto last_activity = SteadyClock::now();
  while (!abandoned()) {
    if (past_stop_deadline_with_work()) {
      // shutdown()'s deadline passed with events still to send: every call would fail at once
      // (its deadline is gone), so the flusher gives up now rather than spin until shutdown()
      // notices.
      abandoned_.store(true, std::memory_order_release);
      gone_.store(true, std::memory_order_release);
      break;
    }
    release_evicted();
    ring_.drain_stages();
    const bool progressed = engine_->step();
    if (progressed) last_activity = SteadyClock::now();
    report_drops();
    if (serve_flush() || progressed || engine_->holds_batches()) continue;
    if (stop_requested()) {
      if (ring_.waiting() > 0 || ring_.staged() > 0) continue;
      close();
      return;
    }
    if (SteadyClock::now() - last_activity < kLingerTime) {
      ring_.wait_for_events(ring_.no_event_wake, kPollInterval);
    } else {
      ring_.wait_for_events(1, engine_->idle_wait(options_.flush_interval));
    }
  }
  give_up();
}

// Runs the engine's flush once every event the pending flush() calls wait for is settled.
// Calls that arrive meanwhile wait for the next round: answering the current ones never waits
// for events enqueued after them, however fast events and calls keep coming.
bool Pipeline::serve_flush() noexcept {
  // Given up on: the engine was interrupted and gets no further call (give_up() answers the
  // pending rounds).
  if (abandoned()) return false;
  if (serving_ == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (flush_done_ == flush_requested_) return false;
    serving_ = flush_requested_;
    serving_target_ = flush_target_;
  }
  if (ring_.oldest_pending_sequence() < serving_target_) return false;
  const bool ok = engine_->flush(deadline_after(options_.export_timeout));
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

bool Pipeline::past_stop_deadline_with_work() noexcept {
  if (SteadyClock::now() < stop_deadline()) return false;
  return engine_->holds_batches() || ring_.waiting() > 0 || ring_.staged() > 0;
}

bool Pipeline::stop_requested() {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopping_;
}

void Pipeline::close() noexcept {
  const bool ok = engine_->close(deadline_after(options_.export_timeout));
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

// shutdown() stopped waiting for this thread: the engine drops what it holds, and the flusher
// leaves.
void Pipeline::give_up() noexcept {
  engine_->give_up();
  if (!tuning_.report_left_at_shutdown) {
    const std::uint64_t left = ring_.waiting() + given_up();
    if (left > 0) {
      log_.log_lazy(spdlog::level::warn, [&] {
        return name_ + ": shutdown gave up waiting for the exporter; " + std::to_string(left) +
               " event(s) not exported";
      });
    }
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

// Destroys what producers evicted (drop_oldest), here rather than on their threads.
void Pipeline::release_evicted() noexcept {
  // Looked at without the ring's lock: a steady stream's polling never takes it for nothing.
  const std::uint64_t evicted = ring_.evicted_oldest();
  if (evicted == evictions_released_) return;
  try {
    ring_.release_evicted(evicted_);
    evictions_released_ = evicted;
  } catch (...) {
    // Out of memory growing the list: the ring keeps them until the next round.
  }
  evicted_.clear();
}

}  // namespace streamll::detail
