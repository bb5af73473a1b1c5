#pragma once
// Internal: what the replies to one of the RedisSink's pipelines mean for its batch. A batch is
// N XADDs for one stream (each after an ASKING when it follows an ASK redirection), then a WAIT
// when durable acknowledgements are on. Pure functions, so the decisions are unit-tested
// without a server.

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "redis/routing/cluster_slots.hpp"
#include "redis/transport/reply.hpp"

namespace streamll::redis {

/// Error replies that describe the server's state rather than the command (loading, busy, a
/// replica after a failover, a cluster without quorum, too few replicas): the same write will
/// succeed later, so a batch they refuse is kept and retried.
bool is_transient_server_error(const std::string& prefix);

/// Redis answers a command it cannot parse (such as a bulk longer than proto-max-bulk-len)
/// with this error, then closes the connection.
bool is_protocol_error(const RedisReply& reply);

/// The replies of one batch, read in order.
struct BatchReplies {
  /// Leading XADDs answered for good: accepted, or refused by an error retrying cannot fix.
  std::size_t settled = 0;
  std::size_t accepted = 0;             ///< of the settled ones
  std::size_t refused = 0;              ///< of the settled ones
  std::vector<std::size_t> refused_at;  ///< the refused ones' XADD indices (0 = the first XADD)
  std::string first_refusal;            ///< the first refusal's text
  std::size_t protocol_errors = 0;      ///< of the refused ones: by a protocol error
  /// The XADD at index `settled` was redirected (MOVED or ASK): it and every later one are to
  /// be sent there (later ones too, since the stream key is the same: order is kept).
  std::optional<Redirect> redirect;
  /// Non-empty: a transient server error refused the batch and no XADD was accepted; the
  /// whole batch is to be retried like after a transport failure.
  std::string transient;
  /// WAIT's answer: how many replicas acknowledged (when a WAIT was sent and answered with a
  /// number).
  std::optional<long long> replicas;
  /// WAIT's error reply text (e.g. on a replica: the batch cannot be confirmed).
  std::string wait_error;
};

/// Reads `replies` of a batch of `xadds` XADDs, each preceded by ASKING when `asking`, followed
/// by one WAIT when `wait`. `host` is the node that answered (for redirections without a
/// host). Fewer replies than expected are read as far as they go (a caller bug otherwise).
BatchReplies read_batch_replies(const std::vector<RedisReply>& replies, std::size_t xadds,
                                bool asking, bool wait, const std::string& host);

}  // namespace streamll::redis
