#pragma once
// The time source of the RedisSink's pipeline (circuit breaker, backoff, flush deadlines).
// Reading time through an interface lets tests move time forward by hand instead of sleeping
// for a recovery timeout; production code uses ClockSource::real(), which costs one virtual
// call on top of the clock read.

#include <chrono>

namespace streamll::detail {

/// Where time comes from. Both clocks are needed: steady time for timeouts and backoff (it never
/// jumps), wall time only for display (a breaker's "last failure" shown to a human).
/// Implementations must be safe to call from any thread.
class ClockSource {
 public:
  virtual ~ClockSource() = default;

  virtual std::chrono::steady_clock::time_point steady_now() const noexcept {
    return std::chrono::steady_clock::now();
  }
  virtual std::chrono::system_clock::time_point system_now() const noexcept {
    return std::chrono::system_clock::now();
  }

  /// The real clocks. One process-wide instance, never destroyed, so a thread still running
  /// during static destruction can keep reading it.
  static const ClockSource& real() noexcept {
    static const ClockSource* const instance = new ClockSource();
    return *instance;
  }
};

}  // namespace streamll::detail
