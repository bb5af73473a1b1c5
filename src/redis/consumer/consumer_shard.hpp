#pragma once
// Internal: one stream as a consumer reads it (a GroupConsumer's or a StreamReader's commands
// around a ConsumerCore), in the form a sharded consumer drives: besides the single-stream
// poll(), a blocking read can be sent without waiting for its answer, so that one thread can
// wait for whichever shard answers first.

#include <chrono>
#include <exception>
#include <vector>

#include "redis/consumer/consumer_core.hpp"
#include "support/deadline.hpp"

namespace streamll::redis {

class ConsumerShard {
 public:
  enum class BlockingRead {
    sent,         ///< the read is on the wire; finish_blocking_read() takes its answer
    busy,         ///< other work is due first (a claim, pending entries): poll() again
    unavailable,  ///< not connected, or stopping
  };

  virtual ~ConsumerShard() = default;

  virtual ConsumerCore& core() noexcept = 0;
  const ConsumerCore& core() const noexcept { return const_cast<ConsumerShard*>(this)->core(); }

  /// One step of a single-stream consumer (GroupConsumer::poll / StreamReader::poll).
  virtual PollResult poll(std::chrono::milliseconds block) = 0;

  /// Sends a read for new entries that waits up to `block` (> 0) in Redis, and returns without
  /// waiting for its answer. Transport failures are handled (unavailable), never thrown.
  virtual BlockingRead send_blocking_read(std::chrono::milliseconds block) = 0;

  /// Takes the answer of the read sent (waiting until read_deadline() at most), dispatches and
  /// acknowledges it, adding to `result`. Failures are handled, never thrown.
  virtual void finish_blocking_read(PollResult& result) = 0;

  bool read_in_flight() const noexcept { return in_flight_; }
  /// When the answer is overdue: the read's BLOCK plus socket_timeout after it was sent.
  std::chrono::steady_clock::time_point read_deadline() const noexcept { return read_deadline_; }

 protected:
  /// poll()'s frame: connects first (`on_connect` after the handshake), then runs `step`;
  /// a transport failure in it is recorded, never thrown.
  template <typename Step>
  PollResult connected_step(const ConsumerCore::OnConnect& on_connect, Step step) {
    PollResult result;
    ConsumerCore& c = core();
    if (c.stopping()) return result;
    if (!c.ensure_connected(on_connect)) {
      result.backoff = c.backoff_remaining();
      return result;
    }
    try {
      step(result);
    } catch (const std::exception& e) {
      c.read_failure(e);
    }
    result.connected = c.connected();
    return result;
  }

  /// One read executed and answered: `commands` (BLOCK `block` when positive, and then
  /// interruptible by stop()), answer into `replies`. False on a transport failure (recorded) or
  /// no answer.
  bool run_read(std::chrono::milliseconds block) {
    return core().execute(commands, replies, deadline_for(block), block.count() > 0) &&
           !replies.empty();
  }

  /// send_blocking_read()'s sending: `commands` (one blocking read) on the wire.
  BlockingRead send_read(std::chrono::milliseconds block) {
    try {
      core().send(commands, detail::deadline_in(core().options().connection.socket_timeout));
    } catch (const std::exception& e) {
      core().read_failure(e);
      return BlockingRead::unavailable;
    }
    in_flight_ = true;
    read_deadline_ = deadline_for(block);
    return BlockingRead::sent;
  }

  /// finish_blocking_read()'s receiving: the read's answer into `replies`, handed to `take`
  /// (an error reply included); a transport failure is recorded, never thrown.
  template <typename TakeAnswer>
  void finish_read(TakeAnswer take) {
    in_flight_ = false;
    try {
      core().receive(1, replies, read_deadline_);
      take(replies.front());
    } catch (const std::exception& e) {
      core().read_failure(e);
    }
  }

  // The shard's scratch, reused from read to read: the command sent, its answer, the entries
  // taken from it.
  CommandBuffer commands;
  std::vector<RedisReply> replies;
  std::vector<StreamEntry> entries;

 private:
  // A read blocking up to `block`, answered within the socket timeout after that.
  std::chrono::steady_clock::time_point deadline_for(std::chrono::milliseconds block) const {
    // Each clamped to a year first: their sum then fits.
    return detail::deadline_in(detail::clamp_to_a_year(block) +
                               detail::clamp_to_a_year(core().options().connection.socket_timeout));
  }

  bool in_flight_ = false;
  std::chrono::steady_clock::time_point read_deadline_{};
};

}  // namespace streamll::redis
