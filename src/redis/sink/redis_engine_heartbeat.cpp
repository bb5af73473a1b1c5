// The Redis engine's producer heartbeats, on the flusher thread: written between batches on the
// connection the events use (see heartbeat.hpp for what is written and when).
//
// A heartbeat has no effect on how events are delivered: its failures never count for the
// breaker, never go into last_error or transport_errors, and log apart from the events' errors
// (one warning when they start failing, debug lines while they go on, one line when they work
// again). It may connect while the breaker is open (that is how a producer reports its open
// breaker), spaced by its own backoff.

#include "redis/sink/redis_engine.hpp"
#include "redis/sink/sink_stats.hpp"

namespace streamll::redis {
namespace {

// A user without the heartbeat keys in its ACL: retried this rarely, in case it is granted.
constexpr std::chrono::minutes kRefusedRetry{5};

}  // namespace

void RedisEngine::send_heartbeat() {
  if (!connected()) {
    try {
      connect();
    } catch (const std::exception& e) {
      close_transport();
      heartbeat_failed(connect_failure(e), heartbeat.postpone());
      return;
    }
  }
  heartbeat.write(read_sink_stats(pipeline, *this, options.buffer_overflow_strategy),
                  heartbeat_commands);
  try {
    transport->execute(heartbeat_commands, heartbeat_replies,
                       io_deadline(options.connection.socket_timeout));
  } catch (const std::exception& e) {
    // The connection is lost for the events too: the next batch connects again, and counts
    // that failure itself if it fails.
    close_transport();
    connector.connection_lost(e.what());
    heartbeat_failed(e.what(), heartbeat.interval());
    return;
  }
  for (const RedisReply& reply : heartbeat_replies) {
    if (reply.is_error()) {
      heartbeat_refused(reply);
      return;
    }
  }
  if (heartbeat_replies.size() < Heartbeat::kCommands) {
    heartbeat_failed(std::to_string(heartbeat_replies.size()) + " of " +
                         std::to_string(Heartbeat::kCommands) + " replies",
                     heartbeat.interval());
    return;
  }
  SinkCounters::add(counters.heartbeats_sent);
  if (heartbeat_failing) {
    heartbeat_failing = false;
    logger->info("producer heartbeats to '{}' work again", heartbeat.key());
  }
}

// An error reply that names the wrong node (a slot moved, a demoted master, a server loading)
// leaves the connection to the events' path otherwise: an idle producer must find the right
// node by itself.
void RedisEngine::heartbeat_refused(const RedisReply& error) {
  const std::string prefix = error.error_prefix();
  auto next_try = heartbeat.interval();
  if (auto redirect = parse_redirect(error.text, current_host)) {
    if (redirect->kind == Redirect::Kind::moved) connector.moved(*redirect);
    close_transport();
  } else if (is_transient_server_error(prefix)) {
    close_transport();
    connector.connection_lost(error.text);
  } else if (prefix == "NOPERM") {
    next_try = heartbeat.postpone(kRefusedRetry);
  }
  std::string why = "refused: " + error.text;
  if (prefix == "NOPERM") {
    why += " (the user needs ~{" + options.stream_key +
           "}:producer* +hset +pexpire +zadd +zremrangebyscore +del +zrem; or set "
           "heartbeat_interval to 0)";
  }
  heartbeat_failed(why, next_try);
}

void RedisEngine::heartbeat_failed(const std::string& why, std::chrono::milliseconds next_try) {
  SinkCounters::add(counters.heartbeats_failed);
  const auto level = heartbeat_failing ? spdlog::level::debug : spdlog::level::warn;
  heartbeat_failing = true;
  logger->log(level, "producer heartbeat to '{}' failed ({}); next try in {} ms", heartbeat.key(),
              why, next_try.count());
}

// A clean shutdown: the producer leaves the listing now, rather than being reported gone when
// its heartbeat expires. Only on a connection that works, within the shutdown's deadline.
void RedisEngine::say_farewell(SteadyClock::time_point deadline) noexcept {
  if (!heartbeat.enabled() || !heartbeat.written() || !connected()) return;
  try {
    heartbeat.farewell(heartbeat_commands);
    transport->execute(heartbeat_commands, heartbeat_replies,
                       std::min(deadline, io_deadline(options.connection.socket_timeout)));
  } catch (const std::exception& e) {
    logger->debug("producer heartbeat '{}' not removed at shutdown: {}", heartbeat.key(), e.what());
  }
}

}  // namespace streamll::redis
