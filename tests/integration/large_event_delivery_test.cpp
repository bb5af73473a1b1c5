// The acceptance program of the bug fixed in 4600163 (events whose JSON is 1000 bytes or more
// got a corrupt RESP bulk length, so Redis dropped the connection and the sink retried the
// batch forever): four threads emit 16,000 events through the public API at 2,000 events/s,
// every tenth span carrying an 800-character attribute, and every event must arrive exactly
// once with no error on the way.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;

TEST_CASE("16,000 events from four threads at 2,000/s, some over 1000 bytes, arrive exactly once",
          "[redis_sink][acceptance]") {
  constexpr int kThreads = 4;
  constexpr int kSpansPerThread = 2000;  // a span is two events: start and end
  constexpr int kEventsTotal = kThreads * kSpansPerThread * 2;
  static_assert(kEventsTotal == 16000);
  constexpr auto kSpanPeriod = 4ms;  // per thread: 250 spans/s, 500 events/s; 2,000/s overall
  constexpr int kLargeEvery = 10;    // spans whose start event carries the long attribute
  const std::string document(800, 'd');

  RedisServer server;
  auto options = streamll::sinkit::fast_options(server.url());
  options.connection.socket_timeout =
      5s;  // a sanitizer build must not time out a healthy round trip
  auto sink = std::make_shared<streamll::RedisSink>(options);
  streamll::Instrumentor instrumentor({{sink}, {{"environment", "acceptance"}}, "acceptance"});

  // Paced on a fixed steady-clock schedule (offset per thread), not synchronized by sleeping.
  const auto start = std::chrono::steady_clock::now() + 20ms;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 0; s < kSpansPerThread; ++s) {
        std::this_thread::sleep_until(start + s * kSpanPeriod + t * (kSpanPeriod / kThreads));
        streamll::SpanOptions span_options;
        span_options.data.set("thread", t);
        span_options.data.set("span", s);
        if (s % kLargeEvery == 0) span_options.data.set("document", document);
        streamll::Span span(instrumentor, "acceptance_step", std::move(span_options));
        span.set("result", "ok");
      }
    });
  }
  for (auto& thread : threads) thread.join();

  REQUIRE(instrumentor.flush(15s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  REQUIRE(redis.integer({"XLEN", "ml_events"}) == kEventsTotal);

  std::set<std::string> ids;
  int large_events = 0;
  for (const auto& entry : redis.xrange("ml_events")) {
    const std::string* event = entry.field("event");
    REQUIRE(event != nullptr);
    const auto json = nlohmann::json::parse(*event);
    ids.insert(json.at("event_id").get<std::string>());
    const auto& data = json.at("data");
    if (data.contains("document")) {
      REQUIRE(data.at("document") == document);
      REQUIRE(event->size() >= 1000);  // the lengths the bug broke
      ++large_events;
    }
  }
  CHECK(ids.size() == static_cast<std::size_t>(kEventsTotal));  // no duplicate event_id
  CHECK(large_events == kThreads * kSpansPerThread / kLargeEvery);

  const auto stats = sink->stats();
  CHECK(stats.enqueued == static_cast<std::uint64_t>(kEventsTotal));
  CHECK(stats.delivered == static_cast<std::uint64_t>(kEventsTotal));
  CHECK(stats.failed == 0);
  CHECK(stats.dropped() == 0);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.retried_batches == 0);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
  CHECK(sink->circuit_breaker().total_failures == 0);
}
