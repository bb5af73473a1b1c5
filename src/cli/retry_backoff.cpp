#include "cli/retry_backoff.hpp"

#include <algorithm>
#include <string>

#include "cli/args.hpp"

namespace streamll::cli {

RetryBackoff::RetryBackoff(std::chrono::milliseconds base, std::chrono::milliseconds cap) noexcept
    : base_(std::max(base, std::chrono::milliseconds(0))), cap_(std::max(cap, base_)) {}

std::chrono::milliseconds RetryBackoff::failed() noexcept {
  ++consecutive_;
  if (base_.count() == 0) return base_;
  // Doubling stops at the cap long before it could overflow.
  std::chrono::milliseconds delay = base_;
  for (std::uint64_t i = 1; i < consecutive_ && delay < cap_; ++i) delay *= 2;
  return std::min(delay, cap_);
}

RetryBackoff consume_backoff(std::optional<std::chrono::milliseconds> base,
                             std::optional<std::chrono::milliseconds> cap,
                             std::chrono::milliseconds claim_idle) {
  using std::chrono::milliseconds;
  const milliseconds default_cap =
      claim_idle.count() > 0 ? std::min(milliseconds(10000), claim_idle / 2) : milliseconds(10000);
  const milliseconds longest = cap.value_or(default_cap);
  // Defaults are never refused: the default base shrinks to fit a short cap.
  RetryBackoff backoff(base.value_or(std::min(milliseconds(1000), longest)), longest);
  if (claim_idle.count() > 0 && backoff.longest() >= claim_idle) {
    throw UsageError(
        "the longest retry pause (" + std::to_string(backoff.longest().count()) +
        " ms from --retry-delay/--retry-max-delay) must be shorter than --claim-idle (" +
        std::to_string(claim_idle.count()) +
        " ms): the rest of a read batch waits unacknowledged through the pause and " +
        "another worker would claim it and handle it twice");
  }
  return backoff;
}

bool InterruptiblePause::wait_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopped_; });
  return !stopped_;
}

void InterruptiblePause::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
  }
  wake_.notify_all();
}

}  // namespace streamll::cli
