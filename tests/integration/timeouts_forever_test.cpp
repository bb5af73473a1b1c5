// A sink and a consumer configured with milliseconds::max() for every timeout ("forever")
// against a real redis-server: they connect, write and read. Converted to nanoseconds or added
// to the clock unclamped, such a timeout overflows into the past and every connect or read
// times out at once (longer than a year counts as a year).

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "consumer_test_support.hpp"
#include "eventually.hpp"
#include "redis_server.hpp"

namespace {

using std::chrono::milliseconds;
using streamll::test::RedisServer;
using streamll::testing::eventually;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("A sink and a consumer whose timeouts are milliseconds::max() work",
          "[timeouts][consumer_it]") {
  RedisServer server;
  streamll::RedisSinkOptions sink_options;
  sink_options.connection.url = server.url();
  sink_options.stream_key = "forever";
  sink_options.connection.connect_timeout = milliseconds::max();
  sink_options.connection.socket_timeout = milliseconds::max();
  sink_options.shutdown_timeout = milliseconds::max();
  sink_options.flush_interval = milliseconds::max();
  {
    streamll::RedisSink sink(sink_options);
    for (int i = 0; i < 10; ++i) sink.handle(streamll::consumerit::numbered(i));
    CHECK(sink.flush(milliseconds::max()));
    CHECK(sink.stats().delivered == 10);
    CHECK(sink.shutdown(milliseconds::max()));
  }

  auto consumer_options = streamll::consumerit::group_options(server.url(), "g", "c");
  consumer_options.stream_key = "forever";
  consumer_options.connection.connect_timeout = milliseconds::max();
  consumer_options.connection.socket_timeout = milliseconds::max();
  consumer_options.claim_interval = milliseconds::max();
  consumer_options.reconnect_initial_delay = milliseconds::max();
  consumer_options.reconnect_max_delay = milliseconds::max();
  streamll::GroupConsumer consumer(consumer_options);
  std::atomic<int> seen{0};
  consumer.on_any([&](const streamll::ConsumedEvent&) { ++seen; });
  std::thread runner([&] { consumer.run(); });
  const bool all = eventually([&] { return seen.load() == 10; }, 30s);
  consumer.stop();
  runner.join();
  CHECK(all);
  CHECK(consumer.stats().acked == 10);
}
