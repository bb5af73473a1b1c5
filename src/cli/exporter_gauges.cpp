// What `streamll exporter` reads from Redis every --refresh (see exporter_gauges.hpp).

#include "cli/exporter_gauges.hpp"

#include <chrono>
#include <exception>

#include "cli/prometheus_text.hpp"
#include "streamll/errors.hpp"

namespace streamll::cli {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "shard 1 (127.0.0.1:7001): connection refused; ..." for the shards that could not be read.
std::string unread_shards(const std::vector<ShardStatus>& shards) {
  std::string out;
  for (const ShardStatus& s : shards) {
    if (s.ok) continue;
    if (!out.empty()) out += "; ";
    out += "shard " + std::to_string(s.shard) + " (" + s.server + "): " + s.error;
  }
  return out + " (the others were read)";
}

MetricLabels producer_labels(const ProducerInfo& p) {
  return {{"producer", p.id}, {"service", p.service}, {"host", p.host}, {"stream", p.stream}};
}

}  // namespace

GaugeSnapshot read_gauges(const ShardedStream& source, const std::string& token_stream) {
  GaugeSnapshot out;
  out.taken_at_ms = now_ms();
  try {
    out.producers = list_producers(source);
    if (!out.producers->complete()) {
      out.errors.push_back("producers: " + unread_shards(out.producers->shards));
    }
  } catch (const std::exception& e) {
    out.errors.push_back(std::string("producers: ") + e.what());
  }
  std::vector<std::string> streams = {source.stream};
  if (!token_stream.empty()) streams.push_back(token_stream);
  for (const std::string& stream : streams) {
    ShardedStream one = source;
    one.stream = stream;
    try {
      out.groups.emplace_back(stream, list_groups(one, /*with_consumers=*/false));
      const GroupsReport& report = out.groups.back().second;
      if (!report.complete()) {
        out.errors.push_back("groups of '" + stream + "': " + unread_shards(report.shards));
      }
    } catch (const StreamNotFoundError&) {
      // Not written to yet (the consumer creates it with its group): nothing to show.
    } catch (const std::exception& e) {
      out.errors.push_back("groups of '" + stream + "': " + e.what());
    }
  }
  return out;
}

std::string render_gauges(const GaugeSnapshot& s, std::uint64_t refresh_errors) {
  std::string body;
  PrometheusText out(body);
  const std::vector<ProducerInfo> none;
  const auto& producers = s.producers ? s.producers->producers : none;
  // A family with one sample per producer, labelled by producer_labels().
  const auto per_producer = [&](const char* name, MetricType type, const char* help,
                                const auto& value_of) {
    out.family(name, type, help);
    for (const auto& p : producers) out.sample(name, producer_labels(p), value_of(p));
  };
  per_producer("streamll_producer_delivered_total", MetricType::counter,
               "Events a producer's sink delivered, from its latest heartbeat.",
               [](const ProducerInfo& p) { return static_cast<double>(p.delivered); });
  per_producer("streamll_producer_failed_total", MetricType::counter,
               "Events a producer's sink could not deliver (refused or too large).",
               [](const ProducerInfo& p) { return static_cast<double>(p.failed); });
  out.family("streamll_producer_dropped_total", MetricType::counter,
             "Events a producer's sink dropped, by reason.");
  for (const auto& p : producers) {
    for (const auto& [reason, n] : p.dropped_by_reason) {
      MetricLabels labels = producer_labels(p);
      labels.emplace_back("reason", reason);
      out.sample("streamll_producer_dropped_total", labels, static_cast<double>(n));
    }
  }
  per_producer("streamll_producer_buffered", MetricType::gauge,
               "Events waiting in a producer's sink, from its latest heartbeat.",
               [](const ProducerInfo& p) { return static_cast<double>(p.buffered); });
  out.family("streamll_producer_breaker_state", MetricType::gauge,
             "1 for the state a producer's circuit breaker is in, 0 for the others.");
  for (const auto& p : producers) {
    for (const char* state : {"closed", "half_open", "open"}) {
      MetricLabels labels = producer_labels(p);
      labels.emplace_back("state", state);
      out.sample("streamll_producer_breaker_state", labels, p.breaker == state ? 1 : 0);
    }
  }
  const std::int64_t server_ms = s.producers ? s.producers->server_time_ms : 0;
  per_producer("streamll_producer_heartbeat_age_seconds", MetricType::gauge,
               "Seconds since a producer's latest heartbeat (server time minus its updated_at).",
               [server_ms](const ProducerInfo& p) {
                 return server_ms > p.updated_at_ms
                            ? static_cast<double>(server_ms - p.updated_at_ms) / 1000.0
                            : 0.0;
               });
  out.family("streamll_producers", MetricType::gauge,
             "Producers by state: live (heartbeat current) or stopped (expired, still indexed).");
  if (s.producers) {
    out.sample("streamll_producers", {{"state", "live"}},
               static_cast<double>(s.producers->producers.size()));
    out.sample("streamll_producers", {{"state", "stopped"}},
               static_cast<double>(s.producers->gone.size()));
  }
  out.family("streamll_stream_length", MetricType::gauge,
             "Entries in a stream (XLEN, summed over its shards).");
  for (const auto& [stream, report] : s.groups) {
    out.sample("streamll_stream_length", {{"stream", stream}},
               static_cast<double>(report.stream_length));
  }
  out.family("streamll_consumer_group_lag", MetricType::gauge,
             "Entries of a stream not yet delivered to a consumer group (absent when Redis "
             "cannot tell).");
  for (const auto& [stream, report] : s.groups) {
    for (const auto& g : report.groups) {
      // Redis cannot tell when entries past the group's position were trimmed or deleted, or
      // (before Redis 7) at all: a 0 there would hide the group most behind.
      if (!g.lag_exact) continue;
      out.sample("streamll_consumer_group_lag", {{"stream", stream}, {"group", g.name}},
                 static_cast<double>(g.lag));
    }
  }
  out.family("streamll_consumer_group_pending", MetricType::gauge,
             "Entries delivered to a consumer group and not acknowledged.");
  for (const auto& [stream, report] : s.groups) {
    for (const auto& g : report.groups) {
      out.sample("streamll_consumer_group_pending", {{"stream", stream}, {"group", g.name}},
                 static_cast<double>(g.pending));
    }
  }
  out.family("streamll_exporter_refresh_errors_total", MetricType::counter,
             "Refreshes of producers and groups that failed (see the exporter's log).");
  out.sample("streamll_exporter_refresh_errors_total", {}, static_cast<double>(refresh_errors));
  out.family("streamll_exporter_refresh_success", MetricType::gauge,
             "1 when the last refresh read everything, 0 when part of it failed.");
  out.sample("streamll_exporter_refresh_success", {}, s.errors.empty() ? 1 : 0);
  out.family("streamll_exporter_refresh_timestamp_seconds", MetricType::gauge,
             "When producers and groups were last read (Unix seconds).");
  out.sample("streamll_exporter_refresh_timestamp_seconds", {},
             static_cast<double>(s.taken_at_ms) / 1000.0);
  return body;
}

}  // namespace streamll::cli
