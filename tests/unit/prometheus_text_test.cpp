// The Prometheus text format writer (src/cli/prometheus_text.hpp): names at their boundaries,
// escaping, values that read back exactly, histograms, and the errors. Read back by promtool
// and prometheus_client in tests/integration/prometheus_text_oracle_test.cpp.

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "cli/prometheus_text.hpp"

using streamll::cli::BadMetricName;
using streamll::cli::MetricType;
using streamll::cli::PrometheusText;

TEST_CASE("metric and label names follow the format", "[prometheus]") {
  using streamll::cli::valid_label_name;
  using streamll::cli::valid_metric_name;
  for (const char* ok : {"a", "_", ":", "a1", "a_b", "a:b", "A", "streamll_llm_calls_total"}) {
    INFO(ok);
    CHECK(valid_metric_name(ok));
  }
  for (const char* bad : {"", "1", "1a", "a-b", "a b", "a.b", "é", "a\n"}) {
    INFO(bad);
    CHECK_FALSE(valid_metric_name(bad));
  }
  for (const char* ok : {"a", "_", "_a", "model", "le", "a1"}) {
    INFO(ok);
    CHECK(valid_label_name(ok));
  }
  for (const char* bad : {"", "1", ":", "a:b", "__", "__name__", "a-b"}) {
    INFO(bad);
    CHECK_FALSE(valid_label_name(bad));
  }
}

TEST_CASE("label values and help texts are escaped and made UTF-8", "[prometheus]") {
  using streamll::cli::escape_help;
  using streamll::cli::escape_label_value;
  CHECK(escape_label_value("") == "");
  CHECK(escape_label_value("gpt-4o") == "gpt-4o");
  CHECK(escape_label_value(R"(a\b)") == R"(a\\b)");
  CHECK(escape_label_value("a\"b") == "a\\\"b");
  CHECK(escape_label_value("a\nb") == "a\\nb");
  CHECK(escape_label_value("\\\"\n") == "\\\\\\\"\\n");
  CHECK(escape_label_value("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
  // Invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong NUL.
  CHECK(escape_label_value("a\x80z") == "a\xef\xbf\xbdz");
  CHECK(escape_label_value("a\xc3") == "a\xef\xbf\xbd");
  CHECK(escape_label_value("\xc0\x80") == "\xef\xbf\xbd\xef\xbf\xbd");
  // A help text keeps its quotes.
  CHECK(escape_help("say \"hi\"\\\n") == "say \"hi\"\\\\\\n");
}

TEST_CASE("values are written in the shortest form that reads back exactly", "[prometheus]") {
  using streamll::cli::format_metric_value;
  CHECK(format_metric_value(0) == "0");
  CHECK(format_metric_value(1) == "1");
  CHECK(format_metric_value(12) == "12");
  CHECK(format_metric_value(0.25) == "0.25");
  CHECK(format_metric_value(0.1) == "0.1");
  CHECK(format_metric_value(-3.5) == "-3.5");
  CHECK(format_metric_value(1e21) == "1e+21");
  CHECK(format_metric_value(9007199254740992.0) == "9007199254740992");
  CHECK(format_metric_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_metric_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_metric_value(std::nan("")) == "NaN");
  std::mt19937_64 random(7);
  for (int i = 0; i < 20000; ++i) {
    std::uint64_t bits = random();
    double value;
    std::memcpy(&value, &bits, sizeof value);
    if (std::isnan(value) || std::isinf(value)) continue;
    const std::string text = format_metric_value(value);
    INFO(text);
    const double back = std::strtod(text.c_str(), nullptr);
    REQUIRE(std::memcmp(&back, &value, sizeof value) == 0);
  }
}

TEST_CASE("families and samples are written line by line", "[prometheus]") {
  std::string out;
  PrometheusText text(out);
  text.family("streamll_llm_calls_total", MetricType::counter, "LLM calls seen.");
  text.sample("streamll_llm_calls_total", {{"model", "gpt-4o"}, {"operation", "a\"b"}}, 12);
  text.sample("streamll_llm_calls_total", {}, 0.5);
  text.family("streamll_up", MetricType::gauge, "1 when up.\nSecond line.");
  text.sample("streamll_up", {}, 1);
  CHECK(out ==
        "# HELP streamll_llm_calls_total LLM calls seen.\n"
        "# TYPE streamll_llm_calls_total counter\n"
        "streamll_llm_calls_total{model=\"gpt-4o\",operation=\"a\\\"b\"} 12\n"
        "streamll_llm_calls_total 0.5\n"
        "# HELP streamll_up 1 when up.\\nSecond line.\n"
        "# TYPE streamll_up gauge\n"
        "streamll_up 1\n");
}

TEST_CASE("a histogram has cumulative buckets, +Inf, _sum and _count", "[prometheus]") {
  std::string out;
  PrometheusText text(out);
  text.family("streamll_llm_ttft_seconds", MetricType::histogram, "Time to first token.");
  text.histogram("streamll_llm_ttft_seconds", {{"model", "m"}}, {0.1, 0.5, 2.5}, {1, 3, 3}, 4.25,
                 5);
  CHECK(out ==
        "# HELP streamll_llm_ttft_seconds Time to first token.\n"
        "# TYPE streamll_llm_ttft_seconds histogram\n"
        "streamll_llm_ttft_seconds_bucket{model=\"m\",le=\"0.1\"} 1\n"
        "streamll_llm_ttft_seconds_bucket{model=\"m\",le=\"0.5\"} 3\n"
        "streamll_llm_ttft_seconds_bucket{model=\"m\",le=\"2.5\"} 3\n"
        "streamll_llm_ttft_seconds_bucket{model=\"m\",le=\"+Inf\"} 5\n"
        "streamll_llm_ttft_seconds_sum{model=\"m\"} 4.25\n"
        "streamll_llm_ttft_seconds_count{model=\"m\"} 5\n");
  // No bounds at all: the +Inf bucket alone.
  std::string bare;
  PrometheusText bare_text(bare);
  bare_text.family("h", MetricType::histogram, "");
  bare_text.histogram("h", {}, {}, {}, 0, 0);
  CHECK(bare.substr(bare.find("h_bucket")) == "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

TEST_CASE("what the format cannot carry is refused", "[prometheus]") {
  std::string out;
  PrometheusText text(out);
  CHECK_THROWS_AS(text.family("1bad", MetricType::gauge, ""), BadMetricName);
  text.family("ok", MetricType::gauge, "");
  CHECK_THROWS_WITH(text.family("ok", MetricType::counter, ""), Catch::Contains("twice"));
  CHECK_THROWS_AS(text.sample("ok", {{"__name__", "x"}}, 1), BadMetricName);
  CHECK_THROWS_AS(text.sample("ok", {{"a-b", "x"}}, 1), BadMetricName);
  CHECK_THROWS_WITH(text.sample("ok", {{"a", "x"}, {"a", "y"}}, 1), Catch::Contains("twice"));
  CHECK_THROWS_AS(text.sample("bad name", {}, 1), BadMetricName);
  // A family's samples come together, after its HELP and TYPE.
  std::string loose;
  PrometheusText loose_text(loose);
  CHECK_THROWS_WITH(loose_text.sample("a", {}, 1), Catch::Contains("outside its family"));
  loose_text.family("a_total", MetricType::counter, "");
  CHECK_THROWS_AS(loose_text.sample("a_total_sum", {}, 1), BadMetricName);
  CHECK_THROWS_AS(loose_text.sample("b_total", {}, 1), BadMetricName);
  loose_text.family("h", MetricType::histogram, "");
  CHECK_THROWS_AS(loose_text.sample("a_total", {}, 1), BadMetricName);
  CHECK_THROWS_AS(loose_text.sample("h", {}, 1), BadMetricName);
  CHECK_THROWS_AS(loose_text.sample("h_max", {}, 1), BadMetricName);
  CHECK_NOTHROW(loose_text.sample("h_count", {}, 1));
  // A histogram's own label set may not carry `le`.
  CHECK_THROWS_WITH(text.histogram("h", {{"le", "1"}}, {1}, {1}, 1, 1), Catch::Contains("twice"));
  CHECK_THROWS_AS(text.histogram("h", {}, {1, 2}, {1}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(text.histogram("h", {}, {2, 1}, {0, 1}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(text.histogram("h", {}, {1, 1}, {0, 1}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(text.histogram("h", {}, {1, 2}, {2, 1}, 1, 2), std::invalid_argument);
  CHECK_THROWS_AS(text.histogram("h", {}, {1}, {3}, 1, 2), std::invalid_argument);
  CHECK_THROWS_AS(text.histogram("h", {}, {std::nan("")}, {0}, 1, 2), std::invalid_argument);
  // Nothing refused was written.
  CHECK(out == "# HELP ok \n# TYPE ok gauge\n");
}
