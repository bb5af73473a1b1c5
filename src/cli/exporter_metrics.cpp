// What `streamll exporter` counts from the events (see exporter_metrics.hpp).

#include "cli/exporter_metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

namespace streamll::cli {
namespace {

std::optional<double> seconds_from_ms(const Fields& data, std::string_view key) {
  const auto ms = data.get<double>(key);
  if (!ms || !std::isfinite(*ms) || *ms < 0) return std::nullopt;
  return *ms / 1000.0;
}

std::uint64_t count_of(const Fields& data, std::string_view key) {
  const auto n = data.get<std::int64_t>(key);
  return n && *n > 0 ? static_cast<std::uint64_t>(*n) : 0;
}

// A counter that wraps reads as a reset in Prometheus and is wrong for good: it stops at the top.
void add_saturating(std::uint64_t& total, std::uint64_t n) noexcept {
  total = n > UINT64_MAX - total ? UINT64_MAX : total + n;
}

// A label value that is empty reads in PromQL as no label at all.
std::string named(std::string value) { return value.empty() ? "unknown" : value; }

}  // namespace

// Call durations run from a cached answer to a long reasoning run; first tokens and the gaps
// between tokens are shorter.
const std::vector<double> HistogramBuckets::call_duration = {0.1, 0.25, 0.5, 1,   2.5, 5,
                                                             10,  30,   60,  120, 300};
const std::vector<double> HistogramBuckets::ttft = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};
const std::vector<double> HistogramBuckets::time_per_output_token = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1};

void Histogram::observe(double value) noexcept {
  if (!std::isfinite(value) || value < 0) return;
  const auto& bounds = *bounds_;
  // Prometheus buckets are "less than or equal": a value on a bound counts in it.
  const auto it = std::lower_bound(bounds.begin(), bounds.end(), value);
  if (it != bounds.end()) ++counts_[static_cast<std::size_t>(it - bounds.begin())];
  sum_ += value;
  ++count_;
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out(counts_.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) out[i] = running += counts_[i];
  return out;
}

ExporterMetrics::ExporterMetrics(std::size_t max_label_values, std::size_t max_combinations)
    : models_(max_label_values),
      operations_(max_label_values),
      error_types_(max_label_values),
      event_types_(max_label_values),
      max_combinations_(max_combinations) {}

void ExporterMetrics::apply(const Event& event) {
  ++events_;
  ++events_by_type_[std::string(event_types_.admit(event.type_name()))];
  if (event.type == EventType::llm_call) {
    const Fields& data = event.data;
    const std::string model_name = named(data.get<std::string>("model").value_or(""));
    if (data.get<bool>("sampled_out").value_or(false)) {
      // Head sampling sends every failed call but only the kept executions' successes
      // (docs/sampling.md): counted with the rest, these would inflate the error rate and skew
      // tokens and latencies. The kept executions alone are an unbiased sample.
      ++sampled_out_failed_[std::string(models_.admit(model_name))];
      return;
    }
    const auto success = data.get<bool>("success");
    const char* outcome = !success ? "unknown" : *success ? "success" : "error";
    LlmKey key{std::string(models_.admit(model_name)),
               std::string(operations_.admit(named(event.operation()))), outcome};
    if (llm_.size() >= max_combinations_ && llm_.count(key) == 0) {
      // The "other" sets themselves may go past the cap: at most one per outcome.
      std::get<0>(key) = LabelCap::kOther;
      std::get<1>(key) = LabelCap::kOther;
      ++llm_folded_;
    }
    LlmSeries& s = llm_[key];
    ++s.calls;
    add_saturating(s.input_tokens, count_of(data, "input_tokens"));
    add_saturating(s.output_tokens, count_of(data, "output_tokens"));
    add_saturating(s.cached_input_tokens, count_of(data, "cached_input_tokens"));
    add_saturating(s.reasoning_tokens, count_of(data, "reasoning_tokens"));
    const auto cost = data.get<double>("cost_usd");
    if (cost && std::isfinite(*cost) && *cost >= 0) s.cost_usd += *cost;
    if (auto v = seconds_from_ms(data, "response_time_ms")) s.duration.observe(*v);
    if (auto v = seconds_from_ms(data, "ttft_ms")) s.ttft.observe(*v);
    if (auto v = seconds_from_ms(data, "time_per_output_token_ms")) {
      s.time_per_output_token.observe(*v);
    }
  } else if (event.type == EventType::error) {
    const std::string error_type = named(event.data.get<std::string>("error_type").value_or(""));
    ErrorKey key{std::string(operations_.admit(named(event.operation()))),
                 std::string(error_types_.admit(error_type))};
    if (errors_.size() >= max_combinations_ && errors_.count(key) == 0) {
      key.first = LabelCap::kOther;
      ++errors_folded_;
    }
    ++errors_[key];
  }
}

void ExporterMetrics::render(PrometheusText& out) const {
  out.family("streamll_exporter_events_total", MetricType::counter,
             "Events the exporter consumed, by event type.");
  for (const auto& [type, n] : events_by_type_) {
    out.sample("streamll_exporter_events_total", {{"event_type", type}}, static_cast<double>(n));
  }
  const auto llm_labels = [](const LlmKey& k) -> MetricLabels {
    return {{"model", std::get<0>(k)}, {"operation", std::get<1>(k)}, {"outcome", std::get<2>(k)}};
  };
  struct Counter {
    const char* name;
    const char* help;
    double (*value)(const LlmSeries&);
  };
  const Counter counters[] = {
      {"streamll_llm_calls_total", "LLM calls (llm_call events).",
       [](const LlmSeries& s) { return static_cast<double>(s.calls); }},
      {"streamll_llm_input_tokens_total", "Input (prompt) tokens of LLM calls.",
       [](const LlmSeries& s) { return static_cast<double>(s.input_tokens); }},
      {"streamll_llm_output_tokens_total", "Output (completion) tokens of LLM calls.",
       [](const LlmSeries& s) { return static_cast<double>(s.output_tokens); }},
      {"streamll_llm_cached_input_tokens_total",
       "Input tokens served from the provider's prompt cache.",
       [](const LlmSeries& s) { return static_cast<double>(s.cached_input_tokens); }},
      {"streamll_llm_reasoning_tokens_total", "Output tokens spent on reasoning.",
       [](const LlmSeries& s) { return static_cast<double>(s.reasoning_tokens); }},
      {"streamll_llm_cost_usd_total", "Cost of LLM calls in US dollars.",
       [](const LlmSeries& s) { return s.cost_usd; }},
  };
  for (const Counter& c : counters) {
    out.family(c.name, MetricType::counter, c.help);
    for (const auto& [key, series] : llm_) out.sample(c.name, llm_labels(key), c.value(series));
  }
  struct Hist {
    const char* name;
    const char* help;
    const Histogram& (*of)(const LlmSeries&);
  };
  const Hist histograms[] = {
      {"streamll_llm_call_duration_seconds", "LLM call duration (response_time_ms).",
       [](const LlmSeries& s) -> const Histogram& { return s.duration; }},
      {"streamll_llm_ttft_seconds", "Time to first token of streamed LLM calls.",
       [](const LlmSeries& s) -> const Histogram& { return s.ttft; }},
      {"streamll_llm_time_per_output_token_seconds", "Time per output token of streamed LLM calls.",
       [](const LlmSeries& s) -> const Histogram& { return s.time_per_output_token; }},
  };
  for (const Hist& h : histograms) {
    out.family(h.name, MetricType::histogram, h.help);
    for (const auto& [key, series] : llm_) {
      const Histogram& hist = h.of(series);
      out.histogram(h.name, llm_labels(key), hist.bounds(), hist.cumulative(), hist.sum(),
                    hist.count());
    }
  }
  out.family("streamll_errors_total", MetricType::counter,
             "Error events (spans that failed), by operation and error type.");
  for (const auto& [key, n] : errors_) {
    out.sample("streamll_errors_total", {{"operation", key.first}, {"error_type", key.second}},
               static_cast<double>(n));
  }
  out.family("streamll_llm_sampled_out_failed_calls_total", MetricType::counter,
             "Failed LLM calls of executions head sampling left out (not in the llm_* families).");
  for (const auto& [model, n] : sampled_out_failed_) {
    out.sample("streamll_llm_sampled_out_failed_calls_total", {{"model", model}},
               static_cast<double>(n));
  }
  out.family("streamll_exporter_label_values_folded_total", MetricType::counter,
             "Events whose label value was reported as \"other\" (past --max-label-values).");
  const std::pair<const char*, const LabelCap*> caps[] = {{"event_type", &event_types_},
                                                          {"error_type", &error_types_},
                                                          {"model", &models_},
                                                          {"operation", &operations_}};
  for (const auto& [label, cap] : caps) {
    out.sample("streamll_exporter_label_values_folded_total", {{"label", label}},
               static_cast<double>(cap->folded()));
  }
  out.family("streamll_exporter_label_sets_folded_total", MetricType::counter,
             "Events counted under model and operation \"other\" past --max-label-sets.");
  out.sample("streamll_exporter_label_sets_folded_total", {{"family", "errors"}},
             static_cast<double>(errors_folded_));
  out.sample("streamll_exporter_label_sets_folded_total", {{"family", "llm"}},
             static_cast<double>(llm_folded_));
}

}  // namespace streamll::cli
