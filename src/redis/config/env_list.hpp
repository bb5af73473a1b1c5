#pragma once
// Internal: reading one environment variable through an EnvLookup, and splitting the
// comma-separated lists some of them hold (REDIS_SENTINELS, STREAMLL_SHARD_URLS).

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/redis/options.hpp"

namespace streamll::redis {

/// The variable's value through `lookup` (the process environment when empty); nullopt when
/// unset or empty.
inline std::optional<std::string> read_env(const EnvLookup& lookup, const char* name) {
  std::optional<std::string> value;
  if (lookup) {
    value = lookup(name);
  } else if (const char* raw = std::getenv(name)) {
    value = std::string(raw);
  }
  if (value && value->empty()) value.reset();
  return value;
}

/// "a, b,c" -> {"a", "b", "c"}: split at commas, spaces around each item trimmed; empty items
/// kept (as "") so the caller can reject them.
inline std::vector<std::string> split_comma_list(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    const auto comma = text.find(',');
    std::string item(text.substr(0, comma));
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    text = text.substr(comma + 1);
  }
  return out;
}

}  // namespace streamll::redis
