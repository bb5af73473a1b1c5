#pragma once
// Internal: a RedisSink's producer heartbeat (docs/monitoring.md), without the I/O: when the
// next one is due (on the sink's injectable clock), and the commands that write one from the
// sink's stats. RedisEngine sends them on its connection, between batches.
//
// One heartbeat is five commands, pipelined, no MULTI (the keys share the stream's hash tag
// anyway, see streamll/redis/heartbeats.hpp):
//   HSET <producer key> <field> <value> ...   the counters, identity and times
//   PEXPIRE <producer key> <ttl>              gone 3 intervals after the last heartbeat
//   ZADD <index> <expiry ms> <id>             listed for readers, without SCAN
//   ZREMRANGEBYSCORE <index> -inf <cutoff>    prune producers expired over an hour ago
//   PEXPIRE <index> <24 h>                    the index goes a day after its last writer
// The index keeps a producer that stopped reporting for an hour (10 TTLs at least), so that
// readers can tell "gone" from "never was"; its expiry and the prune are far longer than any
// producer's TTL, so that neither another producer's interval nor its clock's skew (up to an
// hour) removes a live one. A sink that shuts down cleanly removes its own entry (farewell()).
//
// Schedule: the first at once, then every interval. After a failed connect, a connection lost
// during a heartbeat, or a refusal that a retry soon will not cure (NOPERM, a wrong node) the
// next try backs off (postpone()), doubling up to a minute,
// less up to a tenth at random: an outage costs Redis a few connects a minute per producer
// rather than one an interval, and a fleet that lost Redis together does not come back in step.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "redis/transport/command_buffer.hpp"
#include "redis/transport/reply.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "support/clock.hpp"

namespace streamll::redis {

class Heartbeat {
 public:
  /// A producer's hash lives this many intervals past its last heartbeat.
  static constexpr int kTtlIntervals = 3;
  /// The longest wait between two tries after failures.
  static constexpr std::chrono::milliseconds kMaxBackoff{60000};
  /// The index outlives its last writer by this much, and keeps a stopped producer's entry at
  /// least kPruneAfter (or 10 TTLs) past its expiry.
  static constexpr std::chrono::hours kIndexTtl{24};
  static constexpr std::chrono::hours kPruneAfter{1};

  /// Identity from the process (host name, pid, program name) and a per-process sink number.
  Heartbeat(const RedisSinkOptions& options, const detail::ClockSource& clock);

  bool enabled() const noexcept { return interval_.count() > 0; }
  void disable() noexcept { interval_ = std::chrono::milliseconds(0); }
  /// Enabled, and the interval since the last attempt passed (the first is due at once).
  bool due() const noexcept { return enabled() && clock_.steady_now() >= next_; }
  /// How long until due (zero when due; duration::max() when disabled).
  std::chrono::steady_clock::duration until_due() const noexcept;
  /// The commands of one heartbeat carrying `stats`, into `out` (cleared first). The next one is
  /// due an interval from now, whether this one gets written or not.
  void write(const RedisSinkStats& stats, CommandBuffer& out);
  /// Redis accepted the last one written: a backoff ends.
  void succeeded() noexcept;
  /// The try failed in a way the next interval will not cure (no connection, NOPERM): the next
  /// is due after a backoff, doubling from the interval to kMaxBackoff (or `at_least`), less up
  /// to a tenth at random. Returns the delay.
  std::chrono::milliseconds postpone(std::chrono::milliseconds at_least = {});
  /// Whether Redis ever accepted one (so that farewell() has something to remove).
  bool accepted() const noexcept { return accepted_; }
  /// The commands that remove this producer (DEL its hash, ZREM it from the index): a clean
  /// shutdown, after which readers do not report it as gone.
  void farewell(CommandBuffer& out) const;

  const std::string& id() const noexcept { return id_; }
  const std::string& key() const noexcept { return key_; }
  const std::string& index_key() const noexcept { return index_key_; }
  std::chrono::milliseconds interval() const noexcept { return interval_; }
  std::chrono::milliseconds ttl() const noexcept { return interval_ * kTtlIntervals; }

 private:
  const detail::ClockSource& clock_;
  std::chrono::milliseconds interval_;
  std::string id_;
  std::string service_;
  std::string host_;
  std::string pid_;
  std::string stream_;
  std::string token_stream_;
  std::string key_;
  std::string index_key_;
  std::int64_t started_at_ms_ = 0;
  std::chrono::steady_clock::time_point next_;
  std::chrono::milliseconds backoff_{0};  // the last postpone()'s, 0 after a success
  bool accepted_ = false;
  std::minstd_rand jitter_;
  // When the sink's drop count last grew, as seen by a heartbeat (0: never): readers alert on a
  // recent one without keeping history.
  std::uint64_t dropped_seen_ = 0;
  std::int64_t dropped_at_ms_ = 0;

  std::chrono::milliseconds jittered(std::chrono::milliseconds delay);
};

}  // namespace streamll::redis
