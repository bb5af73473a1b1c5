#pragma once
// RingBuffer::push(), the producers' side: admitting an item, evicting the oldest when full
// (drop_oldest), staging when full and contended. Part of ring_buffer.hpp, which includes it;
// include that instead.

#include "pipeline/ring_buffer.hpp"

namespace streamll::detail {

template <typename T>
template <typename U>
PushResult RingBuffer<T>::push(U&& item) noexcept {
  static_assert(std::is_nothrow_constructible_v<T, U&&>,
                "RingBuffer constructs items under its lock and must not throw there");
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  if (staging_) {
    CacheEntry* known = nullptr;
    bool staged_before = false;
    if (stages_.count() > 0) {
      known = &stages_.entry_for_this_thread();
      staged_before = known->stage && known->stage->size.load(std::memory_order_relaxed) > 0;
    }
    // Full, and another producer holds the lock: stage rather than wait for it. (After
    // staging, keep staging until the stage moves, so this thread's items keep their order.)
    if (staged_before || (size_.load(std::memory_order_relaxed) >= capacity_ && !lock.try_lock())) {
      if (!known) known = &stages_.entry_for_this_thread();
      if (!known->stage && !known->none_available) {
        known->stage = stages_.make_stage(this_producer());
        known->none_available = known->stage == nullptr;
      }
      if (known->stage) {
        if (lock.owns_lock()) lock.unlock();
        return push_staged(*known->stage, std::forward<U>(item));
      }
    }
  }
  std::optional<T> evicted_here;  // outlives the lock below, so destruction happens unlocked
  PushResult result;
  bool wake = false;
  {
    if (!lock.owns_lock()) lock_spinning(lock);
    result.was_empty = waiting_.load(std::memory_order_relaxed) == 0;
    result.outcome = admit_locked([&](T& oldest, std::uint32_t pushed_by) {
      // An item this thread pushed is destroyed here, after the lock: its memory and
      // reference counts are this thread's own, so that is cheapest. Another thread's goes
      // to the consumer's list: freeing it here would pull that thread's cache lines over.
      if (pushed_by == this_producer() || !hand_to_consumer_locked(oldest, wake)) {
        evicted_here.emplace(std::move(oldest));
      }
    });
    result.waiting = waiting_.load(std::memory_order_relaxed);
    if (result.outcome == PushOutcome::rejected_full) return result;
    store_locked(std::forward<U>(item), this_producer());
    wake = wake_due_locked() || wake;
    lock.unlock();
  }
  if (wake) consumer_wakeup_.notify_one();
  return result;
}

}  // namespace streamll::detail
