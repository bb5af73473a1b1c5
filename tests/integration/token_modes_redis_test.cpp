// Token modes through a real redis-server: what a 1,000-token answer leaves in the stream in
// each mode, read back with hiredis and parsed with nlohmann (not streamll's own reader).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::TokenMode;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
namespace sinkit = streamll::sinkit;

namespace {

std::vector<nlohmann::json> stream_events(DirectRedis& redis) {
  std::vector<nlohmann::json> out;
  for (const auto& entry : redis.xrange("ml_events")) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    out.push_back(nlohmann::json::parse(*json));
  }
  return out;
}

}  // namespace

TEST_CASE("a 1000-token answer reaches Redis as its token mode says", "[redis_sink_it][tokens]") {
  const TokenMode mode =
      GENERATE(TokenMode::each, TokenMode::chunked, TokenMode::summary, TokenMode::off);
  CAPTURE(streamll::token_mode_name(mode));
  RedisServer server;
  auto sink = std::make_shared<streamll::RedisSink>(sinkit::fast_options(server.url()));
  streamll::InstrumentorOptions options;
  options.sinks.push_back(sink);
  options.token_mode = mode;
  options.token_chunking = streamll::TokenChunking{32, 0ms};
  streamll::Instrumentor instrumentor(std::move(options));
  std::string answer;
  {
    streamll::LlmCall call(instrumentor, "gpt-4o");
    for (int i = 0; i < 1000; ++i) {
      // Tokens of 1 to 4 bytes, some multibyte, one that JSON must escape.
      const std::string token = i % 97 == 0 ? "\"\n" : i % 5 == 0 ? " \xC3\xA9t" : "ab";
      answer += token;
      call.token(token);
    }
    call.finish();
  }
  REQUIRE(instrumentor.flush(5s));

  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto events = stream_events(redis);
  std::vector<nlohmann::json> tokens;
  for (const auto& e : events) {
    if (e.at("event_type") == "token") tokens.push_back(e);
  }
  REQUIRE(events.back().at("event_type") == "llm_call");
  const auto& call = events.back().at("data");
  CHECK(events.size() == tokens.size() + 1);

  switch (mode) {
    case TokenMode::each:
      CHECK(tokens.size() == 1000);
      break;
    case TokenMode::chunked: {
      REQUIRE(tokens.size() == 32);  // 31 of 32 tokens and one of 8
      std::string joined;
      std::int64_t index = 0;
      for (const auto& chunk : tokens) {
        const auto& data = chunk.at("data");
        CHECK(data.at("index").get<std::int64_t>() == index);
        const auto count = data.at("count").get<std::int64_t>();
        CHECK(data.at("offsets_us").size() == static_cast<std::size_t>(count));
        index += count;
        joined += data.at("token").get<std::string>();
      }
      CHECK(index == 1000);
      CHECK(joined == answer);
      break;
    }
    case TokenMode::summary:
    case TokenMode::off:
      CHECK(tokens.empty());
      break;
  }
  if (mode == TokenMode::off) {
    CHECK_FALSE(call.contains("ttft_ms"));
  } else {
    CHECK(call.at("tokens_used") == 1000);
    CHECK(call.contains("ttft_ms"));
    CHECK(call.contains("inter_token_ms_p95"));
  }
}
