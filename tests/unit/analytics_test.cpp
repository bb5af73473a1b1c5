// The analytics' arithmetic without Redis: nearest-rank percentiles (exact, and the bounded
// histogram with its error bound), the usage totals, and the CLI's argument parsing.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "cli/args.hpp"
#include "redis/analytics/percentile_summary.hpp"
#include "redis/analytics/usage_accumulator.hpp"

using streamll::redis::PercentileSummary;

namespace {

double nearest_rank(std::vector<double> v, int percent) {
  std::sort(v.begin(), v.end());
  const auto rank =
      static_cast<std::size_t>(std::ceil(percent / 100.0 * static_cast<double>(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

}  // namespace

TEST_CASE("Percentiles are nearest-rank samples of the data", "[analytics]") {
  PercentileSummary s(1000);
  for (int i = 100; i >= 1; --i) s.add(i);  // 1..100, in any order
  auto p = s.summary();
  CHECK(p.exact);
  CHECK(p.count == 100);
  CHECK(p.min == 1);
  CHECK(p.max == 100);
  CHECK(p.mean == Approx(50.5));
  CHECK(p.p50 == 50);
  CHECK(p.p95 == 95);
  CHECK(p.p99 == 99);

  PercentileSummary few(1000);
  for (double v : {10.0, 20.0, 30.0}) few.add(v);
  p = few.summary();
  CHECK(p.p50 == 20);  // rank ceil(1.5) = 2
  CHECK(p.p95 == 30);
  CHECK(p.p99 == 30);

  PercentileSummary one(1000);
  one.add(7.5);
  CHECK(one.summary().p50 == 7.5);
  CHECK(PercentileSummary(10).summary().count == 0);

  PercentileSummary odd(1000);
  odd.add(std::nan(""));
  odd.add(INFINITY);
  odd.add(-3);
  CHECK(odd.count() == 1);
  CHECK(odd.summary().max == 0);
}

TEST_CASE("Past the exact limit percentiles stay within 0.05% in bounded memory", "[analytics]") {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(6.5, 0.8);  // ~700 ms typical, long tail
  std::vector<double> all;
  PercentileSummary s(1000);
  for (int i = 0; i < 300000; ++i) {
    const double v = latency(rng);
    all.push_back(v);
    s.add(v);
  }
  const auto p = s.summary();
  CHECK_FALSE(p.exact);
  CHECK(p.count == all.size());
  CHECK(p.min == *std::min_element(all.begin(), all.end()));
  CHECK(p.max == *std::max_element(all.begin(), all.end()));
  for (const auto& [percent, got] :
       {std::pair{50, p.p50}, std::pair{95, p.p95}, std::pair{99, p.p99}}) {
    const double want = nearest_rank(all, percent);
    INFO("p" << percent << " want " << want << " got " << got);
    CHECK(std::fabs(got - want) <= want / 2048.0 + 1e-12);
  }
  // The memory held does not depend on how many samples went in.
  const std::size_t bytes = s.memory_bytes();
  CHECK(bytes <= PercentileSummary::kBuckets * sizeof(std::uint64_t));
  for (int i = 0; i < 700000; ++i) s.add(latency(rng));
  CHECK(s.memory_bytes() == bytes);
}

TEST_CASE("Histogram buckets are a 1/1024 octave wide and their midpoints within 1/2048",
          "[analytics]") {
  for (double v : {0.001, 0.5, 1.0, 3.0, 999.9, 1234.0, 65536.5, 1e9}) {
    const double mid = PercentileSummary::bucket_midpoint(PercentileSummary::bucket_of(v));
    INFO(v);
    CHECK(std::fabs(mid - v) <= v / 2048.0);
  }
  CHECK(PercentileSummary::bucket_of(0) == 0);
  CHECK(PercentileSummary::bucket_of(1e300) == PercentileSummary::kBuckets - 1);
}

TEST_CASE("Merging shards' totals keeps the names one stream would keep", "[analytics]") {
  streamll::UsageQuery q;
  q.max_models = 2;
  auto call = [](const char* model) {
    return streamll::Event::capture(streamll::EventType::llm_call, nullptr, {{"model", model}});
  };
  // One shard saw a, b and c: c went to "(other)". "(" sorts before letters, so an "(other)"
  // merged in as if it were a name would take b's place.
  streamll::redis::UsageAccumulator shard0(q);
  for (const char* m : {"a", "b", "c"}) shard0.add(call(m));
  streamll::redis::UsageAccumulator merged(q);
  merged.merge(shard0);
  CHECK(merged.result().calls_per_model ==
        std::map<std::string, std::uint64_t>{{"a", 1}, {"b", 1}, {"(other)", 1}});

  // Merged into an empty total with one name of room left: "(other)" still takes no room.
  streamll::redis::UsageAccumulator shard1(q);
  shard1.add(call("z"));
  streamll::redis::UsageAccumulator both(q);
  both.merge(shard1);
  both.merge(shard0);
  CHECK(both.result().calls_per_model ==
        std::map<std::string, std::uint64_t>{{"z", 1}, {"a", 1}, {"(other)", 2}});
}

TEST_CASE("Usage totals follow the guide's analyze_llm_usage", "[analytics]") {
  streamll::UsageQuery q;
  q.max_models = 2;
  streamll::redis::UsageAccumulator acc(q);
  auto call = [](const char* model, int tokens, double cost, double rt, bool ok) {
    return streamll::Event::capture(streamll::EventType::llm_call, nullptr,
                                    {{"model", model},
                                     {"tokens_used", tokens},
                                     {"cost_usd", cost},
                                     {"response_time_ms", rt},
                                     {"success", ok}});
  };
  acc.add(call("a", 100, 0.5, 10, true));
  acc.add(call("b", 200, 0.25, 20, false));
  acc.add(call("c", 300, 0.25, 30, true));  // a third model: "(other)"
  acc.add(streamll::Event::capture(streamll::EventType::error, nullptr, {{"error_type", "X"}}));
  acc.add(streamll::Event::capture(streamll::EventType::llm_call, nullptr, {}));  // no data at all
  streamll::redis::StreamEntry garbage;
  garbage.id = "1-0";
  garbage.fields = {{"event", "nope"}};
  acc.add_entry(garbage);
  const auto s = acc.result();
  CHECK(s.entries == 1);
  CHECK(s.events == 5);
  CHECK(s.undecodable.malformed_json == 1);
  CHECK(s.total_calls == 4);
  CHECK(s.failed_calls == 1);
  CHECK(s.total_tokens == 600);
  CHECK(s.total_cost_usd == Approx(1.0));
  CHECK(s.calls_per_model ==
        std::map<std::string, std::uint64_t>{{"a", 1}, {"b", 1}, {"(other)", 2}});
  CHECK(s.errors == 1);
  REQUIRE(s.error_rate);
  CHECK(*s.error_rate == Approx(0.25));
  CHECK(s.response_time_ms.count == 3);
  CHECK(s.response_time_ms.mean == Approx(20));
  CHECK(s.response_time_ms.p50 == 20);
  CHECK(s.ttft_ms.count == 0);
  CHECK(s.events_by_type.at("llm_call") == 4);
}

TEST_CASE("CLI arguments: long options, values, repeats, durations and errors", "[cli]") {
  using streamll::cli::Args;
  using streamll::cli::OptionSpec;
  using streamll::cli::UsageError;
  const std::vector<OptionSpec> specs = {
      {"count", "N", ""}, {"type", "T", "", true}, {"json", "", ""}, {"since", "D", ""}};
  auto parse = [&](std::vector<std::string> words) {
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    return Args(specs, static_cast<int>(argv.size()), argv.data(), 0);
  };
  const Args a =
      parse({"--count", "5", "--type=error", "--type", "llm_call", "--json", "--since", "15m"});
  CHECK(a.unsigned_value("count") == 5u);
  CHECK(a.values("type") == std::vector<std::string>{"error", "llm_call"});
  CHECK(a.flag("json"));
  CHECK(a.duration_ms("since") == 15 * 60 * 1000);
  CHECK(parse({"--help"}).help());
  CHECK_THROWS_AS(parse({"--nope"}), UsageError);
  CHECK_THROWS_AS(parse({"--count"}), UsageError);
  CHECK_THROWS_AS(parse({"--count", "1", "--count", "2"}), UsageError);
  CHECK_THROWS_AS(parse({"--json=yes"}), UsageError);
  CHECK_THROWS_AS(parse({"stray"}), UsageError);
  CHECK_THROWS_AS(parse({"--count", "-1"}).unsigned_value("count"), UsageError);
  CHECK_THROWS_AS(parse({"--since", "soon"}).duration_ms("since"), UsageError);
  CHECK(streamll::cli::parse_duration_ms("24h") == 86400000);
  CHECK(streamll::cli::parse_duration_ms("7d") == 7 * 86400000LL);
  CHECK(streamll::cli::parse_duration_ms("90") == 90000);
  CHECK(streamll::cli::parse_duration_ms("250ms") == 250);
  CHECK_FALSE(streamll::cli::parse_duration_ms("1w"));
}

TEST_CASE("The usage decoder accepts and rejects exactly what parse_event_json does",
          "[analytics]") {
  const std::vector<std::string> corpus = {
      R"({"event_type":"llm_call","data":{"model":"m","tokens_used":5,"cost_usd":0.5,"response_time_ms":12,"ttft_ms":1.5,"success":false}})",
      R"({"event_id":"22cc1c3a-9eef-40ff-a0ce-dd1bd42b5c75","event_type":"error","timestamp":"2024-01-15T16:30:45.123456Z","execution_id":"e","operation":"o","span_id":"s","parent_span_id":null,"module_name":"m","data":{"x":[1,{"y":2}]},"tags":{"k":"v"}})",
      R"({"event_type":"custom.name","data":null,"tags":null,"event_id":null,"timestamp":null})",
      R"({"event_type":"llm_call","data":{"model":{"nested":true},"tokens_used":"many","cost_usd":null,"response_time_ms":true}})",
      R"({"event_type":"llm_call","data":{"tokens_used":1e30,"input_tokens":2.9,"output_tokens":18446744073709551615}})",
      R"({"event_type":"llm_call","data":{"tokens_used":1},"data":{"tokens_used":2}})",
      R"({"event_type":"llm_call","data":{"cost_usd":-0.5}})",
      R"({"event_type":"llm_call","data":{"model":"m","time_per_output_token_ms":15.5,"inter_token_ms_p95":21}})",
      R"({"event_type":"llm_call","data":{"time_per_output_token_ms":"fast","inter_token_ms_p95":null}})",
      R"({"event_type":"llm_call","data":{"time_per_output_token_ms":1,"time_per_output_token_ms":[2]}})",
      R"({"event_type":"llm_call","data":{"inter_token_ms_p95":{"a":1},"inter_token_ms_p95":3.25}})",
      R"({"event_type":"llm_call","data":{"cost_usd":"0.5"},"data":{"cost_usd":[1]}})",
      R"({"event_type":"llm_call","data":{"cost_usd":-1,"cost_usd":2}})",
      R"({"event_type":"llm_call","data":{"model":"m","input_tokens":900,"cached_input_tokens":600,"output_tokens":80,"reasoning_tokens":50}})",
      R"({"event_type":"llm_call","data":{"cached_input_tokens":"some","reasoning_tokens":2.7}})",
      R"({"event_type":"llm_call","data":{"cached_input_tokens":1,"cached_input_tokens":null,"reasoning_tokens":[3]}})",
      R"({"event_type":"x","tags":{"k":1}})",
      R"({"event_type":"x","tags":{"k":{"a":"b"}}})",
      R"({"event_type":"x","tags":{"k":1,"k":"v"}})",
      R"({"event_type":"x","tags":{"k":"v","k":[]}})",
      R"({"event_type":"x","operation":5})",
      R"({"event_type":"x","operation":null})",
      R"({"event_type":"x","span_id":["a"]})",
      R"({"event_type":"x","tags":[]})",
      R"({"event_type":"x","tags":"t"})",
      R"({"event_type":"x","data":[1]})",
      R"({"event_type":"x","data":"d"})",
      R"({"event_type":"x","event_id":"nope"})",
      R"({"event_type":"x","event_id":7})",
      R"({"event_type":"x","timestamp":"yesterday"})",
      R"({"event_type":"x","timestamp":1})",
      R"({"event_type":""})",
      R"({"event_type":"has space"})",
      R"({"event_type":null})",
      R"({"event_type":3})",
      R"({"data":{}})",
      R"([1,2])",
      R"("just a string")",
      "42",
      "null",
      "{",
      R"({"event_type":"x",})",
      "",
      "\xff\xfe",
      std::string(300, '[') + std::string(300, ']'),
      R"({"event_type":"x","data":)" + std::string(260, '[') + std::string(260, ']') + "}"};
  for (const auto& json : corpus) {
    INFO(json.substr(0, 120));
    streamll::Event event;
    std::string error;
    const bool full = streamll::parse_event_json(json, event, &error);
    streamll::redis::UsageFields fields;
    streamll::DecodeFailureKind kind{};
    std::string reason;
    const bool fast = streamll::redis::decode_usage_fields(json, fields, kind, reason);
    REQUIRE(fast == full);
    if (!full) {
      streamll::redis::StreamEntry entry;
      entry.fields = {{"event", json}};
      streamll::DecodeFailure failure;
      CHECK_FALSE(streamll::redis::decode_entry(entry, event, failure));
      CHECK(kind == failure.kind);
      continue;
    }
    // The fields statistics use read the same as through a full Event.
    streamll::UsageQuery q;
    streamll::redis::UsageAccumulator via_event(q), via_fields(q);
    via_event.add(event);
    via_fields.add(fields);
    const auto a = via_event.result(), b = via_fields.result();
    CHECK(a.events_by_type == b.events_by_type);
    CHECK(a.total_tokens == b.total_tokens);
    CHECK(a.input_tokens == b.input_tokens);
    CHECK(a.output_tokens == b.output_tokens);
    CHECK(a.cached_input_tokens == b.cached_input_tokens);
    CHECK(a.reasoning_tokens == b.reasoning_tokens);
    CHECK(a.total_cost_usd == b.total_cost_usd);
    CHECK(a.invalid_cost == b.invalid_cost);
    CHECK(a.failed_calls == b.failed_calls);
    CHECK(a.calls_per_model == b.calls_per_model);
    CHECK(a.response_time_ms.count == b.response_time_ms.count);
    CHECK(a.response_time_ms.p50 == b.response_time_ms.p50);
    CHECK(a.ttft_ms.count == b.ttft_ms.count);
    REQUIRE(a.models.size() == b.models.size());
    for (const auto& [model, usage] : a.models) {
      INFO(model);
      REQUIRE(b.models.count(model) == 1);
      const auto& other = b.models.at(model);
      CHECK(usage.calls == other.calls);
      CHECK(usage.cached_input_tokens == other.cached_input_tokens);
      CHECK(usage.reasoning_tokens == other.reasoning_tokens);
      CHECK(usage.time_per_output_token_ms.count == other.time_per_output_token_ms.count);
      CHECK(usage.time_per_output_token_ms.p50 == other.time_per_output_token_ms.p50);
      CHECK(usage.inter_token_ms_p95.count == other.inter_token_ms_p95.count);
      CHECK(usage.inter_token_ms_p95.p50 == other.inter_token_ms_p95.p50);
    }
  }
}
