// RedisSink when Redis answers but refuses: a wrong password, an ACL user without XADD, the
// stream key holding another type, maxmemory reached with noeviction. Each must be reported
// clearly and counted, must not disturb the application, and delivery must resume once the
// cause is fixed.

#include <catch2/catch.hpp>

#include <thread>

#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Emitting must neither throw nor wait on Redis, whatever Redis is doing.
void emit_quickly(RedisSink& sink, int from, int to) {
  const auto start = SteadyClock::now();
  for (int i = from; i < to; ++i) REQUIRE_NOTHROW(sink.handle(sinkit::numbered_event(0, i)));
  CHECK(SteadyClock::now() - start <
        2s);  // loose: waiting on Redis would cost a socket timeout per event
}

}  // namespace

TEST_CASE("RedisSink with a wrong password reports it and opens the breaker until it is fixed",
          "[redis_sink_it]") {
  const std::string right = "right-pass-4711";
  const std::string wrong = "wrong-secret-0815";
  RedisServerOptions server_options;
  server_options.requirepass = right;
  RedisServer server(server_options);
  auto options = sinkit::fast_options(server.url());
  SECTION("in the password field") { options.connection.password = wrong; }
  SECTION("in the URL") {
    options.connection.url = "redis://:" + wrong + "@127.0.0.1:" + std::to_string(server.port());
  }
  sinkit::CapturedLog log;
  RedisSink sink(options);

  emit_quickly(sink, 0, 500);
  REQUIRE(eventually([&] { return sink.circuit_breaker().state == BreakerState::open; }));
  auto stats = sink.stats();
  INFO("last_error: " << stats.last_error);
  CHECK(stats.last_error.find("authentication") != std::string::npos);
  CHECK(stats.last_error.find("WRONGPASS") != std::string::npos);
  CHECK(stats.last_error.find(wrong) == std::string::npos);
  CHECK(stats.last_error.find(right) == std::string::npos);
  CHECK(stats.transport_errors >= 2);
  CHECK(stats.delivered == 0);
  CHECK_FALSE(stats.connected);
  CHECK(sink.buffered() == 500);
  emit_quickly(sink, 500, 1000);  // the application carries on with the breaker open

  // Fixed on the server side: the next half-open probe authenticates and the buffer drains.
  CHECK(server.cli({"CONFIG", "SET", "requirepass", wrong}) == "OK");
  REQUIRE(sink.flush(5s));
  CHECK(sink.circuit_breaker().state == BreakerState::closed);
  DirectRedis redis = DirectRedis::tcp(server.port(), wrong);
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 1000));

  // Logged too, and no secret in the log either.
  const std::string logged = log.text();
  CHECK(logged.find("authentication failed") != std::string::npos);
  CHECK(logged.find(wrong) == std::string::npos);
  CHECK(logged.find(right) == std::string::npos);
}

TEST_CASE("RedisSink counts NOPERM replies as failed events and not as transport errors",
          "[redis_sink_it]") {
  RedisServerOptions server_options;
  server_options.acl_users = {"limited on >limited-pw ~* &* +@all -xadd"};
  RedisServer server(server_options);
  auto options = sinkit::fast_options(server.url());
  options.connection.username = "limited";
  options.connection.password = "limited-pw";
  RedisSink sink(options);

  emit_quickly(sink, 0, 5);
  CHECK_FALSE(sink.flush(5s));  // resolved, but not delivered
  auto stats = sink.stats();
  INFO("last_error: " << stats.last_error);
  CHECK(stats.failed == 5);
  CHECK(stats.reply_errors == 5);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.buffered == 0);
  CHECK(stats.connected);
  CHECK(stats.last_error.find("NOPERM") != std::string::npos);
  CHECK(sink.circuit_breaker().state == BreakerState::closed);

  // The pipeline keeps going: granted the command, the same connection delivers.
  CHECK(server.cli({"ACL", "SETUSER", "limited", "+xadd"}) == "OK");
  emit_quickly(sink, 5, 10);
  REQUIRE(sink.flush(5s));
  stats = sink.stats();
  CHECK(stats.delivered == 5);
  CHECK(stats.reconnects == 0);
  CHECK(stats.enqueued == stats.delivered + stats.failed);
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(5, 10));
}

TEST_CASE("RedisSink counts WRONGTYPE when the stream key holds another type and resumes after DEL",
          "[redis_sink_it]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  REQUIRE(redis.text({"SET", "ml_events", "x"}) == "OK");
  RedisSink sink(sinkit::fast_options(server.url()));

  emit_quickly(sink, 0, 20);
  CHECK_FALSE(sink.flush(5s));
  auto stats = sink.stats();
  CHECK(stats.failed == 20);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.buffered == 0);
  CHECK(stats.last_error.find("WRONGTYPE") != std::string::npos);
  CHECK(stats.last_error.find("ml_events") != std::string::npos);
  CHECK(sink.circuit_breaker().state == BreakerState::closed);
  CHECK(redis.text({"GET", "ml_events"}) == "x");

  REQUIRE(redis.integer({"DEL", "ml_events"}) == 1);
  emit_quickly(sink, 20, 40);
  REQUIRE(sink.flush(5s));
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(20, 40));
  stats = sink.stats();
  CHECK(stats.delivered == 20);
  CHECK(stats.failed == 20);
}

TEST_CASE("RedisSink counts OOM at maxmemory with noeviction and resumes once memory is raised",
          "[redis_sink_it]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  RedisSink sink(sinkit::fast_options(server.url()));
  sink.handle(sinkit::numbered_event(0, 0));
  REQUIRE(sink.flush(5s));

  // Full with noeviction. The limit goes a little below what the data uses rather than just
  // above it: each connection's query buffer (16 KB and more while a command is read) counts
  // too and comes and goes, so "just above" lets small writes through again whenever a big one
  // was refused and its buffer freed.
  for (int i = 0; i < 16; ++i) {
    REQUIRE(redis.text({"SET", "filler:" + std::to_string(i), std::string(64 * 1024, 'f')}) ==
            "OK");
  }
  // The 16 fillers, the stream and the sink's heartbeat keys.
  const long long keys = redis.integer({"DBSIZE"});
  const long long used = std::stoll(redis.info_field("memory", "used_memory"));
  REQUIRE(redis.text({"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "OK");
  REQUIRE(redis.text({"CONFIG", "SET", "maxmemory", std::to_string(used - 256 * 1024)}) == "OK");
  REQUIRE(redis.text({"SET", "probe", "1"}).rfind("OOM", 0) == 0);
  CHECK(redis.integer({"DBSIZE"}) == keys);  // noeviction: nothing was evicted

  emit_quickly(sink, 1, 11);
  CHECK_FALSE(sink.flush(5s));
  auto stats = sink.stats();
  INFO("last_error: " << stats.last_error);
  CHECK(stats.failed == 10);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.last_error.find("OOM") != std::string::npos);
  CHECK(sink.circuit_breaker().state == BreakerState::closed);
  CHECK(redis.integer({"XLEN", "ml_events"}) == 1);

  REQUIRE(redis.text({"CONFIG", "SET", "maxmemory", "0"}) == "OK");
  emit_quickly(sink, 11, 21);
  REQUIRE(sink.flush(5s));
  auto expected = sinkit::iota_vector(0, 1);
  const auto resumed = sinkit::iota_vector(11, 21);
  expected.insert(expected.end(), resumed.begin(), resumed.end());
  CHECK(sinkit::delivered_indices(redis) == expected);
  stats = sink.stats();
  CHECK(stats.delivered == 11);
  CHECK(stats.enqueued == stats.delivered + stats.failed);
}
