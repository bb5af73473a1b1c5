// GroupConsumer and StreamReader against real redis-server processes: work split inside a
// group, every group seeing everything, a SIGKILLed consumer's entries claimed, reconnecting
// after a restart, prompt stop().

#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <sstream>
#include <thread>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis/transport/transport.hpp"
#include "redis_server.hpp"

using namespace std::chrono_literals;
using streamll::ConsumedEvent;
using streamll::GroupConsumer;
using streamll::StreamReader;
using streamll::consumerit::add_event;
using streamll::consumerit::group_options;
using streamll::consumerit::numbered;
using streamll::consumerit::SeenIds;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::testing::eventually;

namespace {

std::vector<std::string> write_numbered(DirectRedis& redis, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    const streamll::Event e = numbered(i);
    ids.push_back(e.id.to_string());
    add_event(redis, e);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_CASE("Two consumers in one group process every entry exactly once between them",
          "[consumer_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  GroupConsumer c1(group_options(server.url(), "workers", "c1"));
  GroupConsumer c2(group_options(server.url(), "workers", "c2"));
  SeenIds seen1, seen2;
  c1.on_any([&](const ConsumedEvent& m) { seen1.add(m); });
  c2.on_any([&](const ConsumedEvent& m) { seen2.add(m); });
  std::thread t1([&] { c1.run(); });
  std::thread t2([&] { c2.run(); });
  REQUIRE(eventually([&] { return c1.stats().connected && c2.stats().connected; }, 30s));
  // Produced while both wait, in batches: each blocked consumer gets a share.
  std::vector<std::string> written;
  bool both_waited = true;
  for (int round = 0; round < 20 && both_waited; ++round) {
    both_waited = eventually([&] { return redis.blocked_in("xreadgroup") == 2; }, 30s);
    for (auto& id : write_numbered(redis, 50)) written.push_back(id);
  }
  const bool all = eventually([&] { return seen1.size() + seen2.size() >= written.size(); }, 60s);
  c1.stop();
  c2.stop();
  t1.join();
  t2.join();
  REQUIRE(both_waited);
  REQUIRE(all);
  std::vector<std::string> both = seen1.ids();
  for (auto& id : seen2.ids()) both.push_back(id);
  CHECK(sorted(both) == sorted(written));  // every entry, none twice
  CHECK(seen1.size() > 0);
  CHECK(seen2.size() > 0);
  CHECK(c1.stats().acked + c2.stats().acked == written.size());
  CHECK(streamll::consumerit::pending_count(redis, "workers") == 0);
}

TEST_CASE("Three groups each see every entry", "[consumer_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  const auto written = write_numbered(redis, 300);
  for (const char* group : {"analytics", "alerts", "warehouse"}) {
    GroupConsumer consumer(group_options(server.url(), group, std::string(group) + "_worker_1"));
    SeenIds seen;
    consumer.on_any([&](const ConsumedEvent& m) { seen.add(m); });
    for (int i = 0; i < 200 && seen.size() < written.size(); ++i)
      consumer.poll(std::chrono::milliseconds(0));
    INFO(group);
    CHECK(sorted(seen.ids()) == written);
  }
  CHECK(redis.command({"XINFO", "GROUPS", "ml_events"})->elements == 3);
}

TEST_CASE("Entries of a consumer killed mid-batch are claimed by another after the idle time",
          "[consumer_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  const auto written = write_numbered(redis, 60);
  // The doomed worker: the CLI consumer running a slow command per event, SIGKILLed while a
  // batch of 20 is in its hands (delivered to it, partly acknowledged).
  const std::string done_file = server.dir() + "/done.jsonl";
  const pid_t doomed = streamll::test::spawn_process(
      {STREAMLL_CLI_PATH, "consume", "--url", server.url(), "--group", "workers", "--consumer",
       "doomed", "--batch", "20", "--exec", "cat >> " + done_file + "; sleep 0.05"},
      server.dir() + "/doomed.log");
  const bool mid_batch = eventually(
      [&] {
        return streamll::consumerit::pending_count(redis, "workers") > 0 &&
               !streamll::test::read_text_file(done_file).empty();
      },
      30s);
  ::kill(doomed, SIGKILL);
  streamll::test::wait_process(doomed);
  REQUIRE(mid_batch);
  const long long left = streamll::consumerit::pending_count(redis, "workers");
  REQUIRE(left > 0);

  auto options = group_options(server.url(), "workers", "survivor");
  options.claim_min_idle = 300ms;
  options.claim_interval = 100ms;
  GroupConsumer survivor(options);
  SeenIds seen;
  survivor.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  std::thread runner([&] { survivor.run(); });
  const bool drained = eventually(
      [&] {
        // The doomed worker held at most one batch of 20: the survivor handles the other 40 at
        // least.
        return seen.size() >= 40 && survivor.stats().claimed > 0 &&
               streamll::consumerit::pending_count(redis, "workers") == 0;
      },
      60s);
  survivor.stop();
  runner.join();
  REQUIRE(drained);
  // Nothing lost: what the doomed worker finished plus what the survivor handled is everything.
  const auto survivor_ids = seen.ids();
  std::set<std::string> all(survivor_ids.begin(), survivor_ids.end());
  std::istringstream done(streamll::test::read_text_file(done_file));
  for (std::string line; std::getline(done, line);) {
    streamll::Event e;
    if (streamll::parse_event_json(line, e)) all.insert(e.id.to_string());
  }
  CHECK(std::vector<std::string>(all.begin(), all.end()) == written);
  CHECK(survivor.stats().claimed >= static_cast<std::uint64_t>(left));
}

TEST_CASE("A group consumer reconnects after Redis restarts and recreates its group",
          "[consumer_it]") {
  RedisServer server;
  auto options = group_options(server.url(), "workers", "c1");
  GroupConsumer consumer(options);
  SeenIds seen;
  consumer.on_any([&](const ConsumedEvent& m) { seen.add(m); });
  std::thread runner([&] { consumer.run(); });
  {
    auto redis = DirectRedis::tcp(server.port());
    write_numbered(redis, 10);
  }
  const bool first = eventually([&] { return seen.size() == 10; }, 30s);
  server.restart();  // SIGKILL, then a fresh server on the same port: the group is gone too
  auto redis = DirectRedis::tcp(server.port());
  const bool regrouped = eventually(
      [&] {
        return redis.integer({"EXISTS", "ml_events"}) == 1;
      },
      30s);
  write_numbered(redis, 5);
  const bool second = eventually([&] { return seen.size() == 15; }, 30s);
  consumer.stop();
  runner.join();
  CHECK(first);
  CHECK(regrouped);
  CHECK(second);
  const auto s = consumer.stats();
  CHECK(s.reconnects >= 1);
  CHECK(s.transport_errors >= 1);
  CHECK(s.handled == 15);
}

TEST_CASE("stop() ends run() promptly while it waits in a blocking read", "[consumer_it]") {
  RedisServer server;
  auto options = group_options(server.url(), "workers", "c1");
  options.block = 30s;
  GroupConsumer consumer(options);
  std::thread runner([&] { consumer.run(); });
  REQUIRE(eventually([&] { return consumer.stats().connected; }, 30s));
  // The server has it blocked in XREADGROUP ... BLOCK 30000: stop() must interrupt that read.
  auto redis = DirectRedis::tcp(server.port());
  const bool blocked = eventually([&] { return redis.blocked_in("xreadgroup") == 1; }, 30s);
  const auto before = std::chrono::steady_clock::now();
  consumer.stop();
  runner.join();
  REQUIRE(blocked);
  CHECK(std::chrono::steady_clock::now() - before < 10s);  // well below the 30 s block
  CHECK(consumer.stats().transport_errors == 0);
}

TEST_CASE("StreamReader reads only new entries from $, everything from 0", "[consumer_it]") {
  RedisServer server;
  auto redis = DirectRedis::tcp(server.port());
  const auto old_ids = write_numbered(redis, 5);
  streamll::ConsumerOptions o;
  o.connection.url = server.url();
  o.start_id = "$";
  StreamReader fresh(o);
  SeenIds seen_fresh;
  fresh.on_any([&](const ConsumedEvent& m) { seen_fresh.add(m); });
  CHECK(fresh.poll(std::chrono::milliseconds(0)).entries == 0);
  const auto new_ids = write_numbered(redis, 3);
  CHECK(fresh.poll(std::chrono::milliseconds(0)).entries == 3);
  CHECK(sorted(seen_fresh.ids()) == new_ids);

  o.start_id = "0";
  StreamReader everything(o);
  SeenIds seen_all;
  everything.on_any([&](const ConsumedEvent& m) { seen_all.add(m); });
  everything.poll(std::chrono::milliseconds(0));
  CHECK(seen_all.size() == 8);
  CHECK(everything.last_id() == redis.command({"XREVRANGE", "ml_events", "+", "-", "COUNT", "1"})
                                    ->element[0]
                                    ->element[0]
                                    ->str);
}

TEST_CASE("Split pipelining: send() now, receive() later, in order, partial receives",
          "[consumer_it]") {
  RedisServer server;
  streamll::RedisConnectionOptions o;
  o.url = server.url();
  auto t = streamll::redis::make_socket_transport(o);
  t->connect();
  streamll::redis::CommandBuffer first, second;
  first.append({"SET", "k", "1"}).append({"INCR", "k"});
  second.append({"INCR", "k"});
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  t->send(first, deadline);
  t->send(second, deadline);
  std::vector<streamll::redis::RedisReply> replies;
  CHECK_THROWS_AS(t->execute(second, replies, deadline), std::logic_error);  // replies outstanding
  t->receive(1, replies, deadline);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].text == "OK");
  t->receive(2, replies, deadline);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].integer == 2);
  CHECK(replies[1].integer == 3);
  CHECK_THROWS_AS(t->receive(1, replies, deadline), std::logic_error);  // nothing outstanding
  CHECK(t->command({"GET", "k"}).text == "3");
}
