#pragma once
// How long `streamll consume` pauses after a handler failed, before it handles anything else:
// base, 2 x base, 4 x base ... up to a cap, back to nothing after a success. A handler that
// always fails (its downstream is down) would otherwise run through its own re-deliveries as
// fast as Redis hands them out, writing a failure line each time.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

namespace streamll::cli {

class RetryBackoff {
 public:
  /// base 0 turns the pause off. cap < base is treated as base.
  RetryBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) noexcept;

  /// Counts a failure and returns the pause it calls for: base * 2^(failures in a row - 1),
  /// at most the cap.
  std::chrono::milliseconds failed() noexcept;
  /// A success ends the run of failures.
  void succeeded() noexcept { consecutive_ = 0; }
  std::uint64_t consecutive_failures() const noexcept { return consecutive_; }
  /// The longest pause failed() can return.
  std::chrono::milliseconds longest() const noexcept { return base_.count() == 0 ? base_ : cap_; }

 private:
  std::chrono::milliseconds base_;
  std::chrono::milliseconds cap_;
  std::uint64_t consecutive_ = 0;
};

/// consume's backoff from --retry-delay (default 1 s) and --retry-max-delay. The pause runs
/// while the rest of an already-read batch sits delivered but unacknowledged, so it must stay
/// well below --claim-idle or another worker claims those entries and handles them twice: the
/// default cap is 10 s, or half of claim_idle when that is shorter, and the default base at
/// most the cap; a given pause that is not below claim_idle (0: never claimed) throws
/// UsageError.
RetryBackoff consume_backoff(std::optional<std::chrono::milliseconds> base,
                             std::optional<std::chrono::milliseconds> cap,
                             std::chrono::milliseconds claim_idle);

/// A pause that stop() cuts short (from the signal thread), so SIGINT never waits out a backoff.
class InterruptiblePause {
 public:
  /// Waits up to `d`; false when stop() came (before or during the wait).
  bool wait_for(std::chrono::milliseconds d);
  void stop();

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopped_ = false;
};

}  // namespace streamll::cli
