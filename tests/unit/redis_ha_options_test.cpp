// The high-availability options: redis+sentinel:// and redis+cluster:// URLs, the explicit
// Sentinel / Cluster / provider fields and their conflicts, durable acknowledgements, the
// environment, and secrets kept out of to_string().

#include <catch2/catch.hpp>

#include <functional>
#include <map>

#include <streamll/errors.hpp>
#include <streamll/redis/options.hpp>
#include <streamll/redis/url.hpp>

#include "redis/config/connection_target.hpp"

using streamll::ConfigError;
using streamll::parse_redis_url;
using streamll::RedisDeployment;
using streamll::RedisEndpoint;

namespace {

std::string option_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.option();
  }
  return "(no error)";
}

streamll::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("redis+sentinel:// URLs: sentinels, master name, db, the master's credentials",
          "[url][sentinel]") {
  const auto u = parse_redis_url("redis+sentinel://user:p%40ss@s1:26379,s2,[::1]:26381/mymaster/2");
  CHECK(u.deployment == RedisDeployment::sentinel);
  CHECK(u.nodes == std::vector<RedisEndpoint>{
                       {"s1", 26379, false}, {"s2", 26379, false}, {"::1", 26381, false}});
  CHECK(u.host == "s1");
  CHECK(u.master_name == "mymaster");
  CHECK(u.db == 2);
  CHECK(u.username == "user");
  CHECK(u.password == "p@ss");
  CHECK_FALSE(u.tls);
  CHECK(parse_redis_url("rediss+sentinel://s1/m").tls);
  CHECK(parse_redis_url("redis+sentinel://s1/m").db == std::nullopt);

  CHECK_THROWS_WITH(parse_redis_url("redis+sentinel://s1:26379"), Catch::Contains("master's name"));
  CHECK_THROWS_WITH(parse_redis_url("redis+sentinel://s1:26379,/m"), Catch::Contains("empty host"));
  CHECK_THROWS_WITH(parse_redis_url("redis+sentinel://:pw@s1/m/x"),
                    Catch::Contains("database 'x'") && !Catch::Contains("pw@"));
}

TEST_CASE("redis+cluster:// URLs: seed nodes, database 0 only", "[url][cluster]") {
  const auto u = parse_redis_url("rediss+cluster://:token@n1:7000,n2:7001");
  CHECK(u.deployment == RedisDeployment::cluster);
  CHECK(u.tls);
  CHECK(u.nodes == std::vector<RedisEndpoint>{{"n1", 7000, false}, {"n2", 7001, false}});
  CHECK(u.password == "token");
  CHECK(parse_redis_url("redis+cluster://n1").nodes.front().port == 6379);
  CHECK_NOTHROW(parse_redis_url("redis+cluster://n1/0"));
  CHECK_THROWS_WITH(parse_redis_url("redis+cluster://n1/3"), Catch::Contains("only database 0"));
}

TEST_CASE("Several hosts or unknown topologies elsewhere are errors", "[url]") {
  CHECK_THROWS_WITH(parse_redis_url("redis://a:1,b:2"), Catch::Contains("several hosts"));
  CHECK_THROWS_WITH(parse_redis_url("redis+replica://a"), Catch::Contains("unknown scheme"));
  CHECK_THROWS_WITH(parse_redis_url("unix+cluster:///tmp/s"), Catch::Contains("unknown scheme"));
  CHECK(streamll::redact_redis_url("redis+sentinel://u:secret@s1,s2/m") ==
        "redis+sentinel://u:***@s1,s2/m");
}

TEST_CASE("parse_redis_endpoint", "[endpoint]") {
  using streamll::parse_redis_endpoint;
  CHECK(parse_redis_endpoint("h", 26379, "x") == RedisEndpoint{"h", 26379, false});
  CHECK(parse_redis_endpoint("h:1", 26379, "x") == RedisEndpoint{"h", 1, false});
  CHECK(parse_redis_endpoint("[::1]:7", 26379, "x") == RedisEndpoint{"::1", 7, false});
  CHECK(parse_redis_endpoint("[::1]", 26379, "x").port == 26379);
  CHECK(option_of([] { parse_redis_endpoint("", 1, "sentinels"); }) == "sentinels");
  CHECK_THROWS_WITH(parse_redis_endpoint("::1:5", 1, "x"), Catch::Contains("without brackets"));
  CHECK_THROWS_WITH(parse_redis_endpoint("h:0", 1, "x"), Catch::Contains("1..65535"));
  CHECK_THROWS_WITH(parse_redis_endpoint("h:65536", 1, "x"), Catch::Contains("1..65535"));
  CHECK_THROWS_WITH(parse_redis_endpoint("h:", 1, "x"), Catch::Contains("empty port"));
  CHECK(RedisEndpoint{"::1", 7, false}.to_string() == "[::1]:7");
  CHECK(RedisEndpoint{"h", 7, false}.to_string() == "h:7");
}

TEST_CASE("Sentinel, Cluster and provider options: merged and checked",
          "[options][sentinel][cluster]") {
  using streamll::redis::resolve_connection;
  streamll::RedisConnectionOptions o;
  SECTION("explicit sentinel fields win over the URL's") {
    o.url = "redis+sentinel://s1:1/from_url";
    o.sentinels = {"s9:9", "s8"};
    o.sentinel_master = "explicit";
    const auto t = resolve_connection(o);
    CHECK(t.deployment == RedisDeployment::sentinel);
    CHECK(t.nodes == std::vector<RedisEndpoint>{{"s9", 9, false}, {"s8", 26379, false}});
    CHECK(t.master_name == "explicit");
  }
  SECTION("one without the other") {
    o.sentinels = {"s1"};
    CHECK(option_of([&] { o.validate(); }) == "sentinel_master");
    o.sentinels.clear();
    o.sentinel_master = "m";
    CHECK(option_of([&] { o.validate(); }) == "sentinels");
  }
  SECTION("a malformed sentinel address names the option") {
    o.sentinels = {"s1:notaport"};
    o.sentinel_master = "m";
    CHECK(option_of([&] { o.validate(); }) == "sentinels");
  }
  SECTION("at most one way of finding the server") {
    o.url = "redis+sentinel://s1/m";
    o.cluster = true;
    CHECK(option_of([&] { o.validate(); }) == "cluster");
    o.cluster.reset();
    o.endpoint_provider = [](const streamll::EndpointRequest&) {
      return RedisEndpoint{"h", 1, false};
    };
    CHECK(option_of([&] { o.validate(); }) == "endpoint_provider");
    o.url = "redis+cluster://n1";
    CHECK(option_of([&] { o.validate(); }) == "endpoint_provider");
  }
  SECTION("cluster") {
    o.url = "redis://seed:7000";
    o.cluster = true;
    const auto t = resolve_connection(o);
    CHECK(t.deployment == RedisDeployment::cluster);
    CHECK(t.nodes == std::vector<RedisEndpoint>{{"seed", 7000, false}});
    o.db = 1;
    CHECK(option_of([&] { o.validate(); }) == "db");
    o.db.reset();
    o.url = "redis+cluster://n1";
    o.cluster = false;
    CHECK(option_of([&] { o.validate(); }) == "cluster");
  }
  SECTION("none of them over a unix socket") {
    o.url = "unix:///tmp/redis.sock";
    o.cluster = true;
    CHECK(option_of([&] { o.validate(); }) == "cluster");
  }
  SECTION("sentinel_username needs sentinel_password") {
    o.url = "redis+sentinel://s1/m";
    o.sentinel_username = "watcher";
    CHECK(option_of([&] { o.validate(); }) == "sentinel_username");
  }
  SECTION("the target aimed at an endpoint keeps credentials, follows the host for TLS") {
    o.url = "rediss://:pw@original:6380/3";
    o.ssl_cert_reqs = streamll::SslCertReqs::none;
    const auto t = resolve_connection(o).at(RedisEndpoint{"promoted", 6390, true});
    CHECK(t.host == "promoted");
    CHECK(t.port == 6390);
    CHECK(t.password == "pw");
    CHECK(t.db == 3);
    CHECK(t.tls);
    CHECK(t.server_name == "promoted");
    CHECK(t.display == "promoted:6390");
    o.ssl_server_name = "cache.example.com";
    CHECK(resolve_connection(o).at(RedisEndpoint{"promoted", 1, false}).server_name ==
          "cache.example.com");
  }
}

TEST_CASE("Durable acknowledgement options", "[options][wait]") {
  streamll::RedisSinkOptions o;
  CHECK(o.min_replicas_ack == 0);
  CHECK(o.replicas_ack_timeout == std::chrono::milliseconds(1000));
  o.min_replicas_ack = 1;
  o.replicas_ack_timeout = std::chrono::milliseconds(0);
  CHECK(option_of([&] { o.validate(); }) == "replicas_ack_timeout");
  o.min_replicas_ack = 0;
  CHECK_NOTHROW(o.validate());  // the timeout does not matter without WAIT
}

TEST_CASE("HA options from the environment", "[options][env]") {
  SECTION("sentinels") {
    const auto o =
        streamll::RedisSinkOptions::from_env(env_of({{"REDIS_SENTINELS", "s1:26379, s2"},
                                                     {"REDIS_SENTINEL_MASTER", "mymaster"},
                                                     {"REDIS_SENTINEL_PASSWORD", "sp"},
                                                     {"STREAMLL_MIN_REPLICAS_ACK", "1"},
                                                     {"STREAMLL_REPLICAS_ACK_TIMEOUT_MS", "250"}}));
    CHECK(o.connection.sentinels == std::vector<std::string>{"s1:26379", "s2"});
    CHECK(o.connection.sentinel_master == "mymaster");
    CHECK(o.connection.sentinel_password == "sp");
    CHECK(o.min_replicas_ack == 1);
    CHECK(o.replicas_ack_timeout == std::chrono::milliseconds(250));
    CHECK_NOTHROW(o.validate());
    CHECK(option_of([] {
            streamll::RedisSinkOptions::from_env(env_of({{"REDIS_SENTINELS", "s1,,s2"}}));
          }) == "REDIS_SENTINELS");
    CHECK(option_of([] {
            streamll::RedisSinkOptions::from_env(env_of({{"REDIS_SENTINELS", "s1:x"}}));
          }) == "REDIS_SENTINELS");
  }
  SECTION("the guide's ElastiCache cluster endpoint") {
    const auto o = streamll::RedisSinkOptions::from_env(
        env_of({{"REDIS_CLUSTER_ENDPOINT", "my-cluster.abc123.cache.amazonaws.com:6379"},
                {"REDIS_AUTH_TOKEN", "tok"}}));
    CHECK(o.connection.url == "redis://my-cluster.abc123.cache.amazonaws.com:6379");
    CHECK(o.connection.cluster == true);
    CHECK(o.connection.environment.auth_token ==
          "tok");  // a fallback under the URL's and the fields
    CHECK(option_of([] {
            streamll::RedisSinkOptions::from_env(
                env_of({{"REDIS_CLUSTER_ENDPOINT", "h:1"}, {"REDIS_URL", "redis://x"}}));
          }) == "REDIS_CLUSTER_ENDPOINT");
    CHECK(streamll::RedisSinkOptions::from_env(env_of({{"REDIS_CLUSTER", "yes"}}))
              .connection.cluster == true);
  }
}

TEST_CASE("to_string shows the HA options and hides the sentinel password", "[options]") {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis+sentinel://:master-secret@s1,s2/m";
  o.connection.sentinel_password = "sentinel-secret";
  o.min_replicas_ack = 2;
  const std::string text = streamll::to_string(o);
  CHECK_THAT(text, Catch::Contains("sentinel_password=***"));
  CHECK_THAT(text, Catch::Contains("url=redis+sentinel://:***@s1,s2/m"));
  CHECK_THAT(text, Catch::Contains("min_replicas_ack=2"));
  CHECK_THAT(text, Catch::Contains("cluster=(from url)"));
  CHECK_THAT(text, !Catch::Contains("secret"));
}
