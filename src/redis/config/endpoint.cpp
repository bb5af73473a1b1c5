#include "streamll/redis/endpoint.hpp"

#include <string>

#include "streamll/errors.hpp"

namespace streamll {

std::string RedisEndpoint::to_string() const {
  const std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

RedisEndpoint parse_redis_endpoint(std::string_view text, std::uint16_t default_port,
                                   const char* option) {
  const auto bad = [&](const std::string& why) {
    throw ConfigError(option, "'" + std::string(text) + "' " + why);
  };
  RedisEndpoint out;
  out.port = default_port;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) bad("has an unterminated '['");
    out.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad("has unexpected characters after the IPv6 address");
      port_text = rest.substr(1);
      if (port_text.empty()) bad("has an empty port");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.find(':') != colon) bad("is an IPv6 address without brackets ([::1]:26379)");
      port_text = text.substr(colon + 1);
      if (port_text.empty()) bad("has an empty port");
      text = text.substr(0, colon);
    }
    out.host = std::string(text);
  }
  if (out.host.empty()) bad("has an empty host");
  if (!port_text.empty()) {
    unsigned long port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) bad("has a port that is not a number in 1..65535");
      port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port == 0 || port > 65535) bad("has a port that is not a number in 1..65535");
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

}  // namespace streamll
