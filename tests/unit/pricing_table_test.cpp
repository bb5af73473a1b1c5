// The pricing table: its format's boundaries and errors (ConfigError naming the file and the
// problem, from the option and from STREAMLL_PRICING_FILE), the cost arithmetic against
// hand-computed figures, and what an llm_call event carries: the caller's cost wins, a model
// the table lacks is counted, not priced. Events are read back as JSON with nlohmann.

#include <unistd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <streamll/streamll.hpp>

#include "scoped_env.hpp"

using streamll::ConfigError;
using streamll::ModelPrice;
using streamll::PricingTable;
using streamll::testing::ScopedEnv;
namespace fs = std::filesystem;

namespace {

const char* const kTable = R"({
  "date": "2026-12-01", "currency": "USD",
  "models": {
    "gpt-4o": {"input_per_million": 2.5, "output_per_million": 10, "cached_input_per_million": 1.25},
    "no-cache-price": {"input_per_million": 3, "output_per_million": 15},
    "free": {"input_per_million": 0, "output_per_million": 0, "cached_input_per_million": 0}
  }
})";

// A file in the temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    static std::atomic<int> n{0};
    path_ = fs::temp_directory_path() / ("streamll_pricing_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(n++) + ".json");
    std::ofstream(path_) << text;
  }
  ~TempFile() {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

// The ConfigError `text` gives, its message checked for `problem`.
void require_rejected(const std::string& text, const std::string& problem) {
  CAPTURE(text);
  try {
    PricingTable::parse(text, "prices.json");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CAPTURE(e.what());
    CHECK(e.option() == "pricing_file");
    CHECK(std::string(e.what()).find("'prices.json'") != std::string::npos);
    CHECK(std::string(e.what()).find(problem) != std::string::npos);
  }
}

std::string table_with(const std::string& model_prices) {
  return R"({"date":"2026-12-01","models":{"m":)" + model_prices + "}}";
}

struct Recorder {
  explicit Recorder(std::optional<std::string> pricing_file) {
    streamll::InstrumentorOptions options;
    options.sinks = {sink};
    options.pricing_file = std::move(pricing_file);
    instrumentor = std::make_unique<streamll::Instrumentor>(std::move(options));
  }
  // The data of the one llm_call event, parsed from its JSON.
  nlohmann::json last_call() const {
    const auto events = sink->events();
    REQUIRE(!events.empty());
    REQUIRE(events.back().type == streamll::EventType::llm_call);
    return nlohmann::json::parse(streamll::to_json(events.back()))["data"];
  }
  std::shared_ptr<streamll::MemorySink> sink = std::make_shared<streamll::MemorySink>();
  std::unique_ptr<streamll::Instrumentor> instrumentor;
};

streamll::LlmUsage usage(std::int64_t input, std::int64_t cached, std::int64_t output) {
  streamll::LlmUsage u;
  u.input_tokens = input;
  u.cached_input_tokens = cached;
  u.output_tokens = output;
  return u;
}

}  // namespace

TEST_CASE("The shipped example pricing table parses and is dated", "[pricing]") {
  const PricingTable table =
      PricingTable::load(std::string(STREAMLL_SOURCE_DIR) + "/examples/pricing.example.json");
  CHECK(table.date().size() == 10);
  REQUIRE(table.size() >= 3);
  REQUIRE(table.find("gpt-4o") != nullptr);
  // Its note says the prices change; a reader of the file must see that.
  std::ifstream in(std::string(STREAMLL_SOURCE_DIR) + "/examples/pricing.example.json");
  const auto doc = nlohmann::json::parse(in);
  CHECK(doc["note"].get<std::string>().find("Prices change; check your provider") !=
        std::string::npos);
  CHECK(doc["date"] == table.date());
}

TEST_CASE("A pricing table parses its models, sorted and found by exact name", "[pricing]") {
  const PricingTable table = PricingTable::parse(kTable, "t.json");
  CHECK(table.date() == "2026-12-01");
  CHECK(table.source() == "t.json");
  REQUIRE(table.size() == 3);
  CHECK(table.models()[0].first == "free");
  CHECK(table.models()[1].first == "gpt-4o");
  CHECK(table.models()[2].first == "no-cache-price");
  const ModelPrice* p = table.find("gpt-4o");
  REQUIRE(p != nullptr);
  CHECK(p->input_per_million == 2.5);
  CHECK(p->output_per_million == 10);
  CHECK(p->cached_input_per_million == 1.25);
  CHECK_FALSE(table.find("no-cache-price")->cached_input_per_million.has_value());
  CHECK(table.find("gpt-4") == nullptr);
  CHECK(table.find("gpt-4o-2024-08-06") == nullptr);
  CHECK(table.find("GPT-4O") == nullptr);
  CHECK(table.find("") == nullptr);
  CHECK(table.find("zzz") == nullptr);
  // No models at all is a valid (useless) table; note and source are free text.
  CHECK(PricingTable::parse(R"({"date":"2026-01-31","models":{},"note":"x","source":"y"})", "e")
            .empty());
  CHECK(PricingTable().find("gpt-4o") == nullptr);
}

TEST_CASE("A bad pricing table is a ConfigError naming the file and the problem", "[pricing]") {
  require_rejected("", "not valid JSON");
  require_rejected("{\"date\":", "not valid JSON");
  require_rejected("[]", "not a JSON object");
  require_rejected(R"({"models":{}})", "\"date\" is missing");
  require_rejected(R"({"date":"","models":{}})", "YYYY-MM-DD");
  require_rejected(R"({"date":"2026-13-01","models":{}})", "YYYY-MM-DD");
  require_rejected(R"({"date":"2026-12-00","models":{}})", "YYYY-MM-DD");
  require_rejected(R"({"date":"26-12-01","models":{}})", "YYYY-MM-DD");
  require_rejected(R"({"date":20261201,"models":{}})", "YYYY-MM-DD");
  require_rejected(R"({"date":"2026-12-01"})", "\"models\" is missing");
  require_rejected(R"({"date":"2026-12-01","models":[]})", "\"models\" must be an object");
  require_rejected(R"({"date":"2026-12-01","currency":"EUR","models":{}})", "\"currency\"");
  require_rejected(R"({"date":"2026-12-01","models":{},"dates":"x"})", "unknown key \"dates\"");
  require_rejected(R"({"date":"2026-12-01","models":{"":{}}})", "a model name is empty");
  require_rejected(table_with("5"), "model \"m\" must be an object of prices");
  require_rejected(table_with(R"({"output_per_million":1})"), "\"input_per_million\" is missing");
  require_rejected(table_with(R"({"input_per_million":1})"), "\"output_per_million\" is missing");
  // Beyond a double's range is not JSON nlohmann reads: not valid JSON.
  require_rejected(table_with(R"({"input_per_million":1e999,"output_per_million":1})"),
                   "not valid JSON");
  for (const char* bad : {"-1", "-0.0001", "\"2.5\"", "null", "true", "[1]", "{}"}) {
    require_rejected(
        table_with(std::string(R"({"input_per_million":)") + bad + R"(,"output_per_million":1})"),
        "\"input_per_million\" must be a finite number >= 0 and <= 1000000");
    require_rejected(
        table_with(std::string(R"({"input_per_million":1,"output_per_million":)") + bad + "}"),
        "\"output_per_million\" must be a finite number >= 0 and <= 1000000");
    require_rejected(table_with(std::string(R"({"input_per_million":1,"output_per_million":1,)") +
                                R"("cached_input_per_million":)" + bad + "}"),
                     "\"cached_input_per_million\" must be a finite number >= 0 and <= 1000000");
  }
  // A price beyond a million dollars per million tokens is a typo; the bound itself is valid.
  for (const char* key : {"input_per_million", "output_per_million", "cached_input_per_million"}) {
    const std::string others = std::string(key) == "cached_input_per_million"
                                   ? R"("input_per_million":1,"output_per_million":1,)"
                               : std::string(key) == "input_per_million"
                                   ? R"("output_per_million":1,)"
                                   : R"("input_per_million":1,)";
    for (const char* bad : {"1000000.0001", "2.5e9", "1e300"}) {
      require_rejected(table_with("{" + others + "\"" + key + "\":" + bad + "}"),
                       "\"" + std::string(key) + "\" must be a finite number >= 0 and <= 1000000");
    }
    CHECK_NOTHROW(PricingTable::parse(table_with("{" + others + "\"" + key + "\":1000000}"), "t"));
  }
  // A key given twice: nlohmann would keep the last, other parsers the first.
  require_rejected(R"({"date":"2026-12-01","date":"2020-01-01","models":{}})",
                   "key \"date\" is given twice");
  require_rejected(R"({"date":"2026-12-01","models":{"gpt-4o":{"input_per_million":1,)"
                   R"("output_per_million":1},"gpt-4o":{"input_per_million":9,)"
                   R"("output_per_million":9}}})",
                   "key \"gpt-4o\" is given twice");
  require_rejected(table_with(R"({"input_per_million":1,"output_per_million":1,)"
                              R"("input_per_million":2})"),
                   "key \"input_per_million\" is given twice");
  // The same key in different objects, or at different depths, is no duplicate.
  CHECK(PricingTable::parse(R"({"date":"2026-12-01","models":{)"
                            R"("a":{"input_per_million":1,"output_per_million":2},)"
                            R"("b":{"input_per_million":1,"output_per_million":2}}})",
                            "t")
            .size() == 2);
  // Days per month, leap years included.
  for (const char* bad : {"2025-02-29", "2025-02-31", "2026-04-31", "2026-06-31", "2026-09-31",
                          "2026-11-31", "1900-02-29", "2026-01-32"}) {
    require_rejected(std::string(R"({"date":")") + bad + R"(","models":{}})", "YYYY-MM-DD");
  }
  for (const char* good :
       {"2024-02-29", "2000-02-29", "2025-02-28", "2026-01-31", "2026-04-30", "2026-12-31"}) {
    CHECK(
        PricingTable::parse(std::string(R"({"date":")") + good + R"(","models":{}})", "t").date() ==
        good);
  }
  // A misspelt price would otherwise fall back to the input price without a word.
  require_rejected(
      table_with(R"({"input_per_million":1,"output_per_million":1,"cached_per_million":0.1})"),
      "unknown key \"cached_per_million\"");
}

TEST_CASE("A missing or unreadable pricing file is a ConfigError naming it", "[pricing]") {
  const std::string missing = (fs::temp_directory_path() / "streamll_no_such_prices.json").string();
  try {
    PricingTable::load(missing, "pricing_file");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()).find(missing) != std::string::npos);
    CHECK(std::string(e.what()).find("cannot be opened") != std::string::npos);
  }
  const std::string directory = fs::temp_directory_path().string();
  CHECK_THROWS_AS(PricingTable::load(directory), ConfigError);
  TempFile empty("");
  CHECK_THROWS_WITH(PricingTable::load(empty.path()),
                    Catch::Contains("not valid JSON") && Catch::Contains(empty.path()));
}

TEST_CASE("A call's cost is its uncached, cached and output tokens at their prices", "[pricing]") {
  const PricingTable table = PricingTable::parse(kTable, "t.json");
  const ModelPrice& gpt = *table.find("gpt-4o");
  // (600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6
  CHECK(PricingTable::cost_usd(gpt, 1000, 400, 200) == Approx(0.004).epsilon(1e-12));
  CHECK(PricingTable::cost_usd(gpt, 1000, 0, 200) == Approx(0.0045).epsilon(1e-12));
  CHECK(PricingTable::cost_usd(gpt, 0, 0, 0) == 0.0);
  CHECK(PricingTable::cost_usd(gpt, 1, 0, 0) == Approx(2.5e-6).epsilon(1e-12));
  CHECK(PricingTable::cost_usd(gpt, 0, 0, 1) == Approx(1e-5).epsilon(1e-12));
  // A million of each: the prices themselves.
  CHECK(PricingTable::cost_usd(gpt, 1000000, 1000000, 0) == Approx(1.25));
  CHECK(PricingTable::cost_usd(gpt, 0, 0, 1000000) == Approx(10.0));
  // Cached beyond the input counts as all of it; negative counts as none.
  CHECK(PricingTable::cost_usd(gpt, 100, 500, 0) == Approx(100 * 1.25 / 1e6));
  CHECK(PricingTable::cost_usd(gpt, -5, -5, -5) == 0.0);
  CHECK(PricingTable::cost_usd(gpt, 100, -5, 0) == Approx(100 * 2.5 / 1e6));
  // No cached price: cached tokens cost the input price.
  CHECK(PricingTable::cost_usd(*table.find("no-cache-price"), 1000, 400, 200) ==
        Approx((1000 * 3.0 + 200 * 15.0) / 1e6));
  CHECK(PricingTable::cost_usd(*table.find("free"), 1000, 400, 200) == 0.0);
}

TEST_CASE("An llm_call without a cost is priced by the table and says so", "[pricing]") {
  TempFile file(kTable);
  Recorder r(file.path());
  REQUIRE(r.instrumentor->pricing_table() != nullptr);
  CHECK(r.instrumentor->pricing_table()->date() == "2026-12-01");

  SECTION("priced, reasoning tokens being part of the output") {
    streamll::LlmCall call(*r.instrumentor, "gpt-4o");
    auto u = usage(1000, 400, 200);
    u.reasoning_tokens = 150;
    call.finish(std::move(u));
    const auto data = r.last_call();
    CHECK(data["cost_usd"].get<double>() == Approx(0.004).epsilon(1e-12));
    CHECK(data["cost_source"] == "pricing_table");
    CHECK(r.instrumentor->unpriced_calls() == 0);
  }
  SECTION("the caller's cost wins, also a zero one") {
    const double given = GENERATE(0.0, 1.5);
    streamll::LlmCall call(*r.instrumentor, "gpt-4o");
    auto u = usage(1000, 400, 200);
    u.cost_usd = given;
    call.finish(std::move(u));
    const auto data = r.last_call();
    CHECK(data["cost_usd"].get<double>() == given);
    CHECK_FALSE(data.contains("cost_source"));
  }
  SECTION("a model the table lacks: no cost, counted") {
    for (int i = 0; i < 3; ++i) {
      streamll::LlmCall call(*r.instrumentor, "gpt-4o-2024-08-06");
      call.finish(usage(1000, 0, 200));
      const auto data = r.last_call();
      CHECK_FALSE(data.contains("cost_usd"));
      CHECK_FALSE(data.contains("cost_source"));
    }
    CHECK(r.instrumentor->unpriced_calls() == 3);
  }
  SECTION("no input or no output tokens: no cost, not counted") {
    {
      streamll::LlmCall call(*r.instrumentor, "gpt-4o");
      streamll::LlmUsage u;
      u.output_tokens = 10;
      call.finish(std::move(u));
    }
    CHECK_FALSE(r.last_call().contains("cost_usd"));
    {
      streamll::LlmCall call(*r.instrumentor, "gpt-4o");
      call.fail("timeout", "no answer");
    }
    CHECK_FALSE(r.last_call().contains("cost_usd"));
    CHECK(r.instrumentor->unpriced_calls() == 0);
  }
  SECTION("failed and abandoned calls of a model the table lacks are not counted") {
    {
      streamll::LlmCall call(*r.instrumentor, "unknown-model");
      call.fail("timeout", "no answer");
    }
    CHECK_FALSE(r.last_call().contains("cost_usd"));
    {
      streamll::LlmCall call(*r.instrumentor, "unknown-model");
      call.token("partial");
    }  // abandoned: destroyed unfinished
    CHECK(r.last_call()["success"] == false);
    CHECK_FALSE(r.last_call().contains("cost_usd"));
    {
      streamll::LlmCall call(*r.instrumentor, "unknown-model");
      streamll::LlmUsage u;
      u.input_tokens = 10;  // no output count
      call.finish(std::move(u));
    }
    CHECK(r.instrumentor->unpriced_calls() == 0);
    // The same model with both counts is counted: the check above is not vacuous.
    {
      streamll::LlmCall call(*r.instrumentor, "unknown-model");
      call.finish(usage(10, 0, 5));
    }
    CHECK(r.instrumentor->unpriced_calls() == 1);
  }
  SECTION("a cost given through extra is the caller's: not priced, not counted") {
    const std::string model = GENERATE(std::string("gpt-4o"), std::string("unknown-model"));
    streamll::LlmCall call(*r.instrumentor, model);
    auto u = usage(1000, 400, 200);
    u.extra.set("cost_usd", 0.5);
    call.finish(std::move(u));
    const auto data = r.last_call();
    CHECK(data["cost_usd"].get<double>() == 0.5);
    CHECK_FALSE(data.contains("cost_source"));
    CHECK(r.instrumentor->unpriced_calls() == 0);
  }
  SECTION("a cost_source in extra is kept: the caller wins") {
    streamll::LlmCall call(*r.instrumentor, "gpt-4o");
    auto u = usage(1000, 400, 200);
    u.extra.set("cost_source", "my_billing");
    call.finish(std::move(u));
    const auto data = r.last_call();
    CHECK(data["cost_usd"].get<double>() == Approx(0.004).epsilon(1e-12));
    CHECK(data["cost_source"] == "my_billing");
    // Replaced, not written twice: the event's JSON names it once.
    const std::string text = streamll::to_json(r.sink->events().back());
    CHECK(text.find("\"cost_source\"") == text.rfind("\"cost_source\""));
  }
  SECTION("no cached count: all input at the input price") {
    streamll::LlmCall call(*r.instrumentor, "no-cache-price");
    streamll::LlmUsage u;
    u.input_tokens = 1000;
    u.output_tokens = 200;
    call.finish(std::move(u));
    CHECK(r.last_call()["cost_usd"].get<double>() == Approx(0.006).epsilon(1e-12));
  }
}

TEST_CASE("Without a pricing table nothing is priced or counted", "[pricing]") {
  ScopedEnv unset("STREAMLL_PRICING_FILE", nullptr);
  Recorder r(std::nullopt);
  CHECK(r.instrumentor->pricing_table() == nullptr);
  {
    streamll::LlmCall call(*r.instrumentor, "gpt-4o");
    call.finish(usage(1000, 400, 200));
  }
  CHECK_FALSE(r.last_call().contains("cost_usd"));
  CHECK(r.instrumentor->unpriced_calls() == 0);
}

TEST_CASE("STREAMLL_PRICING_FILE gives the table when the option is unset", "[pricing]") {
  TempFile file(kTable);
  SECTION("read") {
    ScopedEnv env("STREAMLL_PRICING_FILE", file.path().c_str());
    Recorder r(std::nullopt);
    REQUIRE(r.instrumentor->pricing_table() != nullptr);
    CHECK(r.instrumentor->pricing_table()->source() == file.path());
  }
  SECTION("an empty option turns it off") {
    ScopedEnv env("STREAMLL_PRICING_FILE", file.path().c_str());
    Recorder r(std::string{});
    CHECK(r.instrumentor->pricing_table() == nullptr);
  }
  SECTION("spaces and tabs around the path are ignored") {
    const std::string padded = " \t" + file.path() + "\t ";
    ScopedEnv env("STREAMLL_PRICING_FILE", padded.c_str());
    Recorder r(std::nullopt);
    REQUIRE(r.instrumentor->pricing_table() != nullptr);
    CHECK(r.instrumentor->pricing_table()->source() == file.path());
  }
  SECTION("a blank variable is no table") {
    ScopedEnv env("STREAMLL_PRICING_FILE", "  ");
    Recorder r(std::nullopt);
    CHECK(r.instrumentor->pricing_table() == nullptr);
  }
  SECTION("an empty variable is no table") {
    ScopedEnv env("STREAMLL_PRICING_FILE", "");
    Recorder r(std::nullopt);
    CHECK(r.instrumentor->pricing_table() == nullptr);
  }
  SECTION("a bad file is a ConfigError naming the variable and the file") {
    TempFile bad(R"({"models":{}})");
    ScopedEnv env("STREAMLL_PRICING_FILE", bad.path().c_str());
    try {
      Recorder r(std::nullopt);
      FAIL("accepted");
    } catch (const ConfigError& e) {
      CHECK(e.option() == "STREAMLL_PRICING_FILE");
      CHECK(std::string(e.what()).find(bad.path()) != std::string::npos);
      CHECK(std::string(e.what()).find("\"date\" is missing") != std::string::npos);
    }
  }
  SECTION("the option wins over the variable") {
    ScopedEnv env("STREAMLL_PRICING_FILE", "/nonexistent/prices.json");
    Recorder r(file.path());
    CHECK(r.instrumentor->pricing_table()->source() == file.path());
  }
}

TEST_CASE("A bad pricing_file option is a ConfigError naming the option", "[pricing]") {
  try {
    Recorder r(std::string("/nonexistent/prices.json"));
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(e.option() == "pricing_file");
    CHECK(std::string(e.what()).find("/nonexistent/prices.json") != std::string::npos);
  }
}

TEST_CASE("Pricing beside sampling and OpenTelemetry names", "[pricing][sampling]") {
  TempFile file(kTable);
  auto sink = std::make_shared<streamll::MemorySink>();
  streamll::InstrumentorOptions options;
  options.sinks = {sink};
  options.pricing_file = file.path();
  SECTION("a sampled-out execution: its successful calls are neither priced nor counted") {
    options.sample_rate = 0.0;
    auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
    {
      streamll::Span root(instrumentor, "request");
      streamll::LlmCall unknown("not-in-the-table");
      unknown.finish(usage(1000, 0, 200));
      streamll::LlmCall failed("gpt-4o");
      failed.fail("RateLimited", "429");
    }
    CHECK(instrumentor->unpriced_calls() == 0);
    const auto calls = sink->events_of_type(streamll::EventType::llm_call);
    REQUIRE(calls.size() == 1);  // the failed one: no tokens, so no cost
    CHECK(calls[0].data.get<bool>("sampled_out") == true);
    CHECK_FALSE(calls[0].data.contains("cost_usd"));
    CHECK_FALSE(calls[0].data.contains("cost_source"));
  }
  SECTION("with OpenTelemetry GenAI names the priced call carries both") {
    options.otel_genai_names = true;
    auto instrumentor = std::make_shared<streamll::Instrumentor>(std::move(options));
    {
      streamll::LlmCall call(*instrumentor, "gpt-4o");
      call.finish(usage(1000, 400, 200));
    }
    const auto calls = sink->events_of_type(streamll::EventType::llm_call);
    REQUIRE(calls.size() == 1);
    const auto data = nlohmann::json::parse(streamll::to_json(calls[0]))["data"];
    CHECK(data["cost_usd"].get<double>() == Approx(0.0025 * 0.6 + 0.00125 * 0.4 + 0.002));
    CHECK(data["cost_source"] == "pricing_table");
    CHECK(data["gen_ai.usage.input_tokens"] == 1000);
    CHECK(data["gen_ai.usage.output_tokens"] == 200);
  }
}
