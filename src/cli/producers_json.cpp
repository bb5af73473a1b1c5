#include "cli/producers_json.hpp"

#include <algorithm>

namespace streamll::cli {

nlohmann::json to_json(const ProducerInfo& p, std::int64_t now_ms) {
  nlohmann::json j = {
      {"id", p.id},
      {"service", p.service},
      {"host", p.host},
      {"pid", p.pid},
      {"version", p.version},
      {"stream", p.stream},
      {"token_stream", p.token_stream},
      {"shard", p.shard},
      {"started_at_ms", p.started_at_ms},
      {"updated_at_ms", p.updated_at_ms},
      {"interval_ms", p.interval_ms},
      {"ttl_ms", p.ttl_ms},
      {"delivered", p.delivered},
      {"failed", p.failed},
      {"truncated", p.truncated},
      {"dropped", p.dropped},
      {"dropped_by_reason", p.dropped_by_reason},
      {"dropped_at_ms", p.dropped_at_ms},
      {"buffered", p.buffered},
      {"breaker", p.breaker},
      {"transport_errors", p.transport_errors},
      {"last_error", p.last_error},
      {"last_error_at_ms", p.last_error_at_ms},
      {"heartbeats_failed", p.heartbeats_failed},
  };
  if (now_ms > 0) j["age_ms"] = now_ms - p.updated_at_ms;
  return j;
}

nlohmann::json to_json(const GoneProducer& p, std::int64_t now_ms) {
  nlohmann::json j = {
      {"id", p.id},
      {"stream", p.stream},
      {"shard", p.shard},
      {"expired_at_ms", p.expired_at_ms},
  };
  if (now_ms > 0) j["gone_for_ms"] = std::max<std::int64_t>(0, now_ms - p.expired_at_ms);
  return j;
}

nlohmann::json to_json(const ProducersReport& report) {
  nlohmann::json live = nlohmann::json::array();
  for (const auto& p : report.producers) live.push_back(to_json(p, report.server_time_ms));
  nlohmann::json gone = nlohmann::json::array();
  for (const auto& p : report.gone) gone.push_back(to_json(p, report.server_time_ms));
  return {{"producers", std::move(live)},
          {"gone", std::move(gone)},
          {"truncated", report.truncated},
          {"complete", report.complete()},
          {"server_time_ms", report.server_time_ms}};
}

}  // namespace streamll::cli
