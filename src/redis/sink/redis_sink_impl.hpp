#pragma once
// RedisSink's state, shared by the application threads (redis_sink.cpp: push, flush, shutdown,
// stats) and the flusher thread (redis_sink_flusher.cpp: batches, replies, retries;
// redis_sink_connection.cpp: connecting and failing). The concerns with state of their own
// live in their own classes: durable acknowledgements, cluster redirections, poison isolation,
// outage compaction, the flush ledger and the counters.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fork_generation.hpp"
#include "logging.hpp"
#include "pipeline/ring_buffer.hpp"
#include "redis/routing/connector.hpp"
#include "redis/sink/batch_replies.hpp"
#include "redis/sink/durable_ack.hpp"
#include "redis/sink/flush_ledger.hpp"
#include "redis/sink/outage_compaction.hpp"
#include "redis/sink/poison_isolation.hpp"
#include "redis/sink/redirects.hpp"
#include "redis/sink/sink_batch.hpp"
#include "redis/sink/sink_counters.hpp"
#include "redis/sink/sink_seams.hpp"
#include "redis/sink/xadd_encoder.hpp"
#include "redis/transport/reply.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "support/circuit_breaker.hpp"

namespace streamll {

struct RedisSink::Impl final : redis::IsolationHost {
  using SteadyClock = std::chrono::steady_clock;
  using Batch = redis::SinkBatch;

  Impl(RedisSinkOptions opts, RedisSinkTransportFactory factory,
       RedisSinkEndpointTransportFactory endpoint_factory, const detail::ClockSource& clock_source);

  // ------------------------------------------------ application threads (redis_sink.cpp)

  // In a forked child. Its copy of the sink must not touch what the parent's threads may have
  // held at the fork (the buffer's lock, the connection): it only counts.
  bool forked() const noexcept {
    return detail::current_fork_generation() != created_in_generation;
  }
  bool forked_shutdown();
  void push(Event&& event);
  bool overflow_log_due() noexcept;
  static RedisSinkOptions validated(RedisSinkOptions opts);

  // ------------------------------------------------ flusher thread (redis_sink_flusher.cpp)

  void run() noexcept;
  bool can_send_behind() const noexcept {
    return !durable.enabled() && connector.deployment() != RedisDeployment::cluster;
  }
  SteadyClock::time_point stop_deadline() const noexcept {
    return SteadyClock::time_point(
        SteadyClock::duration(stop_deadline_ticks.load(std::memory_order_acquire)));
  }
  // The stop deadline while stopping, else never.
  SteadyClock::time_point stop_by() const noexcept {
    return stopping.load(std::memory_order_acquire) ? stop_deadline()
                                                    : SteadyClock::time_point::max();
  }
  std::chrono::nanoseconds until_stop() const noexcept;
  // An I/O bound: the usual timeout, cut short by a shutdown deadline.
  SteadyClock::time_point io_deadline(std::chrono::milliseconds timeout) const noexcept;

  bool prepare_batch();
  void encode(Batch& batch) override;
  bool start_batch(Batch& batch);
  void finish_batch(Batch& batch);
  void apply(Batch& batch, const redis::BatchReplies& r, bool wait_only, bool via_ask);
  bool replicas_confirmed(Batch& batch, const redis::BatchReplies& r, bool wait_only, bool via_ask);
  void follow_redirect(Batch& batch, const redis::Redirect& redirect, bool via_ask);
  void follow_ask(Batch& batch, const RedisEndpoint& to);
  void settle(const Batch& batch, std::size_t accepted, const std::vector<std::size_t>& refused_at,
              const std::string& refusal, std::size_t of);
  void settle_prefix(Batch& batch, std::size_t n, std::size_t accepted,
                     const std::vector<std::size_t>& refused_at,
                     const std::string& refusal) override;
  void complete(Batch& batch, std::size_t accepted, const std::vector<std::size_t>& refused_at,
                const std::string& refusal) override;
  void fail_first(Batch& batch, const std::string& why) override;
  void batch_failed(const std::string& message, bool outage = true);
  bool isolate_after_close(const std::exception& e, std::vector<redis::RedisReply>* partial);
  void wait_while_blocked();
  void release_evicted();

  // ------------------------------------------------ connection (redis_sink_connection.cpp)

  bool ensure_connected();
  void create_consumer_group();
  void transport_failure(const std::string& message, bool count_for_breaker = true);
  void record_error(const std::string& message);
  void close_transport() noexcept;
  void interrupt_transport() noexcept;
  void notify_progress() override;

  // ------------------------------------------------ state

  const std::uint64_t created_in_generation = detail::current_fork_generation();
  std::atomic<std::uint64_t> dropped_after_fork{0};
  std::atomic<bool> fork_reported{false};
  const RedisSinkOptions options;
  const bool fake_transports;  // a test's factory: no socket transport is made up front
  redis::Connector connector;  // flusher-only, except interrupt()
  const detail::ClockSource& clock;
  detail::RateLimitedLog log{"streamll.sinks.redis"};
  // Looked up once: the registry lookup takes a lock, and debug lines are checked per batch.
  const std::shared_ptr<spdlog::logger> logger = detail::get_logger("streamll.sinks.redis");
  const redis::XaddEncoder encoder;
  redis::EventBuffer buffer;
  detail::CircuitBreaker breaker;
  redis::SinkCounters counters;

  // Flusher-only (stats() reads compaction.compacted_through(), an atomic).
  redis::SinkBatches batches;
  redis::DurableAck durable;
  redis::Redirects redirects;
  redis::PoisonIsolation isolation;
  redis::OutageCompaction compaction;
  std::vector<redis::RedisReply> replies;
  std::string encode_text;
  std::uint64_t evictions_released = 0;
  std::vector<redis::BufferedEvent> evicted_scratch;
  bool ever_connected = false;
  bool blocked_logged = false;          // the debug line for a stretch of blocked attempts
  std::uint64_t connection_number = 0;  // which connection a batch was written on
  std::string current_host;             // for redirections that name no host
  std::optional<std::uint16_t> slot;    // cluster: the stream key's hash slot

  std::mutex transport_mutex;  // guards the pointer against interrupt() from shutdown()
  std::unique_ptr<redis::RedisTransport> transport;

  std::thread flusher;
  std::atomic<bool> accepting{true};
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopping_hard{false};
  std::atomic<SteadyClock::rep> stop_deadline_ticks{0};
  std::mutex shutdown_mutex;  // serializes shutdown() callers
  bool shut_down = false;
  bool shutdown_result = false;

  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  bool flusher_done = false;

  std::atomic<SteadyClock::rep> last_overflow_log{0};
  redis::FlushLedger ledger;  // which events failed, for flush()

  mutable std::mutex error_mutex;
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  std::string server;  // guarded by error_mutex too
};

}  // namespace streamll
