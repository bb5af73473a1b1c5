// Redis URL parsing. Every error quotes the URL through redact_redis_url(), so a password never
// reaches an exception message.

#include "streamll/redis/url.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "hex.hpp"
#include "streamll/errors.hpp"

namespace streamll {
namespace {

constexpr std::string_view kRedacted = "***";
constexpr const char* kSchemes =
    "redis://, rediss://, unix://, redis+sentinel://, rediss+sentinel://, redis+cluster:// or "
    "rediss+cluster://";
constexpr std::uint16_t kSentinelPort = 26379;

[[noreturn]] void fail(std::string_view url, const std::string& what) {
  throw ConfigError("url", what + " in '" + redact_redis_url(url) + "'");
}

using streamll::detail::hex_value;

std::string percent_decode(std::string_view in, std::string_view url, const char* part) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    const int hi = i + 1 < in.size() ? hex_value(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) fail(url, std::string("bad percent escape in the ") + part);
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Strictly digits, no sign, no overflow past `max`.
bool parse_bounded_uint(std::string_view s, long long max, long long& out) {
  if (s.empty() || s.size() > 18) return false;
  long long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

int parse_db(std::string_view s, std::string_view url) {
  long long v = 0;
  if (!parse_bounded_uint(s, 2147483647LL, v)) {
    fail(url, "database '" + std::string(s) + "' is not a non-negative integer");
  }
  return static_cast<int>(v);
}

// userinfo is "user[:password]" (either may be empty).
void parse_userinfo(std::string_view userinfo, std::string_view url, ParsedRedisUrl& out) {
  const auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    out.username = percent_decode(userinfo, url, "user name");
  } else {
    out.username = percent_decode(userinfo.substr(0, colon), url, "user name");
    out.password = percent_decode(userinfo.substr(colon + 1), url, "password");
  }
}

void parse_query(std::string_view query, std::string_view url, ParsedRedisUrl& out) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (key == "db") {
      out.db = parse_db(percent_decode(value, url, "db parameter"), url);
    } else if (key == "password") {
      out.password = percent_decode(value, url, "password");
    } else if (key == "username") {
      out.username = percent_decode(value, url, "user name");
    } else {
      fail(url, "unknown query parameter '" + std::string(key) +
                    "' (supported: db, username, password)");
    }
  }
}

void parse_host_port(std::string_view hostport, std::string_view url, ParsedRedisUrl& out) {
  std::string_view port_text;
  bool has_port = false;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) fail(url, "unterminated '[' in the IPv6 host");
    // RFC 6874 zone ids arrive as %25: decode so getaddrinfo sees "fe80::1%eth0".
    out.host = percent_decode(hostport.substr(1, close - 1), url, "IPv6 host");
    const std::string_view rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') fail(url, "unexpected characters after the IPv6 host");
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
      if (hostport.find(':') != colon) {
        fail(url, "an IPv6 host must be in brackets, e.g. redis://[::1]:6379");
      }
      port_text = hostport.substr(colon + 1);
      has_port = true;
      hostport = hostport.substr(0, colon);
    }
    out.host = std::string(hostport);
  }
  if (out.host.empty()) fail(url, "empty host");
  if (has_port) {
    long long port = 0;
    if (!parse_bounded_uint(port_text, 65535, port) || port == 0) {
      fail(url, "port '" + std::string(port_text) + "' is not a number in 1..65535");
    }
    out.port = static_cast<std::uint16_t>(port);
  }
}

// "h1:p1,h2,[::1]:p3": every node; host and port of `out` are the first one's.
void parse_node_list(std::string_view authority, std::string_view url, ParsedRedisUrl& out) {
  const std::uint16_t default_port =
      out.deployment == RedisDeployment::sentinel ? kSentinelPort : std::uint16_t{6379};
  while (true) {
    const auto comma = authority.find(',');
    ParsedRedisUrl node;
    node.port = default_port;
    parse_host_port(authority.substr(0, comma), url, node);
    out.nodes.push_back(RedisEndpoint{node.host, node.port, false});
    if (comma == std::string_view::npos) break;
    authority = authority.substr(comma + 1);
  }
  out.host = out.nodes.front().host;
  out.port = out.nodes.front().port;
}

// sentinel: "master_name[/db]"; cluster: "" or "0".
void parse_topology_path(std::string_view path, std::string_view url, ParsedRedisUrl& out) {
  if (out.deployment == RedisDeployment::cluster) {
    if (!path.empty() && parse_db(path, url) != 0) {
      fail(url, "a Redis Cluster has only database 0");
    }
    return;
  }
  const auto slash = path.find('/');
  out.master_name = percent_decode(path.substr(0, slash), url, "master name");
  if (out.master_name.empty()) {
    fail(url, "missing the master's name (redis+sentinel://host:26379/mymaster)");
  }
  if (slash != std::string_view::npos && slash + 1 < path.size()) {
    out.db = parse_db(path.substr(slash + 1), url);
  }
}

}  // namespace

std::string_view to_string(RedisDeployment deployment) noexcept {
  switch (deployment) {
    case RedisDeployment::standalone:
      return "standalone";
    case RedisDeployment::sentinel:
      return "sentinel";
    case RedisDeployment::cluster:
      return "cluster";
  }
  return "standalone";
}

ParsedRedisUrl parse_redis_url(std::string_view url) {
  ParsedRedisUrl out;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    fail(url, std::string("missing scheme (expected ") + kSchemes + ")");
  }
  std::string_view scheme = url.substr(0, scheme_end);
  std::string_view rest = url.substr(scheme_end + 3);
  const bool is_unix = scheme == "unix";
  if (const auto plus = scheme.find('+'); plus != std::string_view::npos) {
    const std::string_view topology = scheme.substr(plus + 1);
    if (topology == "sentinel") {
      out.deployment = RedisDeployment::sentinel;
    } else if (topology == "cluster") {
      out.deployment = RedisDeployment::cluster;
    } else {
      fail(url, "unknown scheme '" + std::string(scheme) + "' (expected " + kSchemes + ")");
    }
    scheme = scheme.substr(0, plus);
  }
  if (scheme == "rediss") {
    out.tls = true;
  } else if ((scheme != "redis" && !is_unix) ||
             (is_unix && out.deployment != RedisDeployment::standalone)) {
    fail(url, "unknown scheme '" + std::string(url.substr(0, scheme_end)) + "' (expected " +
                  kSchemes + ")");
  }

  // The userinfo comes first, before any '?', '#' or '/' is taken as a delimiter: a password
  // with a raw one of those would otherwise be split there and quoted in an error. Raw ones are
  // refused (RFC 3986 wants them percent-encoded) with a message that quotes nothing of it.
  // redis://: the userinfo ends at the last '@' (raw '@' in passwords is common in practice);
  // unix://: at the first "@/", where the absolute socket path starts.
  if (const auto at =
          is_unix ? (rest.empty() || rest.front() == '/' ? std::string_view::npos : rest.find("@/"))
                  : rest.rfind('@');
      at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    if (userinfo.find_first_of("/?#") != std::string_view::npos) {
      fail(url,
           "the user name or password contains a raw '/', '?' or '#' (or a raw '@' follows "
           "them): percent-encode them as %2F, %3F, %23, %40");
    }
    parse_userinfo(userinfo, url, out);
    rest = rest.substr(at + 1);
  }

  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
    fail(url, "fragments ('#') are not allowed");
  }
  if (query.find('#') != std::string_view::npos) fail(url, "fragments ('#') are not allowed");

  if (is_unix) {
    if (rest.empty() || rest.front() != '/') {
      fail(url, rest.find('/') == std::string_view::npos
                    ? "unix:// URL without an absolute socket path"
                    : "unix:// URL must be unix:///path/to/redis.sock");
    }
    out.socket_path = std::string(rest);
    if (out.socket_path.size() < 2) fail(url, "empty unix socket path");
  } else {
    const auto path_start = rest.find('/');
    const std::string_view authority = rest.substr(0, path_start);
    const std::string_view path =
        path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start + 1);
    if (out.deployment == RedisDeployment::standalone) {
      if (authority.find(',') != std::string_view::npos) {
        fail(url, "several hosts are only allowed in redis+sentinel:// and redis+cluster:// URLs");
      }
      parse_host_port(authority, url, out);
      if (!path.empty()) out.db = parse_db(path, url);
    } else {
      parse_node_list(authority, url, out);
      parse_topology_path(path, url, out);
    }
  }
  parse_query(query, url, out);
  return out;
}

std::string redact_redis_url(std::string_view url) {
  // Character ranges to hide, then one pass that replaces each by "***". Generous on purpose:
  // whatever could be a password goes, even from a URL too malformed to parse.
  std::vector<std::pair<std::size_t, std::size_t>> hidden;
  const auto scheme_end = url.find("://");
  const std::size_t begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const bool is_unix = url.substr(0, begin).rfind("unix", 0) == 0;
  // The userinfo's password: from its first ':' to where the userinfo ends, found as
  // parse_redis_url finds it (last '@'; for unix:// the last "@/"), so a password holding any
  // delimiter is covered whole.
  std::size_t userinfo_end = std::string_view::npos;
  if (begin < url.size()) {
    if (is_unix) {
      if (url[begin] != '/') userinfo_end = url.rfind("@/");
    } else {
      userinfo_end = url.rfind('@');
    }
  }
  if (userinfo_end != std::string_view::npos && userinfo_end >= begin) {
    const auto colon = url.find(':', begin);
    if (colon != std::string_view::npos && colon < userinfo_end) {
      hidden.emplace_back(colon + 1, userinfo_end);
    }
  }
  // Every password= value, wherever it is (query, or a query swallowed by a bad userinfo).
  for (auto key = url.find("password="); key != std::string_view::npos;
       key = url.find("password=", key + 1)) {
    const auto value = key + 9;
    const auto end = url.find_first_of("&#", value);
    hidden.emplace_back(value, end == std::string_view::npos ? url.size() : end);
  }
  std::sort(hidden.begin(), hidden.end());
  std::string out;
  out.reserve(url.size());
  std::size_t at = 0;
  for (const auto& [first, end] : hidden) {
    if (end <= at) continue;  // inside a range already hidden
    if (first > at) {
      out.append(url.substr(at, first - at));
    }
    if (first >= at || out.size() < 3 || out.compare(out.size() - 3, 3, kRedacted) != 0) {
      out.append(kRedacted);
    }
    at = end;
  }
  out.append(url.substr(std::min(at, url.size())));
  return out;
}

}  // namespace streamll
