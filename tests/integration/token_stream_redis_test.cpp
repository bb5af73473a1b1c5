// token_stream_key through a real redis-server: token events land in their own stream under
// their own MAXLEN while everything else stays in stream_key, read back with hiredis and
// nlohmann; then streamll's own StreamReader and GroupConsumer read both streams.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include <streamll/redis/consumer.hpp>
#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
namespace sinkit = streamll::sinkit;

namespace {

constexpr int kCalls = 5;
constexpr int kTokensPerCall = 40;

std::map<std::string, int> types_in(DirectRedis& redis, const std::string& key) {
  std::map<std::string, int> out;
  for (const auto& entry : redis.xrange(key)) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    ++out[nlohmann::json::parse(*json).at("event_type").get<std::string>()];
  }
  return out;
}

// kCalls calls of kTokensPerCall tokens each, in spans, through `sink`, token mode each.
void emit_calls(const std::shared_ptr<streamll::RedisSink>& sink) {
  streamll::InstrumentorOptions options;
  options.sinks.push_back(sink);
  options.token_mode = streamll::TokenMode::each;
  streamll::Instrumentor instrumentor(std::move(options));
  for (int c = 0; c < kCalls; ++c) {
    streamll::Span span(instrumentor, "answer");
    streamll::LlmCall call(instrumentor, "gpt-4o");
    for (int t = 0; t < kTokensPerCall; ++t) call.token("tok");
    call.finish();
  }
  REQUIRE(instrumentor.flush(10s));
}

}  // namespace

TEST_CASE("token events go to token_stream_key and the rest stays in stream_key",
          "[redis_sink_it][tokens]") {
  RedisServer server;
  streamll::RedisSinkOptions options = sinkit::fast_options(server.url());
  options.token_stream_key = "ml_tokens";
  options.consumer_group = "workers";
  auto sink = std::make_shared<streamll::RedisSink>(options);
  emit_calls(sink);

  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto events = types_in(redis, "ml_events");
  const auto tokens = types_in(redis, "ml_tokens");
  CHECK(events.count("token") == 0);
  CHECK(events.at("llm_call") == kCalls);
  CHECK(events.at("start") == kCalls);
  CHECK(events.at("end") == kCalls);
  CHECK(tokens.size() == 1);
  CHECK(tokens.at("token") == kCalls * kTokensPerCall);
  // The sink's consumer group exists on both streams.
  for (const char* key : {"ml_events", "ml_tokens"}) {
    CAPTURE(key);
    const auto groups = redis.command({"XINFO", "GROUPS", key});
    REQUIRE(groups->type == REDIS_REPLY_ARRAY);
    REQUIRE(groups->elements == 1);
    const auto* group = groups->element[0];  // name, workers, consumers, ...
    REQUIRE(group->elements >= 2);
    CHECK(std::string(group->element[1]->str, group->element[1]->len) == "workers");
  }
}

TEST_CASE("the token stream is trimmed by its own MAXLEN, stream_key by its own",
          "[redis_sink_it][tokens]") {
  RedisServer server;
  streamll::RedisSinkOptions options = sinkit::fast_options(server.url());
  options.token_stream_key = "ml_tokens";
  options.approximate_trimming = false;  // exact, so the lengths can be asserted
  options.token_max_stream_length = 7;
  options.max_stream_length = 1000;
  emit_calls(std::make_shared<streamll::RedisSink>(options));

  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(redis.integer({"XLEN", "ml_tokens"}) == 7);
  CHECK(redis.integer({"XLEN", "ml_events"}) == 3 * kCalls);  // start, llm_call, end
  // The newest tokens are the ones kept.
  const auto kept = redis.xrange("ml_tokens");
  const auto last = nlohmann::json::parse(*kept.back().field("event"));
  CHECK(last.at("data").at("index") == kTokensPerCall - 1);
}

TEST_CASE("a StreamReader and a GroupConsumer given the token stream read both streams",
          "[redis_sink_it][tokens][consumer]") {
  RedisServer server;
  streamll::RedisSinkOptions sink_options = sinkit::fast_options(server.url());
  sink_options.token_stream_key = "ml_tokens";
  emit_calls(std::make_shared<streamll::RedisSink>(sink_options));
  constexpr int kAll = kCalls * (3 + kTokensPerCall);

  streamll::ConsumerOptions options;
  options.connection.url = server.url();
  options.token_stream_key = "ml_tokens";
  options.start_id = "0";
  options.group_start_id = "0";
  options.block = 100ms;

  SECTION("StreamReader") {
    streamll::StreamReader reader(options);
    std::map<std::string, int> seen;
    std::map<std::string, int> by_stream;
    reader.on_any([&](const streamll::ConsumedEvent& m) {
      ++seen[std::string(m.event.type_name())];
      ++by_stream[m.stream];
    });
    for (int i = 0; i < 50 && by_stream["ml_events"] + by_stream["ml_tokens"] < kAll; ++i) {
      reader.poll(100ms);
    }
    CHECK(seen["token"] == kCalls * kTokensPerCall);
    CHECK(seen["llm_call"] == kCalls);
    CHECK(by_stream["ml_tokens"] == kCalls * kTokensPerCall);
    CHECK(by_stream["ml_events"] == 3 * kCalls);
    CHECK(reader.shard_count() == 1);
    CHECK(reader.last_id().empty());  // two positions: see last_ids()
    REQUIRE(reader.last_ids().size() == 2);
    DirectRedis redis = DirectRedis::tcp(server.port());
    CHECK(reader.last_ids()[0] == redis.xrange("ml_events").back().id);
    CHECK(reader.last_ids()[1] == redis.xrange("ml_tokens").back().id);
    CHECK(reader.stats().handled == static_cast<std::uint64_t>(kAll));
  }
  SECTION("GroupConsumer acknowledges each entry on its own stream") {
    options.group = "workers";
    options.consumer_name = "w1";
    streamll::GroupConsumer consumer(options);
    int handled = 0;
    consumer.on_any([&](const streamll::ConsumedEvent&) { ++handled; });
    for (int i = 0; i < 50 && handled < kAll; ++i) consumer.poll(100ms);
    consumer.poll(0ms);  // sends the last acknowledgements
    CHECK(handled == kAll);
    DirectRedis redis = DirectRedis::tcp(server.port());
    for (const char* key : {"ml_events", "ml_tokens"}) {
      CAPTURE(key);
      const auto pending = redis.command({"XPENDING", key, "workers"});
      REQUIRE(pending->type == REDIS_REPLY_ARRAY);
      CHECK(pending->element[0]->integer == 0);
    }
    CHECK(consumer.shard_stats().size() == 1);
    CHECK(consumer.shard_stats()[0].acked == static_cast<std::uint64_t>(kAll));
  }
}
