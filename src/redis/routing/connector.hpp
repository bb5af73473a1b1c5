#pragma once
// Internal: opens connections for one RedisConnectionOptions, wherever the server is now:
//  - standalone: the URL's host and port (or unix socket);
//  - endpoint provider: what the user's callback returns, asked on every connect;
//  - Sentinel: the master the sentinels name (a provider of our own), ROLE checked;
//  - Cluster: the master serving a given hash slot, from a slot map learned from the seed
//    nodes with CLUSTER SLOTS, corrected by MOVED replies and refreshed after a failure.
// The RedisSink uses one per sink; a consumer can use one per stream it reads. Used by one
// thread (the owner), except interrupt(), which any thread may call.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "redis/config/connection_target.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis/routing/sentinel_resolver.hpp"
#include "redis/transport/interrupt_gate.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/endpoint.hpp"

namespace streamll::redis {

class Connector {
 public:
  using Clock = std::chrono::steady_clock;

  /// Validates `options` (ConfigError). `make` creates each transport (socket transports when
  /// empty).
  explicit Connector(const RedisConnectionOptions& options, TransportMaker make = {});
  // The Sentinel provider refers to this object.
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  /// A connected transport to where the options say the server is now. `slot`: the hash slot
  /// of the key the connection is for (Cluster only; other deployments ignore it; nullopt in
  /// a cluster means any reachable master). Everything, sentinel queries and slot-map refresh
  /// included, finishes before `deadline`. Throws the transport's errors (IoError family,
  /// AuthError, ReplyError from the handshake), IoError when no sentinel answered, no node
  /// gave a slot map, the slot has no master, or a server that must be a master is not.
  std::unique_ptr<RedisTransport> connect(Clock::time_point deadline,
                                          std::optional<std::uint16_t> slot = std::nullopt);

  /// A connected transport to exactly `endpoint` (the node an ASK redirection names), with the
  /// options' credentials and TLS settings.
  std::unique_ptr<RedisTransport> connect_to(const RedisEndpoint& endpoint,
                                             Clock::time_point deadline);

  /// The last connection failed or was lost (`why` is passed to the endpoint provider as
  /// previous_error; a cluster refreshes its slot map before the next connect).
  void connection_lost(const std::string& why);
  /// A MOVED redirection: the slot has a new master. The next connect for that slot goes
  /// there, and the slot map is refreshed from that node first.
  void moved(const Redirect& redirect);

  /// Thread-safe: interrupts any connect in progress (sentinel and refresh queries included)
  /// and every later one until clear_interrupt().
  void interrupt() noexcept { gate_.interrupt(); }
  void clear_interrupt() noexcept { gate_.clear(); }

  RedisDeployment deployment() const noexcept { return target_.deployment; }
  /// The host of the last connection attempt (for redirections that name none).
  std::string current_host() const { return last_endpoint_ ? last_endpoint_->host : target_.host; }
  /// The URL (redacted) or the deployment, for logs.
  const std::string& describe() const noexcept { return target_.display; }
  /// The resolved options (credentials included: never log it).
  const ConnectionTarget& target() const noexcept { return target_; }

 private:
  std::unique_ptr<RedisTransport> open(const ConnectionTarget& target, Clock::time_point deadline,
                                       bool require_master);
  RedisEndpoint cluster_owner(std::uint16_t slot, Clock::time_point deadline);
  void refresh_slot_map(Clock::time_point deadline);

  ConnectionTarget target_;
  TransportMaker make_;
  InterruptGate gate_;
  std::unique_ptr<SentinelResolver> sentinel_;
  EndpointProvider provider_;  // the user's, or the sentinel resolver's
  std::uint64_t attempts_ = 0;
  std::string previous_error_;

  // Cluster.
  ClusterSlotMap slots_;
  bool slots_stale_ = true;
  std::optional<RedisEndpoint> ask_first_;    // a MOVED target: it knows its own slots
  std::optional<RedisEndpoint> last_failed_;  // asked last in a refresh
  std::optional<RedisEndpoint> last_endpoint_;
};

}  // namespace streamll::redis
