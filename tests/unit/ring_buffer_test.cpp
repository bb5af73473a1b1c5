#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pipeline/ring_buffer.hpp"
#include "streamll/event.hpp"
#include "streamll/overflow_strategy.hpp"

using streamll::OverflowStrategy;
using streamll::detail::PushOutcome;
using streamll::detail::RingBuffer;
using streamll::detail::Staging;

namespace streamll::detail {
template <typename T>
struct RingBufferTestAccess {
  static std::mutex& mutex(RingBuffer<T>& buffer) { return buffer.mutex_; }
};
}  // namespace streamll::detail

namespace {

// Move-only, so any copy inside the buffer fails to compile; `alive` counts live payloads so
// tests can see that evicted and leftover items are destroyed.
struct Item {
  int producer = 0;
  int seq = 0;
  std::unique_ptr<int> payload;

  Item(int p, int s, std::shared_ptr<std::atomic<int>> alive = nullptr)
      : producer(p), seq(s), payload(std::make_unique<int>(s)), alive_(std::move(alive)) {
    if (alive_) ++*alive_;
  }
  Item(Item&& other) noexcept = default;
  Item& operator=(Item&&) = delete;  // the buffer must construct, never assign
  ~Item() {
    if (alive_ && payload) --*alive_;
  }

 private:
  std::shared_ptr<std::atomic<int>> alive_;
};

std::vector<int> seqs(const std::vector<Item>& items) {
  std::vector<int> out;
  for (const auto& item : items) out.push_back(item.seq);
  return out;
}

// The invariant every overflow test checks: nothing is lost or counted twice.
template <typename T>
void check_accounting(const RingBuffer<T>& buffer) {
  CHECK(buffer.pushed() == buffer.rejected() + buffer.evicted_oldest() + buffer.acknowledged() +
                               buffer.waiting() + buffer.in_flight());
  CHECK(buffer.accepted() == buffer.pushed() - buffer.rejected());
  CHECK(buffer.size() == buffer.waiting() + buffer.in_flight());
}

}  // namespace

TEST_CASE("overflow strategy names round-trip and bad names are typed errors", "[ring_buffer]") {
  for (auto s : {OverflowStrategy::drop_oldest, OverflowStrategy::drop_newest,
                 OverflowStrategy::raise_error}) {
    CHECK(streamll::parse_overflow_strategy(streamll::to_string(s)) == s);
  }
  CHECK(streamll::parse_overflow_strategy("DROP_NEWEST") == OverflowStrategy::drop_newest);
  CHECK_FALSE(streamll::try_parse_overflow_strategy("drop-oldest").has_value());
  CHECK_FALSE(streamll::try_parse_overflow_strategy("").has_value());
  try {
    streamll::parse_overflow_strategy("drop_everything");
    FAIL("expected ConfigError");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "buffer_overflow_strategy");
    CHECK(std::string(e.what()).find("drop_everything") != std::string::npos);
  }
}

TEST_CASE("a zero capacity is a configuration error naming buffer_size", "[ring_buffer]") {
  try {
    RingBuffer<Item> buffer(0, OverflowStrategy::drop_oldest);
    FAIL("expected ConfigError");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "buffer_size");
  }
}

TEST_CASE("items come out in push order, in batches of at most max", "[ring_buffer]") {
  RingBuffer<Item> buffer(8, OverflowStrategy::drop_newest);
  for (int i = 0; i < 5; ++i) REQUIRE(buffer.push(Item(0, i)).outcome == PushOutcome::accepted);
  CHECK(buffer.waiting() == 5);
  CHECK(buffer.capacity() == 8);

  std::vector<Item> out;
  CHECK(buffer.take_batch(0, out) == 0);
  CHECK(buffer.take_batch(2, out) == 2);
  CHECK(buffer.take_batch(2, out) == 2);  // appends to what the consumer already holds
  CHECK(seqs(out) == std::vector<int>{0, 1, 2, 3});
  CHECK(buffer.waiting() == 1);
  CHECK(buffer.in_flight() == 4);
  CHECK(buffer.take_batch(100, out) == 1);
  CHECK(seqs(out) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(buffer.take_batch(100, out) == 0);
  CHECK(*out[4].payload == 4);  // moved, not a hollow copy
  CHECK(buffer.acknowledge(5) == 5);
  CHECK(buffer.empty());
  check_accounting(buffer);
}

TEST_CASE("the ring wraps around many times without losing order", "[ring_buffer]") {
  RingBuffer<Item> buffer(3, OverflowStrategy::raise_error);
  std::vector<Item> out;
  int next_expected = 0;
  for (int i = 0; i < 100; ++i) {
    REQUIRE(buffer.push(Item(0, i)).accepted());
    if (i % 2 == 1) {
      buffer.take_batch(2, out);
      for (const auto& item : out) CHECK(item.seq == next_expected++);
      buffer.acknowledge(out.size());
      out.clear();
    }
  }
  CHECK(next_expected == 100);
  check_accounting(buffer);
}

TEST_CASE("push reports the empty to non-empty transition and the waiting count", "[ring_buffer]") {
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_newest);
  auto first = buffer.push(Item(0, 0));
  CHECK(first.was_empty);
  CHECK(first.waiting == 1);
  auto second = buffer.push(Item(0, 1));
  CHECK_FALSE(second.was_empty);
  CHECK(second.waiting == 2);
  std::vector<Item> out;
  buffer.take_batch(10, out);
  // In-flight items do not count as waiting: the consumer needs waking again.
  CHECK(buffer.push(Item(0, 2)).was_empty);
}

TEST_CASE("drop_newest rejects the new item and keeps it with the caller", "[ring_buffer]") {
  RingBuffer<Item> buffer(3, OverflowStrategy::drop_newest);
  for (int i = 0; i < 3; ++i) CHECK(buffer.push(Item(0, i)).outcome == PushOutcome::accepted);
  Item extra(0, 3);
  auto result = buffer.push(std::move(extra));
  CHECK(result.outcome == PushOutcome::rejected_full);
  CHECK_FALSE(result.accepted());
  CHECK(result.waiting == 3);
  REQUIRE(extra.payload);  // NOLINT(bugprone-use-after-move): a rejected item is left untouched
  CHECK(*extra.payload == 3);
  CHECK(buffer.push(Item(0, 4)).outcome == PushOutcome::rejected_full);

  CHECK(buffer.pushed() == 5);
  CHECK(buffer.rejected() == 2);
  CHECK(buffer.evicted_oldest() == 0);
  std::vector<Item> out;
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{0, 1, 2});
  buffer.acknowledge(out.size());
  // delivered + dropped == pushed
  CHECK(buffer.acknowledged() + buffer.rejected() == buffer.pushed());
  check_accounting(buffer);
}

TEST_CASE("raise_error rejects the new item so the sink can throw", "[ring_buffer]") {
  RingBuffer<Item> buffer(2, OverflowStrategy::raise_error);
  CHECK(buffer.push(Item(0, 0)).accepted());
  CHECK(buffer.push(Item(0, 1)).accepted());
  CHECK(buffer.push(Item(0, 2)).outcome == PushOutcome::rejected_full);
  CHECK(buffer.rejected() == 1);
  CHECK(buffer.strategy() == OverflowStrategy::raise_error);
  std::vector<Item> out;
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{0, 1});
  buffer.acknowledge(2);
  CHECK(buffer.acknowledged() + buffer.rejected() == buffer.pushed());
  check_accounting(buffer);
}

// Pushes on a thread of its own: the buffer treats those items as another producer's.
template <typename Body>
void as_another_producer(Body body) {
  std::thread other(body);
  other.join();
}

TEST_CASE(
    "drop_oldest evicts the oldest waiting item: the pusher destroys its own, the consumer others'",
    "[ring_buffer]") {
  auto alive = std::make_shared<std::atomic<int>>(0);
  RingBuffer<Item> buffer(3, OverflowStrategy::drop_oldest);
  as_another_producer([&] {
    for (int i = 0; i < 3; ++i) {
      CHECK(buffer.push(Item(1, i, alive)).outcome == PushOutcome::accepted);
    }
  });
  CHECK(buffer.push(Item(0, 3, alive)).outcome == PushOutcome::accepted_evicted_oldest);
  CHECK(buffer.push(Item(0, 4, alive)).outcome == PushOutcome::accepted_evicted_oldest);
  CHECK(*alive == 5);  // another thread's items: this producer did not pay for destroying them
  std::vector<Item> evicted;
  buffer.release_evicted(evicted);
  CHECK(seqs(evicted) == std::vector<int>{0, 1});
  evicted.clear();
  CHECK(*alive == 3);
  // This thread's own items (3, 4) it destroys at once when they are evicted.
  CHECK(buffer.push(Item(0, 5, alive)).outcome ==
        PushOutcome::accepted_evicted_oldest);  // evicts 2
  buffer.release_evicted(evicted);
  CHECK(seqs(evicted) == std::vector<int>{2});
  evicted.clear();
  CHECK(buffer.push(Item(0, 6, alive)).outcome ==
        PushOutcome::accepted_evicted_oldest);  // evicts 3
  CHECK(*alive == 3);
  buffer.release_evicted(evicted);
  CHECK(evicted.empty());
  CHECK(buffer.evicted_oldest() == 4);
  CHECK(buffer.rejected() == 0);
  CHECK(buffer.size() == 3);

  std::vector<Item> out;
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{4, 5, 6});
  buffer.acknowledge(out.size());
  CHECK(buffer.acknowledged() + buffer.evicted_oldest() == buffer.pushed());
  check_accounting(buffer);
}

// Holds a buffer's lock on a thread of its own until release(), so that a producer meets it.
template <typename T>
class LockHeldElsewhere {
 public:
  explicit LockHeldElsewhere(RingBuffer<T>& buffer)
      : holder_([this, &buffer, released = release_.get_future()] {
          std::lock_guard<std::mutex> lock(
              streamll::detail::RingBufferTestAccess<T>::mutex(buffer));
          locked_.set_value();
          released.wait();
        }) {
    locked_.get_future().wait();
  }
  ~LockHeldElsewhere() { release(); }
  void release() {
    if (!holder_.joinable()) return;
    release_.set_value();
    holder_.join();
  }

 private:
  std::promise<void> locked_;
  std::promise<void> release_;
  std::thread holder_;
};

// Takes every waiting item and acknowledges it, as a consumer delivering them would; returns
// their sequence numbers in the order taken.
std::vector<int> deliver_waiting(RingBuffer<Item>& buffer) {
  std::vector<Item> out;
  buffer.take_batch(buffer.capacity(), out);
  buffer.acknowledge(out.size());
  return seqs(out);
}

// A drop_oldest buffer that stages, filled with this thread's items 0..capacity-1.
struct FullStagingBuffer : RingBuffer<Item> {
  explicit FullStagingBuffer(int capacity, std::shared_ptr<std::atomic<int>> alive = nullptr)
      : RingBuffer<Item>(static_cast<std::size_t>(capacity), OverflowStrategy::drop_oldest,
                         Staging::when_full) {
    for (int i = 0; i < capacity; ++i) REQUIRE(push(Item(0, i, alive)).accepted());
  }
};

TEST_CASE("staging: a full buffer whose lock is free takes the push at once", "[ring_buffer]") {
  FullStagingBuffer buffer(3);
  CHECK(buffer.push(Item(0, 3)).outcome == PushOutcome::accepted_evicted_oldest);
  CHECK(buffer.staged() == 0);
  CHECK(buffer.evicted_oldest() == 1);
  check_accounting(buffer);
}

TEST_CASE("staging: a producer meeting the lock of a full buffer stages, counted when it moves",
          "[ring_buffer]") {
  auto alive = std::make_shared<std::atomic<int>>(0);
  FullStagingBuffer buffer(4, alive);
  LockHeldElsewhere<Item> held(buffer);
  for (int i = 4; i < 7; ++i)
    CHECK(buffer.push(Item(0, i, alive)).outcome == PushOutcome::accepted);
  CHECK(buffer.staged() == 3);
  CHECK(*alive == 7);
  // Not in the ring yet: no sequence numbers, nothing evicted.
  CHECK(buffer.pushed() == 4);
  CHECK(buffer.accepted() == 4);
  CHECK(buffer.evicted_oldest() == 0);
  held.release();
  buffer.drain_stages();
  CHECK(buffer.staged() == 0);
  CHECK(buffer.pushed() == 7);
  CHECK(buffer.accepted() == 7);
  CHECK(buffer.evicted_oldest() == 3);
  CHECK(buffer.evicted_any_in(0, 3));
  CHECK_FALSE(buffer.evicted_any_in(3, 7));
  CHECK(*alive == 4);  // this thread's own evictions: destroyed by the move, not left around
  CHECK(deliver_waiting(buffer) == std::vector<int>{3, 4, 5, 6});
  check_accounting(buffer);
}

TEST_CASE("staging: counts() reads staged items as staged and moves nothing", "[ring_buffer]") {
  // 0: full; 2: two slots freed after staging; 4: every slot in flight (nothing may move).
  const int freed_or_in_flight = GENERATE(0, 2, 4);
  FullStagingBuffer buffer(4);
  {
    LockHeldElsewhere<Item> held(buffer);
    for (int i = 4; i < 7; ++i) buffer.push(Item(0, i));
  }
  REQUIRE(buffer.staged() == 3);
  std::vector<Item> taken;
  buffer.take_batch(static_cast<std::size_t>(freed_or_in_flight), taken);
  if (freed_or_in_flight == 2) buffer.acknowledge(taken.size());

  const auto before = buffer.counts();
  // A pure read: nothing moved, nothing counted.
  CHECK(buffer.staged() == 3);
  CHECK(before.staged == 3);
  CHECK(before.accepted == 4);
  CHECK(before.evicted_oldest == 0);
  CHECK(before.size == buffer.size());
  CHECK(before.in_flight == buffer.in_flight());

  buffer.drain_stages();  // the oracle: the counters once the stages really moved
  const auto after = buffer.counts();
  // What stats() reports as enqueued and buffered holds across the move; evictions only grow.
  CHECK(after.accepted + after.staged == before.accepted + before.staged);
  CHECK(after.size + after.staged + after.evicted_oldest ==
        before.size + before.staged + before.evicted_oldest);
  CHECK(after.evicted_oldest >= before.evicted_oldest);
  CHECK(after.evicted_oldest == (freed_or_in_flight == 0 ? 3u : freed_or_in_flight == 2 ? 1u : 0u));
  CHECK(after.staged == (freed_or_in_flight == 4 ? 3u : 0u));
}

TEST_CASE("staging: with items staged, a producer stages until they move, so its order holds",
          "[ring_buffer]") {
  FullStagingBuffer buffer(4);
  {
    LockHeldElsewhere<Item> held(buffer);
    CHECK(buffer.push(Item(0, 4)).outcome == PushOutcome::accepted);
  }
  // The lock is free now, but item 4 waits in the stage: 5 must follow it, not overtake it.
  CHECK(buffer.push(Item(0, 5)).outcome == PushOutcome::accepted);
  CHECK(buffer.staged() == 2);
  buffer.drain_stages();
  CHECK(deliver_waiting(buffer) == std::vector<int>{2, 3, 4, 5});
  check_accounting(buffer);
}

TEST_CASE("staging: a full stage moves by itself, and so does any once the buffer has room",
          "[ring_buffer]") {
  constexpr int capacity = 4;
  constexpr int stage = static_cast<int>(RingBuffer<Item>::stage_capacity);
  FullStagingBuffer buffer(capacity);
  int next = capacity;
  {
    LockHeldElsewhere<Item> held(buffer);
    for (int i = 0; i < stage - 1; ++i) buffer.push(Item(0, next++));
    CHECK(buffer.staged() == static_cast<std::size_t>(stage - 1));
  }
  buffer.push(Item(0, next++));  // fills the stage: it moves
  CHECK(buffer.staged() == 0);
  CHECK(buffer.pushed() == static_cast<std::uint64_t>(next));
  CHECK(buffer.evicted_oldest() == static_cast<std::uint64_t>(stage));

  {
    LockHeldElsewhere<Item> held(buffer);
    buffer.push(Item(0, next++));
  }
  CHECK(buffer.staged() == 1);
  std::vector<Item> out;
  buffer.take_batch(2, out);  // room again once acknowledged
  CHECK(seqs(out) == std::vector<int>{capacity + stage - 4, capacity + stage - 3});
  buffer.acknowledge(out.size());
  out.clear();
  buffer.push(Item(0, next++));  // the buffer has room: the stage moves with this push
  CHECK(buffer.staged() == 0);
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{capacity + stage - 2, capacity + stage - 1, capacity + stage,
                                      capacity + stage + 1});
  CHECK(buffer.acknowledge(out.size()) == 4);
  CHECK(buffer.evicted_oldest() == static_cast<std::uint64_t>(stage));
  check_accounting(buffer);
}

TEST_CASE("staging: another thread's staged items are moved by drain_stages after it ended",
          "[ring_buffer]") {
  auto alive = std::make_shared<std::atomic<int>>(0);
  {
    FullStagingBuffer buffer(2, alive);
    {
      LockHeldElsewhere<Item> held(buffer);
      as_another_producer([&] {
        for (int i = 0; i < 3; ++i) buffer.push(Item(1, i, alive));
      });
      CHECK(buffer.staged() == 3);
    }
    buffer.drain_stages();
    CHECK(buffer.staged() == 0);
    CHECK(buffer.evicted_oldest() == 3);  // 0:0, 0:1 and 1:0
    std::vector<Item> evicted;
    buffer.release_evicted(evicted);
    CHECK(evicted.size() == 2);  // this thread's: the mover handed them to the consumer
    CHECK(deliver_waiting(buffer) == std::vector<int>{1, 2});
    check_accounting(buffer);

    evicted.clear();
    CHECK(*alive == 0);

    // Staged items left when the buffer goes are destroyed with it.
    buffer.push(Item(0, 9, alive));
    buffer.push(Item(0, 9, alive));  // full again
    LockHeldElsewhere<Item> held(buffer);
    buffer.push(Item(0, 9, alive));
    held.release();
    CHECK(buffer.staged() == 1);
    CHECK(*alive == 3);
  }
  CHECK(*alive == 0);
}

TEST_CASE("staging is only for drop_oldest, and only when asked for", "[ring_buffer]") {
  CHECK(RingBuffer<Item>(2, OverflowStrategy::drop_oldest, Staging::when_full).staging());
  CHECK_FALSE(RingBuffer<Item>(2, OverflowStrategy::drop_oldest).staging());
  CHECK_FALSE(RingBuffer<Item>(2, OverflowStrategy::drop_newest, Staging::when_full).staging());
  CHECK_FALSE(RingBuffer<Item>(2, OverflowStrategy::raise_error, Staging::when_full).staging());
}

TEST_CASE("staging: a thread finds its stage again after staging into many other buffers",
          "[ring_buffer]") {
  FullStagingBuffer first(2);
  {
    LockHeldElsewhere<Item> held(first);
    first.push(Item(0, 2));
  }
  // More buffers than a thread remembers stages for (8): the first one's entry is forgotten.
  std::vector<std::unique_ptr<FullStagingBuffer>> others;
  for (int i = 0; i < 9; ++i) {
    others.push_back(std::make_unique<FullStagingBuffer>(2));
    LockHeldElsewhere<Item> held(*others.back());
    others.back()->push(Item(0, 2));
    CHECK(others.back()->staged() == 1);
  }
  first.push(Item(0, 3));  // the lock is free, but item 2 is staged: 3 must not overtake it
  CHECK(first.staged() == 2);
  first.drain_stages();
  CHECK(deliver_waiting(first) == std::vector<int>{2, 3});
  check_accounting(first);
}

TEST_CASE("staging: while every slot is in flight staged items wait, and a full stage refuses",
          "[ring_buffer]") {
  constexpr int stage = static_cast<int>(RingBuffer<Item>::stage_capacity);
  auto alive = std::make_shared<std::atomic<int>>(0);
  FullStagingBuffer buffer(2, alive);
  std::vector<Item> in_flight;
  buffer.take_batch(2, in_flight);
  {
    LockHeldElsewhere<Item> held(buffer);
    for (int i = 0; i < stage - 1; ++i) buffer.push(Item(0, 2 + i, alive));
  }
  // Fills the stage, which cannot move: nothing may be evicted, and nothing is lost.
  CHECK(buffer.push(Item(0, 1 + stage, alive)).outcome == PushOutcome::accepted);
  CHECK(buffer.staged() == static_cast<std::size_t>(stage));
  CHECK(buffer.push(Item(0, 99, alive)).outcome == PushOutcome::rejected_full);
  CHECK(buffer.pushed() == 3);  // the two in flight and the refused one
  CHECK(buffer.rejected() == 1);
  CHECK(*alive == 2 + stage);
  buffer.drain_stages();
  CHECK(buffer.staged() == static_cast<std::size_t>(stage));  // still every slot in flight

  buffer.acknowledge(2);
  in_flight.clear();
  buffer.drain_stages();
  CHECK(buffer.staged() == 0);
  CHECK(buffer.evicted_oldest() == static_cast<std::uint64_t>(stage - 2));
  CHECK(deliver_waiting(buffer) == std::vector<int>{stage, stage + 1});
  check_accounting(buffer);
  CHECK(*alive == 0);
}

TEST_CASE("drop_oldest never evicts in-flight items", "[ring_buffer]") {
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_oldest);
  for (int i = 0; i < 4; ++i) buffer.push(Item(0, i));
  std::vector<Item> in_flight;
  REQUIRE(buffer.take_batch(2, in_flight) == 2);  // 0 and 1 are being written

  // Full (2 waiting + 2 in flight): each push evicts the oldest *waiting* item.
  for (int i = 4; i < 8; ++i) {
    CHECK(buffer.push(Item(0, i)).outcome == PushOutcome::accepted_evicted_oldest);
  }
  CHECK(buffer.evicted_oldest() == 4);  // 2, 3, 4, 5
  CHECK(buffer.in_flight() == 2);
  CHECK(seqs(in_flight) == std::vector<int>{0, 1});

  // Every slot in flight: nothing may be evicted, so the new item is the one dropped.
  REQUIRE(buffer.take_batch(10, in_flight) == 2);
  CHECK(seqs(in_flight) == std::vector<int>{0, 1, 6, 7});
  CHECK(buffer.push(Item(0, 8)).outcome == PushOutcome::rejected_full);
  CHECK(buffer.rejected() == 1);

  // The consumer retries and finally delivers its batch; the room comes back.
  buffer.acknowledge(4);
  CHECK(buffer.push(Item(0, 9)).outcome == PushOutcome::accepted);
  std::vector<Item> out;
  buffer.take_batch(10, out);
  buffer.acknowledge(out.size());
  CHECK(seqs(out) == std::vector<int>{9});
  // delivered (0, 1, 6, 7, 9) + evicted (2..5) + rejected (8) == pushed
  CHECK(buffer.acknowledged() == 5);
  CHECK(buffer.acknowledged() + buffer.evicted_oldest() + buffer.rejected() == buffer.pushed());
  check_accounting(buffer);
}

TEST_CASE("capacity counts in-flight items until they are acknowledged", "[ring_buffer]") {
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_newest);
  for (int i = 0; i < 4; ++i) buffer.push(Item(0, i));
  std::vector<Item> batch;
  buffer.take_batch(3, batch);
  CHECK(buffer.waiting() == 1);
  CHECK(buffer.in_flight() == 3);
  CHECK(buffer.size() == 4);
  CHECK_FALSE(buffer.empty());
  CHECK(buffer.push(Item(0, 4)).outcome == PushOutcome::rejected_full);

  CHECK(buffer.acknowledge(2) == 2);  // a partial acknowledgement frees exactly that much
  CHECK(buffer.in_flight() == 1);
  CHECK(buffer.size() == 2);
  CHECK(buffer.push(Item(0, 5)).accepted());
  CHECK(buffer.push(Item(0, 6)).accepted());
  CHECK(buffer.push(Item(0, 7)).outcome == PushOutcome::rejected_full);

  CHECK(buffer.acknowledge(10) == 1);  // more than in flight: clamped, not corrupted
  CHECK(buffer.in_flight() == 0);
  CHECK(buffer.size() == 3);
  check_accounting(buffer);
}

TEST_CASE("oldest_pending_sequence tells flush() when earlier items are resolved",
          "[ring_buffer]") {
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_oldest);
  CHECK(buffer.oldest_pending_sequence() == 0);
  for (int i = 0; i < 4; ++i) buffer.push(Item(0, i));  // sequences 0..3
  const std::uint64_t mark = buffer.accepted();
  CHECK(mark == 4);
  std::vector<Item> batch;
  buffer.take_batch(1, batch);  // 0 in flight
  buffer.push(Item(0, 4));      // evicts 1
  buffer.take_batch(1, batch);  // 2 in flight: not contiguous with 0
  CHECK(buffer.oldest_pending_sequence() == 0);
  buffer.acknowledge(1);  // 0 delivered
  CHECK(buffer.oldest_pending_sequence() == 2);
  buffer.acknowledge(1);  // 2 delivered
  CHECK(buffer.oldest_pending_sequence() == 3);
  CHECK(buffer.oldest_pending_sequence() < mark);  // 3 still waiting: flush not done
  batch.clear();
  buffer.take_batch(10, batch);
  buffer.acknowledge(batch.size());
  CHECK(buffer.oldest_pending_sequence() == buffer.accepted());
  CHECK(buffer.oldest_pending_sequence() >= mark);
}

TEST_CASE("evicted items beyond the consumer's list are destroyed by the producer",
          "[ring_buffer]") {
  auto alive = std::make_shared<std::atomic<int>>(0);
  RingBuffer<Item> buffer(2, OverflowStrategy::drop_oldest);  // list capacity: min(2, 4096)
  as_another_producer([&] {
    for (int i = 0; i < 2; ++i) buffer.push(Item(1, i, alive));
  });
  std::vector<Item> evicted;
  // Two rounds of another thread's items, evicted by this one: the list takes two, then full.
  for (int i = 2; i < 4; ++i) buffer.push(Item(0, i, alive));  // evicts 0, 1
  as_another_producer([&] {
    for (int i = 4; i < 6; ++i) buffer.push(Item(1, i, alive));  // evicts 2, 3
  });
  CHECK(buffer.evicted_oldest() == 4);
  // 0 and 1 went to the list (another producer's); 2 and 3 were evicted by the other thread,
  // for which they are foreign too, but the list was full: destroyed on its push.
  CHECK(*alive == 4);  // 2 waiting + 2 in the list
  buffer.release_evicted(evicted);
  CHECK(seqs(evicted) == std::vector<int>{0, 1});
  evicted.clear();
  CHECK(*alive == 2);
}

TEST_CASE("a half-full evicted list wakes a sleeping consumer to empty it", "[ring_buffer]") {
  using Wait = RingBuffer<Item>::WaitResult;
  RingBuffer<Item> buffer(8, OverflowStrategy::drop_oldest);  // evicted list: 8
  as_another_producer([&] {
    for (int i = 0; i < 8; ++i) buffer.push(Item(1, i));
  });
  std::atomic<bool> waiting{false};
  Wait result = Wait::timed_out;
  std::thread consumer([&] {
    waiting = true;
    result = buffer.wait_for_events(buffer.no_event_wake, std::chrono::seconds(30));
  });
  while (!waiting) std::this_thread::yield();
  // Evictions 1..3 leave the consumer asleep; the 4th fills half the list and wakes it (or,
  // if it was not asleep yet, leaves a wake request that ends its wait at once).
  for (int i = 8; i < 12; ++i) buffer.push(Item(0, i));
  consumer.join();
  CHECK(result == Wait::woken);
  std::vector<Item> evicted;
  buffer.release_evicted(evicted);
  CHECK(seqs(evicted) == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("transform_waiting rewrites waiting items in place, in order, from a cursor",
          "[ring_buffer]") {
  RingBuffer<Item> buffer(8, OverflowStrategy::drop_newest);
  for (int i = 0; i < 5; ++i) buffer.push(Item(0, i));
  std::vector<Item> scratch;
  std::uint64_t cursor = 0;
  const auto add_100 = [](Item& item) { item.seq += 100; };
  CHECK(buffer.transform_waiting(cursor, 3, scratch, add_100) == 3);
  CHECK(cursor == 3);
  CHECK(buffer.transform_waiting(cursor, 3, scratch, add_100) == 2);
  CHECK(cursor == 5);
  CHECK(buffer.transform_waiting(cursor, 3, scratch, add_100) == 0);  // nothing new
  buffer.push(Item(0, 5));
  CHECK(buffer.transform_waiting(cursor, 3, scratch, add_100) == 1);

  std::vector<Item> out;
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{100, 101, 102, 103, 104, 105});
  CHECK(buffer.waiting() == 0);
  CHECK(buffer.in_flight() == 6);
  check_accounting(buffer);
}

TEST_CASE("transform_waiting skips what was taken and drops what was evicted meanwhile",
          "[ring_buffer]") {
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_oldest);
  for (int i = 0; i < 4; ++i) buffer.push(Item(0, i));
  std::vector<Item> in_flight;
  buffer.take_batch(1, in_flight);  // 0 in flight: the cursor starts past it
  std::vector<Item> scratch;
  std::uint64_t cursor = 0;
  // While items 1..3 are being transformed, a producer pushes into the full buffer and evicts
  // the oldest waiting one (1, whose slot holds only a moved-from shell right now).
  CHECK(buffer.transform_waiting(cursor, 10, scratch, [&](Item& item) {
    if (item.seq == 1)
      CHECK(buffer.push(Item(0, 4)).outcome == PushOutcome::accepted_evicted_oldest);
    item.seq += 100;
  }) == 3);
  CHECK(cursor == 4);
  CHECK(buffer.evicted_oldest() == 1);
  std::vector<Item> out;
  buffer.take_batch(10, out);
  CHECK(seqs(out) == std::vector<int>{102, 103, 4});  // 101 was evicted; 4 is not transformed
  buffer.acknowledge(4);
  check_accounting(buffer);
}

TEST_CASE("waiting items left in the buffer are destroyed with it", "[ring_buffer]") {
  auto alive = std::make_shared<std::atomic<int>>(0);
  std::vector<Item> in_flight;
  {
    RingBuffer<Item> buffer(5, OverflowStrategy::drop_oldest);
    for (int i = 0; i < 4; ++i) buffer.push(Item(0, i, alive));
    buffer.take_batch(1, in_flight);
    CHECK(*alive == 4);
  }
  CHECK(*alive == 1);  // only the item the consumer holds
}

TEST_CASE("wait_for_events returns at the threshold, on wake, or at the timeout", "[ring_buffer]") {
  using Wait = RingBuffer<Item>::WaitResult;
  using std::chrono::milliseconds;
  RingBuffer<Item> buffer(4, OverflowStrategy::drop_newest);

  CHECK(buffer.wait_for_events(1, milliseconds(0)) == Wait::timed_out);
  buffer.push(Item(0, 0));
  CHECK(buffer.wait_for_events(1, milliseconds(0)) == Wait::ready);
  CHECK(buffer.wait_for_events(0, milliseconds(0)) == Wait::ready);  // 0 means 1
  CHECK(buffer.wait_for_events(2, milliseconds(0)) == Wait::timed_out);
  CHECK(buffer.wait_for_events(RingBuffer<Item>::no_event_wake, milliseconds(0)) ==
        Wait::timed_out);

  // A wake that arrives while the consumer is busy is kept for its next wait, once.
  buffer.wake_consumer();
  CHECK(buffer.wait_for_events(RingBuffer<Item>::no_event_wake, milliseconds(0)) == Wait::woken);
  CHECK(buffer.wait_for_events(RingBuffer<Item>::no_event_wake, milliseconds(0)) ==
        Wait::timed_out);

  // A threshold above the free room means "when full".
  buffer.push(Item(0, 1));
  std::vector<Item> batch;
  buffer.take_batch(1, batch);  // 1 in flight, room for 3 waiting
  buffer.push(Item(0, 2));
  CHECK(buffer.wait_for_events(100, milliseconds(0)) == Wait::timed_out);
  buffer.push(Item(0, 3));
  CHECK(buffer.waiting() == 3);
  CHECK(buffer.wait_for_events(100, milliseconds(0)) == Wait::ready);
}

TEST_CASE("a push reaching the threshold wakes a sleeping consumer", "[ring_buffer]") {
  using Wait = RingBuffer<Item>::WaitResult;
  RingBuffer<Item> buffer(16, OverflowStrategy::drop_newest);
  std::atomic<bool> consumer_returned{false};
  Wait result = Wait::timed_out;
  // The timeout is only a bound for a broken implementation: a correct one returns as soon
  // as the producer's third push lands.
  std::thread consumer([&] {
    result = buffer.wait_for_events(3, std::chrono::seconds(30));
    consumer_returned = true;
  });
  for (int i = 0; i < 3; ++i) buffer.push(Item(0, i));
  consumer.join();
  CHECK(consumer_returned);
  CHECK(result == Wait::ready);
  CHECK(buffer.waiting() == 3);
}

TEST_CASE("wake_consumer interrupts a consumer waiting for the timeout only", "[ring_buffer]") {
  using Wait = RingBuffer<Item>::WaitResult;
  RingBuffer<Item> buffer(16, OverflowStrategy::drop_newest);
  Wait result = Wait::timed_out;
  std::thread consumer([&] {
    result = buffer.wait_for_events(RingBuffer<Item>::no_event_wake, std::chrono::seconds(30));
  });
  buffer.push(Item(0, 0));  // does not count: the consumer asked not to be woken by items
  buffer.wake_consumer();
  consumer.join();
  CHECK(result == Wait::woken);
}

TEST_CASE("RingBuffer holds streamll::Event by move", "[ring_buffer]") {
  RingBuffer<streamll::Event> buffer(2, OverflowStrategy::drop_oldest);
  auto event = streamll::Event::capture(streamll::EventType::token, nullptr,
                                        streamll::Fields{{"token", "hello"}});
  const auto id = event.id;
  CHECK(buffer.push(std::move(event)).accepted());
  std::vector<streamll::Event> out;
  REQUIRE(buffer.take_batch(1, out) == 1);
  CHECK(out[0].id == id);
  CHECK(out[0].data["token"].as_string() == "hello");
}

namespace {

struct ConcurrentRun {
  std::uint64_t delivered = 0;
  bool order_kept = true;
  bool duplicates = false;
};

// Four producers push `per_producer` items each while one consumer takes batches of 32;
// `retry_rejected` makes producers retry a refused push (so nothing may be lost). The consumer
// also empties the evicted list and, with `transform`, rewrites waiting items in place (what
// the RedisSink does while Redis is down), racing the producers' evictions.
ConcurrentRun run_concurrent(RingBuffer<Item>& buffer, int per_producer, bool retry_rejected,
                             bool transform = false) {
  constexpr int producers = 4;
  std::atomic<int> producers_done{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        Item item(p, i);
        while (!buffer.push(std::move(item)).accepted() && retry_rejected) {
          std::this_thread::yield();
        }
      }
      producers_done.fetch_add(1);
    });
  }

  ConcurrentRun run;
  std::vector<int> last_seen(producers, -1);
  std::vector<Item> batch;
  batch.reserve(32);
  std::vector<Item> scratch;
  std::uint64_t cursor = 0;
  while (true) {
    const bool finished = producers_done.load() == producers;
    buffer.wait_for_events(32, std::chrono::milliseconds(5));
    buffer.drain_stages();  // as the RedisSink's flusher does each round
    buffer.release_evicted(scratch);
    scratch.clear();
    if (transform) {
      buffer.transform_waiting(cursor, 8, scratch, [](Item& item) {
        item.payload = std::make_unique<int>(item.seq);  // a fresh allocation, as serializing makes
      });
    }
    buffer.take_batch(32, batch);
    for (const auto& item : batch) {
      if (item.seq == last_seen[item.producer]) run.duplicates = true;
      if (item.seq <= last_seen[item.producer]) run.order_kept = false;
      last_seen[item.producer] = item.seq;
    }
    run.delivered += buffer.acknowledge(batch.size());
    batch.clear();
    if (finished && buffer.empty()) break;
  }
  for (auto& t : threads) t.join();
  return run;
}

}  // namespace

TEST_CASE("four producers and one consumer: every item exactly once, each producer in order",
          "[ring_buffer]") {
  constexpr int per_producer = 20000;
  RingBuffer<Item> buffer(64, OverflowStrategy::raise_error);
  const ConcurrentRun run = run_concurrent(buffer, per_producer, /*retry_rejected=*/true);
  CHECK(run.delivered == 4u * per_producer);
  CHECK(run.order_kept);
  CHECK_FALSE(run.duplicates);
  CHECK(buffer.accepted() == 4u * per_producer);
  CHECK(buffer.evicted_oldest() == 0);
  check_accounting(buffer);
}

TEST_CASE("concurrent drop_oldest: delivered + evicted == pushed, order kept per producer",
          "[ring_buffer]") {
  constexpr int per_producer = 20000;
  const auto staging = GENERATE(Staging::off, Staging::when_full);
  RingBuffer<Item> buffer(16, OverflowStrategy::drop_oldest, staging);
  const bool transform = GENERATE(false, true);
  const ConcurrentRun run =
      run_concurrent(buffer, per_producer, /*retry_rejected=*/false, transform);
  CHECK(run.order_kept);
  CHECK_FALSE(run.duplicates);
  CHECK(buffer.pushed() == 4u * per_producer);
  CHECK(run.delivered == buffer.acknowledged());
  CHECK(run.delivered + buffer.evicted_oldest() + buffer.rejected() == buffer.pushed());
  CHECK(buffer.staged() == 0);
  check_accounting(buffer);
}
