// Per-model usage (UsageStats::models): totals and latency percentiles of each model's llm_call
// events against an exact oracle computed here, the coarse histogram past the exact limit, the
// bound on model names, and shards merged as one stream.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "nearest_rank.hpp"
#include "redis/analytics/usage_accumulator.hpp"

namespace {

using streamll::Event;
using streamll::EventType;
using streamll::redis::UsageAccumulator;

using streamll::testing::nearest_rank;

// What one model's events hold, kept exactly for the oracle.
struct Expected {
  std::uint64_t calls = 0, failed = 0;
  std::int64_t tokens = 0, cached = 0, reasoning = 0;
  double cost = 0;
  std::vector<double> response, ttft, tpot, gap_p95, tokens_per_second, gap_p50, gap_max;
};

Event llm_call(const std::string& model, std::mt19937_64& random, Expected& expected) {
  std::uniform_real_distribution<double> ms(1.0, 5000.0);
  const bool streamed = random() % 4 != 0;  // a quarter did not stream: no ttft, no figures
  const bool failed = random() % 10 == 0;
  Event e;
  e.type = EventType::llm_call;
  e.data.set("model", model);
  const auto tokens = static_cast<std::int64_t>(random() % 1000);
  e.data.set("tokens_used", tokens);
  if (tokens % 2 == 0) {  // half the calls report a cache and reasoning, half not
    e.data.set("cached_input_tokens", tokens / 3);
    e.data.set("reasoning_tokens", tokens / 5);
    expected.cached += tokens / 3;
    expected.reasoning += tokens / 5;
  }
  e.data.set("cost_usd", 0.001);
  const double response = ms(random);
  e.data.set("response_time_ms", response);
  expected.response.push_back(response);
  if (streamed) {
    // A figure the call carries, and the sample its model's distribution must hold.
    auto figure = [&e](const char* key, double value, std::vector<double>& samples) {
      e.data.set(key, value);
      samples.push_back(value);
    };
    const double tpot = ms(random) / 100;
    figure("ttft_ms", response / 5, expected.ttft);
    figure("time_per_output_token_ms", tpot, expected.tpot);
    figure("inter_token_ms_p95", tpot * 1.7, expected.gap_p95);
    // Drawn on their own, so that a figure read into another's distribution shows.
    figure("output_tokens_per_second", ms(random) / 10, expected.tokens_per_second);
    figure("inter_token_ms_p50", ms(random) / 200, expected.gap_p50);
    figure("inter_token_ms_max", ms(random) / 2, expected.gap_max);
  }
  e.data.set("success", !failed);
  ++expected.calls;
  expected.failed += failed;
  expected.tokens += tokens;
  expected.cost += 0.001;
  return e;
}

void check_percentiles(const streamll::Percentiles& got, const std::vector<double>& samples,
                       double relative_error) {
  REQUIRE(got.count == samples.size());
  if (samples.empty()) return;
  CHECK(got.min == *std::min_element(samples.begin(), samples.end()));
  CHECK(got.max == *std::max_element(samples.begin(), samples.end()));
  for (const int p : {50, 95, 99}) {
    CAPTURE(p);
    const double exact = nearest_rank(samples, p);
    const double reported = p == 50 ? got.p50 : p == 95 ? got.p95 : got.p99;
    if (relative_error == 0) {
      CHECK(reported == exact);
    } else {
      CHECK(std::fabs(reported - exact) <= exact * relative_error);
    }
  }
}

void check_model(const streamll::ModelUsage& got, const Expected& expected, double relative_error) {
  CHECK(got.calls == expected.calls);
  CHECK(got.failed_calls == expected.failed);
  CHECK(got.total_tokens == expected.tokens);
  CHECK(got.cached_input_tokens == expected.cached);
  CHECK(got.reasoning_tokens == expected.reasoning);
  CHECK(got.total_cost_usd == Approx(expected.cost));
  check_percentiles(got.response_time_ms, expected.response, relative_error);
  check_percentiles(got.ttft_ms, expected.ttft, relative_error);
  check_percentiles(got.time_per_output_token_ms, expected.tpot, relative_error);
  check_percentiles(got.inter_token_ms_p95, expected.gap_p95, relative_error);
  check_percentiles(got.output_tokens_per_second, expected.tokens_per_second, relative_error);
  check_percentiles(got.inter_token_ms_p50, expected.gap_p50, relative_error);
  check_percentiles(got.inter_token_ms_max, expected.gap_max, relative_error);
  CHECK(got.response_time_ms.exact == (relative_error == 0));
}

}  // namespace

TEST_CASE("Per-model usage: totals and exact percentiles of each model's calls",
          "[analytics][models]") {
  std::mt19937_64 random(14);
  streamll::UsageQuery q;
  q.model_exact_samples = 1000;
  UsageAccumulator acc(q);
  std::map<std::string, Expected> expected;
  const std::vector<std::string> models = {"gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0"};
  for (int i = 0; i < 600; ++i) {
    const std::string& model = models[random() % models.size()];
    acc.add(llm_call(model, random, expected[model]));
  }
  // Events that are not calls, and a call without a model, count nowhere else.
  Event token;
  token.type = EventType::token;
  acc.add(token);
  Expected unknown;
  Event no_model = llm_call("", random, unknown);
  no_model.data.set("model", 5);
  acc.add(no_model);

  const auto stats = acc.result();
  REQUIRE(stats.models.size() == 4);
  for (const auto& [model, want] : expected) {
    INFO(model);
    REQUIRE(stats.models.count(model) == 1);
    check_model(stats.models.at(model), want, 0);
    CHECK(stats.calls_per_model.at(model) == want.calls);
  }
  check_model(stats.models.at("unknown"), unknown, 0);
}

TEST_CASE("Per-model usage: past the exact limit percentiles stay within 1/64",
          "[analytics][models]") {
  std::mt19937_64 random(15);
  streamll::UsageQuery q;
  q.model_exact_samples = 50;
  UsageAccumulator acc(q);
  Expected want;
  for (int i = 0; i < 3000; ++i) acc.add(llm_call("m", random, want));
  const auto stats = acc.result();
  check_model(stats.models.at("m"), want, 1.0 / 64);
  // The model's seven coarse histograms (2081 counters of 8 bytes each), and the two
  // whole-range distributions' exact samples (3000 at most, in vectors grown by doubling).
  CHECK(acc.memory_bytes() <= 7 * 2081 * 8 + 2 * 4096 * 8);
  CHECK(acc.memory_bytes() >= 7 * 2081 * 8);  // all seven counted, none left out
}

TEST_CASE("Per-model usage: names past max_models are added up as (other)", "[analytics][models]") {
  std::mt19937_64 random(16);
  streamll::UsageQuery q;
  q.max_models = 2;
  UsageAccumulator acc(q);
  std::map<std::string, Expected> expected;
  for (const char* model : {"a", "b", "c", "d", "a", "c"}) {
    const std::string name = std::string(model) == "a" || std::string(model) == "b"
                                 ? std::string(model)
                                 : std::string("(other)");
    acc.add(llm_call(model, random, expected[name]));
  }
  const auto stats = acc.result();
  REQUIRE(stats.models.size() == 3);
  for (const auto& [model, want] : expected) {
    INFO(model);
    check_model(stats.models.at(model), want, 0);
  }
}

TEST_CASE("Per-model usage: shards merged give what one stream gives", "[analytics][models]") {
  std::mt19937_64 random(17);
  streamll::UsageQuery q;
  q.model_exact_samples = 40;  // some models go past it in the union only
  UsageAccumulator one(q), shard0(q), shard1(q);
  std::map<std::string, Expected> expected;
  const std::vector<std::string> models = {"x", "y", "z"};
  for (int i = 0; i < 150; ++i) {
    const std::string& model = models[random() % models.size()];
    const Event e = llm_call(model, random, expected[model]);
    one.add(e);
    (i % 2 == 0 ? shard0 : shard1).add(e);
  }
  UsageAccumulator merged(q);
  merged.merge(shard0);
  merged.merge(shard1);
  const auto a = one.result(), b = merged.result();
  // The overall sums, over every model, in one stream and merged from shards.
  std::int64_t cached = 0, reasoning = 0;
  for (const auto& [model, want] : expected) {
    cached += want.cached;
    reasoning += want.reasoning;
  }
  REQUIRE(cached > 0);
  CHECK(a.cached_input_tokens == cached);
  CHECK(a.reasoning_tokens == reasoning);
  CHECK(b.cached_input_tokens == cached);
  CHECK(b.reasoning_tokens == reasoning);
  REQUIRE(a.models.size() == b.models.size());
  for (const auto& [model, want] : expected) {
    INFO(model);
    const double bound = want.calls > q.model_exact_samples ? 1.0 / 64 : 0;
    check_model(b.models.at(model), want, bound);
    CHECK(b.models.at(model).response_time_ms.p95 == a.models.at(model).response_time_ms.p95);
  }
}
