// examples/trace_propagation run against a real redis-server: a gateway process and the
// service process it starts, the trace handed over in a W3C traceparent. Read back with
// hiredis and nlohmann, their events must form one execution: the service's first span a
// child of the gateway's, and an upstream trace id kept as the execution id.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <streamll/trace_context.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"
#include "subprocess.hpp"

#ifdef STREAMLL_TRACE_PROPAGATION_PATH

using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;

namespace {

std::vector<nlohmann::json> events_of(DirectRedis& redis, const std::string& key) {
  std::vector<nlohmann::json> out;
  for (const auto& entry : redis.xrange(key)) {
    const std::string* json = entry.field("event");
    REQUIRE(json != nullptr);
    out.push_back(nlohmann::json::parse(*json));
  }
  return out;
}

const nlohmann::json& only(const std::vector<nlohmann::json>& events, const std::string& type,
                           const std::string& operation) {
  const nlohmann::json* found = nullptr;
  for (const auto& e : events) {
    if (e.at("event_type") == type && e.at("operation") == operation) {
      REQUIRE(found == nullptr);
      found = &e;
    }
  }
  REQUIRE(found != nullptr);
  return *found;
}

std::vector<nlohmann::json> run_example(const RedisServer& server, const std::string& stream,
                                        std::vector<std::string> extra = {},
                                        std::string* output = nullptr) {
  std::vector<std::string> args = {STREAMLL_TRACE_PROPAGATION_PATH, "--redis", server.url(),
                                   "--stream", stream};
  args.insert(args.end(), extra.begin(), extra.end());
  // The pid in the name: two runs at once (ctest -j, two build trees) do not share the file.
  const std::string log =
      "/tmp/trace_propagation_" + std::to_string(::getpid()) + "_" + stream + ".log";
  const int code = streamll::test::run_bounded(args, 60, log);
  const std::string printed = streamll::test::read_text_file(log);
  std::remove(log.c_str());
  INFO(printed);
  REQUIRE(code == 0);
  if (output != nullptr) *output = printed;
  DirectRedis redis = DirectRedis::tcp(server.port());
  return events_of(redis, stream);
}

}  // namespace

TEST_CASE("two processes write one trace through a traceparent", "[redis_sink_it][trace]") {
  RedisServer server;
  const auto events = run_example(server, "trace_two_processes");
  // The gateway's span (start, end) and the service's span, token and llm_call.
  REQUIRE(events.size() == 6);
  const auto execution = events.front().at("execution_id").get<std::string>();
  for (const auto& e : events) CHECK(e.at("execution_id") == execution);
  const auto& gateway = only(events, "start", "gateway_request");
  const auto& service = only(events, "start", "answer_question");
  CHECK(gateway.at("parent_span_id").is_null());
  CHECK(gateway.at("module_name") == "gateway");
  CHECK(service.at("parent_span_id") == gateway.at("span_id"));
  CHECK(service.at("module_name") == "service");
  CHECK(only(events, "end", "gateway_request").at("data").at("service_exit_status") == 0);
  // The call is a leaf of the service's span.
  const auto& call = only(events, "llm_call", "answer_question");
  CHECK(call.at("parent_span_id") == service.at("span_id"));
}

TEST_CASE("an upstream trace continues through the gateway and the service",
          "[redis_sink_it][trace]") {
  RedisServer server;
  const std::string upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto events =
      run_example(server, "trace_upstream", {"--traceparent", upstream, "--tracestate", "v=1"});
  REQUIRE(events.size() == 6);
  for (const auto& e : events) CHECK(e.at("execution_id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(only(events, "start", "gateway_request").at("parent_span_id") == "00f067aa0ba902b7");
}

TEST_CASE("an upstream trace that is not sampled is not recorded in either process",
          "[redis_sink_it][trace]") {
  RedisServer server;
  const std::string upstream = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  std::string printed;
  const auto events = run_example(server, "trace_unsampled", {"--traceparent", upstream}, &printed);
  CHECK(events.empty());
  // The service ran, in the upstream trace, and would pass it on unsampled.
  CHECK(printed.find("service: execution") != std::string::npos);
  CHECK(printed.find("next hop gets traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-") !=
        std::string::npos);
  CHECK(printed.find("-00\n") != std::string::npos);
}

#endif
