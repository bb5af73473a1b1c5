#pragma once
// Internal: RedisSinkStats from a sink's pipeline and engine. RedisSink::stats() reports it, and
// the engine's heartbeat publishes it from the flusher thread. A pure read, any thread.

#include "pipeline/pipeline.hpp"
#include "streamll/sinks/redis_sink.hpp"

namespace streamll::redis {

class RedisEngine;

RedisSinkStats read_sink_stats(const detail::Pipeline& pipeline, const RedisEngine& engine,
                               OverflowStrategy overflow);

}  // namespace streamll::redis
