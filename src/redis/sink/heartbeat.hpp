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
//   ZREMRANGEBYSCORE <index> -inf <now - ttl> prune producers expired a whole TTL ago
//   PEXPIRE <index> <ttl>                     the index goes when its last producer does

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "redis/transport/command_buffer.hpp"
#include "redis/transport/reply.hpp"
#include "streamll/sinks/redis_sink.hpp"
#include "support/clock.hpp"

namespace streamll::redis {

class Heartbeat {
 public:
  static constexpr std::size_t kCommands = 5;
  /// A producer's hash lives this many intervals past its last heartbeat.
  static constexpr int kTtlIntervals = 3;

  /// Identity from the process (host name, pid, program name) and a per-process sink number.
  Heartbeat(const RedisSinkOptions& options, const detail::ClockSource& clock);

  bool enabled() const noexcept { return interval_.count() > 0; }
  void disable() noexcept { interval_ = std::chrono::milliseconds(0); }
  /// Enabled, and the interval since the last attempt passed (the first is due at once).
  bool due() const noexcept { return enabled() && clock_.steady_now() >= next_; }
  /// The commands of one heartbeat carrying `stats`, into `out` (cleared first). The next one is
  /// due an interval from now, whether this one gets written or not.
  void write(const RedisSinkStats& stats, CommandBuffer& out);
  /// Empty when every reply is a success; else the first error (or the count that is missing).
  static std::string refusal(const std::vector<RedisReply>& replies);

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
  // When the sink's drop count last grew, as seen by a heartbeat (0: never): readers alert on a
  // recent one without keeping history.
  std::uint64_t dropped_seen_ = 0;
  std::int64_t dropped_at_ms_ = 0;
};

}  // namespace streamll::redis
