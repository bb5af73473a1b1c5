// Head sampling through a real redis-server: executions at rate 0.5, a third of them failing,
// read back with hiredis and nlohmann. Each execution in the stream is either whole (every
// span's start and end, its tokens, its llm_call, no orphan) or, when sampled out, exactly its
// errors and its failed call's llm_call, marked sampled_out; none is lost, and the counters
// add up to what is missing.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
namespace sinkit = streamll::sinkit;

TEST_CASE("sampled executions reach Redis whole and sampled-out ones only by their failures",
          "[redis_sink_it][sampling]") {
  RedisServer server;
  auto sink = std::make_shared<streamll::RedisSink>(sinkit::fast_options(server.url()));
  streamll::InstrumentorOptions options;
  options.sinks = {sink};
  options.sample_rate = 0.5;
  options.token_mode = streamll::TokenMode::each;
  streamll::Instrumentor instrumentor(std::move(options));

  constexpr int kExecutions = 60;
  constexpr int kTokens = 3;
  std::map<std::string, bool> fails;  // execution id -> failed
  std::map<std::string, bool> kept;
  for (int i = 0; i < kExecutions; ++i) {
    const bool failing = i % 3 == 0;
    try {
      // Fixed ids, so the decisions (and the test) are the same every run.
      streamll::SpanOptions ids;
      ids.execution_id = "exec_" + std::string(12, '0') + std::to_string(1000 + i);
      streamll::Span request(instrumentor, "request", ids);
      fails[request.execution_id()] = failing;
      kept[request.execution_id()] = request.sampled();
      streamll::Span retrieve("retrieve");
      streamll::LlmCall call("gpt-4o-mini");
      for (int t = 0; t < kTokens; ++t) call.token("tok");
      if (failing) throw std::runtime_error("upstream 503");
      call.finish(streamll::LlmUsage{10, kTokens});
    } catch (const std::runtime_error&) {
    }
  }
  REQUIRE(instrumentor.flush(10s));

  DirectRedis redis = DirectRedis::tcp(server.port());
  std::map<std::string, std::vector<nlohmann::json>> by_execution;
  for (const auto& entry : redis.xrange("ml_events")) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    auto event = nlohmann::json::parse(*json);
    by_execution[event.at("execution_id").get<std::string>()].push_back(std::move(event));
  }

  // Every execution in the stream is one of ours.
  for (const auto& [execution, events] : by_execution) CHECK(fails.count(execution) == 1);
  const std::size_t in_stream = by_execution.size();
  int kept_count = 0, out_and_failed = 0;
  for (const auto& [execution, failed] : fails) {
    CAPTURE(execution, failed);
    const auto& events = by_execution[execution];
    std::multiset<std::string> types;
    std::set<std::string> spans;
    for (const auto& e : events) {
      types.insert(e.at("event_type").get<std::string>());
      if (e.at("event_type") == "start") spans.insert(e.at("span_id").get<std::string>());
    }
    if (kept.at(execution)) {
      ++kept_count;
      CHECK(types.count("start") == 2);
      CHECK(types.count("token") == kTokens);
      CHECK(types.count("llm_call") == 1);
      // A failure replaces both spans' ends with errors, and the call adds its own.
      CHECK(types.count("end") == (failed ? 0u : 2u));
      CHECK(types.count("error") == (failed ? 3u : 0u));
      for (const auto& e : events) {
        CHECK_FALSE(e.at("data").contains("sampled_out"));
        const auto& parent = e.at("parent_span_id");  // null for the root
        if (!parent.is_null()) CHECK(spans.count(parent.get<std::string>()) == 1);
      }
    } else if (failed) {
      ++out_and_failed;
      // The call's error and llm_call, then the errors of the two spans it unwound.
      CHECK(types == std::multiset<std::string>{"error", "error", "error", "llm_call"});
      for (const auto& e : events) CHECK(e.at("data").at("sampled_out") == true);
    } else {
      CHECK(events.empty());
    }
  }
  CHECK(in_stream == static_cast<std::size_t>(kept_count + out_and_failed));
  CHECK(kept_count > 0);
  CHECK(out_and_failed > 0);
  const auto out = static_cast<std::uint64_t>(kExecutions - kept_count);
  CHECK(instrumentor.sampled_out_executions() == out);
  CHECK(instrumentor.sampled_out_tokens() == out * kTokens);
  // Two starts each; two ends and the llm_call for those that succeeded.
  const auto succeeded_out = out - static_cast<std::uint64_t>(out_and_failed);
  CHECK(instrumentor.sampled_out_events() == 2 * out + 3 * succeeded_out);
  REQUIRE(sink->shutdown(5s));
}
