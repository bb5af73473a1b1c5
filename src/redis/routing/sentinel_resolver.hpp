#pragma once
// Internal: asks Redis Sentinels where the master is, following the Sentinel client guidelines:
// sentinels asked in turn with bounded waits, the first to answer moved to the front of the
// list, and the answer flagged require_master so the connection checks ROLE (a sentinel may
// still name the old master during a failover).

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "redis/config/connection_target.hpp"
#include "redis/transport/interrupt_gate.hpp"
#include "redis/transport/reply.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/endpoint.hpp"

namespace streamll::redis {

/// The master named by a `SENTINEL get-master-addr-by-name` reply: nullopt for a nil reply
/// (this sentinel does not know the name); throws ReplyError for an error reply and IoError
/// for any other shape or a port out of 1..65535.
std::optional<RedisEndpoint> parse_master_address(const RedisReply& reply,
                                                  const std::string& sentinel);

/// Whether a ROLE reply says "master". Error replies (a server or ACL without ROLE) count as
/// yes: the role cannot be checked, and writes to a replica still fail with READONLY.
bool role_is_master(const RedisReply& reply);

class SentinelResolver {
 public:
  /// `target` carries the sentinels (nodes), the master's name, the sentinels' credentials,
  /// the TLS settings and the timeouts.
  SentinelResolver(ConnectionTarget target, TransportMaker make);

  /// Asks the sentinels in turn until one names the master; each attempt bounded by the
  /// target's connect_timeout and socket_timeout and by `deadline`. Throws IoError listing
  /// what each sentinel tried answered when none did. Thread-safe (one query at a time).
  /// `gate` (optional) lets another thread interrupt the sentinel connection in use.
  RedisEndpoint master(std::chrono::steady_clock::time_point deadline,
                       InterruptGate* gate = nullptr);

 private:
  RedisEndpoint ask(const RedisEndpoint& sentinel, std::chrono::steady_clock::time_point deadline,
                    InterruptGate* gate);

  std::mutex mutex_;
  ConnectionTarget sentinel_target_;  // sentinel credentials, no db: aimed at each with at()
  std::string master_name_;
  std::vector<RedisEndpoint> sentinels_;  // the one that answered last first
  TransportMaker make_;
};

}  // namespace streamll::redis
