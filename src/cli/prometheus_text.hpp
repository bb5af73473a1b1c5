#pragma once
// The Prometheus text exposition format (version 0.0.4), written: what `streamll exporter`
// serves at /metrics. One family at a time, HELP and TYPE first, then its samples; names are
// checked, label values and help texts escaped, values in the shortest form that reads back
// exactly. No parsing here: the tests read the output back with promtool and Python's
// prometheus_client.
//
//   std::string out;
//   PrometheusText text(out);
//   text.family("streamll_llm_calls_total", MetricType::counter, "LLM calls seen.");
//   text.sample("streamll_llm_calls_total", {{"model", "gpt-4o"}}, 12);

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace streamll::cli {

enum class MetricType { counter, gauge, histogram };

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

/// A metric or label name the format does not allow (a programming error: names here are
/// constants).
class BadMetricName : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view name) noexcept;
/// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus itself).
bool valid_label_name(std::string_view name) noexcept;
/// A label value as the format quotes it: backslash, double quote and line feed escaped, and
/// invalid UTF-8 replaced by U+FFFD (the format is UTF-8; Prometheus refuses a scrape with
/// invalid bytes).
std::string escape_label_value(std::string_view value);
/// A HELP text: backslash and line feed escaped, invalid UTF-8 replaced.
std::string escape_help(std::string_view help);
/// The shortest decimal that reads back as `value` ("12", "0.25", "1e+21"), or "+Inf", "-Inf",
/// "NaN".
std::string format_metric_value(double value);

class PrometheusText {
 public:
  explicit PrometheusText(std::string& out) : out_(out) {}

  /// HELP and TYPE lines of a new family. Throws BadMetricName for an invalid name or one
  /// already written.
  void family(std::string_view name, MetricType type, std::string_view help);
  /// One sample line: `name{labels} value`. `name` is the current family's, or for a histogram
  /// one of its _bucket, _sum, _count series: anything else (a sample before any family, or of
  /// another one, which would split a family) throws BadMetricName, as does an invalid or
  /// repeated label name.
  void sample(std::string_view name, const MetricLabels& labels, double value);
  /// A histogram's series for one label set: a _bucket per bound (cumulative counts, `le`
  /// added after `labels`), the +Inf bucket (= count), _sum and _count. `bounds` ascending,
  /// `cumulative` the same size and never decreasing (else std::invalid_argument).
  void histogram(std::string_view name, const MetricLabels& labels,
                 const std::vector<double>& bounds, const std::vector<std::uint64_t>& cumulative,
                 double sum, std::uint64_t count);

 private:
  bool of_current_family(std::string_view name) const;

  std::string& out_;
  std::vector<std::string> families_;
  MetricType type_ = MetricType::counter;  // the current (last) family's
};

}  // namespace streamll::cli
