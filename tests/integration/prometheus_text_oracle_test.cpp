// The Prometheus text writer (src/cli/prometheus_text.hpp) read back by two independent
// parsers: `promtool check metrics` (Prometheus's own, Debian's prometheus package) must find
// nothing to say, and prometheus_client's parser (python3-prometheus-client) must read every
// sample's name, labels and value back exactly. Label values are generated across the input
// space: empty, lengths around byte boundaries, the characters the format escapes, multibyte
// and invalid UTF-8; values include infinities, NaN, -0, subnormals and the double after 2^53.

#include <catch2/catch.hpp>

#ifdef STREAMLL_PROMTOOL  // tests/CMakeLists.txt leaves these out without promtool
#include <nlohmann/json.hpp>

#include <unistd.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "cli/exporter_metrics.hpp"
#include "cli/prometheus_text.hpp"
#include "subprocess.hpp"

namespace {

using streamll::cli::MetricLabels;
using streamll::cli::MetricType;
using streamll::cli::PrometheusText;

std::string hex_bits(double value) {
  std::uint64_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(bits));
  return buf;
}

std::string hex_bytes(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// Bytes the format treats specially, UTF-8 of 2 to 4 bytes, and bytes that are not UTF-8.
std::string generated_value(std::mt19937& random, std::size_t length) {
  static const std::vector<std::string> pieces = {"a",
                                                  "Z",
                                                  "0",
                                                  "-",
                                                  "/",
                                                  ".",
                                                  " ",
                                                  "\\",
                                                  "\"",
                                                  "\n",
                                                  "\\n",
                                                  "{",
                                                  "}",
                                                  ",",
                                                  "=",
                                                  "#",
                                                  "\t",
                                                  "\r",
                                                  "\x01",
                                                  "\xc3\xa9",
                                                  "\xe2\x82\xac",
                                                  "\xf0\x9f\x98\x80",
                                                  "\x80",
                                                  "\xc3",
                                                  "\xff",
                                                  "\xed\xa0\x80"};
  std::string out;
  while (out.size() < length) out += pieces[random() % pieces.size()];
  out.resize(length);  // may cut a sequence: more invalid UTF-8
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("promtool and prometheus_client read the text writer's output back exactly",
          "[prometheus]") {
  std::mt19937 random(20261207);
  std::string document;
  PrometheusText text(document);
  nlohmann::json samples = nlohmann::json::array();
  nlohmann::json types = nlohmann::json::object();
  // Label values go as their raw bytes: the oracle decodes them itself, one U+FFFD per byte
  // that is not part of a valid character.
  auto expect = [&](const std::string& name, const MetricLabels& labels, double value) {
    nlohmann::json l = nlohmann::json::object();
    for (const auto& [k, v] : labels) l[k] = hex_bytes(v);
    samples.push_back({{"name", name}, {"labels", l}, {"bits", hex_bits(value)}});
  };
  const std::vector<double> special = {
      0.0,
      -0.0,
      1.0,
      0.1,
      1e21,
      std::nextafter(9007199254740992.0, 1e300),  // 2^53 + 2: no double between
      std::numeric_limits<double>::denorm_min(),
      std::numeric_limits<double>::max(),
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity(),
      std::nan("")};
  const std::vector<std::size_t> lengths = {0, 1, 2, 3, 4, 127, 128, 255, 256, 1000, 4096};
  for (int f = 0; f < 40; ++f) {
    const bool counter = f % 2 == 0;
    const std::string name = counter ? "oracle_family_" + std::to_string(f) + "_total"
                                     : "oracle_family_" + std::to_string(f);
    text.family(name, counter ? MetricType::counter : MetricType::gauge,
                "Family " + std::to_string(f) + ": " + generated_value(random, f * 7));
    types[counter ? name.substr(0, name.size() - 6) : name] = counter ? "counter" : "gauge";
    for (int s = 0; s < 25; ++s) {
      // A sample number keeps every series unique (the oracle checks there are no repeats).
      MetricLabels labels = {{"sample", std::to_string(s)}};
      const int label_count = s % 4;
      for (int l = 0; l < label_count; ++l) {
        const std::size_t length = s < 11 ? lengths[(s + l) % lengths.size()] : random() % 300;
        labels.emplace_back("label_" + std::to_string(l), generated_value(random, length));
      }
      double value;
      if (s < static_cast<int>(special.size())) {
        value = special[s];
      } else {
        std::uint64_t bits = (std::uint64_t(random()) << 32) | random();
        std::memcpy(&value, &bits, sizeof value);
      }
      text.sample(name, labels, value);
      expect(name, labels, value);
    }
  }
  // A histogram's series, in the order the writer puts them.
  text.family("oracle_latency_seconds", MetricType::histogram, "A histogram.");
  types["oracle_latency_seconds"] = "histogram";
  const std::vector<double> bounds = {0.005, 0.01, 0.1, 1, 10};
  const std::vector<std::uint64_t> cumulative = {0, 2, 2, 7, 9};
  const MetricLabels model = {{"model", "gpt-4o \"mini\"\n\xc3"}};
  text.histogram("oracle_latency_seconds", model, bounds, cumulative, 12.5, 10);
  // Written as Prometheus's own clients write them.
  const std::vector<std::string> le = {"0.005", "0.01", "0.1", "1", "10", "+Inf"};
  for (std::size_t i = 0; i <= bounds.size(); ++i) {
    MetricLabels with_le = model;
    with_le.emplace_back("le", le[i]);
    expect("oracle_latency_seconds_bucket", with_le,
           static_cast<double>(i < bounds.size() ? cumulative[i] : 10));
  }
  expect("oracle_latency_seconds_sum", model, 12.5);
  expect("oracle_latency_seconds_count", model, 10);

  const std::string dir = "/tmp/streamll_prom_oracle_" + std::to_string(getpid());
  REQUIRE(system(("mkdir -p " + dir).c_str()) == 0);
  const std::string metrics = dir + "/metrics.txt";
  const std::string expected = dir + "/expected.json";
  std::ofstream(metrics) << document;
  std::ofstream(expected) << nlohmann::json{{"samples", samples}, {"types", types}}.dump();

  const std::string promtool_out = dir + "/promtool.txt";
  const int promtool = streamll::test::run_bounded(
      {"sh", "-c", "'" + std::string(STREAMLL_PROMTOOL) + "' check metrics < '" + metrics + "'"},
      60, promtool_out);
  INFO("promtool: " << read_file(promtool_out));
  CHECK(promtool == 0);
  CHECK(read_file(promtool_out).empty());

  const std::string python_out = dir + "/python.txt";
  const int python = streamll::test::run_bounded(
      {STREAMLL_ORACLE_PYTHON, STREAMLL_PROMETHEUS_ORACLE, metrics, expected}, 60, python_out);
  INFO("prometheus_client: " << read_file(python_out));
  CHECK(python == 0);
  if (promtool == 0 && python == 0) REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}

TEST_CASE("promtool finds nothing to say about the exporter's metrics", "[prometheus]") {
  streamll::cli::ExporterMetrics metrics(3, 8);
  std::mt19937 random(7);
  for (int i = 0; i < 200; ++i) {
    auto context = std::make_shared<streamll::EventContext>();
    context->operation = "op_" + std::to_string(i % 5) + (i % 7 == 0 ? "\"\n\\" : "");
    const bool call = i % 3 != 0;
    streamll::Fields data;
    if (call) {
      data.set("model", "model-" + std::to_string(i % 6) + (i % 11 == 0 ? "\xff" : ""));
      data.set("success", i % 4 != 0);
      data.set("input_tokens", static_cast<std::int64_t>(random() % 5000));
      data.set("output_tokens", static_cast<std::int64_t>(random() % 800));
      data.set("cost_usd", static_cast<double>(random() % 1000) / 10000.0);
      data.set("response_time_ms", static_cast<double>(random() % 200000) / 10.0);
      data.set("ttft_ms", static_cast<double>(random() % 20000) / 10.0);
      data.set("time_per_output_token_ms", static_cast<double>(random() % 2000) / 10.0);
    } else {
      data.set("error_type", "Error" + std::to_string(i % 5));
    }
    metrics.apply(streamll::Event::capture(
        call ? streamll::EventType::llm_call : streamll::EventType::error, context, data));
  }
  std::string document;
  PrometheusText text(document);
  metrics.render(text);
  const std::string dir = "/tmp/streamll_prom_lint_" + std::to_string(getpid());
  REQUIRE(system(("mkdir -p " + dir).c_str()) == 0);
  std::ofstream(dir + "/metrics.txt") << document;
  const std::string out = dir + "/promtool.txt";
  const int rc = streamll::test::run_bounded(
      {"sh", "-c",
       "'" + std::string(STREAMLL_PROMTOOL) + "' check metrics < '" + dir + "/metrics.txt'"},
      60, out);
  INFO("promtool: " << read_file(out));
  CHECK(rc == 0);
  CHECK(read_file(out).empty());
  REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}

#endif  // STREAMLL_PROMTOOL
