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
//
// Connections go where the options say the stream is now (one server, an endpoint provider's
// answer, the master Sentinel names, the Redis Cluster master of the key's slot, following
// MOVED). The ShardedStream overloads read every shard of a ShardedRedisSink's deployment and
// merge: totals add up, percentiles are taken over the union of the shards' samples, lag and
// stream length are summed, and a shard that cannot be read is reported while the others are.

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

/// The error rate every report uses (analyze_usage(), check_health(), `streamll stats` and
/// `streamll health`): error events per llm_call event, the guide's analyze_llm_usage()
/// definition ("Error rate: errors / total_calls"). Token, start and end events do not dilute
/// it. nullopt when there was no llm_call. A failed LlmCall emits an error and an llm_call
/// with success false, so calls that all fail give 1.0; errors outside LLM calls (a span
/// unwound by an exception) add to the numerator only, so the rate can exceed 1.
std::optional<double> error_rate(std::uint64_t error_events, std::uint64_t llm_calls) noexcept;

/// A distribution summary. Percentiles use the nearest-rank method: pXX is the smallest
/// sample such that at least XX% of the samples are less than or equal to it (rank
/// ceil(XX/100 * count), 1-based, in sorted order), so it is always one of the samples.
///
/// Exact while the range holds at most UsageQuery::exact_samples samples of this quantity
/// (the samples are kept: 8 bytes each). Past that the samples go into a fixed log-linear
/// histogram (1024 buckets per power of two, 520 KiB) and `exact` is false: each
/// percentile is then the midpoint of the bucket holding the nearest-rank sample, within
/// 0.05% (relative) of it, clamped to [min, max]. count, min, max and mean are always exact.
/// A model's own figures (ModelUsage) are exact up to UsageQuery::model_exact_samples, then
/// from a coarser histogram (32 buckets per power of two, 16 KiB): within 1.6%.
struct Percentiles {
  std::uint64_t count = 0;
  double min = 0, max = 0, mean = 0;
  double p50 = 0, p95 = 0, p99 = 0;
  bool exact = true;
};

/// UsageStats::by_tag keys are tag values cut to this many bytes: a tag value can be as long
/// as any string, and max_tag_values of them are kept in memory.
inline constexpr std::size_t kMaxTagValueBytes = 256;

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
  /// Samples per quantity and model kept for exact percentiles in UsageStats::models.
  std::size_t model_exact_samples = 1000;
  /// Also add the llm_call events up per value of this tag (UsageStats::by_tag), e.g.
  /// "user_id"; empty: not.
  std::string group_by_tag = {};
  /// Distinct values of group_by_tag counted individually (each like a model: up to 114 KiB
  /// past model_exact_samples calls, plus its value, cut to kMaxTagValueBytes); further ones
  /// are added up under "(other)". 0: every value goes to "(other)" (and "(none)" still
  /// counts the calls without the tag). Across shards the first values in merge order (shard
  /// order, each shard's values in byte order) keep their place, not the first seen in time.
  std::size_t max_tag_values = 1000;
};

/// One model's llm_call events (UsageStats::models): its totals and latency distributions.
struct ModelUsage {
  std::uint64_t calls = 0;
  std::uint64_t failed_calls = 0;  ///< success == false
  std::int64_t total_tokens = 0, input_tokens = 0, output_tokens = 0;
  std::int64_t cached_input_tokens = 0;  ///< of input_tokens, served from a prompt cache
  std::int64_t reasoning_tokens = 0;     ///< of output_tokens, spent on reasoning
  double total_cost_usd = 0;             ///< the valid costs only, as UsageStats::total_cost_usd
  Percentiles response_time_ms;          ///< over its calls that have response_time_ms
  Percentiles ttft_ms;                   ///< ... ttft_ms (calls that streamed)
  Percentiles time_per_output_token_ms;  ///< ... time_per_output_token_ms (two tokens or more)
  /// The distribution over calls of each call's own inter_token_ms_p95: its p95 is the
  /// typical worst stretch of a call, its max the worst call's.
  Percentiles inter_token_ms_p95;
  /// ... output_tokens_per_second (tokens after the first per second, TTFT left out); higher
  /// is better, so the slow calls are at its low end (min).
  Percentiles output_tokens_per_second;
  /// The distribution over calls of each call's own inter_token_ms_p50 (its typical gap).
  Percentiles inter_token_ms_p50;
  /// The distribution over calls of each call's own inter_token_ms_max (its longest stall).
  Percentiles inter_token_ms_max;
};

/// One shard's part in a sharded query (see ShardedStream).
struct ShardStatus {
  std::size_t shard = 0;
  std::string stream;  ///< the shard's stream key
  std::string server;  ///< where it was read: host:port, or the URL with its password redacted
  bool ok = true;      ///< false: it could not be read (see error); its numbers are 0
  std::string error;   ///< why (unreachable, login refused, ...); never a password
  bool stream_exists = false;  ///< false also for a shard no event was routed to yet
};

/// A shard's share of a sharded analyze_usage().
struct ShardUsage : ShardStatus {
  std::uint64_t entries = 0;  ///< entries of this shard in the range
  std::uint64_t events = 0;   ///< of which decoded as events
};

/// The guide's analyze_llm_usage() result, and a little more.
struct UsageStats {
  std::string stream;
  std::uint64_t from_ms = 0;           ///< start of the range read (inclusive)
  std::optional<std::uint64_t> to_ms;  ///< end (inclusive), nullopt: the newest entry
  std::uint64_t entries = 0;           ///< stream entries in the range
  std::uint64_t events = 0;            ///< of which decoded as events
  DecodeFailureCounts undecodable;     ///< the others
  std::map<std::string, std::uint64_t> events_by_type;
  std::uint64_t total_calls = 0;   ///< llm_call events
  std::uint64_t failed_calls = 0;  ///< llm_call events with success == false
  std::int64_t total_tokens = 0;   ///< sum of tokens_used
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cached_input_tokens = 0;  ///< of input_tokens: sum of cached_input_tokens
  std::int64_t reasoning_tokens = 0;     ///< of output_tokens: sum of reasoning_tokens
  double total_cost_usd = 0;             ///< sum of cost_usd, the valid ones only
  /// llm_call events whose cost_usd is present but not a finite number >= 0 (negative, null as
  /// NaN is written, a string): counted otherwise, but their cost is not summed.
  std::uint64_t invalid_cost = 0;
  std::map<std::string, std::uint64_t> calls_per_model;  ///< "unknown" when no model
  /// Per model, the same names as calls_per_model (bounded by max_models, "(other)" past it).
  std::map<std::string, ModelUsage> models;
  Percentiles response_time_ms;  ///< over llm_calls that have response_time_ms
  Percentiles ttft_ms;           ///< over llm_calls that have ttft_ms
  std::uint64_t errors = 0;      ///< error events
  /// error_rate(errors, total_calls): nullopt when there were no calls.
  std::optional<double> error_rate;
  std::uint64_t pages = 0;  ///< XRANGE round trips
  std::chrono::milliseconds elapsed{0};
  /// Sharded queries only: each shard, in shard order. from_ms is then the earliest shard's
  /// start (each shard's range starts `since` before its own server's time).
  std::vector<ShardUsage> shards;
  /// UsageQuery::group_by_tag, and per value of that tag its llm_call events, as `models` has
  /// them per model: "(none)" for the calls without the tag, "(other)" for those of values past
  /// UsageQuery::max_tag_values (a tag value spelt "(none)" or "(other)" joins those). Values
  /// longer than kMaxTagValueBytes are cut to that (at a UTF-8 character boundary), so values
  /// alike in their first 256 bytes are added up as one.
  std::string tag_key;
  std::map<std::string, ModelUsage> by_tag;
  /// False when a shard could not be read: the totals cover the others only.
  bool complete() const noexcept {
    for (const auto& s : shards) {
      if (!s.ok) return false;
    }
    return true;
  }
};

/// Reads the range with paged XRANGE and adds it up. Entries that are not events are counted
/// in `undecodable`, never fatal. Throws IoError (and children) when Redis cannot be
/// reached, AuthError when the login fails, StreamNotFoundError when the key does
/// not exist, ReplyError when it is not a stream, ConfigError for bad options.
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
  /// Alert when the window's error_rate() (error events / llm_call events) exceeds this, or
  /// when it has error events and no llm_call at all.
  double max_error_rate = 0.05;
};

/// One consumer of a group (XINFO CONSUMERS).
struct ConsumerInfo {
  std::string name;
  std::uint64_t pending = 0;
  std::int64_t idle_ms = 0;  ///< since its last interaction
};

/// A group's state on one shard (sharded queries only).
struct GroupShardInfo {
  std::size_t shard = 0;
  std::string stream;
  std::uint64_t consumers = 0;
  std::uint64_t pending = 0;
  std::uint64_t lag = 0;
  bool lag_exact = true;
  std::string last_delivered_id;
};

/// One consumer group (XINFO GROUPS). A sharded query merges the group of the same name on
/// every shard: pending and lag summed, entries_read summed (nullopt unless every shard
/// reports it), consumers the distinct consumer names when listed (else the most any shard
/// has), consumer_list merged by name (pending summed, the smallest idle time), and
/// last_delivered_id empty (each shard's is in `shards`).
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
  std::vector<GroupShardInfo> shards;       ///< sharded queries only: per shard it exists on
};

struct HealthAlert {
  /// shard_unavailable: a shard of a sharded deployment could not be checked (the others were).
  enum class Kind {
    stream_missing,
    no_recent_events,
    high_lag,
    high_error_rate,
    shard_unavailable
  };
  Kind kind;
  std::string message;  ///< "No recent events - streamll may be down", ...
};

/// A shard's share of a sharded check_health().
struct ShardHealth : ShardStatus {
  std::uint64_t stream_length = 0;
  std::uint64_t events_in_window = 0;
  std::uint64_t llm_calls_in_window = 0;
  std::uint64_t errors_in_window = 0;
  std::uint64_t total_lag = 0;
  std::uint64_t pending = 0;
};

/// The guide's streamll_health_check() metrics plus the alerts they raise. For a sharded
/// deployment: every number summed over the shards that could be checked (error rate over the
/// summed window), groups merged by name (see GroupInfo), the stream missing only when no
/// shard has one, and a shard_unavailable alert per shard that could not be checked.
struct HealthReport {
  std::string stream;
  bool stream_exists = false;
  std::uint64_t stream_length = 0;
  std::uint64_t events_in_window = 0;     ///< entries in the window (the guide's events_per_minute)
  std::uint64_t llm_calls_in_window = 0;  ///< llm_call events among them
  std::uint64_t errors_in_window = 0;     ///< error events among them
  std::uint64_t undecodable_in_window = 0;
  /// error_rate(errors_in_window, llm_calls_in_window): nullopt without calls in the window.
  std::optional<double> error_rate;
  /// The window's llm_call events per model: calls, cost and latency percentiles (response
  /// time, TTFT, time per output token, each call's inter-token p50, p95 and max, output
  /// tokens per second), as in UsageStats::models.
  std::map<std::string, ModelUsage> models;
  std::size_t consumer_groups = 0;
  std::uint64_t total_lag = 0;
  bool lag_exact = true;      ///< false when a group's lag had to be counted (capped)
  std::uint64_t pending = 0;  ///< summed over groups
  std::vector<GroupInfo> groups;
  HealthThresholds thresholds;
  std::vector<HealthAlert> alerts;
  std::uint64_t server_time_ms = 0;  ///< sharded: the latest of the shards' servers
  std::vector<ShardHealth> shards;   ///< sharded checks only: each shard, in shard order

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
std::vector<GroupInfo> list_groups(const RedisConnectionOptions& connection,
                                   const std::string& stream, bool with_consumers = true);

/// Every shard of a sharded deployment, as a ShardedRedisSink writes it
/// (docs/high-availability.md): shard i's stream is shard_stream_key(stream, i), on
/// shard_urls[i] when given (one Redis each; connection.url is then not used) or else, with
/// shard_count, on the deployment `connection` names (typically a Redis Cluster). Every other
/// connection setting applies to every shard. With neither set it is the one stream `stream`.
/// The same layout as ShardedRedisSinkOptions and ConsumerOptions.
struct ShardedStream {
  RedisConnectionOptions connection;
  std::string stream = "ml_events";
  std::vector<std::string> shard_urls;
  std::size_t shard_count = 0;

  bool sharded() const noexcept { return !shard_urls.empty() || shard_count > 0; }
  /// ConfigError naming the option (and the shard): the layout, each shard's connection.
  void validate() const;
};

/// analyze_usage() over every shard, merged (percentiles over the union of the samples). A
/// shard that cannot be read is reported in `shards` (ok false) and left out of the totals;
/// a shard without the stream counts as empty. Throws like analyze_usage() when no shard
/// could be read (the first shard's error), StreamNotFoundError when no shard has the stream.
UsageStats analyze_usage(const ShardedStream& source, const UsageQuery& query = {});

/// check_health() over every shard, merged, with a shard_unavailable alert per shard that
/// could not be checked. Throws like check_health() only when no shard could be checked.
HealthReport check_health(const ShardedStream& source, const HealthThresholds& thresholds = {});

/// list_groups() over every shard: the groups merged by name (see GroupInfo), and each
/// shard's status (one that could not be read is left out of the groups).
struct GroupsReport {
  std::vector<GroupInfo> groups;
  std::vector<ShardStatus> shards;
  /// Entries in the stream (XLEN), summed over the shards read.
  std::uint64_t stream_length = 0;
  bool complete() const noexcept {
    for (const auto& s : shards) {
      if (!s.ok) return false;
    }
    return true;
  }
};
/// Throws like list_groups() when no shard could be read, StreamNotFoundError when no shard has
/// the stream.
GroupsReport list_groups(const ShardedStream& source, bool with_consumers = true);

}  // namespace streamll
