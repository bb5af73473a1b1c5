#include "cli/producers_json.hpp"

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

}  // namespace streamll::cli
