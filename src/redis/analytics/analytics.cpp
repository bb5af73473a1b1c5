// analyze_usage(), check_health(), list_groups() of one stream: paged XRANGE and XINFO over one
// connection (opened through the Connector, so Sentinel and Cluster work). The sharded
// overloads are in sharded_analytics.cpp.

#include "streamll/redis/analytics.hpp"

#include <chrono>

#include "redis/analytics/analytics_internal.hpp"
#include "redis/analytics/usage_accumulator.hpp"
#include "redis/analytics/usage_decoder.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "redis/routing/query_connection.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/errors.hpp"

namespace streamll {
namespace redis {
namespace {

std::uint64_t integer_of(const RedisReply& reply) {
  if (reply.is_integer()) return reply.integer < 0 ? 0 : static_cast<std::uint64_t>(reply.integer);
  if (reply.is_string()) {
    if (auto id = EntryId::parse(reply.text)) return id->ms;
  }
  return 0;
}

// RESP2 maps arrive as flat [key, value, key, value, ...] arrays.
const RedisReply* map_value(const RedisReply& map, std::string_view key) {
  if (!map.is_array()) return nullptr;
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].text == key) return &map.elements[i + 1];
  }
  return nullptr;
}

GroupInfo parse_group(const RedisReply& map) {
  GroupInfo g;
  if (const RedisReply* v = map_value(map, "name")) g.name = v->text;
  if (const RedisReply* v = map_value(map, "consumers")) g.consumers = integer_of(*v);
  if (const RedisReply* v = map_value(map, "pending")) g.pending = integer_of(*v);
  if (const RedisReply* v = map_value(map, "last-delivered-id")) g.last_delivered_id = v->text;
  if (const RedisReply* v = map_value(map, "entries-read"); v && v->is_integer())
    g.entries_read = integer_of(*v);
  const RedisReply* lag = map_value(map, "lag");
  if (lag && lag->is_integer()) {
    g.lag = integer_of(*lag);
  } else {
    g.lag_exact = false;  // nil (Redis cannot tell) or absent (Redis before 7.0)
  }
  return g;
}

ConsumerInfo parse_consumer(const RedisReply& map) {
  ConsumerInfo c;
  if (const RedisReply* v = map_value(map, "name")) c.name = v->text;
  if (const RedisReply* v = map_value(map, "pending")) c.pending = integer_of(*v);
  if (const RedisReply* v = map_value(map, "idle"); v && v->is_integer()) c.idle_ms = v->integer;
  return c;
}

RedisReply run_one(RedisTransport& t, std::initializer_list<std::string_view> args,
                   const char* what) {
  RedisReply reply = t.command(args);
  throw_if_error(reply, what);
  return reply;
}

}  // namespace

std::uint64_t server_time_ms(RedisTransport& t) {
  const RedisReply reply = run_one(t, {"TIME"}, "TIME");
  if (!reply.is_array() || reply.elements.size() != 2)
    throw IoError("protocol error: unexpected TIME reply");
  const std::uint64_t seconds = std::stoull(reply.elements[0].text);
  const std::uint64_t micros = std::stoull(reply.elements[1].text);
  return seconds * 1000 + micros / 1000;
}

bool require_stream(RedisTransport& t, const std::string& stream, bool missing_is_error) {
  const RedisReply type = run_one(t, {"TYPE", stream}, "TYPE");
  if (type.text == "none") {
    if (missing_is_error) {
      throw StreamNotFoundError("stream '" + stream + "' does not exist on " + t.describe());
    }
    return false;
  }
  if (type.text != "stream") {
    throw ReplyError("WRONGTYPE key '" + stream + "' holds a " + type.text + ", not a stream");
  }
  return true;
}

std::uint64_t scan_range(RedisTransport& t, const std::string& stream, std::string start,
                         const std::string& end, std::size_t page_size, std::uint64_t limit,
                         const std::function<void(const StreamEntry&)>& visit) {
  CommandBuffer commands;
  std::vector<RedisReply> replies;
  std::vector<StreamEntry> page;
  std::uint64_t seen = 0;
  std::uint64_t pages = 0;
  while (seen < limit) {
    const std::uint64_t want = std::min<std::uint64_t>(page_size, limit - seen);
    commands.clear();
    commands.begin_command(6).arg("XRANGE").arg(stream).arg(start).arg(end).arg("COUNT").arg(
        static_cast<long long>(want));
    t.execute(commands, replies);
    ++pages;
    throw_if_error(replies.front(), "XRANGE " + stream);
    page.clear();
    append_entries(replies.front(), page);
    for (const StreamEntry& entry : page) visit(entry);
    seen += page.size();
    if (page.size() < want) break;
    start = "(" + page.back().id;  // exclusive start (Redis >= 6.2)
  }
  return pages;
}

UsageScan scan_usage(RedisTransport& t, const std::string& stream, const UsageQuery& query,
                     UsageAccumulator& totals, bool missing_is_error) {
  if (query.page_size == 0) throw ConfigError("page_size", "must be at least 1, got 0");
  UsageScan scan;
  scan.exists = require_stream(t, stream, missing_is_error);
  if (!scan.exists) return scan;
  if (query.from_ms) {
    scan.from_ms = *query.from_ms;
  } else {
    const std::uint64_t now = server_time_ms(t);
    const auto since = static_cast<std::uint64_t>(std::max<std::int64_t>(query.since.count(), 0));
    scan.from_ms = now > since ? now - since : 0;
  }
  const std::string end = query.to_ms ? std::to_string(*query.to_ms) : "+";
  scan.pages = scan_range(t, stream, std::to_string(scan.from_ms), end, query.page_size, UINT64_MAX,
                          [&](const StreamEntry& e) { totals.add_entry(e); });
  return scan;
}

UsageStats analyze_usage(RedisTransport& t, const std::string& stream, const UsageQuery& query) {
  const auto started = std::chrono::steady_clock::now();
  UsageAccumulator totals(query);
  const UsageScan scan = scan_usage(t, stream, query, totals, /*missing_is_error=*/true);
  UsageStats out = totals.result();
  out.stream = stream;
  out.from_ms = scan.from_ms;
  out.to_ms = query.to_ms;
  out.pages = scan.pages;
  out.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  return out;
}

std::vector<GroupInfo> read_groups(RedisTransport& t, const std::string& stream,
                                   bool with_consumers) {
  const RedisReply reply = run_one(t, {"XINFO", "GROUPS", stream}, "XINFO GROUPS");
  std::vector<GroupInfo> groups;
  for (const RedisReply& map : reply.elements) groups.push_back(parse_group(map));
  if (!with_consumers || groups.empty()) return groups;
  CommandBuffer commands;
  for (const GroupInfo& g : groups) commands.append({"XINFO", "CONSUMERS", stream, g.name});
  std::vector<RedisReply> replies;
  t.execute(commands, replies);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    // A group deleted between the two calls answers NOGROUP: it simply has no consumers.
    if (replies[i].is_error()) continue;
    for (const RedisReply& map : replies[i].elements)
      groups[i].consumer_list.push_back(parse_consumer(map));
  }
  return groups;
}

std::uint64_t stream_length(RedisTransport& t, const std::string& stream) {
  return integer_of(run_one(t, {"XLEN", stream}, "XLEN"));
}

HealthReport measure_health(RedisTransport& t, const std::string& stream,
                            const HealthThresholds& thresholds, UsageAccumulator& window_calls) {
  HealthReport report;
  report.stream = stream;
  report.thresholds = thresholds;
  report.server_time_ms = server_time_ms(t);
  report.stream_exists = require_stream(t, stream, /*missing_is_error=*/false);
  if (!report.stream_exists) return report;
  report.stream_length = stream_length(t, stream);

  const auto window =
      static_cast<std::uint64_t>(std::max<std::int64_t>(thresholds.window.count(), 0));
  const std::uint64_t from = report.server_time_ms > window ? report.server_time_ms - window : 0;
  UsageFields fields;
  DecodeFailureKind kind = DecodeFailureKind::invalid_event;
  std::string reason;
  scan_range(t, stream, std::to_string(from), std::to_string(report.server_time_ms), 1000,
             UINT64_MAX, [&](const StreamEntry& entry) {
               ++report.events_in_window;
               const std::string* json = entry.field("event");
               if (json == nullptr || !decode_usage_fields(*json, fields, kind, reason)) {
                 ++report.undecodable_in_window;
               } else if (fields.type_name == "error") {
                 ++report.errors_in_window;
               } else if (fields.type_name == "llm_call") {
                 ++report.llm_calls_in_window;
                 window_calls.add(fields);
               }
             });
  report.models = window_calls.result().models;
  report.error_rate = streamll::error_rate(report.errors_in_window, report.llm_calls_in_window);

  report.groups = read_groups(t, stream, /*with_consumers=*/false);
  report.consumer_groups = report.groups.size();
  for (GroupInfo& g : report.groups) {
    if (!g.lag_exact) {
      // Count what follows the group's position, but no further than the alert needs.
      g.lag = 0;
      scan_range(t, stream,
                 "(" + (g.last_delivered_id.empty() ? std::string("0-0") : g.last_delivered_id),
                 "+", 1000, thresholds.max_total_lag + 1, [&g](const StreamEntry&) { ++g.lag; });
      report.lag_exact = false;
    }
    report.total_lag += g.lag;
    report.pending += g.pending;
  }
  return report;
}

void add_health_alerts(HealthReport& report, const std::string& missing_message) {
  const HealthThresholds& thresholds = report.thresholds;
  if (!report.stream_exists) {
    report.alerts.push_back({HealthAlert::Kind::stream_missing, missing_message});
    return;
  }
  if (report.events_in_window < thresholds.min_recent_events) {
    report.alerts.push_back(
        {HealthAlert::Kind::no_recent_events,
         report.events_in_window == 0
             ? "No recent events - streamll may be down"
             : "Only " + std::to_string(report.events_in_window) + " events in the last " +
                   std::to_string(thresholds.window.count() / 1000) + " s (expected at least " +
                   std::to_string(thresholds.min_recent_events) + ")"});
  }
  if (report.total_lag > thresholds.max_total_lag) {
    report.alerts.push_back(
        {HealthAlert::Kind::high_lag, "High consumer lag: " + std::to_string(report.total_lag) +
                                          (report.lag_exact ? "" : "+") + " (threshold " +
                                          std::to_string(thresholds.max_total_lag) + ")"});
  }
  char limit[32];
  std::snprintf(limit, sizeof limit, "%.1f%%", thresholds.max_error_rate * 100.0);
  if (report.error_rate && *report.error_rate > thresholds.max_error_rate) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f%%", *report.error_rate * 100.0);
    report.alerts.push_back(
        {HealthAlert::Kind::high_error_rate,
         std::string("High error rate: ") + rate + " of LLM calls (threshold " + limit + ")"});
  }
  // Without LLM calls the rate is undefined (nullopt) and raises no alert: an app whose spans
  // fail but that makes no calls is not judged by a threshold on calls; errors_in_window
  // still shows those errors.
}

HealthReport check_health(RedisTransport& t, const std::string& stream,
                          const HealthThresholds& thresholds) {
  UsageAccumulator window_calls{UsageQuery{}};
  HealthReport report = measure_health(t, stream, thresholds, window_calls);
  add_health_alerts(report,
                    "Stream '" + stream + "' does not exist - nothing was ever written to it");
  return report;
}

}  // namespace redis

std::optional<double> error_rate(std::uint64_t error_events, std::uint64_t llm_calls) noexcept {
  if (llm_calls == 0) return std::nullopt;
  return static_cast<double>(error_events) / static_cast<double>(llm_calls);
}

UsageStats analyze_usage(const RedisConnectionOptions& connection, const std::string& stream,
                         const UsageQuery& query) {
  UsageStats out;
  redis::run_query(connection, stream,
                   [&](redis::RedisTransport& t) { out = redis::analyze_usage(t, stream, query); });
  return out;
}

HealthReport check_health(const RedisConnectionOptions& connection, const std::string& stream,
                          const HealthThresholds& thresholds) {
  HealthReport out;
  redis::run_query(connection, stream, [&](redis::RedisTransport& t) {
    out = redis::check_health(t, stream, thresholds);
  });
  return out;
}

std::vector<GroupInfo> list_groups(const RedisConnectionOptions& connection,
                                   const std::string& stream, bool with_consumers) {
  std::vector<GroupInfo> out;
  redis::run_query(connection, stream, [&](redis::RedisTransport& t) {
    redis::require_stream(t, stream, /*missing_is_error=*/true);
    out = redis::read_groups(t, stream, with_consumers);
  });
  return out;
}

}  // namespace streamll
