#pragma once
// Sinks and consumers built on other transports and another clock: fakes instead of sockets
// and a manual clock instead of waiting, for the library's tests; and RedisSinks told which
// shard they serve, for ShardedRedisSink. Not installed: the types involved (RedisTransport,
// ClockSource) are internals, so the public headers only name the seams and befriend Injected.

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

#include "streamll/redis/consumer.hpp"
#include "streamll/redis/endpoint.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"
#include "support/clock.hpp"

namespace streamll {

namespace redis {
class RedisTransport;
}  // namespace redis

/// Called on the flusher thread for every connection attempt of a RedisSink.
using RedisSinkTransportFactory = std::function<std::unique_ptr<redis::RedisTransport>()>;
/// Like RedisSinkTransportFactory, told which server each connection is for (a sentinel, the
/// master it named, a cluster node), so that a fake can play several servers.
using RedisSinkEndpointTransportFactory =
    std::function<std::unique_ptr<redis::RedisTransport>(const RedisEndpoint& endpoint)>;
/// Every shard's sink of a ShardedRedisSink: told the shard's index and each connection's server.
using ShardTransportFactory = std::function<std::unique_ptr<redis::RedisTransport>(
    std::size_t shard, const RedisEndpoint& endpoint)>;
/// Called for every connection attempt, on the consuming thread; in a sharded consumer, a shard
/// reconnecting after a timeout calls it on a thread of its own, possibly while other shards
/// call it too, so it must then be thread-safe.
using ConsumerTransportFactory = std::function<std::unique_ptr<redis::RedisTransport>()>;
/// Like ConsumerTransportFactory, told which shard (0 when not sharded) and which server (a
/// sentinel, a cluster node, a master) each connection is for.
using ConsumerEndpointTransportFactory = std::function<std::unique_ptr<redis::RedisTransport>(
    std::size_t shard, const RedisEndpoint& endpoint)>;

namespace detail {

/// What replaces the network and the clock. No factory set: real sockets.
struct RedisSinkSeams {
  RedisSinkTransportFactory make_transport;
  RedisSinkEndpointTransportFactory make_endpoint_transport;
  const ClockSource* clock = &ClockSource::real();  // drives breaker and backoff; outlives the sink
};

struct ShardedRedisSinkSeams {
  ShardTransportFactory make_transport;
  const ClockSource* clock = &ClockSource::real();
};

struct ConsumerSeams {
  ConsumerTransportFactory make_transport;
  ConsumerEndpointTransportFactory make_endpoint_transport;
  const ClockSource* clock = &ClockSource::real();  // outlives the consumer
};

/// Builds sinks and consumers on the given seams (the only way in: their constructors taking
/// seams are private). Each returns by value: C++17 constructs the result in place.
struct Injected {
  static RedisSink redis_sink(RedisSinkOptions options, RedisSinkTransportFactory make_transport,
                              const ClockSource& clock) {
    return RedisSink(std::move(options), RedisSinkSeams{std::move(make_transport), {}, &clock});
  }
  static RedisSink redis_sink(RedisSinkOptions options,
                              RedisSinkEndpointTransportFactory make_transport,
                              const ClockSource& clock) {
    return RedisSink(std::move(options), RedisSinkSeams{{}, std::move(make_transport), &clock});
  }
  static ShardedRedisSink sharded_redis_sink(ShardedRedisSinkOptions options,
                                             ShardTransportFactory make_transport,
                                             const ClockSource& clock) {
    return ShardedRedisSink(std::move(options),
                            ShardedRedisSinkSeams{std::move(make_transport), &clock});
  }
  static GroupConsumer group_consumer(ConsumerOptions options,
                                      ConsumerTransportFactory make_transport,
                                      const ClockSource& clock) {
    return GroupConsumer(std::move(options), ConsumerSeams{std::move(make_transport), {}, &clock});
  }
  static GroupConsumer group_consumer(ConsumerOptions options,
                                      ConsumerEndpointTransportFactory make_transport,
                                      const ClockSource& clock) {
    return GroupConsumer(std::move(options), ConsumerSeams{{}, std::move(make_transport), &clock});
  }
  static StreamReader stream_reader(ConsumerOptions options,
                                    ConsumerTransportFactory make_transport,
                                    const ClockSource& clock) {
    return StreamReader(std::move(options), ConsumerSeams{std::move(make_transport), {}, &clock});
  }
  static StreamReader stream_reader(ConsumerOptions options,
                                    ConsumerEndpointTransportFactory make_transport,
                                    const ClockSource& clock) {
    return StreamReader(std::move(options), ConsumerSeams{{}, std::move(make_transport), &clock});
  }
  /// A RedisSink on the heap (ShardedRedisSink keeps its shards so).
  static std::unique_ptr<RedisSink> new_redis_sink(RedisSinkOptions options, RedisSinkSeams seams) {
    return std::unique_ptr<RedisSink>(new RedisSink(std::move(options), std::move(seams)));
  }
};

}  // namespace detail
}  // namespace streamll
