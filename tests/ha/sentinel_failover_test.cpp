// RedisSink against a real Sentinel deployment (master, replicas, three sentinels) whose master
// is killed with SIGKILL while producers emit steadily: the sink must follow the failover by
// itself and keep delivering; with durable acknowledgements no event it counted as delivered
// may be missing from the new master afterwards.

#include <catch2/catch.hpp>

#include <thread>

#include <streamll/redis/sentinel.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_sentinel.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::SentinelDeployment;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

struct FailoverRun {
  std::vector<int> emitted;              // per producer
  std::vector<std::vector<int>> landed;  // per producer: indices on the new master, deduplicated
  streamll::RedisSinkStats stats;
  int new_master_port = 0;
};

// Two producers emit numbered events every 300 us; the master is killed once the sink has
// delivered 100; they go on until the sink has delivered 100 more after the sentinels named the
// new master, then everything is flushed and read back from the new master.
FailoverRun emit_through_failover(SentinelDeployment& d, bool durable) {
  auto options = sinkit::fast_options(d.url());
  options.buffer_size = 200000;
  if (durable) {
    options.min_replicas_ack = 1;
    options.replicas_ack_timeout = 500ms;
  }
  RedisSink sink(options);

  constexpr int producers = 2;
  sinkit::SteadyProducers traffic(sink, producers, 300us);
  FailoverRun run;
  int old_port = 0;
  try {
    REQUIRE(eventually([&] { return sink.stats().delivered > 100; }, 10s));
    old_port = d.kill_master();
    run.new_master_port = d.wait_for_new_master(old_port);
    if (durable) d.wait_for_replicas(run.new_master_port, 1);
    // Traffic goes on until the sink has delivered through the new master.
    const auto delivered_before = sink.stats().delivered;
    REQUIRE(eventually([&] { return sink.stats().delivered > delivered_before + 100; }, 30s));
  } catch (...) {
    traffic.stop();
    throw;
  }
  traffic.stop();

  INFO("last error: " << sink.stats().last_error);
  REQUIRE(sink.flush(30s));
  // The master now: on a slow machine (sanitizers) the sentinels may have failed over a second
  // time, from the first replica they promoted to the other one; the sink follows that too.
  run.new_master_port = d.wait_for_new_master(old_port);
  run.stats = sink.stats();
  run.emitted = traffic.emitted();
  DirectRedis redis = DirectRedis::tcp(run.new_master_port);
  const auto by_producer = sinkit::indices_by_producer(
      sinkit::dedupe_by_id(sinkit::events_in(redis.xrange("ml_events"))));
  for (int p = 0; p < producers; ++p) {
    const auto it = by_producer.find(p);
    run.landed.push_back(it == by_producer.end() ? std::vector<int>{} : it->second);
  }
  return run;
}

}  // namespace

TEST_CASE(
    "Sentinel: with durable acknowledgements, a kill -9 of the master loses nothing the sink "
    "delivered",
    "[ha][sentinel]") {
  // Two replicas: after the failover the new master still has one, so WAIT 1 can succeed.
  SentinelDeployment d(/*replicas=*/2);
  const FailoverRun run = emit_through_failover(d, /*durable=*/true);

  CHECK(run.stats.dropped() == 0);
  CHECK(run.stats.failed == 0);
  CHECK(run.stats.transport_errors >= 1);
  CHECK(run.stats.reconnects >= 1);
  CHECK(run.stats.replica_waits >= 1);
  CHECK(run.stats.server == "127.0.0.1:" + std::to_string(run.new_master_port));
  std::uint64_t total = 0;
  for (std::size_t p = 0; p < run.emitted.size(); ++p) {
    INFO("producer " << p);
    // Every event (all of them were delivered: flush() returned true) is on the new master,
    // once after deduplication, in the order it was emitted.
    CHECK(run.landed[p] == sinkit::iota_vector(0, run.emitted[p]));
    total += static_cast<std::uint64_t>(run.emitted[p]);
  }
  CHECK(run.stats.delivered >= total);
}

TEST_CASE(
    "Sentinel: without durable acknowledgements the sink follows the failover, and what was lost "
    "is measured",
    "[ha][sentinel]") {
  SentinelDeployment d(/*replicas=*/1);
  const FailoverRun run = emit_through_failover(d, /*durable=*/false);

  CHECK(run.stats.dropped() == 0);
  CHECK(run.stats.failed == 0);
  CHECK(run.stats.reconnects >= 1);
  CHECK(run.stats.replica_waits == 0);
  CHECK(run.stats.server == "127.0.0.1:" + std::to_string(run.new_master_port));
  int lost = 0;
  for (std::size_t p = 0; p < run.emitted.size(); ++p) {
    INFO("producer " << p);
    const auto& landed = run.landed[p];
    // What arrived is in order and nothing is invented...
    CHECK(std::is_sorted(landed.begin(), landed.end()));
    CHECK(std::adjacent_find(landed.begin(), landed.end()) == landed.end());
    REQUIRE(!landed.empty());
    CHECK(landed.back() == run.emitted[p] - 1);
    lost += run.emitted[p] - static_cast<int>(landed.size());
  }
  // ...but events the old master acknowledged and had not yet replicated when it died are
  // gone: asynchronous replication. Reported, not asserted (it depends on timing; see
  // docs/high-availability.md for what was measured).
  WARN("events lost in the failover without durable acknowledgements: "
       << lost << " of " << run.emitted[0] + run.emitted[1]);
}

TEST_CASE("Sentinel: the sentinel endpoint provider names the master and skips a dead sentinel",
          "[ha][sentinel]") {
  SentinelDeployment d(/*replicas=*/1);
  streamll::RedisConnectionOptions o;
  // A sentinel address where nothing listens first: the provider must go on to the next.
  streamll::test::RedisServer dead;
  dead.kill9();
  o.url = "redis+sentinel://127.0.0.1:" + std::to_string(dead.port()) + "," + d.url().substr(17);
  auto provider = streamll::make_sentinel_endpoint_provider(o);
  streamll::EndpointRequest request;
  request.deadline = std::chrono::steady_clock::now() + 5s;
  const streamll::RedisEndpoint master = provider(request);
  CHECK(master.host == "127.0.0.1");
  CHECK(master.port == d.original_master().port());
  CHECK(master.require_master);

  o.sentinel_master = "no-such-master";
  auto unknown = streamll::make_sentinel_endpoint_provider(o);
  request.deadline = std::chrono::steady_clock::now() + 5s;
  CHECK_THROWS_WITH(unknown(request),
                    Catch::Contains("no sentinel named a master for 'no-such-master'"));
}
