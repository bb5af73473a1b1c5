#pragma once
// Internal: list_producers() with its transports and its per-shard cap substituted (tests).

#include <cstddef>

#include "redis/analytics/analytics_internal.hpp"
#include "streamll/redis/producers.hpp"

namespace streamll::redis {

/// How many index members list_producers() reads a shard.
constexpr std::size_t kMaxProducersPerShard = 10000;

/// list_producers(source), reading at most `max_per_shard` index members a shard; `make`
/// substitutes the transports (empty: the real ones).
ProducersReport list_producers(const ShardedStream& source, const ShardTransportMaker& make,
                               std::size_t max_per_shard = kMaxProducersPerShard);

}  // namespace streamll::redis
