#pragma once
// RingBuffer's staging while full: a producer's push into its own stage, and the moves of staged
// items into the ring. Part of ring_buffer.hpp, which includes it; include that instead.
//
// Staging (drop_oldest, when asked for at construction). While the buffer is full (an outage),
// every push evicts, and producers on several cores pushing back to back would meet on the lock
// for every event: on a 2-core machine that made an emit 3 to 4 times dearer. So a producer that
// finds the buffer full and the lock taken appends to a small staging area of its own (its own
// lock, never contended by another producer) and moves what it staged into the ring
// stage_capacity items at a time, under one acquisition of the shared lock. The staged items
// enter the ring, and are counted (pushed, accepted, evicted, sequence numbers), when they are
// moved; drain_stages() moves everyone's (the consumer calls it each round, flush() and
// shutdown() before they look at the counters), so a staged item waits at most one consumer round
// (or, when every slot is in flight, until a batch is acknowledged: nothing may be evicted for it
// then, and a producer whose stage is full in that state has its new item refused, as push()
// would). A producer with staged items stages its next ones too, so each thread's items keep
// their order. Bounded: at most max_stages producer threads stage (others push directly), each at
// most stage_capacity items.

#include "pipeline/ring_buffer.hpp"

namespace streamll::detail {

template <typename T>
void RingBuffer<T>::drain_stages() noexcept {
  for (std::size_t i = 0, n = stages_.count(); i < n; ++i) {
    Stage& stage = stages_[i];
    // Acquire: a stage seen empty was moved, and what it moved is counted in the ring (see
    // move_stage_into_ring), so a caller reading accepted() next sees it.
    if (stage.size.load(std::memory_order_acquire) == 0) continue;
    std::lock_guard<std::mutex> stage_lock(stage.mutex);
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    move_stage_into_ring(stage, lock);
  }
}

template <typename T>
template <typename U>
PushResult RingBuffer<T>::push_staged(typename RingBuffer<T>::Stage& stage, U&& item) noexcept {
  PushResult result;  // accepted: whether it evicts anything is decided when it moves
  std::lock_guard<std::mutex> stage_lock(stage.mutex);
  std::size_t n = stage.size.load(std::memory_order_relaxed);
  if (n == stage_capacity) {
    // Still full after its last move: every slot of the buffer was in flight. Try again; if
    // nothing moves, this item is refused, as push() refuses it in that state.
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    move_stage_into_ring(stage, lock);
    n = stage.size.load(std::memory_order_relaxed);
    if (n == stage_capacity) {
      lock_spinning(lock);
      bump(pushed_, 1);
      bump(rejected_, 1);
      result.outcome = PushOutcome::rejected_full;
      result.waiting = waiting_.load(std::memory_order_relaxed);
      return result;
    }
  }
  ::new (static_cast<void*>(stage.slots[n].bytes)) T(std::forward<U>(item));
  stage.size.store(n + 1, std::memory_order_relaxed);
  // Moved when full, or as soon as the buffer has room again (the outage is over).
  if (n + 1 == stage_capacity || size_.load(std::memory_order_relaxed) < capacity_) {
    std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
    move_stage_into_ring(stage, lock);
  }
  result.waiting = waiting_.load(std::memory_order_relaxed);
  return result;
}

template <typename T>
void RingBuffer<T>::move_stage_into_ring(Stage& stage,
                                         std::unique_lock<std::mutex>& lock) noexcept {
  const std::size_t n = stage.size.load(std::memory_order_relaxed);
  if (n == 0) return;
  bool wake = false;
  if (!lock.owns_lock()) lock_spinning(lock);
  if (waiting_.load(std::memory_order_relaxed) == 0 &&
      in_flight_.load(std::memory_order_relaxed) >= capacity_) {
    lock.unlock();
    return;  // once one item is in, the others evict it or each other: all or none move
  }
  Slot evicted_storage;  // the evicted item between leaving its slot and entering the stage
  for (std::size_t i = 0; i < n; ++i) {
    T* staged = stage.item(i);
    T* evicted = nullptr;
    // As in push(): another thread's item goes to the consumer, this thread's is destroyed
    // here once the lock is released.
    admit_locked([&](T& oldest, std::uint32_t pushed_by) {
      if (pushed_by == stage.producer || !hand_to_consumer_locked(oldest, wake)) {
        evicted = ::new (static_cast<void*>(evicted_storage.bytes)) T(std::move(oldest));
      }
    });
    store_locked(std::move(*staged), stage.producer);
    if (evicted) {  // the staged item's slot takes the evicted one, destroyed below
      staged->~T();
      ::new (static_cast<void*>(staged)) T(std::move(*evicted));
      evicted->~T();
    }
  }
  wake = wake_due_locked() || wake;
  // Before the lock is released, with release: whoever reads the smaller size (acquire) also
  // sees the moved items counted in the ring, so no item is counted twice or missed. The
  // slots themselves are read and written only under stage.mutex, which this thread holds.
  stage.size.store(0, std::memory_order_release);
  lock.unlock();
  for (std::size_t i = 0; i < n; ++i) stage.item(i)->~T();  // moved-from shells, evicted items
  if (wake) consumer_wakeup_.notify_one();
}

}  // namespace streamll::detail
