// Privacy against a real Redis: with content capture off no token text reaches the stream;
// with the ready redactor no e-mail address does, also for events that waited (and were
// compacted) through an outage, each event redacted exactly once; a throwing redactor costs
// its event's data, not the sink.

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::testing::eventually;

namespace {

// Every field of every entry, as Redis holds it.
std::string stream_bytes(DirectRedis& redis, const std::string& key) {
  std::string all;
  for (const auto& entry : redis.xrange(key)) {
    for (const auto& [k, v] : entry.fields) all += k + '=' + v + '\n';
  }
  return all;
}

}  // namespace

TEST_CASE("capture off: no token text reaches Redis in any token mode", "[privacy_it]") {
  const auto mode = GENERATE(streamll::TokenMode::each, streamll::TokenMode::chunked);
  RedisServer server;
  auto sink = std::make_shared<RedisSink>(streamll::sinkit::fast_options(server.url()));
  streamll::InstrumentorOptions options;
  options.sinks = {sink};
  options.token_mode = mode;
  options.capture_content = false;
  streamll::Instrumentor inst(std::move(options));
  {
    streamll::Span span(inst, "answer");
    span.set("prompt", "SECRET-PROMPT");
    streamll::LlmCall call(inst, "m");
    for (int i = 0; i < 40; ++i) call.token("SECRET-TOKEN");
    streamll::LlmUsage usage;
    usage.extra.set("completion", "SECRET-COMPLETION");
    call.finish(std::move(usage));
  }
  REQUIRE(inst.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  const std::string bytes = stream_bytes(redis, "ml_events");
  CHECK(bytes.find("SECRET") == std::string::npos);
  const auto events = streamll::sinkit::events_in(redis.xrange("ml_events"));
  std::int64_t tokens = 0;
  for (const auto& e : events) {
    if (e.type == streamll::EventType::token)
      tokens += e.data.get<std::int64_t>("count").value_or(1);
    if (e.type == streamll::EventType::llm_call)
      CHECK(e.data.get<std::int64_t>("tokens_used") == 40);
  }
  CHECK(tokens == 40);
}

TEST_CASE("redactor on: no e-mail address reaches Redis", "[privacy_it]") {
  RedisServer server;
  auto sink_options = streamll::sinkit::fast_options(server.url());
  sink_options.redact = streamll::sensitive_data_redactor();
  auto sink = std::make_shared<RedisSink>(sink_options);
  streamll::Instrumentor inst({{sink}, {{"user_id", "jane.doe@example.com"}}});
  {
    streamll::Span span(inst, "support_ticket");
    span.set("question", "Please reply to jane.doe@example.com or ops@example.org");
    streamll::LlmCall call(inst, "m");
    call.token("Sure, ");
    call.token("mailing jane.doe@example.com");
    call.finish();
  }
  REQUIRE(inst.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  const std::string bytes = stream_bytes(redis, "ml_events");
  CHECK(bytes.find("@example.") == std::string::npos);
  CHECK(bytes.find("[EMAIL]") != std::string::npos);
  CHECK(streamll::sinkit::events_in(redis.xrange("ml_events")).size() == 5);
}

TEST_CASE("events that wait through an outage are redacted once and none leaks", "[privacy_it]") {
  RedisServer server;
  auto sink_options = streamll::sinkit::fast_options(server.url());
  std::atomic<int> calls{0};
  const auto redact = streamll::sensitive_data_redactor();
  sink_options.redact = [&calls, redact](streamll::Event& e) {
    ++calls;
    redact(e);
  };
  auto sink = std::make_shared<RedisSink>(sink_options);
  streamll::Instrumentor inst({{sink}});
  server.sigstop();
  constexpr int kEvents = 300;
  for (int i = 0; i < kEvents; ++i) {
    streamll::Fields data;
    // Many fields: held serialized, such an event is smaller, so compaction serializes it.
    for (int f = 0; f < 12; ++f) data.set("f" + std::to_string(f), "to jane@example.com");
    inst.emit("mail", inst.root_context(), std::move(data));
  }
  CHECK(eventually([&] { return sink->stats().buffered_compacted > 0; }));
  server.sigcont();
  REQUIRE(inst.flush(10s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(stream_bytes(redis, "ml_events").find("@example.") == std::string::npos);
  const auto events =
      streamll::sinkit::dedupe_by_id(streamll::sinkit::events_in(redis.xrange("ml_events")));
  CHECK(events.size() == kEvents);
  CHECK(calls.load() == kEvents);
}

TEST_CASE("a throwing redactor costs its event's data and the sink goes on", "[privacy_it]") {
  RedisServer server;
  auto sink_options = streamll::sinkit::fast_options(server.url());
  sink_options.redact = [](streamll::Event& e) {
    if (e.data.contains("boom")) throw std::runtime_error("redactor bug");
  };
  auto sink = std::make_shared<RedisSink>(sink_options);
  streamll::Instrumentor inst({{sink}, {{"user_id", "jane@example.com"}}});
  inst.emit("before", inst.root_context(), {{"n", 1}});
  inst.emit("bad", inst.root_context(), {{"boom", "jane@example.com"}});
  inst.emit("after", inst.root_context(), {{"n", 2}});
  REQUIRE(inst.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto events = streamll::sinkit::events_in(redis.xrange("ml_events"));
  REQUIRE(events.size() == 3);
  CHECK(events[1].type_name() == "bad");
  CHECK(events[1].data.get<bool>("redaction_failed") == true);
  CHECK(events[1].data.size() == 1);
  CHECK(events[1].tags().empty());
  CHECK(events[2].data.get<std::int64_t>("n") == 2);
  CHECK(sink->stats().redaction_failures == 1);
}

TEST_CASE("a sharded sink redacts on every shard and adds up redaction failures", "[privacy_it]") {
  RedisServer server;
  streamll::ShardedRedisSinkOptions options;
  options.sink = streamll::sinkit::fast_options(server.url());
  options.sink.redact = [](streamll::Event& e) {
    if (e.data.contains("boom")) throw std::runtime_error("redactor bug");
    streamll::sensitive_data_redactor()(e);
  };
  options.shard_count = 2;
  auto sink = std::make_shared<streamll::ShardedRedisSink>(options);
  streamll::Instrumentor inst({{sink}});
  constexpr int kExecutions = 20;
  for (int i = 0; i < kExecutions; ++i) {
    streamll::Span span(inst, "ticket");  // a root span: an execution of its own
    span.emit("mail", {{"to", "jane@example.com"}});
    span.emit("bad", {{"boom", "jane@example.com"}});
  }
  REQUIRE(inst.flush(5s));
  DirectRedis redis = DirectRedis::tcp(server.port());
  std::size_t entries = 0;
  for (int shard = 0; shard < 2; ++shard) {
    const std::string key = "ml_events_shard_" + std::to_string(shard);
    CHECK(stream_bytes(redis, key).find("@example.") == std::string::npos);
    entries += redis.xrange(key).size();
  }
  CHECK(entries == 4 * kExecutions);  // start, mail, bad, end
  CHECK(sink->stats().redaction_failures == kExecutions);
}
