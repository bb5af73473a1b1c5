#include "sink_reaper.hpp"

#include <pthread.h>

#include <exception>
#include <thread>
#include <utility>

#include "exit_deadline.hpp"
#include "exit_flush.hpp"
#include "fork_safe_time.hpp"
#include "parallel_shutdown.hpp"

namespace streamll::detail {
namespace {

// How long past the exit deadline drain() waits for the sink being destroyed: it gives up
// by the deadline (see exit_deadline.hpp), then may wait up to its own interruption grace
// (200 ms for RedisSink, 100 ms for the file sinks) for a thread stuck in I/O.
constexpr std::chrono::milliseconds kExitGrace{300};

// A forked child's copies of the parent's queued sinks, never destroyed (reachable: no leak
// report).
std::deque<SinkPtr>* parents_sinks = nullptr;

void destroy(SinkPtr& sink) noexcept {
  try {
    sink.reset();
  } catch (...) {
    // A throwing destructor terminates anyway; nothing to report to.
  }
}

}  // namespace

SinkReaper& SinkReaper::instance() noexcept {
  static SinkReaper* reaper = [] {
    auto* created = new SinkReaper;
    // The reaper's lock must not be held by a thread that does not exist in the child, and
    // the child has no reaper thread: it destroys released sinks itself. After the time
    // lock's handler (taken last).
    (void)time_conversion_mutex();
    ::pthread_atfork([] { SinkReaper::instance().prepare_fork(); },
                     [] { SinkReaper::instance().after_fork(false); },
                     [] { SinkReaper::instance().after_fork(true); });
    return created;
  }();
  return *reaper;
}

namespace {
// Made at load, with its fork handlers: a fork() while another thread ran its first
// initialization (a first configure() arranging the exit flush) left the child's own
// configure() waiting on the static's guard forever.
[[maybe_unused]] const bool reaper_made_at_load = (SinkReaper::instance(), true);
}  // namespace

void SinkReaper::adopt(SinkPtr sink) noexcept {
  if (!sink) return;
  // Registered before the sink is queued, not on the reaper thread: a program may return
  // from main before that thread ran, and the queued sink would be lost at exit.
  arrange_exit_flush();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!inline_only_) {
      try {
        if (!thread_started_) {
          std::thread([this] { run(); }).detach();
          thread_started_ = true;
        }
        queue_.push_back(std::move(sink));
      } catch (...) {
        // No thread or no memory: destroyed below, on this thread.
      }
      if (!sink) {
        work_.notify_one();
        return;
      }
    }
  }
  // After drain() the process is exiting: nothing may wait a shutdown_timeout any more.
  if (exiting_.load(std::memory_order_acquire)) {
    try {
      sink->shutdown(std::chrono::milliseconds(0));
    } catch (...) {
    }
  }
  destroy(sink);
}

void SinkReaper::run() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_.wait(lock, [&] { return !queue_.empty(); });
    SinkPtr sink = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    destroy(sink);
    const auto destroyed_at = std::chrono::steady_clock::now();
    lock.lock();
    busy_ = false;
    last_destroyed_at_ = destroyed_at;
    if (queue_.empty()) idle_.notify_all();
  }
}

std::size_t SinkReaper::drain(std::chrono::steady_clock::time_point deadline,
                              const std::vector<SinkPtr>& also) noexcept {
  std::vector<SinkPtr> sinks;
  // Before anything else: the sink the reaper thread is shutting down may be waiting its own
  // shutdown_timeout, and must stop waiting by this deadline too.
  set_exit_deadline(deadline);
  std::unique_lock<std::mutex> lock(mutex_);
  inline_only_ = true;
  exiting_.store(true, std::memory_order_release);
  try {
    sinks.reserve(also.size() + queue_.size());
    sinks.insert(sinks.end(), also.begin(), also.end());
    for (SinkPtr& sink : queue_) sinks.push_back(std::move(sink));
  } catch (...) {
    // No memory: the queued ones are destroyed below without a bound of their own.
  }
  std::deque<SinkPtr> rest;
  rest.swap(queue_);
  lock.unlock();
  std::size_t unfinished = shutdown_in_parallel(sinks, deadline);
  sinks.clear();  // shut down: their destructors have nothing left to wait for
  for (SinkPtr& sink : rest) {
    if (sink) {
      try {
        sink->shutdown(std::chrono::milliseconds(0));
      } catch (...) {
      }
      ++unfinished;
    }
    destroy(sink);
  }
  lock.lock();
  // Still busy at the deadline, or done only once it passed (a sink gives up at the deadline,
  // and the wait's last look may already find the thread idle): it did not finish within the
  // bound (it logs its own loss).
  if (!idle_.wait_until(lock, deadline, [&] { return !busy_; })) {
    ++unfinished;
    idle_.wait_until(lock, deadline + kExitGrace, [&] { return !busy_; });
  } else if (last_destroyed_at_ >= deadline) {
    ++unfinished;
  }
  return unfinished;
}

bool SinkReaper::wait_idle(std::chrono::milliseconds timeout) noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void SinkReaper::prepare_fork() noexcept { mutex_.lock(); }

void SinkReaper::after_fork(bool in_child) noexcept {
  if (in_child) {
    // The queued sinks are the parent's: their threads do not exist here, so their
    // destructors are not run (leaked). The sink being destroyed stays with the parent's
    // reaper. A new reaper thread starts on first use, so that a configure() or the last
    // reference dropped in the child does not wait for a shutdown_timeout.
    try {
      parents_sinks = new std::deque<SinkPtr>(std::move(queue_));
    } catch (...) {
    }
    queue_.clear();
    thread_started_ = false;
    busy_ = false;
    inline_only_ = exiting_.load(std::memory_order_relaxed);
  }
  mutex_.unlock();
}

}  // namespace streamll::detail
