#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <string>

#include "redis/config/connection_target.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/options.hpp"

using namespace std::chrono_literals;
using streamll::ConfigError;
using streamll::OverflowStrategy;
using streamll::RedisConnectionOptions;
using streamll::RedisSinkOptions;
using streamll::SslCertReqs;

namespace {

const std::string kSecret = "Pa55-w0rd-XYZ";

streamll::EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// The ConfigError thrown by `f`; fails the test when none is.
ConfigError config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("no ConfigError thrown");
  throw std::logic_error("unreachable");
}

ConfigError validate_error(const RedisSinkOptions& o) {
  return config_error([&] { o.validate(); });
}

}  // namespace

TEST_CASE("redis options: defaults are the guide's", "[redis_options]") {
  const RedisSinkOptions o;
  CHECK(o.connection.url == "redis://localhost:6379");
  CHECK(o.connection.username.empty());
  CHECK(o.connection.password.empty());
  CHECK(o.connection.auth_token.empty());
  CHECK_FALSE(o.connection.db.has_value());
  CHECK_FALSE(o.connection.ssl.has_value());
  CHECK(o.connection.ssl_cert_reqs == SslCertReqs::required);
  CHECK(o.connection.connect_timeout == 2s);
  CHECK(o.connection.socket_timeout == 2s);
  CHECK(o.connection.max_connections == 1);
  CHECK(o.stream_key == "ml_events");
  CHECK(o.buffer_size == 10000);
  CHECK(o.circuit_breaker);
  CHECK(o.failure_threshold == 3);
  CHECK(o.recovery_timeout == 30s);
  CHECK(o.max_batch_size == 100);
  CHECK(o.flush_interval == 1s);
  REQUIRE(o.max_stream_length.has_value());
  CHECK(*o.max_stream_length == 1000000);
  CHECK(o.approximate_trimming);
  CHECK(o.buffer_overflow_strategy == OverflowStrategy::drop_oldest);
  CHECK(o.consumer_group.empty());
  CHECK(o.consumer_name.empty());
  CHECK_FALSE(o.index_fields);
  CHECK(o.shutdown_timeout == 5s);
  CHECK_NOTHROW(o.validate());

  // The guide's production settings, in C++.
  RedisSinkOptions prod;
  prod.connection.url = "redis://prod-redis:6379";
  prod.buffer_size = 50000;
  prod.failure_threshold = 5;
  prod.recovery_timeout = std::chrono::seconds(60);
  prod.max_batch_size = 500;
  prod.flush_interval = 1500ms;
  CHECK_NOTHROW(prod.validate());
}

TEST_CASE("redis options: max_connections above one is refused with the reason",
          "[redis_options]") {
  // The guide's max_connections=20 would be a pool the sink never uses: refused, not ignored.
  RedisSinkOptions o;
  o.connection.max_connections = 20;
  const auto e = validate_error(o);
  CHECK(e.option() == "max_connections");
  CHECK_THAT(e.what(), Catch::Contains("must be 1, got 20") && Catch::Contains("one connection"));
  const auto from_env = config_error([] {
    RedisSinkOptions::from_env(fake_env({{"REDIS_MAX_CONNECTIONS", "20"}}));
  });
  CHECK(from_env.option() == "REDIS_MAX_CONNECTIONS");
  CHECK_THAT(from_env.what(), Catch::Contains("must be 1, got 20"));
  CHECK(RedisSinkOptions::from_env(fake_env({{"REDIS_MAX_CONNECTIONS", "1"}}))
            .connection.max_connections == 1);
}

TEST_CASE("redis options: an empty environment gives the defaults", "[redis_options]") {
  const auto o = RedisSinkOptions::from_env(fake_env({}));
  CHECK(to_string(o) == to_string(RedisSinkOptions{}));
}

TEST_CASE("redis options: from_env reads every documented variable", "[redis_options]") {
  const auto o = RedisSinkOptions::from_env(fake_env({
      {"REDIS_URL", "rediss://cache:6380/2"},
      {"REDIS_USERNAME", "alice"},
      {"REDIS_PASSWORD", kSecret},
      {"REDIS_AUTH_TOKEN", kSecret},
      {"REDIS_DB", "5"},
      {"REDIS_SSL", "yes"},
      {"REDIS_SSL_CERT_REQS", "optional"},
      {"REDIS_SSL_CA_FILE", "/ca.pem"},
      {"REDIS_SSL_CA_DIR", "/cas"},
      {"REDIS_SSL_CERT_FILE", "/client.pem"},
      {"REDIS_SSL_KEY_FILE", "/client.key"},
      {"REDIS_SSL_SERVER_NAME", "cache.internal"},
      {"REDIS_CONNECT_TIMEOUT_MS", "1500"},
      {"REDIS_SOCKET_TIMEOUT_MS", "250"},
      {"REDIS_MAX_CONNECTIONS", "1"},
      {"STREAMLL_STREAM_KEY", "ml_events_prod"},
      {"STREAMLL_BUFFER_SIZE", "100000"},
      {"STREAMLL_CIRCUIT_BREAKER", "FALSE"},
      {"STREAMLL_FAILURE_THRESHOLD", "7"},
      {"STREAMLL_RECOVERY_TIMEOUT_MS", "15000"},
      {"STREAMLL_MAX_BATCH_SIZE", "250"},
      {"STREAMLL_FLUSH_INTERVAL_MS", "500"},
      {"STREAMLL_MAX_STREAM_LENGTH", "100000"},
      {"STREAMLL_APPROXIMATE_TRIMMING", "off"},
      {"STREAMLL_BUFFER_OVERFLOW_STRATEGY", "raise_error"},
      {"STREAMLL_CONSUMER_GROUP", "ml_processors"},
      {"STREAMLL_CONSUMER_NAME", "producer_app"},
      {"STREAMLL_INDEX_FIELDS", "1"},
      {"STREAMLL_SHUTDOWN_TIMEOUT_MS", "2500"},
  }));
  CHECK(o.connection.url == "rediss://cache:6380/2");
  CHECK(o.connection.environment.username == "alice");
  CHECK(o.connection.environment.password == kSecret);
  CHECK(o.connection.environment.auth_token == kSecret);
  CHECK(o.connection.environment.db == 5);
  CHECK(o.connection.environment.ssl == true);
  CHECK(o.connection.username.empty());  // the fields stay the user's to set
  CHECK(o.connection.password.empty());
  CHECK(o.connection.ssl_cert_reqs == SslCertReqs::optional);
  CHECK(o.connection.ssl_ca_file == "/ca.pem");
  CHECK(o.connection.ssl_ca_dir == "/cas");
  CHECK(o.connection.ssl_cert_file == "/client.pem");
  CHECK(o.connection.ssl_key_file == "/client.key");
  CHECK(o.connection.ssl_server_name == "cache.internal");
  CHECK(o.connection.connect_timeout == 1500ms);
  CHECK(o.connection.socket_timeout == 250ms);
  CHECK(o.connection.max_connections == 1);
  CHECK(o.stream_key == "ml_events_prod");
  CHECK(o.buffer_size == 100000);
  CHECK_FALSE(o.circuit_breaker);
  CHECK(o.failure_threshold == 7);
  CHECK(o.recovery_timeout == 15s);
  CHECK(o.max_batch_size == 250);
  CHECK(o.flush_interval == 500ms);
  CHECK(o.max_stream_length == std::size_t{100000});
  CHECK_FALSE(o.approximate_trimming);
  CHECK(o.buffer_overflow_strategy == OverflowStrategy::raise_error);
  CHECK(o.consumer_group == "ml_processors");
  CHECK(o.consumer_name == "producer_app");
  CHECK(o.index_fields);
  CHECK(o.shutdown_timeout == 2500ms);
}

TEST_CASE("redis options: connection from_env ignores the sink variables", "[redis_options]") {
  const auto o = RedisConnectionOptions::from_env(fake_env({
      {"REDIS_URL", "redis://other:7000"},
      {"STREAMLL_STREAM_KEY", "ignored"},
  }));
  CHECK(o.url == "redis://other:7000");
}

TEST_CASE("redis options: booleans accept the usual spellings in any case", "[redis_options]") {
  for (const char* yes : {"true", "TRUE", "True", "1", "yes", "YES", "on"}) {
    CHECK(
        RedisSinkOptions::from_env(fake_env({{"STREAMLL_CIRCUIT_BREAKER", yes}})).circuit_breaker);
  }
  for (const char* no : {"false", "False", "0", "no", "No", "off"}) {
    CHECK_FALSE(
        RedisSinkOptions::from_env(fake_env({{"STREAMLL_CIRCUIT_BREAKER", no}})).circuit_breaker);
  }
  const auto e = config_error([] {
    RedisSinkOptions::from_env(fake_env({{"STREAMLL_CIRCUIT_BREAKER", "maybe"}}));
  });
  CHECK(e.option() == "STREAMLL_CIRCUIT_BREAKER");
  CHECK_THAT(e.what(), Catch::Contains("'maybe'"));
}

TEST_CASE("redis options: malformed variables name the variable and the value", "[redis_options]") {
  const std::map<std::string, std::string> bad = {
      {"STREAMLL_BUFFER_SIZE", "lots"},
      {"STREAMLL_BUFFER_SIZE", "-5"},
      {"STREAMLL_MAX_BATCH_SIZE", "1e3"},
      {"STREAMLL_FLUSH_INTERVAL_MS", "0.5"},
      {"STREAMLL_FAILURE_THRESHOLD", "three"},
      {"STREAMLL_RECOVERY_TIMEOUT_MS", "30s"},
      {"STREAMLL_MAX_STREAM_LENGTH", "big"},
      {"STREAMLL_APPROXIMATE_TRIMMING", "2"},
      {"STREAMLL_BUFFER_OVERFLOW_STRATEGY", "drop_all"},
      {"STREAMLL_INDEX_FIELDS", "y"},
      {"STREAMLL_SHUTDOWN_TIMEOUT_MS", "99999999999999999999"},
      {"REDIS_DB", "x"},
      {"REDIS_DB", "3000000000"},
      {"REDIS_SSL", "sometimes"},
      {"REDIS_SSL_CERT_REQS", "CERT_REQUIRED"},
      {"REDIS_CONNECT_TIMEOUT_MS", "fast"},
      {"REDIS_SOCKET_TIMEOUT_MS", ""},
      {"REDIS_MAX_CONNECTIONS", "many"},
  };
  for (const auto& [name, value] : bad) {
    if (value.empty()) continue;  // empty means unset, covered below
    INFO(name << "=" << value);
    const auto e = config_error([&name = name, &value = value] {
      RedisSinkOptions::from_env(fake_env({{name, value}}));
    });
    CHECK(e.option() == name);
    CHECK_THAT(e.what(), Catch::Contains("'" + value + "'"));
  }
}

TEST_CASE("redis options: empty variables count as unset", "[redis_options]") {
  const auto o = RedisSinkOptions::from_env(fake_env(
      {{"REDIS_URL", ""}, {"STREAMLL_BUFFER_SIZE", ""}, {"STREAMLL_CIRCUIT_BREAKER", ""}}));
  CHECK(o.connection.url == "redis://localhost:6379");
  CHECK(o.buffer_size == 10000);
  CHECK(o.circuit_breaker);
}

TEST_CASE("redis options: STREAMLL_MAX_STREAM_LENGTH none or 0 disables trimming",
          "[redis_options]") {
  CHECK_FALSE(RedisSinkOptions::from_env(fake_env({{"STREAMLL_MAX_STREAM_LENGTH", "none"}}))
                  .max_stream_length);
  CHECK_FALSE(RedisSinkOptions::from_env(fake_env({{"STREAMLL_MAX_STREAM_LENGTH", "0"}}))
                  .max_stream_length);
}

TEST_CASE("redis options: explicit settings win over the environment", "[redis_options]") {
  const auto env = fake_env({{"STREAMLL_STREAM_KEY", "from_env"},
                             {"STREAMLL_BUFFER_SIZE", "500"},
                             {"REDIS_URL", "redis://env-host:6379"}});
  // The documented idiom: start from the environment, then force what the code decides.
  auto o = RedisSinkOptions::from_env(env);
  o.stream_key = "explicit";
  CHECK(o.stream_key == "explicit");
  CHECK(o.buffer_size == 500);  // not set explicitly: the environment's
  CHECK(o.connection.url == "redis://env-host:6379");
  // And nothing reads the environment behind the user's back: plain options stay default.
  CHECK(RedisSinkOptions{}.stream_key == "ml_events");
}

TEST_CASE("redis options: the environment's credentials and db yield to the URL's and the fields'",
          "[redis_options]") {
  const auto env = fake_env({{"REDIS_URL", "redis://env-host:6379"},
                             {"REDIS_USERNAME", "envuser"},
                             {"REDIS_PASSWORD", "envpw"},
                             {"REDIS_DB", "4"},
                             {"REDIS_SSL", "false"}});
  auto o = RedisSinkOptions::from_env(env);
  // Alone, the environment applies (the guide's REDIS_URL + REDIS_PASSWORD).
  auto t = streamll::redis::resolve_connection(o.connection);
  CHECK(t.username == "envuser");
  CHECK(t.password == "envpw");
  CHECK(t.db == 4);
  // A URL assigned afterwards keeps its own password and database...
  o.connection.url = "redis://urluser:urlpw@host/2";
  t = streamll::redis::resolve_connection(o.connection);
  CHECK(t.username == "urluser");
  CHECK(t.password == "urlpw");
  CHECK(t.db == 2);
  // ...REDIS_SSL=false does not fight a rediss:// URL...
  o.connection.url = "rediss://host";
  o.connection.ssl_cert_reqs = SslCertReqs::none;
  t = streamll::redis::resolve_connection(o.connection);
  CHECK(t.tls);
  CHECK(t.password == "envpw");  // nothing in this URL: the environment's again
  // ...and the fields win over both.
  o.connection.password = "fieldpw";
  o.connection.db = 7;
  t = streamll::redis::resolve_connection(o.connection);
  CHECK(t.password == "fieldpw");
  CHECK(t.db == 7);
  // REDIS_SSL=true turns TLS on for a redis:// URL.
  const auto tls =
      RedisSinkOptions::from_env(fake_env({{"REDIS_URL", "redis://h"}, {"REDIS_SSL", "on"}}));
  auto tls_options = tls;
  tls_options.connection.ssl_cert_reqs = SslCertReqs::none;
  CHECK(streamll::redis::resolve_connection(tls_options.connection).tls);
  // Both secret variables set and different: a clear error naming one, quoting neither.
  const auto e = config_error([] {
    RedisSinkOptions::from_env(
        fake_env({{"REDIS_PASSWORD", kSecret}, {"REDIS_AUTH_TOKEN", "other-token"}}));
  });
  CHECK(e.option() == "REDIS_AUTH_TOKEN");
  CHECK_THAT(e.what(), !Catch::Contains(kSecret));
  CHECK_THAT(streamll::to_string(RedisSinkOptions::from_env(env)), !Catch::Contains("envpw"));
}

TEST_CASE("redis options: validate names the option and the bad value", "[redis_options]") {
  struct Case {
    const char* option;
    std::function<void(RedisSinkOptions&)> change;
    const char* shown;
  };
  const Case cases[] = {
      {"stream_key", [](auto& o) { o.stream_key = ""; }, "empty"},
      {"buffer_size", [](auto& o) { o.buffer_size = 0; }, "got 0"},
      {"max_batch_size", [](auto& o) { o.max_batch_size = 0; }, "got 0"},
      {"max_batch_size",
       [](auto& o) {
         o.buffer_size = 50;
         o.max_batch_size = 51;
       },
       "got 51"},
      {"failure_threshold", [](auto& o) { o.failure_threshold = 0; }, "got 0"},
      {"recovery_timeout", [](auto& o) { o.recovery_timeout = 0ms; }, "got 0ms"},
      {"flush_interval", [](auto& o) { o.flush_interval = -5ms; }, "got -5ms"},
      {"shutdown_timeout", [](auto& o) { o.shutdown_timeout = 0ms; }, "got 0ms"},
      {"connect_timeout", [](auto& o) { o.connection.connect_timeout = -1ms; }, "got -1ms"},
      {"socket_timeout", [](auto& o) { o.connection.socket_timeout = 0ms; }, "got 0ms"},
      {"max_stream_length", [](auto& o) { o.max_stream_length = 0; }, "got 0"},
      {"max_connections", [](auto& o) { o.connection.max_connections = 0; }, "got 0"},
      {"db", [](auto& o) { o.connection.db = -1; }, "got -1"},
      {"url", [](auto& o) { o.connection.url = "redis://h:99999"; }, "'99999'"},
      {"url", [](auto& o) { o.connection.url = "mysql://h"; }, "'mysql'"},
      {"ssl",
       [](auto& o) {
         o.connection.url = "rediss://h";
         o.connection.ssl = false;
       },
       "rediss://"},
      {"ssl",
       [](auto& o) {
         o.connection.url = "unix:///tmp/x.sock";
         o.connection.ssl = true;
       },
       "unix socket"},
      {"ssl_ca_file",
       [](auto& o) {
         o.connection.ssl = true;
         o.connection.ssl_ca_file = "/nonexistent/ca.pem";
       },
       "'/nonexistent/ca.pem'"},
      {"ssl_ca_dir",
       [](auto& o) {
         o.connection.url = "rediss://h";
         o.connection.ssl_ca_dir = "/nonexistent/cas";
       },
       "'/nonexistent/cas'"},
      {"ssl_key_file",
       [](auto& o) {
         o.connection.ssl = true;
         o.connection.ssl_cert_file = "/etc/hostname";
       },
       "both"},
      {"ssl_cert_file",
       [](auto& o) {
         o.connection.ssl = true;
         o.connection.ssl_cert_file = "/nonexistent.pem";
         o.connection.ssl_key_file = "/etc/hostname";
       },
       "'/nonexistent.pem'"},
      {"username", [](auto& o) { o.connection.username = "alice"; }, "'alice'"},
      {"client_name", [](auto& o) { o.connection.client_name = "my app"; }, "'my app'"},
  };
  for (const auto& c : cases) {
    RedisSinkOptions o;
    c.change(o);
    const auto e = validate_error(o);
    INFO(e.what());
    CHECK(e.option() == c.option);
    CHECK_THAT(e.what(), Catch::Contains(c.shown));
  }
}

TEST_CASE("redis options: TLS files are only checked when TLS is on and used", "[redis_options]") {
  RedisSinkOptions o;
  o.connection.ssl_ca_file = "/nonexistent/ca.pem";
  CHECK_NOTHROW(o.validate());  // plain redis://: the CA file is never read
  o.connection.ssl = true;
  o.connection.ssl_cert_reqs = SslCertReqs::none;
  CHECK_NOTHROW(o.validate());  // no verification: the CA file is never read
  o.connection.ssl_cert_reqs = SslCertReqs::optional;
  CHECK(validate_error(o).option() == "ssl_ca_file");
}

TEST_CASE("redis options: secrets never appear in errors or to_string", "[redis_options]") {
  RedisSinkOptions o;
  o.connection.url = "redis://alice:" + kSecret + "@cache:6379/1";
  o.connection.password = kSecret;
  o.connection.auth_token = kSecret;
  const std::string text = to_string(o);
  CHECK_THAT(text, !Catch::Contains(kSecret));
  CHECK_THAT(text, Catch::Contains("password=***"));
  CHECK_THAT(text, Catch::Contains("auth_token=***"));
  CHECK_THAT(text, Catch::Contains("url=redis://alice:***@cache:6379/1"));
  CHECK_THAT(to_string(o.connection), !Catch::Contains(kSecret));

  o.connection.auth_token = kSecret + "-other";
  auto e = validate_error(o);
  CHECK(e.option() == "auth_token");
  CHECK_THAT(e.what(), !Catch::Contains(kSecret));

  o.connection.auth_token.clear();
  o.connection.url = "redis://alice:" + kSecret + "@cache:0";
  e = validate_error(o);
  CHECK(e.option() == "url");
  CHECK_THAT(e.what(), !Catch::Contains(kSecret));

  e = config_error([] {
    RedisSinkOptions::from_env(fake_env({{"REDIS_URL", "redis://:" + kSecret + "@h:x"}}))
        .validate();
  });
  CHECK_THAT(e.what(), !Catch::Contains(kSecret));
}

TEST_CASE("redis options: explicit fields win over the URL's parts", "[redis_options]") {
  using streamll::redis::resolve_connection;
  RedisConnectionOptions o;
  o.url = "redis://urluser:urlpass@cache:7000/3";
  auto t = resolve_connection(o);
  CHECK(t.host == "cache");
  CHECK(t.port == 7000);
  CHECK(t.username == "urluser");
  CHECK(t.password == "urlpass");
  CHECK(t.db == 3);
  CHECK_FALSE(t.tls);
  CHECK(t.server_name == "cache");
  CHECK(t.display == "redis://urluser:***@cache:7000/3");

  o.username = "alice";
  o.password = "explicit";
  o.db = 0;
  t = resolve_connection(o);
  CHECK(t.username == "alice");
  CHECK(t.password == "explicit");
  CHECK(t.db == 0);

  o.password.clear();
  o.auth_token = "token";  // the cloud guides' name for the password
  CHECK(resolve_connection(o).password == "token");
  o.password = "token";  // both set, same value: fine
  CHECK(resolve_connection(o).password == "token");

  RedisConnectionOptions tls;
  tls.url = "redis://10.0.0.3:6380";
  tls.ssl = true;  // forces TLS on a redis:// URL (the Azure example)
  tls.ssl_cert_reqs = SslCertReqs::none;
  CHECK(resolve_connection(tls).tls);
  tls.ssl_server_name = "cache.example.com";
  CHECK(resolve_connection(tls).server_name == "cache.example.com");
  tls.url = "rediss://h";
  tls.ssl.reset();
  CHECK(resolve_connection(tls).tls);

  RedisConnectionOptions unix_opts;
  unix_opts.url = "unix:///tmp/r.sock?db=2";
  t = resolve_connection(unix_opts);
  CHECK(t.socket_path == "/tmp/r.sock");
  CHECK(t.db == 2);
}

TEST_CASE("redis options: SslCertReqs names", "[redis_options]") {
  CHECK(streamll::to_string(SslCertReqs::none) == "none");
  CHECK(streamll::to_string(SslCertReqs::optional) == "optional");
  CHECK(streamll::to_string(SslCertReqs::required) == "required");
}
