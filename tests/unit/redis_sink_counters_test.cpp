// Every RedisSinkStats counter after each kind of answer Redis can give a batch: an XADD
// refused, the server not taking writes (LOADING, READONLY), a lost connection, a protocol
// error, an event that makes the server close the connection (poison), events too large or
// cut, MOVED, ASK and a failed ASK connection, a WAIT shortfall and a refused WAIT, a refused
// XGROUP CREATE; and after each kind of drop: the overflow strategies, events handed over
// after shutdown, events left by a shutdown that gave up. Each answer case sends one event, lets
// the sink settle it, then one good event to show the sink moved on, and compares the whole set of
// counters and the breaker's failure count (which answers feed the breaker), so that a counter
// moved, dropped or counted twice by a change in the sink shows here.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
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
  // Heartbeats would add connections and failures to the exact counts checked here (their own
  // tests are in redis_heartbeat_test.cpp).
  o.heartbeat_interval = std::chrono::milliseconds(0);
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

// Nodes at 127.0.0.1 (one at 6379 unless told) whose answer to each XADD (by the event's index
// and how many times that event was sent; with `xadd_at`, by the node too) and to each WAIT (by
// how many WAITs came before) the test chooses. The scripts run under `mutex`.
struct ScriptedNode {
  using XaddAnswer = std::function<RedisReply(int index, int attempt)>;
  using XaddAtAnswer = std::function<RedisReply(std::uint16_t port, int index, int attempt)>;
  using WaitAnswer = std::function<RedisReply(int wait_number)>;

  explicit ScriptedNode(std::initializer_list<std::uint16_t> ports = {6379}) {
    for (const std::uint16_t port : ports) {
      net.serve(local(port), [this, port](const Command& c, FakeConnection&) {
        std::unique_lock<std::mutex> lock(mutex);
        if (c[0] == "XADD") {
          ++xadds_seen;
          changed.notify_all();
          changed.wait(lock, [this] { return !holding; });
          const int index = index_of(c);
          if (xadd_at) return xadd_at(port, index, attempts[index]++);
          return xadd ? xadd(index, attempts[index]++) : RedisReply::make_string("1-0");
        }
        if (c[0] == "WAIT") return wait ? wait(waits++) : RedisReply::make_integer(1);
        return other ? other(c) : RedisReply::make_status("OK");
      });
    }
  }

  // While held, an XADD waits before it is answered: the flusher is blocked in I/O with its
  // batch in flight, and whatever is handed to the sink meanwhile stays in the buffer.
  void hold() {
    std::lock_guard<std::mutex> lock(mutex);
    holding = true;
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      holding = false;
    }
    changed.notify_all();
  }
  // Until `n` XADDs reached the node (held ones included), or 5 s.
  bool xadds_reach(int n) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return xadds_seen >= n; });
  }

  streamll::RedisSinkEndpointTransportFactory factory() {
    return [this](const RedisEndpoint& e) { return net.transport(e); };
  }

  FakeNetwork net;
  std::mutex mutex;
  std::condition_variable changed;
  XaddAnswer xadd;
  XaddAtAnswer xadd_at;
  WaitAnswer wait;
  std::function<RedisReply(const Command&)> other;  // any other command; OK when unset
  std::map<int, int> attempts;
  int waits = 0;
  int xadds_seen = 0;
  bool holding = false;
};

// Releases the node's held XADDs when the test leaves, also on a failed REQUIRE: declared
// after the sink, so that the flusher is free before the sink's destructor waits for it.
struct ReleaseAtEnd {
  ScriptedNode& node;
  ~ReleaseAtEnd() { node.release(); }
};

// The counters counters() sums into `dropped`, one by one.
std::string drops(const streamll::RedisSink& sink) {
  const auto s = sink.stats();
  std::ostringstream out;
  out << "dropped_oldest=" << s.dropped_oldest << " dropped_newest=" << s.dropped_newest
      << " dropped_raise_error=" << s.dropped_raise_error
      << " dropped_on_shutdown=" << s.dropped_on_shutdown
      << " dropped_after_fork=" << s.dropped_after_fork;
  return out.str();
}

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

namespace {

RedisReply protocol_error() {
  return RedisReply::make_error("ERR Protocol error: invalid bulk length");
}

// "MOVED" or "ASK": the default stream's slot is served by the node at port 7001.
RedisReply redirect_to_7001(const std::string& kind) {
  return RedisReply::make_error(
      kind + " " + std::to_string(streamll::redis::key_slot("ml_events")) + " 127.0.0.1:7001");
}

// A CLUSTER SLOTS reply: every slot at `port`.
RedisReply all_slots_at(std::uint16_t port) {
  return RedisReply::make_array(
      {RedisReply::make_array({RedisReply::make_integer(0), RedisReply::make_integer(16383),
                               RedisReply::make_array({RedisReply::make_string("127.0.0.1"),
                                                       RedisReply::make_integer(port)})})});
}

// Event 0 goes first, alone, its XADD held until `events` were handed over: they then go
// together, as one batch.
void in_one_batch(streamll::RedisSink& sink, ScriptedNode& node,
                  std::initializer_list<int> events) {
  node.hold();
  sink.handle(token(0));
  REQUIRE(node.xadds_reach(1));
  for (const int i : events) sink.handle(token(i));
  node.release();
}

}  // namespace

// failed_protocol counts an event once, when it is failed: not when the batch that drew the
// protocol error is kept and sent again (the event would draw it again and be counted twice).

TEST_CASE("RedisSink counters: a protocol error in a batch kept for LOADING counts once",
          "[redis_sink][counters][poison]") {
  // Event 2 draws LOADING and event 3 the protocol error: nothing was accepted, so the batch
  // is kept and sent again; then event 2 goes in and event 3 is failed.
  ScriptedNode node;
  node.xadd = [](int index, int attempt) -> RedisReply {
    if (index == 2 && attempt == 0) {
      return RedisReply::make_error("LOADING Redis is loading the dataset in memory");
    }
    return index == 3 ? protocol_error() : RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  ReleaseAtEnd release{node};
  in_one_batch(sink, node, {2, 3});
  REQUIRE(settles(clock, [&] {
    const auto s = sink.stats();
    return s.failed == 1 && s.buffered == 0;
  }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XADD") == 6);  // 0, then 2 and 3 twice, then 1
  CHECK(counters(sink) ==
        "enqueued=4 delivered=3 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=4 transport_errors=1 reply_errors=1 reconnects=2 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}

TEST_CASE("RedisSink counters: a protocol error behind a MOVED counts once",
          "[redis_sink][counters][poison][cluster]") {
  // At 7000, event 2 draws MOVED and event 3 the protocol error: the batch goes again, whole,
  // to 7001, where event 2 goes in and event 3 is failed.
  ScriptedNode node({7000, 7001});
  std::uint16_t owner = 7000;  // read and written by the scripts only, under node.mutex
  node.other = [&owner](const Command& c) {
    return c[0] == "CLUSTER" ? all_slots_at(owner) : RedisReply::make_status("OK");
  };
  node.xadd_at = [&owner](std::uint16_t port, int index, int) -> RedisReply {
    if (index == 3) return protocol_error();
    if (port == 7000 && index == 2) {
      owner = 7001;
      return redirect_to_7001("MOVED");
    }
    return RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(options("redis+cluster://127.0.0.1:7000"), node.factory(), clock);
  ReleaseAtEnd release{node};
  in_one_batch(sink, node, {2, 3});
  REQUIRE(settles(clock, [&] {
    const auto s = sink.stats();
    return s.failed == 1 && s.buffered == 0;
  }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(7000), "XADD") == 3);  // 0, 2, 3
  CHECK(node.net.count(local(7001), "XADD") == 3);  // 2, 3, 1
  CHECK(counters(sink) ==
        "enqueued=4 delivered=3 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=4 transport_errors=0 reply_errors=1 reconnects=2 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=1 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: a protocol error behind an ASK counts as the asked node answers",
          "[redis_sink][counters][poison][cluster]") {
  // At 7000, event 2 draws ASK and event 3 the protocol error; both go to 7001 at once, whose
  // answer to event 3 settles it.
  struct Row {
    const char* name;
    bool asked_node_refuses;
    const char* counters;
  };
  const Row row = GENERATE(values<Row>({
      {"accepted there", false,
       "enqueued=4 delivered=4 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
       "retried_batches=0 round_trips=4 transport_errors=0 reply_errors=0 reconnects=1 "
       "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=1 dropped=0 "
       "buffered=0 in_flight=0 breaker_failures=0"},
      {"a protocol error there too", true,
       "enqueued=4 delivered=3 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
       "retried_batches=0 round_trips=4 transport_errors=0 reply_errors=1 reconnects=1 "
       "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=1 dropped=0 "
       "buffered=0 in_flight=0 breaker_failures=0"},
  }));
  CAPTURE(row.name);
  ScriptedNode node({7000, 7001});
  node.other = [](const Command& c) {
    return c[0] == "CLUSTER" ? all_slots_at(7000) : RedisReply::make_status("OK");
  };
  node.xadd_at = [refuses = row.asked_node_refuses](std::uint16_t port, int index,
                                                    int) -> RedisReply {
    if (port == 7000 && index == 2) {
      return redirect_to_7001("ASK");
    }
    if (index == 3 && (port == 7000 || refuses)) return protocol_error();
    return RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(options("redis+cluster://127.0.0.1:7000"), node.factory(), clock);
  ReleaseAtEnd release{node};
  in_one_batch(sink, node, {2, 3});
  REQUIRE(settles(clock, [&] {
    const auto s = sink.stats();
    return s.delivered + s.failed == 3 && s.buffered == 0;
  }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(7001), "ASKING") == 2);
  CHECK(counters(sink) == row.counters);
}

TEST_CASE("RedisSink counters: a suspect whose WAIT drew a protocol error counts once",
          "[redis_sink][counters][poison][wait]") {
  // Durable: event 0 makes the server close the connection in its batch, then goes alone; WAIT
  // draws a protocol error, so the event goes alone again, the server closes the connection
  // again and, the next connection answering PING, the event is failed as the suspect.
  ScriptedNode node;
  node.xadd = [](int index, int attempt) -> RedisReply {
    if (index == 0 && attempt != 1) throw streamll::ClosedError("connection closed by the server");
    return RedisReply::make_string("1-0");
  };
  node.wait = [](int number) {
    return number == 0 ? protocol_error() : RedisReply::make_integer(1);
  };
  auto o = options();
  o.min_replicas_ack = 1;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(o, node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().failed == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "PING") == 1);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=1 failed=1 failed_protocol=1 failed_too_large=0 truncated=0 "
        "retried_batches=3 round_trips=2 transport_errors=2 reply_errors=0 reconnects=3 "
        "replica_waits=2 replica_ack_shortfalls=1 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
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
  // A protocol error answering WAIT refuses WAIT, not an event: no event is failed for it.
  const std::string refusal =
      GENERATE(as<std::string>{}, "NOPERM no permissions to run the 'wait' command",
               "ERR Protocol error: invalid multibulk length");
  CAPTURE(refusal);
  ScriptedNode node;
  node.wait = [refusal](int number) {
    return number == 0 ? RedisReply::make_error(refusal) : RedisReply::make_integer(1);
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

namespace {

// Event 0's first XADD is refused with `error`, a state of the server rather than of the
// event: the batch is kept, the connection closed and the batch sent again on a new one.
std::string after_a_server_state_error(const std::string& error) {
  ScriptedNode node;
  node.xadd = [error](int index, int attempt) {
    return index == 0 && attempt == 0 ? RedisReply::make_error(error)
                                      : RedisReply::make_string("1-0");
  };
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XADD") == 3);  // event 0 was written twice
  return counters(sink);
}

}  // namespace

TEST_CASE("RedisSink counters: LOADING keeps the batch and sends it again",
          "[redis_sink][counters]") {
  // Counted as a transport error (not a reply error) and fed to the breaker.
  CHECK(after_a_server_state_error("LOADING Redis is loading the dataset in memory") ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=3 transport_errors=1 reply_errors=0 reconnects=1 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}

TEST_CASE("RedisSink counters: READONLY keeps the batch and sends it again",
          "[redis_sink][counters]") {
  CHECK(after_a_server_state_error("READONLY You can't write against a read only replica.") ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=3 transport_errors=1 reply_errors=0 reconnects=1 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}

TEST_CASE("RedisSink counters: an ASK to a node that cannot be reached",
          "[redis_sink][counters][cluster]") {
  // The batch is kept; the next attempt goes through the main connection, which this fake
  // cluster answers there (it redirects only once).
  TwoNodeCluster cluster("ASK");
  cluster.net.set_down(local(7001), true);
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(options("redis+cluster://127.0.0.1:7000"), cluster.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(cluster.net.count(local(7001), "ASKING") == 0);
  CHECK(cluster.net.count(local(7000), "XADD") == 3);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=1 round_trips=3 transport_errors=1 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=1 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=1");
}

TEST_CASE("RedisSink counters: a refused XGROUP CREATE is reported and events still go",
          "[redis_sink][counters]") {
  ScriptedNode node;
  node.other = [](const Command& c) {
    return c[0] == "XGROUP" ? RedisReply::make_error("NOPERM this user has no permissions")
                            : RedisReply::make_status("OK");
  };
  auto o = options();
  o.consumer_group = "workers";
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(o, node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 1; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XGROUP") == 1);
  CHECK(sink.stats().last_error.find("XGROUP CREATE ml_events workers failed: NOPERM") !=
        std::string::npos);
  CHECK(counters(sink) ==
        "enqueued=2 delivered=2 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=2 transport_errors=0 reply_errors=1 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=0 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

namespace {

// A buffer of 4 with event 0 in flight (its XADD held): of events 1 to 6, three fit beside
// it and three overflow. Returns how many handle() calls threw.
int overflow(streamll::RedisSink& sink, ScriptedNode& node) {
  node.hold();
  sink.handle(token(0));
  REQUIRE(node.xadds_reach(1));
  int thrown = 0;
  for (int i = 1; i <= 6; ++i) {
    try {
      sink.handle(token(i));
    } catch (const streamll::BufferOverflowError&) {
      ++thrown;
    }
  }
  return thrown;
}

streamll::RedisSinkOptions small_buffer(streamll::OverflowStrategy strategy) {
  auto o = options();
  o.buffer_size = 4;
  o.max_batch_size = 4;
  o.buffer_overflow_strategy = strategy;
  return o;
}

}  // namespace

TEST_CASE("RedisSink counters: each overflow strategy counts what does not fit",
          "[redis_sink][counters][overflow]") {
  struct Row {
    const char* name;
    streamll::OverflowStrategy strategy;
    int thrown;
    const char* drops;
    const char* enqueued;
  };
  const Row row = GENERATE(values<Row>({
      // drop_newest refuses events 4 to 6.
      {"drop_newest", streamll::OverflowStrategy::drop_newest, 0,
       "dropped_oldest=0 dropped_newest=3 dropped_raise_error=0 dropped_on_shutdown=0 "
       "dropped_after_fork=0",
       "enqueued=5"},
      // drop_oldest evicts events 1 to 3, which were enqueued: 0, then 4 to 6 are sent.
      {"drop_oldest", streamll::OverflowStrategy::drop_oldest, 0,
       "dropped_oldest=3 dropped_newest=0 dropped_raise_error=0 dropped_on_shutdown=0 "
       "dropped_after_fork=0",
       "enqueued=8"},
      // raise_error throws for events 4 to 6.
      {"raise_error", streamll::OverflowStrategy::raise_error, 3,
       "dropped_oldest=0 dropped_newest=0 dropped_raise_error=3 dropped_on_shutdown=0 "
       "dropped_after_fork=0",
       "enqueued=5"},
  }));
  CAPTURE(row.name);
  ScriptedNode node;
  ManualClock clock;
  streamll::RedisSink sink =
      Injected::redis_sink(small_buffer(row.strategy), node.factory(), clock);
  ReleaseAtEnd release{node};
  CHECK(overflow(sink, node) == row.thrown);
  CHECK(drops(sink) == row.drops);
  node.release();
  REQUIRE(settles(clock, [&] { return sink.stats().delivered == 4; }));
  then_one_good_event(sink, clock);
  CHECK(node.net.count(local(6379), "XADD") == 5);  // 0, then the three kept, then the good one
  CHECK(counters(sink) ==
        std::string(row.enqueued) +
            " delivered=5 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
            "retried_batches=0 round_trips=3 transport_errors=0 reply_errors=0 reconnects=0 "
            "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 "
            "dropped=3 buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: events handed over after shutdown",
          "[redis_sink][counters][shutdown]") {
  ScriptedNode node;
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(options(), node.factory(), clock);
  sink.handle(token(0));
  REQUIRE(sink.shutdown(5s));
  sink.handle(token(1));
  sink.handle(token(2));
  CHECK(node.net.count(local(6379), "XADD") == 1);
  CHECK(drops(sink) ==
        "dropped_oldest=0 dropped_newest=0 dropped_raise_error=0 dropped_on_shutdown=2 "
        "dropped_after_fork=0");
  CHECK(counters(sink) ==
        "enqueued=1 delivered=1 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=1 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=2 "
        "buffered=0 in_flight=0 breaker_failures=0");
}

TEST_CASE("RedisSink counters: events left by a shutdown that gave up",
          "[redis_sink][counters][shutdown]") {
  // The flusher is left blocked in I/O and detached; it holds the node (through the
  // transport factory), so the node outlives it.
  auto node = std::make_shared<ScriptedNode>();
  ManualClock clock;
  streamll::RedisSink sink = Injected::redis_sink(
      options(), streamll::RedisSinkEndpointTransportFactory([node](const RedisEndpoint& e) {
        return node->net.transport(e);
      }),
      clock);
  ReleaseAtEnd release{*node};
  node->hold();
  sink.handle(token(0));
  REQUIRE(node->xadds_reach(1));
  sink.handle(token(1));
  sink.handle(token(2));
  CHECK_FALSE(sink.shutdown(50ms));
  // The two waiting events are dropped; the one on the wire is still in flight: its fate is
  // the detached flusher's to settle, so it is counted in exactly one place at every moment.
  CHECK(drops(sink) ==
        "dropped_oldest=0 dropped_newest=0 dropped_raise_error=0 dropped_on_shutdown=2 "
        "dropped_after_fork=0");
  CHECK(counters(sink) ==
        "enqueued=3 delivered=0 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=0 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=2 "
        "buffered=1 in_flight=1 breaker_failures=0");
  // Answered after all, the batch in flight is counted delivered, and only there.
  node->release();
  REQUIRE(eventually([&] { return sink.stats().delivered == 1; }));
  CHECK(counters(sink) ==
        "enqueued=3 delivered=1 failed=0 failed_protocol=0 failed_too_large=0 truncated=0 "
        "retried_batches=0 round_trips=1 transport_errors=0 reply_errors=0 reconnects=0 "
        "replica_waits=0 replica_ack_shortfalls=0 moved_redirects=0 ask_redirects=0 dropped=2 "
        "buffered=0 in_flight=0 breaker_failures=0");
}
