#pragma once
// Exponential backoff with jitter: after the n-th consecutive failure the next attempt waits
// initial * 2^(n-1), capped, spread by +-jitter so that many clients that lost the same server
// do not reconnect in lockstep. Used for reconnecting (with or without the circuit breaker) and
// for the breaker's growing open periods, so both paths share one implementation.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "streamll/detail/random.hpp"
#include "streamll/errors.hpp"
#include "support/clock.hpp"

namespace streamll::detail {

/// Returns a number in [0, 1). Injectable so tests can pin the jitter; values outside [0, 1]
/// (or NaN) are clamped, and one that throws counts as 0.5 (no jitter).
using RandomSource = std::function<double()>;

/// The default RandomSource: 53 random bits from the per-thread generator, no lock.
inline double random_unit() noexcept { return static_cast<double>(random_u64() >> 11) * 0x1.0p-53; }

struct BackoffPolicy {
  /// Wait after the first failure. 0 retries at once (and every later delay is then 0 too).
  std::chrono::nanoseconds initial_delay = std::chrono::milliseconds(100);
  /// No delay exceeds max(max_delay, initial_delay), jitter included.
  std::chrono::nanoseconds max_delay = std::chrono::seconds(5);
  /// Each delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter]. In [0, 1).
  double jitter = 0.2;
};

/// Not synchronized: one owner thread, or a lock held by the owner (CircuitBreaker does both).
/// Cost: a clock read per ready()/remaining(); record_failure() also draws one random number.
class Backoff {
 public:
  /// Throws ConfigError for a negative delay or a jitter outside [0, 1). `clock` must outlive
  /// the Backoff. An empty `random` uses random_unit().
  explicit Backoff(BackoffPolicy policy, const ClockSource& clock = ClockSource::real(),
                   RandomSource random = {})
      : policy_(policy), clock_(&clock), random_(std::move(random)) {
    if (policy_.initial_delay.count() < 0) {
      throw ConfigError(
          "initial_delay",
          "must not be negative (got " + std::to_string(policy_.initial_delay.count()) + " ns)");
    }
    if (policy_.max_delay.count() < 0) {
      throw ConfigError("max_delay", "must not be negative (got " +
                                         std::to_string(policy_.max_delay.count()) + " ns)");
    }
    if (!(policy_.jitter >= 0.0 && policy_.jitter < 1.0)) {
      throw ConfigError("jitter", "must be in [0, 1) (got " + std::to_string(policy_.jitter) + ")");
    }
  }

  /// Counts a failure and schedules the next attempt: now + delay. Returns the delay.
  std::chrono::nanoseconds record_failure() noexcept {
    if (failures_ < std::numeric_limits<std::uint64_t>::max()) ++failures_;
    last_delay_ = jittered(nominal_delay(policy_, failures_));
    next_attempt_ = clock_->steady_now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(last_delay_);
    return last_delay_;
  }

  /// Success: the next failure starts again from initial_delay, and attempts are allowed now.
  void reset() noexcept {
    failures_ = 0;
    last_delay_ = std::chrono::nanoseconds::zero();
  }

  /// True when no failure is pending or its delay has passed.
  bool ready() const noexcept { return failures_ == 0 || clock_->steady_now() >= next_attempt_; }

  /// Time until ready(); zero when ready.
  std::chrono::nanoseconds remaining() const noexcept {
    if (failures_ == 0) return std::chrono::nanoseconds::zero();
    const auto left = next_attempt_ - clock_->steady_now();
    return left.count() > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(left)
                            : std::chrono::nanoseconds::zero();
  }

  /// Consecutive failures since the last reset().
  std::uint64_t failures() const noexcept { return failures_; }
  /// The delay the last record_failure() chose (zero after reset()).
  std::chrono::nanoseconds last_delay() const noexcept { return last_delay_; }
  const BackoffPolicy& policy() const noexcept { return policy_; }

  /// The un-jittered delay after `failures` consecutive failures (0 for none):
  /// min(initial * 2^(failures-1), cap) with cap = max(max_delay, initial_delay).
  static std::chrono::nanoseconds nominal_delay(const BackoffPolicy& policy,
                                                std::uint64_t failures) noexcept {
    if (failures == 0) return std::chrono::nanoseconds::zero();
    const auto cap = std::max(policy.max_delay, policy.initial_delay);
    auto delay = policy.initial_delay;
    // Doubling stops at the cap, so this never overflows and runs at most ~63 times.
    for (std::uint64_t i = 1; i < failures && delay < cap && delay.count() > 0; ++i) {
      delay = delay > cap / 2 ? cap : delay * 2;
    }
    return std::min(delay, cap);
  }

 private:
  std::chrono::nanoseconds jittered(std::chrono::nanoseconds nominal) noexcept {
    if (policy_.jitter == 0.0 || nominal.count() == 0) return nominal;
    double unit = 0.5;
    try {
      unit = random_ ? random_() : random_unit();
    } catch (...) {
      unit = 0.5;
    }
    if (!(unit >= 0.0)) unit = 0.0;  // also catches NaN
    if (unit > 1.0) unit = 1.0;
    const double factor = 1.0 + policy_.jitter * (2.0 * unit - 1.0);
    const auto cap = std::max(policy_.max_delay, policy_.initial_delay);
    const double spread = static_cast<double>(nominal.count()) * factor;
    const double capped = std::min(spread, static_cast<double>(cap.count()));
    return std::chrono::nanoseconds(
        static_cast<std::chrono::nanoseconds::rep>(std::llround(capped)));
  }

  BackoffPolicy policy_;
  const ClockSource* clock_;
  RandomSource random_;
  std::uint64_t failures_ = 0;
  std::chrono::nanoseconds last_delay_{0};
  std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace streamll::detail
