// Where consumers connect, without servers: the Redis Cluster master of the stream's slot (and
// of each shard's), a MOVED followed at once, a READONLY after a Sentinel failover sending the
// consumer back to the sentinels, the user's endpoint provider asked on every reconnect. Stream
// models stand in for masters, scripted fakes for sentinels and cluster seeds; a ManualClock
// for time. Sharded health through a MOVED too.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "fake_network.hpp"
#include "fake_stream_redis.hpp"
#include "injected.hpp"
#include "manual_clock.hpp"
#include "redis/analytics/analytics_internal.hpp"
#include "redis/config/connection_target.hpp"
#include "redis/routing/cluster_slots.hpp"
#include "redis/routing/query_connection.hpp"
#include "streamll/redis/consumer.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::ConsumerOptions;
using streamll::GroupConsumer;
using streamll::RedisEndpoint;
using streamll::StreamReader;
using streamll::detail::Injected;
using streamll::redis::RedisReply;
using streamll::testing::Command;
using streamll::testing::FakeConnection;
using streamll::testing::FakeNetwork;
using streamll::testing::FakeStreamRedis;
using streamll::testing::FakeStreamTransport;
using streamll::testing::local;
using streamll::testing::ManualClock;
using streamll::testing::string_array;

namespace {

std::string event_json(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return std::string("{\"event_id\":\"") + id +
         "\",\"event_type\":\"token\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"data\":{"
         "\"n\":" +
         std::to_string(n) + "}}";
}

// Masters are stream models by port; anything else (sentinels, seeds) a scripted fake server.
struct Deployment {
  ManualClock clock;
  FakeNetwork net;
  std::map<std::uint16_t, std::shared_ptr<FakeStreamRedis>> masters;
  std::vector<std::pair<std::size_t, std::uint16_t>>
      connections;  // (shard, port) of each transport made

  std::shared_ptr<FakeStreamRedis>& master(std::uint16_t port,
                                           const std::string& key = "ml_events") {
    auto& m = masters[port];
    if (!m) m = std::make_shared<FakeStreamRedis>(clock, key);
    return m;
  }
  streamll::ConsumerEndpointTransportFactory factory() {
    return [this](std::size_t shard,
                  const RedisEndpoint& at) -> std::unique_ptr<streamll::redis::RedisTransport> {
      connections.emplace_back(shard, at.port);
      const auto it = masters.find(at.port);
      if (it != masters.end()) return std::make_unique<FakeStreamTransport>(it->second);
      return net.transport(at);
    };
  }
  int connections_to(std::uint16_t port) const {
    int n = 0;
    for (const auto& c : connections) n += c.second == port;
    return n;
  }
};

// A seed node that answers CLUSTER SLOTS with `owners` (first slot, last slot, port).
FakeNetwork::Handler slots_of(std::vector<std::array<long long, 3>> owners) {
  return [owners](const Command& c, FakeConnection&) {
    if (c[0] == "CLUSTER" && c[1] == "SLOTS") {
      std::vector<RedisReply> ranges;
      for (const auto& [first, last, port] : owners) {
        ranges.push_back(
            RedisReply::make_array({RedisReply::make_integer(first), RedisReply::make_integer(last),
                                    RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                            RedisReply::make_integer(port)})}));
      }
      return RedisReply::make_array(std::move(ranges));
    }
    return RedisReply::make_status("OK");
  };
}

// A seed at 7000 whose slot map puts the keys of shards 0 and 1 on different masters, 7001
// and 7002: returns the ports of shard 0's master and of shard 1's.
std::pair<std::uint16_t, std::uint16_t> split_two_shards(Deployment& d) {
  const auto s0 = streamll::redis::key_slot("ml_events_shard_0");
  const auto s1 = streamll::redis::key_slot("ml_events_shard_1");
  REQUIRE(s0 != s1);
  const long long split = std::max(s0, s1);
  d.net.serve(local(7000), slots_of({{0, split - 1, 7001}, {split, 16383, 7002}}));
  const auto port_of = [split](long long slot) -> std::uint16_t {
    return slot < split ? 7001 : 7002;
  };
  return {port_of(s0), port_of(s1)};
}

ConsumerOptions group_options(const std::string& url) {
  ConsumerOptions o;
  o.connection.url = url;
  o.group = "g";
  o.consumer_name = "c1";
  o.batch_size = 10;
  o.claim_min_idle = 0ms;
  return o;
}

struct Numbers {
  void operator()(const ConsumedEvent& m) {
    seen.push_back(static_cast<int>(m.event.data["n"].as_int()));
  }
  std::vector<int> seen;
};

}  // namespace

TEST_CASE(
    "Cluster: a consumer reads from the master of its stream's slot and follows MOVED at once",
    "[consumer][cluster]") {
  Deployment d;
  const auto slot = streamll::redis::key_slot("ml_events");
  // The seed says the stream's slot is 7001's.
  d.net.serve(local(7000), slots_of({{0, 16383, 7001}}));
  d.master(7001)->add_event(event_json(1));
  GroupConsumer consumer = Injected::group_consumer(group_options("redis+cluster://127.0.0.1:7000"),
                                                    d.factory(), d.clock);
  Numbers n;
  consumer.on_any(std::ref(n));
  consumer.poll(0ms);
  CHECK(n.seen == std::vector<int>{1});
  CHECK(d.net.count(local(7000), "CLUSTER") == 1);
  CHECK(d.masters[7001]->pending_ids("g").empty());

  // The slot moves to 7002 (with the stream, as MIGRATE moves it): 7001 answers MOVED.
  auto& moved_to = d.master(7002);
  moved_to->add_event(event_json(1));
  moved_to->add_event(event_json(2));
  d.masters[7001]->set_override([slot](const Command& c) -> std::optional<RedisReply> {
    if (c[0] == "XREADGROUP" || c[0] == "XGROUP") {
      return RedisReply::make_error("MOVED " + std::to_string(slot) + " 127.0.0.1:7002");
    }
    return std::nullopt;
  });
  auto r = consumer.poll(0ms);
  CHECK_FALSE(r.connected);
  CHECK(r.backoff == 0ms);  // not a failure: no waiting
  CHECK(consumer.stats().redirects == 1);
  consumer.poll(0ms);
  CHECK(n.seen == std::vector<int>{1, 1, 2});  // the new master's group starts at 0 here
  const auto stats = consumer.stats();
  CHECK(stats.transport_errors == 0);
  CHECK(stats.reply_errors == 0);
  CHECK(moved_to->pending_ids("g").empty());
  CHECK(d.net.count(local(7000), "CLUSTER") == 1);  // a MOVED corrects the map without a refresh
}

TEST_CASE("Cluster: MOVED replies that never settle are spaced by the backoff",
          "[consumer][cluster]") {
  Deployment d;
  const auto slot = streamll::redis::key_slot("ml_events");
  d.net.serve(local(7000), slots_of({{0, 16383, 7001}}));
  // Two masters each claiming the other owns the slot.
  for (const std::uint16_t port : {std::uint16_t{7001}, std::uint16_t{7002}}) {
    const std::uint16_t other = port == 7001 ? 7002 : 7001;
    d.master(port)->set_override([slot, other](const Command& c) -> std::optional<RedisReply> {
      if (c[0] == "XGROUP")
        return RedisReply::make_error("MOVED " + std::to_string(slot) +
                                      " 127.0.0.1:" + std::to_string(other));
      return std::nullopt;
    });
  }
  GroupConsumer consumer = Injected::group_consumer(group_options("redis+cluster://127.0.0.1:7000"),
                                                    d.factory(), d.clock);
  streamll::PollResult r;
  int polls = 0;
  while (polls < 20) {
    ++polls;
    r = consumer.poll(0ms);
    if (r.backoff > 0ms) break;
  }
  CHECK(polls == 6);  // five redirections followed, the sixth is a failure
  CHECK(consumer.stats().redirects == 6);
  CHECK_THAT(consumer.stats().last_error, Catch::Contains("redirections in a row"));
}

TEST_CASE("Cluster: each shard's stream goes to its own slot's master",
          "[consumer][cluster][sharded]") {
  Deployment d;
  const auto ports = split_two_shards(d);
  const std::uint16_t port0 = ports.first;
  const std::uint16_t port1 = ports.second;
  d.master(port0, "ml_events_shard_0")->add_event(event_json(10));
  d.master(port1, "ml_events_shard_1")->add_event(event_json(20));
  auto o = group_options("redis+cluster://127.0.0.1:7000");
  o.shard_count = 2;
  GroupConsumer consumer = Injected::group_consumer(o, d.factory(), d.clock);
  std::map<std::size_t, std::vector<int>> seen;
  consumer.on_any([&](const ConsumedEvent& m) {
    seen[m.shard].push_back(static_cast<int>(m.event.data["n"].as_int()));
  });
  consumer.poll(0ms);
  CHECK(seen[0] == std::vector<int>{10});
  CHECK(seen[1] == std::vector<int>{20});
  for (const auto& [shard, port] : d.connections) {
    if (port == 7000) continue;  // the seed, asked for the map
    INFO("shard " << shard);
    CHECK(port == (shard == 0 ? port0 : port1));
  }
}

TEST_CASE("Sentinel: READONLY after a failover sends the consumer back to the sentinels",
          "[consumer][sentinel]") {
  Deployment d;
  std::uint16_t named = 6380;  // the master the sentinel names
  d.net.serve(local(26379), [&named](const Command& c, FakeConnection&) {
    if (c[0] == "SENTINEL") return string_array({"127.0.0.1", std::to_string(named)});
    return RedisReply::make_error("ERR unknown command");
  });
  d.master(6380)->add_event(event_json(1));
  GroupConsumer consumer = Injected::group_consumer(
      group_options("redis+sentinel://127.0.0.1:26379/mymaster"), d.factory(), d.clock);
  Numbers n;
  consumer.on_any(std::ref(n));
  consumer.poll(0ms);
  CHECK(n.seen == std::vector<int>{1});
  CHECK(d.net.count(local(26379), "SENTINEL") == 1);

  // The old master is demoted; the sentinels now name 6381, which has the stream and a new entry.
  d.masters[6380]->set_override([](const Command& c) -> std::optional<RedisReply> {
    if (c[0] == "XREADGROUP")
      return RedisReply::make_error("READONLY You can't write against a read only replica.");
    return std::nullopt;
  });
  auto& promoted = d.master(6381);
  promoted->add_event(event_json(1));
  promoted->add_event(event_json(2));
  named = 6381;
  auto r = consumer.poll(0ms);
  CHECK_FALSE(r.connected);
  CHECK(consumer.stats().reply_errors == 1);
  CHECK_THAT(consumer.stats().last_error, Catch::Contains("READONLY"));
  d.clock.advance(200ms);  // the reconnect delay
  consumer.poll(0ms);
  CHECK(d.net.count(local(26379), "SENTINEL") == 2);  // asked again
  CHECK(n.seen == std::vector<int>{1, 1, 2});
  CHECK(promoted->pending_ids("g").empty());
  CHECK(consumer.stats().reconnects == 1);
}

TEST_CASE("An endpoint provider is asked on every reconnect, told why the last connection ended",
          "[consumer]") {
  Deployment d;
  d.master(6390)->add_event(event_json(5));
  std::vector<std::string> previous_errors;
  auto o = group_options("redis://ignored:1");
  o.connection.endpoint_provider = [&](const streamll::EndpointRequest& request) {
    previous_errors.push_back(request.previous_error);
    return RedisEndpoint{"127.0.0.1", 6390, false};
  };
  StreamReader reader = Injected::stream_reader(
      [&] {
        auto r = o;
        r.group.clear();
        r.consumer_name.clear();
        r.start_id = "0";
        return r;
      }(),
      d.factory(), d.clock);
  Numbers n;
  reader.on_any(std::ref(n));
  reader.poll(0ms);
  CHECK(n.seen == std::vector<int>{5});
  d.masters[6390]->fail_next_executes(1);
  reader.poll(0ms);
  d.clock.advance(200ms);
  d.masters[6390]->add_event(event_json(6));
  reader.poll(0ms);
  CHECK(n.seen == std::vector<int>{5, 6});  // continued after its position, nothing twice
  REQUIRE(previous_errors.size() == 2);
  CHECK(previous_errors[0].empty());
  CHECK_THAT(previous_errors[1], Catch::Contains("connection reset"));
}

TEST_CASE("One-off queries follow MOVED to the key's new master", "[consumer][cluster]") {
  Deployment d;
  const auto slot = streamll::redis::key_slot("ml_events");
  d.net.serve(local(7000), slots_of({{0, 16383, 7001}}));
  d.net.serve(local(7001), [slot](const Command& c, FakeConnection&) {
    if (c[0] == "CLUSTER") return RedisReply::make_array({});
    return RedisReply::make_error("MOVED " + std::to_string(slot) + " 127.0.0.1:7002");
  });
  d.net.serve(local(7002),
              [](const Command&, FakeConnection&) { return RedisReply::make_integer(3); });
  streamll::RedisConnectionOptions o;
  o.url = "redis+cluster://127.0.0.1:7000";
  long long answer = 0;
  std::vector<std::string> asked;
  streamll::redis::run_query(
      o, "ml_events",
      [&](streamll::redis::RedisTransport& t) {
        asked.push_back(t.describe());
        const RedisReply reply = t.command({"XLEN", "ml_events"});
        streamll::redis::throw_if_error(reply, "XLEN");
        answer = reply.integer;
      },
      [&d](const streamll::redis::ConnectionTarget& t) {
        return d.net.transport(RedisEndpoint{t.host, t.port, false});
      });
  CHECK(answer == 3);
  CHECK(asked == std::vector<std::string>{"127.0.0.1:7001", "127.0.0.1:7002"});
}

namespace {

std::string llm_call_json(int n, double response_ms) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return std::string("{\"event_id\":\"") + id +
         "\",\"event_type\":\"llm_call\",\"timestamp\":\"2024-01-15T16:30:45.123456Z\",\"data\":{"
         "\"model\":\"m\",\"response_time_ms\":" +
         std::to_string(response_ms) + "}}";
}

}  // namespace

// Health reads a shard's window in pages of 1000 entries: a MOVED on the second page runs the
// shard's query again on the new master, and the calls of the first attempt must not count.
TEST_CASE("Cluster: sharded health follows a MOVED in mid-window without counting twice",
          "[analytics][cluster][sharded]") {
  Deployment d;
  const auto ports = split_two_shards(d);
  const std::uint16_t port0 = ports.first;
  const std::uint16_t port1 = ports.second;
  const auto s0 = streamll::redis::key_slot("ml_events_shard_0");
  auto& old_master = d.master(port0, "ml_events_shard_0");
  auto& new_master = d.master(7003, "ml_events_shard_0");
  auto& other = d.master(port1, "ml_events_shard_1");
  const std::uint64_t start = 1'700'000'000'000;
  for (auto* m : {&old_master, &new_master, &other}) (*m)->start_ids_at(start);
  for (int i = 0; i < 1500; ++i) {  // two pages on shard 0, the same entries after the move
    old_master->add_event(llm_call_json(i, 100 + i % 7));
    new_master->add_event(llm_call_json(i, 100 + i % 7));
  }
  for (int i = 0; i < 10; ++i) other->add_event(llm_call_json(2000 + i, 50));
  int ranges = 0;
  old_master->set_override([&ranges, s0](const Command& c) -> std::optional<RedisReply> {
    if (c[0] == "XRANGE" && ++ranges == 2)
      return RedisReply::make_error("MOVED " + std::to_string(s0) + " 127.0.0.1:7003");
    return std::nullopt;
  });

  streamll::ShardedStream source;
  source.connection.url = "redis+cluster://127.0.0.1:7000";
  source.stream = "ml_events";
  source.shard_count = 2;
  const streamll::redis::ShardTransportMaker make = [&d](std::size_t) {
    return streamll::redis::TransportMaker([&d](const streamll::redis::ConnectionTarget& at)
                                               -> std::unique_ptr<streamll::redis::RedisTransport> {
      const auto it = d.masters.find(at.port);
      if (it != d.masters.end()) return std::make_unique<FakeStreamTransport>(it->second);
      return d.net.transport(RedisEndpoint{at.host, at.port});
    });
  };
  const auto report = streamll::redis::check_health(source, streamll::HealthThresholds{}, make);
  CHECK(ranges == 2);  // the first page came from the old master, the second was redirected
  CHECK(report.llm_calls_in_window == 1510);
  CHECK(report.events_in_window == 1510);
  REQUIRE(report.models.count("m") == 1);
  CHECK(report.models.at("m").calls == 1510);
  CHECK(report.stream_length == 1510);
  CHECK(report.alerts.empty());
}
