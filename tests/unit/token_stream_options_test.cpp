// token_stream_key's options: the sink's and the consumers' from the environment, their
// checks, the streams a consumer reads from them, and the cluster rule that both keys of a
// sink hash to one slot.

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <optional>
#include <string>

#include <streamll/redis/consumer.hpp>
#include <streamll/sinks/redis_sink.hpp>

#include "redis/consumer/consumer_core.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "streamll/errors.hpp"

using streamll::ConfigError;
using streamll::ConsumerOptions;
using streamll::RedisSinkOptions;

namespace {

streamll::EnvLookup env_of(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> std::optional<std::string> {
    const auto it = variables.find(name);
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

std::string option_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.option();
  }
  return "(no ConfigError)";
}

}  // namespace

TEST_CASE("RedisSinkOptions: token_stream_key and its MAXLEN from the environment",
          "[redis_options][tokens]") {
  const RedisSinkOptions defaults;
  CHECK(defaults.token_stream_key.empty());
  CHECK(defaults.token_max_stream_length == std::size_t{1000000});

  auto o = RedisSinkOptions::from_env(env_of(
      {{"STREAMLL_TOKEN_STREAM_KEY", "ml_tokens"}, {"STREAMLL_TOKEN_MAX_STREAM_LENGTH", "5000"}}));
  CHECK(o.token_stream_key == "ml_tokens");
  CHECK(o.token_max_stream_length == std::size_t{5000});
  CHECK(o.max_stream_length == std::size_t{1000000});  // the events' own stays
  for (const char* none : {"none", "NONE", "0"}) {
    CAPTURE(none);
    o = RedisSinkOptions::from_env(env_of({{"STREAMLL_TOKEN_MAX_STREAM_LENGTH", none}}));
    CHECK_FALSE(o.token_max_stream_length.has_value());
  }
  CHECK_THROWS_WITH(
      RedisSinkOptions::from_env(env_of({{"STREAMLL_TOKEN_MAX_STREAM_LENGTH", "lots"}})),
      Catch::Contains("STREAMLL_TOKEN_MAX_STREAM_LENGTH"));
  o.token_stream_key = "ml_tokens";
  o.token_max_stream_length = 42;
  const std::string text = streamll::to_string(o);
  CHECK_THAT(text, Catch::Contains("token_stream_key=ml_tokens\n"));
  CHECK_THAT(text, Catch::Contains("token_max_stream_length=42\n"));
}

TEST_CASE("RedisSinkOptions: a token stream must differ from stream_key and trim to at least 1",
          "[redis_options][tokens]") {
  RedisSinkOptions o;
  o.token_stream_key = o.stream_key;
  CHECK(option_of([&] { o.validate(); }) == "token_stream_key");
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("must differ from stream_key"));
  o.token_stream_key = "ml_tokens";
  o.token_max_stream_length = 0;
  CHECK(option_of([&] { o.validate(); }) == "token_max_stream_length");
  o.token_max_stream_length.reset();
  CHECK_NOTHROW(o.validate());
  // Without a token stream its MAXLEN is not used, so not checked either.
  o.token_stream_key.clear();
  o.token_max_stream_length = 0;
  CHECK_NOTHROW(o.validate());
}

TEST_CASE("RedisSink on a cluster: both keys must hash to one slot", "[redis_options][tokens]") {
  RedisSinkOptions o;
  o.connection.url = "redis+cluster://127.0.0.1:1";
  o.stream_key = "ml_events";
  o.token_stream_key = "ml_tokens";
  REQUIRE(streamll::redis::key_slot(o.stream_key) != streamll::redis::key_slot(o.token_stream_key));
  try {
    streamll::RedisSink sink(o);
    FAIL("expected ConfigError");
  } catch (const ConfigError& e) {
    CHECK(e.option() == "token_stream_key");
    CHECK_THAT(e.what(), Catch::Contains("hash tag"));
  }
  o.stream_key = "{llm}events";
  o.token_stream_key = "{llm}tokens";
  o.shutdown_timeout = std::chrono::milliseconds(50);
  CHECK_NOTHROW(streamll::RedisSink(o));
  // Not a cluster: any two keys.
  o.connection.url = "redis://127.0.0.1:1";
  o.stream_key = "ml_events";
  o.token_stream_key = "ml_tokens";
  CHECK_NOTHROW(streamll::RedisSink(o));
}

TEST_CASE("ConsumerOptions: the token stream from the environment, checked, read as a stream",
          "[consumer][tokens]") {
  const auto env = ConsumerOptions::from_env(env_of({{"STREAMLL_TOKEN_STREAM_KEY", "ml_tokens"}}));
  CHECK(env.token_stream_key == "ml_tokens");
  CHECK(env.streams_per_shard() == 2);
  CHECK(ConsumerOptions{}.streams_per_shard() == 1);

  ConsumerOptions o;
  o.token_stream_key = o.stream_key;
  CHECK(option_of([&] { o.validate(); }) == "token_stream_key");

  // One deployment: the events' stream, then the tokens'.
  o.token_stream_key = "ml_tokens";
  CHECK_NOTHROW(o.validate());
  CHECK(streamll::redis::options_of_stream(o, 0).stream_key == "ml_events");
  CHECK(streamll::redis::options_of_stream(o, 1).stream_key == "ml_tokens");
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(streamll::redis::options_of_stream(o, i).token_stream_key.empty());
  }

  // Sharded: per shard its events then its tokens, on that shard's server.
  o.shard_urls = {"redis://a:1", "redis://b:2"};
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"ml_events_shard_0", "redis://a:1"},
      {"ml_tokens_shard_0", "redis://a:1"},
      {"ml_events_shard_1", "redis://b:2"},
      {"ml_tokens_shard_1", "redis://b:2"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    const ConsumerOptions stream = streamll::redis::options_of_stream(o, i);
    CHECK(stream.stream_key == expected[i].first);
    CHECK(stream.connection.url == expected[i].second);
    CHECK_FALSE(stream.sharded());
    CHECK(stream.token_stream_key.empty());
  }
  // Without a token stream, stream i is shard i's.
  o.token_stream_key.clear();
  CHECK(streamll::redis::options_of_stream(o, 1).stream_key == "ml_events_shard_1");
}
