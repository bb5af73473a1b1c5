#pragma once
// Storage for events' payloads. Almost every event's Fields is one small block (a token event
// has two fields); through malloc that is about 9 ns of a token event's 25, and where a sink's
// thread frees what the application thread allocated (the RedisSink's flusher), malloc's
// per-thread caches never help: the producer takes every block from its arena under a lock the
// freeing thread also takes. So the blocks of two size classes go through a pool instead: each
// thread keeps up to 64 free blocks of its own (a pop or a push, no atomics), and hands batches
// of 32 to a shared pool under a mutex when it has too many (a sink's thread freeing) or takes a
// batch when it has none (an application thread allocating). The shared pool keeps at most 64
// batches per class; beyond that blocks go back to malloc, so what the pool holds is bounded
// (under 1 MiB). A thread's blocks go to the shared pool when it exits. Under AddressSanitizer
// a cached block is poisoned past its link, so a use after free is still reported.

#include <cstddef>
#include <cstdint>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STREAMLL_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define STREAMLL_POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define STREAMLL_POOL_POISON(p, n) ((void)(p), (void)(n))
#define STREAMLL_POOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace streamll::detail {

struct PooledBlock {
  PooledBlock* next;        // in a thread's cache, or within a batch
  PooledBlock* next_batch;  // first block of a batch in the shared pool: the next batch
};

constexpr std::size_t block_pool_classes = 2;
constexpr std::size_t block_pool_batch = 32;
constexpr std::size_t block_pool_thread_blocks = 2 * block_pool_batch;
constexpr std::size_t block_pool_shared_batches = 64;

enum class ThreadCacheState : std::uint8_t { unused, registered, released };

// Trivial, so that reaching it is a plain thread-local access; the thread-exit release is
// registered on first use by block_pool_spill (out of line).
struct ThreadBlockCache {
  PooledBlock* head[block_pool_classes];
  std::uint32_t count[block_pool_classes];
  ThreadCacheState state;
};
inline thread_local ThreadBlockCache thread_block_cache{};

/// The calling thread's cache for `size_class` is empty: takes a batch from the shared pool, or
/// allocates. Never returns null (throws std::bad_alloc).
void* block_pool_refill(std::size_t size_class, std::size_t bytes);
/// The calling thread's cache for `size_class` cannot take `block`: spills a batch to the shared
/// pool (or to malloc) and keeps `block`; or, for a thread that is exiting, frees it.
void block_pool_spill(std::size_t size_class, void* block, std::size_t bytes) noexcept;

/// Blocks the shared pool holds for `size_class` (a multiple of block_pool_batch).
std::size_t block_pool_shared_blocks(std::size_t size_class) noexcept;
/// Gives every block the shared pool holds back to malloc (threads' own caches are untouched).
void block_pool_trim() noexcept;

/// A block of `bytes` (the size of `size_class`, always the same per class).
inline void* block_pool_allocate(std::size_t size_class, std::size_t bytes) {
  ThreadBlockCache& cache = thread_block_cache;
  if (PooledBlock* block = cache.head[size_class]) {
    STREAMLL_POOL_UNPOISON(block, bytes);
    cache.head[size_class] = block->next;
    --cache.count[size_class];
    return block;
  }
  return block_pool_refill(size_class, bytes);
}

inline void block_pool_free(std::size_t size_class, void* block, std::size_t bytes) noexcept {
  ThreadBlockCache& cache = thread_block_cache;
  if (cache.state == ThreadCacheState::registered &&
      cache.count[size_class] < block_pool_thread_blocks) {
    auto* pooled = static_cast<PooledBlock*>(block);
    pooled->next = cache.head[size_class];
    cache.head[size_class] = pooled;
    ++cache.count[size_class];
    STREAMLL_POOL_POISON(reinterpret_cast<char*>(block) + sizeof(PooledBlock),
                         bytes - sizeof(PooledBlock));
    return;
  }
  block_pool_spill(size_class, block, bytes);
}

/// A std::allocator for vectors of small elements: capacities up to `SmallCount` and up to
/// `LargeCount` elements come from the pool (rounded up to those), anything larger from
/// operator new. Stateless: all instances are equal. The pool's two classes have one block
/// size each, so one element type only may use it: Fields' storage (streamll::Field).
template <typename T, std::size_t SmallCount = 2, std::size_t LargeCount = 4>
struct PooledAllocator {
  static_assert(SmallCount * sizeof(T) >= sizeof(PooledBlock), "blocks hold the pool's links");
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = PooledAllocator<U, SmallCount, LargeCount>;
  };

  PooledAllocator() noexcept = default;
  template <typename U>
  PooledAllocator(const PooledAllocator<U, SmallCount, LargeCount>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n <= SmallCount) return static_cast<T*>(block_pool_allocate(0, SmallCount * sizeof(T)));
    if (n <= LargeCount) return static_cast<T*>(block_pool_allocate(1, LargeCount * sizeof(T)));
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n <= SmallCount) return block_pool_free(0, p, SmallCount * sizeof(T));
    if (n <= LargeCount) return block_pool_free(1, p, LargeCount * sizeof(T));
    ::operator delete(p);
  }

  friend bool operator==(const PooledAllocator&, const PooledAllocator&) noexcept { return true; }
  friend bool operator!=(const PooledAllocator&, const PooledAllocator&) noexcept { return false; }
};

}  // namespace streamll::detail
