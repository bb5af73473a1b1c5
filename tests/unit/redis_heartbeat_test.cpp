// Producer heartbeats (RedisSinkOptions::heartbeat_interval, docs/monitoring.md) on a fake
// server and a manual clock: what one writes, when the next is due, off at 0, failures counted
// without touching event delivery or the breaker, and the expiry and pruning scores.

#include <unistd.h>
#include <catch2/catch.hpp>
#include <streamll/redis/heartbeats.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <map>
#include <string>

#include "eventually.hpp"
#include "fake_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "redis/routing/cluster_slots.hpp"

using namespace std::chrono_literals;
using streamll::detail::Injected;
using streamll::testing::Command;
using streamll::testing::eventually;
using streamll::testing::FakeRedis;
using streamll::testing::ManualClock;

namespace {

streamll::RedisSinkOptions options() {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis://127.0.0.1:6379";
  o.stream_key = "ml_events";
  o.consumer_name = "checkout-service";
  o.recovery_timeout = 30s;
  o.failure_threshold = 1;
  // The flusher looks at the (manual) clock at least this often while idle.
  o.flush_interval = 5ms;
  o.shutdown_timeout = 500ms;
  return o;
}

streamll::Event event(int i) {
  static const auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_heartbeat", "span1", "", "answer", "", {}});
  streamll::Fields data;
  data.set("index", i);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

std::vector<Command> named(const FakeRedis& server, const std::string& name) {
  std::vector<Command> out;
  for (auto& c : server.commands()) {
    if (!c.empty() && c[0] == name) out.push_back(c);
  }
  return out;
}

std::map<std::string, std::string> fields_of(const Command& hset) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 2; i + 1 < hset.size(); i += 2) out[hset[i]] = hset[i + 1];
  return out;
}

std::int64_t unix_ms(const ManualClock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock.system_now().time_since_epoch())
      .count();
}

struct Harness {
  std::shared_ptr<FakeRedis> server = std::make_shared<FakeRedis>();
  ManualClock clock;
};

}  // namespace

TEST_CASE("heartbeat keys share the stream's hash tag", "[heartbeat]") {
  CHECK(streamll::producers_index_key("ml_events") == "{ml_events}:producers");
  CHECK(streamll::producer_heartbeat_key("ml_events", "h:1:2") == "{ml_events}:producer:h:1:2");
  // A key with its own tag keeps it.
  CHECK(streamll::producers_index_key("{llm}events") == "{llm}events:producers");
  // Braces without a usable tag: the key as it is (a cluster sink then writes none).
  CHECK(streamll::producers_index_key("a{}b") == "a{}b:producers");
  using streamll::redis::key_slot;
  for (const char* stream : {"ml_events", "{llm}events", "x{tag}y", "ml_events_shard_3"}) {
    INFO(stream);
    CHECK(key_slot(streamll::producers_index_key(stream)) == key_slot(stream));
    CHECK(key_slot(streamll::producer_heartbeat_key(stream, "host:1:1")) == key_slot(stream));
  }
}

TEST_CASE("a heartbeat carries the sink's counters and identity", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  // The first one goes at once, before any event.
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  for (int i = 0; i < 3; ++i) sink.handle(event(i));
  REQUIRE(sink.flush(2s));
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));

  const auto hsets = named(*h.server, "HSET");
  REQUIRE(hsets.size() == 2);
  const auto f = fields_of(hsets.back());
  const std::string id = f.at("id");
  CHECK(hsets.back()[1] == "{ml_events}:producer:" + id);
  CHECK(f.at("service") == "checkout-service");
  CHECK(f.at("pid") == std::to_string(getpid()));
  CHECK(id.find(":" + std::to_string(getpid()) + ":") != std::string::npos);
  CHECK(f.at("version") == streamll::version);
  CHECK(f.at("stream") == "ml_events");
  CHECK(f.at("token_stream").empty());
  CHECK(f.at("delivered") == "3");
  CHECK(f.at("failed") == "0");
  CHECK(f.at("truncated") == "0");
  CHECK(f.at("dropped") == "0");
  CHECK(f.at("dropped_at") == "0");
  CHECK(f.at("buffered") == "0");
  CHECK(f.at("breaker") == "closed");
  CHECK(f.at("last_error").empty());
  CHECK(f.at("interval_ms") == "5000");
  CHECK(f.at("ttl_ms") == "15000");
  const std::int64_t now = unix_ms(h.clock);
  CHECK(f.at("updated_at") == std::to_string(now));
  CHECK(f.at("started_at") == std::to_string(now - 5000));
  // The first heartbeat, before the events, said so.
  CHECK(fields_of(hsets.front()).at("delivered") == "0");

  // Expiry and pruning, in the same pipeline.
  const auto cmds = h.server->commands();
  std::vector<Command> tail(cmds.end() - 5, cmds.end());
  CHECK(tail[0][0] == "HSET");
  CHECK(tail[1] == Command{"PEXPIRE", "{ml_events}:producer:" + id, "15000"});
  CHECK(tail[2] == Command{"ZADD", "{ml_events}:producers", std::to_string(now + 15000), id});
  CHECK(tail[3] == Command{"ZREMRANGEBYSCORE", "{ml_events}:producers", "-inf",
                           "(" + std::to_string(now - 15000)});
  CHECK(tail[4] == Command{"PEXPIRE", "{ml_events}:producers", "15000"});
  // Heartbeats are not batches.
  CHECK(sink.stats().round_trips == 1);
  CHECK(sink.stats().heartbeats_failed == 0);
}

TEST_CASE("a heartbeat is due one interval after the last", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.heartbeat_interval = 2s;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.clock.advance(1999ms);
  // A flushed event shows the flusher went round after the advance: no heartbeat was due.
  sink.handle(event(1));
  REQUIRE(sink.flush(2s));
  sink.handle(event(2));
  REQUIRE(sink.flush(2s));
  CHECK(sink.stats().heartbeats_sent == 1);
  CHECK(named(*h.server, "HSET").size() == 1);
  h.clock.advance(1ms);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
  const auto f = fields_of(named(*h.server, "HSET").back());
  CHECK(f.at("delivered") == "2");
  CHECK(f.at("ttl_ms") == "6000");
}

TEST_CASE("heartbeat_interval 0 writes no heartbeat", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.heartbeat_interval = 0ms;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  sink.handle(event(1));
  REQUIRE(sink.flush(2s));
  h.clock.advance(60s);
  sink.handle(event(2));
  REQUIRE(sink.flush(2s));
  CHECK(named(*h.server, "HSET").empty());
  CHECK(named(*h.server, "ZADD").empty());
  CHECK(sink.stats().heartbeats_sent == 0);
  CHECK(sink.stats().heartbeats_failed == 0);
}

TEST_CASE("a refused heartbeat is counted and waits for the next interval", "[heartbeat]") {
  Harness h;
  h.server->set_command_error("HSET", "OOM command not allowed when used memory > 'maxmemory'.");
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  // Events go on; the breaker and the events' last error never heard of it.
  for (int i = 0; i < 5; ++i) sink.handle(event(i));
  REQUIRE(sink.flush(2s));
  auto s = sink.stats();
  CHECK(s.delivered == 5);
  CHECK(s.heartbeats_sent == 0);
  CHECK(s.heartbeats_failed == 1);  // not retried before the interval
  CHECK(s.last_error.empty());
  CHECK(s.reply_errors == 0);
  CHECK(sink.circuit_breaker().total_failures == 0);
  h.server->set_command_error("HSET", "");
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  CHECK(fields_of(named(*h.server, "HSET").back()).at("heartbeats_failed") == "1");
}

TEST_CASE("a heartbeat that loses the connection does not count for the breaker", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.server->fail_next_executes(1);
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  // failure_threshold is 1: a failure the breaker counted would have opened it.
  CHECK(sink.stats().breaker_state == streamll::BreakerState::closed);
  CHECK(sink.circuit_breaker().total_failures == 0);
  sink.handle(event(1));
  REQUIRE(sink.flush(2s));
  CHECK(sink.stats().delivered == 1);
}

TEST_CASE("an open breaker is reported once Redis answers again", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.server->set_down(true);  // the connection in use dies with the next write, and no new one
  sink.handle(event(1));
  REQUIRE(eventually([&] { return sink.stats().breaker_state == streamll::BreakerState::open; }));
  const auto breaker_failures = sink.circuit_breaker().total_failures;
  // Down: the heartbeat's connection attempt fails, counted as a heartbeat failure only.
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  CHECK(sink.circuit_breaker().total_failures == breaker_failures);
  CHECK(sink.stats().breaker_state == streamll::BreakerState::open);
  // Back, the breaker still open (recovery_timeout 30 s): the heartbeat says so.
  h.server->set_down(false);
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
  const auto f = fields_of(named(*h.server, "HSET").back());
  CHECK(f.at("breaker") == "open");
  CHECK(f.at("buffered") == "1");
  CHECK_FALSE(f.at("last_error").empty());
  CHECK(f.at("last_error").find("connect") != std::string::npos);
  CHECK(sink.stats().breaker_state == streamll::BreakerState::open);
}

TEST_CASE("a heartbeat reports drops and when they were seen", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.buffer_size = 2;
  o.max_batch_size = 1;
  o.buffer_overflow_strategy = streamll::OverflowStrategy::drop_newest;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.server->stall();
  for (int i = 0; i < 10; ++i) sink.handle(event(i));
  const auto dropped = sink.stats().dropped_newest;
  CHECK(dropped >= 7);
  h.server->release();
  REQUIRE(sink.flush(2s));  // refused events were never enqueued: not flush()'s losses
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
  const auto f = fields_of(named(*h.server, "HSET").back());
  CHECK(f.at("dropped") == std::to_string(dropped));
  CHECK(f.at("dropped_newest") == std::to_string(dropped));
  CHECK(f.at("dropped_at") == std::to_string(unix_ms(h.clock)));
  // No new drop: dropped_at stays where it was.
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 3; }));
  CHECK(fields_of(named(*h.server, "HSET").back()).at("dropped_at") ==
        std::to_string(unix_ms(h.clock) - 5000));
}

TEST_CASE("each shard of a sharded sink writes its own heartbeat", "[heartbeat]") {
  std::vector<std::shared_ptr<FakeRedis>> servers = {std::make_shared<FakeRedis>(),
                                                     std::make_shared<FakeRedis>()};
  ManualClock clock;
  streamll::ShardedRedisSinkOptions o;
  o.sink = options();
  o.shard_urls = {"redis://127.0.0.1:7001", "redis://127.0.0.1:7002"};
  auto sink = Injected::sharded_redis_sink(
      o,
      [&servers](std::size_t shard, const streamll::RedisEndpoint&) {
        return std::make_unique<streamll::testing::FakeTransport>(servers[shard]);
      },
      clock);
  for (std::size_t i = 0; i < servers.size(); ++i) {
    REQUIRE(eventually([&] { return named(*servers[i], "HSET").size() == 1; }));
    const auto f = fields_of(named(*servers[i], "HSET").front());
    const std::string stream = "ml_events_shard_" + std::to_string(i);
    CHECK(f.at("stream") == stream);
    CHECK(named(*servers[i], "HSET").front()[1] == "{" + stream + "}:producer:" + f.at("id"));
  }
  CHECK(fields_of(named(*servers[0], "HSET").front()).at("id") !=
        fields_of(named(*servers[1], "HSET").front()).at("id"));
}

TEST_CASE("heartbeat_interval options", "[heartbeat]") {
  auto o = options();
  CHECK(streamll::RedisSinkOptions{}.heartbeat_interval == 5s);
  o.heartbeat_interval = 99ms;
  CHECK_THROWS_AS(o.validate(), streamll::ConfigError);
  o.heartbeat_interval = -1ms;
  CHECK_THROWS_AS(o.validate(), streamll::ConfigError);
  o.heartbeat_interval = 100ms;
  CHECK_NOTHROW(o.validate());
  o.heartbeat_interval = 0ms;
  CHECK_NOTHROW(o.validate());
  const auto env = streamll::RedisSinkOptions::from_env([](const char* name) {
    return std::string(name) == "STREAMLL_HEARTBEAT_INTERVAL_MS" ? std::optional<std::string>("0")
                                                                 : std::nullopt;
  });
  CHECK(env.heartbeat_interval == 0ms);
  CHECK(streamll::to_string(env).find("heartbeat_interval=0ms") != std::string::npos);
}
