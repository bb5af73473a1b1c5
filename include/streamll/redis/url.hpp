#pragma once
// Redis URL parsing, shared by the sink, the consumers and the CLI.
//
//   redis://[user[:password]@]host[:port][/db][?db=N&password=P&username=U]
//   rediss://...                     same, over TLS (the default port stays 6379)
//   unix://[user[:password]@]/path/redis.sock[?db=N&password=P&username=U]
//   host may be a name, an IPv4 address or a bracketed IPv6 address: redis://[::1]:6380
//
// User name and password are percent-decoded (a password containing '@' is written %40).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace streamll {

/// The parts of a Redis URL. Exactly one of host (TCP) or socket_path (unix) is set.
struct ParsedRedisUrl {
  bool tls = false;              ///< scheme was rediss://
  std::string host;              ///< TCP host; IPv6 without brackets ("::1")
  std::uint16_t port = 6379;     ///< TCP port
  std::string socket_path;       ///< unix:// socket path ("/run/redis.sock")
  std::string username;          ///< decoded; empty when absent
  std::string password;          ///< decoded; empty when absent (a secret: never log it)
  std::optional<int> db;         ///< from "/N" or "?db=N"

  bool is_unix_socket() const noexcept { return !socket_path.empty(); }
};

/// Parses `url`. Throws ConfigError (option "url") naming what is wrong: unknown scheme, empty
/// host, unterminated IPv6 bracket, port that is not a number in 1..65535, db that is not a
/// non-negative integer, bad percent escape, unknown query parameter. The message quotes the
/// URL with its password replaced by "***". Pure function; thread-safe.
ParsedRedisUrl parse_redis_url(std::string_view url);

/// `url` with the password (userinfo and ?password=) replaced by "***", for logs and errors.
/// Works on malformed URLs too (best effort, never echoes what looks like a password).
std::string redact_redis_url(std::string_view url);

}  // namespace streamll
