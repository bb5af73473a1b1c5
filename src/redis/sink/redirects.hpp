#pragma once
// Redis Cluster redirections of the sink's batches. MOVED: the slot has a new owner; the sink
// updates the map and reconnects. ASK: the stream's key is being migrated; the batch goes to
// the node named, once, each XADD after ASKING, on a connection of its own, while the main
// connection and the map stay as they are. A slot bouncing between nodes that disagree must not
// spin the flusher: too many redirections in a row count as a failure.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "redis/routing/connector.hpp"
#include "redis/sink/durable_ack.hpp"
#include "redis/sink/sink_batch.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/command_buffer.hpp"
#include "redis/transport/reply.hpp"

namespace streamll::redis {

class Redirects {
 public:
  /// An I/O deadline for a timeout (cut short by a shutdown), taken when the I/O starts.
  using DeadlineFor =
      std::function<std::chrono::steady_clock::time_point(std::chrono::milliseconds)>;

  /// A redirection is being followed: true when it is one too many in a row (the count then
  /// starts again).
  bool one_too_many() noexcept;
  /// A batch completed: the redirections before it settled.
  void settled() noexcept { in_a_row_ = 0; }

  enum class AskResult {
    answered,       ///< `replies` holds the answers to the batch's XADDs (then WAIT)
    cannot_encode,  ///< out of memory while encoding
    failed,         ///< connecting or the exchange failed: `error` says why
  };
  /// Sends the XADDs of `batch` that encoded before to `to`, each after ASKING.
  AskResult ask(const SinkBatch& batch, const RedisEndpoint& to, const XaddEncoder& encoder,
                const DurableAck& durable, Connector& connector,
                const RedisConnectionOptions& connection, const DeadlineFor& deadline_for,
                std::vector<RedisReply>& replies, std::string& error);

 private:
  static constexpr int kMaxInARow = 5;
  int in_a_row_ = 0;
  CommandBuffer ask_commands_;
};

}  // namespace streamll::redis
