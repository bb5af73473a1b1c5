#include "streamll/detail/block_pool.hpp"

#include <atomic>
#include <mutex>

namespace streamll::detail {
namespace {

struct SharedPool {
  std::mutex mutex;
  PooledBlock* batches[block_pool_classes] = {};  // each batch: block_pool_batch blocks
  // Written under `mutex`; read without it by a refill, which then skips the lock when there
  // is nothing to take (a thread whose blocks another thread frees finds it empty often).
  std::atomic<std::size_t> batch_count[block_pool_classes] = {};
};

SharedPool& shared_pool() {
  // Leaked on purpose: threads exiting during static destruction still return blocks to it.
  static SharedPool* pool = new SharedPool;
  return *pool;
}

// A cached block is poisoned past its link only, and AddressSanitizer frees memory whatever
// its poisoning: the block's size is not needed here.
void free_list(PooledBlock* block) noexcept {
  while (block) {
    PooledBlock* next = block->next;
    ::operator delete(static_cast<void*>(block));
    block = next;
  }
}

// Takes `count` blocks off the front of the thread's cache as one batch, and gives it to the
// shared pool or, when that is full, back to malloc.
void spill_batch(ThreadBlockCache& cache, std::size_t size_class, std::size_t count) noexcept {
  PooledBlock* first = cache.head[size_class];
  PooledBlock* last = first;
  for (std::size_t i = 1; i < count; ++i) last = last->next;
  cache.head[size_class] = last->next;
  cache.count[size_class] -= static_cast<std::uint32_t>(count);
  last->next = nullptr;
  if (count == block_pool_batch) {
    SharedPool& pool = shared_pool();
    std::lock_guard<std::mutex> lock(pool.mutex);
    const std::size_t batches = pool.batch_count[size_class].load(std::memory_order_relaxed);
    if (batches < block_pool_shared_batches) {
      first->next_batch = pool.batches[size_class];
      pool.batches[size_class] = first;
      pool.batch_count[size_class].store(batches + 1, std::memory_order_relaxed);
      return;
    }
  }
  free_list(first);
}

// Returns a thread's cached blocks when it exits.
struct ThreadCacheRelease {
  ~ThreadCacheRelease() {
    ThreadBlockCache& cache = thread_block_cache;
    cache.state = ThreadCacheState::released;
    for (std::size_t c = 0; c < block_pool_classes; ++c) {
      while (cache.count[c] >= block_pool_batch) spill_batch(cache, c, block_pool_batch);
      if (cache.count[c] > 0) spill_batch(cache, c, cache.count[c]);
    }
  }
};

// Registers the calling thread's release at exit, the first time only (after that, not even
// the thread-local's guard is checked). Not once the thread's cache is released.
void prepare_thread_cache(ThreadBlockCache& cache) noexcept {
  if (cache.state != ThreadCacheState::unused) return;
  static thread_local ThreadCacheRelease release;
  cache.state = ThreadCacheState::registered;
}

}  // namespace

void* block_pool_refill(std::size_t size_class, std::size_t bytes) {
  ThreadBlockCache& cache = thread_block_cache;
  if (cache.state != ThreadCacheState::released) {
    SharedPool& pool = shared_pool();
    PooledBlock* batch = nullptr;
    if (pool.batch_count[size_class].load(std::memory_order_relaxed) > 0) {
      std::lock_guard<std::mutex> lock(pool.mutex);
      batch = pool.batches[size_class];
      if (batch) {
        pool.batches[size_class] = batch->next_batch;
        pool.batch_count[size_class].store(
            pool.batch_count[size_class].load(std::memory_order_relaxed) - 1,
            std::memory_order_relaxed);
      }
    }
    if (batch) {
      // Blocks are unpoisoned as they are handed out; the batch's link order is kept.
      STREAMLL_POOL_UNPOISON(batch, bytes);
      cache.head[size_class] = batch->next;
      cache.count[size_class] += static_cast<std::uint32_t>(block_pool_batch - 1);
      prepare_thread_cache(cache);  // blocks now sit in this thread's cache
      return batch;
    }
  }
  return ::operator new(bytes);
}

void block_pool_spill(std::size_t size_class, void* block, std::size_t bytes) noexcept {
  ThreadBlockCache& cache = thread_block_cache;
  if (cache.state == ThreadCacheState::released) {
    ::operator delete(block);
    return;
  }
  prepare_thread_cache(cache);
  if (cache.count[size_class] >= block_pool_thread_blocks) {
    spill_batch(cache, size_class, block_pool_batch);
  }
  block_pool_free(size_class, block, bytes);
}

std::size_t block_pool_shared_blocks(std::size_t size_class) noexcept {
  return shared_pool().batch_count[size_class].load(std::memory_order_relaxed) * block_pool_batch;
}

void block_pool_trim() noexcept {
  SharedPool& pool = shared_pool();
  PooledBlock* batches[block_pool_classes] = {};
  {
    std::lock_guard<std::mutex> lock(pool.mutex);
    for (std::size_t c = 0; c < block_pool_classes; ++c) {
      batches[c] = pool.batches[c];
      pool.batches[c] = nullptr;
      pool.batch_count[c].store(0, std::memory_order_relaxed);
    }
  }
  for (PooledBlock* batch : batches) {
    while (batch) {
      PooledBlock* next_batch = batch->next_batch;
      free_list(batch);
      batch = next_batch;
    }
  }
}

}  // namespace streamll::detail
