// RedisSink when the server misbehaves at the transport level: killed mid-stream, frozen
// (SIGSTOP), down while the buffer overflows, down at shutdown. The application must never
// notice beyond the counters, and nothing may be lost that the buffer could hold.

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <thread>

#include <streamll/streamll.hpp>

#include "eventually.hpp"
#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace std::chrono_literals;
using streamll::BreakerState;
using streamll::RedisSink;
using streamll::sinkit::DirectRedis;
using streamll::test::RedisServer;
using streamll::test::RedisServerOptions;
using streamll::testing::eventually;
namespace sinkit = streamll::sinkit;
using SteadyClock = std::chrono::steady_clock;

namespace {

std::chrono::milliseconds elapsed_since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

}  // namespace

TEST_CASE("RedisSink loses nothing when Redis is killed mid-stream and restarted",
          "[redis_sink_it][concurrent]") {
  // The AOF keeps what Redis acknowledged before the kill (it writes the AOF before replying),
  // so every event emitted in the whole test must be there at the end, not just the later ones.
  RedisServerOptions server_options;
  server_options.extra_config = {"appendonly yes", "appendfsync no"};
  RedisServer server(server_options);
  auto options = sinkit::fast_options(server.url());
  options.buffer_size = 100000;
  RedisSink sink(options);

  constexpr int producers = 3;
  sinkit::SteadyProducers traffic(sink, producers, 200us);

  REQUIRE(eventually([&] { return sink.stats().delivered > 100; }, 10s));
  server.kill9();
  const std::vector<int> at_kill = traffic.emitted();
  // The outage lasts this long on purpose: the producers must emit while Redis is down.
  std::this_thread::sleep_for(400ms);
  server.restart();
  const std::vector<int> at_restart = traffic.emitted();
  const auto delivered_at_restart = sink.stats().delivered;
  // Traffic goes on until the sink has delivered to the restarted server.
  REQUIRE(eventually([&] { return sink.stats().delivered > delivered_at_restart + 100; }, 10s));
  traffic.stop();
  const std::vector<int> emitted = traffic.emitted();

  REQUIRE(sink.flush(10s));
  const auto stats = sink.stats();
  CHECK(stats.transport_errors >= 1);
  CHECK(stats.dropped() == 0);
  CHECK(stats.failed == 0);

  DirectRedis redis = DirectRedis::tcp(server.port());
  const auto by_producer = sinkit::indices_by_producer(
      sinkit::dedupe_by_id(sinkit::events_in(redis.xrange("ml_events"))));
  int total = 0;
  for (int p = 0; p < producers; ++p) {
    INFO("producer " << p << ": " << at_kill[p] << " before the kill, " << at_restart[p]
                     << " at restart, " << emitted[p] << " in all");
    CHECK(at_restart[p] > at_kill[p]);  // it really emitted during the outage
    REQUIRE(by_producer.count(p) == 1);
    // All of them, each exactly once, in the producer's order.
    CHECK(by_producer.at(p) == sinkit::iota_vector(0, emitted[p]));
    total += emitted[p];
  }
  CHECK(total < static_cast<int>(options.buffer_size));
  CHECK(stats.delivered >= static_cast<std::uint64_t>(total));
}

TEST_CASE(
    "RedisSink stays fast while Redis hangs and drains after SIGCONT (breaker opened by timeouts)",
    "[redis_sink_it][concurrent]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  options.connection.socket_timeout = 200ms;
  options.connection.connect_timeout = 200ms;
  options.buffer_size = 50000;
  sinkit::CapturedLog log;
  RedisSink sink(options);
  int next = 0;
  for (; next < 100; ++next) sink.handle(sinkit::numbered_event(0, next));
  REQUIRE(sink.flush(5s));

  server.sigstop();
  const auto stopped_at = SteadyClock::now();
  const auto burst_start = SteadyClock::now();
  for (int i = 0; i < 10000; ++i, ++next) sink.handle(sinkit::numbered_event(0, next));
  const auto burst = elapsed_since(burst_start);
  // Not a speed test (benchmarks measure that): a handle() that waited on the stopped server
  // would cost socket_timeout (200 ms) each, so 25 of them would already break this bound,
  // which stays loose for sanitizer builds on a loaded machine.
  CHECK(burst < 5s);

  // A write that gets no answer within socket_timeout, then a connect whose handshake gets none
  // within connect_timeout: failure_threshold (2) timeouts open the breaker.
  REQUIRE(eventually([&] { return sink.circuit_breaker().state == BreakerState::open; }, 5s));
  CHECK(elapsed_since(stopped_at) >= 200ms);
  auto stats = sink.stats();
  CHECK(stats.transport_errors >= 2);
  CHECK(stats.last_error.find("timed out") != std::string::npos);
  CHECK(sink.circuit_breaker().is_open);

  // Still fast with the breaker open.
  const auto open_burst_start = SteadyClock::now();
  for (int i = 0; i < 1000; ++i, ++next) sink.handle(sinkit::numbered_event(0, next));
  CHECK(elapsed_since(open_burst_start) <
        2s);  // loose for sanitizers; blocking would cost 200 ms per event
  CHECK(sink.buffered() >= 10000);
  // Meanwhile the flusher compacts the waiting events (all but its own batches).
  CHECK(eventually([&] {
    const auto s = sink.stats();
    return s.buffered_compacted == s.buffered - s.in_flight;
  }));

  server.sigcont();
  REQUIRE(sink.flush(10s));
  CHECK(sink.circuit_breaker().state == BreakerState::closed);
  stats = sink.stats();
  CHECK(stats.buffered == 0);
  CHECK(stats.dropped() == 0);
  CHECK(stats.failed == 0);

  // The batch that timed out may have reached Redis after SIGCONT as well as on retry:
  // at-least-once, so compare after dedupe.
  DirectRedis redis = DirectRedis::tcp(server.port());
  CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, next));

  // The way there and back is in the log, one line per state change.
  const std::string logged = log.text();
  INFO(logged);
  CHECK(logged.find("circuit breaker for stream 'ml_events': closed -> open") != std::string::npos);
  CHECK(logged.find("-> closed") != std::string::npos);
}

TEST_CASE("RedisSink overflow strategies account for every event while Redis is down",
          "[redis_sink_it]") {
  RedisServer server;
  server.kill9();  // the port stays ours; connections are refused until restart()
  auto options = sinkit::fast_options(server.url());
  options.buffer_size = 100;
  options.max_batch_size = 10;
  constexpr int emitted = 250;

  SECTION("drop_newest keeps the first buffer_size events") {
    options.buffer_overflow_strategy = streamll::OverflowStrategy::drop_newest;
    RedisSink sink(options);
    for (int i = 0; i < emitted; ++i) sink.handle(sinkit::numbered_event(0, i));
    CHECK(sink.stats().dropped_newest == 150);
    CHECK(sink.stats().enqueued == 100);
    server.restart();
    REQUIRE(sink.flush(5s));
    const auto stats = sink.stats();
    CHECK(stats.delivered == 100);
    CHECK(stats.delivered + stats.dropped() == emitted);
    DirectRedis redis = DirectRedis::tcp(server.port());
    CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 100));
  }
  SECTION("drop_oldest keeps the newest, besides the batch already in flight") {
    options.buffer_overflow_strategy = streamll::OverflowStrategy::drop_oldest;
    RedisSink sink(options);
    for (int i = 0; i < emitted; ++i) sink.handle(sinkit::numbered_event(0, i));
    // A push that finds the flusher holding the lock (it retries the connect) may be staged:
    // buffered at once, counted as an eviction when the flusher moves it into the ring.
    const auto at_once = sink.stats();
    CHECK(at_once.buffered + at_once.dropped() == emitted);
    CHECK(eventually([&] { return sink.stats().dropped_oldest == 150; }));
    CHECK(sink.stats().buffered == 100);
    server.restart();
    // False: 150 of the events it waits for were evicted. It still waits for the rest.
    CHECK_FALSE(sink.flush(5s));
    REQUIRE(sink.stats().buffered == 0);
    const auto stats = sink.stats();
    CHECK(stats.delivered == 100);
    CHECK(stats.delivered + stats.dropped() == emitted);

    DirectRedis redis = DirectRedis::tcp(server.port());
    const auto indices = sinkit::delivered_indices(redis);
    REQUIRE(indices.size() == 100);
    // The newest events up to the last one emitted, and possibly before them one run of at
    // most max_batch_size older ones: the batch the flusher was holding when the buffer filled
    // up (in flight, so not evictable).
    CHECK(std::is_sorted(indices.begin(), indices.end()));
    std::size_t runs = 1;
    std::size_t first_run = indices.size();
    for (std::size_t i = 1; i < indices.size(); ++i) {
      if (indices[i] != indices[i - 1] + 1) {
        ++runs;
        if (runs == 2) first_run = i;
      }
    }
    INFO("delivered: " << ::Catch::Detail::stringify(indices));
    CHECK(indices.back() == emitted - 1);
    CHECK(runs <= 2);
    if (runs == 2) CHECK(first_run <= options.max_batch_size);
  }
  SECTION("raise_error throws BufferOverflowError for each event that does not fit") {
    options.buffer_overflow_strategy = streamll::OverflowStrategy::raise_error;
    RedisSink sink(options);
    int thrown = 0;
    for (int i = 0; i < emitted; ++i) {
      try {
        sink.handle(sinkit::numbered_event(0, i));
      } catch (const streamll::BufferOverflowError& e) {
        ++thrown;
        CHECK(std::string(e.what()).find("buffer_size=100") != std::string::npos);
      }
    }
    CHECK(thrown == 150);
    CHECK(sink.stats().dropped_raise_error == 150);
    server.restart();
    REQUIRE(sink.flush(5s));
    const auto stats = sink.stats();
    CHECK(stats.delivered + stats.dropped() == emitted);
    DirectRedis redis = DirectRedis::tcp(server.port());
    CHECK(sinkit::delivered_indices(redis) == sinkit::iota_vector(0, 100));
  }
}

TEST_CASE("RedisSink shutdown is bounded while Redis is down and counts what it left",
          "[redis_sink_it]") {
  RedisServer server;
  auto options = sinkit::fast_options(server.url());
  RedisSink sink(options);
  for (int i = 0; i < 10; ++i) sink.handle(sinkit::numbered_event(0, i));
  REQUIRE(sink.flush(5s));

  constexpr auto timeout = 300ms;
  SECTION("killed") { server.kill9(); }
  SECTION("frozen, with a socket timeout longer than the shutdown timeout") {
    // Shutdown must interrupt the blocked write rather than wait for the socket timeout.
    server.sigstop();
  }
  for (int i = 10; i < 60; ++i) sink.handle(sinkit::numbered_event(0, i));

  const auto started = SteadyClock::now();
  CHECK_FALSE(sink.shutdown(timeout));
  const auto took = elapsed_since(started);
  CHECK(took >= timeout - 50ms);   // it kept trying until the deadline
  CHECK(took <= timeout + 600ms);  // the join grace (200 ms) and a loaded sanitizer run
  CHECK_FALSE(sink.is_running());

  const auto stats = sink.stats();
  CHECK(stats.delivered == 10);
  CHECK(stats.dropped_on_shutdown == 50);
  CHECK(stats.buffered == 0);
  CHECK(stats.enqueued == stats.delivered + stats.dropped());
}
