// With Redis down, replacing the default instrumentor and ending a span opened before the
// replacement each return at once on the application thread: the old RedisSink, whose
// shutdown waits its shutdown_timeout for a Redis that never answers, is shut down on the
// reaper thread. (Before, each took the whole shutdown_timeout.)

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>

#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "redis_server.hpp"
#include "sink_reaper.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

streamll::InstrumentorOptions unreachable_redis(const std::string& url) {
  streamll::RedisSinkOptions redis;
  redis.connection.url = url;
  redis.connection.connect_timeout = 200ms;
  redis.shutdown_timeout = 1000ms;
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::RedisSink>(redis)};
  return options;
}

}  // namespace

TEST_CASE("with Redis down a second configure() and a span ending after it take no time",
          "[lifecycle][redis]") {
  streamll::test::RedisServer redis;
  const std::string url = redis.url();
  redis.kill9();

  streamll::configure(unreachable_redis(url));
  {
    auto open_before = std::make_unique<streamll::Span>("opened before the second configure");
    open_before->emit("work");
    auto start = Clock::now();
    streamll::configure(unreachable_redis(url));
    CHECK(Clock::now() - start < 100ms);
    start = Clock::now();
    open_before->end();
    CHECK(Clock::now() - start < 100ms);
    // The span's destruction drops the last reference to the old instrumentor.
    start = Clock::now();
    open_before.reset();
    CHECK(Clock::now() - start < 100ms);
  }
  // Without open spans, replacing releases the sink in configure() itself.
  const auto start = Clock::now();
  streamll::configure({});
  CHECK(Clock::now() - start < 100ms);
  // The reaper gives each sink its shutdown_timeout (and the interruption grace).
  CHECK(streamll::detail::SinkReaper::instance().wait_idle(5s));
}
