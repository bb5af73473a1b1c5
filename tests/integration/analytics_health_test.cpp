// analyze_usage(), check_health() and list_groups() against real redis-server processes, over
// datasets whose totals and percentiles are known in advance.

#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <random>

#include <streamll/redis/analytics.hpp>

#include "consumer_test_support.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using streamll::HealthAlert;
using streamll::consumerit::add_event;
using streamll::consumerit::error_event;
using streamll::consumerit::llm_call;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;

namespace {

streamll::RedisConnectionOptions connection(const RedisServer& server) {
  streamll::RedisConnectionOptions o;
  o.url = server.url();
  return o;
}

bool has_alert(const streamll::HealthReport& r, HealthAlert::Kind kind) {
  return std::any_of(r.alerts.begin(), r.alerts.end(),
                     [kind](const HealthAlert& a) { return a.kind == kind; });
}

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

TEST_CASE("Usage statistics over a generated dataset give exactly its totals and percentiles",
          "[analytics_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  // 2500 calls with response times 1..2500 ms in shuffled order, ttft a tenth of that.
  std::vector<int> order(2500);
  std::iota(order.begin(), order.end(), 1);
  std::shuffle(order.begin(), order.end(), std::mt19937(7));
  const char* models[] = {"gpt-4o-mini", "gemini/gemini-2.0-flash", "claude-3-5-haiku"};
  std::map<std::string, std::uint64_t> per_model;
  for (int rt : order) {
    const char* model = models[rt % 3];
    ++per_model[model];
    add_event(redis, llm_call(model, rt, 0.001, rt, rt / 10.0));
  }
  for (int i = 0; i < 100; ++i) add_event(redis, error_event());
  redis.text({"XADD", "ml_events", "*", "foo", "bar"});
  redis.text({"XADD", "ml_events", "*", "event", "{broken"});
  redis.text({"XADD", "ml_events", "*", "event", "{\"event_type\":[1]}"});

  streamll::UsageQuery query;
  query.page_size = 100;
  const auto s = streamll::analyze_usage(connection(server), "ml_events", query);
  CHECK(s.entries == 2603);
  CHECK(s.pages == 27);  // 26 full pages and a short one: paging went past the first page
  CHECK(s.events == 2600);
  CHECK(s.undecodable.missing_event_field == 1);
  CHECK(s.undecodable.malformed_json == 1);
  CHECK(s.undecodable.invalid_event == 1);
  CHECK(s.total_calls == 2500);
  CHECK(s.total_tokens == 2500LL * 2501 / 2);
  CHECK(s.total_cost_usd == Approx(2.5));
  CHECK(s.calls_per_model == per_model);
  CHECK(s.errors == 100);
  REQUIRE(s.error_rate);
  CHECK(*s.error_rate == Approx(0.04));
  CHECK(s.response_time_ms.exact);
  CHECK(s.response_time_ms.count == 2500);
  CHECK(s.response_time_ms.mean == Approx(1250.5));
  CHECK(s.response_time_ms.p50 == 1250);  // nearest rank: ceil(0.50 * 2500)
  CHECK(s.response_time_ms.p95 == 2375);
  CHECK(s.response_time_ms.p99 == 2475);
  CHECK(s.response_time_ms.min == 1);
  CHECK(s.response_time_ms.max == 2500);
  CHECK(s.ttft_ms.p50 == Approx(125.0));
  CHECK(s.ttft_ms.p99 == Approx(247.5));

  // With room for only 100 exact samples the histogram takes over, within its 0.05% bound.
  query.exact_samples = 100;
  const auto h = streamll::analyze_usage(connection(server), "ml_events", query);
  CHECK_FALSE(h.response_time_ms.exact);
  CHECK(h.response_time_ms.count == 2500);
  CHECK(std::fabs(h.response_time_ms.p95 - 2375) <= 2375 / 2048.0);
  CHECK(std::fabs(h.response_time_ms.p99 - 2475) <= 2475 / 2048.0);
  CHECK(h.total_tokens == s.total_tokens);

  // A range by milliseconds: the entries of the first half only.
  const auto entries = redis.xrange("ml_events");
  streamll::UsageQuery range;
  range.from_ms = entries.front().id_ms();
  range.to_ms = entries[1249].id_ms();
  const auto part = streamll::analyze_usage(connection(server), "ml_events", range);
  std::uint64_t expected = 0;
  for (const auto& e : entries)
    expected += e.id_ms() >= *range.from_ms && e.id_ms() <= *range.to_ms;
  CHECK(part.entries == expected);

  CHECK_THROWS_AS(streamll::analyze_usage(connection(server), "no_such_stream"),
                  streamll::StreamNotFoundError);
  redis.text({"SET", "plain_key", "x"});
  CHECK_THROWS_AS(streamll::analyze_usage(connection(server), "plain_key"), streamll::ReplyError);
}

TEST_CASE("Health alerts trigger and clear: recent events, error rate, lag", "[analytics_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  const auto options = connection(server);

  // A 10-minute window: the tests' "recent" entries stay recent even on a machine whose clock
  // jumps, and the "old" one is an hour old.
  streamll::HealthThresholds t;
  t.window = std::chrono::minutes(10);
  auto report = streamll::check_health(options, "ml_events", t);
  CHECK_FALSE(report.stream_exists);
  CHECK(has_alert(report, HealthAlert::Kind::stream_missing));

  // Only an old entry (ids are milliseconds: this one is an hour old).
  add_event(redis, llm_call("m", 1, 0, 1, 1), std::to_string(now_ms() - 3600000) + "-0");
  report = streamll::check_health(options, "ml_events", t);
  CHECK(report.stream_exists);
  CHECK(report.stream_length == 1);
  CHECK(report.events_in_window == 0);
  CHECK(has_alert(report, HealthAlert::Kind::no_recent_events));
  CHECK(report.alerts.size() == 1);

  // The error rate is error events per LLM call, as in analyze_usage().
  for (int i = 0; i < 20; ++i) add_event(redis, llm_call("m", 1, 0, 1, 1));
  add_event(redis, error_event());
  report = streamll::check_health(options, "ml_events", t);
  CHECK(report.events_in_window == 21);
  CHECK(report.llm_calls_in_window == 20);
  REQUIRE(report.error_rate);
  CHECK(*report.error_rate == Approx(0.05));  // exactly at the threshold: not above it
  CHECK(report.healthy());

  add_event(redis, error_event());
  report = streamll::check_health(options, "ml_events", t);
  CHECK(has_alert(report, HealthAlert::Kind::high_error_rate));
  for (int i = 0; i < 20; ++i) add_event(redis, llm_call("m", 1, 0, 1, 1));
  report = streamll::check_health(options, "ml_events", t);
  REQUIRE(report.error_rate);
  CHECK(*report.error_rate == Approx(2.0 / 40.0));
  CHECK(report.healthy());

  // A group that has read nothing of 1043 entries lags by 1043 > 1000.
  redis.text({"XGROUP", "CREATE", "ml_events", "dashboards", "0"});
  for (int i = 0; i < 1000; ++i) add_event(redis, llm_call("m", 1, 0, 1, 1));
  report = streamll::check_health(options, "ml_events", t);
  CHECK(report.consumer_groups == 1);
  CHECK(report.total_lag == 1043);
  CHECK(report.lag_exact);
  CHECK(has_alert(report, HealthAlert::Kind::high_lag));
  streamll::GroupConsumer worker(
      streamll::consumerit::group_options(server.url(), "dashboards", "w1"));
  for (int i = 0; i < 100 && worker.poll(0ms).entries > 0; ++i) {
  }
  report = streamll::check_health(options, "ml_events", t);
  CHECK(report.total_lag == 0);
  CHECK(report.pending == 0);
  CHECK(report.healthy());

  // Thresholds are options.
  streamll::HealthThresholds strict = t;
  strict.min_recent_events = 5000;
  strict.max_error_rate = 0.001;
  report = streamll::check_health(options, "ml_events", strict);
  CHECK(has_alert(report, HealthAlert::Kind::no_recent_events));
  CHECK(has_alert(report, HealthAlert::Kind::high_error_rate));
}

TEST_CASE("A group whose lag Redis cannot tell gets it counted, capped at the threshold",
          "[analytics_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 30; ++i) ids.push_back(add_event(redis, llm_call("m", 1, 0, 1, 1)));
  // Created at an arbitrary id, the group has no entries-read: XINFO GROUPS says lag nil.
  redis.text({"XGROUP", "CREATE", "ml_events", "late", ids[9]});
  const auto groups = streamll::list_groups(connection(server), "ml_events");
  REQUIRE(groups.size() == 1);
  CHECK_FALSE(groups[0].lag_exact);
  CHECK_FALSE(groups[0].entries_read);

  streamll::HealthThresholds t;
  auto report = streamll::check_health(connection(server), "ml_events", t);
  CHECK_FALSE(report.lag_exact);
  CHECK(report.total_lag == 20);
  t.max_total_lag = 5;
  report = streamll::check_health(connection(server), "ml_events", t);
  CHECK(report.total_lag == 6);  // counted up to threshold + 1, enough to alert
  CHECK(has_alert(report, HealthAlert::Kind::high_lag));
}

TEST_CASE("list_groups shows groups with their consumers and pending entries", "[analytics_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  for (int i = 0; i < 5; ++i) add_event(redis, llm_call("m", 1, 0, 1, 1));
  redis.text({"XGROUP", "CREATE", "ml_events", "g1", "0"});
  redis.command({"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "ml_events", ">"});
  const auto groups = streamll::list_groups(connection(server), "ml_events");
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].name == "g1");
  CHECK(groups[0].pending == 2);
  CHECK(groups[0].lag == 3);
  CHECK(groups[0].entries_read == 2u);
  REQUIRE(groups[0].consumer_list.size() == 1);
  CHECK(groups[0].consumer_list[0].name == "alice");
  CHECK(groups[0].consumer_list[0].pending == 2);
  CHECK_THROWS_AS(streamll::list_groups(connection(server), "missing"),
                  streamll::StreamNotFoundError);
}
