// The consumer side against a real Redis Cluster (three masters made with redis-cli --cluster
// create): a sharded group consumer reads shards spread over the masters, each from the master
// of its slot; the analytics, health and the streamll CLI reach the right masters through a
// redis+cluster:// URL; a consumer follows its stream to another master when the slot is
// resharded (MOVED).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <mutex>
#include <set>

#include <streamll/redis/analytics.hpp>
#include <streamll/redis/consumer.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis_cluster.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::consumerit::pending_count;
using streamll::consumerit::run_cli;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisClusterDeployment;
namespace sinkit = streamll::sinkit;

namespace {

RedisClusterDeployment& cluster() {
  // One cluster for the file's tests (creating one takes seconds); each test uses its own keys.
  // No replicas: nothing here fails a node over.
  static RedisClusterDeployment deployment(3, 0);
  return deployment;
}

ConsumerOptions consumer_options(const std::string& url) {
  ConsumerOptions o;
  o.connection.url = url;
  o.group = "readers";
  o.consumer_name = "reader-1";
  o.batch_size = 50;
  o.block = 200ms;
  o.connection.connect_timeout = 1s;
  o.connection.socket_timeout = 2s;
  o.reconnect_initial_delay = 50ms;
  o.reconnect_max_delay = 200ms;
  o.claim_min_idle = 0ms;
  return o;
}

streamll::Event priced_call(const std::string& execution, int index) {
  auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{execution, "span_" + execution, "", "cluster", "", {}});
  streamll::Fields data;
  data.append_new("producer", 0);
  data.append_new("index", index);
  data.append_new("model", "m");
  data.append_new("tokens_used", 3);
  data.append_new("cost_usd", 0.5);
  data.append_new("response_time_ms", static_cast<double>(index + 1));
  return streamll::Event::capture(streamll::EventType::llm_call, context, std::move(data));
}

}  // namespace

TEST_CASE("Cluster: a sharded group consumer, the analytics, health and the CLI read every master",
          "[ha][cluster][consumer_ha]") {
  auto& c = cluster();
  constexpr std::size_t kShards = 6;
  constexpr int kExecutions = 90;
  constexpr int kPerExecution = 4;
  streamll::ShardedRedisSinkOptions so;
  so.sink = sinkit::fast_options(c.url());
  so.sink.stream_key =
      "spread";  // no hash tag: the shards' keys hash to slots all over the cluster
  so.shard_count = kShards;
  {
    streamll::ShardedRedisSink sink(so);
    for (int i = 0; i < kPerExecution; ++i) {
      for (int e = 0; e < kExecutions; ++e)
        sink.handle(priced_call("exec_" + std::to_string(e), i));
    }
    REQUIRE(sink.flush(20s));
    REQUIRE(sink.stats().delivered == kExecutions * kPerExecution);
  }
  std::set<int> masters;
  for (std::size_t s = 0; s < kShards; ++s) {
    masters.insert(
        c.master_of_slot(streamll::redis::key_slot(streamll::shard_stream_key("spread", s))));
  }
  CHECK(masters.size() >= 2);  // the shards really are on different masters

  auto o = consumer_options(c.url());
  o.stream_key = "spread";
  o.shard_count = kShards;
  streamll::GroupConsumer consumer(o);
  std::mutex mutex;
  std::map<std::string, std::vector<int>> by_execution;
  std::size_t total = 0;
  consumer.on_any([&](const ConsumedEvent& m) {
    std::lock_guard<std::mutex> lock(mutex);
    by_execution[std::string(m.event.execution_id())].push_back(
        static_cast<int>(m.event.data["index"].as_int()));
    ++total;
  });
  for (int i = 0; i < 200 && total < kExecutions * kPerExecution; ++i) consumer.poll(100ms);
  REQUIRE(total == kExecutions * kPerExecution);
  for (const auto& [execution, indices] : by_execution) {
    INFO(execution);
    CHECK(indices == sinkit::iota_vector(0, kPerExecution));
  }
  for (std::size_t s = 0; s < kShards; ++s) {
    const std::string key = streamll::shard_stream_key("spread", s);
    DirectRedis redis = DirectRedis::tcp(c.master_of_slot(streamll::redis::key_slot(key)));
    INFO(key);
    CHECK(pending_count(redis, "readers", key) == 0);
  }
  CHECK(consumer.stats().acked == kExecutions * kPerExecution);
  CHECK(consumer.stats().redirects == 0);  // every shard found its master from the slot map

  streamll::ShardedStream source;
  source.connection.url = c.url();
  source.stream = "spread";
  source.shard_count = kShards;
  const auto u = streamll::analyze_usage(source);
  CHECK(u.complete());
  CHECK(u.total_calls == kExecutions * kPerExecution);
  CHECK(u.total_tokens == 3 * kExecutions * kPerExecution);
  CHECK(u.total_cost_usd == 0.5 * kExecutions * kPerExecution);
  CHECK(u.response_time_ms.p50 == 2);  // 1..4, as many of each: nearest rank of 50% is 2
  CHECK(u.response_time_ms.p99 == 4);
  std::set<std::string> servers;
  for (const auto& s : u.shards) servers.insert(s.server);
  CHECK(servers.size() == masters.size());  // each shard read from its own slot's master

  streamll::HealthThresholds t;
  t.window = 10min;
  const auto h = streamll::check_health(source, t);
  CHECK(h.healthy());
  CHECK(h.stream_length == kExecutions * kPerExecution);
  CHECK(h.consumer_groups == 1);
  CHECK(h.total_lag == 0);

  // The CLI, given the cluster URL and the shard count.
  auto r =
      run_cli({"stats", "--url", c.url(), "--stream", "spread", "--shard-count", "6", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["total_calls"] == kExecutions * kPerExecution);
  CHECK(j["shards"].size() == kShards);
  r = run_cli(
      {"health", "--url", c.url(), "--stream", "spread", "--shard-count", "6", "--window", "10m"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("stream length       360") != std::string::npos);
  r = run_cli({"groups", "--url", c.url(), "--stream", "spread", "--shard-count", "6"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("readers") != std::string::npos);

  // One plain stream through the cluster URL: whichever node the URL names, the command goes to
  // the master of the key's slot.
  const std::string solo = "{solo}ml_events";
  {
    auto single = sinkit::fast_options(c.url());
    single.stream_key = solo;
    streamll::RedisSink sink(single);
    for (int i = 0; i < 25; ++i) sink.handle(priced_call("solo", i));
    REQUIRE(sink.flush(10s));
  }
  for (const auto& node : c.nodes()) {
    const std::string url = "redis+cluster://127.0.0.1:" + std::to_string(node->port());
    INFO(url);
    r = run_cli({"stats", "--url", url, "--stream", solo, "--json"});
    REQUIRE(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.out)["total_calls"] == 25);
    r = run_cli({"tail", "--url", url, "--stream", solo, "--from-beginning", "--no-follow",
                 "--color", "never"});
    CHECK(r.exit_code == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 25);
  }
}

TEST_CASE(
    "Cluster: a group consumer follows its stream when the slot moves to another master (MOVED)",
    "[ha][cluster][consumer_ha]") {
  auto& c = cluster();
  const std::string key = "{moving}ml_events";
  const int slot = streamll::redis::key_slot(key);
  const int from = c.master_of_slot(slot);
  int to = 0;
  for (int other : {c.master_of_slot(0), c.master_of_slot(8000), c.master_of_slot(16383)}) {
    if (other != from) to = other;
  }
  REQUIRE(from != 0);
  REQUIRE(to != 0);

  auto so = sinkit::fast_options(c.url());
  so.stream_key = key;
  streamll::RedisSink sink(so);
  int next = 0;
  const auto emit = [&](int n) {
    for (int i = 0; i < n; ++i) sink.handle(sinkit::numbered_event(0, next++));
    REQUIRE(sink.flush(10s));
  };
  auto o = consumer_options(c.url());
  o.stream_key = key;
  streamll::GroupConsumer consumer(o);
  std::vector<int> seen;
  consumer.on_any([&](const ConsumedEvent& m) {
    seen.push_back(static_cast<int>(m.event.data["index"].as_int()));
  });
  const auto read_until = [&](std::size_t n) {
    for (int i = 0; i < 300 && seen.size() < n; ++i) consumer.poll(50ms);
  };

  emit(50);
  read_until(50);
  REQUIRE(seen.size() == 50);

  // The slot moves, with the stream and its consumer group, then more events arrive.
  c.begin_slot_migration(slot, from, to);
  c.migrate_key(key, from, to);
  c.finish_slot_migration(slot, from, to);
  emit(40);
  read_until(90);
  CHECK(seen == sinkit::iota_vector(0, 90));
  const auto stats = consumer.stats();
  CHECK(stats.redirects >= 1);
  CHECK(stats.transport_errors == 0);
  CHECK(stats.acked == 90);
  DirectRedis target = DirectRedis::tcp(to);
  CHECK(pending_count(target, "readers", key) == 0);
  CHECK(target.integer({"XLEN", key}) == 90);
}
