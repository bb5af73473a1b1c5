#pragma once
// Where a connection goes, and how an application tells streamll (the C++ form of the Python
// guide's `client=`: instead of handing over a configured client, hand over where to connect).
//
//   streamll::RedisSinkOptions o;
//   o.connection.password = secret;  // credentials, db and TLS still come from the options
//   o.connection.endpoint_provider = [&](const streamll::EndpointRequest& request) {
//     return my_discovery.current_primary();     // asked on every (re)connect, on the flusher
//     thread
//   };
//
// Sentinel support is itself such a provider (streamll/redis/sentinel.hpp).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace streamll {

/// One TCP server: host name or address (IPv6 without brackets) and port.
struct RedisEndpoint {
  std::string host;
  std::uint16_t port = 6379;
  /// The answer may be stale (a Sentinel's, during a failover): after connecting, the connection
  /// asks the server's ROLE and fails the attempt (as a transport failure, so it is retried and
  /// the provider asked again) unless it is a master.
  bool require_master = false;

  /// "host:port", "[::1]:port" for IPv6.
  std::string to_string() const;

  friend bool operator==(const RedisEndpoint& a, const RedisEndpoint& b) noexcept {
    return a.host == b.host && a.port == b.port;
  }
  friend bool operator!=(const RedisEndpoint& a, const RedisEndpoint& b) noexcept {
    return !(a == b);
  }
};

/// Parses "host", "host:port", "[v6]" or "[v6]:port" (`default_port` when none is given). Throws
/// ConfigError naming `option` when the text is empty, the port is not in 1..65535, or an IPv6
/// address lacks its brackets. Pure function; thread-safe.
RedisEndpoint parse_redis_endpoint(std::string_view text, std::uint16_t default_port,
                                   const char* option);

/// What a provider is told when asked.
struct EndpointRequest {
  /// 1 for the first connection attempt of the sink (or consumer), then 2, 3, ...
  std::uint64_t attempt = 1;
  /// Why the previous connection ended or the previous attempt failed; empty on the first
  /// attempt. Never contains a password.
  std::string previous_error;
  /// The attempt's deadline (connect_timeout from its start, cut short by a shutdown): a
  /// provider that asks a service must give up by then.
  std::chrono::steady_clock::time_point deadline;
};

/// Returns where to connect now. Called on the connecting thread (the RedisSink's flusher) once
/// per connection attempt, never concurrently for one sink; a provider shared by several sinks
/// or consumers must be thread-safe, and so must one given to a ShardedRedisSink or a sharded
/// consumer (each shard connects on its own thread: its flusher, or for a consumer's shard
/// reconnecting after a timeout, a thread of its own). May throw: the attempt then fails like a
/// refused connection (counted, fed to the circuit breaker, retried later), with the exception's
/// what() as the reason. The credentials, database and TLS settings of the options apply to
/// whatever it returns; with TLS, the certificate is checked against ssl_server_name when set,
/// else against the returned host.
using EndpointProvider = std::function<RedisEndpoint(const EndpointRequest& request)>;

}  // namespace streamll
