// The analytics of a sharded deployment against one stream model per shard: totals add up,
// percentiles are those of the union of the shards' samples (the summaries merge exactly), a
// shard that cannot be read is reported while the others are, health sums lengths and lags and
// raises an alert per unavailable shard, groups merge by name.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "fake_stream_redis.hpp"
#include "manual_clock.hpp"
#include "nearest_rank.hpp"
#include "redis/analytics/analytics_internal.hpp"
#include "redis/analytics/percentile_summary.hpp"
#include "streamll/redis/analytics.hpp"

using namespace std::chrono_literals;
using streamll::HealthAlert;
using streamll::ShardedStream;
using streamll::testing::FakeStreamRedis;
using streamll::testing::FakeStreamTransport;
using streamll::testing::ManualClock;

namespace {

std::string llm_call(int n, const std::string& model, double response_ms, long long tokens) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return std::string("{\"event_id\":\"") + id +
         "\",\"event_type\":\"llm_call\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"data\":{"
         "\"model\":\"" +
         model + "\",\"tokens_used\":" + std::to_string(tokens) +
         ",\"cost_usd\":0.25,\"response_time_ms\":" + std::to_string(response_ms) + "}}";
}

std::string error_event(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-9000-%012d", n);
  return std::string("{\"event_id\":\"") + id +
         "\",\"event_type\":\"error\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"data\":{}}";
}

using streamll::testing::nearest_rank;

struct Shards {
  explicit Shards(std::size_t n = 3) {
    for (std::size_t i = 0; i < n; ++i) {
      redis.push_back(
          std::make_shared<FakeStreamRedis>(clock, "ml_events_shard_" + std::to_string(i)));
      redis.back()->start_ids_at(1'700'000'000'000 + 1000 * i);
    }
    source.stream = "ml_events";
    source.shard_count = n;
  }
  streamll::redis::ShardTransportMaker maker() {
    return [this](std::size_t shard) {
      return streamll::redis::TransportMaker(
          [this, shard](const streamll::redis::ConnectionTarget&) {
            return std::make_unique<FakeStreamTransport>(redis.at(shard));
          });
    };
  }
  ManualClock clock;
  std::vector<std::shared_ptr<FakeStreamRedis>> redis;
  ShardedStream source;
};

}  // namespace

TEST_CASE("Sharded usage: totals add up and percentiles are over the union of the shards",
          "[analytics][sharded]") {
  Shards s;
  std::vector<double> all;
  int n = 0;
  // Different distributions per shard, so per-shard percentiles would not give the union's.
  for (std::size_t shard = 0; shard < 3; ++shard) {
    for (int i = 0; i < 40 + 30 * static_cast<int>(shard); ++i) {
      const double ms = 100.0 * static_cast<double>(shard + 1) + i;
      all.push_back(ms);
      s.redis[shard]->add_event(llm_call(n++, shard == 1 ? "model-b" : "model-a", ms, 10));
    }
  }
  s.redis[2]->add_event(error_event(1));
  s.redis[0]->add({{"foo", "bar"}});
  streamll::UsageQuery q;
  q.from_ms = 0;
  q.page_size = 16;
  const auto u = streamll::redis::analyze_usage(s.source, q, s.maker());
  CHECK(u.total_calls == all.size());
  CHECK(u.total_tokens == static_cast<long long>(10 * all.size()));
  CHECK(u.total_cost_usd == Approx(0.25 * static_cast<double>(all.size())));
  CHECK(u.calls_per_model.at("model-a") == 40 + 100);
  CHECK(u.calls_per_model.at("model-b") == 70);
  CHECK(u.errors == 1);
  CHECK(u.undecodable.missing_event_field == 1);
  CHECK(u.entries == all.size() + 2);
  REQUIRE(u.response_time_ms.count == all.size());
  CHECK(u.response_time_ms.exact);
  CHECK(u.response_time_ms.p50 == nearest_rank(all, 50));
  CHECK(u.response_time_ms.p95 == nearest_rank(all, 95));
  CHECK(u.response_time_ms.p99 == nearest_rank(all, 99));
  CHECK(u.response_time_ms.min == 100.0);
  CHECK(u.response_time_ms.max == 300.0 + 99);
  REQUIRE(u.shards.size() == 3);
  CHECK(u.shards[0].entries == 41);
  CHECK(u.shards[1].entries == 70);
  CHECK(u.shards[2].entries == 101);
  CHECK(u.shards[2].stream == "ml_events_shard_2");
  CHECK(u.complete());
  CHECK(u.pages >= 3);
}

TEST_CASE(
    "Sharded usage: an unreadable shard is reported, the others counted, none readable throws",
    "[analytics][sharded]") {
  Shards s;
  for (std::size_t shard = 0; shard < 3; ++shard)
    s.redis[shard]->add_event(llm_call(static_cast<int>(shard), "m", 5, 1));
  s.redis[1]->set_down(true);
  streamll::UsageQuery q;
  q.from_ms = 0;
  const auto u = streamll::redis::analyze_usage(s.source, q, s.maker());
  CHECK(u.total_calls == 2);
  CHECK_FALSE(u.complete());
  CHECK_FALSE(u.shards[1].ok);
  CHECK_THAT(u.shards[1].error, Catch::Contains("Connection refused"));
  CHECK(u.shards[0].ok);

  for (auto& r : s.redis) r->set_down(true);
  CHECK_THROWS_AS(streamll::redis::analyze_usage(s.source, q, s.maker()), streamll::IoError);
}

TEST_CASE(
    "Sharded usage: a shard without the stream is empty, no stream anywhere is StreamNotFoundError",
    "[analytics][sharded]") {
  Shards s;
  streamll::UsageQuery q;
  q.from_ms = 0;
  CHECK_THROWS_AS(streamll::redis::analyze_usage(s.source, q, s.maker()),
                  streamll::StreamNotFoundError);
  s.redis[2]->add_event(llm_call(1, "m", 5, 1));
  const auto u = streamll::redis::analyze_usage(s.source, q, s.maker());
  CHECK(u.total_calls == 1);
  CHECK_FALSE(u.shards[0].stream_exists);
  CHECK(u.shards[2].stream_exists);
  CHECK(u.complete());

  // The only shard with the stream is down and the others have none: that is an outage, not
  // a stream that does not exist (the CLI's exit 2, not 4).
  s.redis[2]->set_down(true);
  CHECK_THROWS_AS(streamll::redis::analyze_usage(s.source, q, s.maker()), streamll::IoError);
  CHECK_THROWS_AS(streamll::redis::list_groups(s.source, false, s.maker()), streamll::IoError);
}

TEST_CASE("Percentile summaries merge as if every sample had gone into one",
          "[analytics][sharded]") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> latency(6.0, 0.9);
  for (const std::size_t limit :
       {std::size_t{5000}, std::size_t{100}}) {  // exact, then the histogram
    INFO("exact limit " << limit);
    streamll::redis::PercentileSummary one(limit);
    streamll::redis::PercentileSummary a(limit);
    streamll::redis::PercentileSummary b(limit);
    for (int i = 0; i < 3000; ++i) {
      const double v = latency(rng);
      one.add(v);
      (i % 3 == 0 ? a : b).add(v);
    }
    a.merge(b);
    const auto merged = a.summary();
    const auto whole = one.summary();
    CHECK(merged.count == whole.count);
    CHECK(merged.exact == whole.exact);
    CHECK(merged.min == whole.min);
    CHECK(merged.max == whole.max);
    CHECK(merged.mean == Approx(whole.mean));
    CHECK(merged.p50 == whole.p50);
    CHECK(merged.p95 == whole.p95);
    CHECK(merged.p99 == whole.p99);
  }
}

TEST_CASE("Sharded health: lengths and lags summed, groups merged, an alert per unavailable shard",
          "[analytics][sharded]") {
  using streamll::ShardHealth;
  streamll::HealthThresholds t;
  t.max_total_lag = 10;
  std::vector<ShardHealth> status(3);
  std::vector<streamll::HealthReport> measured(3);
  for (std::size_t i = 0; i < 3; ++i) {
    status[i].shard = i;
    status[i].stream = "ml_events_shard_" + std::to_string(i);
    status[i].server = "10.0.0." + std::to_string(i) + ":6379";
    status[i].stream_exists = true;
    auto& r = measured[i];
    r.stream_exists = true;
    r.stream_length = 100 * (i + 1);
    r.events_in_window = 10;
    r.llm_calls_in_window = 10;
    r.errors_in_window = i;
    r.server_time_ms = 1000 + i;
    streamll::GroupInfo g;
    g.name = "analytics";
    g.consumers = 1;
    g.pending = i;
    g.lag = 4;
    g.entries_read = 50;
    g.last_delivered_id = std::to_string(i) + "-0";
    g.consumer_list = {{"worker", i, static_cast<std::int64_t>(100 - i)}};
    r.groups.push_back(g);
    if (i == 2) {
      g.name = "alerts";
      g.lag = 1;
      r.groups.push_back(g);
    }
    for (const auto& group : r.groups) {
      r.total_lag += group.lag;
      r.pending += group.pending;
    }
  }
  status[1].ok = false;
  status[1].error = "cannot connect to 10.0.0.1:6379: Connection refused";
  const auto h = streamll::redis::merge_health("ml_events", t, status, measured);
  CHECK(h.stream_exists);
  CHECK(h.stream_length == 100 + 300);
  CHECK(h.events_in_window == 20);
  CHECK(h.errors_in_window == 2);
  CHECK(h.llm_calls_in_window == 20);
  REQUIRE(h.error_rate);
  CHECK(*h.error_rate == Approx(0.1));
  CHECK(h.total_lag == 4 + 4 + 1);
  CHECK(h.pending == 0 + 2 + 2);
  CHECK(h.server_time_ms == 1002);
  REQUIRE(h.groups.size() == 2);
  CHECK(h.consumer_groups == 2);
  const auto& analytics = h.groups[1];
  CHECK(analytics.name == "analytics");
  CHECK(analytics.lag == 8);
  CHECK(analytics.pending == 2);
  CHECK(analytics.entries_read == 100u);
  CHECK(analytics.consumers == 1);  // one worker, a member on each shard
  REQUIRE(analytics.consumer_list.size() == 1);
  CHECK(analytics.consumer_list[0].pending == 2);
  CHECK(analytics.consumer_list[0].idle_ms == 98);
  REQUIRE(analytics.shards.size() == 2);
  CHECK(analytics.shards[1].shard == 2);
  CHECK(analytics.shards[1].last_delivered_id == "2-0");
  CHECK(analytics.last_delivered_id.empty());
  REQUIRE(h.alerts.size() == 2);
  CHECK(h.alerts[0].kind == HealthAlert::Kind::shard_unavailable);
  CHECK_THAT(h.alerts[0].message,
             Catch::Contains("Shard 1") && Catch::Contains("Connection refused"));
  CHECK(h.alerts[1].kind == HealthAlert::Kind::high_error_rate);
  CHECK(h.shards.size() == 3);

  // No shard has the stream: one stream_missing alert naming the shards.
  for (auto& r : measured) r.stream_exists = false;
  status[1].ok = true;
  const auto missing = streamll::redis::merge_health("ml_events", t, status, measured);
  REQUIRE(missing.alerts.size() == 1);
  CHECK(missing.alerts[0].kind == HealthAlert::Kind::stream_missing);
  CHECK_THAT(missing.alerts[0].message, Catch::Contains("ml_events_shard_0 .. ml_events_shard_2"));
}

TEST_CASE("Health: errors in a window without LLM calls give no rate and no error-rate alert",
          "[analytics][health]") {
  streamll::HealthThresholds t;
  std::vector<streamll::ShardHealth> status(1);
  status[0].stream = "ml_events";
  status[0].stream_exists = true;
  std::vector<streamll::HealthReport> measured(1);
  measured[0].stream_exists = true;
  measured[0].stream_length = 5;
  measured[0].events_in_window = 5;
  measured[0].errors_in_window = 1;  // a span unwound by an exception, no LLM call at all
  const auto h = streamll::redis::merge_health("ml_events", t, status, measured);
  CHECK_FALSE(h.error_rate);
  CHECK(h.errors_in_window == 1);
  CHECK(h.alerts.empty());
  CHECK(h.healthy());
}

TEST_CASE("Sharded health and groups against the stream models", "[analytics][sharded]") {
  Shards s;
  for (std::size_t shard = 0; shard < 3; ++shard) {
    // Response times 1..15 ms over the shards: shard s holds 5s+1 .. 5s+5.
    for (int i = 0; i < 5; ++i) {
      s.redis[shard]->add_event(
          llm_call(i, "m", static_cast<double>(5 * static_cast<int>(shard) + i + 1), 1));
    }
  }
  streamll::HealthThresholds t;
  t.max_total_lag = 12;
  // No group yet: healthy (entries in the window, no lag).
  auto h = streamll::redis::check_health(s.source, t, s.maker());
  CHECK(h.healthy());
  CHECK(h.stream_length == 15);
  CHECK(h.events_in_window == 15);
  // The model's percentiles are over the union of the shards' calls: p95 of 1..15 is the 15th.
  REQUIRE(h.models.count("m") == 1);
  CHECK(h.models.at("m").calls == 15);
  CHECK(h.models.at("m").response_time_ms.p50 == 8.0);
  CHECK(h.models.at("m").response_time_ms.p95 == 15.0);

  // A group on every shard, nothing read: lag 15 over the threshold, though each shard's is 5.
  for (auto& r : s.redis) {
    FakeStreamTransport transport(r);
    transport.connect();
    transport.command({"XGROUP", "CREATE", r->key(), "analytics", "0", "MKSTREAM"});
  }
  h = streamll::redis::check_health(s.source, t, s.maker());
  CHECK(h.total_lag == 15);
  REQUIRE(h.alerts.size() == 1);
  CHECK(h.alerts[0].kind == HealthAlert::Kind::high_lag);

  const auto groups = streamll::redis::list_groups(s.source, true, s.maker());
  REQUIRE(groups.groups.size() == 1);
  CHECK(groups.groups[0].lag == 15);
  CHECK(groups.groups[0].shards.size() == 3);
  CHECK(groups.complete());
  CHECK(groups.stream_length == 15);

  s.redis[0]->set_down(true);
  h = streamll::redis::check_health(s.source, t, s.maker());
  CHECK(h.stream_length == 10);
  CHECK(h.models.at("m").calls == 10);  // the shards read: 6..15
  CHECK(h.models.at("m").response_time_ms.p50 == 10.0);
  CHECK(h.alerts.front().kind == HealthAlert::Kind::shard_unavailable);
  CHECK_FALSE(h.shards[0].ok);
  const auto partial = streamll::redis::list_groups(s.source, true, s.maker());
  CHECK_FALSE(partial.complete());
  CHECK(partial.groups[0].lag == 10);
  CHECK(partial.stream_length == 10);  // the shards read
  for (auto& r : s.redis) r->set_down(true);
  CHECK_THROWS_AS(streamll::redis::check_health(s.source, t, s.maker()), streamll::IoError);
}

TEST_CASE("A shard's status never shows the password of its URL", "[analytics][sharded]") {
  Shards s(2);
  s.source.shard_count = 0;
  s.source.shard_urls = {"redis://:s3cret-pw@127.0.0.1:7101", "redis://:s3cret-pw@127.0.0.1:7102"};
  s.redis[0]->add_event(llm_call(1, "m", 5, 1));
  s.redis[1]->set_down(true);
  streamll::UsageQuery q;
  q.from_ms = 0;
  const auto u = streamll::redis::analyze_usage(s.source, q, s.maker());
  REQUIRE(u.shards.size() == 2);
  CHECK_FALSE(u.shards[1].ok);
  for (const auto& shard : u.shards) {
    CHECK(shard.server.find("s3cret") == std::string::npos);
    CHECK(shard.error.find("s3cret") == std::string::npos);
  }
  CHECK(u.shards[1].server == "redis://:***@127.0.0.1:7102");
}
