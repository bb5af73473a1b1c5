#include "logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace streamll::detail {

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) noexcept {
  try {
    if (auto existing = spdlog::get(name)) return existing;
    static std::mutex creating;
    std::lock_guard<std::mutex> lock(creating);
    if (auto existing = spdlog::get(name)) return existing;
    return spdlog::stderr_color_mt(name);
  } catch (...) {
    // Registration raced with the application's own logger of that name: use that one.
    return spdlog::get(name);
  }
}

void RateLimitedLog::log(spdlog::level::level_enum level, const std::string& message) noexcept {
  try {
    std::uint64_t suppressed = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      if (window_start_ == std::chrono::steady_clock::time_point{} || now - window_start_ >= period_) {
        window_start_ = now;
        in_window_ = 0;
      }
      if (in_window_ >= burst_) {
        ++suppressed_since_last_;
        suppressed_total_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      ++in_window_;
      suppressed = std::exchange(suppressed_since_last_, 0);
    }
    auto logger = get_logger(logger_name_);
    if (!logger) return;
    if (suppressed > 0) {
      logger->log(level, "{} ({} similar messages suppressed)", message, suppressed);
    } else {
      logger->log(level, "{}", message);
    }
  } catch (...) {
    // Logging must never take the application down.
  }
}

}  // namespace streamll::detail
