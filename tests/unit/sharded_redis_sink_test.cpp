// ShardedRedisSink against fakes: the stable routing of executions, per-shard stream keys,
// a shard that is down holding only its own events, stats per shard and summed.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eventually.hpp"
#include "fake_network.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"

using namespace std::chrono_literals;
using streamll::RedisEndpoint;
using streamll::detail::Injected;
using streamll::redis::RedisReply;
using streamll::testing::Command;
using streamll::testing::eventually;
using streamll::testing::FakeConnection;
using streamll::testing::FakeNetwork;
using streamll::testing::local;
using streamll::testing::ManualClock;

namespace {

streamll::Event event_of(const std::string& execution, int index) {
  auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{execution, "s", "", "op", "", {}});
  streamll::Fields data;
  data.set("index", index);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

// Three fake servers recording (stream key, execution, index) of each XADD.
struct ThreeFakeShards {
  ThreeFakeShards() {
    for (const std::uint16_t port :
         {std::uint16_t{6001}, std::uint16_t{6002}, std::uint16_t{6003}}) {
      net.serve(local(port), [this, port](const Command& c, FakeConnection&) {
        if (c[0] == "XADD") {
          const auto json = nlohmann::json::parse(c.back());
          std::lock_guard<std::mutex> lock(mutex);
          written[port].push_back(
              {c[1], json["execution_id"].get<std::string>(), json["data"]["index"].get<int>()});
          return RedisReply::make_string("1-0");
        }
        return RedisReply::make_status("OK");
      });
    }
    options.shard_urls = {"redis://127.0.0.1:6001", "redis://127.0.0.1:6002",
                          "redis://127.0.0.1:6003"};
    options.sink.stream_key = "ml_events";
    options.sink.buffer_size = 1000;
    options.sink.recovery_timeout = 30s;
    options.sink.shutdown_timeout = 300ms;
    // Heartbeats have tests of their own (redis_heartbeat_test.cpp); here they would only add
    // round trips and connections to what the tests count.
    options.sink.heartbeat_interval = 0ms;
  }
  struct Written {
    std::string key, execution;
    int index;
  };
  streamll::ShardTransportFactory factory() {
    return [this](std::size_t, const RedisEndpoint& e) { return net.transport(e); };
  }
  FakeNetwork net;
  std::mutex mutex;
  std::map<std::uint16_t, std::vector<Written>> written;
  streamll::ShardedRedisSinkOptions options;
};

}  // namespace

TEST_CASE("shard_for_execution: the guide's md5 rule by default as Python computes it",
          "[sharded]") {
  using streamll::shard_for_execution;
  // int(hashlib.md5(id.encode()).hexdigest(), 16) % n, computed once with python3 for these ids
  // (empty, one character, typical, a UUID, long, non-ASCII UTF-8) and n = 1 2 3 7 16 100.
  const std::size_t counts[] = {1, 2, 3, 7, 16, 100};
  const std::vector<std::pair<std::string, std::array<std::size_t, 6>>> python = {
      {std::string(""), {0, 0, 0, 1, 14, 66}},
      {std::string("a"), {0, 1, 1, 0, 1, 97}},
      {std::string("exec_42"), {0, 1, 0, 4, 7, 75}},
      {std::string("550e8400-e29b-41d4-a716-446655440000"), {0, 1, 0, 0, 13, 65}},
      {std::string(300, 'x'), {0, 0, 0, 6, 8, 16}},
      {std::string("ex\xc3\xa9"
                   "cution-\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e-\xf0\x9f\x9a\x80"),
       {0, 0, 2, 2, 10, 26}},
  };
  for (const auto& [id, shards] : python) {
    for (std::size_t i = 0; i < 6; ++i) {
      INFO("id of " << id.size() << " bytes, " << counts[i] << " shards");
      CHECK(shard_for_execution(id, counts[i]) == shards[i]);
      CHECK(shard_for_execution(id, counts[i], streamll::ShardHash::md5) == shards[i]);
    }
  }
  // The 128-bit digest's modulo is exact for any count, beyond what a byte-wise remainder in
  // 64 bits could hold (python3: the same expression with these n).
  CHECK(shard_for_execution("exec_42", 1024) == 743);
  CHECK(shard_for_execution("exec_42", (std::size_t{1} << 56) + 3) == 68325967532354347ull);
  CHECK(shard_for_execution("exec_42", 18446744073709551557ull) == 18072849986988391649ull);
  CHECK(shard_for_execution("anything", 0) == 0);
  CHECK(streamll::shard_stream_key("ml_events", 2) == "ml_events_shard_2");
}

TEST_CASE("shard_for_execution: FNV-1a 64 modulo the shard count when asked and stable",
          "[sharded]") {
  using streamll::shard_for_execution;
  constexpr auto fnv1a = streamll::ShardHash::fnv1a;
  // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; of "" the offset basis 0xcbf29ce484222325.
  CHECK(shard_for_execution("a", 1000, fnv1a) == 0xaf63dc4c8601ec8cull % 1000);
  CHECK(shard_for_execution("", 7, fnv1a) == 0xcbf29ce484222325ull % 7);
  CHECK(shard_for_execution("anything", 1, fnv1a) == 0);
  CHECK(shard_for_execution("anything", 0, fnv1a) == 0);
  std::array<int, 4> counts{};
  for (int i = 0; i < 4000; ++i)
    ++counts[shard_for_execution("exec_" + std::to_string(i), 4, fnv1a)];
  for (int c : counts) CHECK(c > 800);  // roughly even
}

TEST_CASE("ShardedRedisSink routes by the guide's md5 unless shard_hash says fnv1a", "[sharded]") {
  ThreeFakeShards t;
  ManualClock clock;
  // python3: int(hashlib.md5(b"exec_42").hexdigest(), 16) % 3 == 0; for "a" 1.
  streamll::ShardedRedisSink guide = Injected::sharded_redis_sink(t.options, t.factory(), clock);
  CHECK(guide.shard_of("exec_42") == 0);
  CHECK(guide.shard_of("a") == 1);
  auto fast_options = t.options;
  fast_options.shard_hash = streamll::ShardHash::fnv1a;
  streamll::ShardedRedisSink fast = Injected::sharded_redis_sink(fast_options, t.factory(), clock);
  CHECK(fast.shard_of("a") == 0xaf63dc4c8601ec8cull % 3);

  const auto from_env = [](const char* value) {
    return streamll::ShardedRedisSinkOptions::from_env([value](const char* name) {
      return std::string(name) == "STREAMLL_SHARD_HASH" ? std::optional<std::string>(value)
                                                        : std::nullopt;
    });
  };
  CHECK(from_env("fnv1a").shard_hash == streamll::ShardHash::fnv1a);
  CHECK(from_env("md5").shard_hash == streamll::ShardHash::md5);
  try {
    from_env("sha1");
    FAIL("no ConfigError");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "STREAMLL_SHARD_HASH");
  }
  guide.shutdown(1s);
  fast.shutdown(1s);
}

TEST_CASE("ShardedRedisSink: one execution on one shard in order and each shard its own stream",
          "[sharded]") {
  ThreeFakeShards t;
  ManualClock clock;
  streamll::ShardedRedisSink sink = Injected::sharded_redis_sink(t.options, t.factory(), clock);
  REQUIRE(sink.shard_count() == 3);
  for (int i = 0; i < 10; ++i) {
    for (int e = 0; e < 30; ++e) sink.handle(event_of("exec_" + std::to_string(e), i));
  }
  REQUIRE(sink.flush(5s));
  std::map<std::string, std::vector<int>> by_execution;
  std::lock_guard<std::mutex> lock(t.mutex);
  for (std::size_t s = 0; s < 3; ++s) {
    const auto port = static_cast<std::uint16_t>(6001 + s);
    CHECK_FALSE(t.written[port].empty());
    for (const auto& w : t.written[port]) {
      CHECK(w.key == "ml_events_shard_" + std::to_string(s));
      CHECK(sink.shard_of(w.execution) == s);
      by_execution[w.execution].push_back(w.index);
    }
  }
  REQUIRE(by_execution.size() == 30);
  for (const auto& [execution, indices] : by_execution) {
    INFO(execution);
    CHECK(indices == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  const auto total = sink.stats();
  CHECK(total.delivered == 300);
  CHECK(total.connected);
  std::uint64_t sum = 0;
  for (const auto& s : sink.shard_stats()) sum += s.delivered;
  CHECK(sum == 300);
}

TEST_CASE("ShardedRedisSink: each shard writes its tokens to its own token stream",
          "[sharded][tokens]") {
  ThreeFakeShards t;
  t.options.sink.token_stream_key = "ml_tokens";
  ManualClock clock;
  streamll::ShardedRedisSink sink = Injected::sharded_redis_sink(t.options, t.factory(), clock);
  for (int e = 0; e < 30; ++e) {
    const std::string execution = "exec_" + std::to_string(e);
    sink.handle(event_of(execution, 0));  // a token
    auto call = event_of(execution, 1);
    call.type = streamll::EventType::llm_call;
    sink.handle(call);
  }
  REQUIRE(sink.flush(5s));
  std::lock_guard<std::mutex> lock(t.mutex);
  std::size_t written = 0;
  for (std::size_t s = 0; s < 3; ++s) {
    const auto port = static_cast<std::uint16_t>(6001 + s);
    for (const auto& w : t.written[port]) {
      CAPTURE(s, w.index);
      // Index 0 is each execution's token, 1 its llm_call.
      CHECK(w.key == (w.index == 0 ? "ml_tokens_shard_" : "ml_events_shard_") + std::to_string(s));
      CHECK(sink.shard_of(w.execution) == s);
      ++written;
    }
  }
  CHECK(written == 60);
}

TEST_CASE("ShardedRedisSink: sums the shards' truncated and failed_too_large", "[sharded]") {
  ThreeFakeShards t;
  t.options.sink.max_event_bytes = 4096;
  ManualClock clock;
  streamll::ShardedRedisSink sink = Injected::sharded_redis_sink(t.options, t.factory(), clock);
  for (int e = 0; e < 30; ++e) {
    auto event = event_of("exec_" + std::to_string(e), 0);
    event.data.set("text", std::string(10000, 'x'));  // cut to fit
    sink.handle(std::move(event));
  }
  auto too_large = event_of("exec_0", 1);
  for (int i = 0; i < 2000; ++i) too_large.data.set("field_" + std::to_string(i), i);
  sink.handle(std::move(too_large));
  CHECK_FALSE(sink.flush(5s));  // the too large one is lost
  const auto total = sink.stats();
  CHECK(total.delivered == 30);
  CHECK(total.truncated == 30);
  CHECK(total.failed == 1);
  CHECK(total.failed_too_large == 1);
  std::uint64_t truncated = 0, too_large_sum = 0;
  for (const auto& s : sink.shard_stats()) {
    truncated += s.truncated;
    too_large_sum += s.failed_too_large;
  }
  CHECK(truncated == 30);
  CHECK(too_large_sum == 1);
}

TEST_CASE("ShardedRedisSink: a shard that is down holds only its own events", "[sharded]") {
  ThreeFakeShards t;
  t.net.set_down(local(6002), true);
  ManualClock clock;
  streamll::ShardedRedisSink sink = Injected::sharded_redis_sink(t.options, t.factory(), clock);
  std::array<int, 3> per_shard{};
  for (int e = 0; e < 60; ++e) {
    const std::string id = "exec_" + std::to_string(e);
    ++per_shard[sink.shard_of(id)];
    sink.handle(event_of(id, 0));
  }
  CHECK(sink.shard(0).flush(5s));
  CHECK(sink.shard(2).flush(5s));
  REQUIRE(eventually([&] { return sink.shard(1).stats().transport_errors >= 1; }));
  const auto stats = sink.shard_stats();
  CHECK(stats[0].delivered == static_cast<std::uint64_t>(per_shard[0]));
  CHECK(stats[2].delivered == static_cast<std::uint64_t>(per_shard[2]));
  CHECK(stats[1].delivered == 0);
  CHECK(stats[1].buffered == static_cast<std::uint64_t>(per_shard[1]));
  const auto total = sink.stats();
  CHECK(total.buffered == static_cast<std::uint64_t>(per_shard[1]));
  CHECK_FALSE(total.connected);
  CHECK(total.transport_errors == stats[1].transport_errors);
  CHECK_THAT(total.last_error, Catch::Contains("127.0.0.1:6002"));
  CHECK(sink.buffered() == static_cast<std::size_t>(per_shard[1]));

  t.net.set_down(local(6002), false);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  CHECK(sink.stats().delivered == 60);
}

TEST_CASE("ShardedRedisSinkOptions: validation names the option and the shard",
          "[sharded][options]") {
  streamll::ShardedRedisSinkOptions o;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("shard_count") && Catch::Contains("no shards"));
  o.shard_urls = {"redis://a:1", "redis://b:2"};
  o.shard_count = 3;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("disagrees"));
  o.shard_count = 0;
  o.shard_urls[1] = "redis://b:99999";
  try {
    o.validate();
    FAIL("expected ConfigError");
  } catch (const streamll::ConfigError& e) {
    CHECK(e.option() == "url");
    CHECK_THAT(e.what(), Catch::Contains("shard 1"));
  }
  o.shard_urls = {};
  o.shard_count = 2000;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("at most 1024"));
}

TEST_CASE("ShardedRedisSinkOptions::from_env reads shard URLs and sentinel and cluster ones whole",
          "[sharded][options]") {
  const auto env = [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "STREAMLL_SHARD_URLS") {
      return "redis://a:1, redis+sentinel://s1:26379,s2:26379/m1 ,redis://c:3";
    }
    if (std::string(name) == "STREAMLL_STREAM_KEY") return "events";
    return std::nullopt;
  };
  const auto o = streamll::ShardedRedisSinkOptions::from_env(env);
  CHECK(o.shard_urls == std::vector<std::string>{
                            "redis://a:1", "redis+sentinel://s1:26379,s2:26379/m1", "redis://c:3"});
  CHECK(o.sink.stream_key == "events");
  CHECK_NOTHROW(o.validate());
}
