#pragma once
// Internal: a mutex whose lock can give up at a deadline, so that flush(timeout) and
// shutdown(timeout) of the file and terminal sinks honour their timeout while another thread
// is in the middle of a write.
//
// std::timed_mutex would do, but libstdc++ implements try_lock_for() with
// pthread_mutex_clocklock(), which ThreadSanitizer (GCC 12) does not intercept: every timed
// lock then shows up as a false "unlock of an unlocked mutex". A flag under a plain mutex and a
// condition variable is understood by every sanitizer, and costs the same when uncontended.

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace streamll::detail {

/// Meets the standard TimedLockable requirements used by std::lock_guard and std::unique_lock.
class TimedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
    released_.wait(guard, [this] { return !held_; });
    held_ = true;
  }
  bool try_lock() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (held_) return false;
    held_ = true;
    return true;
  }
  template <typename Rep, typename Period>
  bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
    std::unique_lock<std::mutex> guard(mutex_);
    if (!released_.wait_for(guard, timeout, [this] { return !held_; })) return false;
    held_ = true;
    return true;
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      held_ = false;
    }
    released_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool held_ = false;
};

}  // namespace streamll::detail
