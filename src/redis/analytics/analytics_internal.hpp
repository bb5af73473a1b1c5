#pragma once
// Internal: the analytics over an existing connection (for tests with a fake transport), and
// the pieces the sharded overloads are made of: one shard's measurement, and the pure merges.

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "redis/analytics/usage_accumulator.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "redis/transport/transport.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/analytics.hpp"

namespace streamll::redis {

/// The server's clock in milliseconds (TIME).
std::uint64_t server_time_ms(RedisTransport& t);

/// True when `stream` is a stream; false (or StreamNotFoundError when `missing_is_error`) when
/// the key does not exist; ReplyError (WRONGTYPE) when it holds something else.
bool require_stream(RedisTransport& t, const std::string& stream, bool missing_is_error);

/// Visits the entries of XRANGE stream start end, at most `limit` of them, `page_size` per
/// round trip (the next page starts after the last id seen). Returns the round trips made.
std::uint64_t scan_range(RedisTransport& t, const std::string& stream, std::string start,
                         const std::string& end, std::size_t page_size, std::uint64_t limit,
                         const std::function<void(const StreamEntry&)>& visit);

/// What scan_usage() read: whether the stream exists, where the range started, round trips.
struct UsageScan {
  bool exists = false;
  std::uint64_t from_ms = 0;
  std::uint64_t pages = 0;
};
/// Adds the query's range of `stream` to `totals`. A missing stream is StreamNotFoundError
/// when `missing_is_error`, else an empty scan.
UsageScan scan_usage(RedisTransport& t, const std::string& stream, const UsageQuery& query,
                     UsageAccumulator& totals, bool missing_is_error);

UsageStats analyze_usage(RedisTransport& t, const std::string& stream, const UsageQuery& query);
HealthReport check_health(RedisTransport& t, const std::string& stream,
                          const HealthThresholds& thresholds);
std::vector<GroupInfo> read_groups(RedisTransport& t, const std::string& stream,
                                   bool with_consumers);
/// XLEN of the stream (0 when it does not exist).
std::uint64_t stream_length(RedisTransport& t, const std::string& stream);

/// check_health() without the alerts: the numbers of one stream (of one shard). The window's
/// llm_call events also go into `window_calls` (shards' are merged for the models' figures).
HealthReport measure_health(RedisTransport& t, const std::string& stream,
                            const HealthThresholds& thresholds, UsageAccumulator& window_calls);
/// The alerts `report`'s numbers call for against report.thresholds; `missing_message` is the
/// stream_missing alert's text.
void add_health_alerts(HealthReport& report, const std::string& missing_message);

/// Adds `group`, as found on `shard` (stream `stream`), to the groups merged by name `into`
/// (see GroupInfo for the rules).
void merge_group(std::vector<GroupInfo>& into, const GroupInfo& group, std::size_t shard,
                 const std::string& stream);

/// Merges the shards' measurements (measure_health) into one report with its alerts: `status`
/// says which shards were checked (ok) and `measured[i]` is shard i's when it was. Pure.
HealthReport merge_health(const std::string& stream, const HealthThresholds& thresholds,
                          const std::vector<ShardHealth>& status,
                          const std::vector<HealthReport>& measured);

/// One shard of a ShardedStream (the one stream when not sharded): its connection and key.
struct ShardSource {
  std::size_t index = 0;
  RedisConnectionOptions connection;
  std::string stream;
};
/// Validates `source` (ConfigError) and lists its shards.
std::vector<ShardSource> shard_sources(const ShardedStream& source);

// Reads one shard with `read`, recording a failure in `status` (and the first one of all in
// `first_error`) instead of throwing. Bad options are the caller's mistake: they propagate.
template <typename Read>
inline void read_shard(ShardStatus& status, std::exception_ptr& first_error, Read read) {
  try {
    read();
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    status.ok = false;
    status.error = e.what();
    if (!first_error) first_error = std::current_exception();
  }
}

/// Makes the transports of shard `shard` (tests); empty: the real ones.
using ShardTransportMaker = std::function<TransportMaker(std::size_t shard)>;
UsageStats analyze_usage(const ShardedStream& source, const UsageQuery& query,
                         const ShardTransportMaker& make);
HealthReport check_health(const ShardedStream& source, const HealthThresholds& thresholds,
                          const ShardTransportMaker& make);
GroupsReport list_groups(const ShardedStream& source, bool with_consumers,
                         const ShardTransportMaker& make);

}  // namespace streamll::redis
