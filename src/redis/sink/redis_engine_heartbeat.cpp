// The Redis engine's producer heartbeats, on the flusher thread: written between batches on the
// connection the events use (see heartbeat.hpp for what is written).

#include "redis/sink/redis_engine.hpp"
#include "redis/sink/sink_stats.hpp"

namespace streamll::redis {

// One attempt per interval, whatever happens: a failure is counted and waits for the next one.
// While the breaker is open the attempt may connect (that is how a producer reports its open
// breaker); the breaker does not count it, its view is of event writes. A heartbeat that loses
// the connection closes it like any failed write; the next batch connects again.
void RedisEngine::send_heartbeat() {
  const bool breaker_closed = breaker().state() == BreakerState::closed;
  heartbeat.write(read_sink_stats(pipeline, *this, options.buffer_overflow_strategy),
                  heartbeat_commands);
  if (!ensure_connected(breaker_closed)) {
    heartbeat_failed("no connection");
    return;
  }
  try {
    transport->execute(heartbeat_commands, heartbeat_replies,
                       io_deadline(options.connection.socket_timeout));
  } catch (const std::exception& e) {
    close_transport();
    connector.connection_lost(e.what());
    heartbeat_failed(e.what());
    return;
  }
  const std::string refused = Heartbeat::refusal(heartbeat_replies);
  if (!refused.empty()) {
    heartbeat_failed("refused: " + refused);
    return;
  }
  SinkCounters::add(counters.heartbeats_sent);
}

// Logged rate-limited, and kept out of last_error: that one is about events.
void RedisEngine::heartbeat_failed(const std::string& why) {
  SinkCounters::add(counters.heartbeats_failed);
  log.log(spdlog::level::warn, "producer heartbeat to '" + heartbeat.key() + "' failed (" + why +
                                   "); next try in " +
                                   std::to_string(heartbeat.interval().count()) + " ms");
}

}  // namespace streamll::redis
