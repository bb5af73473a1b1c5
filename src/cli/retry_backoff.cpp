#include "cli/retry_backoff.hpp"

#include <algorithm>

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
