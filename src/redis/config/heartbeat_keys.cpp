// The heartbeat keys' layout (streamll/redis/heartbeats.hpp).

#include "streamll/redis/heartbeats.hpp"

namespace streamll {
namespace {

// The part every heartbeat key of `stream` starts with: the stream key itself when it carries
// a hash tag (Redis hashes only the tag, so the suffixes keep the slot), else the stream key as
// the tag. A key with braces but no usable tag ("a{}b") keeps its name; on a Cluster such a key
// may hash elsewhere, and the sink then writes no heartbeats (RedisEngine's constructor).
std::string key_base(std::string_view stream) {
  const auto open = stream.find('{');
  if (open != std::string_view::npos) {
    const auto close = stream.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) return std::string(stream);
  }
  if (stream.find_first_of("{}") == std::string_view::npos) {
    return "{" + std::string(stream) + "}";
  }
  return std::string(stream);
}

}  // namespace

std::string producers_index_key(std::string_view stream_key) {
  return key_base(stream_key) + ":producers";
}

std::string producer_heartbeat_key(std::string_view stream_key, std::string_view producer_id) {
  return key_base(stream_key) + ":producer:" + std::string(producer_id);
}

}  // namespace streamll
