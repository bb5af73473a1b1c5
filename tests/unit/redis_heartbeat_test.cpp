// Producer heartbeats (RedisSinkOptions::heartbeat_interval, docs/monitoring.md) on a fake
// server and a manual clock: what one writes, when the next is due, off at 0, failures counted
// without touching event delivery or the breaker, and the expiry and pruning scores.

#include <unistd.h>
#include <catch2/catch.hpp>
#include <streamll/redis/heartbeats.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "captured_log_text.hpp"
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

// Two flush() calls: the second is served by a round of the flusher that began after the
// first was answered, so after whatever the test did before calling this.
template <typename Sink>
void went_round(Sink& sink) {
  REQUIRE(sink.flush(2s));
  REQUIRE(sink.flush(2s));
}

struct Harness {
  std::shared_ptr<FakeRedis> server = std::make_shared<FakeRedis>();
  ManualClock clock;
};

// A sharded sink over two fake servers.
struct TwoShards {
  std::vector<std::shared_ptr<FakeRedis>> servers = {std::make_shared<FakeRedis>(),
                                                     std::make_shared<FakeRedis>()};
  ManualClock clock;
  streamll::ShardedRedisSink sink() {
    streamll::ShardedRedisSinkOptions o;
    o.sink = options();
    o.shard_urls = {"redis://127.0.0.1:7001", "redis://127.0.0.1:7002"};
    return Injected::sharded_redis_sink(
        o,
        [this](std::size_t shard, const streamll::RedisEndpoint&) {
          return std::make_unique<streamll::testing::FakeTransport>(servers[shard]);
        },
        clock);
  }
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
  const auto round_trips = sink.stats().round_trips;
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
  // The index keeps stopped producers an hour (10 TTLs would be less) and lives a day: neither
  // depends on this producer's interval or clock enough to remove a live one.
  CHECK(tail[3] == Command{"ZREMRANGEBYSCORE", "{ml_events}:producers", "-inf",
                           "(" + std::to_string(now - 3600000)});
  CHECK(tail[4] == Command{"PEXPIRE", "{ml_events}:producers", "86400000"});
  // Heartbeats are not batches.
  CHECK(sink.stats().round_trips == round_trips);
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
  TwoShards shards;
  auto sink = shards.sink();
  auto& servers = shards.servers;
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
  o.heartbeat_interval = 1h;
  CHECK_NOTHROW(o.validate());
  o.heartbeat_interval = 1h + 1ms;
  CHECK_THROWS_WITH(o.validate(),
                    Catch::Contains("heartbeat_interval") && Catch::Contains("3600000ms"));
  const auto env = streamll::RedisSinkOptions::from_env([](const char* name) {
    return std::string(name) == "STREAMLL_HEARTBEAT_INTERVAL_MS" ? std::optional<std::string>("0")
                                                                 : std::nullopt;
  });
  CHECK(env.heartbeat_interval == 0ms);
  CHECK(streamll::to_string(env).find("heartbeat_interval=0ms") != std::string::npos);
}

TEST_CASE("the index keeps a producer 10 TTLs when that is over an hour", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.heartbeat_interval = 150s;  // TTL 450 s: 10 TTLs are 75 min
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  const auto prune = named(*h.server, "ZREMRANGEBYSCORE").front();
  CHECK(prune.back() == "(" + std::to_string(unix_ms(h.clock) - 4500000));
}

TEST_CASE("an unreachable Redis never touches the breaker or the events' errors", "[heartbeat]") {
  Harness h;
  h.server->set_down(true);
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  // failure_threshold is 1: one failure the breaker counted would open it.
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  for (const auto step : {5s, 10s, 20s}) {
    const auto failed = sink.stats().heartbeats_failed;
    h.clock.advance(step);
    REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == failed + 1; }));
  }
  const auto s = sink.stats();
  CHECK(s.heartbeats_failed == 4);
  CHECK(s.breaker_state == streamll::BreakerState::closed);
  CHECK(sink.circuit_breaker().total_failures == 0);
  CHECK(s.last_error.empty());
  CHECK(s.transport_errors == 0);
  CHECK_FALSE(s.connected);
  // Back: an event goes at once (no breaker to wait for), and so does the next heartbeat.
  h.server->set_down(false);
  sink.handle(event(1));
  REQUIRE(sink.flush(2s));
  CHECK(sink.stats().delivered == 1);
}

TEST_CASE("heartbeat connects back off while Redis is unreachable", "[heartbeat]") {
  Harness h;
  h.server->set_down(true);
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  // Each wait doubles from the interval (5 s) to a minute, less up to a tenth: a try is due
  // after the full wait and never before 90% of it.
  for (const auto wait : {5s, 10s, 20s, 40s, 60s, 60s}) {
    const auto failed = sink.stats().heartbeats_failed;
    const int attempts = h.server->connect_attempts();
    h.clock.advance(wait * 8 / 10);
    went_round(sink);
    CHECK(sink.stats().heartbeats_failed == failed);
    h.clock.advance(wait * 2 / 10);
    REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == failed + 1; }));
    CHECK(h.server->connect_attempts() > attempts);
  }
  // Back: one heartbeat gets through, and the interval is 5 s again.
  h.server->set_down(false);
  h.clock.advance(60s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
}

TEST_CASE("heartbeats go on under a load that keeps a batch on the wire", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.max_batch_size = 2;  // a full batch is always waiting: the next is sent behind the head
  o.buffer_size = 100000;
  o.buffer_overflow_strategy = streamll::OverflowStrategy::drop_oldest;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  std::atomic<bool> stop{false};
  std::thread load([&] {
    for (int i = 0; !stop.load(); ++i) sink.handle(event(i));
  });
  const bool loaded = eventually([&] { return sink.stats().delivered > 1000; });
  if (loaded) h.clock.advance(5s);
  const bool sent = loaded && eventually([&] { return sink.stats().heartbeats_sent == 2; });
  stop = true;
  load.join();
  CHECK(loaded);
  CHECK(sent);
}

TEST_CASE("a sharded sink's stats sum its shards' heartbeats", "[heartbeat]") {
  TwoShards shards;
  shards.servers[1]->set_down(true);
  auto sink = shards.sink();
  REQUIRE(eventually([&] {
    return sink.shard_stats()[0].heartbeats_sent == 1 &&
           sink.shard_stats()[1].heartbeats_failed == 1;
  }));
  const auto total = sink.stats();
  CHECK(total.heartbeats_sent == 1);
  CHECK(total.heartbeats_failed == 1);
}

TEST_CASE("a heartbeat refused as READONLY reconnects for the next one", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  const int connects = h.server->connects();
  // A failover demoted the server behind a kept connection.
  h.server->set_command_error("HSET", "READONLY You can't write against a read only replica.");
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  h.server->set_command_error("HSET", "");
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
  CHECK(h.server->connects() == connects + 1);
  // Still no concern of the events'.
  CHECK(sink.stats().last_error.empty());
  CHECK(sink.circuit_breaker().total_failures == 0);
}

TEST_CASE("a heartbeat refused as NOPERM is retried every 5 minutes", "[heartbeat]") {
  Harness h;
  h.server->set_command_error("HSET",
                              "NOPERM this user has no permissions to access one of "
                              "the keys used as arguments");
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  h.clock.advance(4min);
  went_round(sink);
  CHECK(sink.stats().heartbeats_failed == 1);
  h.clock.advance(1min);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 2; }));
  // Granted: back to the interval.
  h.server->set_command_error("HSET", "");
  h.clock.advance(5min);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
}

TEST_CASE("a clean shutdown removes the producer's heartbeat", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  const std::string id = fields_of(named(*h.server, "HSET").front()).at("id");
  REQUIRE(sink.shutdown(2s));
  CHECK(named(*h.server, "DEL") == std::vector<Command>{{"DEL", "{ml_events}:producer:" + id}});
  CHECK(named(*h.server, "ZREM") == std::vector<Command>{{"ZREM", "{ml_events}:producers", id}});
}

TEST_CASE("a sink that never wrote a heartbeat removes none at shutdown", "[heartbeat]") {
  Harness h;
  // Down when the sink starts (its heartbeat fails), up for the event: connected at shutdown,
  // with nothing of its own to remove.
  h.server->set_down(true);
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  h.server->set_down(false);
  sink.handle(event(1));
  REQUIRE(sink.flush(2s));
  REQUIRE(sink.shutdown(2s));
  CHECK(sink.stats().heartbeats_sent == 0);
  CHECK(named(*h.server, "DEL").empty());
  CHECK(named(*h.server, "ZREM").empty());
}

TEST_CASE("heartbeats off remove nothing at shutdown", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.heartbeat_interval = 0ms;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  sink.handle(event(1));
  REQUIRE(sink.shutdown(2s));
  CHECK(named(*h.server, "DEL").empty());
  CHECK(named(*h.server, "ZREM").empty());
}

TEST_CASE("a refused removal at shutdown is counted", "[heartbeat]") {
  Harness h;
  h.server->set_command_error("DEL",
                              "NOPERM this user has no permissions to run the 'del' command");
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  REQUIRE(sink.shutdown(2s));  // the events are not concerned
  CHECK(sink.stats().heartbeats_failed == 1);
  CHECK(sink.stats().last_error.empty());
}

TEST_CASE("a refusal that does not name another node keeps the connection", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  const int connects = h.server->connects();
  int failed = 0;
  for (const char* error :
       {"BUSY Redis is busy running a script.", "NOREPLICAS Not enough good replicas to write.",
        "LOADING Redis is loading the dataset in memory",
        "OOM command not allowed when used memory > 'maxmemory'."}) {
    INFO(error);
    h.server->set_command_error("HSET", error);
    h.clock.advance(5s);
    ++failed;
    REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == std::uint64_t(failed); }));
  }
  h.server->set_command_error("HSET", "");
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
  CHECK(h.server->connects() == connects);
}

TEST_CASE("an idle flusher wakes for a heartbeat whatever flush_interval says", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.flush_interval = 1h;
  o.heartbeat_interval = 100ms;
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  // Past the flusher's 20 ms of polling after it worked (a real-time precondition, not a wait
  // for a result): from then on nothing wakes it but its own timeout, at most the 100 ms to the
  // next heartbeat, where flush_interval alone would be an hour.
  std::this_thread::sleep_for(100ms);
  h.clock.advance(100ms);
  CHECK(eventually([&] { return sink.stats().heartbeats_sent == 2; }));
}

TEST_CASE("producer ids differ between sinks of one process", "[heartbeat]") {
  Harness h;
  auto a =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  auto b =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return named(*h.server, "HSET").size() == 2; }));
  const auto hsets = named(*h.server, "HSET");
  const std::string first = fields_of(hsets[0]).at("id");
  const std::string second = fields_of(hsets[1]).at("id");
  CHECK(first != second);
  // <host>:<pid>:<n>:<8 hex digits>, the last a random tag against equal host names and pids.
  for (const std::string& id : {first, second}) {
    INFO(id);
    const auto last = id.rfind(':');
    REQUIRE(last != std::string::npos);
    CHECK(id.size() - last - 1 == 8);
    CHECK(id.find_first_not_of("0123456789abcdef", last + 1) == std::string::npos);
  }
}

TEST_CASE("a heartbeat never carries the connection's password", "[heartbeat]") {
  Harness h;
  auto o = options();
  o.connection.url = "redis://producer:s3cret-pw@127.0.0.1:6379";
  h.server->set_down(true);
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  // An event's failed connect leaves last_error, which the next heartbeat publishes.
  sink.handle(event(1));
  REQUIRE(eventually([&] { return !sink.stats().last_error.empty(); }));
  h.server->set_down(false);
  h.clock.advance(60s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent >= 1; }));
  const auto hsets = named(*h.server, "HSET");
  REQUIRE_FALSE(hsets.empty());
  bool saw_error = false;
  for (const auto& hset : hsets) {
    for (const std::string& arg : hset) {
      CHECK(arg.find("s3cret-pw") == std::string::npos);
    }
    saw_error = saw_error || !fields_of(hset).at("last_error").empty();
  }
  CHECK(saw_error);
}

TEST_CASE("a connection lost during heartbeats backs off like a failed connect", "[heartbeat]") {
  Harness h;
  auto sink =
      Injected::redis_sink(options(), streamll::testing::fake_transport_factory(h.server), h.clock);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent == 1; }));
  h.server->set_down(true);  // the kept connection dies with the next write, and no new one
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 1; }));
  h.clock.advance(5s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 2; }));
  // The third try waits 10 s (less up to a tenth), not 5.
  h.clock.advance(8s);
  went_round(sink);
  CHECK(sink.stats().heartbeats_failed == 2);
  h.clock.advance(2s);
  REQUIRE(eventually([&] { return sink.stats().heartbeats_failed == 3; }));
}

TEST_CASE("the NOPERM warning names the keys of a tagged stream key", "[heartbeat]") {
  streamll::testing::CapturedLog log;
  Harness h;
  h.server->set_command_error("HSET",
                              "NOPERM this user has no permissions to access one of "
                              "the keys used as arguments");
  auto o = options();
  o.stream_key = "{llm}events";
  auto sink = Injected::redis_sink(o, streamll::testing::fake_transport_factory(h.server), h.clock);
  // The count goes up before the warning is written: wait for the warning itself.
  CHECK(eventually([&] { return log.text().find("NOPERM") != std::string::npos; }));
  CHECK_THAT(log.text(), Catch::Contains("~{llm}events:producer* +hset"));
}
