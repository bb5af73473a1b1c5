// The Redis engine's connection, on the flusher thread: connecting (and what a new connection
// does first), failing, and closing or interrupting it for shutdown().

#include <utility>

#include "redis/sink/redis_engine.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll::redis {

bool RedisEngine::ensure_connected() {
  if (connected()) return true;
  try {
    connect();
    return true;
  } catch (const std::exception& e) {
    transport_failure(connect_failure(e));
  }
  return false;
}

std::string RedisEngine::connect_failure(const std::exception& e) {
  if (dynamic_cast<const AuthError*>(&e) != nullptr) {
    return std::string("authentication failed: ") + e.what();
  }
  if (dynamic_cast<const ReplyError*>(&e) != nullptr) {
    return std::string("connection handshake refused: ") + e.what();
  }
  return std::string("connect failed: ") + e.what();
}

void RedisEngine::connect() {
  // A connection made after an isolated event failed alone: if it is sound, that event is
  // the one to fail; if it is not, this was an outage and the event goes again.
  const bool suspect_due = isolation.take_suspect();
  // The connector finds the server (URL, provider, sentinels, cluster slot owner) and
  // connects; shutdown() interrupts it through interrupt().
  logger->debug("connecting (stream '{}', {} consecutive failures so far)", options.stream_key,
                breaker().failure_count());
  auto fresh = connector.connect(io_deadline(options.connection.connect_timeout), slot);
  {
    std::lock_guard<std::mutex> lock(transport_mutex);
    transport = std::move(fresh);
    if (interrupted.load(std::memory_order_acquire)) transport->interrupt();
  }
  ++connection_number;
  current_host = connector.current_host();
  if (suspect_due) {
    redis::CommandBuffer ping;
    ping.append({"PING"});
    std::vector<redis::RedisReply> pong;
    transport->execute(ping, pong, io_deadline(options.connection.socket_timeout));
    if (pong.empty() || pong.front().is_error()) {
      throw ReplyError(pong.empty() ? "no reply" : pong.front().text,
                       "PING after a closed connection");
    }
    isolation.fail_suspect(batches);
  }
  if (!options.consumer_group.empty()) create_consumer_group();
  if (ever_connected) redis::SinkCounters::add(counters.reconnects);
  ever_connected = true;
  counters.connected.store(true, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(error_mutex);
    server = transport->describe();
  }
  logger->info("connected to {} (stream '{}')", transport->describe(), options.stream_key);
}

void RedisEngine::create_consumer_group() {
  redis::CommandBuffer create;
  std::vector<std::string> keys = {options.stream_key};
  if (!options.token_stream_key.empty()) keys.push_back(options.token_stream_key);
  for (const std::string& key : keys) {
    create.append({"XGROUP", "CREATE", key, options.consumer_group, "0", "MKSTREAM"});
  }
  std::vector<redis::RedisReply> group_replies;
  transport->execute(create, group_replies, io_deadline(options.connection.socket_timeout));
  for (std::size_t i = 0; i < group_replies.size() && i < keys.size(); ++i) {
    const redis::RedisReply& reply = group_replies[i];
    if (reply.is_error() && reply.error_prefix() != "BUSYGROUP") {
      // The events can still be written; the group is for the consumers. Report, do not fail.
      redis::SinkCounters::add(counters.reply_errors);
      record_error("XGROUP CREATE " + keys[i] + " " + options.consumer_group +
                   " failed: " + reply.text);
    }
  }
}

void RedisEngine::transport_failure(const std::string& message, bool count_for_breaker) {
  if (counters.connected.exchange(false, std::memory_order_relaxed)) {
    logger->warn("lost connection to Redis: {}", message);
  }
  close_transport();
  connector.connection_lost(message);
  // Reason, then count, then breaker state: a reader that sees the breaker open also sees
  // the failures that opened it, and one that sees a count also sees why.
  record_error(message);
  counters.record_transport_error();
  if (count_for_breaker) breaker().record_failure();
}

void RedisEngine::record_error(const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(error_mutex);
    last_error = message;
    last_error_time = clock.system_now();
  }
  log.log(spdlog::level::warn, message);
}

void RedisEngine::close_transport() noexcept {
  std::lock_guard<std::mutex> lock(transport_mutex);
  if (transport) transport->close();
  counters.connected.store(false, std::memory_order_relaxed);
}

void RedisEngine::interrupt() noexcept {
  std::lock_guard<std::mutex> lock(transport_mutex);
  interrupted.store(true, std::memory_order_release);
  connector.interrupt();
  if (transport) transport->interrupt();
}

}  // namespace streamll::redis

namespace streamll::redis {

RedisEngine::RedisEngine(detail::Pipeline& owner, const RedisSinkOptions& opts,
                         TransportMaker maker, const detail::ClockSource& clock_source)
    : pipeline(owner),
      options(opts),
      connector(options.connection, std::move(maker)),
      clock(clock_source),
      encoder(options),
      batches(options.max_batch_size),
      durable(options, clock_source, counters),
      isolation(*this, counters, options.stream_key, durable.enabled()),
      compaction(owner, encoder, counters),
      heartbeat(options, clock_source) {
  if (connector.deployment() != RedisDeployment::cluster) return;
  const auto events_slot = key_slot(options.stream_key);
  slot = events_slot;
  if (heartbeat.enabled() && key_slot(heartbeat.index_key()) != events_slot) {
    // A stream key with braces but no hash tag ("a{}b"): its heartbeat keys cannot share its
    // slot, and a heartbeat goes over the connection to that slot's master.
    heartbeat.disable();
    logger->warn(
        "stream '{}': no producer heartbeats on a Redis Cluster, the key has braces but no hash "
        "tag (heartbeat keys could not share its slot)",
        options.stream_key);
  }
  // A batch is one pipeline to the master of one slot, whichever stream its events go to.
  const auto tokens_slot = key_slot(options.token_stream_key);
  if (!options.token_stream_key.empty() && tokens_slot != events_slot) {
    throw ConfigError("token_stream_key",
                      "'" + options.token_stream_key + "' hashes to cluster slot " +
                          std::to_string(tokens_slot) + ", stream_key '" + options.stream_key +
                          "' to slot " + std::to_string(events_slot) +
                          "; give both the same hash tag, e.g. '{llm}events' and '{llm}tokens'");
  }
}

void RedisEngine::read_errors(RedisSinkStats& out) const {
  std::lock_guard<std::mutex> lock(error_mutex);
  out.last_error = last_error;
  out.last_error_time = last_error_time;
  out.server = server;
}

}  // namespace streamll::redis
