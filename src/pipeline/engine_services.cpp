// What a Pipeline offers its engine on the flusher thread: deadlines, pauses, settling and
// counting.

#include <algorithm>
#include <string>

#include "exit_deadline.hpp"
#include "pipeline/pipeline.hpp"
#include "support/deadline.hpp"

namespace streamll::detail {

Pipeline::SteadyClock::time_point Pipeline::stop_deadline() const noexcept {
  return SteadyClock::time_point(
      SteadyClock::duration(stop_deadline_ticks_.load(std::memory_order_acquire)));
}

Pipeline::SteadyClock::time_point Pipeline::deadline_after(
    std::chrono::milliseconds timeout) const noexcept {
  return std::min({deadline_in(timeout), stop_deadline(), exit_deadline()});
}

void Pipeline::pause(std::chrono::nanoseconds wait) noexcept {
  ring_.wait_for_events(ring_.no_event_wake,
                        std::min<std::chrono::nanoseconds>(wait, options_.flush_interval));
}

void Pipeline::count_settled(std::uint64_t delivered, std::uint64_t failed) noexcept {
  // Release: a reader that sees a count also sees the export it counts.
  if (failed > 0) failed_.fetch_add(failed, std::memory_order_release);
  if (delivered > 0) delivered_.fetch_add(delivered, std::memory_order_release);
}

void Pipeline::take_back_delivered(std::uint64_t events) noexcept {
  const std::uint64_t taken_back = std::min(events, delivered_.load(std::memory_order_relaxed));
  // Added before it is taken back: a reader never finds the events in neither counter.
  given_up_.fetch_add(taken_back, std::memory_order_release);
  delivered_.fetch_sub(taken_back, std::memory_order_release);
}

void Pipeline::count_export(bool failed, std::chrono::microseconds latency) noexcept {
  export_calls_.fetch_add(1, std::memory_order_relaxed);
  if (failed) export_failures_.fetch_add(1, std::memory_order_relaxed);
  last_export_latency_us_.store(latency.count(), std::memory_order_relaxed);
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
