#pragma once
// Internal: adds events up into UsageStats (the guide's analyze_llm_usage loop), in memory
// bounded by the query's limits whatever the number of events.

#include "redis/analytics/percentile_summary.hpp"
#include "redis/analytics/usage_decoder.hpp"
#include "redis/consumer/stream_entries.hpp"
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
    const std::string* json = entry.field("event");
    if (json == nullptr) {
      stats_.undecodable.add(DecodeFailureKind::missing_event_field);
      return;
    }
    if (!decode_usage_fields(*json, fields_, kind_, reason_)) {
      stats_.undecodable.add(kind_);
      return;
    }
    add(fields_);
  }

  /// An already decoded event (the same arithmetic; for callers holding Events).
  void add(const Event& event) {
    UsageFields f;
    f.type_name = std::string(event.type_name());
    const Fields& data = event.data;
    const Value* model = data.find("model");
    f.model_is_string = model && model->is_string();
    if (f.model_is_string) f.model = model->as_string();
    f.tokens_used = data["tokens_used"].as_int(0);
    f.input_tokens = data["input_tokens"].as_int(0);
    f.output_tokens = data["output_tokens"].as_int(0);
    if (const Value* v = data.find("cost_usd")) {
      f.cost_usd = v->as_double(0.0);
      f.cost_invalid = !is_valid_cost(v->is_number(), f.cost_usd);
    }
    if (const Value* v = data.find("response_time_ms"); v && v->is_number())
      f.response_time_ms = v->as_double();
    if (const Value* v = data.find("ttft_ms"); v && v->is_number()) f.ttft_ms = v->as_double();
    if (const Value* v = data.find("success"); v && v->is_bool()) f.success = v->as_bool();
    add(f);
  }

  void add(const UsageFields& f) {
    ++stats_.events;
    count_bounded(stats_.events_by_type, f.type_name);
    if (f.type_name == "error") {
      ++stats_.errors;
      return;
    }
    if (f.type_name != "llm_call") return;
    ++stats_.total_calls;
    stats_.total_tokens += f.tokens_used;
    stats_.input_tokens += f.input_tokens;
    stats_.output_tokens += f.output_tokens;
    if (f.cost_invalid) {
      ++stats_.invalid_cost;
    } else {
      stats_.total_cost_usd += f.cost_usd;
    }
    if (f.success && !*f.success) ++stats_.failed_calls;
    if (f.response_time_ms) response_times_.add(*f.response_time_ms);
    if (f.ttft_ms) ttfts_.add(*f.ttft_ms);
    count_bounded(stats_.calls_per_model,
                  f.model_is_string && !f.model.empty() ? f.model : "unknown");
  }

  /// Adds another accumulator's totals (another shard's): counts summed, distributions merged
  /// (percentiles over the union), names still bounded by max_models.
  void merge(const UsageAccumulator& other) {
    const UsageStats& o = other.stats_;
    stats_.entries += o.entries;
    stats_.events += o.events;
    stats_.undecodable.missing_event_field += o.undecodable.missing_event_field;
    stats_.undecodable.malformed_json += o.undecodable.malformed_json;
    stats_.undecodable.invalid_event += o.undecodable.invalid_event;
    for (const auto& [type, n] : o.events_by_type) count_bounded(stats_.events_by_type, type, n);
    stats_.total_calls += o.total_calls;
    stats_.failed_calls += o.failed_calls;
    stats_.total_tokens += o.total_tokens;
    stats_.input_tokens += o.input_tokens;
    stats_.output_tokens += o.output_tokens;
    stats_.total_cost_usd += o.total_cost_usd;
    stats_.invalid_cost += o.invalid_cost;
    for (const auto& [model, n] : o.calls_per_model)
      count_bounded(stats_.calls_per_model, model, n);
    stats_.errors += o.errors;
    response_times_.merge(other.response_times_);
    ttfts_.merge(other.ttfts_);
  }

  /// The totals so far, with percentiles and the error rate filled in.
  UsageStats result() const {
    UsageStats out = stats_;
    out.response_time_ms = response_times_.summary();
    out.ttft_ms = ttfts_.summary();
    out.error_rate = streamll::error_rate(out.errors, out.total_calls);
    return out;
  }

  std::size_t memory_bytes() const noexcept {
    return response_times_.memory_bytes() + ttfts_.memory_bytes();
  }

 private:
  // Names come from the data: past max_models_ distinct ones they are added up as "(other)".
  // That bucket takes no name's place, also when it comes from another shard's totals.
  void count_bounded(std::map<std::string, std::uint64_t>& counts, std::string name,
                     std::uint64_t n = 1) {
    static const std::string other = "(other)";
    auto it = counts.find(name);
    if (it != counts.end()) {
      it->second += n;
      return;
    }
    const std::size_t names = counts.size() - counts.count(other);
    if (name != other && names < max_models_) {
      counts.emplace(std::move(name), n);
    } else {
      counts[other] += n;
    }
  }

  std::size_t max_models_;
  UsageStats stats_;
  PercentileSummary response_times_;
  PercentileSummary ttfts_;
  UsageFields fields_;  // reused: decoding allocates less
  DecodeFailureKind kind_ = DecodeFailureKind::invalid_event;
  std::string reason_;
};

}  // namespace streamll::redis
