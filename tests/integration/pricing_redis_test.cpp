// The pricing table through a real redis-server: the shipped example table prices an llm_call
// that reported no cost, the cost reaches the stream (read back with hiredis, parsed with
// nlohmann) and analyze_usage() sums it; a caller's cost is left as given.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <streamll/redis/analytics.hpp>
#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
namespace sinkit = streamll::sinkit;

TEST_CASE("A cost from the pricing table reaches the stream and the totals",
          "[redis_sink_it][pricing]") {
  RedisServer server;
  auto sink = std::make_shared<streamll::RedisSink>(sinkit::fast_options(server.url()));
  const std::string example = std::string(STREAMLL_SOURCE_DIR) + "/examples/pricing.example.json";
  streamll::InstrumentorOptions options;
  options.sinks.push_back(sink);
  options.pricing_file = example;
  streamll::Instrumentor instrumentor(std::move(options));
  const auto table = streamll::PricingTable::load(example);
  const streamll::ModelPrice gpt = *table.find("gpt-4o");
  auto call = [&instrumentor](const char* model, std::int64_t input, std::int64_t cached,
                              std::int64_t output, std::optional<double> cost) {
    streamll::LlmCall c(instrumentor, model);
    streamll::LlmUsage usage;
    usage.input_tokens = input;
    if (cached > 0) usage.cached_input_tokens = cached;
    usage.output_tokens = output;
    usage.cost_usd = cost;
    c.finish(std::move(usage));
  };
  call("gpt-4o", 12000, 8000, 900, std::nullopt);
  call("gpt-4o", 10, 0, 10, 0.5);
  call("in-house-model", 10, 0, 10, std::nullopt);
  REQUIRE(instrumentor.flush(5s));
  CHECK(instrumentor.unpriced_calls() == 1);

  DirectRedis redis = DirectRedis::tcp(server.port());
  std::vector<nlohmann::json> calls;
  for (const auto& entry : redis.xrange("ml_events")) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    calls.push_back(nlohmann::json::parse(*json).at("data"));
  }
  REQUIRE(calls.size() == 3);
  // By hand from the example's prices: 4000 uncached, 8000 cached, 900 output tokens.
  const double expected = (4000 * gpt.input_per_million +
                           8000 * gpt.cached_input_per_million.value_or(gpt.input_per_million) +
                           900 * gpt.output_per_million) /
                          1e6;
  CHECK(calls[0].at("cost_usd").get<double>() == Approx(expected).epsilon(1e-12));
  CHECK(calls[0].at("cost_source") == "pricing_table");
  CHECK(calls[1].at("cost_usd").get<double>() == 0.5);
  CHECK_FALSE(calls[1].contains("cost_source"));
  CHECK_FALSE(calls[2].contains("cost_usd"));

  streamll::RedisConnectionOptions connection;
  connection.url = server.url();
  const auto stats = streamll::analyze_usage(connection, "ml_events");
  CHECK(stats.total_calls == 3);
  CHECK(stats.total_cost_usd == Approx(expected + 0.5).epsilon(1e-12));
}
