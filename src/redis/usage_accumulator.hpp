#pragma once
// Internal: adds events up into UsageStats (the guide's analyze_llm_usage loop), in memory
// bounded by the query's limits whatever the number of events.

#include "redis/percentile_summary.hpp"
#include "redis/stream_entries.hpp"
#include "streamll/redis/analytics.hpp"

namespace streamll::redis {

class UsageAccumulator {
 public:
  explicit UsageAccumulator(const UsageQuery& query)
      : max_models_(query.max_models),
        response_times_(query.exact_samples),
        ttfts_(query.exact_samples) {}

  /// One stream entry: decoded and counted, or counted as undecodable.
  void add_entry(const StreamEntry& entry) {
    ++stats_.entries;
    if (entry.deleted) return;
    if (!decode_entry(entry, event_, failure_)) {
      stats_.undecodable.add(failure_.kind);
      return;
    }
    add(event_);
  }

  void add(const Event& event) {
    ++stats_.events;
    count_bounded(stats_.events_by_type, std::string(event.type_name()));
    if (event.type == EventType::error) {
      ++stats_.errors;
      return;
    }
    if (event.type != EventType::llm_call) return;
    ++stats_.total_calls;
    const Fields& data = event.data;
    stats_.total_tokens += data["tokens_used"].as_int(0);
    stats_.input_tokens += data["input_tokens"].as_int(0);
    stats_.output_tokens += data["output_tokens"].as_int(0);
    const double cost = data["cost_usd"].as_double(0.0);
    if (std::isfinite(cost)) stats_.total_cost_usd += cost;
    if (const Value* success = data.find("success"); success && success->is_bool() && !success->as_bool()) {
      ++stats_.failed_calls;
    }
    if (const Value* rt = data.find("response_time_ms"); rt && rt->is_number()) response_times_.add(rt->as_double());
    if (const Value* ttft = data.find("ttft_ms"); ttft && ttft->is_number()) ttfts_.add(ttft->as_double());
    const Value* model = data.find("model");
    count_bounded(stats_.calls_per_model,
                  model && model->is_string() && !model->as_string().empty() ? model->as_string() : "unknown");
  }

  /// The totals so far, with percentiles and the error rate filled in.
  UsageStats result() const {
    UsageStats out = stats_;
    out.response_time_ms = response_times_.summary();
    out.ttft_ms = ttfts_.summary();
    if (out.total_calls > 0) out.error_rate = static_cast<double>(out.errors) / static_cast<double>(out.total_calls);
    return out;
  }

  std::size_t memory_bytes() const noexcept {
    return response_times_.memory_bytes() + ttfts_.memory_bytes();
  }

 private:
  // Names come from the data: past max_models_ distinct ones they are added up as "(other)".
  void count_bounded(std::map<std::string, std::uint64_t>& counts, std::string name) {
    auto it = counts.find(name);
    if (it != counts.end()) {
      ++it->second;
    } else if (counts.size() < max_models_) {
      counts.emplace(std::move(name), 1);
    } else {
      ++counts["(other)"];
    }
  }

  std::size_t max_models_;
  UsageStats stats_;
  PercentileSummary response_times_;
  PercentileSummary ttfts_;
  Event event_;  // reused: decoding allocates less
  DecodeFailure failure_;
};

}  // namespace streamll::redis
