// Consumers of a sharded deployment against one in-memory stream model per shard: every
// shard's entries dispatched to the same handlers, each shard's in order, none starved by a
// busy one, acknowledged on the shard they came from; a shard that is down costs only its own
// entries; dedupe spans the shards. Time is a ManualClock: no test sleeps for a timeout.

#include <catch2/catch.hpp>

#include <future>
#include <map>

#include "eventually.hpp"
#include "fake_stream_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "redis/consumer/sharded_consumer.hpp"
#include "streamll/errors.hpp"
#include "streamll/redis/consumer.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::GroupConsumer;
using streamll::StreamReader;
using streamll::detail::Injected;
using streamll::testing::eventually;
using streamll::testing::FakeStreamRedis;
using streamll::testing::FakeStreamTransport;
using streamll::testing::ManualClock;

namespace {

std::string event_json(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return std::string("{\"event_id\":\"") + id +
         "\",\"event_type\":\"token\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"operation\":"
         "\"op\","
         "\"data\":{\"n\":" +
         std::to_string(n) + "}}";
}

// Three shards, each its own stream model named as a ShardedRedisSink names them.
struct Shards {
  explicit Shards(std::size_t n = 3) {
    for (std::size_t i = 0; i < n; ++i) {
      redis.push_back(
          std::make_shared<FakeStreamRedis>(clock, "ml_events_shard_" + std::to_string(i)));
    }
  }
  streamll::ConsumerEndpointTransportFactory factory() {
    return
        [this](std::size_t shard,
               const streamll::RedisEndpoint&) -> std::unique_ptr<streamll::redis::RedisTransport> {
          return std::make_unique<FakeStreamTransport>(redis.at(shard));
        };
  }
  // Shard s gets events n for n in [first, first + count), numbered so their shard is n / 1000.
  void fill(std::size_t s, int count) {
    for (int i = 0; i < count; ++i) redis[s]->add_event(event_json(static_cast<int>(s) * 1000 + i));
  }
  ManualClock clock;
  std::vector<std::shared_ptr<FakeStreamRedis>> redis;
};

ConsumerOptions sharded_options(std::size_t shards = 3) {
  ConsumerOptions o;
  o.group = "g";
  o.consumer_name = "c1";
  o.batch_size = 10;
  o.claim_min_idle = 1000ms;
  o.claim_interval = 500ms;
  o.shard_count = shards;
  return o;
}

// Handler record: per shard, the event numbers in the order they were dispatched.
struct Seen {
  void operator()(const ConsumedEvent& m) {
    by_shard[m.shard].push_back(static_cast<int>(m.event.data["n"].as_int()));
    streams[m.shard] = m.stream;
    ++total;
  }
  std::map<std::size_t, std::vector<int>> by_shard;
  std::map<std::size_t, std::string> streams;
  std::size_t total = 0;
};

std::vector<int> numbers(int first, int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

}  // namespace

TEST_CASE("A sharded GroupConsumer reads every shard, in order per shard, and acks each on its own",
          "[consumer][sharded]") {
  Shards s;
  s.fill(0, 25);
  s.fill(1, 7);
  s.fill(2, 12);
  GroupConsumer consumer = Injected::group_consumer(sharded_options(), s.factory(), s.clock);
  Seen seen;
  consumer.on_any(std::ref(seen));
  CHECK(consumer.shard_count() == 3);

  // One poll gives every shard a step: a shard with a backlog cannot hold up the others.
  const auto first = consumer.poll(0ms);
  CHECK(first.connected);
  CHECK(seen.by_shard[1] == numbers(1000, 7));
  CHECK(seen.by_shard[2] == numbers(2000, 10));
  CHECK(seen.by_shard[0].size() >= 10);
  for (int i = 0; i < 10 && seen.total < 44; ++i) consumer.poll(0ms);
  REQUIRE(seen.total == 44);
  CHECK(seen.by_shard[0] == numbers(0, 25));
  CHECK(seen.by_shard[1] == numbers(1000, 7));
  CHECK(seen.by_shard[2] == numbers(2000, 12));
  CHECK(seen.streams[0] == "ml_events_shard_0");
  CHECK(seen.streams[2] == "ml_events_shard_2");

  // Each shard's group was created on that shard, and its entries acknowledged there.
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("shard " << i);
    CHECK(s.redis[i]->pending_ids("g").empty());
    CHECK(s.redis[i]->count_of("XGROUP") == 1);
    for (const auto& c : s.redis[i]->commands()) {
      if (c[0] == "XACK" || c[0] == "XREADGROUP")
        CHECK(std::find(c.begin(), c.end(), s.redis[i]->key()) != c.end());
    }
  }
  const auto stats = consumer.stats();
  CHECK(stats.handled == 44);
  CHECK(stats.acked == 44);
  CHECK(stats.connected);
  const auto per_shard = consumer.shard_stats();
  REQUIRE(per_shard.size() == 3);
  CHECK(per_shard[0].handled == 25);
  CHECK(per_shard[1].handled == 7);
  CHECK(per_shard[2].handled == 12);
}

TEST_CASE("A shard that is down costs only its own entries, and is read once it is back",
          "[consumer][sharded]") {
  Shards s;
  s.fill(0, 5);
  s.fill(1, 5);
  s.fill(2, 5);
  s.redis[1]->set_down(true);
  GroupConsumer consumer = Injected::group_consumer(sharded_options(), s.factory(), s.clock);
  Seen seen;
  consumer.on_any(std::ref(seen));

  const auto r = consumer.poll(0ms);
  CHECK(r.connected);  // some shards are
  CHECK(seen.by_shard[0] == numbers(0, 5));
  CHECK(seen.by_shard[2] == numbers(2000, 5));
  CHECK(seen.by_shard.count(1) == 0);
  auto stats = consumer.stats();
  CHECK_FALSE(stats.connected);  // not every shard is
  CHECK(stats.transport_errors == 1);
  CHECK_THAT(stats.last_error, Catch::Contains("Connection refused"));
  const auto per_shard = consumer.shard_stats();
  CHECK(per_shard[0].connected);
  CHECK_FALSE(per_shard[1].connected);
  CHECK(per_shard[1].transport_errors == 1);

  // Its backoff (100 ms) is its own: before it ends the shard is not tried again.
  consumer.poll(0ms);
  CHECK(s.redis[1]->connect_attempts() == 1);
  s.redis[1]->set_down(false);
  s.clock.advance(150ms);
  consumer.poll(0ms);
  CHECK(seen.by_shard[1] == numbers(1000, 5));
  CHECK(consumer.stats().connected);
  CHECK(s.redis[1]->pending_ids("g").empty());
}

TEST_CASE("A shard whose host stops answering does not hold the others up while it reconnects",
          "[consumer][sharded]") {
  using Mode = FakeStreamRedis::ConnectMode;
  Shards s(2);
  s.fill(0, 3);
  s.fill(1, 3);
  s.redis[1]->set_connect_mode(Mode::time_out);
  GroupConsumer consumer = Injected::group_consumer(sharded_options(2), s.factory(), s.clock);
  Seen seen;
  consumer.on_any(std::ref(seen));
  consumer.poll(0ms);  // shard 1's first connect times out (in this thread: nothing says yet
                       // that its host does not answer)
  CHECK(seen.by_shard[0] == numbers(0, 3));
  CHECK(seen.by_shard.count(1) == 0);
  CHECK_THAT(consumer.shard_stats()[1].last_error, Catch::Contains("timed out"));

  // Its next attempt hangs, as a connect to a partitioned host waits out its timeout: it runs
  // on a thread of its own while shard 0 keeps being read.
  s.redis[1]->set_connect_mode(Mode::hang);
  s.clock.advance(150ms);
  auto poll_in_time = [&] {
    auto done = std::async(std::launch::async, [&] { return consumer.poll(0ms); });
    const bool returned = done.wait_for(10s) == std::future_status::ready;
    if (!returned) s.redis[1]->set_connect_mode(Mode::answer);  // let the test end
    REQUIRE(returned);
    return done.get();
  };
  poll_in_time();
  REQUIRE(eventually([&] { return s.redis[1]->hanging_connects() == 1; }, 10s));
  s.redis[0]->add_event(event_json(100));
  poll_in_time();
  CHECK(seen.by_shard[0].back() == 100);
  CHECK(seen.by_shard.count(1) == 0);
  CHECK(s.redis[1]->connect_attempts() == 2);  // one attempt at a time

  // The host answers again: the attempt in flight succeeds and the shard is read.
  s.redis[1]->set_connect_mode(Mode::answer);
  CHECK(eventually(
      [&] {
        poll_in_time();
        return seen.by_shard[1].size() >= 3;
      },
      10s));
  CHECK(seen.by_shard[1] == numbers(1000, 3));
  CHECK(consumer.stats().connected);
  CHECK(s.redis[1]->connects() == 1);
}

TEST_CASE("Stopping a sharded consumer interrupts a connect running in the background",
          "[consumer][sharded]") {
  using Mode = FakeStreamRedis::ConnectMode;
  Shards s(2);
  s.redis[1]->set_connect_mode(Mode::time_out);
  auto consumer = std::unique_ptr<GroupConsumer>(
      new GroupConsumer(Injected::group_consumer(sharded_options(2), s.factory(), s.clock)));
  consumer->poll(0ms);
  s.redis[1]->set_connect_mode(Mode::hang);
  s.clock.advance(150ms);
  consumer->poll(0ms);
  REQUIRE(eventually([&] { return s.redis[1]->hanging_connects() == 1; }, 10s));
  auto destroyed = std::async(std::launch::async, [&] { consumer.reset(); });
  const bool returned = destroyed.wait_for(10s) == std::future_status::ready;
  if (!returned) s.redis[1]->set_connect_mode(Mode::answer);
  CHECK(returned);
  destroyed.wait();
  CHECK(s.redis[1]->hanging_connects() == 0);
}

TEST_CASE("Every shard down: poll reports no connection and the earliest retry",
          "[consumer][sharded]") {
  Shards s;
  for (auto& r : s.redis) r->set_down(true);
  GroupConsumer consumer = Injected::group_consumer(sharded_options(), s.factory(), s.clock);
  const auto r = consumer.poll(50ms);
  CHECK_FALSE(r.connected);
  CHECK(r.backoff > 0ms);
  CHECK(r.backoff <= 120ms);  // the first delay, 100 ms with 20% jitter
  CHECK(consumer.stats().transport_errors == 3);
}

TEST_CASE(
    "With nothing to read, a blocking poll sends a blocking read to every shard and takes the "
    "answers",
    "[consumer][sharded]") {
  Shards s;
  GroupConsumer consumer = Injected::group_consumer(sharded_options(), s.factory(), s.clock);
  Seen seen;
  consumer.on_any(std::ref(seen));
  // The models answer a blocking read at once (nothing to wait for in a unit test).
  const auto r = consumer.poll(250ms);
  CHECK(r.connected);
  CHECK(r.entries == 0);
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("shard " << i);
    int blocking = 0;
    for (const auto& c : s.redis[i]->commands()) {
      if (c[0] == "XREADGROUP" && std::find(c.begin(), c.end(), "BLOCK") != c.end()) {
        ++blocking;
        CHECK(c[std::find(c.begin(), c.end(), "BLOCK") - c.begin() + 1] == "250");
      }
    }
    CHECK(blocking == 1);
  }
  // Entries arriving later are read by the next poll, on whichever shard.
  s.fill(2, 3);
  consumer.poll(250ms);
  CHECK(seen.by_shard[2] == numbers(2000, 3));
}

TEST_CASE("Dedupe spans the shards", "[consumer][sharded]") {
  Shards s(2);
  s.redis[0]->add_event(event_json(7));
  s.redis[1]->add_event(event_json(7));  // the same event_id, written to both (a misrouted retry)
  auto o = sharded_options(2);
  o.dedupe_window = 100;
  GroupConsumer consumer = Injected::group_consumer(o, s.factory(), s.clock);
  Seen seen;
  consumer.on_any(std::ref(seen));
  consumer.poll(0ms);
  CHECK(seen.total == 1);
  CHECK(consumer.stats().duplicates == 1);
  CHECK(consumer.stats().acked == 2);  // the repeat is acknowledged on its shard too
}

TEST_CASE("A sharded StreamReader keeps a position per shard", "[consumer][sharded]") {
  Shards s;
  s.fill(0, 3);
  s.fill(1, 2);
  auto o = sharded_options();
  o.group.clear();
  o.consumer_name.clear();
  o.start_id = "0";
  StreamReader reader = Injected::stream_reader(o, s.factory(), s.clock);
  Seen seen;
  reader.on_any(std::ref(seen));
  reader.poll(0ms);
  CHECK(seen.by_shard[0] == numbers(0, 3));
  CHECK(seen.by_shard[1] == numbers(1000, 2));
  CHECK(reader.last_ids() == std::vector<std::string>{"3-0", "2-0", "0-0"});
  CHECK(reader.last_id().empty());  // no single position for several shards
  s.fill(2, 2);
  reader.poll(0ms);
  CHECK(seen.by_shard[2] == numbers(2000, 2));
  CHECK(reader.last_ids()[2] == "2-0");
  CHECK(reader.stats().handled == 7);
}

TEST_CASE("Sharding options: layout checks name the option, and the environment is read",
          "[consumer][sharded]") {
  ConsumerOptions o;
  o.shard_urls = {"redis://a:1", "redis://b:2"};
  o.shard_count = 3;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("shard_count") && Catch::Contains("disagrees"));
  o.shard_count = 0;
  o.shard_urls[1] = "redis://b:99999";
  try {
    o.validate();
    FAIL("expected ConfigError");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "url");
    CHECK_THAT(e.what(), Catch::Contains("shard 1"));
  }
  o.shard_urls.clear();
  o.shard_count = 2000;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("at most 1024"));
  o.shard_count = 4;
  CHECK_NOTHROW(o.validate());
  CHECK(o.shards() == 4);
  CHECK(ConsumerOptions{}.shards() == 1);

  const auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "STREAMLL_SHARD_URLS")
      return "redis://a:1,redis+cluster://n1:7000,n2:7000";
    return std::nullopt;
  };
  const auto from_env = ConsumerOptions::from_env(env);
  CHECK(from_env.shard_urls ==
        std::vector<std::string>{"redis://a:1", "redis+cluster://n1:7000,n2:7000"});
  const auto bad = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "STREAMLL_SHARD_COUNT") return "three";
    return std::nullopt;
  };
  CHECK_THROWS_WITH(ConsumerOptions::from_env(bad), Catch::Contains("STREAMLL_SHARD_COUNT"));
}

TEST_CASE("Shard stats add up, connected only when all are, the latest error wins",
          "[consumer][sharded]") {
  streamll::ConsumerStats a;
  a.handled = 3;
  a.acked = 3;
  a.connected = true;
  a.last_error = "old";
  streamll::ConsumerStats b;
  b.handled = 4;
  b.transport_errors = 2;
  b.redirects = 1;
  b.undecodable.malformed_json = 1;
  b.last_error = "new";
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::seconds(10));
  const auto merged = streamll::redis::merge_consumer_stats({a, b}, {t0, t0 + 1s});
  CHECK(merged.handled == 7);
  CHECK(merged.acked == 3);
  CHECK(merged.transport_errors == 2);
  CHECK(merged.redirects == 1);
  CHECK(merged.undecodable.total() == 1);
  CHECK_FALSE(merged.connected);
  CHECK(merged.last_error == "new");
  b.connected = true;
  CHECK(streamll::redis::merge_consumer_stats({a, b}, {t0 + 2s, t0}).last_error == "old");
  CHECK(streamll::redis::merge_consumer_stats({a, b}, {t0, t0}).connected);
}
