#pragma once
// Internal: a second thread for decoding a batch of entries. Decoding (parse_event_json) is
// most of a consumer's CPU time and each entry decodes independently, so splitting a batch
// between the consuming thread and this one nearly halves the time to the first handler call
// of the next batch. Handlers still run on the consuming thread, in stream order.

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace streamll::redis {

class DecodeWorker {
 public:
  DecodeWorker() : thread_([this] { loop(); }) {}
  ~DecodeWorker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  DecodeWorker(const DecodeWorker&) = delete;
  DecodeWorker& operator=(const DecodeWorker&) = delete;

  /// Calls decode(i) for every i in [0, n): the odd ones here, the even ones on the caller's
  /// thread. Returns when all are done. `decode` must be safe to call concurrently for
  /// different i and must not throw.
  void run(std::size_t n, const std::function<void(std::size_t)>& decode) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &decode;
      count_ = n;
      busy_ = true;
    }
    wake_.notify_all();
    for (std::size_t i = 0; i < n; i += 2) decode(i);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return !busy_; });
    job_ = nullptr;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return quit_ || busy_; });
      if (quit_) return;
      const auto* job = job_;
      const std::size_t n = count_;
      lock.unlock();
      for (std::size_t i = 1; i < n; i += 2) (*job)(i);
      lock.lock();
      busy_ = false;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t count_ = 0;
  bool busy_ = false;
  bool quit_ = false;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace streamll::redis
