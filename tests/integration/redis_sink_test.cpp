// RedisSink against a real redis-server: what arrives (every event type, field for field), the
// guide's time-range query, batching, trimming and the consumer-group bootstrap. Faults, TLS and
// connection settings have their own files.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

#include <streamll/sinks/memory_sink.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::Event;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

std::vector<std::pair<std::string, std::string>> sorted_tags(const streamll::Tags& tags) {
  std::vector<std::pair<std::string, std::string>> out(tags.begin(), tags.end());
  std::sort(out.begin(), out.end());
  return out;
}

// The JSON object keeps keys sorted, so a parsed event's data is the same set of fields in
// another order.
void require_same_data(const streamll::Fields& sent, const streamll::Fields& received) {
  REQUIRE(received.size() == sent.size());
  for (const auto& field : sent) {
    INFO("data field " << field.key);
    const streamll::Value* got = received.find(field.key);
    REQUIRE(got != nullptr);
    CHECK(*got == field.value);
  }
}

std::int64_t micros_since_epoch(streamll::Timestamp t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

TEST_CASE("RedisSink round-trips every event type through a real Redis", "[redis_sink_it]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  options.index_fields = true;
  auto redis_sink = std::make_shared<RedisSink>(options);
  auto memory = std::make_shared<streamll::MemorySink>();
  streamll::Instrumentor inst({{memory, redis_sink}, {{"environment", "test"}}, "rag"});

  {
    streamll::SpanOptions span_options;
    span_options.tags = {{"tenant", "acme"}};
    span_options.data.set("query", "what is a \"stream\"?\nmulti-line, ünïcode ✓");
    streamll::Span pipeline(inst, "rag_pipeline", std::move(span_options));
    pipeline.emit("cache_lookup",
                  {{"hit", false}, {"latency_ms", 1.25}, {"key", "q:1"}, {"none", nullptr}});
    {
      streamll::LlmCall call(inst, "gpt-4o", {"openai", "", {}});
      call.token("Hello");
      call.token(" wörld", "answer");
      streamll::LlmUsage usage;
      usage.input_tokens = 12;
      usage.output_tokens = 2;
      usage.cost_usd = 0.00042;
      usage.finish_reason = "stop";
      call.finish(usage);
    }
    {
      streamll::Span retrieval(inst, "retrieval");
      retrieval.set("documents", 0);
      retrieval.fail("RetrievalTimeout", "vector store took longer than 2000 ms");
    }
    pipeline.set("answer_length", std::int64_t{1} << 40);
    pipeline.set("score", 0.1 + 0.2);  // not exactly representable: must come back bit-equal
  }
  REQUIRE(inst.flush(5s));

  const auto sent = memory->events();
  const std::vector<std::string> expected_types = {"start",    "cache_lookup", "token", "token",
                                                   "llm_call", "start",        "error", "end"};
  REQUIRE(memory->type_names() == expected_types);

  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto entries = redis.xrange("ml_events");
  const auto received = sinkit::events_in(entries);
  REQUIRE(received.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    INFO("event " << i << " (" << sent[i].type_name() << ")");
    const Event& s = sent[i];
    const Event& r = received[i];
    CHECK(r.id == s.id);
    CHECK(r.type == s.type);
    CHECK(r.type_name() == s.type_name());
    CHECK(micros_since_epoch(r.timestamp) == micros_since_epoch(s.timestamp));
    CHECK(r.execution_id() == s.execution_id());
    CHECK(r.span_id() == s.span_id());
    CHECK(r.parent_span_id() == s.parent_span_id());
    CHECK(r.operation() == s.operation());
    CHECK(r.module_name() == s.module_name());
    CHECK(sorted_tags(r.tags()) == sorted_tags(s.tags()));
    require_same_data(s.data, r.data);

    // What the guide's consumers read: json.loads(fields["event"]), plus the flat index fields.
    const auto json = nlohmann::json::parse(*entries[i].field("event"));
    CHECK(json["event_id"] == s.id.to_string());
    CHECK(json["event_type"] == std::string(s.type_name()));
    REQUIRE(entries[i].field("event_type") != nullptr);
    CHECK(*entries[i].field("event_type") == s.type_name());
    CHECK(*entries[i].field("operation") == s.operation());
    CHECK(*entries[i].field("execution_id") == s.execution_id());
  }
  // One execution, the LLM call and the retrieval span nested under the pipeline span.
  CHECK(received[4].parent_span_id() == received[0].span_id());
  CHECK(received[6].parent_span_id() == received[0].span_id());
  CHECK(received[7].execution_id() == received[0].execution_id());
  CHECK(*received[1].tag("tenant") == "acme");
  CHECK(*received[1].tag("environment") == "test");

  const auto stats = redis_sink->stats();
  CHECK(stats.delivered == sent.size());
  CHECK(stats.failed == 0);
  CHECK(stats.dropped() == 0);
}

TEST_CASE("RedisSink entries answer the guide's time-range query (XRANGE from a millisecond)",
          "[redis_sink_it]") {
  RedisServer server;
  RedisSink sink(sinkit::fast_options(server.url()));
  for (int i = 0; i < 20; ++i) sink.handle(sinkit::numbered_event(0, i));
  REQUIRE(sink.flush(5s));

  // Stream ids carry Redis's clock: a millisecond that lies strictly after the first batch was
  // acknowledged and before the second was sent splits the stream exactly. The sleeps make the
  // clock move past those milliseconds: time passing is the point.
  std::this_thread::sleep_for(3ms);
  const std::uint64_t start_ts = now_ms();
  std::this_thread::sleep_for(3ms);
  for (int i = 20; i < 50; ++i) sink.handle(sinkit::numbered_event(0, i));
  REQUIRE(sink.flush(5s));

  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto recent = redis.xrange("ml_events", std::to_string(start_ts), "+");
  CHECK(sinkit::indices_by_producer(sinkit::events_in(recent))[0] == sinkit::iota_vector(20, 50));
  for (const auto& entry : recent) CHECK(entry.id_ms() >= start_ts);

  // And the events' own timestamps agree with the ids' clock (same machine).
  for (const auto& event : sinkit::events_in(recent)) {
    CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(event.timestamp.time_since_epoch())
              .count() >= static_cast<std::int64_t>(start_ts));
  }
  CHECK(redis.xrange("ml_events", "-", std::to_string(start_ts - 1)).size() == 20);
}

TEST_CASE("RedisSink sends events emitted in a burst in batches of max_batch_size",
          "[redis_sink_it]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  options.max_batch_size = 100;
  options.connection.socket_timeout = 5s;  // the write held by CLIENT PAUSE below must not time out
  RedisSink sink(options);
  // Connect before measuring, so the burst is not simply parked behind the first connect.
  sink.handle(sinkit::numbered_event(1, 0));
  REQUIRE(sink.flush(5s));
  const auto before = sink.stats().round_trips;

  // Writes paused while the burst is emitted, so that however slowly this machine emits, the
  // burst is buffered before the flusher can send any of it but the first event or batches.
  constexpr int n = 5000;
  DirectRedis control = DirectRedis::tcp(server.port());
  REQUIRE(control.text({"CLIENT", "PAUSE", "1000", "WRITE"}) == "OK");
  const auto burst_started = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, i));
  const bool burst_within_pause = std::chrono::steady_clock::now() - burst_started < 900ms;
  REQUIRE(sink.flush(10s));

  const auto round_trips = sink.stats().round_trips - before;
  INFO("round trips for " << n << " events: " << round_trips);
  CHECK(round_trips >= n / 100);
  // The first write (and the batch prepared beside it) were taken as the burst started and may
  // be partly full; every other batch is full.
  if (burst_within_pause) CHECK(round_trips <= n / 100 + 3);
  CHECK(sink.stats().last_flush_latency > 0us);

  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, n));
}

TEST_CASE("RedisSink trims the stream with MAXLEN (approximate or exact)", "[redis_sink_it]") {
  RedisServer server;
  DirectRedis redis = DirectRedis::tcp(server.port());
  constexpr int n = 3000;
  constexpr std::size_t max_length = 1000;

  SECTION("MAXLEN ~ keeps the stream within one radix-tree node of max_stream_length") {
    auto options = sinkit::fast_options(server.url());
    options.max_stream_length = max_length;
    RedisSink sink(options);
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, i));
    REQUIRE(sink.flush(10s));
    const auto length = redis.integer({"XLEN", "ml_events"});
    CHECK(length >= static_cast<long long>(max_length));
    CHECK(length <= static_cast<long long>(max_length) + 100);  // stream-node-max-entries
    // Trimming removes the oldest: what is left is the newest `length` events.
    CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(n - static_cast<int>(length), n));
  }
  SECTION("approximate_trimming=false keeps exactly max_stream_length") {
    auto options = sinkit::fast_options(server.url());
    options.max_stream_length = max_length;
    options.approximate_trimming = false;
    RedisSink sink(options);
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, i));
    REQUIRE(sink.flush(10s));
    CHECK(redis.integer({"XLEN", "ml_events"}) == static_cast<long long>(max_length));
    CHECK(sinkit::delivered_indices(redis) ==
          sinkit::iota_vector(n - static_cast<int>(max_length), n));
  }
  SECTION("no max_stream_length keeps everything") {
    auto options = sinkit::fast_options(server.url());
    options.max_stream_length.reset();
    RedisSink sink(options);
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, i));
    REQUIRE(sink.flush(10s));
    CHECK(redis.integer({"XLEN", "ml_events"}) == n);
  }
}

TEST_CASE("RedisSink creates its consumer group on connect and again after Redis lost it",
          "[redis_sink_it]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  options.consumer_group = "ml_processors";
  options.consumer_name = "producer-1";
  RedisSink sink(options);

  auto group_names = [&] {
    DirectRedis redis = DirectRedis::tcp(server.port());
    std::vector<std::string> names;
    const auto reply = redis.command({"XINFO", "GROUPS", "ml_events"});
    if (reply->type != REDIS_REPLY_ARRAY) return names;  // no such key
    for (size_t g = 0; g < reply->elements; ++g) {
      const redisReply* group = reply->element[g];
      for (size_t f = 0; f + 1 < group->elements; f += 2) {
        if (std::string(group->element[f]->str, group->element[f]->len) == "name") {
          names.emplace_back(group->element[f + 1]->str, group->element[f + 1]->len);
        }
      }
    }
    return names;
  };

  sink.handle(sinkit::numbered_event(0, 0));
  REQUIRE(sink.flush(5s));
  CHECK(group_names() == std::vector<std::string>{"ml_processors"});
  // The group starts at the beginning of the stream: its consumers see the first event too.
  {
    DirectRedis redis = DirectRedis::tcp(server.port());
    const auto read = redis.command(
        {"XREADGROUP", "GROUP", "ml_processors", "c1", "COUNT", "10", "STREAMS", "ml_events", ">"});
    REQUIRE(read->type == REDIS_REPLY_ARRAY);
    CHECK(read->element[0]->element[1]->elements == 1);
    // The producer's connection carries the consumer name.
    CHECK(redis.text({"CLIENT", "LIST"}).find("name=producer-1") != std::string::npos);
  }

  // The stream (and the group with it) is gone and the server restarts: the reconnect recreates it.
  {
    DirectRedis redis = DirectRedis::tcp(server.port());
    CHECK(redis.integer({"DEL", "ml_events"}) == 1);
  }
  CHECK(group_names().empty());
  server.restart();
  sink.handle(sinkit::numbered_event(0, 1));
  REQUIRE(sink.flush(5s));
  CHECK(group_names() == std::vector<std::string>{"ml_processors"});
  CHECK(sink.stats().reconnects >= 1);
  CHECK(sink.stats().reply_errors == 0);  // BUSYGROUP never counted; nothing else went wrong
}

TEST_CASE("RedisSink sends a lone event at once when idle (not after flush_interval)",
          "[redis_sink_it]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  options.flush_interval = 5s;
  RedisSink sink(options);
  DirectRedis redis = DirectRedis::tcp(server.port());
  sink.handle(sinkit::numbered_event(0, 0));
  REQUIRE(sink.flush(5s));  // connected

  std::vector<long long> latencies;  // microseconds
  for (int i = 1; i <= 15; ++i) {
    // On purpose longer than the flusher's linger (20 ms), after which it stops polling and
    // sleeps until the next event: that sleeping flusher is what the event must wake.
    std::this_thread::sleep_for(30ms);
    const auto emitted = std::chrono::steady_clock::now();
    sink.handle(sinkit::numbered_event(0, i));
    REQUIRE(eventually([&] { return redis.integer({"XLEN", "ml_events"}) == i + 1; }, 6s));
    latencies.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - emitted)
                            .count());
  }
  std::sort(latencies.begin(), latencies.end());
  const auto median = latencies[latencies.size() / 2];
  INFO("idle latencies, sorted (us): " << ::Catch::Detail::stringify(latencies));
  // About a millisecond on an idle machine (the readback polls every millisecond); the bound
  // leaves room for a loaded sanitizer run while staying far below flush_interval (5 s), which
  // an event waiting for the interval would take.
  CHECK(median < 250'000);
}

TEST_CASE("RedisSink destructor delivers what is still buffered when Redis is healthy",
          "[redis_sink_it]") {
  RedisServer server;
  constexpr int n = 2000;
  {
    auto options = sinkit::fast_options(server.url());
    options.shutdown_timeout = 5s;
    RedisSink sink(options);
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, i));
    // No flush(): the destructor's bounded shutdown must send everything.
  }
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, n));
}
