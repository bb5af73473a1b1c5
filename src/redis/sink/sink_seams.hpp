#pragma once
// What a RedisSink or ShardedRedisSink is built on instead of sockets and the real clock: fakes
// and a manual clock for the library's tests (tests/support/injected.hpp), and each shard's
// connections for ShardedRedisSink. Not installed: RedisTransport and ClockSource are internals,
// so the public headers only name these seams.

#include <cstddef>
#include <functional>
#include <memory>

#include "streamll/redis/endpoint.hpp"
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

}  // namespace detail
}  // namespace streamll
