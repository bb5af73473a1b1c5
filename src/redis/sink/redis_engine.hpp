#pragma once
// The Redis sink's engine behind its Pipeline (src/pipeline): on the flusher thread it takes
// batches from the pipeline's buffer, writes them as pipelined XADDs, reads the replies and
// settles or retries each batch; while Redis answers one batch it encodes, and where nothing
// can make the first go again sends, the next (redis_engine.cpp). Connecting and failing live
// in redis_engine_connection.cpp. The concerns with state of their own live in their own
// classes: durable acknowledgements, cluster redirections, poison isolation, outage
// compaction and the counters.

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "logging.hpp"
#include "pipeline/batch_engine.hpp"
#include "pipeline/pipeline.hpp"
#include "redis/routing/connector.hpp"
#include "redis/sink/batch_replies.hpp"
#include "redis/sink/durable_ack.hpp"
#include "redis/sink/heartbeat.hpp"
#include "redis/sink/outage_compaction.hpp"
#include "redis/sink/poison_isolation.hpp"
#include "redis/sink/redirects.hpp"
#include "redis/sink/sink_batch.hpp"
#include "redis/sink/sink_counters.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/reply.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "support/circuit_breaker.hpp"

namespace streamll::redis {

class RedisEngine final : public detail::BatchEngine, IsolationHost {
 public:
  using SteadyClock = std::chrono::steady_clock;
  using Batch = SinkBatch;

  RedisEngine(detail::Pipeline& pipeline, const RedisSinkOptions& options, TransportMaker maker,
              const detail::ClockSource& clock);

  // BatchEngine, on the flusher thread (interrupt(): any thread).
  bool step() noexcept override;
  bool holds_batches() const noexcept override { return batches.count() > 0; }
  bool close(SteadyClock::time_point deadline) noexcept override;
  void give_up() noexcept override;
  void interrupt() noexcept override;
  // The next heartbeat's time, never under a millisecond (a due one is sent by step()).
  std::chrono::nanoseconds idle_wait(std::chrono::nanoseconds longest) const noexcept override {
    return std::max<std::chrono::nanoseconds>(
        std::min<std::chrono::nanoseconds>(longest, heartbeat.until_due()),
        std::chrono::milliseconds(1));
  }

  // Any thread, for RedisSink::stats().
  const SinkCounters& sink_counters() const noexcept { return counters; }
  std::uint64_t compacted_through() const noexcept { return compaction.compacted_through(); }
  void read_errors(RedisSinkStats& out) const;

 private:
  // ------------------------------------------------ batches (redis_engine.cpp)

  bool can_send_behind() const noexcept {
    return !durable.enabled() && connector.deployment() != RedisDeployment::cluster;
  }
  // An I/O bound: `timeout` from now, cut short by a shutdown's or the exit's deadline.
  SteadyClock::time_point io_deadline(std::chrono::milliseconds timeout) const noexcept {
    return pipeline.deadline_after(timeout);
  }
  detail::CircuitBreaker& breaker() noexcept { return pipeline.breaker(); }
  detail::RingBuffer<BufferedEvent>& buffer() noexcept { return pipeline.ring(); }

  bool prepare_batch();
  void encode(Batch& batch) override;
  bool start_batch(Batch& batch);
  void finish_batch(Batch& batch);
  void apply(Batch& batch, const BatchReplies& r, bool wait_only, bool via_ask);
  bool replicas_confirmed(Batch& batch, const BatchReplies& r, bool wait_only, bool via_ask);
  void follow_redirect(Batch& batch, const Redirect& redirect, bool via_ask);
  void follow_ask(Batch& batch, const RedisEndpoint& to);
  void settle(const BatchReplies& answers, std::size_t of);
  void settle_prefix(Batch& batch, std::size_t n, const BatchReplies& answers) override;
  void complete(Batch& batch, const BatchReplies& answers) override;
  void fail_first(Batch& batch, const std::string& why) override;
  void batch_failed(const std::string& message, bool outage = true);
  bool isolate_after_close(const std::exception& e, std::vector<RedisReply>* partial);
  void wait_while_blocked();

  // ------------------------------------------------ connection (redis_engine_connection.cpp)

  bool connected() const noexcept { return transport && transport->is_connected(); }
  // Connects, or fails as an event write does (breaker, last_error, transport_errors).
  bool ensure_connected();
  // Connects or throws, with no side effect on failure (the heartbeat's way).
  void connect();
  static std::string connect_failure(const std::exception& e);
  void create_consumer_group();
  void transport_failure(const std::string& message, bool count_for_breaker = true);
  void record_error(const std::string& message);
  void close_transport() noexcept;

  // ------------------------------------------------ heartbeats (redis_engine_heartbeat.cpp)

  bool batch_on_wire() noexcept { return batches.count() > 0 && batches.head().started; }
  // Due, and the sink is not stopping (once shutdown() was called, the time left is the
  // events', and a batch may be sent behind again).
  bool heartbeat_wanted() { return heartbeat.due() && !pipeline.stop_requested(); }
  // False when it could not connect: the round ends (see step()).
  bool send_heartbeat();
  void heartbeat_refused(const RedisReply& error);
  std::string acl_hint() const;
  void heartbeat_failed(const std::string& why, std::chrono::milliseconds next_try);
  void say_farewell(SteadyClock::time_point deadline) noexcept;
  void farewell_failed(const std::string& why) noexcept;

  // ------------------------------------------------ state

  detail::Pipeline& pipeline;  // owns this engine
  const RedisSinkOptions options;
  Connector connector;  // flusher-only, except interrupt()
  const detail::ClockSource& clock;
  // Looked up once: the registry lookup takes a lock, and debug lines are checked per batch.
  const std::shared_ptr<spdlog::logger> logger = detail::get_logger("streamll.sinks.redis");
  detail::RateLimitedLog log{"streamll.sinks.redis"};
  const XaddEncoder encoder;
  SinkCounters counters;

  // Flusher-only (stats() reads compaction.compacted_through(), an atomic).
  SinkBatches batches;
  DurableAck durable;
  Redirects redirects;
  PoisonIsolation isolation;
  OutageCompaction compaction;
  std::vector<RedisReply> replies;
  std::string encode_text;
  bool ever_connected = false;
  bool blocked_logged = false;          // the debug line for a stretch of blocked attempts
  std::uint64_t connection_number = 0;  // which connection a batch was written on
  std::string current_host;             // for redirections that name no host
  std::optional<std::uint16_t> slot;    // cluster: the stream key's hash slot
  Heartbeat heartbeat;
  redis::CommandBuffer heartbeat_commands;
  std::vector<RedisReply> heartbeat_replies;
  bool heartbeat_failing = false;  // warned once; quiet (debug) until one gets through
  // Its own limit: a heartbeat that fails every other time must not flood the log, nor use up
  // the events' warnings (`log`).
  detail::RateLimitedLog heartbeat_log{"streamll.sinks.redis"};

  std::mutex transport_mutex;  // guards the pointer against interrupt() from shutdown()
  std::unique_ptr<RedisTransport> transport;
  std::atomic<bool> interrupted{false};  // shutdown() gave up: no isolation, no new connection

  mutable std::mutex error_mutex;
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  std::string server;  // guarded by error_mutex too
};

}  // namespace streamll::redis
