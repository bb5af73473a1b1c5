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
  RedisSinkStats stats;
  try {
    stats = read_sink_stats(pipeline, *this, options.buffer_overflow_strategy);
  } catch (const std::exception& e) {
    // Out of memory: the next try waits like any failed one, rather than every round.
    heartbeat_failed(e.what(), heartbeat.postpone());
    return true;
  }
  heartbeat.write(stats, heartbeat_commands);
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
    // Follows a warning that was logged, so it is as rare as they are.
    heartbeat_failing = false;
    logger->info("producer heartbeats to '{}' work again", heartbeat.key());
  }
  return true;
}

// An error reply that names the wrong node (a slot moved away, a master demoted, a replica
// whose master is down) closes the connection, so that an idle producer finds the right node
// by itself; backed off, in case the URL names a replica for good. Nothing else closes it:
// reconnecting to the same node cures no other refusal, and in durable mode a new connection
// makes a batch waiting for its replicas go again whole.
void RedisEngine::heartbeat_refused(const RedisReply& error) {
  const std::string prefix = error.error_prefix();
  auto next_try = heartbeat.interval();
  if (prefix == "MOVED") {
    if (auto redirect = parse_redirect(error.text, current_host)) connector.moved(*redirect);
    close_transport();
  } else if (prefix == "READONLY" || prefix == "MASTERDOWN") {
    close_transport();
    connector.connection_lost(error.text);
    next_try = heartbeat.postpone();
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
  // Quiet from here only when the warning was logged: one the rate limit dropped is tried again
  // at the next failure, so a lasting outage is always warned about.
  heartbeat_failing = heartbeat_log.log(spdlog::level::warn, message);
}

// A clean shutdown: the producer leaves the listing now, rather than being reported gone when
// its heartbeat expires. Only on a connection that works, within the shutdown's deadline.
void RedisEngine::say_farewell(SteadyClock::time_point deadline) noexcept {
  if (!heartbeat.enabled() || !heartbeat.accepted() || !connected()) return;
  try {
    heartbeat.farewell(heartbeat_commands);
    transport->execute(heartbeat_commands, heartbeat_replies,
                       std::min(deadline, io_deadline(options.connection.socket_timeout)));
    for (const RedisReply& reply : heartbeat_replies) {
      if (!reply.is_error()) continue;
      std::string why = "refused: " + reply.text;
      if (reply.error_prefix() == "NOPERM") why += " (" + acl_hint() + ")";
      farewell_failed(why);
      return;
    }
  } catch (const std::exception& e) {
    farewell_failed(e.what());
  }
}

// A refused ZREM leaves the producer listed as having stopped reporting (until writers prune
// it); a refused DEL leaves its hash until it expires. Counted like a failed heartbeat.
void RedisEngine::farewell_failed(const std::string& why) noexcept {
  SinkCounters::add(counters.heartbeats_failed);
  heartbeat_log.log(spdlog::level::warn,
                    "producer heartbeat '" + heartbeat.key() + "' not removed at shutdown: " + why);
}

}  // namespace streamll::redis
