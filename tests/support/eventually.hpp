#pragma once
// The tests' one way to wait for something that no condition variable announces: another
// thread's progress seen through a counter, a server's state, an external process's output.
// It polls an observable condition with a deadline; it never stands in for letting time pass
// (a test that means to let time pass sleeps, and says why).

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

namespace streamll::testing {

/// How long eventually() waits unless told: far beyond what a condition needs on an idle
/// machine, so that a slow sanitizer run does not fail a test that would pass.
inline constexpr std::chrono::milliseconds kEventuallyTimeout{5000};

/// The longest pause between two polls unless told. Polls start 100 us apart and the pause
/// doubles up to this: quick when the condition is about to hold, light on a 2-core machine when
/// it takes seconds.
inline constexpr std::chrono::milliseconds kLongestPollPause{10};

/// Polls `condition` until it returns true (then true) or `timeout` passes (then false, after
/// one last poll at the deadline). Give a longer `longest_pause` when each poll is expensive
/// (one that runs redis-cli, say).
template <typename Condition>
bool eventually(Condition&& condition, std::chrono::milliseconds timeout = kEventuallyTimeout,
                std::chrono::milliseconds longest_pause = kLongestPollPause) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::microseconds pause{100};
  while (!condition()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    using Duration = std::chrono::steady_clock::duration;
    std::this_thread::sleep_for(std::min<Duration>(pause, deadline - now));
    pause = std::min<std::chrono::microseconds>(pause * 2, longest_pause);
  }
  return true;
}

/// eventually(), for fixtures that cannot REQUIRE: throws std::runtime_error("timed out waiting
/// for <what>") when `condition` does not hold within `timeout`. Polls at most every 50 ms,
/// since fixtures' conditions usually ask a server.
template <typename Condition>
void wait_for_state(const std::string& what, std::chrono::milliseconds timeout,
                    Condition&& condition) {
  if (!eventually(condition, timeout, std::chrono::milliseconds(50))) {
    throw std::runtime_error("timed out waiting for " + what);
  }
}

}  // namespace streamll::testing
