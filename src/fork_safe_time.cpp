#include "fork_safe_time.hpp"

#include <pthread.h>
#include <spdlog/details/console_globals.h>

namespace streamll::detail {

namespace {

// spdlog's console sinks (streamll's loggers write through one) format and write a line under
// this process-wide mutex; a child forked while another thread held it hung in its first line.
std::mutex& console_mutex() noexcept { return spdlog::details::console_mutex::mutex(); }

}  // namespace

std::mutex& time_conversion_mutex() noexcept {
  static std::mutex* mutex = [] {
    auto* made = new std::mutex;
    // Console first: a console sink converts its line's timestamp with the console mutex held.
    ::pthread_atfork(
        [] {
          console_mutex().lock();
          time_conversion_mutex().lock();
        },
        [] {
          time_conversion_mutex().unlock();
          console_mutex().unlock();
        },
        [] {
          time_conversion_mutex().unlock();
          console_mutex().unlock();
        });
    return made;
  }();
  return *mutex;
}

bool calendar_time(std::time_t t, bool utc, std::tm& out) noexcept {
  std::lock_guard<std::mutex> lock(time_conversion_mutex());
  return utc ? ::gmtime_r(&t, &out) != nullptr : ::localtime_r(&t, &out) != nullptr;
}

}  // namespace streamll::detail
