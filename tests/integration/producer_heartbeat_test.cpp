// Producer heartbeats against a real redis-server: a sink's heartbeat appears with its counters
// and a TTL; a producer killed with SIGKILL (a `streamll emit` child process) disappears after
// its TTL; an open breaker shows in `streamll producers` and makes `streamll health` exit 7, and
// so does a producer that stopped reporting within the window; a shard whose producers cannot
// be read is not checked, never OK.

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
  const auto report = nlohmann::json::parse(r.out);
  for (const auto& p : report["producers"]) {
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
  // Readers remove nothing: while the index holds its id (writers give the index a longer life
  // than a heartbeat), it is listed as stopped reporting.
  const auto report = streamll::list_producers(source(server));
  const std::string id = before["id"].get<std::string>();
  if (server.cli({"ZSCORE", "{ml_events}:producers", id}).empty()) {
    CHECK(report.gone.empty());
  } else {
    REQUIRE(report.gone.size() == 1);
    CHECK(report.gone.front().id == id);
    CHECK(report.gone.front().expired_at_ms ==
          std::stoll(server.cli({"ZSCORE", "{ml_events}:producers", id})));
  }
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

namespace {

std::int64_t server_ms(const streamll::test::RedisServer& server) {
  const std::string time = server.cli({"TIME"});  // "<seconds>\n<microseconds>"
  const auto newline = time.find('\n');
  return std::stoll(time.substr(0, newline)) * 1000 + std::stoll(time.substr(newline + 1)) / 1000;
}

// Recent events and no producer of its own (heartbeats off): a healthy stream.
void write_events(const std::string& url, const std::string& stream = "ml_events") {
  streamll::RedisSinkOptions o;
  o.connection.url = url;
  o.stream_key = stream;
  o.heartbeat_interval = 0ms;
  streamll::RedisSink sink(o);
  for (int i = 0; i < 5; ++i) sink.handle(event(i));
  REQUIRE(sink.flush(5s));
}

}  // namespace

TEST_CASE("a producer that stopped reporting within the window makes health exit 7",
          "[integration][heartbeat]") {
  streamll::test::RedisServer server;
  write_events(server.url());
  const std::string index = "{ml_events}:producers";
  // An index member without its hash: a producer whose last heartbeat expired 5 s ago.
  const std::int64_t expired = server_ms(server) - 5000;
  server.cli({"ZADD", index, std::to_string(expired), "ghost:42:1"});

  auto r = run_cli({"health", "--url", server.url()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 7);
  CHECK(r.out.find("Producers: ALERT (0 live, 1 stopped reporting)") != std::string::npos);
  CHECK(r.out.find("ALERT: producer ghost:42:1 (stream 'ml_events'): stopped reporting") !=
        std::string::npos);
  r = run_cli({"health", "--url", server.url(), "--json"});
  CHECK(r.exit_code == 7);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["healthy"] == false);
  CHECK(j["producers"]["alerts"].size() == 1);
  CHECK(j["producers"]["gone"][0]["id"] == "ghost:42:1");
  CHECK(j["producers"]["gone"][0]["expired_at_ms"] == expired);

  r = run_cli({"producers", "--url", server.url()});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("has no live producers") != std::string::npos);
  CHECK(r.out.find("Stopped reporting") != std::string::npos);
  CHECK(r.out.find("ghost:42:1") != std::string::npos);
  r = run_cli({"producers", "--url", server.url(), "--json"});
  CHECK(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["producers"].empty());
  REQUIRE(j["gone"].size() == 1);
  CHECK(j["gone"][0]["id"] == "ghost:42:1");
  CHECK(j["gone"][0]["expired_at_ms"] == expired);
  CHECK(j["gone"][0]["gone_for_ms"].get<std::int64_t>() >= 5000);
  CHECK(j["truncated"] == false);
  // The readers removed nothing.
  CHECK(server.cli({"ZSCORE", index, "ghost:42:1"}) == std::to_string(expired));

  // Longer ago than the window (60 s): listed, no alert.
  server.cli({"ZADD", index, std::to_string(server_ms(server) - 61000), "ghost:42:1"});
  r = run_cli({"health", "--url", server.url()});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("Producers: OK (0 live, 1 stopped reporting)") != std::string::npos);
  // A window that reaches it: an alert again.
  r = run_cli({"health", "--url", server.url(), "--window", "2m"});
  CHECK(r.exit_code == 7);
  CHECK(server.cli({"ZCARD", index}) == "1");
}

TEST_CASE("a shard whose producers cannot be read is not checked and never OK",
          "[integration][heartbeat]") {
  streamll::test::RedisServer good;
  int dead_port = 0;
  {
    streamll::test::RedisServer gone;  // a port of ours with nothing listening on it any more
    dead_port = gone.port();
    gone.kill9();
  }
  write_events(good.url(), "ml_events_shard_0");
  const std::string dead = "redis://127.0.0.1:" + std::to_string(dead_port);
  const std::vector<std::string> shards = {"--shard-url", good.url(),          "--shard-url",
                                           dead,          "--connect-timeout", "500ms"};
  std::vector<std::string> args = {"health"};
  args.insert(args.end(), shards.begin(), shards.end());
  auto r = run_cli(args);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 1);  // the unavailable shard is a stream alert
  CHECK(r.out.find("Producers: OK") == std::string::npos);
  CHECK(r.out.find("Producers: not checked on 1 of 2 shards (0 live)") != std::string::npos);
  CHECK(r.out.find("  not checked: shard 1 ('ml_events_shard_1' on " + dead) != std::string::npos);
  args.push_back("--json");
  r = run_cli(args);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["producers"]["checked"] == true);
  CHECK(j["producers"]["complete"] == false);
  REQUIRE(j["producers"]["unchecked_shards"].size() == 1);
  CHECK(j["producers"]["unchecked_shards"][0]["shard"] == 1);
}

TEST_CASE("hostile bytes in a heartbeat reach neither the terminal nor break --json",
          "[integration][heartbeat]") {
  streamll::test::RedisServer server;
  auto redis = streamll::consumerit::DirectRedis::tcp(server.port());
  const std::string key = streamll::producer_heartbeat_key("ml_events", "evil\xff");
  const long long now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  // Anyone with the producer ACL can write this: invalid UTF-8, an ANSI colour, an OSC title
  // sequence, a line feed and a C1 control.
  redis.command({"HSET", key, "id", "evil\xff", "service", "svc\xff\x1b[31mred", "host", "h\nx",
                 "last_error", "boom\x1b]0;title\x07 \xc2\x9b", "breaker", "open", "updated_at",
                 std::to_string(now_ms), "ttl_ms", "60000", "stream", "ml_events"});
  redis.command({"PEXPIRE", key, "60000"});
  redis.command({"ZADD", streamll::producers_index_key("ml_events"), std::to_string(now_ms + 60000),
                 "evil\xff"});
  // And one that expired: listed as gone under its raw member name.
  redis.command({"ZADD", streamll::producers_index_key("ml_events"), std::to_string(now_ms - 1000),
                 "gone\xfe\x1b[2J"});
  redis.command({"XADD", "ml_events", "*", "event", "{}"});

  const auto text = run_cli({"producers", "--url", server.url()});
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find('\x1b') == std::string::npos);
  CHECK(text.out.find('\x07') == std::string::npos);
  CHECK(text.out.find("\xc2\x9b") == std::string::npos);
  CHECK(text.out.find("svc\xef\xbf\xbd\\x1b[31mred") != std::string::npos);
  CHECK(text.out.find("h\\x0ax") != std::string::npos);

  const auto json = run_cli({"producers", "--url", server.url(), "--json"});
  REQUIRE(json.exit_code == 0);
  const auto report = nlohmann::json::parse(json.out);  // strict: valid UTF-8 only
  REQUIRE(report["producers"].size() == 1);
  CHECK(report["producers"][0]["id"] == "evil\xef\xbf\xbd");
  CHECK(report["producers"][0]["service"] == "svc\xef\xbf\xbd\x1b[31mred");  // as written
  REQUIRE(report["gone"].size() == 1);
  CHECK(report["gone"][0]["id"] == "gone\xef\xbf\xbd\x1b[2J");

  const auto health = run_cli({"health", "--url", server.url()});
  CHECK(health.exit_code == 7);  // the breaker is open; the stopped one is within the window
  CHECK(health.out.find('\x1b') == std::string::npos);
  CHECK(health.out.find("ALERT: producer evil") != std::string::npos);
  const auto health_json = run_cli({"health", "--url", server.url(), "--json"});
  CHECK(health_json.exit_code == 7);
  CHECK_NOTHROW(nlohmann::json::parse(health_json.out));
}
