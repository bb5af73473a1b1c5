#pragma once
// Durable acknowledgements (min_replicas_ack > 0): WAIT follows each batch's XADDs, and a batch
// counts as delivered only once WAIT saw enough replicas. A shortfall keeps the batch: while the
// connection that wrote it lives, WAIT alone is asked again (it covers every earlier write of
// the connection), so the events are not written twice.

#include <chrono>
#include <string>

#include "redis/sink/batch_replies.hpp"
#include "redis/sink/sink_batch.hpp"
#include "redis/sink/sink_counters.hpp"
#include "redis/transport/command_buffer.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "support/clock.hpp"

namespace streamll::redis {

class DurableAck {
 public:
  DurableAck(const RedisSinkOptions& options, const detail::ClockSource& clock,
             SinkCounters& counters);

  bool enabled() const noexcept { return min_replicas_ > 0; }
  /// After a batch's XADDs, when enabled.
  void append_wait(CommandBuffer& commands) const;
  /// WAIT alone, asked again after a shortfall on the connection that wrote the batch.
  const CommandBuffer* wait_alone() const noexcept { return &wait_command_; }
  /// How long a batch's replies may take: WAIT holds them up to its own timeout.
  std::chrono::milliseconds reply_timeout(std::chrono::milliseconds socket_timeout) const noexcept;
  /// A WAIT that came back short before its timeout (a proxy, a fake) is not asked again at
  /// once: Redis itself would have waited that long.
  bool holding_back(const SinkBatch& head) const noexcept;

  enum class Answer { confirmed, too_few, refused };
  struct Verdict {
    Answer answer = Answer::confirmed;
    std::string why;  // too_few, refused: for the log
  };
  /// Reads WAIT's answer among the replies to `batch`. Unless confirmed, keeps what the XADD
  /// replies said in the batch, to settle it with once WAIT alone confirms it, and marks it
  /// awaiting replicas where WAIT alone on this connection can confirm it.
  Verdict check(SinkBatch& batch, const BatchReplies& replies, bool wait_only, bool via_ask);
  /// The server answered a WAIT with too few replicas: paces the next one.
  void shortfall_answered(const SinkBatch& batch);

 private:
  const long long min_replicas_;
  const std::chrono::milliseconds timeout_;
  const detail::ClockSource& clock_;
  SinkCounters& counters_;
  CommandBuffer wait_command_;
  std::chrono::steady_clock::time_point retry_at_{};  // on `clock_`
};

}  // namespace streamll::redis
