// ExporterMetrics (src/cli/exporter_metrics.hpp): what the exporter counts from llm_call and
// error events, histogram bucket edges, values an entry cannot be trusted with, and the label
// cap's "other".

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "cli/exporter_metrics.hpp"

using streamll::cli::ExporterMetrics;
using streamll::cli::Histogram;
using streamll::cli::PrometheusText;

namespace {

streamll::Event event(streamll::EventType type, const std::string& operation,
                      streamll::Fields data) {
  auto context = std::make_shared<streamll::EventContext>();
  context->execution_id = "exec_0000000000000001";
  context->operation = operation;
  return streamll::Event::capture(type, context, std::move(data));
}

streamll::Event llm_call(const std::string& model, const std::string& operation, bool success,
                         streamll::Fields extra = {}) {
  streamll::Fields data{{"model", model}, {"success", success}};
  for (const auto& field : extra) data.set(field.key, field.value);
  return event(streamll::EventType::llm_call, operation, std::move(data));
}

std::string rendered(const ExporterMetrics& metrics) {
  std::string out;
  PrometheusText text(out);
  metrics.render(text);
  return out;
}

}  // namespace

TEST_CASE("a histogram counts a value on a bound in that bucket", "[prometheus]") {
  const std::vector<double> bounds = {0.1, 1};
  Histogram h(bounds);
  for (double v : {0.0, 0.1, 0.10000000000000002, 1.0, 5.0}) h.observe(v);
  // Not observed: what no duration can be.
  for (double v : {-1.0, std::nan(""), std::numeric_limits<double>::infinity()}) h.observe(v);
  CHECK(h.cumulative() == std::vector<std::uint64_t>{2, 4});
  CHECK(h.count() == 5);
  CHECK(h.sum() == Approx(6.20000000000000002));
}

TEST_CASE("llm_call events become calls, tokens, cost and histograms", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  m.apply(llm_call("gpt-4o", "answer", true,
                   {{"input_tokens", 100},
                    {"output_tokens", 20},
                    {"cached_input_tokens", 40},
                    {"reasoning_tokens", 5},
                    {"cost_usd", 0.25},
                    {"response_time_ms", 1000.0},
                    {"ttft_ms", 250.0},
                    {"time_per_output_token_ms", 10.0}}));
  m.apply(llm_call("gpt-4o", "answer", true,
                   {{"input_tokens", 1},
                    {"output_tokens", 2},
                    {"cost_usd", 0.5},
                    {"response_time_ms", 3000.0}}));
  m.apply(llm_call("gpt-4o", "answer", false, {{"response_time_ms", 50.0}}));
  const std::string out = rendered(m);
  const std::string ok = "{model=\"gpt-4o\",operation=\"answer\",outcome=\"success\"}";
  const std::string failed = "{model=\"gpt-4o\",operation=\"answer\",outcome=\"error\"}";
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total" + ok + " 2\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total" + failed + " 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_input_tokens_total" + ok + " 101\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_output_tokens_total" + ok + " 22\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_cached_input_tokens_total" + ok + " 40\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_reasoning_tokens_total" + ok + " 5\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_cost_usd_total" + ok + " 0.75\n"));
  CHECK_THAT(out,
             Catch::Contains("streamll_llm_call_duration_seconds_bucket{model=\"gpt-4o\",operation="
                             "\"answer\",outcome=\"success\",le=\"1\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_call_duration_seconds_sum" + ok + " 4\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_call_duration_seconds_count" + ok + " 2\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_ttft_seconds_count" + ok + " 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_ttft_seconds_sum" + ok + " 0.25\n"));
  CHECK_THAT(out,
             Catch::Contains("streamll_llm_time_per_output_token_seconds_sum" + ok + " 0.01\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_call_duration_seconds_sum" + failed + " 0.05\n"));
  CHECK_THAT(out, Catch::Contains("streamll_exporter_events_total{event_type=\"llm_call\"} 3\n"));
  CHECK(m.events() == 3);
}

TEST_CASE("error events count by operation and error type", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  m.apply(event(streamll::EventType::error, "retrieval", {{"error_type", "TimeoutError"}}));
  m.apply(event(streamll::EventType::error, "retrieval", {{"error_type", "TimeoutError"}}));
  m.apply(event(streamll::EventType::error, "answer", {}));
  m.apply(event(streamll::EventType::start, "answer", {}));
  const std::string out = rendered(m);
  CHECK_THAT(out,
             Catch::Contains(
                 "streamll_errors_total{operation=\"retrieval\",error_type=\"TimeoutError\"} 2\n"));
  CHECK_THAT(out, Catch::Contains(
                      "streamll_errors_total{operation=\"answer\",error_type=\"unknown\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_exporter_events_total{event_type=\"start\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_exporter_events_total{event_type=\"error\"} 3\n"));
}

TEST_CASE("values an entry cannot be trusted with are not counted", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  m.apply(llm_call("m", "op", true,
                   {{"input_tokens", -5},
                    {"output_tokens", "12"},
                    {"cost_usd", -1.0},
                    {"response_time_ms", -3.0},
                    {"ttft_ms", "fast"}}));
  const std::string out = rendered(m);
  const std::string labels = "{model=\"m\",operation=\"op\",outcome=\"success\"}";
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total" + labels + " 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_input_tokens_total" + labels + " 0\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_output_tokens_total" + labels + " 0\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_cost_usd_total" + labels + " 0\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_call_duration_seconds_count" + labels + " 0\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_ttft_seconds_count" + labels + " 0\n"));
}

TEST_CASE("models past the cap are reported as other and counted", "[prometheus]") {
  ExporterMetrics m(2, 1000);
  for (const char* model : {"a", "b", "c", "d", "a"}) m.apply(llm_call(model, "op", true));
  const std::string out = rendered(m);
  CHECK_THAT(out,
             Catch::Contains(
                 "streamll_llm_calls_total{model=\"a\",operation=\"op\",outcome=\"success\"} 2\n"));
  CHECK_THAT(
      out,
      Catch::Contains(
          "streamll_llm_calls_total{model=\"other\",operation=\"op\",outcome=\"success\"} 2\n"));
  CHECK_THAT(out,
             Catch::Contains("streamll_exporter_label_values_folded_total{label=\"model\"} 2\n"));
}

TEST_CASE("every family is written even before any event", "[prometheus]") {
  const std::string out = rendered(ExporterMetrics(10, 1000));
  for (const char* family :
       {"streamll_exporter_events_total", "streamll_llm_calls_total",
        "streamll_llm_input_tokens_total", "streamll_llm_output_tokens_total",
        "streamll_llm_cached_input_tokens_total", "streamll_llm_reasoning_tokens_total",
        "streamll_llm_cost_usd_total", "streamll_llm_call_duration_seconds",
        "streamll_llm_ttft_seconds", "streamll_llm_time_per_output_token_seconds",
        "streamll_errors_total", "streamll_exporter_label_values_folded_total",
        "streamll_llm_sampled_out_failed_calls_total",
        "streamll_exporter_label_sets_folded_total"}) {
    INFO(family);
    CHECK_THAT(out, Catch::Contains(std::string("# TYPE ") + family + " "));
  }
}

TEST_CASE("failed calls of sampled-out executions stay out of the llm families", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  m.apply(llm_call("m", "op", true));
  m.apply(llm_call("m", "root", false, {{"sampled_out", true}, {"response_time_ms", 100.0}}));
  const std::string out = rendered(m);
  CHECK_THAT(out,
             Catch::Contains(
                 "streamll_llm_calls_total{model=\"m\",operation=\"op\",outcome=\"success\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_sampled_out_failed_calls_total{model=\"m\"} 1\n"));
  CHECK(out.find("outcome=\"error\"") == std::string::npos);
  CHECK(out.find("operation=\"root\"") == std::string::npos);
}

TEST_CASE("missing names and outcomes read unknown", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  m.apply(event(streamll::EventType::llm_call, "", {{"success", 1}}));
  m.apply(event(streamll::EventType::error, "", {}));
  const std::string out = rendered(m);
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total{model=\"unknown\",operation="
                                  "\"unknown\",outcome=\"unknown\"} 1\n"));
  CHECK_THAT(out, Catch::Contains(
                      "streamll_errors_total{operation=\"unknown\",error_type=\"unknown\"} 1\n"));
}

TEST_CASE("token counters stop at the top rather than wrap", "[prometheus]") {
  ExporterMetrics m(100, 1000);
  const auto most = std::numeric_limits<std::int64_t>::max();
  for (int i = 0; i < 3; ++i) m.apply(llm_call("m", "op", true, {{"input_tokens", most}}));
  CHECK_THAT(rendered(m), Catch::Contains("streamll_llm_input_tokens_total{model=\"m\",operation="
                                          "\"op\",outcome=\"success\"} 18446744073709551616\n"));
}

TEST_CASE("label sets past the cap are counted under model and operation other", "[prometheus]") {
  ExporterMetrics m(100, 2);
  m.apply(llm_call("a", "op1", true));
  m.apply(llm_call("b", "op1", true));
  m.apply(llm_call("c", "op2", true));   // a third set: folded
  m.apply(llm_call("c", "op2", false));  // and a fourth, its outcome kept
  m.apply(llm_call("a", "op1", true));   // a known set still counts as itself
  m.apply(event(streamll::EventType::error, "x", {{"error_type", "E1"}}));
  m.apply(event(streamll::EventType::error, "y", {{"error_type", "E1"}}));
  m.apply(event(streamll::EventType::error, "z", {{"error_type", "E2"}}));
  const std::string out = rendered(m);
  CHECK_THAT(
      out, Catch::Contains(
               "streamll_llm_calls_total{model=\"a\",operation=\"op1\",outcome=\"success\"} 2\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total{model=\"other\",operation=\"other\","
                                  "outcome=\"success\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_llm_calls_total{model=\"other\",operation=\"other\","
                                  "outcome=\"error\"} 1\n"));
  CHECK(out.find("model=\"c\"") == std::string::npos);
  CHECK_THAT(out,
             Catch::Contains("streamll_errors_total{operation=\"other\",error_type=\"E2\"} 1\n"));
  CHECK_THAT(out, Catch::Contains("streamll_exporter_label_sets_folded_total{family=\"llm\"} 2\n"));
  CHECK_THAT(out,
             Catch::Contains("streamll_exporter_label_sets_folded_total{family=\"errors\"} 1\n"));
}
