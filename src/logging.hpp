#pragma once
// Internal: spdlog loggers by name and rate limiting, so a sink failing on every event logs a
// few lines and a count instead of flooding the application's log.

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace streamll::detail {

/// The spdlog logger registered under `name`, created (stderr, colored) when the application
/// has not registered its own. Applications take over by registering a logger with that name
/// before streamll first logs. Safe during static destruction: from the exit on, the loggers
/// are found without spdlog's registry (see keep_loggers_past_exit()). Null only when out of
/// memory.
std::shared_ptr<spdlog::logger> get_logger(const std::string& name) noexcept;

/// Arranges, once, that streamll's loggers outlive spdlog's registry: a sink destroyed during
/// static destruction logs its loss through them. Called where a sink may be made (it must
/// run while the registry still exists, i.e. not first during static destruction).
void keep_loggers_past_exit() noexcept;

/// The lock streamll's one-time setups run under (spdlog's registry, OpenSSL's init), which
/// fork() waits for, so that no child finds one half done (a static's guard or a library's
/// lock inherited held, waited on forever). Never held while taking another setup's.
std::mutex& setup_lock() noexcept;

/// spdlog's default pattern, formatted under the time lock of fork_safe_time.hpp, so that a
/// fork never catches a log line's timestamp conversion halfway. streamll's own loggers use it.
std::unique_ptr<spdlog::formatter> fork_safe_log_formatter();

/// Lets `burst` messages through per `period`; the rest are counted and reported with the next
/// message that gets through ("... (37 similar messages suppressed)"). Thread-safe; a message
/// arriving while another thread is being admitted counts as suppressed (never waits: fork()).
class RateLimitedLog {
 public:
  RateLimitedLog(std::string logger_name, int burst = 5,
                 std::chrono::steady_clock::duration period = std::chrono::seconds(10))
      : logger_name_(std::move(logger_name)), burst_(burst), period_(period) {
    // Made with a sink, which may log as it is destroyed during static destruction.
    keep_loggers_past_exit();
  }

  /// False when the rate limit dropped it.
  bool log(spdlog::level::level_enum level, const std::string& message) noexcept;
  /// Like log(), but calls `make_message()` (returning std::string) only when the message will
  /// be logged: a call site on the application's thread allocates nothing for a dropped one.
  template <typename MakeMessage>
  void log_lazy(spdlog::level::level_enum level, MakeMessage&& make_message) noexcept {
    std::uint64_t suppressed = 0;
    if (!admit(suppressed)) return;
    try {
      write(level, make_message(), suppressed);
    } catch (...) {
      // Logging must never take the application down.
    }
  }
  std::uint64_t suppressed_total() const noexcept { return suppressed_total_.load(); }

 private:
  /// Whether the rate limit lets one more message through; if so, `suppressed` is how many
  /// were dropped since the last one that was logged.
  bool admit(std::uint64_t& suppressed) noexcept;
  void write(spdlog::level::level_enum level, const std::string& message,
             std::uint64_t suppressed) noexcept;

  std::string logger_name_;
  int burst_;
  std::chrono::steady_clock::duration period_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point window_start_{};
  int in_window_ = 0;
  std::atomic<std::uint64_t> suppressed_since_last_{0};
  std::atomic<std::uint64_t> suppressed_total_{0};
};

}  // namespace streamll::detail
