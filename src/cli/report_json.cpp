#include "cli/report_json.hpp"

namespace streamll::cli {

nlohmann::json to_json(const DecodeFailureCounts& c) {
  return {{"total", c.total()},
          {"missing_event_field", c.missing_event_field},
          {"malformed_json", c.malformed_json},
          {"invalid_event", c.invalid_event}};
}

nlohmann::json to_json(const Percentiles& p) {
  return {{"count", p.count}, {"min", p.min}, {"max", p.max}, {"avg", p.mean},
          {"p50", p.p50},     {"p95", p.p95}, {"p99", p.p99}, {"exact", p.exact}};
}

namespace {

nlohmann::json status_json(const ShardStatus& s) {
  nlohmann::json j = {{"shard", s.shard},
                      {"stream", s.stream},
                      {"server", s.server},
                      {"ok", s.ok},
                      {"stream_exists", s.stream_exists}};
  if (!s.ok) j["error"] = s.error;
  return j;
}

nlohmann::json models_json(const std::map<std::string, ModelUsage>& models) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : models) j[name] = to_json(m);
  return j;
}

}  // namespace

nlohmann::json to_json(const ModelUsage& m) {
  return {{"calls", m.calls},
          {"failed_calls", m.failed_calls},
          {"total_tokens", m.total_tokens},
          {"input_tokens", m.input_tokens},
          {"output_tokens", m.output_tokens},
          {"cached_input_tokens", m.cached_input_tokens},
          {"reasoning_tokens", m.reasoning_tokens},
          {"total_cost", m.total_cost_usd},
          {"response_time_ms", to_json(m.response_time_ms)},
          {"ttft_ms", to_json(m.ttft_ms)},
          {"time_per_output_token_ms", to_json(m.time_per_output_token_ms)},
          {"inter_token_ms_p95", to_json(m.inter_token_ms_p95)},
          {"output_tokens_per_second", to_json(m.output_tokens_per_second)},
          {"inter_token_ms_p50", to_json(m.inter_token_ms_p50)},
          {"inter_token_ms_max", to_json(m.inter_token_ms_max)}};
}

nlohmann::json to_json(const UsageStats& s) {
  nlohmann::json j = {
      {"stream", s.stream},
      {"from_ms", s.from_ms},
      {"to_ms", s.to_ms ? nlohmann::json(*s.to_ms) : nlohmann::json(nullptr)},
      {"entries", s.entries},
      {"events", s.events},
      {"undecodable", to_json(s.undecodable)},
      {"events_by_type", s.events_by_type},
      {"total_calls", s.total_calls},
      {"failed_calls", s.failed_calls},
      {"total_tokens", s.total_tokens},
      {"input_tokens", s.input_tokens},
      {"output_tokens", s.output_tokens},
      {"cached_input_tokens", s.cached_input_tokens},
      {"reasoning_tokens", s.reasoning_tokens},
      {"total_cost", s.total_cost_usd},
      {"invalid_cost", s.invalid_cost},
      {"avg_response_time", s.response_time_ms.mean},
      {"response_time_ms", to_json(s.response_time_ms)},
      {"ttft_ms", to_json(s.ttft_ms)},
      {"models_used", s.calls_per_model},
      {"models", models_json(s.models)},
      {"errors", s.errors},
      {"error_rate", s.error_rate ? nlohmann::json(*s.error_rate) : nlohmann::json(nullptr)},
      {"pages", s.pages},
      {"elapsed_ms", s.elapsed.count()},
  };
  if (!s.shards.empty()) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& shard : s.shards) {
      nlohmann::json one = status_json(shard);
      one["entries"] = shard.entries;
      one["events"] = shard.events;
      shards.push_back(std::move(one));
    }
    j["shards"] = std::move(shards);
    j["complete"] = s.complete();
  }
  return j;
}

nlohmann::json to_json(const GroupInfo& g) {
  nlohmann::json consumers = nlohmann::json::array();
  for (const auto& c : g.consumer_list) {
    consumers.push_back({{"name", c.name}, {"pending", c.pending}, {"idle_ms", c.idle_ms}});
  }
  nlohmann::json j = {
      {"name", g.name},
      {"consumers", g.consumers},
      {"pending", g.pending},
      {"last_delivered_id", g.last_delivered_id},
      {"entries_read", g.entries_read ? nlohmann::json(*g.entries_read) : nlohmann::json(nullptr)},
      {"lag", g.lag},
      {"lag_exact", g.lag_exact},
      {"consumer_list", consumers}};
  if (!g.shards.empty()) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& s : g.shards) {
      shards.push_back({{"shard", s.shard},
                        {"stream", s.stream},
                        {"consumers", s.consumers},
                        {"pending", s.pending},
                        {"lag", s.lag},
                        {"lag_exact", s.lag_exact},
                        {"last_delivered_id", s.last_delivered_id}});
    }
    j["shards"] = std::move(shards);
  }
  return j;
}

nlohmann::json to_json(const HealthReport& h) {
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& g : h.groups) groups.push_back(to_json(g));
  nlohmann::json alerts = nlohmann::json::array();
  for (const auto& a : h.alerts) {
    const char* kind = a.kind == HealthAlert::Kind::stream_missing      ? "stream_missing"
                       : a.kind == HealthAlert::Kind::no_recent_events  ? "no_recent_events"
                       : a.kind == HealthAlert::Kind::high_lag          ? "high_lag"
                       : a.kind == HealthAlert::Kind::shard_unavailable ? "shard_unavailable"
                                                                        : "high_error_rate";
    alerts.push_back({{"kind", kind}, {"message", a.message}});
  }
  nlohmann::json j = {
      {"stream", h.stream},
      {"healthy", h.healthy()},
      {"stream_exists", h.stream_exists},
      {"stream_length", h.stream_length},
      {"events_in_window", h.events_in_window},
      {"events_per_minute", h.thresholds.window.count() > 0
                                ? static_cast<double>(h.events_in_window) * 60000.0 /
                                      static_cast<double>(h.thresholds.window.count())
                                : 0.0},
      {"window_ms", h.thresholds.window.count()},
      {"llm_calls_in_window", h.llm_calls_in_window},
      {"models", models_json(h.models)},
      {"errors_in_window", h.errors_in_window},
      {"undecodable_in_window", h.undecodable_in_window},
      {"error_rate", h.error_rate ? nlohmann::json(*h.error_rate) : nlohmann::json(nullptr)},
      {"consumer_groups", h.consumer_groups},
      {"total_lag", h.total_lag},
      {"lag_exact", h.lag_exact},
      {"pending", h.pending},
      {"groups", groups},
      {"thresholds",
       {{"min_recent_events", h.thresholds.min_recent_events},
        {"max_total_lag", h.thresholds.max_total_lag},
        {"max_error_rate", h.thresholds.max_error_rate}}},
      {"alerts", alerts},
      {"server_time_ms", h.server_time_ms}};
  if (!h.shards.empty()) {
    nlohmann::json shards = nlohmann::json::array();
    for (const auto& s : h.shards) {
      nlohmann::json one = status_json(s);
      one["stream_length"] = s.stream_length;
      one["events_in_window"] = s.events_in_window;
      one["llm_calls_in_window"] = s.llm_calls_in_window;
      one["errors_in_window"] = s.errors_in_window;
      one["total_lag"] = s.total_lag;
      one["pending"] = s.pending;
      shards.push_back(std::move(one));
    }
    j["shards"] = std::move(shards);
  }
  return j;
}

}  // namespace streamll::cli
