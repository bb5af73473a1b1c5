#pragma once
// The RedisSink's bounded buffer: many application threads push events, one flusher thread
// takes them in batches and acknowledges them once Redis has them.
//
// Capacity counts every event the buffer is responsible for: those waiting AND those the
// consumer has taken but not yet acknowledged (in flight). An event taken for a write that then
// fails still occupies its place while the consumer retries it, so `capacity` bounds the sink's
// memory even during an outage. Physically the ring holds only the waiting items; take_batch()
// moves items out to the consumer.
//
// One mutex guards the ring: push is a short critical section (a move construction and a few
// counter updates; no allocation, no syscall unless the consumer sleeps waiting for exactly this
// push). Producers spin briefly before sleeping on a contended lock, since it is held for tens of
// nanoseconds. Items a producer evicts (drop_oldest) are moved to a preallocated list the
// consumer empties, so destroying them costs the consumer's time, not the application's.
// Counters are atomics written under the lock and readable from any thread without it.
// A lock-free MPSC queue would shave a few nanoseconds off uncontended pushes but cannot evict
// the oldest waiting event atomically, which drop_oldest needs.
//
// Staging (drop_oldest, when asked for at construction) lets producers meet less on the lock
// while the buffer is full: see ring_buffer_staging.hpp.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "pipeline/loss_log.hpp"
#include "pipeline/stage_area.hpp"
#include "streamll/errors.hpp"
#include "streamll/overflow_strategy.hpp"
#include "support/deadline.hpp"

namespace streamll::detail {

template <typename T>
struct RingBufferTestAccess;

/// Whether a RingBuffer's producers may stage while it is full (drop_oldest only; see the file
/// comment). Off, every push() acts on the ring at once, so its result is exact.
enum class Staging : std::uint8_t { off, when_full };

/// What push() did with the item.
enum class PushOutcome : std::uint8_t {
  accepted,                 ///< stored; nothing lost
  accepted_evicted_oldest,  ///< stored after discarding the oldest waiting item (drop_oldest)
  rejected_full,            ///< not stored, the caller still owns it (drop_newest, raise_error,
                            ///< or drop_oldest with every slot in flight)
};

struct PushResult {
  PushOutcome outcome = PushOutcome::accepted;
  /// Nothing was waiting before this push. For consumers that do their own signalling: notify
  /// on this empty -> non-empty transition only. The built-in wait_for_events() needs nothing.
  bool was_empty = false;
  /// Waiting items after this push.
  std::size_t waiting = 0;

  bool accepted() const noexcept { return outcome != PushOutcome::rejected_full; }
};

/// Bounded multi-producer / single-consumer FIFO of move-only items.
///
/// Intended use (the RedisSink's flusher):
///   producers:  auto r = buffer.push(std::move(event));
///               if (!r.accepted() && strategy == raise_error) throw BufferOverflowError(...);
///   flusher:    buffer.wait_for_events(max_batch_size, time_until_next_deadline);
///               buffer.take_batch(max_batch_size, batch);   // batch.size() grows
///               ... write, retrying the same batch on transport failure ...
///               buffer.acknowledge(batch.size()); batch.clear();
///               buffer.release_evicted(scratch); scratch.clear();  // now and then
///   flush(), shutdown(), breaker reset: buffer.wake_consumer() to interrupt the wait.
/// push() wakes a consumer sleeping in wait_for_events() only when its threshold is reached or
/// the evicted list is half full, so a busy consumer costs producers no syscall at all.
///
/// Thread-safety: push(), the counters and wake_consumer() from any thread. take_batch(),
/// acknowledge(), transform_waiting(), release_evicted() and wait_for_events() from the single
/// consumer thread only.
template <typename T>
class RingBuffer {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "RingBuffer moves items under its lock and must not throw there");

 public:
  /// wait_for_events() threshold meaning "new items do not wake me" (timeout or wake only).
  static constexpr std::size_t no_event_wake = std::numeric_limits<std::size_t>::max();

  enum class WaitResult : std::uint8_t {
    ready,      ///< the threshold of waiting items was reached
    woken,      ///< wake_consumer() was called (since the previous wait returned)
    timed_out,  ///< neither, within the timeout
  };

  /// Preallocates `capacity` slots (raw storage: memory is touched only as slots are first
  /// used). Throws ConfigError("buffer_size", ...) for 0 or a size that cannot be allocated.
  RingBuffer(std::size_t capacity, OverflowStrategy strategy, Staging staging = Staging::off)
      : capacity_(capacity),
        strategy_(strategy),
        staging_(strategy == OverflowStrategy::drop_oldest && staging == Staging::when_full) {
    if (capacity == 0) throw ConfigError("buffer_size", "must be at least 1 (got 0)");
    try {
      slots_.reset(new Slot[capacity]);
      producers_.reset(new std::uint32_t[capacity]);
      evicted_.reserve(evicted_list_capacity());
    } catch (const std::bad_alloc&) {
      throw ConfigError("buffer_size", "cannot allocate " + std::to_string(capacity) +
                                           " slots of " + std::to_string(sizeof(T)) + " bytes");
    }
  }

  /// Destroys the waiting items. In-flight items belong to the consumer already.
  ~RingBuffer() {
    std::size_t index = head_;
    for (std::size_t i = 0, n = waiting_.load(std::memory_order_relaxed); i < n; ++i) {
      item_at(index)->~T();
      index = next_index(index);
    }
  }

  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  /// Stores `item` (moving from it) when there is room. When full, applies the strategy:
  /// drop_oldest evicts the oldest waiting item and stores this one (or rejects it when every
  /// slot is in flight); drop_newest and raise_error reject it. A rejected item is left
  /// untouched. Any thread; cost: one uncontended lock, one move, no allocation. An evicted
  /// item goes to the consumer's evicted list (destroyed by release_evicted()), or, when that
  /// list is full (the consumer is busy or asleep), is destroyed here after the lock is
  /// released.
  /// `item` may also be anything T is constructed from without throwing (it is then
  /// constructed in its slot directly).
  /// With Staging::when_full, while the buffer is full, the item may be staged instead (see
  /// the file comment): the result is then `accepted` and says nothing about eviction; the push
  /// is counted, and evicts or is refused, when the staged items move into the ring.
  template <typename U>
  PushResult push(U&& item) noexcept;

  /// Moves the items every producer staged into the ring (see the file comment). The consumer
  /// calls it each round; flush-like callers before reading accepted(). Any thread.
  void drain_stages() noexcept;

  /// Items staged and not yet moved into the ring (not part of size(); an item is never
  /// counted in both). After drain_stages(), what remains staged waits for a slot that is not
  /// in flight. Any thread.
  std::size_t staged() const noexcept { return stages_.staged(); }

  /// Whether producers may stage (Staging::when_full with drop_oldest).
  bool staging() const noexcept { return staging_; }

  /// The counters, read together under the lock, without moving anything (for stats(), which
  /// must not change the buffer). Staged items are reported as staged: they all enter the ring
  /// later (evicting the oldest waiting ones if it is full then), so accepted + staged only
  /// grows, and evicted_oldest counts only evictions that happened. Any thread.
  struct Counts {
    std::uint64_t accepted = 0;
    std::uint64_t evicted_oldest = 0;
    std::uint64_t rejected = 0;
    std::size_t size = 0;  ///< waiting + in flight
    std::size_t in_flight = 0;
    std::size_t staged = 0;
  };
  Counts counts() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_without_lock();
  }
  /// The same counters read one by one, not together: for a forked child, where the lock may
  /// have been held by a thread that no longer exists.
  Counts counts_without_lock() const noexcept {
    Counts c;
    c.accepted = accepted_.load(std::memory_order_relaxed);
    c.evicted_oldest = evicted_oldest_.load(std::memory_order_relaxed);
    c.rejected = rejected_.load(std::memory_order_relaxed);
    c.size = size_.load(std::memory_order_relaxed);
    c.in_flight = in_flight_.load(std::memory_order_relaxed);
    // A stage is emptied under mutex_ (move_stage_into_ring), so none moves while we read; one
    // filling meanwhile is a push that comes after this read.
    c.staged = staged();
    return c;
  }

  /// Moves up to `max` of the oldest waiting items to the end of `out`; they are in flight
  /// until acknowledged. Returns how many. Consumer thread only. Reserves room in `out` first
  /// (the only allocation, none once `out` is reused with enough capacity); may take fewer than
  /// are waiting when more arrive during that reservation. The moves happen under the lock (a
  /// few nanoseconds each): a producer evicting while they ran could otherwise reuse a slot
  /// still being read.
  /// The items taken have consecutive sequence numbers; the first goes to `first_sequence`.
  std::size_t take_batch(std::size_t max, std::vector<T>& out,
                         std::uint64_t* first_sequence = nullptr);

  /// Rewrites waiting items in place without holding the lock while `transform` runs (e.g. the
  /// RedisSink serializing events while Redis is unreachable, so they take less memory): moves
  /// up to `max` waiting items with sequence numbers from `cursor` on into `scratch`, calls
  /// `transform(T&)` on each, and moves each back unless a producer evicted it meanwhile (then
  /// the transformed copy is destroyed with `scratch`; the eviction was counted when it
  /// happened). Advances `cursor` past what it visited. Returns how many items it visited: 0
  /// when none from `cursor` on are waiting. `transform` must leave a valid T and not throw.
  /// Consumer thread only.
  template <typename Transform>
  std::size_t transform_waiting(std::uint64_t& cursor, std::size_t max, std::vector<T>& scratch,
                                Transform&& transform);

  /// Moves the items producers evicted (drop_oldest) since the last call to the end of `out`,
  /// for the consumer to destroy without the lock. Consumer thread only.
  void release_evicted(std::vector<T>& out) {
    out.clear();
    out.reserve(evicted_list_capacity());
    std::lock_guard<std::mutex> lock(mutex_);
    evicted_.swap(out);  // both have the full capacity, so producers never allocate
  }

  /// The `n` oldest in-flight items were delivered (or given up for good): their slots are free
  /// again. More than are in flight is a caller bug; it is clamped. Returns how many were freed.
  /// Consumer thread only.
  std::size_t acknowledge(std::size_t n) noexcept;

  /// Sleeps until at least `min_waiting` items wait, wake_consumer() is called, or `timeout`
  /// (real time, even when the sink runs on a test clock) passes. `min_waiting` is clamped to
  /// the free room (so "a full batch" also means "the buffer is full"); 0 counts as 1;
  /// no_event_wake waits for the timeout or a wake only (e.g. while the breaker is open).
  /// A wake_consumer() that came while the consumer was busy makes the next wait return at once.
  /// Consumer thread only.
  WaitResult wait_for_events(std::size_t min_waiting, std::chrono::nanoseconds timeout);

  /// Interrupts the consumer's current or next wait_for_events() (flush, shutdown, breaker
  /// reset). Any thread; takes the lock, so not for the per-event path.
  void wake_consumer() noexcept;

  // --- Observation: lock-free relaxed reads; each value is exact at some recent instant, but
  // two reads are not a consistent snapshot. Any thread. ---

  std::size_t capacity() const noexcept { return capacity_; }
  OverflowStrategy strategy() const noexcept { return strategy_; }
  /// Items pushed and not yet taken.
  std::size_t waiting() const noexcept { return waiting_.load(std::memory_order_relaxed); }
  /// Items taken and not yet acknowledged.
  std::size_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  /// waiting() + in_flight(), read as one value (never above capacity()).
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  /// Nothing waiting and nothing in flight.
  bool empty() const noexcept { return size() == 0; }

  /// Every push() call. At any quiet moment:
  ///   pushed == rejected + evicted_oldest + acknowledged + waiting + in_flight
  std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  /// Pushes that stored their item (pushed - rejected). Also the sequence number the next
  /// accepted item will get: items are numbered 0, 1, 2... in acceptance order.
  std::uint64_t accepted() const noexcept { return accepted_.load(std::memory_order_relaxed); }
  /// Waiting items discarded by drop_oldest.
  std::uint64_t evicted_oldest() const noexcept {
    return evicted_oldest_.load(std::memory_order_relaxed);
  }
  /// Pushes refused because the buffer was full.
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }
  /// Items freed by acknowledge().
  std::uint64_t acknowledged() const noexcept {
    return acknowledged_.load(std::memory_order_relaxed);
  }

  /// The sequence number of the oldest item still in the buffer (in flight or waiting), or
  /// accepted() when there is none. For flush(): remember `mark = accepted()` when it starts;
  /// everything accepted before it is resolved (acknowledged or evicted) once
  /// oldest_pending_sequence() >= mark. Takes the lock; any thread.
  std::uint64_t oldest_pending_sequence() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return in_flight_ranges_.empty() ? first_waiting_sequence_ : in_flight_ranges_.front().first;
  }

  /// Whether drop_oldest evicted any item with a sequence number in [low, high). Takes the
  /// lock; any thread.
  bool evicted_any_in(std::uint64_t low, std::uint64_t high) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return evictions_.any_in(low, high);
  }
  /// Forgets evictions below `sequence`, which no evicted_any_in() will ask about any more.
  void forget_evictions_below(std::uint64_t sequence) {
    std::lock_guard<std::mutex> lock(mutex_);
    evictions_.forget_below(sequence);
  }

  /// Waiting items with a sequence number below `sequence` (those a transform_waiting()
  /// cursor has passed, say). Takes the lock; any thread.
  std::size_t waiting_before(std::uint64_t sequence) const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (sequence <= first_waiting_sequence_) return 0;
    return static_cast<std::size_t>(std::min<std::uint64_t>(
        sequence - first_waiting_sequence_, waiting_.load(std::memory_order_relaxed)));
  }

 private:
  // Tests hold the lock from a thread of their own to make a producer meet it.
  friend struct RingBufferTestAccess<T>;

  using Slot = RawSlot<T>;
  using Stage = typename StageArea<T>::Stage;
  using CacheEntry = typename StageArea<T>::CacheEntry;

 public:
  /// Items a producer stages before moving them into the ring under one lock acquisition.
  static constexpr std::size_t stage_capacity = StageArea<T>::stage_capacity;

 private:
  // Under mutex_: counts a push and makes room for it. When the buffer is full under
  // drop_oldest, `evict(oldest, pushed_by)` must move the oldest waiting item away (its shell is
  // destroyed in its slot afterwards). Then the caller, unless the push was refused, constructs
  // the new item with store_locked().
  template <typename Evict>
  PushOutcome admit_locked(Evict&& evict) noexcept {
    bump(pushed_, 1);
    const std::size_t waiting = waiting_.load(std::memory_order_relaxed);
    const std::size_t in_flight = in_flight_.load(std::memory_order_relaxed);
    if (waiting + in_flight < capacity_) {
      waiting_.store(waiting + 1, std::memory_order_relaxed);
      size_.store(waiting + 1 + in_flight, std::memory_order_relaxed);
      return PushOutcome::accepted;
    }
    if (strategy_ != OverflowStrategy::drop_oldest || waiting == 0) {
      bump(rejected_, 1);
      return PushOutcome::rejected_full;
    }
    T* oldest = item_at(head_);
    evict(*oldest, producers_[head_]);
    oldest->~T();
    head_ = next_index(head_);
    evictions_.record(first_waiting_sequence_, 1);  // never allocates
    ++first_waiting_sequence_;
    bump(evicted_oldest_, 1);
    return PushOutcome::accepted_evicted_oldest;
  }
  // Under mutex_, after admit_locked() accepted: the new item goes at the tail.
  template <typename U>
  void store_locked(U&& item, std::uint32_t producer) noexcept {
    const std::size_t tail = index_after(head_, waiting_.load(std::memory_order_relaxed) - 1);
    ::new (static_cast<void*>(slots_[tail].bytes)) T(std::forward<U>(item));
    producers_[tail] = producer;
    bump(accepted_, 1);
  }
  // Under mutex_: moves an evicted item to the consumer's list, unless that is full (then the
  // caller destroys it after the lock). When the list becomes half full, asks the consumer to
  // empty it before producers must destroy evictions themselves (one wake-up per half list; a
  // busy consumer finds the request when it next waits): `wake` says to notify it.
  bool hand_to_consumer_locked(T& evicted, bool& wake) noexcept {
    if (evicted_.size() == evicted_.capacity()) return false;
    evicted_.push_back(std::move(evicted));  // capacity reserved: cannot allocate
    if (evicted_.size() == evicted_.capacity() / 2) {
      wake_requested_ = true;
      wake = consumer_sleeping_ || wake;
      consumer_sleeping_ = false;
    }
    return true;
  }

  // Under mutex_: whether the sleeping consumer's threshold is reached (it is then marked awake;
  // the caller notifies after unlocking).
  bool wake_due_locked() noexcept {
    if (!consumer_sleeping_ || waiting_.load(std::memory_order_relaxed) < consumer_wake_at_) {
      return false;
    }
    consumer_sleeping_ = false;
    return true;
  }

  template <typename U>
  PushResult push_staged(Stage& stage, U&& item) noexcept;

  // Caller holds stage.mutex, and `lock` (on mutex_) or not. Pushes the staged items into the
  // ring in order under one acquisition of mutex_; what they evict is destroyed after it is
  // released. Items that find every slot of the buffer in flight stay staged (nothing may be
  // evicted for them, and refusing them now would lose events the caller was told were
  // taken): they move once a batch is acknowledged.
  void move_stage_into_ring(Stage& stage, std::unique_lock<std::mutex>& lock) noexcept;

  // In-flight sequence numbers are increasing but not contiguous when evictions happen between
  // two takes; one range per contiguous run (normally a single one).
  struct InFlightRange {
    std::uint64_t first;
    std::uint64_t count;
  };

  T* item_at(std::size_t index) noexcept { return slots_[index].item(); }
  std::size_t next_index(std::size_t index) const noexcept {
    return index + 1 == capacity_ ? 0 : index + 1;
  }
  std::size_t index_after(std::size_t index, std::size_t steps) const noexcept {
    const std::size_t i = index + steps;
    return i >= capacity_ ? i - capacity_ : i;
  }
  // The slot of the waiting item with this sequence number (caller holds mutex_ and knows it
  // is waiting).
  std::size_t slot_of(std::uint64_t sequence) const noexcept {
    return index_after(head_, static_cast<std::size_t>(sequence - first_waiting_sequence_));
  }
  std::size_t evicted_list_capacity() const noexcept {
    return std::min<std::size_t>(capacity_, 4096);
  }
  // A small number per thread (they wrap after 2^32 threads, which only costs a wrong guess).
  static std::uint32_t this_producer() noexcept {
    static std::atomic<std::uint32_t> next{1};
    thread_local const std::uint32_t id = next.fetch_add(1, std::memory_order_relaxed);
    return id;
  }
  // The lock is held for tens of nanoseconds: spinning that long beats a futex sleep and
  // wake-up (microseconds) when producers on several cores meet.
  static void lock_spinning(std::unique_lock<std::mutex>& lock) noexcept {
    for (int attempt = 0; attempt < 64; ++attempt) {
      if (lock.try_lock()) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    lock.lock();
  }
  template <typename Ready>
  WaitResult wait_locked(std::unique_lock<std::mutex>& lock, std::chrono::nanoseconds timeout,
                         std::size_t wake_at_waiting, Ready ready);

  // Writers hold mutex_, so a load and a store replace a locked read-modify-write.
  template <typename Counter>
  static void bump(std::atomic<Counter>& counter, std::size_t by) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + static_cast<Counter>(by),
                  std::memory_order_relaxed);
  }
  void note_in_flight(std::uint64_t first, std::size_t count);

  const std::size_t capacity_;
  const OverflowStrategy strategy_;
  const bool staging_;
  std::unique_ptr<Slot[]> slots_;
  std::unique_ptr<std::uint32_t[]> producers_;  // per slot: which thread pushed its item

  mutable std::mutex mutex_;
  // Guarded by mutex_: the waiting items occupy slots head_, head_+1, ... (mod capacity_).
  std::size_t head_ = 0;
  std::uint64_t first_waiting_sequence_ = 0;
  std::deque<InFlightRange> in_flight_ranges_;
  std::condition_variable consumer_wakeup_;
  bool consumer_sleeping_ = false;
  std::size_t consumer_wake_at_ = no_event_wake;
  bool wake_requested_ = false;
  std::vector<T> evicted_;  // reserved to evicted_list_capacity(); emptied by release_evicted()
  LossLog evictions_;

  // Written under mutex_, read anywhere.
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::size_t> size_{0};
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> evicted_oldest_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> acknowledged_{0};

  StageArea<T> stages_;  // staging: see the file comment
};

}  // namespace streamll::detail

#include "pipeline/ring_buffer_compaction.hpp"  // IWYU pragma: keep
#include "pipeline/ring_buffer_consumer.hpp"    // IWYU pragma: keep
#include "pipeline/ring_buffer_producer.hpp"    // IWYU pragma: keep
#include "pipeline/ring_buffer_staging.hpp"     // IWYU pragma: keep
