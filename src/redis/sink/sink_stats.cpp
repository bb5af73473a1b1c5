// RedisSinkStats from the pipeline's counts and the engine's own (see sink_stats.hpp).

#include "redis/sink/sink_stats.hpp"

#include "redis/sink/redis_engine.hpp"

namespace streamll::redis {

RedisSinkStats read_sink_stats(const detail::Pipeline& p, const RedisEngine& engine,
                               OverflowStrategy overflow) {
  RedisSinkStats out;
  if (p.forked()) {
    // The child's own view: what it was handed (the counters above are the parent's).
    out.dropped_after_fork = p.dropped_after_fork();
    return out;
  }
  // RedisSink's own buckets: `enqueued` counts accepted events only, and a refusal under
  // drop_oldest (every slot in flight) is dropped_newest: the new event is the one lost.
  const auto [shared, buffer] = p.snapshot();
  out.enqueued = buffer.accepted + buffer.staged;
  out.dropped_oldest = buffer.evicted_oldest;
  if (overflow == OverflowStrategy::raise_error) {
    out.dropped_raise_error = buffer.rejected;
  } else {
    out.dropped_newest = buffer.rejected;
  }
  out.dropped_on_shutdown = shared.dropped_on_shutdown;
  out.delivered = shared.delivered;
  out.failed = shared.failed;
  engine.sink_counters().read_into(out);
  out.buffered = shared.buffered;
  out.in_flight = shared.in_flight;
  out.buffered_compacted = p.ring().waiting_before(engine.compacted_through());
  out.breaker_state = shared.breaker_state;
  out.redaction_failures = shared.redaction_failures;
  engine.read_errors(out);
  return out;
}

}  // namespace streamll::redis
