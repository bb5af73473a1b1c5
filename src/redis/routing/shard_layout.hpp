#pragma once
// Internal: how a sharded deployment is laid out, in the one form the ShardedRedisSink, the
// consumers, the analytics and the CLI all read: shard i's stream is
// shard_stream_key(stream_key, i), on shard_urls[i] when URLs are given (one Redis each), else
// on the one deployment the options name (shard_count streams, typically over a cluster's
// slots). Kept in one place so a producer and its readers can never disagree.

#include <cstddef>
#include <string>
#include <vector>

#include "streamll/errors.hpp"
#include "streamll/redis/options.hpp"

namespace streamll::redis {

/// More shards than this is a configuration mistake, not a deployment.
constexpr std::size_t kMaxShards = 1024;

/// How many shards the two settings describe: shard_urls' size when given, else shard_count;
/// 0 means "not sharded".
std::size_t shard_total(const std::vector<std::string>& shard_urls,
                        std::size_t shard_count) noexcept;

/// Throws ConfigError ("shard_count") when shard_count disagrees with shard_urls, when there
/// are more than kMaxShards shards, or, with `required`, when there are none.
void validate_shard_layout(const std::vector<std::string>& shard_urls, std::size_t shard_count,
                           bool required);

/// STREAMLL_SHARD_URLS (comma-separated; the host lists of redis+sentinel:// and
/// redis+cluster:// URLs are kept whole) and STREAMLL_SHARD_COUNT, when set. Throws ConfigError
/// naming the variable for a malformed count.
void read_shard_env(const EnvLookup& lookup, std::vector<std::string>& shard_urls,
                    std::size_t& shard_count);

/// "<stream_key>_shard_<index>" (what streamll::shard_stream_key returns).
std::string shard_stream_key_of(const std::string& stream_key, std::size_t index);

/// `options` aimed at shard `index`: its URL (when shard_urls are given) and its stream key.
/// Credentials, TLS, timeouts and everything else stay as they are.
template <typename Options>
Options options_for_shard(const Options& options, const std::vector<std::string>& shard_urls,
                          const std::string& stream_key, std::size_t index,
                          std::string Options::*key_field) {
  Options shard = options;
  if (!shard_urls.empty()) shard.connection.url = shard_urls[index];
  shard.*key_field = shard_stream_key_of(stream_key, index);
  return shard;
}

/// `error` from validating shard `index`'s options, re-thrown with "shard <index>: " in front
/// of its message (the option name is kept).
[[noreturn]] void rethrow_for_shard(const ConfigError& error, std::size_t index);

}  // namespace streamll::redis
