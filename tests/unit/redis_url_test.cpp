#include <catch2/catch.hpp>

#include <string>

#include "streamll/errors.hpp"
#include "streamll/redis/options.hpp"
#include "streamll/redis/url.hpp"

using streamll::ConfigError;
using streamll::parse_redis_url;
using streamll::redact_redis_url;

namespace {

// The ConfigError message for `url`; fails the test when parsing succeeds.
std::string parse_error(const std::string& url) {
  try {
    parse_redis_url(url);
  } catch (const ConfigError& e) {
    CHECK(e.option() == "url");
    return e.what();
  }
  FAIL("no ConfigError for " << url);
  return {};
}

}  // namespace

TEST_CASE("redis URL: host, port, db and defaults", "[redis_url]") {
  auto u = parse_redis_url("redis://localhost");
  CHECK_FALSE(u.tls);
  CHECK(u.host == "localhost");
  CHECK(u.port == 6379);
  CHECK_FALSE(u.db.has_value());
  CHECK(u.username.empty());
  CHECK(u.password.empty());
  CHECK_FALSE(u.is_unix_socket());

  u = parse_redis_url("redis://prod-redis:6380/3");
  CHECK(u.host == "prod-redis");
  CHECK(u.port == 6380);
  REQUIRE(u.db.has_value());
  CHECK(*u.db == 3);

  u = parse_redis_url("redis://127.0.0.1:6379/");
  CHECK(u.host == "127.0.0.1");
  CHECK_FALSE(u.db.has_value());

  u = parse_redis_url("redis://h?db=7");
  REQUIRE(u.db.has_value());
  CHECK(*u.db == 7);

  u = parse_redis_url("redis://h:1/2147483647");
  CHECK(u.port == 1);
  CHECK(*u.db == 2147483647);

  CHECK(parse_redis_url("redis://h:65535").port == 65535);
}

TEST_CASE("redis URL: credentials are split and percent-decoded", "[redis_url]") {
  auto u = parse_redis_url("redis://alice:s3cret@cache:6379/1");
  CHECK(u.username == "alice");
  CHECK(u.password == "s3cret");
  CHECK(u.host == "cache");
  CHECK(*u.db == 1);

  u = parse_redis_url("redis://:onlypass@cache");
  CHECK(u.username.empty());
  CHECK(u.password == "onlypass");

  u = parse_redis_url("redis://bob@cache");
  CHECK(u.username == "bob");
  CHECK(u.password.empty());

  u = parse_redis_url("redis://us%40er:p%40ss%3Aw%2Fo%25rd@cache");
  CHECK(u.username == "us@er");
  CHECK(u.password == "p@ss:w/o%rd");

  // A raw '@' in the password: the last '@' of the authority ends the userinfo.
  u = parse_redis_url("redis://:p@ss@cache:7000");
  CHECK(u.password == "p@ss");
  CHECK(u.host == "cache");
  CHECK(u.port == 7000);

  u = parse_redis_url("redis://cache?username=carol&password=x%26y");
  CHECK(u.username == "carol");
  CHECK(u.password == "x&y");
}

TEST_CASE("redis URL: rediss:// means TLS on the same default port", "[redis_url]") {
  auto u = parse_redis_url("rediss://my-cache.redis.cache.windows.net:6380");
  CHECK(u.tls);
  CHECK(u.port == 6380);
  CHECK(parse_redis_url("rediss://h").port == 6379);
}

TEST_CASE("redis URL: IPv6 hosts in brackets", "[redis_url]") {
  auto u = parse_redis_url("redis://[::1]:6380/2");
  CHECK(u.host == "::1");
  CHECK(u.port == 6380);
  CHECK(*u.db == 2);
  u = parse_redis_url("redis://user:pw@[fe80::1%25eth0]");
  CHECK(u.host == "fe80::1%eth0");
  CHECK(u.port == 6379);
  CHECK(u.password == "pw");
}

TEST_CASE("redis URL: unix sockets with db and password parameters", "[redis_url]") {
  auto u = parse_redis_url("unix:///var/run/redis/redis.sock");
  CHECK(u.is_unix_socket());
  CHECK(u.socket_path == "/var/run/redis/redis.sock");
  CHECK(u.host.empty());
  CHECK_FALSE(u.db.has_value());

  u = parse_redis_url("unix:///tmp/r.sock?db=4&password=p%20w");
  CHECK(u.socket_path == "/tmp/r.sock");
  CHECK(*u.db == 4);
  CHECK(u.password == "p w");

  u = parse_redis_url("unix://dave:pw@/tmp/r.sock");
  CHECK(u.username == "dave");
  CHECK(u.password == "pw");
  CHECK(u.socket_path == "/tmp/r.sock");
}

TEST_CASE("redis URL: malformed URLs give a clear ConfigError", "[redis_url]") {
  CHECK_THAT(parse_error("localhost:6379"), Catch::Contains("missing scheme"));
  CHECK_THAT(parse_error("http://localhost"), Catch::Contains("unknown scheme 'http'"));
  CHECK_THAT(parse_error("redis://"), Catch::Contains("empty host"));
  CHECK_THAT(parse_error("redis://:6379"), Catch::Contains("empty host"));
  CHECK_THAT(parse_error("redis://user:pw@"), Catch::Contains("empty host"));
  CHECK_THAT(parse_error("redis://h:abc"), Catch::Contains("port 'abc'"));
  CHECK_THAT(parse_error("redis://h:0"), Catch::Contains("port '0'"));
  CHECK_THAT(parse_error("redis://h:65536"), Catch::Contains("port '65536'"));
  CHECK_THAT(parse_error("redis://h:-1"), Catch::Contains("1..65535"));
  CHECK_THAT(parse_error("redis://h:"), Catch::Contains("port ''"));
  CHECK_THAT(parse_error("redis://h/x"), Catch::Contains("database 'x'"));
  CHECK_THAT(parse_error("redis://h/-1"), Catch::Contains("database '-1'"));
  CHECK_THAT(parse_error("redis://h/99999999999"), Catch::Contains("not a non-negative integer"));
  CHECK_THAT(parse_error("redis://h?db=x"), Catch::Contains("database 'x'"));
  CHECK_THAT(parse_error("redis://[::1:6379"), Catch::Contains("unterminated '['"));
  CHECK_THAT(parse_error("redis://[::1]x"), Catch::Contains("after the IPv6 host"));
  CHECK_THAT(parse_error("redis://::1:6379"), Catch::Contains("must be in brackets"));
  CHECK_THAT(parse_error("redis://us%zzer@h"),
             Catch::Contains("bad percent escape in the user name"));
  CHECK_THAT(parse_error("redis://h?timeout=3"),
             Catch::Contains("unknown query parameter 'timeout'"));
  CHECK_THAT(parse_error("redis://h#frag"), Catch::Contains("fragments"));
  CHECK_THAT(parse_error("unix://"), Catch::Contains("socket path"));
  CHECK_THAT(parse_error("unix:///"), Catch::Contains("empty unix socket path"));
  CHECK_THAT(parse_error("unix://relative.sock"), Catch::Contains("absolute socket path"));
  CHECK_THAT(parse_error("unix://host/tmp/r.sock"), Catch::Contains("unix:///path"));
}

TEST_CASE("redis URL: errors and redaction never show the password", "[redis_url]") {
  const std::string secret = "Sup3rS3cret";
  for (const std::string& url :
       {"redis://u:" + secret + "@h:notaport", "redis://:" + secret + "@[::1",
        "redis://u:" + secret + "%zz@h", "redis://u:" + secret + "@h/bad",
        "ftp://u:" + secret + "@h", "unix:///s?password=" + secret + "&db=x",
        "redis://:" + secret + "/with/slash@h:x"}) {
    const std::string message = parse_error(url);
    CHECK_THAT(message, !Catch::Contains(secret));
    CHECK_THAT(message, Catch::Contains("***"));
  }
  // Raw delimiters inside the password, with and without a user name: refused, never quoted.
  for (const std::string& password :
       {"pa#" + secret, "pa?" + secret, secret + "/word", "a/b?c#" + secret}) {
    for (const std::string& url :
         {"redis://:" + password + "@h", "redis://alice:" + password + "@h:6379/1",
          "rediss://alice:" + password + "@h", "unix://alice:" + password + "@/tmp/r.sock"}) {
      INFO(url);
      const std::string message = parse_error(url);
      CHECK_THAT(message, !Catch::Contains(secret));
      CHECK_THAT(message, Catch::Contains("percent-encode"));
      CHECK_THAT(redact_redis_url(url), !Catch::Contains(secret));
      streamll::RedisConnectionOptions options;
      options.url = url;
      CHECK_THAT(streamll::to_string(options), !Catch::Contains(secret));
    }
  }
  // A raw '@' in a query value makes the part before it look like a user name: refused rather
  // than silently connecting elsewhere, and a password there is still hidden.
  CHECK_THAT(parse_error("redis://h?username=bob@corp"), Catch::Contains("%40"));
  CHECK_THAT(parse_error("redis://h?password=" + secret + "@x"), !Catch::Contains(secret));
  CHECK_THAT(redact_redis_url("redis://h?password=p@" + secret), !Catch::Contains(secret));
  // Percent-encoded, the same passwords are fine.
  CHECK(streamll::parse_redis_url("redis://alice:pa%23s%3Fs%2Fw@h").password == "pa#s?s/w");
  CHECK(redact_redis_url("redis://alice:" + secret + "@h:1/2") == "redis://alice:***@h:1/2");
  CHECK(redact_redis_url("redis://:" + secret + "@h") == "redis://:***@h");
  CHECK(redact_redis_url("unix:///s.sock?db=1&password=" + secret) ==
        "unix:///s.sock?db=1&password=***");
  CHECK(redact_redis_url("redis://h:6379/0") == "redis://h:6379/0");
  CHECK(redact_redis_url("redis://alice@h") == "redis://alice@h");
}
