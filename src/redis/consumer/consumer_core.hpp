#pragma once
// Internal: what GroupConsumer and StreamReader share, per stream they read: the connection
// (opened through the Connector, so Sentinel, Cluster and endpoint providers work as for the
// sink) with its reconnect backoff and interruption, what a refused command means (MOVED:
// reconnect at the new owner; READONLY and other transient states: reconnect and ask again),
// decoding and dispatching one entry, the counters and the logging. The two consumers differ
// only in which commands they send. A sharded consumer has one core per shard, all sharing one
// ConsumerDispatch.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "logging.hpp"
#include "redis/consumer/consumer_seams.hpp"
#include "redis/consumer/decode_worker.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis/routing/connector.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/redis/consumer.hpp"
#include "support/backoff.hpp"
#include "support/clock.hpp"

namespace streamll::redis {

/// The event ids of the last `capacity` handled events; the oldest is forgotten first.
class DedupeWindow {
 public:
  explicit DedupeWindow(std::size_t capacity) : capacity_(capacity) {}
  bool enabled() const noexcept { return capacity_ > 0; }
  bool contains(const EventId& id) const { return seen_.count(id) != 0; }
  void remember(const EventId& id);
  std::size_t size() const noexcept { return order_.size(); }

 private:
  struct Hash {
    std::size_t operator()(const EventId& id) const noexcept {
      return static_cast<std::size_t>(id.high ^ (id.low * 0x9E3779B97F4A7C15ULL));
    }
  };
  std::size_t capacity_;
  std::unordered_set<EventId, Hash> seen_;
  std::deque<EventId> order_;
};

enum class EntryOutcome { handled, duplicate, handler_failed, undecodable, deleted };

/// What every shard of one consumer shares; used on the consuming thread only. One handler
/// table and one dedupe window for all shards (a repeat is a repeat wherever it was read), one
/// decode helper thread.
struct ConsumerDispatch {
  explicit ConsumerDispatch(std::size_t dedupe_window) : dedupe(dedupe_window) {}
  EventHandlers handlers;
  DedupeWindow dedupe;
  std::unique_ptr<DecodeWorker> decode_worker;  // created for the first large batch
};

/// `options` as seen by shard `index` of a sharded consumer: that shard's URL and stream key,
/// and no sharding of its own. Unsharded options come back unchanged.
ConsumerOptions options_of_shard(const ConsumerOptions& options, std::size_t index);
/// The options of stream `index` of those read (options.shards() * streams_per_shard(), a
/// shard's stream_key, then its token stream): stream_key set to the one stream, no
/// token_stream_key, not sharded.
ConsumerOptions options_of_stream(const ConsumerOptions& options, std::size_t index);

/// The TransportMaker a consumer's connector uses for `shard`: the test factories when given
/// (endpoint-aware first), else the real socket transport.
TransportMaker consumer_transport_maker(const ConsumerTransportFactory& factory,
                                        const ConsumerEndpointTransportFactory& endpoint_factory,
                                        std::size_t shard);

class ConsumerCore {
 public:
  using OnConnect = std::function<void(RedisTransport&)>;

  /// `options` are the stream's own (options_of_stream); `dispatch` outlives the core.
  ConsumerCore(ConsumerOptions options, TransportMaker make, const detail::ClockSource& clock,
               std::string role, ConsumerDispatch& dispatch, std::size_t shard);
  ~ConsumerCore();

  const ConsumerOptions& options() const noexcept { return options_; }
  EventHandlers& handlers() noexcept { return dispatch_.handlers; }
  const detail::ClockSource& clock() const noexcept { return clock_; }
  std::size_t shard() const noexcept { return shard_; }

  /// True when connected (connecting now if the backoff allows; `on_connect` runs right after
  /// the handshake, and a throw from it fails the attempt). Failures are recorded, never thrown.
  bool ensure_connected(const OnConnect& on_connect);
  bool connected() const noexcept { return connected_.load(std::memory_order_relaxed); }
  /// Until the next connect attempt; while one runs in the background, a short re-check
  /// interval.
  std::chrono::milliseconds backoff_remaining() const noexcept;
  /// For one shard of several, all read by one thread: once a connect or a read timed out (a
  /// host that does not answer), the next connect attempts run on a thread of their own until
  /// one succeeds, so that the other shards are read meanwhile; ensure_connected() takes the
  /// result up when it is there.
  void connect_in_background_after_timeouts() noexcept { background_after_timeout_ = true; }

  /// Runs `commands` on the connection. `interruptible` lets stop() cut the call short (only
  /// for waits that may be long: blocking reads). Returns false without sending when stopping.
  /// Throws what the transport throws.
  bool execute(const CommandBuffer& commands, std::vector<RedisReply>& replies,
               std::chrono::steady_clock::time_point deadline, bool interruptible);

  /// Split pipelining (RedisTransport::send/receive), never interruptible: bounded by the
  /// deadline. Throw what the transport throws.
  void send(const CommandBuffer& commands, std::chrono::steady_clock::time_point deadline);
  void receive(std::size_t count, std::vector<RedisReply>& replies,
               std::chrono::steady_clock::time_point deadline);
  /// The connection's RedisTransport::reply_fd() (-1 when not connected).
  int reply_fd() const noexcept;

  /// A failed exchange: closes the connection, counts, logs and starts the backoff. Quiet
  /// when the failure is our own stop() interrupting the call.
  void transport_failure(const std::string& message);
  /// transport_failure() for a read or an acknowledgement that threw `e` ("read failed: ...");
  /// a timeout marks the host as not answering (see connect_in_background_after_timeouts()).
  void read_failure(const std::exception& e);
  /// A refused command that makes the loop pointless until reconnected (NOGROUP, WRONGTYPE):
  /// counted as a reply error, then handled like a transport failure.
  void reply_failure(const std::string& message);
  /// A refused command that changes nothing else (a failed XACK): counted and logged.
  void reply_error(const std::string& message);
  /// An error reply to a command the loop cannot go on without (a read, a claim, creating the
  /// group): MOVED reconnects to the slot's new master without waiting (redirected()); any
  /// other refusal, READONLY after a failover included, is a reply_failure(), so the next
  /// connection is found afresh (the sentinels asked again, the slot map refreshed).
  void refused(const std::string& command, const std::string& reply_text);
  /// A MOVED redirection: the connector learns the slot's new master and the next poll
  /// reconnects there. More than a few in a row without a successful read (nodes that
  /// disagree) count as a failure, so the backoff spaces them.
  void redirected(const Redirect& redirect);

  /// Decodes a whole batch (on two threads when it is large and the machine has the cores);
  /// then process(i) dispatches entry i of that batch.
  void decode_batch(const std::vector<StreamEntry>& entries);
  /// Dispatches decoded entry `index` of the last decode_batch(), with dedupe; counts the
  /// outcome.
  EntryOutcome process(const StreamEntry& entry, std::size_t index, bool redelivered);

  /// A read came back (resets the redirection count).
  void count_read(std::size_t entries) noexcept;
  void count_claimed(std::size_t entries) noexcept {
    claimed_.fetch_add(entries, std::memory_order_relaxed);
  }
  void count_deleted(std::size_t entries) noexcept {
    deleted_.fetch_add(entries, std::memory_order_relaxed);
  }
  void count_acked(std::size_t entries) noexcept {
    acked_.fetch_add(entries, std::memory_order_relaxed);
  }
  void count_unprocessed(std::size_t entries) noexcept {
    unprocessed_.fetch_add(entries, std::memory_order_relaxed);
  }

  /// Thread-safe: interrupts a blocking read or a connect in progress (sentinel queries and
  /// slot-map refreshes included).
  void stop() noexcept;
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
  /// Waits up to `d` of real time, or until stop().
  void sleep_for(std::chrono::milliseconds d);

  ConsumerStats stats() const;
  /// When last_error was last set (for picking the most recent error among shards).
  std::chrono::steady_clock::time_point last_error_at() const;

 private:
  bool begin_interruptible();
  void end_interruptible() noexcept;
  void record_error(const std::string& message, spdlog::level::level_enum level);
  void close_transport() noexcept;

  struct Decoded {
    bool ok = false;
    ConsumedEvent message;
    DecodeFailure failure;
  };
  std::vector<Decoded> decoded_;

  const ConsumerOptions options_;
  const detail::ClockSource& clock_;
  const std::string role_;  // "consumer 'c' of group 'g' on 'stream'", for logs
  ConsumerDispatch& dispatch_;
  const std::size_t shard_;
  Connector connector_;                // consuming thread only, except interrupt()
  std::optional<std::uint16_t> slot_;  // the stream key's hash slot (Cluster)
  detail::Backoff backoff_;
  detail::RateLimitedLog log_{"streamll.consumer"};
  bool ever_connected_ = false;
  int redirects_in_row_ = 0;

  std::mutex transport_mutex_;  // guards the pointer and the interruptible flag against stop()
  std::unique_ptr<RedisTransport> transport_;
  bool interruptible_ = false;
  std::atomic<bool> stopping_{false};
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;

  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> entries_read_{0}, claimed_{0}, handled_{0}, unhandled_types_{0},
      duplicates_{0}, handler_failures_{0}, missing_event_field_{0}, malformed_json_{0},
      invalid_event_{0}, deleted_{0}, unprocessed_{0}, acked_{0}, reads_{0}, transport_errors_{0},
      reply_errors_{0}, reconnects_{0}, redirects_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::chrono::steady_clock::time_point last_error_at_{};

  bool background_after_timeout_ = false;
  bool host_timed_out_ = false;
  std::chrono::steady_clock::time_point attempt_deadline_{};  // of the latest connect attempt
  // Declared last, so destroyed first: its task uses connector_ (the destructor interrupts and
  // waits for it).
  std::future<std::unique_ptr<RedisTransport>> pending_connect_;
};

}  // namespace streamll::redis
