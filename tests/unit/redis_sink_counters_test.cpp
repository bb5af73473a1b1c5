// Every RedisSinkStats counter after each kind of answer Redis can give a batch: an XADD
// refused, a lost connection, a protocol error, an event that makes the server close the
// connection (poison), events too large or cut, MOVED, ASK, a WAIT shortfall and a refused
// WAIT. Each case sends one event, lets the sink settle it, then one good event to show the
// sink moved on, and compares the whole set of counters and the breaker's failure count (which
// answers feed the breaker), so that a counter moved, dropped or counted twice by a change in
// the sink shows here.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <atomic>
#include <sstream>

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
using streamll::testing::local;
using streamll::testing::ManualClock;

namespace {

streamll::RedisSinkOptions options(const std::string& url = "redis://127.0.0.1:6379") {
  streamll::RedisSinkOptions o;
  o.connection.url = url;
  o.stream_key = "ml_events";
  o.buffer_size = 1000;
  o.max_batch_size = 100;
  o.recovery_timeout = 30s;
  o.shutdown_timeout = 500ms;
  return o;
}

streamll::Event token(int i) {
  static const auto context = std::make_shared<streamll::EventContext>(
      streamll::EventContext{"exec_counters", "span1", "", "answer", "", {}});
  streamll::Fields data;
  data.set("index", i);
  return streamll::Event::capture(streamll::EventType::token, context, std::move(data));
}

int index_of(const Command& xadd) {
  return nlohmann::json::parse(xadd.back())["data"]["index"].get<int>();
}

// Every counter, as one line: a mismatch shows which counter differs.
std::string counters(const streamll::RedisSink& sink) {
  const auto s = sink.stats();
  std::ostringstream out;
  out << "enqueued=" << s.enqueued << " delivered=" << s.delivered << " failed=" << s.failed
      << " failed_protocol=" << s.failed_protocol << " failed_too_large=" << s.failed_too_large
      << " truncated=" << s.truncated << " retried_batches=" << s.retried_batches
      << " round_trips=" << s.round_trips << " transport_errors=" << s.transport_errors
      << " reply_errors=" << s.reply_errors << " reconnects=" << s.reconnects
      << " replica_waits=" << s.replica_waits
      << " replica_ack_shortfalls=" << s.replica_ack_shortfalls
      << " moved_redirects=" << s.moved_redirects << " ask_redirects=" << s.ask_redirects
      << " dropped=" << s.dropped() << " buffered=" << s.buffered << " in_flight=" << s.in_flight
      << " breaker_failures=" << sink.circuit_breaker().total_failures;
  return out.str();
}

// One node at 127.0.0.1:6379 whose answer to each XADD (by the event's index and how many times
// that event was sent) and to each WAIT (by how many WAITs came before) the test chooses.
struct ScriptedNode {
  using XaddAnswer = std::function<RedisReply(int index, int attempt)>;
  using WaitAnswer = std::function<RedisReply(int wait_number)>;

  ScriptedNode() {
    net.serve(local(6379), [this](const Command& c, FakeConnection&) {
      std::lock_guard<std::mutex> lock(mutex);
      if (c[0] == "XADD") {
        const int index = index_of(c);
        return xadd ? xadd(index, attempts[index]++) : RedisReply::make_string("1-0");
      }
      if (c[0] == "WAIT") return wait ? wait(waits++) : RedisReply::make_integer(1);
      return RedisReply::make_status("OK");
    });
  }

  streamll::RedisSinkEndpointTransportFactory factory() {
    return [this](const RedisEndpoint& e) { return net.transport(e); };
  }

  FakeNetwork net;
  std::mutex mutex;
  XaddAnswer xadd;
  WaitAnswer wait;
  std::map<int, int> attempts;
  int waits = 0;
};

// Moves the manual clock on (reconnect backoffs pass) until `done`.
template <typename Done>
bool settles(ManualClock& clock, Done done) {
  return eventually([&] {
    clock.advance(1s);
    return done();
  });
}

// Event 0 is the case under test; once it settled, the good event 1 goes.
void then_one_good_event(streamll::RedisSink& sink, ManualClock& clock) {
  const auto delivered = sink.stats().delivered;
  sink.handle(token(1));
  REQUIRE(settles(clock, [&] {
    const auto s = sink.stats();
    return s.delivered == delivered + 1 && s.buffered == 0;
  }));
}

}  // namespace

TEST_CASE("RedisSink counters: an XADD refused with an error reply", "[redis_sink][counters]") {
  ScriptedNode node;
  node.xadd = [](int index, int) {
    return index == 0 ? RedisReply::make_error("WRONGTYPE Operation against a key")
                      : RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().failed == 1; }));
  then_one_good_event(sink, clock);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=1 failed=1 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=2 transport_errors=0 reply_errors=1 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: a transport failure sends the batch again",
          "[redis_sink][counters]") {
  ScriptedNode node;
  node.xadd = [](int index, int attempt) -> RedisReply {
    if (index == 0 && attempt == 0) throw streamll::IoError("connection reset by peer");
    return RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=2 transport_errors=1 reply_errors=0 reconnects=1 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}

TEST_CASE("RedisSink counters: a protocol error reply fails its event and closes",
          "[redis_sink][counters]") {
  ScriptedNode node;
  node.xadd = [](int index, int) {
    return index == 0 ? RedisReply::make_error("ERR Protocol error: invalid bulk length")
                      : RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().failed == 1; }));
  then_one_good_event(sink, clock);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=1 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=2 transport_errors=0 reply_errors=1 reconnects=1 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: an event that makes the server close the connection (poison)",
          "[redis_sink][counters][poison]") {
  // Sent in its batch, then alone: both times the server closes the connection. The third
  // connection answers PING, so the event is the culprit and is failed.
  ScriptedNode node;
  node.xadd = [](int index, int) -> RedisReply {
    if (index == 0) throw streamll::ClosedError("connection closed by the server");
    return RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().failed == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "PING") == 1);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=1 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
        "retried_batches=2 round_trips=1 transport_errors=2 reply_errors=0 reconnects=2 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: events cut to max_event_bytes or too large for it",
          "[redis_sink][counters][event_size]") {
  ScriptedNode node;
  auto o = options();
  o.max_event_bytes = 4096;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(o, node.factory(), clock);
  streamll::Event cut = token(0);
  cut.data.set("text", std::string(50000, 'x'));
  streamll::Event too_large = token(2);
  too_large.data = streamll::Fields{};
  for (int i = 0; i < 2000; ++i) too_large.data.append_new("field_" + std::to_string(i), i);
  sink.handle(std::move(cut));
  sink.handle(std::move(too_large));
  REQUIRE(settles(clock, [&] {
    const auto s = sink.stats();
    return s.delivered == 1 && s.failed == 1 && s.buffered == 0;
  }));
  // Two batches or one: the too large event alone makes no round trip.
  then_one_good_event(sink, clock);
  CHECK(counters(sink) ==
        "enqueued=3 delivered=2 failed=1 failed_protocol=0 failed_too_large=1 truncated=1 "
        "retried_batches=0 round_trips=2 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

namespace {

// Two cluster nodes, 7000 and 7001; `owner` holds the stream key's slot. `redirect` is the
// redirection 7000 answers the first XADD with ("MOVED" or "ASK"), pointing at 7001.
struct TwoNodeCluster {
  explicit TwoNodeCluster(std::string redirection) : redirect(std::move(redirection)) {
    for (const std::uint16_t port : {std::uint16_t{7000}, std::uint16_t{7001}}) {
      net.serve(local(port), [this, port](const Command& c, FakeConnection& conn) {
        return answer(port, c, conn);
      });
    }
  }

  RedisReply answer(std::uint16_t port, const Command& c, FakeConnection& conn) {
    std::lock_guard<std::mutex> lock(mutex);
    const bool asking = std::exchange(conn.asking, false);
    if (c[0] == "ASKING") {
      conn.asking = true;
      return RedisReply::make_status("OK");
    }
    if (c[0] == "CLUSTER") {
      return RedisReply::make_array(
          {RedisReply::make_array({RedisReply::make_integer(0), RedisReply::make_integer(16383),
                                   RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                           RedisReply::make_integer(owner)})})});
    }
    if (c[0] != "XADD") return RedisReply::make_status("OK");
    if (port == 7000 && !redirected) {
      redirected = true;
      if (redirect == "MOVED") owner = 7001;
      return RedisReply::make_error(redirect + " " + std::to_string(slot) + " 127.0.0.1:7001");
    }
    if (port != owner && !asking) return RedisReply::make_error("unexpected XADD");
    return RedisReply::make_string("1-0");
  }

  streamll::RedisSinkEndpointTransportFactory factory() {
    return [this](const RedisEndpoint& e) { return net.transport(e); };
  }

  const std::string redirect;
  const std::uint16_t slot = streamll::redis::key_slot("ml_events");
  FakeNetwork net;
  std::mutex mutex;
  std::uint16_t owner = 7000;
  bool redirected = false;
};

}  // namespace

TEST_CASE("RedisSink counters: MOVED", "[redis_sink][counters][cluster]") {
  TwoNodeCluster cluster("MOVED");
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(options("redis+cluster://127.0.0.1:7000"), cluster.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=3 transport_errors=0 reply_errors=0 reconnects=1 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=1 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: ASK", "[redis_sink][counters][cluster]") {
  TwoNodeCluster cluster("ASK");
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(options("redis+cluster://127.0.0.1:7000"), cluster.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(cluster.net.count(local(7001), "ASKING") == 1);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=3 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=1 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: a WAIT shortfall asks WAIT alone again",
          "[redis_sink][counters][wait]") {
  ScriptedNode node;
  node.wait = [](int number) { return RedisReply::make_integer(number == 0 ? 0 : 1); };
  auto o = options();
  o.min_replicas_ack = 1;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(o, node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XADD") == 2);  // event 0 was written once
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=3 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=3 replica_ack_shortfalls=1 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: a refused WAIT sends the batch again on a new connection",
          "[redis_sink][counters][wait]") {
  ScriptedNode node;
  node.wait = [](int number) {
    return number == 0 ? RedisReply::make_error("NOPERM no permissions to run the 'wait' command")
                       : RedisReply::make_integer(1);
  };
  auto o = options();
  o.min_replicas_ack = 1;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(o, node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XADD") == 3);  // event 0 was written twice
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=3 transport_errors=0 reply_errors=0 reconnects=1 "
        "replica_waits=3 replica_ack_shortfalls=1 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}
