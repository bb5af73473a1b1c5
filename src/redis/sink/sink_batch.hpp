#pragma once
// The Redis sink's batches: events taken from the buffer (in flight there until acknowledged),
// encoded as one pipelined write. The flusher holds at most two: one on the wire and the next
// one, which it encodes (and, outside Cluster mode and durable acknowledgements, sends) while
// Redis works on the first. (So besides buffer_size events, at most two batches of delivered
// events await being freed.)

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redis/sink/batch_replies.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/command_buffer.hpp"

namespace streamll::redis {

struct SinkBatch {
  std::vector<BufferedEvent> events;
  std::uint64_t first_sequence = 0;  // the events' sequence numbers follow on from it
  CommandBuffer commands;            // the XADDs (then WAIT when durable)
  std::size_t xadds = 0;  // commands that are XADDs: events.size() unless some failed to encode
  std::vector<std::uint32_t> xadd_events;  // per XADD: its event's index in `events`
  bool started = false;                 // written on the current connection; replies not read yet
  const CommandBuffer* sent = nullptr;  // commands, or WAIT alone
  std::chrono::steady_clock::time_point started_at;
  // Durable acknowledgements: every XADD was answered on connection `written_on`, but WAIT
  // saw too few replicas. While that connection lives, WAIT alone is asked again (it covers
  // every earlier write of the connection); the answers to settle the batch with are kept.
  bool awaiting_replicas = false;
  std::uint64_t written_on = 0;
  BatchReplies pending;
  // Poison isolation: after the server closed the connection on this batch, its first
  // `isolate` events go one per round trip, so that one event Redis cannot take is found and
  // failed alone instead of the whole batch being replayed forever (docs/design.md).
  std::size_t isolate = 0;

  /// The events encode() puts on the wire: only the first one while isolating.
  std::size_t encodable() const noexcept {
    return isolate > 0 ? std::min<std::size_t>(1, events.size()) : events.size();
  }
};

/// The two batch slots, oldest (the head) first.
class SinkBatches {
 public:
  explicit SinkBatches(std::size_t max_batch_size) {
    for (SinkBatch& b : slots_) {
      b.commands.reserve(max_batch_size * 512);
      b.events.reserve(max_batch_size);
    }
  }

  std::size_t count() const noexcept { return count_; }
  SinkBatch& at(std::size_t i) noexcept { return slots_[(first_ + i) % slots_.size()]; }
  SinkBatch& head() noexcept { return at(0); }
  /// The free slot the next batch is taken into.
  SinkBatch& next_free() noexcept { return at(count_); }
  void add() noexcept { ++count_; }
  /// The head was answered for good; the next one becomes the head.
  void pop_head() noexcept {
    first_ = (first_ + 1) % slots_.size();
    --count_;
  }
  /// Every batch held goes again from its start on the next write; returns how many had been
  /// written (Redis may have applied them).
  std::size_t unstart_all() noexcept {
    std::size_t written = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      written += at(i).started ? 1 : 0;
      at(i).started = false;
    }
    return written;
  }

 private:
  std::array<SinkBatch, 2> slots_;
  std::size_t first_ = 0;
  std::size_t count_ = 0;
};

}  // namespace streamll::redis
