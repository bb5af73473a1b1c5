#include "logging.hpp"

#include "streamll/log.hpp"

#include <spdlog/async_logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <pthread.h>

#include <cstdlib>
#include <unordered_map>

#include "fork_safe_time.hpp"

namespace streamll::detail {

namespace {

using LoggerTable = std::unordered_map<std::string, std::shared_ptr<spdlog::logger>>;

// Guards logger lookups (spdlog's registry lock is taken inside it), creation, default_level
// and the exit table. Leaked: used during static destruction. Held across fork(): a sink's
// thread looks its logger up for each warning, and a child that inherited the lock held hung
// in its first line. Taken before the console and time locks (its handler is registered after
// theirs; prepare handlers run in reverse), the order a lookup that makes a logger takes them.
std::mutex& creating() {
  static auto* mutex = [] {
    auto* made = new std::mutex;
    (void)time_conversion_mutex();
    ::pthread_atfork([] { creating().lock(); }, [] { creating().unlock(); },
                     [] { creating().unlock(); });
    return made;
  }();
  return *mutex;
}

// The level streamll's loggers start at: warn, so a healthy application's log stays quiet (no
// "connected" line on every start); set_log_level() for every logger changes it.
spdlog::level::level_enum default_level = spdlog::level::warn;

// Sinks log during static destruction (one released by a global's destructor, a writer
// interrupted at exit), when spdlog's registry may be gone. From the exit on, streamll's
// loggers are looked up here instead, never in the registry. Made at exit, then leaked, with
// the loggers it holds.
LoggerTable* exit_table = nullptr;

bool is_streamll_logger(const std::string& name) {
  return name == "streamll" || name.rfind("streamll.", 0) == 0;
}

// An asynchronous logger's thread pool belongs to the registry: at exit, the same sinks are
// written to directly.
std::shared_ptr<spdlog::logger> synchronous(const std::shared_ptr<spdlog::logger>& logger) {
  if (!std::dynamic_pointer_cast<spdlog::async_logger>(logger)) return logger;
  const auto& sinks = logger->sinks();
  auto direct = std::make_shared<spdlog::logger>(logger->name(), sinks.begin(), sinks.end());
  direct->set_level(logger->level());
  direct->flush_on(logger->flush_level());
  return direct;
}

// At exit, before the registry is destroyed (registered after the registry was made): copies
// streamll's loggers out of the registry, the application's own among them, and switches
// lookups to the copy for good.
void stop_using_registry() noexcept {
  try {
    std::lock_guard<std::mutex> lock(creating());
    exit_table = new LoggerTable;
    try {
      spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& logger) {
        if (is_streamll_logger(logger->name())) (*exit_table)[logger->name()] = synchronous(logger);
      });
    } catch (...) {
      // No memory: the loggers missing from the table are made afresh (stderr) when used.
    }
  } catch (...) {
    // No memory for the table itself: lookups stay with the registry.
  }
}

// spdlog's pattern, formatted under the time lock: a log line's timestamp is a glibc time
// conversion, which a fork must not catch halfway (see fork_safe_time.hpp).
class ForkSafeFormatter final : public spdlog::formatter {
 public:
  explicit ForkSafeFormatter(std::unique_ptr<spdlog::formatter> pattern)
      : pattern_(std::move(pattern)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::lock_guard<std::mutex> lock(time_conversion_mutex());
    pattern_->format(msg, dest);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<ForkSafeFormatter>(pattern_->clone());
  }

 private:
  std::unique_ptr<spdlog::formatter> pattern_;
};

// spdlog's colored stderr sink, keeping the fork-safe format: spdlog::set_pattern() reaches
// every registered logger's sinks, and on ours would bring back a formatter that converts
// times outside the time lock. (Its console mutex is guarded around fork() with the time lock.)
class ForkSafeStderrSink final : public spdlog::sinks::sink {
 public:
  ForkSafeStderrSink() { console_.set_formatter(fork_safe_log_formatter()); }
  void log(const spdlog::details::log_msg& msg) override { console_.log(msg); }
  void flush() override { console_.flush(); }
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  spdlog::sinks::stderr_color_sink_mt console_;
};

std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name, bool registered) {
  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<ForkSafeStderrSink>());
  if (registered) spdlog::initialize_logger(logger);
  logger->set_level(default_level);
  return logger;
}

}  // namespace

std::unique_ptr<spdlog::formatter> fork_safe_log_formatter() {
  (void)time_conversion_mutex();  // its fork handlers, before the first line is written
  return std::make_unique<ForkSafeFormatter>(std::make_unique<spdlog::pattern_formatter>());
}

std::mutex& setup_lock() noexcept {
  static auto* mutex = [] {
    auto* made = new std::mutex;
    // After the lookup lock's handler: fork() takes this one first, the order a setup that
    // logs (a bad environment variable) takes them in.
    (void)creating();
    ::pthread_atfork([] { setup_lock().lock(); }, [] { setup_lock().unlock(); },
                     [] { setup_lock().unlock(); });
    return made;
  }();
  return *mutex;
}

namespace {
// Made at load: a fork() during a function-local static's first initialization leaves the
// child waiting on its guard forever.
[[maybe_unused]] const bool locks_made_at_load = (creating(), setup_lock(), true);
}  // namespace

void keep_loggers_past_exit() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] {
      // spdlog's registry is made here (a static of spdlog's): a child forked meanwhile would
      // wait on its guard forever in its own first log line or configure().
      std::lock_guard<std::mutex> lock(setup_lock());
      (void)creating();
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
    // Held for the registry lookup too: once stop_using_registry() ran, no lookup is still
    // on its way into the registry.
    std::lock_guard<std::mutex> lock(creating());
    if (exit_table != nullptr) {
      auto& held = (*exit_table)[name];
      if (!held) held = make_stderr_logger(name, false);
      return held;
    }
    if (auto existing = spdlog::get(name)) return existing;
    return make_stderr_logger(name, true);
  } catch (...) {
    // Registration raced with the application's own logger of that name (use that one), or
    // no memory.
    try {
      std::lock_guard<std::mutex> lock(creating());
      if (exit_table == nullptr) return spdlog::get(name);
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
    // Held for the registry walk too, as for any use of the registry (fork safety).
    std::lock_guard<std::mutex> lock(detail::creating());
    detail::default_level = spdlog_level;
    if (detail::exit_table != nullptr) {
      // Exiting: the registry may be gone.
      for (auto& named : *detail::exit_table) named.second->set_level(spdlog_level);
      return;
    }
    // The ones that exist already (the application's own among them, if it registered some
    // under streamll's names).
    spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& logger) {
      if (detail::is_streamll_logger(logger->name())) logger->set_level(spdlog_level);
    });
  }
  // And the well-known ones, created now.
  for (const char* known : {"streamll", "streamll.sinks.redis", "streamll.sinks.jsonl"}) {
    if (auto logger = detail::get_logger(known)) logger->set_level(spdlog_level);
  }
}

}  // namespace streamll

namespace streamll::detail {

bool RateLimitedLog::admit(std::uint64_t& suppressed) noexcept {
  try {
    // Never waited for: a child forked while another thread held it would wait forever (it is
    // not held across fork(), there are many). A message that finds it busy is dropped and
    // counted like one over the limit.
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) {
      suppressed_since_last_.fetch_add(1, std::memory_order_relaxed);
      suppressed_total_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    const auto now = std::chrono::steady_clock::now();
    if (window_start_ == std::chrono::steady_clock::time_point{} ||
        now - window_start_ >= period_) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      suppressed_since_last_.fetch_add(1, std::memory_order_relaxed);
      suppressed_total_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    ++in_window_;
    suppressed = suppressed_since_last_.exchange(0, std::memory_order_relaxed);
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

bool RateLimitedLog::log(spdlog::level::level_enum level, const std::string& message) noexcept {
  std::uint64_t suppressed = 0;
  if (!admit(suppressed)) return false;
  write(level, message, suppressed);
  return true;
}

}  // namespace streamll::detail
