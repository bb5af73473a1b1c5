#pragma once
// JSON form of a producer's heartbeat, shared by `streamll producers --json` and the producer
// check of `streamll health --json` (stable keys: scripts rely on them).

#include <nlohmann/json.hpp>

#include "streamll/redis/producers.hpp"

namespace streamll::cli {

/// Every typed field of ProducerInfo, plus "age_ms" (now_ms - updated_at) when now_ms > 0.
nlohmann::json to_json(const ProducerInfo& p, std::int64_t now_ms);

}  // namespace streamll::cli
