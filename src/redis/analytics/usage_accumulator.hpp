#pragma once
// Internal: adds events up into UsageStats (the guide's analyze_llm_usage loop), in memory
// bounded by the query's limits whatever the number of events.

#include <utility>

#include "redis/analytics/percentile_summary.hpp"
#include "redis/analytics/usage_decoder.hpp"
#include "redis/consumer/stream_entries.hpp"
#include "streamll/redis/analytics.hpp"
#include "utf8_prefix.hpp"

namespace streamll::redis {

// The token counts an llm_call adds to a total: UsageStats and ModelUsage name them alike.
template <typename Totals>
void add_token_counts(Totals& into, const UsageFields& f) {
  into.total_tokens += f.tokens_used;
  into.input_tokens += f.input_tokens;
  into.output_tokens += f.output_tokens;
  into.cached_input_tokens += f.cached_input_tokens;
  into.reasoning_tokens += f.reasoning_tokens;
}
template <typename Totals>
void add_token_counts(Totals& into, const Totals& from) {
  into.total_tokens += from.total_tokens;
  into.input_tokens += from.input_tokens;
  into.output_tokens += from.output_tokens;
  into.cached_input_tokens += from.cached_input_tokens;
  into.reasoning_tokens += from.reasoning_tokens;
}

inline void add_decode_failures(DecodeFailureCounts& into, const DecodeFailureCounts& from) {
  into.missing_event_field += from.missing_event_field;
  into.malformed_json += from.malformed_json;
  into.invalid_event += from.invalid_event;
}

class UsageAccumulator {
 public:
  explicit UsageAccumulator(const UsageQuery& query)
      : max_models_(query.max_models),
        model_exact_samples_(query.model_exact_samples),
        tag_key_(query.group_by_tag),
        max_tag_values_(query.max_tag_values),
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
    if (!decode_usage_fields(*json, fields_, kind_, reason_, tag_key_)) {
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
    f.cached_input_tokens = data["cached_input_tokens"].as_int(0);
    f.reasoning_tokens = data["reasoning_tokens"].as_int(0);
    if (const Value* v = data.find("cost_usd")) {
      f.cost_usd = v->as_double(0.0);
      f.cost_invalid = !is_valid_cost(v->is_number(), f.cost_usd);
    }
    if (const Value* v = data.find("response_time_ms"); v && v->is_number())
      f.response_time_ms = v->as_double();
    if (const Value* v = data.find("ttft_ms"); v && v->is_number()) f.ttft_ms = v->as_double();
    if (const Value* v = data.find("time_per_output_token_ms"); v && v->is_number())
      f.time_per_output_token_ms = v->as_double();
    if (const Value* v = data.find("inter_token_ms_p95"); v && v->is_number())
      f.inter_token_ms_p95 = v->as_double();
    if (const Value* v = data.find("success"); v && v->is_bool()) f.success = v->as_bool();
    if (const Value* v = data.find("output_tokens_per_second"); v && v->is_number())
      f.output_tokens_per_second = v->as_double();
    if (const Value* v = data.find("inter_token_ms_p50"); v && v->is_number())
      f.inter_token_ms_p50 = v->as_double();
    if (const Value* v = data.find("inter_token_ms_max"); v && v->is_number())
      f.inter_token_ms_max = v->as_double();
    if (!tag_key_.empty()) {
      if (const std::string* tag = event.tag(tag_key_)) f.tag_value = *tag;
    }
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
    add_token_counts(stats_, f);
    if (f.cost_invalid) {
      ++stats_.invalid_cost;
    } else {
      stats_.total_cost_usd += f.cost_usd;
    }
    if (f.success && !*f.success) ++stats_.failed_calls;
    if (f.response_time_ms) response_times_.add(*f.response_time_ms);
    if (f.ttft_ms) ttfts_.add(*f.ttft_ms);
    const std::string& model = f.model_is_string && !f.model.empty() ? f.model : kUnknown;
    bounded_slot(models_, model, max_models_, nullptr, model_exact_samples_).add(f);
    if (!tag_key_.empty()) {
      const std::string* value = &kNoTag;
      if (f.tag_value && f.tag_value->size() > kMaxTagValueBytes) {
        cut_value_.assign(*f.tag_value, 0,
                          streamll::detail::utf8_prefix(*f.tag_value, kMaxTagValueBytes));
        value = &cut_value_;
      } else if (f.tag_value) {
        value = &*f.tag_value;
      }
      bounded_slot(by_tag_, *value, max_tag_values_, &kNoTag, model_exact_samples_).add(f);
    }
  }

  /// Adds another accumulator's totals (another shard's): counts summed, distributions merged
  /// (percentiles over the union), names still bounded by max_models.
  void merge(const UsageAccumulator& other) {
    const UsageStats& o = other.stats_;
    stats_.entries += o.entries;
    stats_.events += o.events;
    add_decode_failures(stats_.undecodable, o.undecodable);
    for (const auto& [type, n] : o.events_by_type) count_bounded(stats_.events_by_type, type, n);
    stats_.total_calls += o.total_calls;
    stats_.failed_calls += o.failed_calls;
    add_token_counts(stats_, o);
    stats_.total_cost_usd += o.total_cost_usd;
    stats_.invalid_cost += o.invalid_cost;
    for (const auto& [model, theirs] : other.models_)
      bounded_slot(models_, model, max_models_, nullptr, model_exact_samples_).merge(theirs);
    // In merge order (shards in the order merged, each one's values in byte order): the
    // values of the shards merged first keep their places.
    for (const auto& [value, theirs] : other.by_tag_)
      bounded_slot(by_tag_, value, max_tag_values_, &kNoTag, model_exact_samples_).merge(theirs);
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
    for (const auto& [model, summary] : models_) {
      ModelUsage usage = summary.result();
      out.calls_per_model.emplace(model, usage.calls);
      out.models.emplace(model, std::move(usage));
    }
    out.tag_key = tag_key_;
    for (const auto& [value, summary] : by_tag_) out.by_tag.emplace(value, summary.result());
    return out;
  }

  std::size_t memory_bytes() const noexcept {
    std::size_t bytes = response_times_.memory_bytes() + ttfts_.memory_bytes();
    for (const auto& named : models_) bytes += named.second.memory_bytes();
    for (const auto& named : by_tag_) bytes += named.second.memory_bytes();
    return bytes;
  }

 private:
  // Names come from the data: the slot of `name` in `slots`, or of "(other)" once `limit`
  // names are there (the slot is made from `args` when new). "(other)", and `exempt` (the tag
  // grouping's "(none)"; null for models and event types, where "(none)" is a name like any),
  // take no name's place, also when they come from another shard's totals. One rule for model
  // names (calls_per_model is derived from models_), event type names and tag values.
  template <typename Map, typename... Args>
  static typename Map::mapped_type& bounded_slot(Map& slots, const std::string& name,
                                                 std::size_t limit, const std::string* exempt,
                                                 Args&&... args) {
    static const std::string other = "(other)";
    auto it = slots.find(name);
    if (it != slots.end()) return it->second;
    const bool is_exempt = exempt != nullptr && name == *exempt;
    const std::size_t names =
        slots.size() - slots.count(other) - (exempt != nullptr ? slots.count(*exempt) : 0);
    const std::string& key = is_exempt || (name != other && names < limit) ? name : other;
    return slots.try_emplace(key, std::forward<Args>(args)...).first->second;
  }
  void count_bounded(std::map<std::string, std::uint64_t>& counts, const std::string& name,
                     std::uint64_t n = 1) {
    bounded_slot(counts, name, max_models_, nullptr) += n;
  }
  // One model's totals and distributions.
  class ModelAccumulator {
   public:
    explicit ModelAccumulator(std::size_t exact_samples)
        : response_times_(exact_samples),
          ttfts_(exact_samples),
          tpots_(exact_samples),
          gap_p95s_(exact_samples),
          tokens_per_second_(exact_samples),
          gap_p50s_(exact_samples),
          gap_maxes_(exact_samples) {}

    void add(const UsageFields& f) {
      ++usage_.calls;
      if (f.success && !*f.success) ++usage_.failed_calls;
      add_token_counts(usage_, f);
      if (!f.cost_invalid) usage_.total_cost_usd += f.cost_usd;
      if (f.response_time_ms) response_times_.add(*f.response_time_ms);
      if (f.ttft_ms) ttfts_.add(*f.ttft_ms);
      if (f.time_per_output_token_ms) tpots_.add(*f.time_per_output_token_ms);
      if (f.inter_token_ms_p95) gap_p95s_.add(*f.inter_token_ms_p95);
      if (f.output_tokens_per_second) tokens_per_second_.add(*f.output_tokens_per_second);
      if (f.inter_token_ms_p50) gap_p50s_.add(*f.inter_token_ms_p50);
      if (f.inter_token_ms_max) gap_maxes_.add(*f.inter_token_ms_max);
    }
    void merge(const ModelAccumulator& o) {
      usage_.calls += o.usage_.calls;
      usage_.failed_calls += o.usage_.failed_calls;
      add_token_counts(usage_, o.usage_);
      usage_.total_cost_usd += o.usage_.total_cost_usd;
      response_times_.merge(o.response_times_);
      ttfts_.merge(o.ttfts_);
      tpots_.merge(o.tpots_);
      gap_p95s_.merge(o.gap_p95s_);
      tokens_per_second_.merge(o.tokens_per_second_);
      gap_p50s_.merge(o.gap_p50s_);
      gap_maxes_.merge(o.gap_maxes_);
    }
    ModelUsage result() const {
      ModelUsage out = usage_;
      out.response_time_ms = response_times_.summary();
      out.ttft_ms = ttfts_.summary();
      out.time_per_output_token_ms = tpots_.summary();
      out.inter_token_ms_p95 = gap_p95s_.summary();
      out.output_tokens_per_second = tokens_per_second_.summary();
      out.inter_token_ms_p50 = gap_p50s_.summary();
      out.inter_token_ms_max = gap_maxes_.summary();
      return out;
    }
    std::size_t memory_bytes() const noexcept {
      return response_times_.memory_bytes() + ttfts_.memory_bytes() + tpots_.memory_bytes() +
             gap_p95s_.memory_bytes() + tokens_per_second_.memory_bytes() +
             gap_p50s_.memory_bytes() + gap_maxes_.memory_bytes();
    }

   private:
    ModelUsage usage_;
    // Seven distributions of up to 16.3 KiB each (2081 counters of 8 bytes) past
    // model_exact_samples: 114 KiB a model.
    ModelPercentileSummary response_times_, ttfts_, tpots_, gap_p95s_;
    ModelPercentileSummary tokens_per_second_, gap_p50s_, gap_maxes_;
  };

  inline static const std::string kUnknown = "unknown";
  inline static const std::string kNoTag = "(none)";  // calls without the grouping tag

  std::size_t max_models_;
  std::size_t model_exact_samples_;
  std::map<std::string, ModelAccumulator> models_;
  std::string tag_key_;  // UsageQuery::group_by_tag
  std::size_t max_tag_values_;
  std::map<std::string, ModelAccumulator> by_tag_;  // per value of tag_key_
  UsageStats stats_;
  PercentileSummary response_times_;
  PercentileSummary ttfts_;
  UsageFields fields_;     // reused: decoding allocates less
  std::string cut_value_;  // a tag value cut to kMaxTagValueBytes (reused)
  DecodeFailureKind kind_ = DecodeFailureKind::invalid_event;
  std::string reason_;
};

}  // namespace streamll::redis
