// ConsumerOptions: environment, validation; the small value types of consumer.hpp.

#include <algorithm>
#include <cstdlib>

#include "redis/config/env_list.hpp"
#include "redis/consumer/consumer_core.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "redis/routing/shard_layout.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/consumer.hpp"

namespace streamll {
namespace {

void require_positive(const char* option, std::chrono::milliseconds value) {
  if (value.count() <= 0) {
    throw ConfigError(option, "must be positive, got " + std::to_string(value.count()) + "ms");
  }
}

void require_start_id(const char* option, const std::string& id) {
  if (!redis::is_start_id(id)) {
    throw ConfigError(option,
                      "'" + id + "' is not \"0\", \"$\" or a stream entry id like 1700000000000-0");
  }
}

}  // namespace

std::string_view to_string(DecodeFailureKind kind) noexcept {
  switch (kind) {
    case DecodeFailureKind::missing_event_field:
      return "missing_event_field";
    case DecodeFailureKind::malformed_json:
      return "malformed_json";
    case DecodeFailureKind::invalid_event:
      return "invalid_event";
  }
  return "invalid_event";
}

void DecodeFailureCounts::add(DecodeFailureKind kind) noexcept {
  switch (kind) {
    case DecodeFailureKind::missing_event_field:
      ++missing_event_field;
      break;
    case DecodeFailureKind::malformed_json:
      ++malformed_json;
      break;
    case DecodeFailureKind::invalid_event:
      ++invalid_event;
      break;
  }
}

ConsumerOptions ConsumerOptions::from_env(const EnvLookup& env) {
  ConsumerOptions o;
  o.connection = RedisConnectionOptions::from_env(env);
  auto get = [&env](const char* name) { return redis::read_env(env, name); };
  if (auto v = get("STREAMLL_STREAM_KEY")) o.stream_key = *v;
  if (auto v = get("STREAMLL_TOKEN_STREAM_KEY")) o.token_stream_key = *v;
  if (auto v = get("STREAMLL_CONSUMER_GROUP")) o.group = *v;
  if (auto v = get("STREAMLL_CONSUMER_NAME")) o.consumer_name = *v;
  redis::read_shard_env(env, o.shard_urls, o.shard_count);
  return o;
}

void ConsumerOptions::validate() const {
  connection.validate();
  if (stream_key.empty()) throw ConfigError("stream_key", "must not be empty");
  if (token_stream_key == stream_key) {
    throw ConfigError("token_stream_key", "must differ from stream_key ('" + stream_key +
                                              "'); leave it empty to read stream_key only");
  }
  if (batch_size == 0) throw ConfigError("batch_size", "must be at least 1, got 0");
  require_positive("block", block);
  require_positive("claim_interval", claim_interval);
  require_positive("reconnect_initial_delay", reconnect_initial_delay);
  require_positive("reconnect_max_delay", reconnect_max_delay);
  if (claim_min_idle.count() < 0) {
    throw ConfigError("claim_min_idle",
                      "must not be negative, got " + std::to_string(claim_min_idle.count()) + "ms");
  }
  require_start_id("group_start_id", group_start_id);
  require_start_id("start_id", start_id);
  redis::validate_shard_layout(shard_urls, shard_count, /*required=*/false);
  if (!sharded()) return;
  for (std::size_t i = 0; i < shards(); ++i) {
    try {
      redis::options_of_shard(*this, i).connection.validate();
    } catch (const ConfigError& e) {
      redis::rethrow_for_shard(e, i);
    }
  }
}

std::size_t ConsumerOptions::shards() const noexcept {
  return std::max<std::size_t>(redis::shard_total(shard_urls, shard_count), 1);
}

namespace redis {

ConsumerOptions options_of_shard(const ConsumerOptions& options, std::size_t index) {
  if (!options.sharded()) return options;
  ConsumerOptions shard = options_for_shard<ConsumerOptions>(
      options, options.shard_urls, options.stream_key, index, &ConsumerOptions::stream_key);
  if (!options.token_stream_key.empty()) {
    shard.token_stream_key = shard_stream_key_of(options.token_stream_key, index);
  }
  shard.shard_urls.clear();
  shard.shard_count = 0;
  return shard;
}

ConsumerOptions options_of_stream(const ConsumerOptions& options, std::size_t index) {
  const std::size_t per_shard = options.streams_per_shard();
  ConsumerOptions stream = options_of_shard(options, index / per_shard);
  if (index % per_shard == 1) stream.stream_key = stream.token_stream_key;
  stream.token_stream_key.clear();
  return stream;
}

}  // namespace redis

}  // namespace streamll
