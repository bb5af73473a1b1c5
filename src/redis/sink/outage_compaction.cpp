#include "redis/sink/outage_compaction.hpp"

namespace streamll::redis {

using SteadyClock = std::chrono::steady_clock;

std::size_t OutageCompaction::run(SteadyClock::time_point now, const std::function<bool()>& go_on,
                                  const std::function<void()>& after_chunk) {
  if (flooding(now)) return 0;
  std::size_t compacted = 0;
  while (go_on()) {
    const std::size_t visited =
        buffer_.transform_waiting(cursor_, kChunk, scratch_, [this](BufferedEvent& event) {
          pipeline_.redact(event);
          if (encoder_.compact(event, text_) == EncodeResult::truncated) {
            SinkCounters::add(counters_.truncated);
          }
        });
    if (visited == 0) break;
    compacted += visited;
    pipeline_.note_redacted_before(cursor_);
    compacted_through_.store(cursor_, std::memory_order_relaxed);
    after_chunk();
  }
  return compacted;
}

// Compacting events that are evicted moments later is wasted work (and contention on the
// buffer's lock): while evictions would replace every waiting event within a second, skip.
bool OutageCompaction::flooding(SteadyClock::time_point now) {
  const std::uint64_t evicted = buffer_.evicted_oldest();
  const auto since = now - evictions_seen_at_;
  const bool flood = evicted > evictions_seen_ &&
                     static_cast<double>(evicted - evictions_seen_) *
                             std::chrono::duration<double>(std::chrono::seconds(1)) / since >=
                         static_cast<double>(buffer_.waiting());
  evictions_seen_ = evicted;
  evictions_seen_at_ = now;
  return flood;
}

}  // namespace streamll::redis
