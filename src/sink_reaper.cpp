#include "sink_reaper.hpp"

#include <pthread.h>

#include <exception>
#include <thread>
#include <utility>

#include "exit_flush.hpp"

namespace streamll::detail {
namespace {

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
    // the child has no reaper thread: it destroys released sinks itself.
    ::pthread_atfork([] { SinkReaper::instance().prepare_fork(); },
                     [] { SinkReaper::instance().after_fork(false); },
                     [] { SinkReaper::instance().after_fork(true); });
    return created;
  }();
  return *reaper;
}

void SinkReaper::adopt(SinkPtr sink) noexcept {
  if (!sink) return;
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
  destroy(sink);
}

void SinkReaper::run() noexcept {
  // Sinks queued here must still get their chance when the program exits without shutdown().
  arrange_exit_flush();
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    work_.wait(lock, [&] { return !queue_.empty(); });
    SinkPtr sink = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    destroy(sink);
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

std::size_t SinkReaper::drain(std::chrono::steady_clock::time_point deadline) noexcept {
  std::deque<SinkPtr> queued;
  std::unique_lock<std::mutex> lock(mutex_);
  inline_only_ = true;
  queued.swap(queue_);
  lock.unlock();
  std::size_t unfinished = 0;
  for (SinkPtr& sink : queued) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    try {
      if (!sink->shutdown(left)) ++unfinished;
    } catch (...) {
      ++unfinished;
    }
    destroy(sink);
  }
  lock.lock();
  if (!idle_.wait_until(lock, deadline, [&] { return !busy_; })) ++unfinished;
  return unfinished;
}

bool SinkReaper::wait_idle(std::chrono::milliseconds timeout) noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void SinkReaper::prepare_fork() noexcept { mutex_.lock(); }

void SinkReaper::after_fork(bool in_child) noexcept {
  if (in_child) {
    // The sink being destroyed (if any) stays with the parent's reaper; the queued ones are
    // the parent's too, and a forked sink's destructor does not wait (see RedisSink).
    thread_started_ = false;
    busy_ = false;
    inline_only_ = true;
  }
  mutex_.unlock();
}

}  // namespace streamll::detail
