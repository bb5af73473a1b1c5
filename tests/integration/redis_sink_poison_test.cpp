// RedisSink against a redis-server that refuses one event at the protocol level: its
// proto-max-bulk-len (1 MiB, the lowest Redis accepts) is smaller than that event, so Redis
// answers "Protocol error: invalid bulk length" and closes the connection. Only that event may
// be lost: every other one is delivered, none is written more than twice, and the breaker,
// which is for outages, stays closed.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>

#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::Event;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
namespace sinkit = streamll::sinkit;

namespace {

constexpr std::size_t kOverLimit = (1u << 20) + 4096;  // the event's JSON is longer than this

Event numbered(int index, bool poison) {
  Event event = sinkit::numbered_event(0, index);
  if (poison) event.data.append_new("document", std::string(kOverLimit, 'p'));
  return event;
}

// The sink's own limit (max_event_bytes, 1 MiB by default) would cut the event to fit first.
streamll::RedisSinkOptions unlimited(const std::string& url) {
  auto options = sinkit::fast_options(url);
  options.max_event_bytes = 0;
  return options;
}

RedisServerOptions refusing_large_bulks() {
  RedisServerOptions o;
  o.extra_config = {"proto-max-bulk-len 1mb"};
  return o;
}

// How many times each numbered event is in the stream (duplicates included).
std::map<int, int> copies_by_index(DirectRedis& redis) {
  std::map<int, int> copies;
  for (const Event& e : sinkit::events_in(redis.xrange("ml_events"))) {
    ++copies[static_cast<int>(e.data["index"].as_int(-1))];
  }
  return copies;
}

void check_only_poison_lost(RedisSink& sink, DirectRedis& redis, int events,
                            const std::vector<int>& poison) {
  const auto stats = sink.stats();
  INFO("last_error: " << stats.last_error);
  CHECK(stats.failed == poison.size());
  CHECK(stats.failed_protocol == poison.size());
  CHECK(stats.delivered == events - poison.size());
  CHECK(stats.buffered == 0);
  CHECK(stats.enqueued == stats.delivered + stats.failed);
  // Redis's answer when it was read; when the write met the close first, the sink's own words.
  CHECK((stats.last_error.find("Protocol error") != std::string::npos ||
         stats.last_error.find("made Redis close the connection") != std::string::npos));
  CHECK(sink.circuit_breaker().state == BreakerState::closed);
  CHECK(sink.circuit_breaker().total_failures == 0);

  const auto copies = copies_by_index(redis);
  std::vector<int> expected;
  for (int i = 0; i < events; ++i) {
    if (std::find(poison.begin(), poison.end(), i) == poison.end()) expected.push_back(i);
  }
  std::vector<int> present;
  for (const auto& [index, count] : copies) {
    present.push_back(index);
    INFO("event " << index << " is in the stream " << count << " times");
    CHECK(count <= 2);
  }
  CHECK(present == expected);
}

}  // namespace

TEST_CASE("RedisSink fails only the event Redis refuses at the protocol level, inside a batch",
          "[redis_sink_it][poison]") {
  RedisServer server(refusing_large_bulks());
  auto options = unlimited(server.url());
  options.max_batch_size = 50;
  RedisSink sink(options);
  DirectRedis redis = DirectRedis::tcp(server.port());

  // Handed over in one go, so the poison sits inside a pipelined batch with others around it.
  const std::vector<int> poison = {37, 140};
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) {
    sink.handle(numbered(i, std::find(poison.begin(), poison.end(), i) != poison.end()));
  }
  CHECK_FALSE(sink.flush(20s));  // resolved, with a loss to report
  check_only_poison_lost(sink, redis, kEvents, poison);

  // Delivery goes on as usual afterwards.
  for (int i = kEvents; i < kEvents + 20; ++i) sink.handle(numbered(i, false));
  CHECK(sink.flush(10s));
  CHECK(copies_by_index(redis).size() == kEvents + 20 - poison.size());
}

TEST_CASE("RedisSink fails only the event Redis refuses at the protocol level, sent alone",
          "[redis_sink_it][poison]") {
  RedisServer server(refusing_large_bulks());
  RedisSink sink(unlimited(server.url()));
  DirectRedis redis = DirectRedis::tcp(server.port());

  sink.handle(numbered(0, false));
  REQUIRE(sink.flush(10s));
  sink.handle(numbered(1, true));
  CHECK_FALSE(sink.flush(10s));  // a batch of one: Redis's answer names it
  for (int i = 2; i < 30; ++i) sink.handle(numbered(i, false));
  CHECK(sink.flush(10s));
  check_only_poison_lost(sink, redis, 30, {1});
}

TEST_CASE("RedisSink's default max_event_bytes cuts the event Redis would refuse, so it arrives",
          "[redis_sink_it][poison]") {
  RedisServer server(refusing_large_bulks());
  RedisSink sink(sinkit::fast_options(server.url()));
  DirectRedis redis = DirectRedis::tcp(server.port());

  for (int i = 0; i < 10; ++i) sink.handle(numbered(i, i == 4));
  CHECK(sink.flush(10s));
  const auto stats = sink.stats();
  CHECK(stats.delivered == 10);
  CHECK(stats.truncated == 1);
  CHECK(stats.failed == 0);
  CHECK(stats.transport_errors == 0);
  const auto entries = redis.xrange("ml_events");
  REQUIRE(entries.size() == 10);
  const auto events = sinkit::events_in(entries);
  const std::string& document = events[4].data["document"].as_string();
  CHECK(document.size() < kOverLimit);
  CHECK(document.find("[truncated ") != std::string::npos);
}
