#pragma once
// How events are spread over shards: the hash that picks an execution's shard and the shards'
// stream keys. Shared by ShardedRedisSink (sinks/sharded_redis_sink.hpp), the sharded consumers
// and analytics, so every producer and reader of one set of shards agrees.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace streamll {

/// How an execution's shard is chosen. Every producer writing to one set of shards must use the
/// same one, or an execution's events would be split over shards.
enum class ShardHash : std::uint8_t {
  /// The guide's Python producers' rule: the MD5 digest of the execution id (UTF-8) read as a
  /// 128-bit big-endian number, modulo the shard count, i.e.
  /// int(hashlib.md5(execution_id.encode()).hexdigest(), 16) % shards.
  md5,
  /// FNV-1a (64-bit) of the execution id, modulo the shard count: a few nanoseconds on the
  /// emitting thread instead of about 200 (OpenSSL's MD5 of a UUID), for deployments whose
  /// producers are all C++.
  fnv1a,
};

std::string_view to_string(ShardHash hash) noexcept;

/// The shard (0..shards-1) an execution's events go to under `hash` (see ShardHash). Stable
/// across processes and runs, and across versions since the one after 0.1.0 (whose default was
/// fnv1a), so every producer of a deployment agrees. 0 for 0 or 1
/// shards, and for ShardHash::md5 where OpenSSL offers no MD5 (which
/// ShardedRedisSinkOptions::validate() refuses).
std::size_t shard_for_execution(std::string_view execution_id, std::size_t shards,
                                ShardHash hash = ShardHash::md5) noexcept;

/// The stream key of shard `index`: "<stream_key>_shard_<index>", as in the guide.
std::string shard_stream_key(const std::string& stream_key, std::size_t index);

}  // namespace streamll
