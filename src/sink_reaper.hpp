#pragma once
// Internal: the thread that destroys the sinks an instrumentor released. A sink's destructor
// may wait for its buffer to drain (RedisSink: up to shutdown_timeout, the whole of it when
// Redis is down), and the last reference to an instrumentor is often dropped on an
// application thread: by configure() replacing it, or by a span or call guard that outlived
// the replacement. Queued here, that wait happens on one background thread instead.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <vector>

#include "streamll/sink.hpp"

namespace streamll::detail {

class SinkReaper {
 public:
  /// The process's reaper. Leaked on purpose, like the default instrumentor: spans ending in
  /// static destructors or detached threads may still release sinks.
  static SinkReaper& instance() noexcept;

  /// Takes what should be the last reference to `sink` and destroys it on the reaper thread
  /// (started on first use). After drain(), in a forked child, or when no thread can be
  /// started, the sink is destroyed on the caller's thread instead (after drain(), shut down
  /// with a timeout of zero first). Arranges the exit flush before queuing.
  void adopt(SinkPtr sink) noexcept;

  /// At exit: sets the exit deadline (every sink's shutdown gives up by then, the one the
  /// reaper thread is destroying included), shuts down the sinks still queued, and `also` (the
  /// default instrumentor's), in parallel by `deadline`, then waits for the one being destroyed
  /// until a short grace past it. Later sinks are shut down without waiting and destroyed on
  /// the caller's thread. Returns how many sinks did not finish cleanly.
  std::size_t drain(std::chrono::steady_clock::time_point deadline,
                    const std::vector<SinkPtr>& also = {}) noexcept;

  /// Waits until every sink adopted so far was destroyed; false on timeout.
  bool wait_idle(std::chrono::milliseconds timeout) noexcept;

 private:
  SinkReaper() = default;
  void run() noexcept;
  void prepare_fork() noexcept;
  void after_fork(bool in_child) noexcept;

  std::mutex mutex_;
  std::condition_variable work_;  // the reaper thread: a sink was queued
  std::condition_variable idle_;  // drain(), wait_idle(): the queue ran empty
  std::deque<SinkPtr> queue_;
  bool busy_ = false;  // the reaper thread is destroying one
  // When the reaper thread last finished destroying one: at or past the exit deadline, that
  // sink gave up (or ran late) even though drain() saw the thread idle by then.
  std::chrono::steady_clock::time_point last_destroyed_at_{};
  bool thread_started_ = false;
  bool inline_only_ = false;          // after drain(): sinks are destroyed on the caller's thread
  std::atomic<bool> exiting_{false};  // drain() ran: adopt() shuts sinks down without waiting
};

}  // namespace streamll::detail
