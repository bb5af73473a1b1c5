#pragma once
// The RingBuffer's staging areas (see ring_buffer_staging.hpp): one small area per producer
// thread that stages while the buffer is full, and how a thread finds its own without a lock.
// The ring moves staged items in and out under its own locks; this file only owns the areas.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

namespace streamll::detail {

/// Raw storage for one T, constructed and destroyed by hand.
template <typename T>
struct alignas(T) RawSlot {
  unsigned char bytes[sizeof(T)];

  T* item() noexcept { return std::launder(reinterpret_cast<T*>(bytes)); }
};

template <typename T>
class StageArea {
 public:
  /// Items a producer stages before moving them into the ring under one lock acquisition.
  static constexpr std::size_t stage_capacity = 16;
  /// Producer threads that may stage; any more push directly.
  static constexpr std::size_t max_stages = 64;

  // One producer thread's staging area. `mutex` is taken by its producer and, now and then,
  // by the ring's drain_stages(); never by two producers.
  struct Stage {
    std::mutex mutex;
    RawSlot<T> slots[stage_capacity];
    std::atomic<std::size_t> size{0};  // written under `mutex`, read anywhere
    std::thread::id owner;
    std::uint32_t producer = 0;  // the owner's producer number in the ring

    T* item(std::size_t i) noexcept { return slots[i].item(); }
    ~Stage() {
      for (std::size_t i = 0, n = size.load(std::memory_order_relaxed); i < n; ++i) item(i)->~T();
    }
  };

  // Per thread: what it knows of its stage in the buffers it pushed to lately. A buffer's id is
  // never reused, so entries of destroyed buffers never match again.
  struct CacheEntry {
    std::uint64_t buffer_id = 0;
    Stage* stage = nullptr;       // this thread's stage in that buffer, if it has one
    bool none_available = false;  // it asked for one and max_stages threads had them
  };

  /// Stages published so far (acquire: their table entries are readable).
  std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  /// Stage `i` of the first count().
  Stage& operator[](std::size_t i) const noexcept { return *table_[i]; }

  /// Items staged in every stage. Any thread.
  std::size_t staged() const noexcept {
    std::size_t total = 0;
    for (std::size_t i = 0, n = count(); i < n; ++i) {
      total += table_[i]->size.load(std::memory_order_acquire);
    }
    return total;
  }

  // This thread's cache entry for this buffer. On a miss (first push, or the entry was pushed
  // out by other buffers') it looks through the table without a lock: a stage's owner never
  // changes once published. Finding the stage matters for order: a thread with items staged
  // must stage its next ones too.
  CacheEntry& entry_for_this_thread() noexcept {
    Cache& cache = this_thread_cache();
    for (CacheEntry& entry : cache.entries) {
      if (entry.buffer_id == id_) return entry;
    }
    Stage* mine = nullptr;
    const std::thread::id me = std::this_thread::get_id();
    for (std::size_t i = 0, n = count(); i < n && !mine; ++i) {
      if (table_[i]->owner == me) mine = table_[i].get();
    }
    CacheEntry& entry = cache.entries[cache.next_victim];
    cache.next_victim = (cache.next_victim + 1) % cache_size;
    entry = CacheEntry{id_, mine, false};
    return entry;
  }

  // A stage for this thread, which entry_for_this_thread() found has none (only a thread makes
  // its own); nullptr when max_stages threads have one already or there is no memory for it
  // (the caller then pushes directly).
  Stage* make_stage(std::uint32_t producer) noexcept {
    try {
      std::lock_guard<std::mutex> lock(table_mutex_);
      const std::size_t index = count_.load(std::memory_order_relaxed);
      if (index == max_stages) return nullptr;
      auto stage = std::make_unique<Stage>();
      stage->owner = std::this_thread::get_id();
      stage->producer = producer;
      table_[index] = std::move(stage);
      count_.store(index + 1, std::memory_order_release);  // publishes the entry
      return table_[index].get();
    } catch (...) {
      return nullptr;
    }
  }

 private:
  static constexpr std::size_t cache_size = 8;
  struct Cache {
    std::array<CacheEntry, cache_size> entries{};
    std::size_t next_victim = 0;
  };
  static Cache& this_thread_cache() noexcept {
    thread_local Cache cache;
    return cache;
  }
  static std::uint64_t next_buffer_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }

  const std::uint64_t id_ = next_buffer_id();
  // The first count_ entries of the table are stages. An entry is written once, before the
  // release store of count_ that publishes it (table_mutex_ orders the writers), so readers
  // that load count_ with acquire need no lock.
  std::mutex table_mutex_;
  std::unique_ptr<Stage> table_[max_stages];
  std::atomic<std::size_t> count_{0};
};

}  // namespace streamll::detail
