#pragma once
// Internal: lets another thread interrupt whichever transport its owner is blocked in right now
// (the connection being opened, a sentinel being asked, a cluster node asked for its slot
// map), so a bounded shutdown also cuts short a connect that goes through several servers.

#include <atomic>
#include <mutex>

#include "redis/transport/transport.hpp"

namespace streamll::redis {

class InterruptGate {
 public:
  /// Any thread. Sticky until clear(): the transport in use is interrupted, and so is every
  /// transport attached later.
  void interrupt() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    interrupted_.store(true, std::memory_order_release);
    if (current_) current_->interrupt();
  }
  void clear() noexcept { interrupted_.store(false, std::memory_order_release); }
  bool interrupted() const noexcept { return interrupted_.load(std::memory_order_acquire); }

  /// While alive, `transport` is the one interrupt() reaches.
  class Scope {
   public:
    Scope(InterruptGate& gate, RedisTransport& transport) : gate_(gate) {
      std::lock_guard<std::mutex> lock(gate_.mutex_);
      gate_.current_ = &transport;
      if (gate_.interrupted_.load(std::memory_order_acquire)) transport.interrupt();
    }
    ~Scope() {
      std::lock_guard<std::mutex> lock(gate_.mutex_);
      gate_.current_ = nullptr;
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    InterruptGate& gate_;
  };

 private:
  std::mutex mutex_;
  RedisTransport* current_ = nullptr;
  std::atomic<bool> interrupted_{false};
};

}  // namespace streamll::redis
