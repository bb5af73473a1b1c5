#include "exit_deadline.hpp"

#include <atomic>

namespace streamll::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A plain atomic, never destroyed in any way that matters: read by sinks shutting down during
// static destruction.
std::atomic<Clock::rep> deadline_ticks{Clock::time_point::max().time_since_epoch().count()};

thread_local bool honours_exit_deadline = false;

}  // namespace

void honour_exit_deadline_on_this_thread() noexcept { honours_exit_deadline = true; }

void set_exit_deadline(Clock::time_point deadline) noexcept {
  deadline_ticks.store(deadline.time_since_epoch().count(), std::memory_order_release);
}

Clock::time_point exit_deadline() noexcept {
  if (!honours_exit_deadline) return Clock::time_point::max();
  return Clock::time_point(Clock::duration(deadline_ticks.load(std::memory_order_acquire)));
}

}  // namespace streamll::detail
