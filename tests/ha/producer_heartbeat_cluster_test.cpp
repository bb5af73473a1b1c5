// Producer heartbeats on a real Redis Cluster: each shard's heartbeat keys live in its stream's
// slot (no MULTI, no cross-slot command), so every write is accepted, and list_producers() and
// `streamll producers` find every shard's producer through the slot owners.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include <streamll/redis/heartbeats.hpp>
#include <streamll/redis/producers.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis_cluster.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

TEST_CASE("Cluster: every shard's heartbeat is written and listed", "[ha][cluster][heartbeat]") {
  streamll::test::RedisClusterDeployment cluster(3, 0);
  streamll::ShardedRedisSinkOptions o;
  o.sink = sinkit::fast_options(cluster.url());
  o.sink.stream_key = "beats";
  o.sink.heartbeat_interval = 200ms;
  o.shard_count = 4;
  streamll::ShardedRedisSink sink(o);
  for (int e = 0; e < 40; ++e) sink.handle(sinkit::execution_event("exec_" + std::to_string(e), 0));
  REQUIRE(sink.flush(10s));

  // The shards' streams spread over the masters; each one's heartbeat keys share its slot.
  std::set<int> masters;
  for (int i = 0; i < 4; ++i) {
    const std::string stream = streamll::shard_stream_key("beats", static_cast<std::size_t>(i));
    CHECK(streamll::redis::key_slot(streamll::producers_index_key(stream)) ==
          streamll::redis::key_slot(stream));
    masters.insert(cluster.master_of_slot(streamll::redis::key_slot(stream)));
  }
  CHECK(masters.size() > 1);

  streamll::ShardedStream source;
  source.connection.url = cluster.url();
  source.stream = "beats";
  source.shard_count = 4;
  // Every shard's latest heartbeat counts all of its events.
  REQUIRE(eventually(
      [&] {
        const auto report = streamll::list_producers(source);
        std::uint64_t delivered = 0;
        for (const auto& p : report.producers) delivered += p.delivered;
        return report.complete() && report.producers.size() == 4 && delivered == 40;
      },
      10s, 50ms));
  for (const auto& s : sink.shard_stats()) {
    CHECK(s.heartbeats_sent > 0);
    CHECK(s.heartbeats_failed == 0);
  }

  const auto r = streamll::consumerit::run_cli(
      {"producers", "--url", cluster.url(), "--stream", "beats", "--shard-count", "4", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto listed = nlohmann::json::parse(r.out);
  std::set<std::string> streams;
  for (const auto& p : listed["producers"]) streams.insert(p["stream"].get<std::string>());
  CHECK(streams ==
        std::set<std::string>{"beats_shard_0", "beats_shard_1", "beats_shard_2", "beats_shard_3"});
}
