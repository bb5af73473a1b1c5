#pragma once
// Poison isolation. When the server closes the connection on a batch (EOF or reset: not a
// timeout, not our own shutdown), the batch may hold an event Redis cannot take (a bulk longer
// than proto-max-bulk-len draws a protocol error, then the close), and Redis applied what came
// before it. So the batches written on that connection are isolated: sent one event per round
// trip. An event that fails alone is the suspect: if the next connection is sound (connect and
// PING), it is failed, and the rest of its batch goes as usual. So one event Redis cannot take
// is failed alone instead of its batch being replayed forever, and no event is written more
// than twice, outages during isolation aside (docs/design.md).

#include <string>
#include <utility>
#include <vector>

#include "redis/sink/batch_replies.hpp"
#include "redis/sink/sink_batch.hpp"
#include "redis/sink/sink_counters.hpp"
#include "redis/transport/reply.hpp"

namespace streamll::redis {

/// The batch operations isolation drives; the sink carries them out.
class IsolationHost {
 public:
  /// Encodes the batch again (only its first event while it is isolated).
  virtual void encode(SinkBatch& batch) = 0;
  /// Every event sent was answered for good, as `answers` say (see RedisSink's complete()).
  virtual void complete(SinkBatch& batch, const BatchReplies& answers) = 0;
  /// The first `n` events were answered for good; the rest is encoded again.
  virtual void settle_prefix(SinkBatch& batch, std::size_t n, const BatchReplies& answers) = 0;
  /// The batch's first event is lost for good: counted failed, logged for flush() and with
  /// `why`, and out of the buffer and the batch.
  virtual void fail_first(SinkBatch& batch, const std::string& why) = 0;

 protected:
  ~IsolationHost() = default;
};

class PoisonIsolation {
 public:
  PoisonIsolation(IsolationHost& host, SinkCounters& counters, std::string stream_key, bool durable)
      : host_(host), counters_(counters), stream_key_(std::move(stream_key)), durable_(durable) {}

  /// The server closed the connection, failing with `what`; `partial` holds the head batch's
  /// replies read before, if any. Isolates the batches written on it: when Redis answered an
  /// XADD with a protocol error, the replies before it settle their events and only that event
  /// goes alone (batches behind it were never read: they go again whole). Returns true when a
  /// batch is now isolated.
  bool after_close(SinkBatches& batches, std::vector<RedisReply>* partial, const std::string& what,
                   const std::string& current_host);
  /// A connection is being made: true (once) when the event sent alone failed, so that the
  /// connection must be checked with PING and, if sound, fail_suspect() called.
  bool take_suspect() noexcept { return std::exchange(suspect_pending_, false); }
  /// The connection after the suspect failed alone is sound: the suspect is failed.
  void fail_suspect(SinkBatches& batches);

 private:
  IsolationHost& host_;
  SinkCounters& counters_;
  const std::string stream_key_;
  const bool durable_;
  bool suspect_pending_ = false;  // the head batch's isolated event failed
  std::string suspect_reason_;
};

}  // namespace streamll::redis
