#pragma once
// Redis URL parsing, shared by the sink, the consumers and the CLI.
//
//   redis://[user[:password]@]host[:port][/db][?db=N&password=P&username=U]
//   rediss://...                     same, over TLS (the default port stays 6379)
//   unix://[user[:password]@]/path/redis.sock[?db=N&password=P&username=U]
//   host may be a name, an IPv4 address or a bracketed IPv6 address: redis://[::1]:6380
//   redis+sentinel://[user[:password]@]host1[:port],host2[:port]/master_name[/db]
//                                    sentinels (default port 26379) and the master's name; the
//                                    user and password are the master's (see sentinel_password)
//   redis+cluster://[user[:password]@]host1[:port],host2[:port]
//                                    Redis Cluster seed nodes (default port 6379), database 0
//   rediss+sentinel://, rediss+cluster://   the same over TLS
//
// User name and password are percent-decoded (a password containing '@' is written %40).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/redis/endpoint.hpp"

namespace streamll {

/// What a URL (or the options) names: one server, a master found through Sentinel, or a Redis
/// Cluster reached through seed nodes.
enum class RedisDeployment { standalone, sentinel, cluster };

/// "standalone" | "sentinel" | "cluster".
std::string_view to_string(RedisDeployment deployment) noexcept;

/// The parts of a Redis URL. Exactly one of host (TCP) or socket_path (unix) is set.
struct ParsedRedisUrl {
  bool tls = false;           ///< scheme was rediss://
  std::string host;           ///< TCP host; IPv6 without brackets ("::1")
  std::uint16_t port = 6379;  ///< TCP port
  std::string socket_path;    ///< unix:// socket path ("/run/redis.sock")
  std::string username;       ///< decoded; empty when absent
  std::string password;       ///< decoded; empty when absent (a secret: never log it)
  std::optional<int> db;      ///< from "/N" or "?db=N"
  RedisDeployment deployment = RedisDeployment::standalone;  ///< from the scheme
  /// sentinel / cluster: every host:port listed, in order (host and port above are the first).
  std::vector<RedisEndpoint> nodes;
  std::string master_name;  ///< sentinel: the master's name (the path's first segment)

  bool is_unix_socket() const noexcept { return !socket_path.empty(); }
};

/// Parses `url`. Throws ConfigError (option "url") naming what is wrong: unknown scheme, empty
/// host, unterminated IPv6 bracket, port that is not a number in 1..65535, db that is not a
/// non-negative integer, bad percent escape, unknown query parameter, several hosts outside the
/// sentinel and cluster schemes, a sentinel URL without a master name, a cluster URL with a
/// database other than 0. The message quotes the
/// URL with its password replaced by "***". Pure function; thread-safe.
ParsedRedisUrl parse_redis_url(std::string_view url);

/// `url` with the password (userinfo and ?password=) replaced by "***", for logs and errors.
/// Works on malformed URLs too (best effort, never echoes what looks like a password).
std::string redact_redis_url(std::string_view url);

}  // namespace streamll
