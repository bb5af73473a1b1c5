// GroupConsumer and StreamReader against an in-memory stream model: dispatch, acknowledgement,
// handler failures, undecodable entries, dedupe, claiming, reconnect backoff and stop(). Time
// is a ManualClock: no test sleeps for a timeout.

#include <catch2/catch.hpp>

#include <thread>

#include "eventually.hpp"
#include "fake_stream_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/consumer.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::EventType;
using streamll::GroupConsumer;
using streamll::StreamReader;
using streamll::detail::Injected;
using streamll::testing::fake_stream_factory;
using streamll::testing::FakeStreamRedis;
using streamll::testing::ManualClock;

namespace {

ConsumerOptions group_options(const std::string& consumer = "c1") {
  ConsumerOptions o;
  o.group = "g";
  o.consumer_name = consumer;
  o.batch_size = 10;
  o.claim_min_idle = 1000ms;
  o.claim_interval = 500ms;
  return o;
}

std::string event_json(const std::string& type, int n, const std::string& id_suffix = "") {
  // A fixed, valid UUID per n, so that tests can repeat an event on purpose.
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return std::string("{\"event_id\":\"") + id + id_suffix + "\",\"event_type\":\"" + type +
         "\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"operation\":\"op\",\"data\":{\"n\":" +
         std::to_string(n) + "}}";
}

struct Fixture {
  ManualClock clock;
  std::shared_ptr<FakeStreamRedis> redis = std::make_shared<FakeStreamRedis>(clock);
};

}  // namespace

TEST_CASE("GroupConsumer dispatches by type and acknowledges each batch with one XACK",
          "[consumer]") {
  Fixture f;
  f.redis->add_event(event_json("llm_call", 1));
  f.redis->add_event(event_json("error", 2));
  f.redis->add_event(event_json("token", 3));
  f.redis->add_event(event_json("retrieval_done", 4));
  f.redis->add_event(event_json("start", 5));
  GroupConsumer consumer =
      Injected::group_consumer(group_options(), fake_stream_factory(f.redis), f.clock);
  std::vector<std::string> seen;
  consumer
      .on(EventType::llm_call,
          [&](const ConsumedEvent& m) { seen.push_back("llm_call:" + m.entry_id); })
      .on(EventType::error, [&](const ConsumedEvent& m) { seen.push_back("error:" + m.entry_id); })
      .on("token", [&](const ConsumedEvent& m) { seen.push_back("token:" + m.entry_id); })
      .on("retrieval_done", [&](const ConsumedEvent& m) { seen.push_back("named:" + m.entry_id); })
      .on(EventType::custom,
          [&](const ConsumedEvent& m) { seen.push_back("custom:" + m.entry_id); })
      .on_any([&](const ConsumedEvent& m) {
        seen.push_back("any:" + std::string(m.event.type_name()));
      });

  const auto result = consumer.poll(0ms);
  CHECK(result.connected);
  CHECK(result.entries == 5);
  CHECK(result.handled == 5);
  CHECK(seen == std::vector<std::string>{"llm_call:1-0", "any:llm_call", "error:2-0", "any:error",
                                         "token:3-0", "any:token", "named:4-0", "custom:4-0",
                                         "any:retrieval_done", "any:start"});
  CHECK(f.redis->count_of("XACK") == 1);
  CHECK(f.redis->pending_ids("g").empty());
  const auto s = consumer.stats();
  CHECK(s.entries_read == 5);
  CHECK(s.handled == 5);
  CHECK(s.acked == 5);
  CHECK(s.unhandled_types == 0);
  // The group was created from the start of the stream, MKSTREAM.
  const auto commands = f.redis->commands();
  REQUIRE(!commands.empty());
  CHECK(commands.front() ==
        streamll::testing::Command{"XGROUP", "CREATE", "ml_events", "g", "0", "MKSTREAM"});
}

TEST_CASE(
    "A throwing handler leaves its entry pending, counted and reported, and the consumer goes on",
    "[consumer]") {
  Fixture f;
  for (int i = 1; i <= 4; ++i) f.redis->add_event(event_json("llm_call", i));
  GroupConsumer consumer =
      Injected::group_consumer(group_options(), fake_stream_factory(f.redis), f.clock);
  std::vector<std::string> errors;
  int calls = 0;
  consumer.on(EventType::llm_call, [&](const ConsumedEvent& m) {
    ++calls;
    if (m.event.data["n"].as_int() == 2) throw std::runtime_error("database down");
  });
  consumer.on_handler_error([&](const ConsumedEvent& m, const std::string& what) {
    errors.push_back(m.entry_id + " " + what);
  });
  consumer.poll(0ms);
  CHECK(calls == 4);
  CHECK(errors == std::vector<std::string>{"2-0 database down"});
  CHECK(f.redis->pending_ids("g") == std::vector<std::string>{"2-0"});
  const auto s = consumer.stats();
  CHECK(s.handled == 3);
  CHECK(s.handler_failures == 1);
  CHECK(s.acked == 3);
  CHECK(s.last_error.find("database down") != std::string::npos);

  // After claim_min_idle the failed entry comes back (XAUTOCLAIM, here in the same consumer).
  f.clock.advance(1500ms);
  consumer.poll(0ms);
  CHECK(calls == 5);
  CHECK(f.redis->pending_ids("g") == std::vector<std::string>{"2-0"});  // it threw again
  CHECK(consumer.stats().claimed == 1);
}

TEST_CASE("Entries that are not events are counted, reported, and acked or left by policy",
          "[consumer]") {
  for (const auto policy :
       {streamll::BadEntryPolicy::ack_and_skip, streamll::BadEntryPolicy::leave_pending}) {
    Fixture f;
    f.redis->add({{"foo", "bar"}});
    f.redis->add_event("{not json");
    f.redis->add_event("{\"event_type\":42}");
    f.redis->add_event("[1,2,3]");
    f.redis->add_event(event_json("llm_call", 5));
    auto options = group_options();
    options.bad_entry_policy = policy;
    GroupConsumer consumer =
        Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
    std::vector<streamll::DecodeFailure> failures;
    int handled = 0;
    consumer.on_any([&](const ConsumedEvent&) { ++handled; });
    consumer.on_decode_failure([&](const streamll::DecodeFailure& d) { failures.push_back(d); });
    consumer.poll(0ms);
    CHECK(handled == 1);
    REQUIRE(failures.size() == 4);
    CHECK(failures[0].kind == streamll::DecodeFailureKind::missing_event_field);
    CHECK(failures[0].entry_id == "1-0");
    CHECK(failures[1].kind == streamll::DecodeFailureKind::malformed_json);
    CHECK(failures[1].excerpt == "{not json");
    CHECK(failures[2].kind == streamll::DecodeFailureKind::invalid_event);
    CHECK(failures[3].kind == streamll::DecodeFailureKind::invalid_event);
    const auto s = consumer.stats();
    CHECK(s.undecodable.total() == 4);
    CHECK(s.undecodable.missing_event_field == 1);
    CHECK(s.undecodable.malformed_json == 1);
    CHECK(s.undecodable.invalid_event == 2);
    if (policy == streamll::BadEntryPolicy::ack_and_skip) {
      CHECK(f.redis->pending_ids("g").empty());
      CHECK(s.acked == 5);
    } else {
      CHECK(f.redis->pending_ids("g") == std::vector<std::string>{"1-0", "2-0", "3-0", "4-0"});
      CHECK(s.acked == 1);
    }
  }
}

TEST_CASE("Dedupe skips a repeated event_id within its window, and forgets the oldest",
          "[consumer]") {
  Fixture f;
  f.redis->add_event(event_json("token", 1));
  f.redis->add_event(event_json("token", 2));
  f.redis->add_event(event_json("token", 1));  // a retried batch delivered twice
  f.redis->add_event(event_json("token", 3));
  f.redis->add_event(event_json("token", 4));
  f.redis->add_event(event_json("token", 1));  // 1 has left the window of 3 by now
  auto options = group_options();
  options.dedupe_window = 3;
  GroupConsumer consumer = Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
  std::vector<std::int64_t> handled;
  consumer.on_any([&](const ConsumedEvent& m) { handled.push_back(m.event.data["n"].as_int()); });
  consumer.poll(0ms);
  CHECK(handled == std::vector<std::int64_t>{1, 2, 3, 4, 1});
  CHECK(consumer.stats().duplicates == 1);
  CHECK(f.redis->pending_ids("g").empty());  // the duplicate is acknowledged too
}

TEST_CASE("Entries left pending by a dead consumer are claimed after claim_min_idle, not before",
          "[consumer]") {
  Fixture f;
  for (int i = 1; i <= 3; ++i) f.redis->add_event(event_json("llm_call", i));
  {
    // The dead one: reads the batch, its handler never returns normally.
    GroupConsumer dead =
        Injected::group_consumer(group_options("dead"), fake_stream_factory(f.redis), f.clock);
    dead.on_any([](const ConsumedEvent&) { throw std::runtime_error("crash"); });
    dead.poll(0ms);
  }
  REQUIRE(f.redis->pending_ids("g").size() == 3);
  CHECK(f.redis->pending_owner("g", "1-0") == "dead");

  GroupConsumer survivor =
      Injected::group_consumer(group_options("survivor"), fake_stream_factory(f.redis), f.clock);
  std::vector<std::string> got;
  survivor.on_any([&](const ConsumedEvent& m) {
    CHECK(m.redelivered);
    got.push_back(m.entry_id);
  });
  f.clock.advance(999ms);
  survivor.poll(0ms);
  CHECK(got.empty());  // not idle long enough yet
  const int claims = f.redis->count_of("XAUTOCLAIM");
  f.clock.advance(100ms);
  survivor.poll(0ms);
  CHECK(f.redis->count_of("XAUTOCLAIM") == claims);  // the next scan waits for claim_interval
  f.clock.advance(500ms);
  survivor.poll(0ms);
  CHECK(got == std::vector<std::string>{"1-0", "2-0", "3-0"});
  CHECK(f.redis->pending_ids("g").empty());
  CHECK(survivor.stats().claimed == 3);
}

TEST_CASE("A consumer reconnects with backoff and first re-reads its own pending entries",
          "[consumer]") {
  Fixture f;
  f.redis->set_down(true);
  auto options = group_options();
  options.reconnect_initial_delay = 100ms;
  GroupConsumer consumer = Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
  std::vector<std::string> got;
  bool fail = true;
  consumer.on_any([&](const ConsumedEvent& m) {
    if (fail) throw std::runtime_error("not yet");
    got.push_back(m.entry_id + (m.redelivered ? " again" : ""));
  });

  auto r = consumer.poll(0ms);
  CHECK_FALSE(r.connected);
  CHECK(r.backoff > 0ms);
  CHECK(r.backoff <= 120ms);  // 100 ms +- 20% jitter
  CHECK(f.redis->connect_attempts() == 1);
  consumer.poll(0ms);
  CHECK(f.redis->connect_attempts() == 1);  // still backing off: no attempt
  f.clock.advance(150ms);
  f.redis->set_down(false);
  f.redis->add_event(event_json("token", 1));
  r = consumer.poll(0ms);
  CHECK(r.connected);
  CHECK(f.redis->pending_ids("g") == std::vector<std::string>{"1-0"});  // handler threw

  // The connection breaks; after reconnecting the consumer re-reads what it still holds.
  f.redis->fail_next_executes(1);
  r = consumer.poll(0ms);
  CHECK_FALSE(r.connected);
  fail = false;
  f.clock.advance(1s);
  r = consumer.poll(0ms);
  CHECK(r.connected);
  CHECK(got == std::vector<std::string>{"1-0 again"});
  CHECK(f.redis->pending_ids("g").empty());
  const auto s = consumer.stats();
  CHECK(s.transport_errors == 2);
  CHECK(s.reconnects == 1);
}

TEST_CASE("stop() from another thread ends run() while it is blocked in a read", "[consumer]") {
  Fixture f;
  f.redis->set_blocking(true);
  auto options = group_options();
  options.block = 60s;  // only the interrupt can end the read in time
  GroupConsumer consumer = Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
  std::thread runner([&] { consumer.run(); });
  // Wait for the read to block (another thread's progress, not a timeout).
  REQUIRE(streamll::testing::eventually([&] { return f.redis->blocked_reads() > 0; }, 30s));
  const auto before = std::chrono::steady_clock::now();
  consumer.stop();
  runner.join();
  CHECK(std::chrono::steady_clock::now() - before < 20s);  // far below the 60 s block
  CHECK(consumer.stats().transport_errors == 0);           // our own interrupt is not a failure
  CHECK(consumer.stopping());
}

TEST_CASE("StreamReader reads from the start, from an id, or only what arrives after it connects",
          "[consumer]") {
  Fixture f;
  f.redis->add_event(event_json("start", 1));
  f.redis->add_event(event_json("end", 2));
  auto collect = [&](const std::string& start_id) {
    ConsumerOptions o;
    o.start_id = start_id;
    auto reader = std::unique_ptr<StreamReader>(
        new StreamReader(Injected::stream_reader(o, fake_stream_factory(f.redis), f.clock)));
    auto got = std::make_shared<std::vector<std::string>>();
    reader->on_any([got](const ConsumedEvent& m) { got->push_back(m.entry_id); });
    return std::make_pair(std::move(reader), got);
  };
  auto [from_start, all] = collect("0");
  from_start->poll(0ms);
  CHECK(*all == std::vector<std::string>{"1-0", "2-0"});
  CHECK(from_start->last_id() == "2-0");

  auto [after_first, rest] = collect("1-0");
  after_first->poll(0ms);
  CHECK(*rest == std::vector<std::string>{"2-0"});

  auto [only_new, fresh] = collect("$");
  only_new->poll(0ms);
  CHECK(fresh->empty());
  f.redis->add_event(event_json("token", 3));
  only_new->poll(0ms);
  CHECK(*fresh == std::vector<std::string>{"3-0"});
  CHECK(f.redis->count_of("XACK") == 0);
}

TEST_CASE("ConsumerOptions are validated", "[consumer]") {
  Fixture f;
  auto factory = fake_stream_factory(f.redis);
  auto o = group_options();
  o.group.clear();
  CHECK_THROWS_AS(Injected::group_consumer(o, factory, f.clock), streamll::ConfigError);
  o = group_options();
  o.consumer_name.clear();
  CHECK_THROWS_AS(Injected::group_consumer(o, factory, f.clock), streamll::ConfigError);
  o = group_options();
  o.batch_size = 0;
  CHECK_THROWS_AS(Injected::group_consumer(o, factory, f.clock), streamll::ConfigError);
  o = group_options();
  o.start_id = "yesterday";
  CHECK_THROWS_AS(Injected::stream_reader(o, factory, f.clock), streamll::ConfigError);
  o = group_options();
  o.group_start_id = "12-x";
  CHECK_THROWS_AS(Injected::group_consumer(o, factory, f.clock), streamll::ConfigError);
  const auto env = ConsumerOptions::from_env([](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "STREAMLL_STREAM_KEY") return "events_prod";
    if (std::string(name) == "STREAMLL_CONSUMER_GROUP") return "analytics";
    if (std::string(name) == "REDIS_URL") return "redis://cache:6380";
    return std::nullopt;
  });
  CHECK(env.stream_key == "events_prod");
  CHECK(env.group == "analytics");
  CHECK(env.connection.url == "redis://cache:6380");
}

TEST_CASE("While a backlog lasts the next batch is read ahead, and stop() leaves it pending",
          "[consumer]") {
  Fixture f;
  for (int i = 1; i <= 5; ++i) f.redis->add_event(event_json("token", i));
  auto options = group_options();
  options.batch_size = 2;
  GroupConsumer consumer = Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
  std::vector<std::string> got;
  consumer.on_any([&](const ConsumedEvent& m) { got.push_back(m.entry_id); });
  auto r = consumer.poll(0ms);
  CHECK(r.handled == 2);
  CHECK(f.redis->pending_ids("g") ==
        std::vector<std::string>{"3-0", "4-0"});  // read ahead, not yet handled
  r = consumer.poll(0ms);
  CHECK(r.handled == 2);
  r = consumer.poll(0ms);
  CHECK(r.handled == 1);
  CHECK(got == std::vector<std::string>{"1-0", "2-0", "3-0", "4-0", "5-0"});
  CHECK(f.redis->pending_ids("g").empty());
  CHECK(consumer.stats().acked == 5);

  // stop() while a batch is dispatched: what was read ahead stays pending for a restart.
  for (int i = 6; i <= 9; ++i) f.redis->add_event(event_json("token", i));
  consumer.on_any([&](const ConsumedEvent& m) {
    if (m.entry_id == "6-0") consumer.stop();
  });
  consumer.poll(0ms);
  const auto s = consumer.stats();
  CHECK(s.unprocessed_on_stop == 3);  // 7-0 (this batch) and 8-0, 9-0 (read ahead)
  CHECK(f.redis->pending_ids("g") == std::vector<std::string>{"7-0", "8-0", "9-0"});
  CHECK(s.entries_read == s.handled + s.unprocessed_on_stop);
}

TEST_CASE("Large batches decoded on two threads are dispatched in stream order", "[consumer]") {
  Fixture f;
  for (int i = 1; i <= 500; ++i)
    f.redis->add_event(i % 50 == 0 ? std::string("{broken") : event_json("token", i));
  auto options = group_options();
  options.batch_size = 200;
  GroupConsumer consumer = Injected::group_consumer(options, fake_stream_factory(f.redis), f.clock);
  std::vector<std::int64_t> order;
  consumer.on_any([&](const ConsumedEvent& m) { order.push_back(m.event.data["n"].as_int()); });
  for (int i = 0; i < 10 && consumer.poll(0ms).entries > 0; ++i) {
  }
  std::vector<std::int64_t> expected;
  for (int i = 1; i <= 500; ++i) {
    if (i % 50 != 0) expected.push_back(i);
  }
  CHECK(order == expected);
  const auto s = consumer.stats();
  CHECK(s.undecodable.malformed_json == 10);
  CHECK(s.acked == 500);
  CHECK(f.redis->pending_ids("g").empty());
}
