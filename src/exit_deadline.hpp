#pragma once
// Internal: the moment by which an exiting process stops waiting for its sinks. The exit
// flush sets it; the shutdown waits of RedisSink (each shard of a ShardedRedisSink too) and
// the file sinks honour it, whatever bound they were given. A sink the reaper thread is
// already shutting down when the process exits (its own timeout may be 5 s) then gives up by
// that moment too, rather than running on into static destruction.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace streamll::detail {

/// Set once, by the exit flush.
void set_exit_deadline(std::chrono::steady_clock::time_point deadline) noexcept;

/// time_point::max() while the process is not exiting.
std::chrono::steady_clock::time_point exit_deadline() noexcept;

/// Waits on `cv` until `done()` holds or `deadline` or the exit deadline passes; returns
/// done(). The exit deadline is set without a notification (the exit flush does not know
/// which sinks are waiting), so the wait is cut into short slices that look at it again.
template <typename Done>
bool wait_until_done_or_exit(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                             std::chrono::steady_clock::time_point deadline, Done done) {
  constexpr std::chrono::milliseconds kSlice{25};
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    const auto until = std::min(deadline, exit_deadline());
    if (now >= until) return false;
    cv.wait_until(lock, std::min(until, now + kSlice));
  }
  return true;
}

}  // namespace streamll::detail
