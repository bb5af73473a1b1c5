// The Prometheus text exposition format, written (see prometheus_text.hpp).

#include "cli/prometheus_text.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "json_writer.hpp"

namespace streamll::cli {
namespace {

bool name_char(char c, bool first, bool colon_allowed) noexcept {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (letter || (colon_allowed && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view name, bool colon_allowed) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, colon_allowed)) return false;
  }
  return true;
}

const char* type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

// Escapes backslash, line feed and, when `quote`, the double quote; replaces invalid UTF-8.
std::string escape(std::string_view text, bool quote) {
  const std::string clean = detail::sanitize_utf8(text);
  std::string out;
  out.reserve(clean.size());
  for (const char c : clean) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

bool valid_metric_name(std::string_view name) noexcept { return valid_name(name, true); }

bool valid_label_name(std::string_view name) noexcept {
  return valid_name(name, false) && name.substr(0, 2) != "__";
}

std::string escape_label_value(std::string_view value) { return escape(value, true); }

std::string escape_help(std::string_view help) { return escape(help, false); }

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  return std::string(buf, result.ptr);
}

bool PrometheusText::of_current_family(std::string_view name) const {
  if (families_.empty()) return false;
  const std::string& family = families_.back();
  if (type_ != MetricType::histogram) return name == family;
  if (name.size() <= family.size() || name.substr(0, family.size()) != family) return false;
  const std::string_view suffix = name.substr(family.size());
  return suffix == "_bucket" || suffix == "_sum" || suffix == "_count";
}

void PrometheusText::family(std::string_view name, MetricType type, std::string_view help) {
  if (!valid_metric_name(name)) {
    throw BadMetricName("invalid metric name '" + std::string(name) + "'");
  }
  if (std::find(families_.begin(), families_.end(), name) != families_.end()) {
    throw BadMetricName("metric family '" + std::string(name) + "' written twice");
  }
  families_.emplace_back(name);
  type_ = type;
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

// Built apart and appended whole: a refused sample leaves the output as it was.
void PrometheusText::sample(std::string_view name, const MetricLabels& labels, double value) {
  if (!valid_metric_name(name)) {
    throw BadMetricName("invalid metric name '" + std::string(name) + "'");
  }
  if (!of_current_family(name)) {
    throw BadMetricName("sample '" + std::string(name) + "' outside its family" +
                        (families_.empty() ? std::string() : " ('" + families_.back() + "')"));
  }
  std::string line(name);
  if (!labels.empty()) {
    line += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const auto& [label, label_value] = labels[i];
      if (!valid_label_name(label)) {
        throw BadMetricName("invalid label name '" + label + "' on '" + std::string(name) + "'");
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (labels[j].first == label) {
          throw BadMetricName("label '" + label + "' twice on '" + std::string(name) + "'");
        }
      }
      if (i > 0) line += ',';
      line += label;
      line += "=\"";
      line += escape_label_value(label_value);
      line += '"';
    }
    line += '}';
  }
  line += ' ';
  line += format_metric_value(value);
  line += '\n';
  out_ += line;
}

void PrometheusText::histogram(std::string_view name, const MetricLabels& labels,
                               const std::vector<double>& bounds,
                               const std::vector<std::uint64_t>& cumulative, double sum,
                               std::uint64_t count) {
  if (bounds.size() != cumulative.size()) {
    throw std::invalid_argument("histogram '" + std::string(name) +
                                "': " + std::to_string(bounds.size()) + " bounds, " +
                                std::to_string(cumulative.size()) + " counts");
  }
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    const bool ordered =
        i == 0 || (bounds[i] > bounds[i - 1] && cumulative[i] >= cumulative[i - 1]);
    if (!ordered || std::isnan(bounds[i]) || std::isinf(bounds[i]) || cumulative[i] > count) {
      throw std::invalid_argument("histogram '" + std::string(name) +
                                  "': bounds must ascend, finite, with counts never decreasing "
                                  "and at most the total");
    }
  }
  for (const auto& label : labels) {
    if (label.first == "le") {
      throw BadMetricName("label 'le' twice on '" + std::string(name) + "_bucket'");
    }
  }
  const std::string base(name);
  MetricLabels with_le = labels;
  with_le.emplace_back("le", "");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    with_le.back().second = format_metric_value(bounds[i]);
    sample(base + "_bucket", with_le, static_cast<double>(cumulative[i]));
  }
  with_le.back().second = "+Inf";
  sample(base + "_bucket", with_le, static_cast<double>(count));
  sample(base + "_sum", labels, sum);
  sample(base + "_count", labels, static_cast<double>(count));
}

}  // namespace streamll::cli
