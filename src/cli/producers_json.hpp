#pragma once
// JSON forms of the producers' heartbeats, shared by `streamll producers --json` and the producer
// check of `streamll health --json` (stable keys: scripts rely on them).

#include <nlohmann/json.hpp>

#include "streamll/redis/producers.hpp"

namespace streamll::cli {

/// Every typed field of ProducerInfo, plus "age_ms" (now_ms - updated_at) when now_ms > 0.
nlohmann::json to_json(const ProducerInfo& p, std::int64_t now_ms);
/// id, stream, shard, expired_at_ms, plus "gone_for_ms" (now_ms - expired_at_ms, at least 0)
/// when now_ms > 0.
nlohmann::json to_json(const GoneProducer& p, std::int64_t now_ms);
/// `streamll producers --json`: "producers" and "gone" (each as above), "truncated",
/// "complete" and "server_time_ms".
nlohmann::json to_json(const ProducersReport& report);

}  // namespace streamll::cli
