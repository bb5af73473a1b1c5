#include "logging.hpp"

#include "streamll/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace streamll::detail {

namespace {

std::mutex creating;  // guards logger creation and default_level
// The level streamll's loggers start at: warn, so a healthy application's log stays quiet (no
// "connected" line on every start); set_log_level() for every logger changes it.
spdlog::level::level_enum default_level = spdlog::level::warn;

bool is_streamll_logger(const std::string& name) {
  return name == "streamll" || name.rfind("streamll.", 0) == 0;
}

}  // namespace

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) noexcept {
  try {
    if (auto existing = spdlog::get(name)) return existing;
    std::lock_guard<std::mutex> lock(creating);
    if (auto existing = spdlog::get(name)) return existing;
    auto logger = spdlog::stderr_color_mt(name);
    logger->set_level(default_level);
    return logger;
  } catch (...) {
    // Registration raced with the application's own logger of that name: use that one.
    return spdlog::get(name);
  }
}

}  // namespace streamll::detail

namespace streamll {

static_assert(static_cast<int>(LogLevel::trace) == spdlog::level::trace &&
                  static_cast<int>(LogLevel::warn) == spdlog::level::warn &&
                  static_cast<int>(LogLevel::off) == spdlog::level::off,
              "LogLevel mirrors spdlog's levels");

void set_log_level(LogLevel level, std::string_view name) {
  const auto spdlog_level = static_cast<spdlog::level::level_enum>(level);
  if (!name.empty()) {
    if (auto logger = detail::get_logger(std::string(name))) logger->set_level(spdlog_level);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(detail::creating);
    detail::default_level = spdlog_level;
  }
  // The ones that exist already (the application's own among them, if it registered some
  // under streamll's names), and the well-known ones, created now.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
    if (detail::is_streamll_logger(logger->name())) logger->set_level(spdlog_level);
  });
  for (const char* known : {"streamll", "streamll.sinks.redis", "streamll.sinks.jsonl"}) {
    if (auto logger = detail::get_logger(known)) logger->set_level(spdlog_level);
  }
}

}  // namespace streamll

namespace streamll::detail {

bool RateLimitedLog::admit(std::uint64_t& suppressed) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (window_start_ == std::chrono::steady_clock::time_point{} || now - window_start_ >= period_) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      ++suppressed_since_last_;
      suppressed_total_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++in_window_;
    suppressed = std::exchange(suppressed_since_last_, 0);
    return true;
  } catch (...) {
    return false;  // the mutex failed to lock: drop the message rather than throw
  }
}

void RateLimitedLog::write(spdlog::level::level_enum level, const std::string& message,
                           std::uint64_t suppressed) noexcept {
  try {
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

void RateLimitedLog::log(spdlog::level::level_enum level, const std::string& message) noexcept {
  std::uint64_t suppressed = 0;
  if (admit(suppressed)) write(level, message, suppressed);
}

}  // namespace streamll::detail
