#pragma once
// Internal: RedisConnectionOptions with the URL merged in (explicit fields win over URL parts),
// i.e. exactly what the transport dials and sends.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "streamll/redis/options.hpp"

namespace streamll::redis {

struct ConnectionTarget {
  std::string host;  ///< TCP host (empty for unix sockets)
  std::uint16_t port = 6379;
  std::string socket_path;  ///< unix socket path (empty for TCP)
  bool tls = false;
  std::string username;  ///< empty: AUTH with the password alone
  std::string password;  ///< empty: no AUTH
  std::optional<int> db;
  SslCertReqs cert_reqs = SslCertReqs::required;
  std::string ca_file, ca_dir, cert_file, key_file;
  std::string server_name;  ///< SNI and verified name; defaults to host
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds socket_timeout{2000};
  std::string client_name;
  std::string display;  ///< the URL, redacted, for logs and error messages

  // Where the host and port come from (see RedisConnectionOptions' high-availability part).
  RedisDeployment deployment = RedisDeployment::standalone;
  EndpointProvider provider;         ///< set: asked for host and port on every connect
  std::vector<RedisEndpoint> nodes;  ///< sentinels, or cluster seed nodes
  std::string master_name;           ///< sentinel
  std::string sentinel_username, sentinel_password;

  /// This target aimed at `endpoint` instead (same credentials, TLS settings and timeouts):
  /// for a master a provider named, a cluster node, a sentinel. The TLS server name follows
  /// the endpoint unless ssl_server_name was set explicitly.
  ConnectionTarget at(const RedisEndpoint& endpoint) const;

  bool server_name_explicit = false;
};

/// Validates `options` (ConfigError) and merges the URL into them.
ConnectionTarget resolve_connection(const RedisConnectionOptions& options);

/// ConfigError naming `option` unless `value` is 1: every sink and consumer writes or reads
/// through exactly one connection, so a larger pool would be a setting that does nothing.
void require_one_connection(const char* option, std::size_t value);

}  // namespace streamll::redis
