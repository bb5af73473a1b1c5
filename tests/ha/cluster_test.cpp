// RedisSink and ShardedRedisSink against a real Redis Cluster (three masters, one replica each,
// made with redis-cli --cluster create): events spread over slots all arrive, a stream key
// moved by a resharding step is followed (ASK while its slot migrates, MOVED after), and a
// master failover is survived.

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis_cluster.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisClusterDeployment;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

RedisClusterDeployment& cluster() {
  // One cluster for the file's tests (creating one takes seconds); each test uses its own keys.
  static RedisClusterDeployment deployment(3, 1);
  return deployment;
}

std::vector<streamll::Event> read_stream(RedisClusterDeployment& c, const std::string& key) {
  const int port = c.master_of_slot(streamll::redis::key_slot(key));
  REQUIRE(port != 0);
  DirectRedis redis = DirectRedis::tcp(port);
  return sinkit::events_in(redis.xrange(key));
}

}  // namespace

TEST_CASE("Cluster: events of many executions, sharded over slots, all arrive in order",
          "[ha][cluster]") {
  auto& c = cluster();
  streamll::ShardedRedisSinkOptions o;
  o.sink = sinkit::fast_options(c.url());
  o.sink.stream_key = "spread";
  o.shard_count = 8;
  streamll::ShardedRedisSink sink(o);

  constexpr int executions = 120;
  constexpr int per_execution = 5;
  for (int i = 0; i < per_execution; ++i) {
    for (int e = 0; e < executions; ++e)
      sink.handle(sinkit::execution_event("exec_" + std::to_string(e), i));
  }
  REQUIRE(sink.flush(20s));
  const auto stats = sink.stats();
  CHECK(stats.delivered == executions * per_execution);
  CHECK(stats.dropped() == 0);
  CHECK(stats.failed == 0);

  std::set<int> masters_used;
  std::map<std::string, std::vector<int>> found;  // execution -> indices, over all shards
  std::map<std::string, std::size_t> shard_of;
  for (std::size_t s = 0; s < sink.shard_count(); ++s) {
    const std::string key = streamll::shard_stream_key("spread", s);
    masters_used.insert(c.master_of_slot(streamll::redis::key_slot(key)));
    for (const auto& e : sinkit::dedupe_by_id(read_stream(c, key))) {
      const std::string execution(e.execution_id());
      found[execution].push_back(static_cast<int>(e.data["index"].as_int(-1)));
      const auto [it, first] = shard_of.emplace(execution, s);
      INFO(execution);
      CHECK((first || it->second == s));  // one execution, one shard
      CHECK(s == sink.shard_of(execution));
    }
  }
  CHECK(masters_used.size() >= 2);  // 8 keys over 3 masters
  REQUIRE(found.size() == executions);
  for (const auto& [execution, indices] : found) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, per_execution));
  }
}

TEST_CASE("Cluster: a stream whose slot is resharded is followed through ASK and MOVED",
          "[ha][cluster]") {
  auto& c = cluster();
  const std::string key = "{reshard}ml_events";
  const int slot = streamll::redis::key_slot(key);
  const int from = c.master_of_slot(slot);
  int to = 0;
  for (int other : {c.master_of_slot(0), c.master_of_slot(8000), c.master_of_slot(16383)}) {
    if (other != from) to = other;
  }
  REQUIRE(from != 0);
  REQUIRE(to != 0);

  auto o = sinkit::fast_options(c.url());
  o.stream_key = key;
  RedisSink sink(o);
  int next = 0;
  const auto emit = [&](int n) {
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, next++));
    INFO("last error: " << sink.stats().last_error);
    REQUIRE(sink.flush(10s));
  };

  emit(50);  // on the source
  c.begin_slot_migration(slot, from, to);
  emit(20);  // the key is still on the source, which serves it during the migration
  c.migrate_key(key, from, to);
  emit(30);  // the source no longer has the key: ASK, sent to the target after ASKING
  const auto asked = sink.stats();
  CHECK(asked.ask_redirects >= 1);
  CHECK(asked.moved_redirects == 0);
  c.finish_slot_migration(slot, from, to);
  emit(40);  // the slot is the target's: MOVED, and the sink's map follows
  const auto moved = sink.stats();
  CHECK(moved.moved_redirects >= 1);
  CHECK(moved.server == "127.0.0.1:" + std::to_string(to));
  emit(10);
  CHECK(sink.stats().moved_redirects == moved.moved_redirects);  // no redirection once moved

  DirectRedis target = DirectRedis::tcp(to);
  // Redirections resend nothing that was accepted: exactly once each, in order.
  CHECK(sinkit::indices_by_producer(sinkit::events_in(target.xrange(key)))[0] ==
        sinkit::iota_vector(0, next));
  CHECK(sink.stats().dropped() == 0);
  CHECK(sink.stats().failed == 0);
}

TEST_CASE("Cluster: a master failover is survived, with durable acknowledgements nothing is lost",
          "[ha][cluster]") {
  auto& c = cluster();
  const std::string key = "{failover}ml_events";
  const int slot = streamll::redis::key_slot(key);
  const int old_master = c.master_of_slot(slot);
  REQUIRE(old_master != 0);

  auto o = sinkit::fast_options(c.url());
  o.stream_key = key;
  o.buffer_size = 200000;
  o.min_replicas_ack = 1;
  o.replicas_ack_timeout = 500ms;
  RedisSink sink(o);

  std::atomic<bool> stop{false};
  std::atomic<int> emitted{0};
  std::thread producer([&] {
    while (!stop.load()) {
      sink.handle(sinkit::numbered_event(0, emitted.load()));
      emitted.fetch_add(1);
      std::this_thread::sleep_for(300us);  // the traffic's pace, not a wait for anything
    }
  });
  int new_master = 0;
  try {
    REQUIRE(eventually([&] { return sink.stats().delivered > 100; }, 10s));
    c.node_at(old_master).kill9();
    new_master = c.wait_for_failover(slot, old_master);
    // The killed node comes back and rejoins as the new master's replica, so WAIT 1 can be
    // satisfied again (its replica is the only one the new master has).
    c.node_at(old_master).restart();
    streamll::testing::wait_for_state("the old master to rejoin as a replica", 30s, [&] {
      return c.node_at(new_master).cli({"INFO", "replication"}).find("connected_slaves:1") !=
             std::string::npos;
    });
    // Traffic goes on until the sink has delivered through the new master.
    const auto delivered_before = sink.stats().delivered;
    REQUIRE(eventually([&] { return sink.stats().delivered > delivered_before + 100; }, 30s));
  } catch (...) {
    stop = true;
    producer.join();
    throw;
  }
  stop = true;
  producer.join();

  INFO("last error: " << sink.stats().last_error);
  REQUIRE(sink.flush(30s));
  const auto stats = sink.stats();
  CHECK(stats.transport_errors >= 1);
  CHECK(stats.dropped() == 0);
  CHECK(stats.failed == 0);
  CHECK(stats.server == "127.0.0.1:" + std::to_string(new_master));
  DirectRedis redis = DirectRedis::tcp(new_master);
  CHECK(sinkit::delivered_indices(redis, key) == sinkit::iota_vector(0, emitted.load()));
}
