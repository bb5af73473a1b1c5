#pragma once
// Usage statistics and health checks over a Redis stream of streamll events: the guide's
// analyze_llm_usage() and streamll_health_check(), as library functions (the `streamll stats`
// and `streamll health` commands print what these return).
//
//   streamll::RedisConnectionOptions redis = streamll::RedisConnectionOptions::from_env();
//   streamll::UsageQuery query;                         // the last 24 hours
//   streamll::UsageStats s = streamll::analyze_usage(redis, "ml_events", query);
//   std::cout << s.total_calls << " calls, $" << s.total_cost_usd << "\n";
//
//   streamll::HealthReport h = streamll::check_health(redis, "ml_events");
//   for (const auto& alert : h.alerts) std::cout << "ALERT: " << alert.message << "\n";
//
// Both read with XRANGE in pages of `page_size` entries, so a stream of millions of entries
// never sits in memory at once; memory stays bounded whatever the range (see Percentiles).
// Times come from the Redis server's clock (TIME), the clock that stamped the entry ids.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "streamll/redis/consumer.hpp"
#include "streamll/redis/errors.hpp"
#include "streamll/redis/options.hpp"

namespace streamll {

/// A distribution summary. Percentiles use the nearest-rank method: pXX is the smallest
/// sample such that at least XX% of the samples are less than or equal to it (rank
/// ceil(XX/100 * count), 1-based, in sorted order), so it is always one of the samples.
///
/// Exact while the range holds at most UsageQuery::exact_samples samples of this quantity
/// (the samples are kept: 8 bytes each). Past that the samples go into a fixed log-linear
/// histogram (1024 buckets per power of two, 512 KiB) and `exact` is false: each
/// percentile is then the midpoint of the bucket holding the nearest-rank sample, within
/// 0.05% (relative) of it, clamped to [min, max]. count, min, max and mean are always exact.
struct Percentiles {
  std::uint64_t count = 0;
  double min = 0, max = 0, mean = 0;
  double p50 = 0, p95 = 0, p99 = 0;
  bool exact = true;
};

struct UsageQuery {
  /// The range starts this long before the server's current time...
  std::chrono::milliseconds since = std::chrono::hours(24);
  /// ...unless an explicit start (stream id milliseconds, inclusive) is given.
  std::optional<std::uint64_t> from_ms;
  /// End of the range (milliseconds, inclusive); nullopt: up to the newest entry.
  std::optional<std::uint64_t> to_ms;
  /// Entries per XRANGE call. >= 1.
  std::size_t page_size = 1000;
  /// Samples per quantity kept for exact percentiles (see Percentiles).
  std::size_t exact_samples = 100000;
  /// Distinct model names (and event type names) counted individually; further ones are
  /// added up under "(other)".
  std::size_t max_models = 1000;
};

/// The guide's analyze_llm_usage() result, and a little more.
struct UsageStats {
  std::string stream;
  std::uint64_t from_ms = 0;          ///< start of the range read (inclusive)
  std::optional<std::uint64_t> to_ms; ///< end (inclusive), nullopt: the newest entry
  std::uint64_t entries = 0;          ///< stream entries in the range
  std::uint64_t events = 0;           ///< of which decoded as events
  DecodeFailureCounts undecodable;    ///< the others
  std::map<std::string, std::uint64_t> events_by_type;
  std::uint64_t total_calls = 0;      ///< llm_call events
  std::uint64_t failed_calls = 0;     ///< llm_call events with success == false
  std::int64_t total_tokens = 0;      ///< sum of tokens_used
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  double total_cost_usd = 0;          ///< sum of cost_usd
  std::map<std::string, std::uint64_t> calls_per_model;  ///< "unknown" when no model
  Percentiles response_time_ms;       ///< over llm_calls that have response_time_ms
  Percentiles ttft_ms;                ///< over llm_calls that have ttft_ms
  std::uint64_t errors = 0;           ///< error events
  /// The guide's error rate: errors / total_calls; nullopt when there were no calls.
  std::optional<double> error_rate;
  std::uint64_t pages = 0;            ///< XRANGE round trips
  std::chrono::milliseconds elapsed{0};
};

/// Reads the range with paged XRANGE and adds it up. Entries that are not events are counted
/// in `undecodable`, never fatal. Throws redis::IoError (and children) when Redis cannot be
/// reached, redis::AuthError when the login fails, redis::StreamNotFoundError when the key does
/// not exist, redis::ReplyError when it is not a stream, ConfigError for bad options.
UsageStats analyze_usage(const RedisConnectionOptions& connection, const std::string& stream,
                         const UsageQuery& query = {});

/// The guide's alert thresholds.
struct HealthThresholds {
  /// The window "recent" means.
  std::chrono::milliseconds window = std::chrono::minutes(1);
  /// Alert when fewer events than this arrived in the window (the guide: none at all).
  std::uint64_t min_recent_events = 1;
  /// Alert when the consumer groups' total lag exceeds this.
  std::uint64_t max_total_lag = 1000;
  /// Alert when error events / all events in the window exceeds this.
  double max_error_rate = 0.05;
};

/// One consumer of a group (XINFO CONSUMERS).
struct ConsumerInfo {
  std::string name;
  std::uint64_t pending = 0;
  std::int64_t idle_ms = 0;  ///< since its last interaction
};

/// One consumer group (XINFO GROUPS).
struct GroupInfo {
  std::string name;
  std::uint64_t consumers = 0;
  std::uint64_t pending = 0;  ///< delivered, not acknowledged
  std::string last_delivered_id;
  std::optional<std::uint64_t> entries_read;
  /// Entries not yet delivered to the group. Redis 7 reports it, except when it cannot know
  /// (entries were deleted or trimmed past the group): then it is counted here with XRANGE
  /// after last_delivered_id, at most HealthThresholds::max_total_lag + 1 entries, and
  /// lag_exact is false.
  std::uint64_t lag = 0;
  bool lag_exact = true;
  std::vector<ConsumerInfo> consumer_list;  ///< filled by list_groups(with_consumers=true)
};

struct HealthAlert {
  enum class Kind { stream_missing, no_recent_events, high_lag, high_error_rate };
  Kind kind;
  std::string message;  ///< "No recent events - streamll may be down", ...
};

/// The guide's streamll_health_check() metrics plus the alerts they raise.
struct HealthReport {
  std::string stream;
  bool stream_exists = false;
  std::uint64_t stream_length = 0;
  std::uint64_t events_in_window = 0;   ///< entries in the window (the guide's events_per_minute)
  std::uint64_t errors_in_window = 0;   ///< error events among them
  std::uint64_t undecodable_in_window = 0;
  double error_rate = 0;                ///< errors / max(entries in window, 1)
  std::size_t consumer_groups = 0;
  std::uint64_t total_lag = 0;
  bool lag_exact = true;                ///< false when a group's lag had to be counted (capped)
  std::uint64_t pending = 0;            ///< summed over groups
  std::vector<GroupInfo> groups;
  HealthThresholds thresholds;
  std::vector<HealthAlert> alerts;
  std::uint64_t server_time_ms = 0;

  bool healthy() const noexcept { return alerts.empty(); }
};

/// Measures and compares against `thresholds`. A missing stream is a report with a
/// stream_missing alert, not an exception. Throws like analyze_usage() when Redis cannot be
/// reached or refuses.
HealthReport check_health(const RedisConnectionOptions& connection, const std::string& stream,
                          const HealthThresholds& thresholds = {});

/// The stream's consumer groups (XINFO GROUPS), with their consumers when asked (XINFO
/// CONSUMERS, one pipelined round trip for all groups). Throws like analyze_usage(),
/// including StreamNotFoundError.
std::vector<GroupInfo> list_groups(const RedisConnectionOptions& connection, const std::string& stream,
                                   bool with_consumers = true);

}  // namespace streamll
