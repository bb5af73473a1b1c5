// RedisSink against a fake transport and a manual clock: the pipeline's rules (batching,
// ordering, retries, breaker, overflow, shutdown bounds) without a server and without sleeping
// for timeouts.

#include <unistd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "captured_log_text.hpp"
#include "eventually.hpp"
#include "fake_redis.hpp"
#include "injected.hpp"
#include "logging.hpp"
#include "manual_clock.hpp"

using namespace std::chrono_literals;
using streamll::detail::Injected;
using streamll::testing::eventually;
using streamll::testing::FakeRedis;
using streamll::testing::ManualClock;

namespace {

streamll::RedisSinkOptions test_options() {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis://127.0.0.1:6379";
  o.stream_key = "ml_events";
  o.buffer_size = 1000;
  o.max_batch_size = 100;
  o.failure_threshold = 3;
  o.recovery_timeout = 30s;
  o.shutdown_timeout = 500ms;
  // These tests count the commands and round trips of events; heartbeats have their own
  // (redis_heartbeat_test.cpp).
  o.heartbeat_interval = std::chrono::milliseconds(0);
  return o;
}

streamll::Event token_event(int i) {
  static const auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_test", "span1", "", "answer_generation", "", {}});
  streamll::Fields data;
  data.set("token", "t" + std::to_string(i));
  data.set("index", i);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

// A token event with ten more fields under long keys: larger as captured than serialized, so
// the sink holds it serialized while Redis is down.
streamll::Event large_event(int i) {
  auto event = token_event(i);
  for (int k = 0; k < 10; ++k) event.data.set("a_long_field_name_" + std::to_string(k), k * 0.5);
  return event;
}

std::vector<int> indices_of(const std::vector<std::string>& stream) {
  std::vector<int> out;
  for (const auto& json : stream)
    out.push_back(nlohmann::json::parse(json)["data"]["index"].get<int>());
  return out;
}

std::vector<int> range(int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) out.push_back(i);
  return out;
}

struct Harness {
  explicit Harness(streamll::RedisSinkOptions options = test_options())
      : server(std::make_shared<FakeRedis>()),
        sink(Injected::redis_sink(std::move(options),
                                  streamll::testing::fake_transport_factory(server), clock)) {}

  /// flush() while moving the manual clock on, so reconnect backoffs pass.
  bool flush_advancing(std::chrono::milliseconds timeout = 5s) {
    return eventually(
        [&] {
          clock.advance(1s);
          return sink.flush(20ms);
        },
        timeout);
  }

  ManualClock clock;
  std::shared_ptr<FakeRedis> server;
  streamll::RedisSink sink;
};

}  // namespace

TEST_CASE("RedisSink writes each event as XADD stream MAXLEN ~ N * event <json>", "[redis_sink]") {
  Harness h;
  auto event = token_event(7);
  const auto id = event.id.to_string();
  h.sink.handle(event);
  REQUIRE(h.sink.flush(2s));

  auto commands = h.server->commands();
  REQUIRE(commands.size() == 1);
  const std::vector<std::string> expected_prefix = {"XADD",    "ml_events", "MAXLEN", "~",
                                                    "1000000", "*",         "event"};
  REQUIRE(commands[0].size() == 8);
  CHECK(std::vector<std::string>(commands[0].begin(), commands[0].begin() + 7) == expected_prefix);
  const auto json = nlohmann::json::parse(commands[0][7]);
  CHECK(json["event_id"] == id);
  CHECK(json["event_type"] == "token");
  CHECK(json["data"]["token"] == "t7");

  const auto stats = h.sink.stats();
  CHECK(stats.enqueued == 1);
  CHECK(stats.delivered == 1);
  CHECK(stats.buffered == 0);
  CHECK(stats.round_trips == 1);
  CHECK(stats.connected);
}

TEST_CASE("RedisSink trimming options shape the XADD", "[redis_sink]") {
  SECTION("exact MAXLEN") {
    auto o = test_options();
    o.approximate_trimming = false;
    o.max_stream_length = 500;
    Harness h(o);
    h.sink.handle(token_event(0));
    REQUIRE(h.sink.flush(2s));
    const auto c = h.server->commands().at(0);
    CHECK(std::vector<std::string>(c.begin(), c.begin() + 6) ==
          std::vector<std::string>{"XADD", "ml_events", "MAXLEN", "500", "*", "event"});
  }
  SECTION("no trimming") {
    auto o = test_options();
    o.max_stream_length.reset();
    Harness h(o);
    h.sink.handle(token_event(0));
    REQUIRE(h.sink.flush(2s));
    const auto c = h.server->commands().at(0);
    CHECK(std::vector<std::string>(c.begin(), c.begin() + 4) ==
          std::vector<std::string>{"XADD", "ml_events", "*", "event"});
  }
  SECTION("index fields beside event") {
    auto o = test_options();
    o.index_fields = true;
    Harness h(o);
    h.sink.handle(token_event(0));
    REQUIRE(h.sink.flush(2s));
    const auto c = h.server->commands().at(0);
    REQUIRE(c.size() == 14);
    CHECK(c[8] == "event_type");
    CHECK(c[9] == "token");
    CHECK(c[10] == "operation");
    CHECK(c[11] == "answer_generation");
    CHECK(c[12] == "execution_id");
    CHECK(c[13] == "exec_test");
  }
}

TEST_CASE("RedisSink batches events that arrive while a write is in flight", "[redis_sink]") {
  Harness h;
  h.server->stall();
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] { return h.server->stalled_executes() == 1; }));
  for (int i = 1; i < 1000; ++i) h.sink.handle(token_event(i));
  h.server->release();
  REQUIRE(h.sink.flush(5s));

  const auto stats = h.sink.stats();
  CHECK(stats.delivered == 1000);
  // The first event alone, then 999 waiting events in batches of max_batch_size.
  CHECK(stats.round_trips == 11);
  CHECK(indices_of(h.server->stream()) == range(1000));
}

TEST_CASE("RedisSink sends the next full batch while one is on the wire, and retries both in order",
          "[redis_sink]") {
  Harness h;
  h.server->stall();
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] { return h.server->stalled_executes() == 1; }));
  for (int i = 1; i <= 300; ++i) h.sink.handle(token_event(i));
  h.server->stall_execute_number(2);
  h.server->release();
  // The second write (events 1..100) is on the wire; 200 were waiting, so the next batch
  // (101..200) was taken, encoded and sent behind it: two batches in flight, 100 waiting.
  REQUIRE(eventually([&] { return h.server->stalled_executes() == 2; }));
  REQUIRE(eventually([&] { return h.sink.stats().in_flight == 200; }));
  CHECK(h.sink.stats().buffered == 300);

  // That write fails: both batches go again, in order, on the next connection.
  h.server->fail_next_executes(1);
  h.server->release();
  REQUIRE(h.flush_advancing());
  CHECK(indices_of(h.server->stream()) == range(301));
  const auto stats = h.sink.stats();
  CHECK(stats.delivered == 301);
  CHECK(stats.transport_errors == 1);
  CHECK(stats.retried_batches == 2);  // both were written (the second right behind the first)
}

TEST_CASE(
    "RedisSink compacts waiting events while the breaker is open and sends the same bytes later",
    "[redis_sink]") {
  auto o = test_options();
  o.index_fields = true;
  Harness h(o);
  h.server->set_down(true);
  h.sink.handle(token_event(0));  // taken into the first batch before the breaker opened
  REQUIRE(eventually([&] {
    h.clock.advance(1s);
    h.sink.flush(0ms);
    return h.sink.circuit_breaker().state == streamll::BreakerState::open;
  }));
  std::vector<std::string> ids;
  for (int i = 1; i <= 20; ++i) {
    auto event = large_event(i);
    ids.push_back(event.id.to_string());
    h.sink.handle(std::move(event));
  }
  // The flusher compacts them every few milliseconds, or when woken.
  REQUIRE(eventually([&] {
    h.sink.flush(0ms);
    return h.sink.stats().buffered_compacted == 20;
  }));
  CHECK(h.sink.stats().buffered == 21);

  h.server->set_down(false);
  h.clock.advance(120s);
  REQUIRE(h.flush_advancing());
  CHECK(indices_of(h.server->stream()) == range(21));
  CHECK(h.sink.stats().buffered_compacted == 0);
  const auto commands = h.server->commands();
  int xadds = 0;
  for (const auto& c : commands) {
    if (c.at(0) != "XADD") continue;
    ++xadds;
    REQUIRE(c.size() == 14);  // the index fields survived compaction
    CHECK(c[8] == "event_type");
    CHECK(c[9] == "token");
    CHECK(c[13] == "exec_test");
    const auto json = nlohmann::json::parse(c[7]);
    const int index = json["data"]["index"].get<int>();
    if (index >= 1) {
      CHECK(json["event_id"] == ids.at(static_cast<std::size_t>(index - 1)));
      CHECK(json["data"]["a_long_field_name_9"] == 4.5);
    }
  }
  CHECK(xadds == 21);
}

TEST_CASE("RedisSink keeps a failed batch and sends it again with the same event ids",
          "[redis_sink]") {
  Harness h;
  h.server->fail_next_executes(1);
  for (int i = 0; i < 50; ++i) h.sink.handle(token_event(i));
  REQUIRE(h.flush_advancing());
  const auto stream = h.server->stream();
  CHECK(indices_of(stream) == range(50));
  const auto stats = h.sink.stats();
  CHECK(stats.delivered == 50);
  CHECK(stats.retried_batches >= 1);
  CHECK(stats.transport_errors == 1);
  CHECK(h.server->connects() == 2);  // the failed write closed the connection
}

TEST_CASE(
    "RedisSink sends a batch whose replies were lost again with the same event ids (at-least-once)",
    "[redis_sink]") {
  Harness h;
  h.server->lose_replies_of_next_executes(1);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto event = token_event(i);
    ids.push_back(event.id.to_string());
    h.sink.handle(std::move(event));
  }
  REQUIRE(h.flush_advancing());
  // Every event is there; those of the lost round trip twice, with identical ids and bytes.
  const auto stream = h.server->stream();
  std::map<std::string, std::vector<std::string>> by_id;
  for (const auto& json : stream) by_id[nlohmann::json::parse(json)["event_id"]].push_back(json);
  CHECK(by_id.size() == ids.size());
  std::size_t duplicated = 0;
  for (const auto& id : ids) {
    REQUIRE(by_id.count(id) == 1);
    const auto& copies = by_id.at(id);
    if (copies.size() == 2) {
      ++duplicated;
      CHECK(copies[0] == copies[1]);
    }
    CHECK(copies.size() <= 2);
  }
  CHECK(duplicated >= 1);
  CHECK(stream.size() == ids.size() + duplicated);
  CHECK(h.sink.stats().delivered == ids.size());  // counted once, when acknowledged
}

TEST_CASE("RedisSink circuit breaker opens after failure_threshold failures and probes once",
          "[redis_sink]") {
  auto o = test_options();
  o.failure_threshold = 3;
  o.recovery_timeout = 30s;
  Harness h(o);
  h.server->set_down(true);
  h.sink.handle(token_event(0));

  // Reconnect backoff (100 ms doubling, on the manual clock) spaces the attempts: advance it.
  REQUIRE(eventually([&] {
    h.clock.advance(1s);
    h.sink.flush(0ms);  // wakes the flusher to look at the clock again
    return h.sink.circuit_breaker().state == streamll::BreakerState::open;
  }));
  const int attempts_when_opened = h.server->connect_attempts();
  CHECK(attempts_when_opened == 3);
  auto status = h.sink.circuit_breaker();
  CHECK(status.is_open);
  CHECK(status.failure_count == 3);
  CHECK(status.last_failure_time.has_value());
  CHECK(status.next_attempt_in > 20s);

  // While open: no connection attempts, events keep buffering.
  for (int i = 1; i < 10; ++i) h.sink.handle(token_event(i));
  CHECK_FALSE(h.sink.flush(50ms));
  CHECK(h.server->connect_attempts() == attempts_when_opened);
  CHECK(h.sink.buffered() == 10);

  // After recovery_timeout (+ jitter): one probe, which fails: open again with a longer wait.
  h.clock.advance(40s);
  REQUIRE(eventually([&] {
    h.sink.flush(0ms);
    return h.server->connect_attempts() == attempts_when_opened + 1;
  }));
  REQUIRE(
      eventually([&] { return h.sink.circuit_breaker().state == streamll::BreakerState::open; }));
  CHECK(h.sink.circuit_breaker().next_attempt_in > 40s);

  // Redis is back; the next probe closes the breaker and the buffer drains in order.
  h.server->set_down(false);
  h.clock.advance(120s);
  REQUIRE(h.flush_advancing());
  CHECK(h.sink.circuit_breaker().state == streamll::BreakerState::closed);
  CHECK(indices_of(h.server->stream()) == range(10));
}

TEST_CASE("RedisSink reset_circuit_breaker retries at once", "[redis_sink]") {
  Harness h;
  h.server->set_down(true);
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] {
    h.clock.advance(1s);
    h.sink.flush(0ms);
    return h.sink.circuit_breaker().is_open;
  }));
  h.server->set_down(false);
  h.sink.reset_circuit_breaker();
  REQUIRE(h.sink.flush(5s));
  CHECK(h.server->stream_size() == 1);
  CHECK_FALSE(h.sink.circuit_breaker().is_open);
}

TEST_CASE("RedisSink without circuit breaker still reconnects with backoff and never opens",
          "[redis_sink]") {
  auto o = test_options();
  o.circuit_breaker = false;
  Harness h(o);
  h.server->set_down(true);
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] {
    h.clock.advance(10s);
    h.sink.flush(0ms);
    return h.server->connect_attempts() >= 6;
  }));
  CHECK(h.sink.circuit_breaker().state == streamll::BreakerState::closed);
  h.server->set_down(false);
  // An attempt may still be failing as Redis comes back: keep the manual clock moving.
  REQUIRE(h.flush_advancing());
  CHECK(h.server->stream_size() == 1);
}

TEST_CASE("RedisSink counts error replies as failed and keeps going", "[redis_sink]") {
  Harness h;
  h.server->set_xadd_error("WRONGTYPE Operation against a key holding the wrong kind of value");
  for (int i = 0; i < 5; ++i) h.sink.handle(token_event(i));
  CHECK_FALSE(h.sink.flush(5s));  // resolved, but not delivered
  auto stats = h.sink.stats();
  CHECK(stats.failed == 5);
  CHECK(stats.reply_errors == 5);
  CHECK(stats.buffered == 0);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.last_error.find("WRONGTYPE") != std::string::npos);
  CHECK(h.sink.circuit_breaker().state == streamll::BreakerState::closed);

  h.server->set_xadd_error("");
  h.sink.handle(token_event(5));
  REQUIRE(h.sink.flush(5s));
  CHECK(indices_of(h.server->stream()) == std::vector<int>{5});
  stats = h.sink.stats();
  CHECK(stats.enqueued == stats.delivered + stats.failed);
}

TEST_CASE("RedisSink retries batches refused for the server's state (LOADING, READONLY)",
          "[redis_sink]") {
  Harness h;
  h.server->set_xadd_error("LOADING Redis is loading the dataset in memory");
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] { return h.sink.stats().transport_errors >= 1; }));
  CHECK(h.sink.stats().failed == 0);
  h.server->set_xadd_error("");
  REQUIRE(h.flush_advancing());
  CHECK(h.server->stream_size() == 1);
}

TEST_CASE("RedisSink reports authentication failures clearly", "[redis_sink]") {
  Harness h;
  h.server->set_reject_auth(true);
  h.sink.handle(token_event(0));
  REQUIRE(eventually([&] { return h.sink.stats().transport_errors >= 1; }));
  const auto stats = h.sink.stats();
  CHECK(stats.last_error.find("authentication failed") != std::string::npos);
  CHECK(stats.last_error.find("WRONGPASS") != std::string::npos);
  CHECK_FALSE(stats.connected);
}

TEST_CASE("RedisSink creates the consumer group on every connect", "[redis_sink]") {
  auto o = test_options();
  o.consumer_group = "ml_processors";
  Harness h(o);
  h.sink.handle(token_event(0));
  REQUIRE(h.sink.flush(2s));
  h.server->fail_next_executes(1);
  h.server->set_xgroup_error("BUSYGROUP Consumer Group name already exists");
  h.sink.handle(token_event(1));
  REQUIRE(h.flush_advancing());

  int creates = 0;
  for (const auto& c : h.server->commands()) {
    if (c.size() == 6 && c[0] == "XGROUP") {
      CHECK(c == std::vector<std::string>{"XGROUP", "CREATE", "ml_events", "ml_processors", "0",
                                          "MKSTREAM"});
      ++creates;
    }
  }
  CHECK(creates == 2);
  CHECK(h.sink.stats().reply_errors == 0);  // BUSYGROUP is not an error
}

TEST_CASE("RedisSink overflow strategies account for every event", "[redis_sink]") {
  auto o = test_options();
  o.buffer_size = 10;
  o.max_batch_size = 5;

  SECTION("drop_newest keeps the oldest") {
    o.buffer_overflow_strategy = streamll::OverflowStrategy::drop_newest;
    Harness h(o);
    h.server->set_down(true);
    for (int i = 0; i < 25; ++i) h.sink.handle(token_event(i));
    auto stats = h.sink.stats();
    CHECK(stats.dropped_newest == 15);
    CHECK(stats.enqueued == 10);
    h.server->set_down(false);
    h.sink.reset_circuit_breaker();
    REQUIRE(h.flush_advancing());
    CHECK(indices_of(h.server->stream()) == range(10));
    stats = h.sink.stats();
    CHECK(stats.delivered + stats.dropped() == 25);
  }
  SECTION("drop_oldest keeps the newest, except what is already in flight") {
    o.buffer_overflow_strategy = streamll::OverflowStrategy::drop_oldest;
    Harness h(o);
    h.server->stall();
    h.sink.handle(token_event(0));
    REQUIRE(eventually([&] { return h.server->stalled_executes() == 1; }));
    for (int i = 1; i < 25; ++i) h.sink.handle(token_event(i));
    // Counted at once: the stalled flusher holds no lock, so no push was staged.
    CHECK(h.sink.stats().dropped_oldest == 15);
    h.server->release();
    REQUIRE(eventually([&] { return h.sink.buffered() == 0; }));
    const auto stats = h.sink.stats();
    // Event 0 was in flight; of 1..24 the 9 newest fit beside it.
    CHECK(indices_of(h.server->stream()) ==
          std::vector<int>{0, 16, 17, 18, 19, 20, 21, 22, 23, 24});
    CHECK(stats.dropped_oldest == 15);
    CHECK(stats.delivered + stats.dropped() == 25);
  }
  SECTION("raise_error throws BufferOverflowError to the caller") {
    o.buffer_overflow_strategy = streamll::OverflowStrategy::raise_error;
    Harness h(o);
    h.server->set_down(true);
    for (int i = 0; i < 10; ++i) h.sink.handle(token_event(i));
    CHECK_THROWS_AS(h.sink.handle(token_event(10)), streamll::BufferOverflowError);
    CHECK(h.sink.stats().dropped_raise_error == 1);

    // Through an Instrumentor, the exception still reaches the emitting code.
    auto shared = std::shared_ptr<streamll::Sink>(&h.sink, [](streamll::Sink*) {});
    streamll::Instrumentor inst({{shared}, {}, ""});
    CHECK_THROWS_AS(streamll::Span(inst, "overflowing"), streamll::BufferOverflowError);
  }
}

namespace {
// Thread t emits token events t * 100000 + 0, 1, ... per_thread - 1; returns when all are done.
void emit_from_threads(streamll::RedisSink& sink, int threads, int per_thread) {
  std::vector<std::thread> producers;
  for (int t = 0; t < threads; ++t) {
    producers.emplace_back([&sink, t, per_thread] {
      for (int i = 0; i < per_thread; ++i) sink.handle(token_event(t * 100000 + i));
    });
  }
  for (auto& p : producers) p.join();
}

// The indices emit_from_threads gave, per emitting thread, in stream order.
std::vector<std::vector<int>> indices_per_thread(const std::vector<int>& indices, int threads) {
  std::vector<std::vector<int>> out(static_cast<std::size_t>(threads));
  for (int index : indices) out[static_cast<std::size_t>(index / 100000)].push_back(index % 100000);
  return out;
}
}  // namespace

TEST_CASE("RedisSink keeps each producer thread's order", "[redis_sink][concurrent]") {
  auto o = test_options();
  o.buffer_size = 10000;
  Harness h(o);
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  emit_from_threads(h.sink, threads, per_thread);
  REQUIRE(h.sink.flush(10s));
  for (const auto& emitted : indices_per_thread(indices_of(h.server->stream()), threads)) {
    CHECK(emitted == range(per_thread));
  }
  CHECK(h.sink.stats().delivered == threads * per_thread);
}

TEST_CASE("RedisSink: threads overflowing drop_oldest during an outage lose nothing uncounted",
          "[redis_sink][concurrent]") {
  // Producers meeting on a full buffer stage their events (RingBuffer's Staging::when_full);
  // the flusher moves what they leave staged, so buffered() reaches 0 without flush().
  auto o = test_options();
  o.buffer_size = 50;
  o.max_batch_size = 10;
  o.buffer_overflow_strategy = streamll::OverflowStrategy::drop_oldest;
  Harness h(o);
  h.server->set_down(true);
  constexpr int threads = 4;
  constexpr int per_thread = 3000;
  emit_from_threads(h.sink, threads, per_thread);
  REQUIRE(eventually([&] { return h.sink.buffered() <= o.buffer_size; }));
  h.server->set_down(false);
  h.sink.reset_circuit_breaker();
  REQUIRE(eventually([&] {
    h.clock.advance(1s);  // past any reconnect backoff
    return h.sink.buffered() == 0;
  }));
  const auto stats = h.sink.stats();
  CHECK(stats.failed == 0);
  CHECK(stats.delivered + stats.dropped() == threads * per_thread);
  CHECK(stats.delivered >= o.buffer_size);  // at least the buffer's worth survived the outage
  const auto delivered = indices_of(h.server->stream());
  CHECK(delivered.size() == stats.delivered);
  for (const auto& kept : indices_per_thread(delivered, threads)) {
    CHECK(std::adjacent_find(kept.begin(), kept.end(), std::greater_equal<>()) == kept.end());
  }
}

TEST_CASE("RedisSink shutdown is bounded when Redis hangs and counts what it left",
          "[redis_sink]") {
  auto o = test_options();
  Harness h(o);
  h.server->stall();
  for (int i = 0; i < 20; ++i) h.sink.handle(token_event(i));
  REQUIRE(eventually([&] { return h.server->stalled_executes() == 1; }));

  const auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(h.sink.shutdown(300ms));
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(took < 300ms + 400ms);
  CHECK_FALSE(h.sink.is_running());
  auto stats = h.sink.stats();
  CHECK(stats.dropped_on_shutdown == 20);
  CHECK(stats.delivered == 0);

  // After shutdown: nothing is taken, everything is counted.
  h.sink.handle(token_event(99));
  stats = h.sink.stats();
  CHECK(stats.dropped_on_shutdown == 21);
  CHECK_FALSE(h.sink.shutdown(100ms));  // idempotent: same answer
}

TEST_CASE("RedisSink shutdown delivers what is buffered when Redis is healthy", "[redis_sink]") {
  Harness h;
  for (int i = 0; i < 300; ++i) h.sink.handle(token_event(i));
  CHECK(h.sink.shutdown(5s));
  CHECK(h.server->stream_size() == 300);
  CHECK(h.sink.stats().dropped() == 0);
}

TEST_CASE("RedisSink flush reports false when Redis is down and true once it drained",
          "[redis_sink]") {
  Harness h;
  h.server->set_down(true);
  h.sink.handle(token_event(0));
  CHECK_FALSE(h.sink.flush(50ms));
  h.server->set_down(false);
  CHECK(h.flush_advancing());
}

TEST_CASE("RedisSink flush answers for the events enqueued since the previous flush",
          "[redis_sink]") {
  Harness h;
  SECTION("events refused before the call still count against it") {
    h.server->set_xadd_error("WRONGTYPE Operation against a key holding the wrong kind of value");
    for (int i = 0; i < 5; ++i) h.sink.handle(token_event(i));
    REQUIRE(eventually([&] { return h.sink.stats().failed == 5; }));
    CHECK_FALSE(h.sink.flush(2s));  // they were enqueued before this call, and lost
    CHECK(h.sink.flush(2s));        // nothing new since: nothing lost
    h.server->set_xadd_error("");
    h.sink.handle(token_event(5));
    CHECK(h.sink.flush(2s));  // the earlier losses were the first call's answer
  }
  SECTION("an eviction among the events waited for makes it false") {
    auto o = test_options();
    o.buffer_size = 5;
    o.max_batch_size = 5;
    Harness small(o);
    small.server->stall();
    small.sink.handle(token_event(0));
    REQUIRE(eventually([&] { return small.server->stalled_executes() == 1; }));
    for (int i = 1; i <= 7; ++i) small.sink.handle(token_event(i));  // 4 fit beside event 0
    CHECK(small.sink.stats().dropped_oldest == 3);
    small.server->release();
    CHECK_FALSE(small.sink.flush(2s));
    CHECK(indices_of(small.server->stream()) == std::vector<int>{0, 4, 5, 6, 7});
    small.sink.handle(token_event(8));
    CHECK(small.sink.flush(2s));
  }
  SECTION("a failure after the mark belongs to the next call") {
    h.sink.handle(token_event(0));
    CHECK(h.sink.flush(2s));
    h.server->set_xadd_error("OOM command not allowed when used memory > 'maxmemory'.");
    h.sink.handle(token_event(1));
    CHECK_FALSE(h.sink.flush(2s));
    CHECK(h.sink.stats().failed == 1);
  }
}

TEST_CASE(
    "RedisSink logs connects, batches and breaker waits at debug level (the guide's Debug Mode)",
    "[redis_sink]") {
  // The guide: logging.getLogger("streamll.sinks.redis").setLevel(logging.DEBUG).
  auto logger = streamll::detail::get_logger("streamll.sinks.redis");
  streamll::testing::CapturedLog capture("streamll.sinks.redis");
  const auto level_before = logger->level();
  streamll::set_log_level(streamll::LogLevel::debug, "streamll.sinks.redis");
  CHECK(logger->level() == spdlog::level::debug);
  {
    auto o = test_options();
    o.failure_threshold = 1;
    Harness h(o);
    for (int i = 0; i < 3; ++i) h.sink.handle(token_event(i));
    REQUIRE(h.sink.flush(2s));
    h.server->set_down(true);
    h.server->fail_next_executes(1);
    h.sink.handle(token_event(3));
    REQUIRE(eventually([&] {
      h.sink.flush(0ms);
      return h.sink.circuit_breaker().is_open;
    }));
    REQUIRE(eventually([&] {
      h.sink.flush(0ms);
      return capture.text().find("breaker open: next attempt in") != std::string::npos;
    }));
  }
  logger->set_level(level_before);
  const std::string logged = capture.text();
  INFO(logged);
  CHECK(logged.find("connecting (stream 'ml_events'") != std::string::npos);
  CHECK(logged.find("event(s) written to 'ml_events' in ") != std::string::npos);
  CHECK(logged.find("[debug]") != std::string::npos);
}

TEST_CASE("streamll logs at warn by default: the connected line shows only when asked", "[log]") {
  // A logger made afresh, as in a new process (an earlier test may have set this one's level).
  spdlog::drop("streamll.sinks.redis");
  const auto connect_and_log = [] {
    streamll::testing::CapturedLog capture("streamll.sinks.redis");
    Harness h;
    h.sink.handle(token_event(0));
    REQUIRE(h.sink.flush(2s));
    h.sink.shutdown(2s);
    return capture.text();
  };
  CHECK(streamll::detail::get_logger("streamll.sinks.redis")->level() == spdlog::level::warn);
  std::string logged = connect_and_log();
  CHECK(logged.find("connected to") == std::string::npos);

  streamll::set_log_level(streamll::LogLevel::info, "streamll.sinks.redis");
  logged = connect_and_log();
  streamll::set_log_level(streamll::LogLevel::warn, "streamll.sinks.redis");
  INFO(logged);
  CHECK(logged.find("[info]") != std::string::npos);
  CHECK(logged.find("connected to") != std::string::npos);
}

TEST_CASE("RedisSink rejects invalid options at construction", "[redis_sink]") {
  auto o = test_options();
  o.max_batch_size = 0;
  auto server = std::make_shared<FakeRedis>();
  ManualClock clock;
  CHECK_THROWS_AS(Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock),
                  streamll::ConfigError);
}

TEST_CASE("RedisSink refuses TLS files that do not hold certificates, naming the option",
          "[redis_sink]") {
  const std::string garbage = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                              "/streamll_not_a_certificate_" + std::to_string(::getpid()) + ".pem";
  { std::ofstream(garbage) << "this is not PEM\n"; }
  auto o = test_options();
  o.connection.url = "rediss://127.0.0.1:1";
  SECTION("a CA file") {
    o.connection.ssl_ca_file = garbage;
    try {
      streamll::RedisSink sink(o);
      FAIL("constructed");
    } catch (const streamll::ConfigError& e) {
      CHECK(e.option() == "ssl_ca_file");
      CHECK_THAT(e.what(), Catch::Contains("cannot load CA certificates"));
    }
  }
  SECTION("a client certificate") {
    o.connection.ssl_cert_reqs = streamll::SslCertReqs::none;
    o.connection.ssl_cert_file = garbage;
    o.connection.ssl_key_file = garbage;
    try {
      streamll::RedisSink sink(o);
      FAIL("constructed");
    } catch (const streamll::ConfigError& e) {
      CHECK(e.option() == "ssl_cert_file");
      CHECK_THAT(e.what(), Catch::Contains("cannot load the client certificate"));
    }
  }
  std::remove(garbage.c_str());
}
