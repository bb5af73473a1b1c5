#pragma once
// What a GroupConsumer or StreamReader is built on instead of sockets and the real clock: fakes
// and a manual clock for the library's tests (tests/support/injected.hpp). Not installed:
// RedisTransport and ClockSource are internals, so the public header only names the seams.

#include <cstddef>
#include <functional>
#include <memory>

#include "streamll/redis/endpoint.hpp"
#include "support/clock.hpp"

namespace streamll {

namespace redis {
class RedisTransport;
}  // namespace redis

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
struct ConsumerSeams {
  ConsumerTransportFactory make_transport;
  ConsumerEndpointTransportFactory make_endpoint_transport;
  const ClockSource* clock = &ClockSource::real();  // outlives the consumer
};

}  // namespace detail
}  // namespace streamll
