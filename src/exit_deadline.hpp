#pragma once
// Internal: the moment by which an exiting process stops waiting for its sinks. The exit
// flush sets it; the shutdown waits of RedisSink and the file sinks honour it on the reaper
// thread. A sink that thread is already shutting down when the process exits (its own
// timeout may be 5 s) then gives up by that moment too, rather than running on into static
// destruction.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace streamll::detail {

/// Set once, by the exit flush.
void set_exit_deadline(std::chrono::steady_clock::time_point deadline) noexcept;

/// Called by the reaper thread: the shutdowns it runs (of sinks released on the application's
/// behalf) honour the exit deadline. Elsewhere a shutdown keeps the bound it was given: an
/// application shutting down its own sink during exit chose how long to wait.
void honour_exit_deadline_on_this_thread() noexcept;

/// The exit deadline on a thread that honours it, once the process is exiting; otherwise
/// time_point::max().
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
