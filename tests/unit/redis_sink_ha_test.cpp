// RedisSink's high-availability rules against fakes and a manual clock: WAIT after each batch
// and what a shortfall does (durable acknowledgements), MOVED and ASK followed in cluster mode,
// the endpoint provider asked on every reconnect.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "fake_network.hpp"
#include "fake_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "redis/routing/cluster_slots.hpp"

using namespace std::chrono_literals;
using streamll::RedisEndpoint;
using streamll::detail::Injected;
using streamll::redis::RedisReply;
using streamll::testing::Command;
using streamll::testing::eventually;
using streamll::testing::FakeConnection;
using streamll::testing::FakeNetwork;
using streamll::testing::FakeRedis;
using streamll::testing::local;
using streamll::testing::ManualClock;

namespace {

streamll::RedisSinkOptions options() {
  streamll::RedisSinkOptions o;
  o.connection.url = "redis://127.0.0.1:6379";
  o.buffer_size = 1000;
  o.max_batch_size = 100;
  o.recovery_timeout = 30s;
  o.shutdown_timeout = 500ms;
  // These tests count the commands and round trips of events; heartbeats have their own
  // (redis_heartbeat_test.cpp).
  o.heartbeat_interval = std::chrono::milliseconds(0);
  return o;
}

streamll::Event token(int i) {
  static const auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_ha", "span1", "", "answer", "", {}});
  streamll::Fields data;
  data.set("index", i);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

int index_of(const std::string& json) {
  return nlohmann::json::parse(json)["data"]["index"].get<int>();
}

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i < to; ++i) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("Durable acknowledgements: WAIT follows the batch's XADDs in the same pipeline",
          "[redis_sink][wait]") {
  auto o = options();
  o.min_replicas_ack = 2;
  o.replicas_ack_timeout = 250ms;
  ManualClock clock;
  auto server = std::make_shared<FakeRedis>();
  server->set_wait_replicas(2);
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);
  for (int i = 0; i < 3; ++i) sink.handle(token(i));
  REQUIRE(sink.flush(5s));

  // Each pipeline (the events may go in one or two batches) is its XADDs, then one WAIT.
  const auto commands = server->commands();
  REQUIRE(commands.size() >= 4);
  CHECK(commands.front()[0] == "XADD");
  CHECK(commands.back() == Command{"WAIT", "2", "250"});
  const auto count = [&](const char* name) {
    return std::count_if(commands.begin(), commands.end(),
                         [&](const Command& c) { return c[0] == name; });
  };
  CHECK(count("XADD") == 3);
  const auto stats = sink.stats();
  CHECK(count("WAIT") == static_cast<long>(stats.round_trips));
  CHECK(stats.delivered == 3);
  CHECK(stats.replica_waits == stats.round_trips);
  CHECK(stats.replica_ack_shortfalls == 0);
}

TEST_CASE("Durable acknowledgements: too few replicas keep the batch, WAIT alone is asked again",
          "[redis_sink][wait]") {
  auto o = options();
  o.min_replicas_ack = 1;
  ManualClock clock;
  auto server = std::make_shared<FakeRedis>();
  server->set_wait_replicas(0);
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);
  for (int i = 0; i < 5; ++i) sink.handle(token(i));

  // The XADDs were applied, but WAIT saw no replica: not delivered, still buffered. A WAIT that
  // comes back short at once is asked again after replicas_ack_timeout (on the sink's clock).
  REQUIRE(eventually([&] { return sink.stats().replica_ack_shortfalls == 1; }));
  REQUIRE(eventually([&] {
    clock.advance(500ms);
    return sink.stats().replica_ack_shortfalls >= 2;
  }));
  auto stats = sink.stats();
  CHECK(stats.delivered == 0);
  CHECK(stats.buffered == 5);
  CHECK_THAT(stats.last_error, Catch::Contains("WAIT: 0 of 1 replicas acknowledged"));
  CHECK(stats.breaker_state == streamll::BreakerState::closed);  // answered: not a failure
  // The batch on the wire (the first event alone, or all five) was written once, then WAIT
  // alone was asked again; the events behind it wait their turn.
  const auto commands = server->commands();
  const auto xadds = std::count_if(commands.begin(), commands.end(),
                                   [](const Command& c) { return c[0] == "XADD"; });
  CHECK(xadds >= 1);
  CHECK(static_cast<std::size_t>(xadds) == server->stream_size());
  REQUIRE(commands.size() >= 3);
  CHECK(commands[commands.size() - 2] == Command{"WAIT", "1", "1000"});
  CHECK(commands.back() == Command{"WAIT", "1", "1000"});

  server->set_wait_replicas(1);
  REQUIRE(eventually([&] {
    clock.advance(500ms);
    return sink.flush(20ms);
  }));
  stats = sink.stats();
  CHECK(stats.delivered == 5);
  CHECK(stats.buffered == 0);
  CHECK(server->stream_size() == 5);  // no duplicates: the same connection's WAIT confirmed them
}

TEST_CASE("Durable acknowledgements: a connection lost while waiting sends the batch again",
          "[redis_sink][wait]") {
  auto o = options();
  o.min_replicas_ack = 1;
  ManualClock clock;
  auto server = std::make_shared<FakeRedis>();
  server->set_wait_replicas(0);
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);
  for (int i = 0; i < 4; ++i) sink.handle(token(i));
  REQUIRE(eventually([&] { return sink.stats().replica_ack_shortfalls >= 1; }));

  // The master dies (a failover): the next WAIT fails, the connection is gone.
  server->fail_next_executes(1);
  REQUIRE(eventually([&] {
    clock.advance(500ms);
    return sink.stats().transport_errors >= 1;
  }));
  server->set_wait_replicas(1);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  // At-least-once: on the new connection the waiting batch went again (here the fake kept the
  // first copy too, as a master that replicated it would): some events twice, none lost, the
  // first copies in order.
  std::vector<int> indices;
  for (const auto& json : server->stream()) indices.push_back(index_of(json));
  CHECK(indices.size() > 4);
  std::vector<int> first_copies;
  for (int i : indices) {
    if (std::find(first_copies.begin(), first_copies.end(), i) == first_copies.end())
      first_copies.push_back(i);
  }
  CHECK(first_copies == std::vector<int>{0, 1, 2, 3});
  CHECK(sink.stats().delivered == 4);
}

TEST_CASE("Durable acknowledgements: WAIT refused is a failure for the breaker",
          "[redis_sink][wait]") {
  auto o = options();
  o.min_replicas_ack = 1;
  o.failure_threshold = 2;
  ManualClock clock;
  auto server = std::make_shared<FakeRedis>();
  server->set_wait_replicas(0, "NOPERM this user has no permissions to run the 'wait' command");
  streamll::RedisSink sink =
      Injected::redis_sink(o, streamll::testing::fake_transport_factory(server), clock);
  sink.handle(token(0));
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.stats().breaker_state == streamll::BreakerState::open;
  }));
  CHECK(sink.stats().delivered == 0);
  CHECK_THAT(sink.stats().last_error, Catch::Contains("WAIT refused: NOPERM"));
  CHECK(server->connects() >= 2);  // each refusal closes the connection: the batch goes again

  server->set_wait_replicas(1);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  CHECK(sink.stats().delivered == 1);
}

namespace {

// Two cluster nodes, 7000 and 7001, and one stream key whose slot starts on 7000. `owner` and
// `migrating` are changed by the test to play a resharding.
struct FakeCluster {
  explicit FakeCluster(std::string stream_key)
      : key(std::move(stream_key)), slot(streamll::redis::key_slot(key)) {
    for (const std::uint16_t port : {std::uint16_t{7000}, std::uint16_t{7001}}) {
      net.serve(local(port), [this, port](const Command& c, FakeConnection& conn) {
        return answer(port, c, conn);
      });
    }
  }

  RedisReply answer(std::uint16_t port, const Command& c, FakeConnection& conn) {
    std::lock_guard<std::mutex> lock(mutex);
    const bool asking = conn.asking;
    conn.asking = false;
    if (c[0] == "ASKING") {
      conn.asking = true;
      return RedisReply::make_status("OK");
    }
    if (c[0] == "CLUSTER") {
      const auto entry = [](long long first, long long last, long long p) {
        return RedisReply::make_array({RedisReply::make_integer(first),
                                       RedisReply::make_integer(last),
                                       RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                               RedisReply::make_integer(p)})});
      };
      return RedisReply::make_array({entry(0, 16383, owner)});  // this fake's whole cluster
    }
    if (c[0] != "XADD") return RedisReply::make_status("OK");
    const std::string redirect =
        std::to_string(slot) + " 127.0.0.1:" + std::to_string(port == 7000 ? 7001 : 7000);
    if (port != owner && !(asking && importing == port))
      return RedisReply::make_error("MOVED " + redirect);
    if (port == owner && migrating && !has_key[port])
      return RedisReply::make_error("ASK " + redirect);
    has_key[port] = true;
    streams[port].push_back(index_of(c[c.size() - 1]));
    return RedisReply::make_string("1-0");
  }

  std::string key;
  std::uint16_t slot;
  FakeNetwork net;
  std::mutex mutex;
  std::uint16_t owner = 7000;
  bool migrating = false;
  std::uint16_t importing = 0;
  std::map<std::uint16_t, bool> has_key;
  std::map<std::uint16_t, std::vector<int>> streams;
};

// The slot moves to 7001 at the third XADD of a pipeline on 7000, so that two XADDs of that
// batch were accepted before it; `moved` records that it happened. The node is down at first,
// so that the events wait and go out together (the first batch may take one event alone
// before the node comes back).
void move_slot_at_third_xadd(FakeCluster& cluster, std::atomic<bool>& moved) {
  cluster.net.set_down(local(7000), true);
  cluster.net.serve(local(7000), [&cluster, &moved](const Command& c, FakeConnection& conn) {
    if (c[0] == "XADD" && conn.index_in_pipeline == 2 && !moved.exchange(true)) {
      std::lock_guard<std::mutex> lock(cluster.mutex);
      cluster.owner = 7001;
      cluster.streams[7001] = cluster.streams[7000];
    }
    return cluster.answer(7000, c, conn);
  });
}

}  // namespace

TEST_CASE("Cluster mode: ASK during a migration, MOVED after it, nothing sent twice",
          "[redis_sink][cluster]") {
  FakeCluster cluster("{tenant}ml_events");
  auto o = options();
  o.connection.url = "redis+cluster://127.0.0.1:7001";
  o.stream_key = cluster.key;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(
      o, streamll::RedisSinkEndpointTransportFactory([&](const RedisEndpoint& e) {
        return cluster.net.transport(e);
      }),
      clock);
  int next = 0;
  const auto emit = [&](int n) {
    for (int i = 0; i < n; ++i) sink.handle(token(next++));
    REQUIRE(sink.flush(5s));
  };
  emit(10);
  CHECK(sink.stats().server == "127.0.0.1:7000");

  {
    std::lock_guard<std::mutex> lock(cluster.mutex);
    cluster.migrating = true;
    cluster.importing = 7001;
    cluster.has_key[7000] = false;  // MIGRATEd away
    cluster.streams[7001] = cluster.streams[7000];
  }
  emit(10);
  auto stats = sink.stats();
  CHECK(stats.ask_redirects >= 1);
  CHECK(stats.moved_redirects == 0);
  CHECK(stats.server == "127.0.0.1:7000");  // the main connection stays where the map says

  {
    std::lock_guard<std::mutex> lock(cluster.mutex);
    cluster.owner = 7001;
    cluster.migrating = false;
  }
  emit(10);
  stats = sink.stats();
  CHECK(stats.moved_redirects == 1);
  CHECK(stats.server == "127.0.0.1:7001");
  CHECK(stats.transport_errors == 0);
  CHECK(stats.breaker_state == streamll::BreakerState::closed);
  CHECK(cluster.net.count(local(7001), "ASKING") >= 10);
  std::lock_guard<std::mutex> lock(cluster.mutex);
  CHECK(cluster.streams[7001] == range(0, 30));
}

TEST_CASE("Cluster mode: a batch partly accepted before the key moved is not sent twice",
          "[redis_sink][cluster]") {
  FakeCluster cluster("ml_events");
  auto o = options();
  o.connection.url = "redis+cluster://127.0.0.1:7000";
  ManualClock clock;
  std::atomic<bool> moved{false};
  move_slot_at_third_xadd(cluster, moved);
  streamll::RedisSink sink = Injected::redis_sink(
      o, streamll::RedisSinkEndpointTransportFactory([&](const RedisEndpoint& e) {
        return cluster.net.transport(e);
      }),
      clock);
  for (int i = 0; i < 10; ++i) sink.handle(token(i));
  REQUIRE(eventually([&] { return sink.stats().transport_errors >= 1; }));
  cluster.net.set_down(local(7000), false);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  CHECK(sink.stats().delivered == 10);
  CHECK(moved.load());
  CHECK(sink.stats().moved_redirects == 1);
  // The two accepted before the move were not sent again: no duplicates on the new owner.
  std::lock_guard<std::mutex> lock(cluster.mutex);
  CHECK(cluster.streams[7001] == range(0, 10));
}

TEST_CASE("Cluster mode: events cut or dropped for size are counted once across a redirect",
          "[redis_sink][cluster][event_size]") {
  // The batch is encoded again after the move (the two accepted XADDs leave it): the event
  // too large for max_event_bytes must not be counted lost a second time, nor the cut one cut
  // again.
  FakeCluster cluster("ml_events");
  auto o = options();
  o.connection.url = "redis+cluster://127.0.0.1:7000";
  o.max_event_bytes = 4096;
  ManualClock clock;
  std::atomic<bool> moved{false};
  move_slot_at_third_xadd(cluster, moved);
  streamll::RedisSink sink = Injected::redis_sink(
      o, streamll::RedisSinkEndpointTransportFactory([&](const RedisEndpoint& e) {
        return cluster.net.transport(e);
      }),
      clock);
  streamll::Fields too_many;
  for (int i = 0; i < 2000; ++i) too_many.append_new("field_" + std::to_string(i), i);
  for (int i = 0; i < 10; ++i) {
    streamll::Event event = token(i);
    if (i == 5) event.data.set("text", std::string(50000, 'x'));  // cut to fit
    if (i == 7) event.data = too_many;                            // no cut makes it fit
    sink.handle(std::move(event));
  }
  REQUIRE(eventually([&] { return sink.stats().transport_errors >= 1; }));
  cluster.net.set_down(local(7000), false);
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.stats().buffered == 0 && sink.stats().delivered == 9;
  }));
  const auto stats = sink.stats();
  CHECK(moved.load());
  CHECK(stats.moved_redirects == 1);
  CHECK(stats.failed == 1);
  CHECK(stats.failed_too_large == 1);
  CHECK(stats.truncated == 1);
  std::lock_guard<std::mutex> lock(cluster.mutex);
  CHECK(cluster.streams[7001] == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 8, 9});
}

TEST_CASE("Cluster mode: redirections that never settle count as a failure",
          "[redis_sink][cluster]") {
  FakeNetwork net;
  // Each node says the other owns the slot.
  const std::string slot = std::to_string(streamll::redis::key_slot("ml_events"));
  for (const std::uint16_t port : {std::uint16_t{7000}, std::uint16_t{7001}}) {
    net.serve(local(port), [port, slot](const Command& c, FakeConnection&) {
      if (c[0] == "CLUSTER") {
        return RedisReply::make_array(
            {RedisReply::make_array({RedisReply::make_integer(0), RedisReply::make_integer(16383),
                                     RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                             RedisReply::make_integer(port)})})});
      }
      return RedisReply::make_error("MOVED " + slot +
                                    " 127.0.0.1:" + std::to_string(port == 7000 ? 7001 : 7000));
    });
  }
  auto o = options();
  o.connection.url = "redis+cluster://127.0.0.1:7000";
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(
      o, streamll::RedisSinkEndpointTransportFactory([&](const RedisEndpoint& e) {
        return net.transport(e);
      }),
      clock);
  sink.handle(token(0));
  REQUIRE(eventually([&] { return sink.stats().transport_errors >= 1; }));
  const auto stats = sink.stats();
  CHECK(stats.moved_redirects >= 5);
  CHECK_THAT(stats.last_error, Catch::Contains("too many cluster redirections"));
  CHECK(stats.delivered == 0);
}

TEST_CASE("Endpoint provider: asked again after the server goes away",
          "[redis_sink][endpoint_provider]") {
  FakeNetwork net;
  std::vector<int> stored;
  std::mutex mutex;
  const auto server = [&](const Command& c, FakeConnection&) {
    if (c[0] == "XADD") {
      std::lock_guard<std::mutex> lock(mutex);
      stored.push_back(index_of(c.back()));
      return RedisReply::make_string("1-0");
    }
    return RedisReply::make_status("OK");
  };
  net.serve(local(6379), server);
  net.serve(local(6380), server);
  std::atomic<int> calls{0};
  std::atomic<std::uint16_t> port{6379};
  auto o = options();
  o.connection.endpoint_provider = [&](const streamll::EndpointRequest&) {
    ++calls;
    return local(port.load());
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(
      o, streamll::RedisSinkEndpointTransportFactory([&](const RedisEndpoint& e) {
        return net.transport(e);
      }),
      clock);
  sink.handle(token(0));
  REQUIRE(sink.flush(5s));
  CHECK(sink.stats().server == "127.0.0.1:6379");
  net.set_down(local(6379), true);
  port = 6380;
  sink.handle(token(1));
  REQUIRE(eventually([&] {
    clock.advance(1s);
    return sink.flush(20ms);
  }));
  CHECK(sink.stats().server == "127.0.0.1:6380");
  CHECK(calls.load() >= 2);
  std::lock_guard<std::mutex> lock(mutex);
  CHECK(stored == std::vector<int>{0, 1});
}
