#include "logging.hpp"

#include "streamll/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <unordered_map>

namespace streamll::detail {

namespace {

std::mutex creating;  // guards logger creation, the loggers below and default_level
// The level streamll's loggers start at: warn, so a healthy application's log stays quiet (no
// "connected" line on every start); set_log_level() for every logger changes it.
spdlog::level::level_enum default_level = spdlog::level::warn;

// Sinks log during static destruction (a sink released by a global's destructor, one the
// reaper is still shutting down), after spdlog's registry may be gone. Every logger streamll
// used is held here as well, and once the process exits it is found here only. Leaked: never
// destroyed.
struct ExitLoggers {
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> by_name;
  bool exiting = false;
};
ExitLoggers* exit_loggers = nullptr;  // made with the first keep_loggers_past_exit()

bool is_streamll_logger(const std::string& name) {
  return name == "streamll" || name.rfind("streamll.", 0) == 0;
}

// At exit, before the registry is destroyed (registered after the registry was made): takes
// streamll's loggers out of the registry, the application's own among them.
void stop_using_registry() noexcept {
  try {
    std::lock_guard<std::mutex> lock(creating);
    spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) {
      if (is_streamll_logger(logger->name())) exit_loggers->by_name[logger->name()] = logger;
    });
    exit_loggers->exiting = true;
  } catch (...) {
    // Out of memory: the loggers already held are enough.
    exit_loggers->exiting = true;
  }
}

std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name, bool registered) {
  auto logger = registered
                    ? spdlog::stderr_color_mt(name)
                    : std::make_shared<spdlog::logger>(
                          name, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(default_level);
  return logger;
}

}  // namespace

void keep_loggers_past_exit() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] {
      exit_loggers = new ExitLoggers;
      (void)spdlog::default_logger_raw();  // the registry, made before the handler below
      std::atexit(stop_using_registry);
    });
  } catch (...) {
    // Without it, logging during static destruction stays as unsafe as spdlog makes it.
  }
}

std::shared_ptr<spdlog::logger> get_logger(const std::string& name) noexcept {
  keep_loggers_past_exit();
  try {
    std::lock_guard<std::mutex> lock(creating);
    if (exit_loggers == nullptr) return spdlog::get(name);  // out of memory earlier
    if (exit_loggers->exiting) {
      auto& held = exit_loggers->by_name[name];
      if (!held) held = make_stderr_logger(name, false);
      return held;
    }
    auto logger = spdlog::get(name);
    if (!logger) logger = make_stderr_logger(name, true);
    exit_loggers->by_name[name] = logger;
    return logger;
  } catch (...) {
    // Registration raced with the application's own logger of that name (use that one), or
    // no memory.
    try {
      std::lock_guard<std::mutex> lock(creating);
      if (exit_loggers == nullptr || !exit_loggers->exiting) return spdlog::get(name);
    } catch (...) {
    }
    return nullptr;
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
