#pragma once
// Reading events back out of a Redis stream: the guide's consumers, in C++.
//
//   streamll::ConsumerOptions o = streamll::ConsumerOptions::from_env();
//   o.group = "analytics";
//   o.consumer_name = "analytics_worker_1";
//   streamll::GroupConsumer consumer(o);
//   consumer.on(streamll::EventType::llm_call, [](const streamll::ConsumedEvent& m) {
//     record(m.event.data["model"].as_string(), m.event.data["tokens_used"].as_int());
//   });
//   consumer.run();   // until consumer.stop() from another thread (or a signal handler thread)
//
// GroupConsumer joins a consumer group (XREADGROUP): every entry goes to one consumer of the
// group, is acknowledged (XACK) once its handlers returned, and is claimed by another consumer
// (XAUTOCLAIM) when its consumer died before acknowledging it. StreamReader reads without a
// group (XREAD), like the guide's "Verify events": from the start, from an id, or only new
// entries. Both decode each entry's `event` field with parse_event_json, dispatch it to the
// handlers registered for its type, count everything, and reconnect by themselves with
// backoff. Both connect wherever the connection options say the stream is now: one server, an
// endpoint provider's answer, the master Sentinel names, or the Redis Cluster master owning the
// stream key's slot (docs/high-availability.md). With shard_urls or shard_count they read every
// shard of a ShardedRedisSink's deployment and merge them into one dispatch. No hiredis or
// OpenSSL type appears here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streamll/event.hpp"
#include "streamll/redis/options.hpp"

namespace streamll {

namespace detail {
struct Injected;
struct ConsumerSeams;
}  // namespace detail

/// One decoded stream entry, as handed to handlers.
struct ConsumedEvent {
  std::string stream;     ///< the stream key (a sharded consumer: the shard's own key)
  std::size_t shard = 0;  ///< the shard it was read from (0 when not sharded)
  std::string entry_id;   ///< Redis stream id, "1700000000000-0"
  Event event;
  /// True when this entry was taken over from another consumer (XAUTOCLAIM) or re-read from
  /// this consumer's own pending list after a restart: its handlers may have run before.
  bool redelivered = false;
};

/// Why an entry could not become an Event.
enum class DecodeFailureKind {
  missing_event_field,  ///< the entry has no `event` field
  malformed_json,       ///< `event` is not valid JSON
  invalid_event,        ///< valid JSON but not an event (not an object, wrong field types,
                        ///< no event_type, bad event_id or timestamp)
};
std::string_view to_string(DecodeFailureKind kind) noexcept;

struct DecodeFailure {
  std::string stream;
  std::string entry_id;
  DecodeFailureKind kind = DecodeFailureKind::invalid_event;
  std::string reason;   ///< what parse_event_json said, or which field was missing
  std::string excerpt;  ///< the first 200 bytes of the `event` field (empty when missing)
};

/// Counts of undecodable entries by kind.
struct DecodeFailureCounts {
  std::uint64_t missing_event_field = 0;
  std::uint64_t malformed_json = 0;
  std::uint64_t invalid_event = 0;
  std::uint64_t total() const noexcept {
    return missing_event_field + malformed_json + invalid_event;
  }
  void add(DecodeFailureKind kind) noexcept;
};

/// What a GroupConsumer does with an entry it cannot decode.
enum class BadEntryPolicy {
  ack_and_skip,   ///< acknowledge it so it never comes back (default): garbage cannot block
  leave_pending,  ///< leave it pending, e.g. for a newer consumer version to handle
};

struct ConsumerOptions {
  /// Where Redis is and how to log in (URL, credentials, TLS, timeouts, Sentinel, Cluster).
  RedisConnectionOptions connection{};
  std::string stream_key = "ml_events";
  /// Consumer group (GroupConsumer only; required there).
  std::string group{};
  /// This consumer's name inside the group (GroupConsumer only; required there). Use a name
  /// that is stable across restarts of the same worker: a restarted consumer first re-reads
  /// its own pending entries.
  std::string consumer_name{};
  /// GroupConsumer: create the group when it does not exist (XGROUP CREATE ... MKSTREAM;
  /// BUSYGROUP is fine), starting at `group_start_id`: "0" (everything in the stream, the
  /// guide's choice) or "$" (only what arrives from now on).
  bool create_group = true;
  std::string group_start_id = "0";
  /// StreamReader: where to start: "0" (the beginning), "$" (only entries added after the
  /// reader first connects) or an entry id (entries after it).
  std::string start_id = "$";
  /// Entries per read (COUNT) and per claim. >= 1.
  std::size_t batch_size = 100;
  /// How long one read waits for new entries (BLOCK). run() checks for stop() at least this
  /// often even without interruption. > 0.
  std::chrono::milliseconds block{1000};
  /// GroupConsumer: entries pending (delivered, not acknowledged) longer than this in any
  /// consumer of the group are claimed with XAUTOCLAIM and processed here. 0 turns claiming
  /// off.
  std::chrono::milliseconds claim_min_idle{60000};
  /// GroupConsumer: how often to look for claimable entries. > 0.
  std::chrono::milliseconds claim_interval{10000};
  /// Remember the event_id of this many recently handled events and skip repeats (at-least-
  /// once delivery makes repeats possible). 0 turns dedupe off. Memory: about 64 bytes each.
  std::size_t dedupe_window = 0;
  BadEntryPolicy bad_entry_policy = BadEntryPolicy::ack_and_skip;
  /// Decode large batches on two threads (the consuming one and one helper per consumer, on
  /// machines with more than one core). Handlers always run on the consuming thread, in order.
  bool parallel_decode = true;
  /// Reconnect backoff: doubling from the first delay up to the cap, with 20% jitter.
  std::chrono::milliseconds reconnect_initial_delay{100};
  std::chrono::milliseconds reconnect_max_delay{5000};

  /// Sharded deployments, as a ShardedRedisSink writes them: read every shard's stream (shard
  /// i is shard_stream_key(stream_key, i), "<stream_key>_shard_<i>") instead of stream_key
  /// itself. One shard per URL, each its own Redis (connection.url is then not used; any URL form,
  /// redis+sentinel:// included; credentials follow the usual precedence); every other setting
  /// applies to every shard. Each shard has its own connection, reconnect backoff, position
  /// and group membership (the group and consumer name are the same on every shard); entries
  /// are acknowledged on the shard they came from. Handlers see every shard's entries, each
  /// shard's in stream order (an execution's events are on one shard, so they stay in order).
  std::vector<std::string> shard_urls{};
  /// Without shard_urls: this many shard streams on the one deployment the options name
  /// (usually a Redis Cluster: each shard's key is routed to the master owning its slot). With
  /// shard_urls: 0, or their number. 0 and no shard_urls: not sharded.
  std::size_t shard_count = 0;
  // Added after the above, so that code brace-initializing them by position still compiles.
  /// When set, also read this stream: the token events a RedisSink with the same
  /// token_stream_key writes apart from stream_key (sharded: "<token_stream_key>_shard_<i>" on
  /// each shard). It is read like another shard: its own connection, position and group
  /// membership (the group is created on it too), so handlers see each stream's entries in
  /// that stream's order, and an execution's token events in order among themselves, but not
  /// in order with its other events. Must differ from stream_key.
  std::string token_stream_key{};

  /// RedisConnectionOptions::from_env() plus STREAMLL_STREAM_KEY, STREAMLL_TOKEN_STREAM_KEY,
  /// STREAMLL_CONSUMER_GROUP, STREAMLL_CONSUMER_NAME, STREAMLL_SHARD_URLS and
  /// STREAMLL_SHARD_COUNT (the variables a
  /// ShardedRedisSink's from_env() reads, so producer and consumers can share them).
  static ConsumerOptions from_env(const EnvLookup& env = {});

  /// RedisConnectionOptions::validate() plus: empty stream_key, token_stream_key equal to
  /// stream_key, batch_size 0, non-positive
  /// block / claim_interval / reconnect delays, negative claim_min_idle, group_start_id and
  /// start_id not "0", "$" or an entry id, shard_count disagreeing with shard_urls, more than
  /// 1024 shards, and each shard's connection options (the message names the shard). The
  /// group/consumer names are checked by GroupConsumer. Throws ConfigError.
  void validate() const;

  /// Shards read: shard_urls' size, else shard_count, at least 1.
  std::size_t shards() const noexcept;
  /// Streams read on each shard: 2 with a token_stream_key, else 1.
  std::size_t streams_per_shard() const noexcept { return token_stream_key.empty() ? 1 : 2; }
  bool sharded() const noexcept { return !shard_urls.empty() || shard_count > 0; }
};

/// Counters since the consumer was created. Every entry read ends up in exactly one of
/// handled, duplicates, handler_failures, undecodable.total() or deleted_entries, or was left
/// unprocessed by stop() (unprocessed_on_stop).
struct ConsumerStats {
  std::uint64_t entries_read = 0;         ///< entries returned by reads and claims
  std::uint64_t claimed = 0;              ///< of which taken over with XAUTOCLAIM
  std::uint64_t handled = 0;              ///< decoded and every matching handler returned
  std::uint64_t unhandled_types = 0;      ///< of handled: no handler matched (still acknowledged)
  std::uint64_t duplicates = 0;           ///< skipped by dedupe (acknowledged)
  std::uint64_t handler_failures = 0;     ///< a handler threw: left pending (GroupConsumer)
  DecodeFailureCounts undecodable;        ///< could not be decoded (see bad_entry_policy)
  std::uint64_t deleted_entries = 0;      ///< pending entries already trimmed from the stream
  std::uint64_t unprocessed_on_stop = 0;  ///< read but not dispatched because stop() came
  std::uint64_t acked = 0;                ///< entries acknowledged (XACK replies)
  std::uint64_t reads = 0;                ///< read/claim round trips
  std::uint64_t transport_errors = 0;     ///< connect, I/O, TLS and timeout failures
  std::uint64_t reply_errors = 0;         ///< commands the server refused (NOGROUP, WRONGTYPE, ...)
  std::uint64_t reconnects = 0;           ///< successful connections after the first
  /// MOVED replies followed (Redis Cluster: the stream's slot moved to another master; the
  /// consumer reconnected there at once).
  std::uint64_t redirects = 0;
  /// A sharded consumer's stats() sums its shards; connected is then true only when every
  /// shard is connected, and last_error is the most recent of any shard.
  bool connected = false;
  std::string last_error;  ///< never contains a password
};

using EventHandler = std::function<void(const ConsumedEvent&)>;
using DecodeFailureHandler = std::function<void(const DecodeFailure&)>;
/// Told about every handler exception (the entry stays pending); `what` is the exception's
/// message ("unknown exception" for non-std exceptions).
using HandlerErrorHandler = std::function<void(const ConsumedEvent&, const std::string& what)>;

/// Which handlers an event goes to: those registered for its type name (built-in names such
/// as "llm_call", or a custom event's own name), then those registered for any type, each in
/// registration order. Register before run()/poll(); not synchronized.
class EventHandlers {
 public:
  EventHandlers();
  ~EventHandlers();
  EventHandlers(EventHandlers&&) noexcept;
  EventHandlers& operator=(EventHandlers&&) noexcept;

  void on(EventType type, EventHandler handler);  ///< EventType::custom means every custom type
  void on(std::string_view type_name, EventHandler handler);
  void on_any(EventHandler handler);
  void on_decode_failure(DecodeFailureHandler handler);
  void on_handler_error(HandlerErrorHandler handler);

  /// Runs the matching handlers; exceptions propagate. Returns how many handlers ran.
  std::size_t dispatch(const ConsumedEvent& message) const;
  void report(const DecodeFailure& failure) const noexcept;
  /// Whether anyone listens: the consumers log what nobody is told about at warning level,
  /// the rest at debug level (so a program that reports failures itself is not told twice).
  bool reports_decode_failures() const noexcept;
  bool reports_handler_errors() const noexcept;
  void report_handler_error(const ConsumedEvent& message, const std::string& what) const noexcept;

 private:
  struct Table;
  std::unique_ptr<Table> table_;
};

namespace detail {
/// The handler-registration members GroupConsumer and StreamReader share; each returns the
/// consumer, so registrations chain.
template <typename Consumer>
class HandlerRegistration {
 public:
  Consumer& on(EventType type, EventHandler handler) {
    table().on(type, std::move(handler));
    return self();
  }
  Consumer& on(std::string_view type_name, EventHandler handler) {
    table().on(type_name, std::move(handler));
    return self();
  }
  Consumer& on_any(EventHandler handler) {
    table().on_any(std::move(handler));
    return self();
  }
  Consumer& on_decode_failure(DecodeFailureHandler handler) {
    table().on_decode_failure(std::move(handler));
    return self();
  }
  Consumer& on_handler_error(HandlerErrorHandler handler) {
    table().on_handler_error(std::move(handler));
    return self();
  }

 private:
  Consumer& self() { return static_cast<Consumer&>(*this); }
  EventHandlers& table() { return self().handler_table(); }
};
}  // namespace detail

/// What one poll() did (a sharded consumer: summed over its shards).
struct PollResult {
  std::size_t entries = 0;  ///< entries read or claimed
  std::size_t handled = 0;  ///< entries whose handlers all returned
  /// The consumer has a connection after the call (sharded: at least one shard has).
  bool connected = false;
  /// Not connected and waiting out a reconnect delay (this long at most; sharded: until the
  /// first shard may try again).
  std::chrono::milliseconds backoff{0};
};

/// A member of a consumer group. One thread runs it (run() or poll()); stop() and stats() may
/// be called from any thread.
///
/// Delivery: at-least-once. An entry is acknowledged only after every matching handler
/// returned; if a handler throws, the entry stays pending (counted, logged, reported to
/// on_handler_error) and comes back after claim_min_idle through XAUTOCLAIM, here or in
/// another consumer of the group. Acknowledgements of one batch go out as one XACK.
class GroupConsumer : public detail::HandlerRegistration<GroupConsumer> {
 public:
  /// Validates the options (ConfigError; group and consumer_name must be set). Does not
  /// connect: that happens in run()/poll(), so a consumer can start while Redis is down.
  explicit GroupConsumer(ConsumerOptions options);
  ~GroupConsumer();
  GroupConsumer(const GroupConsumer&) = delete;
  GroupConsumer& operator=(const GroupConsumer&) = delete;

  // Handlers: on(type), on(name), on_any, on_decode_failure, on_handler_error (see
  // detail::HandlerRegistration); register them before run()/poll().

  /// One step, never sleeping: (re)connect when the backoff allows, claim idle entries when a
  /// claim is due, then read one batch (waiting at most `block` for it), dispatch and
  /// acknowledge it. Transport failures are counted and start the backoff, never thrown.
  /// Sharded: one such step on every shard without waiting; only when none had anything, a
  /// blocking read is sent to every connected shard and the first answers (at most `block`
  /// later) are dispatched. A blocking read still unanswered when poll() returns stays with
  /// its shard and is taken up by a later poll().
  PollResult poll(std::chrono::milliseconds block);
  PollResult poll() { return poll(options().block); }

  /// Polls until stop(), sleeping out reconnect delays (interruptibly). Returns promptly
  /// after stop(): a blocked read or connect is interrupted; a handler that is running
  /// finishes first, then its batch's acknowledgement is sent (bounded by socket_timeout).
  void run();
  /// Thread-safe, never blocks. Sticky: a stopped consumer stays stopped.
  void stop() noexcept;
  bool stopping() const noexcept;

  /// Summed over the shards (see ConsumerStats).
  ConsumerStats stats() const;
  /// Per shard, in shard order (one element when not sharded), a shard's token stream
  /// included.
  std::vector<ConsumerStats> shard_stats() const;
  std::size_t shard_count() const noexcept;
  const ConsumerOptions& options() const noexcept;

 private:
  friend class detail::HandlerRegistration<GroupConsumer>;
  // The library's tests build consumers on fake transports and clocks through detail::Injected.
  friend struct detail::Injected;
  GroupConsumer(ConsumerOptions options, detail::ConsumerSeams seams);
  EventHandlers& handler_table();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Reads a stream without a consumer group (XREAD): every reader sees every entry and nothing
/// is acknowledged. Same threading rules as GroupConsumer.
class StreamReader : public detail::HandlerRegistration<StreamReader> {
 public:
  explicit StreamReader(ConsumerOptions options);
  ~StreamReader();
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // Handlers: on(type), on(name), on_any, on_decode_failure, on_handler_error (see
  // detail::HandlerRegistration); register them before run()/poll().

  /// Like GroupConsumer::poll(). A handler that throws is counted and reported; the reader
  /// moves on (there is nothing to leave pending). block 0 does not wait at all.
  PollResult poll(std::chrono::milliseconds block);
  PollResult poll() { return poll(options().block); }
  void run();
  void stop() noexcept;
  bool stopping() const noexcept;

  /// The id of the last entry read ("" before the first read resolved start_id): a restarted
  /// reader continues from it with start_id = last_id(). Sharded readers, and readers of a
  /// token stream: "" (each stream has
  /// its own position, and ids of different servers do not compare; see last_ids()).
  std::string last_id() const;
  /// Each stream's position: in shard order, each shard's stream_key then (with a
  /// token_stream_key) its token stream. One element when neither sharded nor reading tokens
  /// apart; with a token stream last_id() is "" and a restart from start_id repositions both.
  std::vector<std::string> last_ids() const;
  ConsumerStats stats() const;
  std::vector<ConsumerStats> shard_stats() const;
  std::size_t shard_count() const noexcept;
  const ConsumerOptions& options() const noexcept;

 private:
  friend class detail::HandlerRegistration<StreamReader>;
  friend struct detail::Injected;
  StreamReader(ConsumerOptions options, detail::ConsumerSeams seams);
  EventHandlers& handler_table();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamll
