#pragma once
// JSON forms of the analytics results, for --json output (stable keys: scripts rely on them).

#include <nlohmann/json.hpp>

#include "streamll/redis/analytics.hpp"

namespace streamll::cli {

nlohmann::json to_json(const DecodeFailureCounts& counts);
nlohmann::json to_json(const Percentiles& p);
nlohmann::json to_json(const ModelUsage& m);  ///< also a tag value's (UsageStats::by_tag)
nlohmann::json to_json(const UsageStats& s);
nlohmann::json to_json(const GroupInfo& g);
nlohmann::json to_json(const HealthReport& h);

}  // namespace streamll::cli
