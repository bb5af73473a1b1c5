#pragma once
// Sinks and consumers built on other transports and another clock: fakes instead of sockets and
// a manual clock instead of waiting, for the library's tests. Test support, not a library file:
// the public headers befriend detail::Injected, and the seams it fills are internals
// (src/redis/sink/sink_seams.hpp, src/redis/consumer/consumer_seams.hpp).

#include <utility>

#include "redis/consumer/consumer_seams.hpp"
#include "redis/sink/sink_seams.hpp"
#include "streamll/redis/consumer.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"
#include "support/clock.hpp"

namespace streamll {
namespace detail {

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
};

}  // namespace detail
}  // namespace streamll
