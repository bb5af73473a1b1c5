#pragma once
// ShardedRedisSink: the guide's "Load Balancing" ShardedRedisSink, built in. Events are spread
// over several shards by a stable hash of their execution_id (by default the guide's MD5, so
// Python and C++ producers agree), so one execution's events stay together (one shard, one
// stream) and in order. Each shard is a RedisSink of its own (its own
// buffer, breaker, flusher thread and connection): a shard whose Redis is down buffers only its
// own events while the others keep delivering.
//
//   streamll::ShardedRedisSinkOptions o;           // every shard's RedisSinkOptions + shards
//   o.shard_urls = {"redis://redis1:6379", "redis://redis2:6379", "redis://redis3:6379"};
//   o.sink.stream_key = "ml_events";               // shard i writes "ml_events_shard_<i>"
//   auto sink = std::make_shared<streamll::ShardedRedisSink>(o);
//
// Or over a Redis Cluster: o.sink.connection.url = "redis+cluster://node1:6379";
// o.shard_count = 6; each shard's stream key hashes to its own slot, so the shards spread over
// the cluster's masters.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/redis/options.hpp"
#include "streamll/redis/sharding.hpp"
#include "streamll/sink.hpp"
#include "streamll/sinks/redis_sink.hpp"

namespace streamll {

namespace detail {
struct Injected;
struct ShardedRedisSinkSeams;
}  // namespace detail

struct ShardedRedisSinkOptions {
  /// Every shard's RedisSink options; shard i writes "<sink.stream_key>_shard_<i>".
  RedisSinkOptions sink{};
  /// One shard per URL, each its own Redis (sink.connection.url is then not used; any URL form,
  /// redis+sentinel:// included). Credentials follow the usual precedence (explicit
  /// password/username win over each URL's); everything else (TLS, timeouts, buffer, breaker,
  /// durable acknowledgements, ...) comes from `sink` and applies per shard:
  /// buffer_size events per shard.
  std::vector<std::string> shard_urls{};
  /// Without shard_urls: this many shards on the one deployment `sink.connection` names
  /// (usually a Redis Cluster, where the shards' keys spread over the slots and so over the
  /// masters). With shard_urls: 0, or their number.
  std::size_t shard_count = 0;
  /// How an execution's shard is chosen (see ShardHash).
  ShardHash shard_hash = ShardHash::md5;

  /// RedisSinkOptions::from_env() plus STREAMLL_SHARD_URLS (comma-separated URLs),
  /// STREAMLL_SHARD_COUNT and STREAMLL_SHARD_HASH (md5 or fnv1a).
  static ShardedRedisSinkOptions from_env(const EnvLookup& env = {});

  /// RedisSinkOptions::validate() for every shard, plus: no shard at all, shard_count
  /// disagreeing with shard_urls, more than 1024 shards, ShardHash::md5 where OpenSSL offers no
  /// MD5 (a FIPS-only configuration).
  void validate() const;
};

class ShardedRedisSink : public Sink {
 public:
  /// Validates (ConfigError naming the option, with the shard's index for per-shard problems)
  /// and starts one RedisSink per shard.
  explicit ShardedRedisSink(ShardedRedisSinkOptions options);

  /// shutdown(shutdown_timeout): bounded, never throws.
  ~ShardedRedisSink() override;
  ShardedRedisSink(const ShardedRedisSink&) = delete;
  ShardedRedisSink& operator=(const ShardedRedisSink&) = delete;

  /// Hands the event to its execution's shard (hash of execution_id; events without a
  /// context all go to the shard of ""). No I/O; thread-safe; raise_error throws as the
  /// shard's RedisSink does.
  void handle(const Event& event) override;
  void handle_owned(Event&& event) override;

  /// Every shard flushed, all within `timeout` (the shards deliver in parallel; this waits for
  /// each in turn with what is left of the time). True when every shard delivered everything.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Shuts every shard down in parallel, each within `timeout`. True when no shard left
  /// anything behind. Idempotent.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "sharded_redis"; }

  std::size_t shard_count() const noexcept { return shards_.size(); }
  /// Which shard an execution's events go to (shard_for_execution with this sink's count and
  /// shard_hash).
  std::size_t shard_of(std::string_view execution_id) const noexcept;
  /// The shard's own sink (its options, stats, breaker, reset_circuit_breaker()).
  RedisSink& shard(std::size_t index) { return *shards_.at(index); }
  const RedisSink& shard(std::size_t index) const { return *shards_.at(index); }

  /// Per shard, in shard order.
  std::vector<RedisSinkStats> shard_stats() const;
  /// Summed over the shards; connected only when every shard is; breaker_state the worst
  /// (open > half_open > closed); last_error and server those of the shard whose error is
  /// the most recent; last_flush_latency the largest.
  RedisSinkStats stats() const;
  /// Events buffered over all shards.
  std::size_t buffered() const noexcept;

 private:
  // The library's tests build sinks on fake transports and clocks through detail::Injected.
  friend struct detail::Injected;
  ShardedRedisSink(ShardedRedisSinkOptions options, detail::ShardedRedisSinkSeams seams);

  std::vector<std::unique_ptr<RedisSink>> shards_;
  ShardHash shard_hash_;
  std::chrono::milliseconds shutdown_timeout_;
};

}  // namespace streamll
