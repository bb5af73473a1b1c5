#include "exit_deadline.hpp"

#include <atomic>

namespace streamll::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A plain atomic, never destroyed in any way that matters: read by sinks shutting down during
// static destruction.
std::atomic<Clock::rep> deadline_ticks{Clock::time_point::max().time_since_epoch().count()};

}  // namespace

void set_exit_deadline(Clock::time_point deadline) noexcept {
  deadline_ticks.store(deadline.time_since_epoch().count(), std::memory_order_release);
}

Clock::time_point exit_deadline() noexcept {
  return Clock::time_point(Clock::duration(deadline_ticks.load(std::memory_order_acquire)));
}

}  // namespace streamll::detail
