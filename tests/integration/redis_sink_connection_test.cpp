// RedisSink connection settings against a real redis-server: IPv6 and unix socket URLs, database
// selection, ACL users (fields and percent-encoded URL credentials), and configuration from
// the environment driving a real sink.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>

#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::RedisSink;
using streamll::RedisSinkOptions;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

void emit_and_flush(RedisSink& sink, int count) {
  for (int i = 0; i < count; ++i) sink.handle(sinkit::numbered_event(0, i));
  INFO("last_error: " << sink.stats().last_error);
  REQUIRE(sink.flush(5s));
}

long long xlen_in_db(DirectRedis& redis, int db, const std::string& key) {
  REQUIRE(redis.text({"SELECT", std::to_string(db)}) == "OK");
  return redis.integer({"XLEN", key});
}

// The CLIENT LIST line of the connection named `name` ("" when there is none).
std::string client_line(DirectRedis& redis, const std::string& name) {
  const std::string list = redis.text({"CLIENT", "LIST"});
  const auto at = list.find("name=" + name + " ");
  if (at == std::string::npos) return {};
  const auto begin = list.rfind('\n', at);
  const auto end = list.find('\n', at);
  return list.substr(begin == std::string::npos ? 0 : begin + 1,
                     end == std::string::npos ? std::string::npos : end - begin - 1);
}

}  // namespace

TEST_CASE("RedisSink writes through a unix socket URL (also with ?db=N)", "[redis_sink_it]") {
  RedisServerOptions server_options;
  server_options.unix_socket = true;
  RedisServer server(server_options);
  DirectRedis redis = DirectRedis::unix_socket(server.socket_path());

  SECTION("unix:///path") {
    RedisSink sink(sinkit::fast_options(server.unix_url()));
    emit_and_flush(sink, 10);
    CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 10));
    CHECK(sink.stats().connected);
  }
  SECTION("unix:///path?db=3") {
    RedisSink sink(sinkit::fast_options(server.unix_url() + "?db=3"));
    emit_and_flush(sink, 10);
    CHECK(xlen_in_db(redis, 0, "ml_events") == 0);
    CHECK(xlen_in_db(redis, 3, "ml_events") == 10);
  }
}

TEST_CASE("RedisSink selects the database from the URL or from db (which wins)",
          "[redis_sink_it]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());

  SECTION("redis://host:port/3") {
    RedisSink sink(sinkit::fast_options(server.url() + "/3"));
    emit_and_flush(sink, 7);
    CHECK(xlen_in_db(redis, 0, "ml_events") == 0);
    CHECK(xlen_in_db(redis, 3, "ml_events") == 7);
    CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 7));  // still on db 3
  }
  SECTION("db = 5 overrides /3") {
    auto options = sinkit::fast_options(server.url() + "/3");
    options.connection.db = 5;
    RedisSink sink(options);
    emit_and_flush(sink, 7);
    CHECK(xlen_in_db(redis, 3, "ml_events") == 0);
    CHECK(xlen_in_db(redis, 5, "ml_events") == 7);
  }
  SECTION("a database the server does not have is a clear, counted failure") {
    RedisSink sink(sinkit::fast_options(server.url() + "/99"));
    sink.handle(sinkit::numbered_event(0, 0));
    REQUIRE(eventually([&] { return sink.circuit_breaker().state == BreakerState::open; }));
    const auto error = sink.stats().last_error;
    INFO("last_error: " << error);
    CHECK(error.find("SELECT 99") != std::string::npos);
    CHECK(sink.stats().delivered == 0);
  }
}

TEST_CASE("RedisSink authenticates as an ACL user", "[redis_sink_it]") {
  // Characters that need percent-encoding in a URL, and a default user that is not the sink's.
  const std::string password = "p@ss:w/rd%1";
  RedisServerOptions server_options;
  server_options.requirepass = "default-pass";
  server_options.acl_users = {"alice on >" + password + " ~* &* +@all"};
  RedisServer server(server_options);
  DirectRedis redis = DirectRedis::tcp(server.port(), "default-pass");

  auto options = sinkit::fast_options(server.url());
  SECTION("username and password fields") {
    options.connection.username = "alice";
    options.connection.password = password;
  }
  SECTION("credentials in the URL, percent-encoded") {
    options.connection.url =
        "redis://alice:p%40ss%3Aw%2Frd%251@127.0.0.1:" + std::to_string(server.port());
  }
  SECTION("username with auth_token (the cloud guides' name for the password)") {
    options.connection.username = "alice";
    options.connection.auth_token = password;
  }
  options.connection.client_name = "acl-sink";
  RedisSink sink(options);
  emit_and_flush(sink, 5);
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 5));
  const std::string line = client_line(redis, "acl-sink");
  INFO(line);
  CHECK(line.find(" user=alice ") != std::string::npos);
}

TEST_CASE("RedisSinkOptions::from_env drives a real sink", "[redis_sink_it]") {
  RedisServerOptions server_options;
  server_options.requirepass = "env-pass";
  server_options.acl_users = {"envuser on >env-user-pass ~* &* +@all"};
  RedisServer server(server_options);
  DirectRedis redis = DirectRedis::tcp(server.port(), "env-pass");

  SECTION("REDIS_URL, REDIS_PASSWORD and the STREAMLL_ stream settings") {
    const auto options = RedisSinkOptions::from_env(sinkit::env_from({
        {"REDIS_URL", server.url() + "/2"},
        {"REDIS_PASSWORD", "env-pass"},
        {"REDIS_CONNECT_TIMEOUT_MS", "500"},
        {"REDIS_SOCKET_TIMEOUT_MS", "500"},
        {"STREAMLL_STREAM_KEY", "env_events"},
        {"STREAMLL_BUFFER_SIZE", "5000"},
        {"STREAMLL_CIRCUIT_BREAKER", "false"},
        {"STREAMLL_MAX_BATCH_SIZE", "50"},
        {"STREAMLL_FLUSH_INTERVAL_MS", "50"},
        {"STREAMLL_MAX_STREAM_LENGTH", "100"},
        {"STREAMLL_APPROXIMATE_TRIMMING", "false"},
        {"STREAMLL_INDEX_FIELDS", "true"},
        {"STREAMLL_CONSUMER_GROUP", "env_group"},
        {"STREAMLL_CONSUMER_NAME", "env-producer"},
        {"STREAMLL_SHUTDOWN_TIMEOUT_MS", "1000"},
    }));
    RedisSink sink(options);
    CHECK(sink.options().buffer_size == 5000);
    CHECK(sink.options().max_batch_size == 50);
    CHECK_FALSE(sink.options().circuit_breaker);
    emit_and_flush(sink, 300);

    CHECK(xlen_in_db(redis, 0, "env_events") == 0);
    CHECK(xlen_in_db(redis, 2, "env_events") == 100);  // exact MAXLEN 100
    CHECK(sinkit::delivered_indices(redis, "env_events") == sinkit::iota_vector(200, 300));
    const auto entries = redis.xrange("env_events", "-", "+");
    REQUIRE(entries.front().field("event_type") != nullptr);
    CHECK(*entries.front().field("event_type") == "token");
    const auto groups = redis.command({"XINFO", "GROUPS", "env_events"});
    REQUIRE(groups->type == REDIS_REPLY_ARRAY);
    CHECK(groups->elements == 1);
    CHECK_FALSE(client_line(redis, "env-producer").empty());
    // Batches of 50: 300 events cannot have taken fewer than 6 round trips.
    CHECK(sink.stats().round_trips >= 6);
  }

  SECTION(
      "REDIS_USERNAME, REDIS_AUTH_TOKEN, REDIS_DB; explicit settings win over the environment") {
    auto options = RedisSinkOptions::from_env(sinkit::env_from({
        {"REDIS_URL", server.url()},
        {"REDIS_USERNAME", "envuser"},
        {"REDIS_AUTH_TOKEN", "env-user-pass"},
        {"REDIS_DB", "4"},
        {"STREAMLL_STREAM_KEY", "env_events"},
    }));
    options.stream_key = "explicit_events";
    options.connection.client_name = "env-acl";
    RedisSink sink(options);
    emit_and_flush(sink, 5);
    CHECK(xlen_in_db(redis, 4, "env_events") == 0);
    CHECK(xlen_in_db(redis, 4, "explicit_events") == 5);
    CHECK(client_line(redis, "env-acl").find(" user=envuser ") != std::string::npos);
  }

  SECTION("the process environment, when no lookup is given") {
    // No other thread reads the environment while this test runs (no sink is alive yet).
    ::setenv("REDIS_URL", (server.url() + "/6").c_str(), 1);
    ::setenv("REDIS_PASSWORD", "env-pass", 1);
    ::setenv("STREAMLL_STREAM_KEY", "process_env_events", 1);
    const auto options = RedisSinkOptions::from_env();
    ::unsetenv("REDIS_URL");
    ::unsetenv("REDIS_PASSWORD");
    ::unsetenv("STREAMLL_STREAM_KEY");
    RedisSink sink(options);
    emit_and_flush(sink, 3);
    CHECK(xlen_in_db(redis, 6, "process_env_events") == 3);
  }
}

TEST_CASE("RedisSinkOptions::from_env sets the buffer and breaker of a sink whose Redis is down",
          "[redis_sink_it]") {
  RedisServer server;
  server.kill9();  // connections to its port are refused
  const std::map<std::string, std::string> base = {
      {"REDIS_URL", server.url()},
      {"REDIS_CONNECT_TIMEOUT_MS", "200"},
      {"STREAMLL_BUFFER_SIZE", "5"},
      {"STREAMLL_MAX_BATCH_SIZE", "5"},
      {"STREAMLL_BUFFER_OVERFLOW_STRATEGY", "drop_newest"},
      {"STREAMLL_FAILURE_THRESHOLD", "1"},
      {"STREAMLL_RECOVERY_TIMEOUT_MS", "60000"},
      {"STREAMLL_SHUTDOWN_TIMEOUT_MS", "100"},
  };

  SECTION(
      "STREAMLL_CIRCUIT_BREAKER=true: open after STREAMLL_FAILURE_THRESHOLD failures, for the "
      "recovery timeout") {
    auto env = base;
    env["STREAMLL_CIRCUIT_BREAKER"] = "true";
    RedisSink sink(RedisSinkOptions::from_env(sinkit::env_from(env)));
    for (int i = 0; i < 8; ++i) sink.handle(sinkit::numbered_event(0, i));
    CHECK(sink.stats().dropped_newest == 3);  // STREAMLL_BUFFER_SIZE=5, drop_newest
    REQUIRE(eventually([&] { return sink.circuit_breaker().state == BreakerState::open; }));
    CHECK(sink.circuit_breaker().failure_count == 1);
    CHECK(sink.circuit_breaker().next_attempt_in > 30s);
  }
  SECTION("STREAMLL_CIRCUIT_BREAKER=false: keeps retrying, never opens") {
    auto env = base;
    env["STREAMLL_CIRCUIT_BREAKER"] = "false";
    env["STREAMLL_BUFFER_OVERFLOW_STRATEGY"] = "raise_error";
    RedisSink sink(RedisSinkOptions::from_env(sinkit::env_from(env)));
    for (int i = 0; i < 5; ++i) sink.handle(sinkit::numbered_event(0, i));
    CHECK_THROWS_AS(sink.handle(sinkit::numbered_event(0, 5)), streamll::BufferOverflowError);
    REQUIRE(eventually([&] { return sink.stats().transport_errors >= 3; }));
    CHECK(sink.circuit_breaker().state == BreakerState::closed);
    CHECK(sink.circuit_breaker().failure_count >= 3);
  }
}

namespace {

// Whether this machine has an IPv6 loopback to bind to (containers without IPv6 have none).
bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  address.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST_CASE("RedisSink connects to an IPv6 URL ([::1])", "[redis_sink_it]") {
  if (!ipv6_loopback_available()) {
    WARN("no IPv6 loopback on this machine: nothing to connect to");
    return;
  }
  RedisServerOptions server_options;
  server_options.ipv6 = true;
  RedisServer server(server_options);
  auto options = sinkit::fast_options("redis://[::1]:" + std::to_string(server.port()));
  RedisSink sink(options);
  for (int i = 0; i < 10; ++i) sink.handle(sinkit::numbered_event(0, i));
  REQUIRE(sink.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 10));
  // And Redis saw the client come from ::1.
  CHECK(redis.text({"CLIENT", "LIST"}).find("addr=[::1]:") != std::string::npos);
}
