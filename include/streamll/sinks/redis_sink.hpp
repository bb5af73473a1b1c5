#pragma once
// RedisSink: the production sink. handle() only moves the event into a bounded buffer; one
// flusher thread per sink serializes batches and writes them to a Redis Stream as one pipelined
// round trip of `XADD <stream_key> [MAXLEN [~] <max_stream_length>] * event <json>`, gated by a
// circuit breaker. Events leave the buffer only once Redis acknowledged them (at-least-once:
// consumers dedupe on event_id).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "streamll/overflow_strategy.hpp"
#include "streamll/redis/breaker_state.hpp"
#include "streamll/redis/options.hpp"
#include "streamll/sink.hpp"

namespace streamll {

namespace detail {
struct Injected;
struct RedisSinkSeams;
}  // namespace detail

class ShardedRedisSink;

/// A snapshot of the circuit breaker, as the guide's "Monitoring Circuit Breaker" reads it.
struct CircuitBreakerStatus {
  BreakerState state = BreakerState::closed;
  bool is_open = false;              // OPEN or HALF_OPEN: not writing normally
  std::uint64_t failure_count = 0;   // consecutive transport failures
  std::uint64_t total_failures = 0;  // since the sink started
  std::optional<std::chrono::system_clock::time_point> last_failure_time;
  std::chrono::milliseconds next_attempt_in{0};  // while OPEN: until the next probe
};

/// Counters since the sink started. Every event handed to the sink ends up in exactly one of
/// delivered, failed or dropped(), or is still buffered; at any quiet moment:
///   events handed over == delivered + failed + dropped() + buffered
struct RedisSinkStats {
  std::uint64_t enqueued = 0;             // accepted into the buffer
  std::uint64_t delivered = 0;            // acknowledged by Redis
  std::uint64_t dropped_oldest = 0;       // evicted by drop_oldest
  std::uint64_t dropped_newest = 0;       // refused by drop_newest (never enqueued)
  std::uint64_t dropped_raise_error = 0;  // refused by raise_error (the caller got the exception)
  std::uint64_t dropped_on_shutdown = 0;  // still buffered when shutdown's timeout ran out, or
                                          // handed over after shutdown
  std::uint64_t dropped_after_fork = 0;   // handed to the sink in a forked child process,
                                          // where it delivers nothing (see docs/redis-sink.md)
  std::uint64_t failed = 0;            // Redis answered with an error (WRONGTYPE, OOM, NOPERM...)
                                       // or the event could not be serialized
  std::uint64_t failed_protocol = 0;   // of `failed`: events on which Redis closed the
                                       // connection (a protocol error), also when sent alone;
                                       // once per event, when it is failed
  std::uint64_t failed_too_large = 0;  // of `failed`: over max_event_bytes even with their
                                       // string values cut
  std::uint64_t truncated = 0;         // sent with string values cut to fit max_event_bytes
  std::uint64_t retried_batches = 0;   // batches sent again after a transport failure
  std::uint64_t round_trips = 0;       // pipelined writes that got all their replies
  std::uint64_t transport_errors = 0;  // failed connects (TLS, authentication included);
                                       // I/O errors, timeouts and connections lost while a
                                       // batch was written or read; batches refused whole by
                                       // a server busy with itself (LOADING, READONLY,
                                       // MASTERDOWN...); failed ASK connections; too many
                                       // redirections in a row
  std::uint64_t reply_errors = 0;      // error replies (events in `failed`, plus bootstrap)
  std::uint64_t reconnects = 0;        // successful connections after the first
  std::uint64_t replica_waits = 0;     // WAITs answered (min_replicas_ack > 0): one per batch
                                       // attempt, and per retry of WAIT alone
  std::uint64_t replica_ack_shortfalls = 0;  // of those, too few replicas (or WAIT refused):
                                             // the batch was kept, not counted delivered
  std::uint64_t moved_redirects = 0;     // Redis Cluster MOVED replies followed (slot map updated)
  std::uint64_t ask_redirects = 0;       // Redis Cluster ASK replies followed (slot migrating)
  std::uint64_t buffered = 0;            // waiting + in flight + staged (see docs/design.md)
  std::uint64_t in_flight = 0;           // sent, not yet acknowledged
  std::uint64_t buffered_compacted = 0;  // waiting ones the flusher visited to compact while
                                         // Redis could not be written to: each held as
                                         // captured or serialized, whichever is smaller
  bool connected = false;
  BreakerState breaker_state = BreakerState::closed;
  std::string last_error;  // never contains a password
  std::optional<std::chrono::system_clock::time_point> last_error_time;
  std::chrono::microseconds last_flush_latency{0};  // last batch: write to last reply
  std::string server;                    // the server of the last connection ("host:port", or the
                                         // URL without its password): after a failover, the new one
  std::uint64_t redaction_failures = 0;  // events whose redactor threw (EventRedactor)
  std::uint64_t heartbeats_sent = 0;     // producer heartbeats Redis accepted (heartbeat_interval)
  std::uint64_t heartbeats_failed = 0;   // heartbeats not written: no connection (the next try
                                         // backs off up to a minute), lost during one, or a
                                         // command of it refused; and a failed removal at
                                         // shutdown; never counted by the breaker

  std::uint64_t dropped() const noexcept {
    return dropped_oldest + dropped_newest + dropped_raise_error + dropped_on_shutdown +
           dropped_after_fork;
  }
};

class RedisSink : public Sink {
 public:
  /// Validates `options` (ConfigError naming the option on a bad one) and starts the flusher
  /// thread. Does not wait for Redis: connecting happens on the flusher thread, so an
  /// application starts even when Redis is down (events buffer meanwhile).
  explicit RedisSink(RedisSinkOptions options);

  /// shutdown(options().shutdown_timeout): bounded, never throws.
  ~RedisSink() override;

  // After fork(), the child's copy of a sink has no flusher thread and shares the parent's
  // connection: in the child, handle() counts the event in dropped_after_fork and returns,
  // flush() and shutdown() return at once (false when something was dropped), shutdown()
  // logs the count, and is_running() is false. The parent's buffer is delivered by the
  // parent only, never twice. A child that wants to deliver creates a RedisSink of its own.
  RedisSink(const RedisSink&) = delete;
  RedisSink& operator=(const RedisSink&) = delete;

  /// Moves the event into the buffer: no I/O, a short lock. When the buffer is full the
  /// overflow strategy decides; raise_error throws BufferOverflowError. Thread-safe.
  void handle(const Event& event) override;
  void handle_owned(Event&& event) override;

  /// Waits until every event enqueued before the call was acknowledged by Redis or resolved
  /// otherwise (dropped, failed), or until `timeout`. True only when all of them were
  /// resolved in time and no event was lost (failed, evicted, given up) since the previous
  /// flush() answered: each loss is reported once. Events the full buffer refused were never
  /// enqueued and do not count. After shutdown(): shutdown()'s answer. Thread-safe.
  bool flush(std::chrono::milliseconds timeout) override;
  /// Stops taking events, delivers what it can within `timeout`, stops the flusher and
  /// closes the connection. Returns within the timeout even when Redis hangs (plus at most
  /// 200 ms to interrupt a flusher blocked in I/O);
  /// logs and counts (dropped_on_shutdown) what could not be delivered. True when nothing was
  /// left behind. Idempotent.
  bool shutdown(std::chrono::milliseconds timeout) override;
  bool is_running() const noexcept override;
  std::string name() const override { return "redis"; }

  RedisSinkStats stats() const;
  /// Events in the local buffer, waiting, in flight or staged by a producer during an outage:
  /// 0 when flushing keeps up (the guide's `len(redis_sink._local_buffer)`).
  std::size_t buffered() const noexcept;
  CircuitBreakerStatus circuit_breaker() const;
  /// Forces the breaker CLOSED and wakes the flusher to try at once (the guide's "Force
  /// circuit breaker reset").
  void reset_circuit_breaker();
  const RedisSinkOptions& options() const noexcept;

 private:
  // The library's tests build sinks on fake transports and clocks through detail::Injected.
  friend struct detail::Injected;
  // ShardedRedisSink builds its shards on the same seams (each connection told its shard).
  friend class ShardedRedisSink;
  RedisSink(RedisSinkOptions options, detail::RedisSinkSeams seams);

  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace streamll
