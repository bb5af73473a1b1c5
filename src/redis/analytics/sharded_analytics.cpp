// The analytics over every shard of a sharded deployment: each shard read over its own
// connection (wherever its options say it is), the results merged. A shard that cannot be read
// is reported and the others are still read: a partial answer says so rather than hiding an
// outage, and only a deployment with no readable shard at all is an error.

#include <algorithm>
#include <exception>
#include <optional>

#include "redis/analytics/analytics_internal.hpp"
#include "redis/routing/query_connection.hpp"
#include "redis/routing/shard_layout.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/analytics.hpp"
#include "streamll/redis/url.hpp"

namespace streamll {

void ShardedStream::validate() const {
  if (stream.empty()) throw ConfigError("stream", "must not be empty");
  redis::validate_shard_layout(shard_urls, shard_count, /*required=*/false);
  if (!sharded()) {
    connection.validate();
    return;
  }
  for (std::size_t i = 0; i < redis::shard_total(shard_urls, shard_count); ++i) {
    RedisConnectionOptions shard = connection;
    if (!shard_urls.empty()) shard.url = shard_urls[i];
    try {
      shard.validate();
    } catch (const ConfigError& e) {
      redis::rethrow_for_shard(e, i);
    }
  }
}

namespace redis {
namespace {

TransportMaker maker_for(const ShardTransportMaker& make, std::size_t shard) {
  return make ? make(shard) : TransportMaker{};
}

template <typename Status>
Status status_of(const ShardSource& s) {
  Status status;
  status.shard = s.index;
  status.stream = s.stream;
  status.server = redact_redis_url(s.connection.url);
  return status;
}

std::string shard_range(const ShardedStream& source, std::size_t n) {
  return shard_stream_key_of(source.stream, 0) +
         (n > 1 ? " .. " + shard_stream_key_of(source.stream, n - 1) : "");
}

}  // namespace

std::vector<ShardSource> shard_sources(const ShardedStream& source) {
  source.validate();
  std::vector<ShardSource> out;
  if (!source.sharded()) {
    out.push_back(ShardSource{0, source.connection, source.stream});
    return out;
  }
  const std::size_t n = shard_total(source.shard_urls, source.shard_count);
  for (std::size_t i = 0; i < n; ++i) {
    ShardSource s;
    s.index = i;
    s.connection = source.connection;
    if (!source.shard_urls.empty()) s.connection.url = source.shard_urls[i];
    s.stream = shard_stream_key_of(source.stream, i);
    out.push_back(std::move(s));
  }
  return out;
}

void merge_group(std::vector<GroupInfo>& into, const GroupInfo& group, std::size_t shard,
                 const std::string& stream) {
  GroupShardInfo part;
  part.shard = shard;
  part.stream = stream;
  part.consumers = group.consumers;
  part.pending = group.pending;
  part.lag = group.lag;
  part.lag_exact = group.lag_exact;
  part.last_delivered_id = group.last_delivered_id;
  auto it = std::find_if(into.begin(), into.end(),
                         [&](const GroupInfo& g) { return g.name == group.name; });
  if (it == into.end()) {
    GroupInfo merged = group;
    merged.last_delivered_id.clear();
    merged.shards = {part};
    into.push_back(std::move(merged));
    return;
  }
  GroupInfo& m = *it;
  m.pending += group.pending;
  m.lag += group.lag;
  m.lag_exact = m.lag_exact && group.lag_exact;
  m.entries_read = m.entries_read && group.entries_read
                       ? std::optional<std::uint64_t>(*m.entries_read + *group.entries_read)
                       : std::nullopt;
  for (const ConsumerInfo& c : group.consumer_list) {
    auto same = std::find_if(m.consumer_list.begin(), m.consumer_list.end(),
                             [&](const ConsumerInfo& x) { return x.name == c.name; });
    if (same == m.consumer_list.end()) {
      m.consumer_list.push_back(c);
    } else {
      same->pending += c.pending;
      same->idle_ms = std::min(same->idle_ms, c.idle_ms);
    }
  }
  // One worker reading every shard is one member of each shard's group: count names, not
  // memberships, when they are known.
  m.consumers =
      m.consumer_list.empty() ? std::max(m.consumers, group.consumers) : m.consumer_list.size();
  m.shards.push_back(std::move(part));
}

HealthReport merge_health(const std::string& stream, const HealthThresholds& thresholds,
                          const std::vector<ShardHealth>& status,
                          const std::vector<HealthReport>& measured) {
  HealthReport out;
  out.stream = stream;
  out.thresholds = thresholds;
  out.shards = status;
  for (std::size_t i = 0; i < status.size() && i < measured.size(); ++i) {
    if (!status[i].ok) continue;
    const HealthReport& r = measured[i];
    out.server_time_ms = std::max(out.server_time_ms, r.server_time_ms);
    if (!r.stream_exists) continue;
    out.stream_exists = true;
    out.stream_length += r.stream_length;
    out.events_in_window += r.events_in_window;
    out.errors_in_window += r.errors_in_window;
    out.llm_calls_in_window += r.llm_calls_in_window;
    out.undecodable_in_window += r.undecodable_in_window;
    out.total_lag += r.total_lag;
    out.pending += r.pending;
    out.lag_exact = out.lag_exact && r.lag_exact;
    for (const GroupInfo& g : r.groups)
      merge_group(out.groups, g, status[i].shard, status[i].stream);
  }
  std::sort(out.groups.begin(), out.groups.end(),
            [](const GroupInfo& a, const GroupInfo& b) { return a.name < b.name; });
  out.consumer_groups = out.groups.size();
  out.error_rate = streamll::error_rate(out.errors_in_window, out.llm_calls_in_window);
  // The unavailable shards first: an outage explains the other alerts.
  for (const ShardHealth& s : status) {
    if (s.ok) continue;
    out.alerts.push_back({HealthAlert::Kind::shard_unavailable,
                          "Shard " + std::to_string(s.shard) + " ('" + s.stream + "' on " +
                              s.server + ") could not be checked: " + s.error});
  }
  const std::string shards = status.empty() ? stream
                             : status.size() == 1
                                 ? status.front().stream
                                 : status.front().stream + " .. " + status.back().stream;
  add_health_alerts(out, "No shard of stream '" + stream + "' exists (" + shards +
                             ") - nothing was ever written to it");
  return out;
}

UsageStats analyze_usage(const ShardedStream& source, const UsageQuery& query,
                         const ShardTransportMaker& make) {
  if (!source.sharded() && !make)
    return streamll::analyze_usage(source.connection, source.stream, query);
  const auto started = std::chrono::steady_clock::now();
  const auto shards = shard_sources(source);
  UsageAccumulator total(query);
  UsageStats out;
  std::exception_ptr first_error;
  std::optional<std::uint64_t> from;
  bool any_read = false;
  bool any_exists = false;
  for (const ShardSource& s : shards) {
    ShardUsage usage = status_of<ShardUsage>(s);
    read_shard(usage, first_error, [&] {
      std::optional<UsageAccumulator> mine;
      UsageScan scan;
      run_query(
          s.connection, s.stream,
          [&](RedisTransport& t) {
            mine.emplace(query);  // a MOVED starts the shard over
            scan = scan_usage(t, s.stream, query, *mine, /*missing_is_error=*/false);
            usage.server = t.describe();
          },
          maker_for(make, s.index));
      const UsageStats counted = mine->result();
      usage.stream_exists = scan.exists;
      usage.entries = counted.entries;
      usage.events = counted.events;
      total.merge(*mine);
      out.pages += scan.pages;
      if (scan.exists) from = from ? std::min(*from, scan.from_ms) : scan.from_ms;
      any_read = true;
      any_exists = any_exists || scan.exists;
    });
    out.shards.push_back(std::move(usage));
  }
  if (!any_read) std::rethrow_exception(first_error);
  // A shard that could not be read may hold the stream: its outage is the answer, not "no such
  // stream".
  if (!any_exists && first_error) std::rethrow_exception(first_error);
  if (!any_exists) {
    throw StreamNotFoundError("no shard of stream '" + source.stream + "' exists (" +
                              shard_range(source, shards.size()) + ")");
  }
  UsageStats merged = total.result();
  merged.stream = source.stream;
  merged.from_ms = from.value_or(0);
  merged.to_ms = query.to_ms;
  merged.pages = out.pages;
  merged.shards = std::move(out.shards);
  merged.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return merged;
}

HealthReport check_health(const ShardedStream& source, const HealthThresholds& thresholds,
                          const ShardTransportMaker& make) {
  if (!source.sharded() && !make)
    return streamll::check_health(source.connection, source.stream, thresholds);
  const auto shards = shard_sources(source);
  std::vector<ShardHealth> status;
  std::vector<HealthReport> measured(shards.size());
  // Percentiles over the union of the shards' calls, not of their summaries. Each shard's calls
  // are merged once it was read, from a fresh accumulator per attempt: a query run again after
  // MOVED must not count the first attempt's calls twice.
  UsageAccumulator all_calls{UsageQuery{}};
  std::exception_ptr first_error;
  bool any_read = false;
  for (const ShardSource& s : shards) {
    ShardHealth health = status_of<ShardHealth>(s);
    read_shard(health, first_error, [&] {
      HealthReport& r = measured[s.index];
      std::optional<UsageAccumulator> shard_calls;
      run_query(
          s.connection, s.stream,
          [&](RedisTransport& t) {
            shard_calls.emplace(UsageQuery{});
            r = measure_health(t, s.stream, thresholds, *shard_calls);
            health.server = t.describe();
          },
          maker_for(make, s.index));
      all_calls.merge(*shard_calls);
      health.stream_exists = r.stream_exists;
      health.stream_length = r.stream_length;
      health.events_in_window = r.events_in_window;
      health.errors_in_window = r.errors_in_window;
      health.llm_calls_in_window = r.llm_calls_in_window;
      health.total_lag = r.total_lag;
      health.pending = r.pending;
      any_read = true;
    });
    status.push_back(std::move(health));
  }
  if (!any_read) std::rethrow_exception(first_error);
  HealthReport out = merge_health(source.stream, thresholds, status, measured);
  out.models = all_calls.result().models;
  return out;
}

GroupsReport list_groups(const ShardedStream& source, bool with_consumers,
                         const ShardTransportMaker& make) {
  GroupsReport out;
  if (!source.sharded() && !make) {
    run_query(source.connection, source.stream, [&](RedisTransport& t) {
      require_stream(t, source.stream, /*missing_is_error=*/true);
      out.groups = read_groups(t, source.stream, with_consumers);
      out.stream_length = stream_length(t, source.stream);
    });
    return out;
  }
  const auto shards = shard_sources(source);
  std::exception_ptr first_error;
  bool any_read = false;
  bool any_exists = false;
  for (const ShardSource& s : shards) {
    ShardStatus status = status_of<ShardStatus>(s);
    read_shard(status, first_error, [&] {
      std::vector<GroupInfo> groups;
      std::uint64_t length = 0;
      run_query(
          s.connection, s.stream,
          [&](RedisTransport& t) {
            // Again from the start after a MOVED: nothing of the first attempt stays.
            groups.clear();
            length = 0;
            status.server = t.describe();
            status.stream_exists = require_stream(t, s.stream, /*missing_is_error=*/false);
            if (status.stream_exists) {
              groups = read_groups(t, s.stream, with_consumers);
              length = stream_length(t, s.stream);
            }
          },
          maker_for(make, s.index));
      for (const GroupInfo& g : groups) merge_group(out.groups, g, s.index, s.stream);
      out.stream_length += length;
      any_read = true;
      any_exists = any_exists || status.stream_exists;
    });
    out.shards.push_back(std::move(status));
  }
  if (!any_read) std::rethrow_exception(first_error);
  // A shard that could not be read may hold the stream: its outage is the answer, not "no such
  // stream".
  if (!any_exists && first_error) std::rethrow_exception(first_error);
  if (!any_exists) {
    throw StreamNotFoundError("no shard of stream '" + source.stream + "' exists (" +
                              shard_range(source, shards.size()) + ")");
  }
  std::sort(out.groups.begin(), out.groups.end(),
            [](const GroupInfo& a, const GroupInfo& b) { return a.name < b.name; });
  return out;
}

}  // namespace redis

UsageStats analyze_usage(const ShardedStream& source, const UsageQuery& query) {
  return redis::analyze_usage(source, query, {});
}

HealthReport check_health(const ShardedStream& source, const HealthThresholds& thresholds) {
  return redis::check_health(source, thresholds, {});
}

GroupsReport list_groups(const ShardedStream& source, bool with_consumers) {
  return redis::list_groups(source, with_consumers, {});
}

}  // namespace streamll
