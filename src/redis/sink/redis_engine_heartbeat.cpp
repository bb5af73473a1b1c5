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

bool RedisEngine::send_heartbeat() {
  if (!connected()) {
    try {
      connect();
    } catch (const std::exception& e) {
      close_transport();
      heartbeat_failed(connect_failure(e), heartbeat.postpone());
      return false;
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
    // Backed off too: a server that takes connections and drops them must not be reconnected
    // to every interval.
    heartbeat_failed(e.what(), heartbeat.postpone());
    return true;
  }
  for (const RedisReply& reply : heartbeat_replies) {
    if (reply.is_error()) {
      heartbeat_refused(reply);
      return true;
    }
  }
  heartbeat.succeeded();
  SinkCounters::add(counters.heartbeats_sent);
  if (heartbeat_failing) {
    heartbeat_failing = false;
    heartbeat_log.log(spdlog::level::info,
                      "producer heartbeats to '" + heartbeat.key() + "' work again");
  }
  return true;
}

// An error reply that names the wrong node (a slot moved away, a master demoted or cut off
// from its replicas) closes the connection, so that an idle producer finds the right node by
// itself. Nothing else does: reconnecting to the same node cures no other refusal, and in
// durable mode a new connection makes a batch waiting for its replicas go again whole.
void RedisEngine::heartbeat_refused(const RedisReply& error) {
  const std::string prefix = error.error_prefix();
  auto next_try = heartbeat.interval();
  if (prefix == "MOVED") {
    if (auto redirect = parse_redirect(error.text, current_host)) connector.moved(*redirect);
    close_transport();
  } else if (prefix == "READONLY" || prefix == "MASTERDOWN") {
    close_transport();
    connector.connection_lost(error.text);
  } else if (prefix == "NOPERM") {
    next_try = heartbeat.postpone(kRefusedRetry);
  }
  std::string why = "refused: " + error.text;
  if (prefix == "NOPERM") why += " (" + acl_hint() + ")";
  heartbeat_failed(why, next_try);
}

// The producer keys' pattern for an ACL, from the index key ("{S}:producers" -> "{S}:producer*",
// "{llm}events:producers" -> "{llm}events:producer*").
std::string RedisEngine::acl_hint() const {
  std::string pattern = heartbeat.index_key();
  pattern.pop_back();
  return "the user needs ~" + pattern +
         "* +hset +pexpire +zadd +zremrangebyscore +del +zrem; or set heartbeat_interval to 0";
}

void RedisEngine::heartbeat_failed(const std::string& why, std::chrono::milliseconds next_try) {
  SinkCounters::add(counters.heartbeats_failed);
  std::string message = "producer heartbeat to '" + heartbeat.key() + "' failed (" + why + ")";
  if (next_try.count() > 0) message += "; next try in " + std::to_string(next_try.count()) + " ms";
  if (heartbeat_failing) {
    logger->debug(message);
    return;
  }
  heartbeat_failing = true;
  heartbeat_log.log(spdlog::level::warn, message);
}

// A clean shutdown: the producer leaves the listing now, rather than being reported gone when
// its heartbeat expires. Only on a connection that works, within the shutdown's deadline.
void RedisEngine::say_farewell(SteadyClock::time_point deadline) noexcept {
  if (!heartbeat.enabled() || !heartbeat.written() || !connected()) return;
  try {
    heartbeat.farewell(heartbeat_commands);
    transport->execute(heartbeat_commands, heartbeat_replies,
                       std::min(deadline, io_deadline(options.connection.socket_timeout)));
    for (const RedisReply& reply : heartbeat_replies) {
      if (!reply.is_error()) continue;
      // Readers will report this producer as having stopped reporting until writers prune it.
      heartbeat_failing = false;  // this one is worth a warning
      std::string why = "refused removing it at shutdown: " + reply.text;
      if (reply.error_prefix() == "NOPERM") why += " (" + acl_hint() + ")";
      heartbeat_failed(why, std::chrono::milliseconds(0));
      return;
    }
  } catch (const std::exception& e) {
    logger->debug("producer heartbeat '{}' not removed at shutdown: {}", heartbeat.key(), e.what());
  }
}

}  // namespace streamll::redis
