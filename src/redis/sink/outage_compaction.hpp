#pragma once
// While Redis cannot be written to, the sink compacts the waiting events: those whose
// serialized form is smaller are held so (an llm_call event then takes about its wire size
// instead of two to three times it, and the drain after recovery has less to do).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"
#include "pipeline/ring_buffer.hpp"
#include "redis/sink/sink_counters.hpp"
#include "redis/sink/xadd_encoder.hpp"

namespace streamll::redis {

using EventBuffer = detail::RingBuffer<BufferedEvent>;

class OutageCompaction {
 public:
  /// Compacts `pipeline`'s buffer, each event redacted first (Pipeline::redact): a compacted
  /// event is bytes, which the redactor can no longer see when the event is taken.
  OutageCompaction(detail::Pipeline& pipeline, const XaddEncoder& encoder, SinkCounters& counters)
      : pipeline_(pipeline), buffer_(pipeline.ring()), encoder_(encoder), counters_(counters) {}

  /// Compacts waiting events, a chunk at a time (one short lock to take them out, one to put
  /// them back), while `go_on()` and until every waiting one was visited; `after_chunk` runs
  /// between chunks. Returns how many it visited. Does nothing while producers evict faster
  /// than it could compact (`now`: when the flusher looked).
  std::size_t run(std::chrono::steady_clock::time_point now, const std::function<bool()>& go_on,
                  const std::function<void()>& after_chunk);
  /// Sequence of the next waiting event to compact, for stats() (any thread).
  std::uint64_t compacted_through() const noexcept {
    return compacted_through_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kChunk = 32;
  bool flooding(std::chrono::steady_clock::time_point now);

  detail::Pipeline& pipeline_;
  EventBuffer& buffer_;
  const XaddEncoder& encoder_;
  SinkCounters& counters_;
  std::uint64_t cursor_ = 0;  // sequence of the next waiting event to compact
  std::vector<BufferedEvent> scratch_;
  std::string text_;
  std::uint64_t evictions_seen_ = 0;  // to tell a flood
  std::chrono::steady_clock::time_point evictions_seen_at_ = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> compacted_through_{0};
};

}  // namespace streamll::redis
