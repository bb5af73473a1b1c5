#pragma once
// What `streamll exporter` counts from the events it consumes (docs/monitoring.md): per model,
// operation and outcome, LLM calls, tokens, cost and histograms of call duration, time to first
// token and time per output token; per operation and error type, error events. Model, operation
// and error type values are bounded by LabelCap ("other" past the cap), and so are their
// combinations: past `max_combinations` label sets in a group of families, a new one is counted
// under model and operation "other" (its outcome or error type kept). So the exporter serves at
// most about 45 x max_combinations LLM series. Not thread-safe: the exporter guards it with a
// mutex.

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cli/label_cap.hpp"
#include "cli/prometheus_text.hpp"
#include "streamll/event.hpp"

namespace streamll::cli {

/// Fixed buckets (seconds): Prometheus sums histograms across series only when they share them.
struct HistogramBuckets {
  static const std::vector<double> call_duration;
  static const std::vector<double> ttft;
  static const std::vector<double> time_per_output_token;
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds)
      : bounds_(&bounds), counts_(bounds.size()) {}
  /// A finite value >= 0 (anything else is not observed: an event cannot carry one, but a
  /// hand-written entry can).
  void observe(double value) noexcept;
  const std::vector<double>& bounds() const noexcept { return *bounds_; }
  std::vector<std::uint64_t> cumulative() const;
  double sum() const noexcept { return sum_; }
  std::uint64_t count() const noexcept { return count_; }

 private:
  const std::vector<double>* bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class ExporterMetrics {
 public:
  /// `max_label_values`: the distinct values each of model, operation and error_type keeps;
  /// `max_combinations`: the label sets of the llm_* families, and of errors_total.
  ExporterMetrics(std::size_t max_label_values, std::size_t max_combinations);

  /// Counts one event (llm_call and error; any event in events_total).
  void apply(const Event& event);
  /// The families, each with its HELP and TYPE, even when it has no series yet.
  void render(PrometheusText& out) const;

  std::uint64_t events() const noexcept { return events_; }

 private:
  struct LlmSeries {
    std::uint64_t calls = 0;
    std::uint64_t input_tokens = 0, output_tokens = 0, cached_input_tokens = 0,
                  reasoning_tokens = 0;
    double cost_usd = 0;
    Histogram duration{HistogramBuckets::call_duration};
    Histogram ttft{HistogramBuckets::ttft};
    Histogram time_per_output_token{HistogramBuckets::time_per_output_token};
  };
  using LlmKey = std::tuple<std::string, std::string, std::string>;  // model, operation, outcome
  using ErrorKey = std::pair<std::string, std::string>;              // operation, error_type

  LabelCap models_;
  LabelCap operations_;
  LabelCap error_types_;
  std::map<LlmKey, LlmSeries> llm_;
  std::map<ErrorKey, std::uint64_t> errors_;
  std::map<std::string, std::uint64_t> events_by_type_;      // event_type, capped too
  std::map<std::string, std::uint64_t> sampled_out_failed_;  // by model
  LabelCap event_types_;
  std::size_t max_combinations_;
  std::uint64_t llm_folded_ = 0;
  std::uint64_t errors_folded_ = 0;
  std::uint64_t events_ = 0;
};

}  // namespace streamll::cli
