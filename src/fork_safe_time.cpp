#include "fork_safe_time.hpp"

#include <pthread.h>

namespace streamll::detail {

std::mutex& time_conversion_mutex() noexcept {
  static std::mutex* mutex = [] {
    auto* made = new std::mutex;
    ::pthread_atfork([] { time_conversion_mutex().lock(); },
                     [] { time_conversion_mutex().unlock(); },
                     [] { time_conversion_mutex().unlock(); });
    return made;
  }();
  return *mutex;
}

bool calendar_time(std::time_t t, bool utc, std::tm& out) noexcept {
  std::lock_guard<std::mutex> lock(time_conversion_mutex());
  return utc ? ::gmtime_r(&t, &out) != nullptr : ::localtime_r(&t, &out) != nullptr;
}

}  // namespace streamll::detail
