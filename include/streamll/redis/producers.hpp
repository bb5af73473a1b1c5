#pragma once
// The live producers of a stream, from their heartbeats (RedisSinkOptions::heartbeat_interval,
// docs/monitoring.md): what `streamll producers` lists and `streamll health` checks.
//
//   streamll::ShardedStream source;  // connection, stream (and shards, if sharded)
//   for (const auto& p : streamll::list_producers(source).producers)
//     std::cout << p.service << " on " << p.host << ": " << p.dropped << " dropped\n";

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "streamll/redis/analytics.hpp"

namespace streamll {

/// One producer's latest heartbeat: a RedisSink, or one shard of a ShardedRedisSink. Counters
/// are the sink's stats() when it wrote it; times are Unix milliseconds on the producer's clock.
/// Heartbeats are not authenticated: every text is as written, except that bytes which are not
/// UTF-8 are replaced by U+FFFD (control characters are kept: escape them before printing).
struct ProducerInfo {
  std::string id;       ///< "<host>:<pid>:<n>", n counting the process's sinks
  std::string service;  ///< RedisSinkOptions::consumer_name, else the program's name
  std::string host;
  std::int64_t pid = 0;
  std::string version;  ///< the streamll version that wrote it
  std::string stream;   ///< the stream (shard) the sink writes
  std::string token_stream;
  std::int64_t started_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t interval_ms = 0;
  std::int64_t ttl_ms = 0;
  std::uint64_t delivered = 0;
  std::uint64_t failed = 0;
  std::uint64_t truncated = 0;
  std::uint64_t dropped = 0;  ///< every reason, summed (dropped_by_reason has each)
  std::map<std::string, std::uint64_t> dropped_by_reason;  ///< "oldest", "newest", ...
  std::int64_t dropped_at_ms = 0;  ///< the heartbeat that first saw the latest drops; 0: none
  std::uint64_t buffered = 0;
  std::string breaker = "closed";  ///< closed, open, half_open
  std::uint64_t transport_errors = 0;
  std::string last_error;  ///< free of secrets, as stats().last_error
  std::int64_t last_error_at_ms = 0;
  std::uint64_t heartbeats_failed = 0;
  std::size_t shard = 0;                      ///< the shard whose index listed it
  std::map<std::string, std::string> fields;  ///< every field as written, newer ones included
};

/// A producer that stopped reporting: its id is still in the index but its heartbeat is gone
/// (expired, or written so long ago that it must have lost its TTL). A sink that stops cleanly
/// removes both, so this is a producer that died or lost Redis. A producer that never managed
/// to write a heartbeat is in no index: no reader can see it.
struct GoneProducer {
  std::string id;
  std::string stream;  ///< the stream (shard) whose index listed it
  std::size_t shard = 0;
  /// Its index score: when its last heartbeat expired, Unix ms on the producer's clock.
  std::int64_t expired_at_ms = 0;
};

struct ProducersReport {
  std::string stream;
  std::vector<ProducerInfo> producers;  ///< by service, host, pid, id
  std::vector<ShardStatus> shards;      ///< every shard read (one when not sharded)
  std::int64_t server_time_ms = 0;      ///< the (latest) server clock when read
  std::vector<GoneProducer> gone;       ///< stopped reporting, the latest expiry first
  /// Some shard's index listed more producers than are read (10000 a shard, the latest
  /// expiries first): the others are in neither list.
  bool truncated = false;
  bool complete() const noexcept {
    for (const auto& s : shards) {
      if (!s.ok) return false;
    }
    return true;
  }
};

/// The producers whose heartbeat has not expired, and those that stopped reporting, read from
/// producers_index_key() and each producer_heartbeat_key() of every shard (two pipelined round
/// trips a shard, no SCAN). Read-only: writers prune the index. A heartbeat whose updated_at is
/// more than two TTLs (ttl_ms) behind the server's TIME counts as gone (a hash that lost its
/// TTL). A shard that cannot be read is reported in `shards`; throws like list_groups() only
/// when no shard could be read.
ProducersReport list_producers(const ShardedStream& source);

/// Why a producer needs attention, one line each (empty: none): its breaker is not closed, or
/// it dropped events within `window` of now_ms (the heartbeat that saw the drops).
std::vector<std::string> producer_problems(const ProducerInfo& producer, std::int64_t now_ms,
                                           std::chrono::milliseconds window);

/// A producer that stopped reporting needs attention when its heartbeat expired within
/// `window` of now_ms (or later, by a skewed clock): one line, else empty.
std::vector<std::string> producer_problems(const GoneProducer& producer, std::int64_t now_ms,
                                           std::chrono::milliseconds window);

}  // namespace streamll
