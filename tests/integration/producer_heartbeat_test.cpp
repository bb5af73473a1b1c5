// Producer heartbeats against a real redis-server: a sink's heartbeat appears with its counters
// and a TTL; a producer killed with SIGKILL (a `streamll emit` child process) disappears after
// its TTL; an open breaker shows in `streamll producers` and makes `streamll health` exit 7.

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include <streamll/redis/heartbeats.hpp>
#include <streamll/redis/producers.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"
#include "scoped_env.hpp"
#include "subprocess.hpp"

using namespace std::chrono_literals;
using streamll::consumerit::run_cli;
using streamll::testing::eventually;

namespace {

streamll::Event event(int i) {
  static const auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_heartbeat_it", "span1", "", "answer", "", {}});
  streamll::Fields data;
  data.set("index", i);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

streamll::ShardedStream source(const streamll::test::RedisServer& server) {
  streamll::ShardedStream s;
  s.connection.url = server.url();
  s.stream = "ml_events";
  return s;
}

// The producer of `pid` in `streamll producers --json`, or null.
nlohmann::json listed(const streamll::test::RedisServer& server, long long pid) {
  const auto r = run_cli({"producers", "--url", server.url(), "--json"});
  if (r.exit_code != 0) return nullptr;
  for (const auto& p : nlohmann::json::parse(r.out)) {
    if (p["pid"].get<long long>() == pid) return p;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a heartbeat appears in Redis with the sink's counters and a TTL",
          "[integration][heartbeat]") {
  streamll::test::RedisServer server;
  streamll::RedisSinkOptions o;
  o.connection.url = server.url();
  o.consumer_name = "heartbeat-it";
  o.heartbeat_interval = 200ms;
  o.flush_interval = 20ms;
  streamll::RedisSink sink(o);
  for (int i = 0; i < 10; ++i) sink.handle(event(i));
  REQUIRE(sink.flush(5s));
  const auto sent = sink.stats().heartbeats_sent;
  // The next heartbeat after the flush carries the 10 events.
  REQUIRE(eventually([&] { return sink.stats().heartbeats_sent > sent; }));

  const auto report = streamll::list_producers(source(server));
  REQUIRE(report.complete());
  REQUIRE(report.producers.size() == 1);
  const auto& p = report.producers.front();
  CHECK(p.pid == getpid());
  CHECK(p.service == "heartbeat-it");
  CHECK(p.delivered == 10);
  CHECK(p.failed == 0);
  CHECK(p.dropped == 0);
  CHECK(p.breaker == "closed");
  CHECK(p.version == streamll::version);
  CHECK(p.interval_ms == 200);
  CHECK(p.ttl_ms == 600);
  CHECK(report.server_time_ms - p.updated_at_ms < 5000);
  // The TTL Redis holds, and the index entry scored by expiry.
  const std::string key = streamll::producer_heartbeat_key("ml_events", p.id);
  const long long pttl = std::stoll(server.cli({"PTTL", key}));
  CHECK(pttl > 0);
  CHECK(pttl <= 600);
  const long long score = std::stoll(server.cli({"ZSCORE", "{ml_events}:producers", p.id}));
  CHECK(score == p.updated_at_ms + 600);
  CHECK(sink.stats().heartbeats_failed == 0);
}

TEST_CASE("a producer killed with SIGKILL disappears after its TTL", "[integration][heartbeat]") {
  streamll::test::RedisServer server;
  pid_t child = -1;
  {
    streamll::testing::ScopedEnv interval("STREAMLL_HEARTBEAT_INTERVAL_MS", "200");
    child = streamll::test::spawn_process({STREAMLL_CLI_PATH, "emit", "--url", server.url(),
                                           "--count", "1000000", "--rate", "20", "--no-progress"},
                                          "");
  }
  REQUIRE(eventually([&] { return !listed(server, child).is_null(); }, 10s, 100ms));
  const auto before = listed(server, child);
  CHECK(before["ttl_ms"] == 600);
  CHECK(before["service"] == "streamll");
  ::kill(child, SIGKILL);
  CHECK(streamll::test::wait_process(child) == 128 + SIGKILL);
  // Gone within the TTL (600 ms) plus slack; polled, never a fixed sleep.
  REQUIRE(eventually([&] { return listed(server, child).is_null(); }, 5s, 100ms));
  CHECK(server.cli({"EXISTS", streamll::producer_heartbeat_key(
                                  "ml_events", before["id"].get<std::string>())}) == "0");
  // The reader pruned the index of what expired (or the index expired with it).
  CHECK(server.cli({"ZCARD", "{ml_events}:producers"}) == "0");
}

TEST_CASE("an open breaker shows in producers and health exits 7", "[integration][heartbeat]") {
  streamll::test::RedisServer server;
  streamll::RedisSinkOptions o;
  o.connection.url = server.url();
  o.connection.socket_timeout = 200ms;
  o.failure_threshold = 1;
  o.recovery_timeout = 60s;
  o.heartbeat_interval = 200ms;
  o.flush_interval = 20ms;
  streamll::RedisSink sink(o);
  sink.handle(event(0));
  REQUIRE(sink.flush(5s));
  auto r = run_cli({"health", "--url", server.url()});
  CHECK(r.exit_code == 0);
  // Writes stall past socket_timeout: the batch times out and the breaker opens; once the pause
  // ends, the heartbeat reaches Redis and says so.
  server.cli({"CLIENT", "PAUSE", "1500", "WRITE"});
  sink.handle(event(1));
  REQUIRE(eventually([&] { return sink.stats().breaker_state == streamll::BreakerState::open; }));
  REQUIRE(eventually(
      [&] {
        const auto p = listed(server, getpid());
        return !p.is_null() && p["breaker"] == "open";
      },
      10s, 100ms));

  r = run_cli({"producers", "--url", server.url()});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find(" open ") != std::string::npos);
  CHECK(r.out.find("last error:") != std::string::npos);

  r = run_cli({"health", "--url", server.url()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 7);
  CHECK(r.out.find("Producers: ALERT (1 live)") != std::string::npos);
  CHECK(r.out.find("circuit breaker open") != std::string::npos);
  r = run_cli({"health", "--url", server.url(), "--json"});
  CHECK(r.exit_code == 7);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["healthy"] == false);
  CHECK(j["producers"]["alerts"].size() == 1);
  CHECK(j["producers"]["producers"][0]["breaker"] == "open");
  // A stream alert wins: exit 1.
  r = run_cli({"health", "--url", server.url(), "--min-events", "1000"});
  CHECK(r.exit_code == 1);
  // Without the producer check: healthy.
  r = run_cli({"health", "--url", server.url(), "--no-producers"});
  CHECK(r.exit_code == 0);
}
