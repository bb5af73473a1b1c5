// The consumer side of a Sentinel failover, with real processes (a master, two replicas, three
// sentinels): while producers emit through a RedisSink with durable acknowledgements and a
// group consumer and a reader follow the stream through the redis+sentinel:// URL, the master
// gets kill -9. Both must follow the failover by themselves; every event the sink counted as
// delivered is consumed at least once, nothing stays pending, and the reader misses nothing.
// Then the CLI reads the promoted master through the same URL.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <streamll/redis/analytics.hpp>
#include <streamll/redis/consumer.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis_sentinel.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::RedisSink;
using streamll::consumerit::pending_count;
using streamll::consumerit::run_cli;
using streamll::sinkit::DirectRedis;
using streamll::test::SentinelDeployment;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;

namespace {

// (producer, index) pairs seen by handlers on a consumer thread, read by the test thread.
class Seen {
 public:
  void add(const ConsumedEvent& m) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto key = std::make_pair(static_cast<int>(m.event.data["producer"].as_int(-1)),
                                    static_cast<int>(m.event.data["index"].as_int(-1)));
    distinct_.insert(key);
    order_[key.first].push_back(key.second);
    ++deliveries_;
  }
  std::size_t distinct() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return distinct_.size();
  }
  bool has_all(const std::vector<int>& emitted) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t p = 0; p < emitted.size(); ++p) {
      for (int i = 0; i < emitted[p]; ++i) {
        if (!distinct_.count({static_cast<int>(p), i})) return false;
      }
    }
    return true;
  }
  std::map<int, std::vector<int>> order() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return order_;
  }
  std::size_t deliveries() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return deliveries_;
  }

 private:
  mutable std::mutex mutex_;
  std::set<std::pair<int, int>> distinct_;
  std::map<int, std::vector<int>> order_;
  std::size_t deliveries_ = 0;
};

ConsumerOptions follow_options(const std::string& url) {
  ConsumerOptions o;
  o.connection.url = url;
  o.batch_size = 50;
  o.block = 200ms;
  o.connection.connect_timeout = 500ms;
  o.connection.socket_timeout = 1s;
  o.reconnect_initial_delay = 50ms;
  o.reconnect_max_delay = 500ms;
  o.claim_min_idle = 0ms;  // one consumer: its own pending list is what a reconnect re-reads
  return o;
}

}  // namespace

TEST_CASE(
    "Sentinel: a group consumer and a reader follow a kill -9 of the master, nothing delivered is "
    "missed",
    "[ha][sentinel][consumer_ha]") {
  // Two replicas: after the failover the new master still has one, so WAIT 1 can succeed.
  SentinelDeployment d(/*replicas=*/2);
  auto so = sinkit::fast_options(d.url());
  so.buffer_size = 200000;
  so.min_replicas_ack = 1;  // what the sink counts as delivered survives the master
  so.replicas_ack_timeout = 500ms;
  RedisSink sink(so);

  auto go = follow_options(d.url());
  go.group = "failover";
  go.consumer_name = "worker-1";
  streamll::GroupConsumer consumer(go);
  Seen consumed;
  consumer.on_any([&](const ConsumedEvent& m) { consumed.add(m); });
  auto ro = follow_options(d.url());
  ro.start_id = "0";
  streamll::StreamReader reader(ro);
  Seen read;
  reader.on_any([&](const ConsumedEvent& m) { read.add(m); });
  std::thread consumer_thread([&] { consumer.run(); });
  std::thread reader_thread([&] { reader.run(); });

  constexpr int producers = 2;
  sinkit::SteadyProducers traffic(sink, producers, 300us);
  int new_master = 0;
  try {
    // The consumers are reading before the kill.
    REQUIRE(eventually([&] { return consumed.distinct() > 100 && read.distinct() > 100; }, 20s));
    const int old_master = d.kill_master();
    new_master = d.wait_for_new_master(old_master);
    d.wait_for_replicas(new_master, 1);
    // Traffic goes on until the sink has delivered through the new master.
    const auto delivered_before = sink.stats().delivered;
    REQUIRE(eventually([&] { return sink.stats().delivered > delivered_before + 100; }, 30s));
  } catch (...) {
    traffic.stop();
    consumer.stop();
    reader.stop();
    consumer_thread.join();
    reader_thread.join();
    throw;
  }
  traffic.stop();
  INFO("sink: " << sink.stats().last_error);
  const bool flushed = sink.flush(30s);
  const std::vector<int> totals = traffic.emitted();
  // Every event the sink delivered (all of them: flush returned true) is consumed, at least once.
  const bool all_consumed = eventually([&] { return consumed.has_all(totals); }, 60s);
  const bool all_read = eventually([&] { return read.has_all(totals); }, 60s);
  DirectRedis redis = DirectRedis::tcp(new_master);
  // Nothing stuck pending: what the old master delivered but whose acknowledgement did not
  // reach the new one comes back to this consumer (its own pending list) and is acknowledged.
  const bool none_pending = eventually([&] { return pending_count(redis, "failover") == 0; }, 30s);
  // Nor behind: the group's position on the new master may trail what the old one had handed
  // out (replication is asynchronous), so the consumer reads those entries again (deduplicated)
  // before its lag is back under health's threshold. On a slow machine (sanitizers) that takes
  // a while; health must then report OK.
  const bool caught_up = eventually(
      [&] {
        return run_cli({"health", "--url", d.url(), "--window", "10m"}).exit_code == 0;
      },
      30s);
  consumer.stop();
  reader.stop();
  consumer_thread.join();
  reader_thread.join();

  REQUIRE(flushed);
  CHECK(all_consumed);
  CHECK(all_read);
  CHECK(none_pending);
  CHECK(caught_up);
  const auto cs = consumer.stats();
  INFO("consumer: " << cs.last_error);
  CHECK(cs.reconnects >= 1);
  CHECK(cs.handler_failures == 0);
  CHECK(cs.handled == consumed.deliveries());
  CHECK(reader.stats().reconnects >= 1);
  // The reader continued from its position on the new master: each producer's events in order.
  // (An event can appear twice: a batch the sink wrote again after losing the old master's
  // reply. Its first appearance is what must be in order.)
  for (const auto& [producer, indices] : read.order()) {
    INFO("producer " << producer);
    std::set<int> known;
    int last_new = -1;
    bool in_order = true;
    for (int i : indices) {
      if (!known.insert(i).second) continue;
      in_order = in_order && i > last_new;
      last_new = i;
    }
    CHECK(in_order);
  }
  WARN(
      "group consumer: " << consumed.deliveries() << " deliveries of " << consumed.distinct()
                         << " events across the failover (repeats are at-least-once redeliveries)");

  // The CLI follows the same URL to the promoted master.
  auto r = run_cli({"stats", "--url", d.url(), "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["entries"].get<std::uint64_t>() >=
        static_cast<std::uint64_t>(totals[0] + totals[1]));
  r = run_cli({"health", "--url", d.url(), "--window", "10m"});
  INFO("health: " << r.out << r.err);
  CHECK(r.exit_code == 0);
  r = run_cli({"groups", "--url", d.url()});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("failover") != std::string::npos);
}
