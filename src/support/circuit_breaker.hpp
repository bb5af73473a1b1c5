#pragma once
// The RedisSink's circuit breaker: stops connection attempts to a Redis that keeps failing, and
// tests it again with a single probe after a growing wait.
//
//   CLOSED --failure_threshold consecutive failures--> OPEN
//   OPEN --wait passed, allow_request() takes the probe--> HALF_OPEN
//   HALF_OPEN --probe succeeded--> CLOSED        (all counts and waits reset)
//   HALF_OPEN --probe failed--> OPEN             (wait doubled, jittered, capped)
//   any --reset() or record_success()--> CLOSED
//
// The first open wait is recovery_timeout; each failed probe doubles it, up to max_backoff.
// While CLOSED, failures below the threshold still space out retries with a short reconnect
// backoff (retry_initial_delay doubling up to retry_max_delay), so a refused connection does not
// burn through the threshold in a millisecond. With enabled=false the breaker never opens and
// that reconnect backoff is all that remains (circuit_breaker=false "still reconnects with
// backoff"). Only transport failures (connect, I/O, TLS, timeout) are to be recorded; Redis
// error replies are not the transport's fault.

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "streamll/errors.hpp"
#include "streamll/redis/breaker_state.hpp"
#include "support/backoff.hpp"
#include "support/clock.hpp"

namespace streamll::detail {

struct CircuitBreakerOptions {
  /// false: never opens; failures only delay the next attempt (reconnect backoff).
  bool enabled = true;
  /// Consecutive transport failures that open the breaker. >= 1.
  std::size_t failure_threshold = 3;
  /// First open period before the half-open probe. > 0.
  std::chrono::milliseconds recovery_timeout{30000};
  /// Longest open period (the doubling stops here). A value below recovery_timeout means
  /// "no growth": every open period is recovery_timeout.
  std::chrono::milliseconds max_backoff{300000};
  /// Reconnect backoff below the threshold (and the whole policy when disabled): first delay
  /// and its cap. 0 retries at once. >= 0.
  std::chrono::milliseconds retry_initial_delay{100};
  std::chrono::milliseconds retry_max_delay{5000};
  /// Every wait is multiplied by a uniform factor in [1 - jitter, 1 + jitter] (never above its
  /// cap). In [0, 1).
  double jitter = 0.2;
  /// Time source; nullptr: ClockSource::real(). Must outlive the breaker.
  const ClockSource* clock = nullptr;
  /// Uniform [0, 1) numbers for the jitter; empty: random_unit().
  RandomSource random;
  /// Called once per state change, after the breaker's lock is released, on the thread that
  /// caused it (normally the flusher; reset() may come from any thread, and then two callbacks
  /// may overlap). Exceptions it throws are swallowed.
  std::function<void(BreakerState from, BreakerState to)> on_state_change;
};

/// Mutators (allow_request, record_*, reset) take a mutex and may be called from any thread,
/// though the RedisSink calls all but reset() from its flusher. Observers (state, counts,
/// last_failure_time) are lock-free atomic reads; next_attempt_in() takes the lock.
class CircuitBreaker {
 public:
  /// Throws ConfigError naming the bad option (failure_threshold 0, recovery_timeout <= 0,
  /// negative delays, jitter outside [0, 1)).
  explicit CircuitBreaker(CircuitBreakerOptions options)
      : options_(validated(std::move(options))),
        clock_(options_.clock ? options_.clock : &ClockSource::real()),
        random_(shared(options_.random)),
        retry_backoff_(
            BackoffPolicy{options_.retry_initial_delay, options_.retry_max_delay, options_.jitter},
            *clock_, random_),
        open_backoff_(
            BackoffPolicy{options_.recovery_timeout, options_.max_backoff, options_.jitter},
            *clock_, random_) {}

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  /// May the caller attempt a connection or a write now? CLOSED (or disabled): yes, unless a
  /// reconnect backoff is still running. OPEN: no, until the open period has passed; then the
  /// breaker turns HALF_OPEN and this call (only this one) gets the probe: true. HALF_OPEN: no
  /// (the probe is under way). The caller must report the attempt's outcome with
  /// record_success() or record_failure().
  bool allow_request() {
    std::optional<Transition> change;
    bool allowed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      switch (state_.load(std::memory_order_relaxed)) {
        case BreakerState::closed:
          allowed = retry_backoff_.ready();
          break;
        case BreakerState::open:
          if (open_backoff_.ready()) {
            change = set_state(BreakerState::half_open);
            probe_outstanding_ = true;
            allowed = true;
          }
          break;
        case BreakerState::half_open:
          allowed = !probe_outstanding_;
          probe_outstanding_ = true;
          break;
      }
    }
    report(change);
    return allowed;
  }

  /// A transport operation succeeded: CLOSED with every count and wait reset. From OPEN this is
  /// the guide's "force reset" idiom and behaves like reset().
  void record_success() { close(); }

  /// A transport failure (connect, I/O, TLS, timeout). Counts it, then: CLOSED below the
  /// threshold or disabled: schedules the next retry with the reconnect backoff; CLOSED at the
  /// threshold: OPEN for recovery_timeout; HALF_OPEN (the probe failed): OPEN again for twice
  /// the previous period (capped); OPEN: only counted (a straggler must not extend the wait).
  void record_failure() {
    std::optional<Transition> change;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::uint64_t consecutive = failure_count_.load(std::memory_order_relaxed) + 1;
      failure_count_.store(consecutive, std::memory_order_relaxed);
      total_failures_.store(total_failures_.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
      last_failure_ticks_.store(clock_->system_now().time_since_epoch().count(),
                                std::memory_order_relaxed);
      switch (state_.load(std::memory_order_relaxed)) {
        case BreakerState::closed:
          if (options_.enabled && consecutive >= options_.failure_threshold) {
            open_backoff_.record_failure();
            change = set_state(BreakerState::open);
          } else {
            retry_backoff_.record_failure();
          }
          break;
        case BreakerState::half_open:
          probe_outstanding_ = false;
          open_backoff_.record_failure();
          change = set_state(BreakerState::open);
          break;
        case BreakerState::open:
          break;
      }
    }
    report(change);
  }

  /// Forces CLOSED and allows attempts at once (the guide's troubleshooting "force circuit
  /// breaker reset"). Keeps total_failures() and last_failure_time() as history.
  void reset() { close(); }

  // --- Observation (any thread) ---

  /// Acquire: whoever sees a new state also sees what the failing thread recorded before it.
  BreakerState state() const noexcept { return state_.load(std::memory_order_acquire); }
  /// Not CLOSED: writes are not going through normally (OPEN, or HALF_OPEN probing).
  bool is_open() const noexcept { return state() != BreakerState::closed; }
  /// Consecutive transport failures since the last success or reset.
  std::uint64_t failure_count() const noexcept {
    return failure_count_.load(std::memory_order_relaxed);
  }
  /// Every transport failure recorded since construction.
  std::uint64_t total_failures() const noexcept {
    return total_failures_.load(std::memory_order_relaxed);
  }
  /// Times the breaker went to OPEN (from CLOSED or from a failed probe).
  std::uint64_t open_count() const noexcept { return open_count_.load(std::memory_order_relaxed); }
  /// Wall-clock time of the last recorded failure, for display; nullopt before the first.
  std::optional<std::chrono::system_clock::time_point> last_failure_time() const noexcept {
    const auto ticks = last_failure_ticks_.load(std::memory_order_relaxed);
    if (ticks == no_failure_yet) return std::nullopt;
    return std::chrono::system_clock::time_point(std::chrono::system_clock::duration(ticks));
  }
  /// How long until allow_request() can return true: the open period's rest while OPEN, the
  /// reconnect backoff's rest while CLOSED; zero when an attempt is allowed now or a probe is
  /// under way (HALF_OPEN). The flusher sleeps this long. Takes the lock.
  std::chrono::nanoseconds next_attempt_in() const {
    std::lock_guard<std::mutex> lock(mutex_);
    switch (state_.load(std::memory_order_relaxed)) {
      case BreakerState::closed:
        return retry_backoff_.remaining();
      case BreakerState::open:
        return open_backoff_.remaining();
      case BreakerState::half_open:
        break;
    }
    return std::chrono::nanoseconds::zero();
  }
  /// The open period chosen at the last opening (jitter included); zero while never opened
  /// since the last close.
  std::chrono::nanoseconds current_open_period() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_backoff_.last_delay();
  }

  const CircuitBreakerOptions& options() const noexcept { return options_; }

 private:
  using Transition = std::pair<BreakerState, BreakerState>;
  static constexpr std::chrono::system_clock::rep no_failure_yet =
      std::numeric_limits<std::chrono::system_clock::rep>::min();

  static CircuitBreakerOptions validated(CircuitBreakerOptions options) {
    const auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; };
    if (options.failure_threshold == 0) {
      throw ConfigError("failure_threshold", "must be at least 1 (got 0)");
    }
    if (options.recovery_timeout.count() <= 0) {
      throw ConfigError("recovery_timeout",
                        "must be positive (got " + ms(options.recovery_timeout) + ")");
    }
    if (options.max_backoff.count() < 0) {
      throw ConfigError("max_backoff",
                        "must not be negative (got " + ms(options.max_backoff) + ")");
    }
    if (options.retry_initial_delay.count() < 0) {
      throw ConfigError("retry_initial_delay",
                        "must not be negative (got " + ms(options.retry_initial_delay) + ")");
    }
    if (options.retry_max_delay.count() < 0) {
      throw ConfigError("retry_max_delay",
                        "must not be negative (got " + ms(options.retry_max_delay) + ")");
    }
    if (!(options.jitter >= 0.0 && options.jitter < 1.0)) {
      throw ConfigError("jitter", "must be in [0, 1) (got " + std::to_string(options.jitter) + ")");
    }
    return options;
  }

  // Both backoffs draw from one sequence, so a test's scripted random numbers are consumed in
  // the order the waits are chosen, whichever backoff chooses them.
  static RandomSource shared(const RandomSource& random) {
    if (!random) return {};
    auto source = std::make_shared<RandomSource>(random);
    return [source] { return (*source)(); };
  }

  // Callers hold mutex_.
  std::optional<Transition> set_state(BreakerState to) noexcept {
    const BreakerState from = state_.load(std::memory_order_relaxed);
    if (from == to) return std::nullopt;
    state_.store(to, std::memory_order_release);
    if (to == BreakerState::open) {
      open_count_.store(open_count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    return Transition{from, to};
  }

  void close() {
    std::optional<Transition> change;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      failure_count_.store(0, std::memory_order_relaxed);
      probe_outstanding_ = false;
      retry_backoff_.reset();
      open_backoff_.reset();
      change = set_state(BreakerState::closed);
    }
    report(change);
  }

  void report(const std::optional<Transition>& change) const noexcept {
    if (!change || !options_.on_state_change) return;
    try {
      options_.on_state_change(change->first, change->second);
    } catch (...) {
      // A logging callback failing must not take the flusher down with it.
    }
  }

  const CircuitBreakerOptions options_;
  const ClockSource* const clock_;
  const RandomSource random_;  // calls only under mutex_ (through the backoffs)

  mutable std::mutex mutex_;
  Backoff retry_backoff_;           // guarded by mutex_
  Backoff open_backoff_;            // guarded by mutex_
  bool probe_outstanding_ = false;  // guarded by mutex_

  // Written under mutex_, read anywhere.
  std::atomic<BreakerState> state_{BreakerState::closed};
  std::atomic<std::uint64_t> failure_count_{0};
  std::atomic<std::uint64_t> total_failures_{0};
  std::atomic<std::uint64_t> open_count_{0};
  std::atomic<std::chrono::system_clock::rep> last_failure_ticks_{no_failure_yet};
};

}  // namespace streamll::detail
