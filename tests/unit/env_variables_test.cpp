// The STREAMLL_* environment variables: unknown ones are warned about once, and REDIS_URL is
// checked by from_env() itself.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "captured_log_text.hpp"
#include "env_variables.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/consumer.hpp"
#include "streamll/redis/options.hpp"
#include "streamll/sinks/sharded_redis_sink.hpp"

using streamll::detail::warn_unknown_streamll_variables;

TEST_CASE("env: an unknown STREAMLL_ variable is warned about once with the likely intended name",
          "[env]") {
  streamll::testing::CapturedLog log("streamll");
  const char* environment[] = {"PATH=/usr/bin",          "STREAMLL_STREAMKEY=orders",
                               "STREAMLL_STREAM_KEY=ok", "STREAMLL_ZZZ_NOTHING_ALIKE_AT_ALL=1",
                               "REDIS_URL=redis://h",    nullptr};
  const auto warned = warn_unknown_streamll_variables(environment);
  CHECK(warned ==
        std::vector<std::string>{"STREAMLL_STREAMKEY", "STREAMLL_ZZZ_NOTHING_ALIKE_AT_ALL"});
  const std::string logged = log.text();
  INFO(logged);
  CHECK_THAT(logged, Catch::Contains("[warning]"));
  CHECK_THAT(logged,
             Catch::Contains("STREAMLL_STREAMKEY ignored (did you mean STREAMLL_STREAM_KEY?)"));
  CHECK_THAT(logged, Catch::Contains("STREAMLL_ZZZ_NOTHING_ALIKE_AT_ALL ignored (not a streamll"));
  CHECK_THAT(logged, !Catch::Contains("STREAMLL_STREAM_KEY ignored"));

  // Once per process: reading the configuration again does not repeat it.
  CHECK(warn_unknown_streamll_variables(environment).empty());
  CHECK(log.text() == logged);
}

TEST_CASE("env: from_env() warns about an unknown STREAMLL_ variable of the process", "[env]") {
  streamll::testing::CapturedLog log("streamll");
  REQUIRE(::setenv("STREAMLL_BUFER_SIZE", "5", 1) == 0);
  const auto options = streamll::RedisSinkOptions::from_env();
  const auto consumer = streamll::ConsumerOptions::from_env();
  ::unsetenv("STREAMLL_BUFER_SIZE");
  CHECK(options.buffer_size == streamll::RedisSinkOptions{}.buffer_size);
  const std::string logged = log.text();
  INFO(logged);
  CHECK_THAT(logged,
             Catch::Contains("STREAMLL_BUFER_SIZE ignored (did you mean STREAMLL_BUFFER_SIZE?)"));
  // Once, though two from_env() calls saw it.
  CHECK(logged.find("STREAMLL_BUFER_SIZE") == logged.rfind("STREAMLL_BUFER_SIZE"));
}

TEST_CASE("env: every STREAMLL_ variable from_env() reads is a known one", "[env]") {
  // The known list is the warning's only reference: a variable read but missing from it would
  // be warned about while it works.
  std::set<std::string> asked;
  const streamll::EnvLookup recording = [&asked](const char* name) -> std::optional<std::string> {
    asked.insert(name);
    return std::nullopt;
  };
  (void)streamll::RedisSinkOptions::from_env(recording);
  (void)streamll::ShardedRedisSinkOptions::from_env(recording);
  (void)streamll::ConsumerOptions::from_env(recording);
  const auto& known = streamll::detail::known_streamll_variables();
  std::size_t streamll_names = 0;
  for (const std::string& name : asked) {
    if (name.rfind("STREAMLL_", 0) != 0) continue;
    ++streamll_names;
    INFO(name);
    CHECK(std::find(known.begin(), known.end(), name) != known.end());
  }
  CHECK(streamll_names >= 20);
}

TEST_CASE("env: from_env() checks REDIS_URL and names the variable", "[env]") {
  const auto env = [](std::string url) {
    return [url = std::move(url)](const char* name) -> std::optional<std::string> {
      if (std::string(name) == "REDIS_URL") return url;
      return std::nullopt;
    };
  };
  const auto error_of = [](const streamll::EnvLookup& lookup) -> std::string {
    try {
      (void)streamll::RedisSinkOptions::from_env(lookup);
    } catch (const streamll::ConfigError& e) {
      CHECK(e.option() == "REDIS_URL");
      return e.what();
    }
    FAIL("no ConfigError");
    return {};
  };
  CHECK_THAT(error_of(env("mysql://db:3306")),
             Catch::StartsWith("REDIS_URL: ") && Catch::Contains("'mysql'"));
  const std::string with_password = error_of(env("redis://:S3cret-pw@cache:notaport"));
  CHECK_THAT(with_password, Catch::Contains("notaport") && !Catch::Contains("S3cret-pw"));
  CHECK_THAT(error_of(env("redis://h:99999")), Catch::Contains("99999"));
  CHECK(streamll::RedisConnectionOptions::from_env(env("rediss://cache:6380/2")).url ==
        "rediss://cache:6380/2");
}
