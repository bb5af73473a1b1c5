// ShardedRedisSink over three independent redis-server processes: one execution's events land
// on one shard in order, and a shard whose Redis is down buffers only its own events while the
// others keep delivering.

#include <catch2/catch.hpp>

#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
namespace sinkit = streamll::sinkit;

namespace {

struct ThreeShards {
  ThreeShards() {
    for (auto& s : servers) s = std::make_unique<RedisServer>();
    options.sink = sinkit::fast_options("redis://unused:1");
    options.sink.stream_key = "ml_events";
    for (auto& s : servers) options.shard_urls.push_back(s->url());
  }
  std::array<std::unique_ptr<RedisServer>, 3> servers;
  streamll::ShardedRedisSinkOptions options;
};

// execution -> indices, over every shard's stream; checks each execution is on one shard only.
std::map<std::string, std::vector<int>> read_all(ThreeShards& t,
                                                 const streamll::ShardedRedisSink& sink) {
  std::map<std::string, std::vector<int>> found;
  for (std::size_t s = 0; s < t.servers.size(); ++s) {
    DirectRedis redis = DirectRedis::tcp(t.servers[s]->port());
    for (const auto& e : sinkit::dedupe_by_id(
             sinkit::events_in(redis.xrange(streamll::shard_stream_key("ml_events", s))))) {
      const std::string execution(e.execution_id());
      INFO(execution << " found on shard " << s);
      CHECK(sink.shard_of(execution) == s);
      found[execution].push_back(static_cast<int>(e.data["index"].as_int(-1)));
    }
  }
  return found;
}

}  // namespace

TEST_CASE("Sharded: one execution's events land on one shard, in order", "[ha][sharded]") {
  ThreeShards t;
  streamll::ShardedRedisSink sink(t.options);
  constexpr int executions = 60;
  constexpr int per_execution = 10;
  for (int i = 0; i < per_execution; ++i) {
    for (int e = 0; e < executions; ++e)
      sink.handle(sinkit::execution_event("exec_" + std::to_string(e), i));
  }
  REQUIRE(sink.flush(10s));

  const auto found = read_all(t, sink);
  REQUIRE(found.size() == executions);
  for (const auto& [execution, indices] : found) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, per_execution));
  }
  const auto per_shard = sink.shard_stats();
  std::uint64_t sum = 0;
  for (const auto& s : per_shard) {
    CHECK(s.delivered > 0);  // 60 executions spread over all three
    sum += s.delivered;
  }
  CHECK(sum == executions * per_execution);
  CHECK(sink.stats().delivered == sum);
}

TEST_CASE("Sharded: a shard that is down buffers only its own events, the others keep flowing",
          "[ha][sharded]") {
  ThreeShards t;
  streamll::ShardedRedisSink sink(t.options);
  // Executions for each shard, found by the sink's own routing.
  std::array<std::vector<std::string>, 3> executions;
  for (int e = 0; executions[0].size() < 5 || executions[1].size() < 5 || executions[2].size() < 5;
       ++e) {
    const std::string id = "exec_" + std::to_string(e);
    auto& list = executions[sink.shard_of(id)];
    if (list.size() < 5) list.push_back(id);
  }
  t.servers[1]->kill9();

  constexpr int per_execution = 20;
  for (int i = 0; i < per_execution; ++i) {
    for (const auto& list : executions) {
      for (const auto& id : list) sink.handle(sinkit::execution_event(id, i));
    }
  }
  // Shards 0 and 2 deliver everything while shard 1 holds its 100 events.
  CHECK(sink.shard(0).flush(10s));
  CHECK(sink.shard(2).flush(10s));
  CHECK_FALSE(sink.flush(300ms));
  auto per_shard = sink.shard_stats();
  CHECK(per_shard[0].delivered == 5 * per_execution);
  CHECK(per_shard[2].delivered == 5 * per_execution);
  CHECK(per_shard[1].delivered == 0);
  CHECK(per_shard[1].buffered == 5 * per_execution);
  CHECK(per_shard[1].transport_errors >= 1);
  CHECK(per_shard[0].buffered == 0);
  CHECK(per_shard[2].buffered == 0);
  const auto total = sink.stats();
  CHECK(total.buffered == 5 * per_execution);
  CHECK_FALSE(total.connected);

  t.servers[1]->restart();
  sink.shard(1).reset_circuit_breaker();
  REQUIRE(sink.flush(10s));
  per_shard = sink.shard_stats();
  CHECK(per_shard[1].delivered == 5 * per_execution);
  CHECK(per_shard[1].buffered == 0);
  const auto found = read_all(t, sink);
  REQUIRE(found.size() == 15);
  for (const auto& [execution, indices] : found) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, per_execution));
  }
}
