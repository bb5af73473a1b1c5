#pragma once
// Internal: the few fields usage statistics need, read from an event's JSON without building
// an Event. It accepts and rejects exactly what parse_event_json does (same rules, checked by
// a unit test against it) but walks the document with nlohmann's SAX interface instead of
// building a DOM and an Event: `streamll stats` over a million entries spends most of its time
// here, and this path is about twice as fast.

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "streamll/redis/consumer.hpp"

namespace streamll::redis {

struct UsageFields {
  std::string type_name;
  std::string model;  ///< data.model when a string
  bool model_is_string = false;
  std::int64_t tokens_used = 0, input_tokens = 0, output_tokens = 0;  ///< 0 when absent
  std::int64_t cached_input_tokens = 0, reasoning_tokens = 0;         ///< 0 when absent
  double cost_usd = 0;
  /// cost_usd is present but not a finite number >= 0 (see is_valid_cost): not summed.
  bool cost_invalid = false;
  std::optional<double> response_time_ms, ttft_ms, time_per_output_token_ms, inter_token_ms_p95;
  std::optional<bool> success;
  std::optional<double> output_tokens_per_second, inter_token_ms_p50, inter_token_ms_max;
  /// The value of the tag decode_usage_fields was asked for, when the event has it.
  std::optional<std::string> tag_value;
};

/// A cost analytics adds up: a finite number >= 0. A negative, NaN or infinite one (NaN is
/// written as null), a string or a nested value is counted in UsageStats::invalid_cost instead.
inline bool is_valid_cost(bool is_number, double value) noexcept {
  return is_number && std::isfinite(value) && value >= 0;
}

/// True and `out` filled for an event parse_event_json accepts; otherwise false with the
/// failure kind and reason (the same kinds decode_entry reports). `tag_key`: the tag whose
/// value goes into out.tag_value (none when empty).
bool decode_usage_fields(std::string_view json, UsageFields& out, DecodeFailureKind& kind,
                         std::string& reason, std::string_view tag_key = {}) noexcept;

}  // namespace streamll::redis
