// fork(): the child's copy of a RedisSink has no flusher and shares the parent's connection.
// It delivers nothing and says so: events handed to it are counted (dropped_after_fork),
// flush() and shutdown() return at once, and the parent's buffer, inherited by the child, is
// delivered once, by the parent. A real fork of this (multi-threaded) test process.

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>

#include "redis_server.hpp"
#include "redis_sink_test_support.hpp"

using namespace streamll::sinkit;
using Clock = std::chrono::steady_clock;

namespace {

// Runs in the child: only async-signal-safe exits, no Catch2. Returns the exit status.
int child_emits(streamll::RedisSink& sink) {
  for (int i = 0; i < 7; ++i) sink.handle(numbered_event(2, i));
  const auto start = Clock::now();
  const bool flushed = sink.flush(2s);
  const bool shut_down = sink.shutdown(2s);
  const auto took = Clock::now() - start;
  const auto stats = sink.stats();
  if (flushed || shut_down) return 1;              // it must say that it dropped them
  if (took > 100ms) return 2;                      // and not wait for a flusher it lacks
  if (stats.dropped_after_fork != 7 || stats.dropped() != 7) return 3;
  if (sink.is_running()) return 4;
  return 0;
}

}  // namespace

TEST_CASE("a forked child's RedisSink counts its events as dropped and delivers nothing twice",
          "[redis][fork]") {
  streamll::test::RedisServer redis;
  streamll::RedisSink sink(fast_options(redis.url()));
  for (int i = 0; i < 10; ++i) sink.handle(numbered_event(1, i));
  REQUIRE(sink.flush(5s));

  // Five more wait in the parent's buffer (maybe on the wire) while Redis is frozen: the child
  // inherits them and must not send them.
  redis.sigstop();
  for (int i = 10; i < 15; ++i) sink.handle(numbered_event(1, i));

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(child_emits(sink));
  const int status = streamll::test::wait_process(child);
  CHECK(status == 0);

  redis.sigcont();
  for (int i = 15; i < 18; ++i) sink.handle(numbered_event(1, i));
  CHECK(sink.flush(5s));
  CHECK(sink.stats().delivered == 18);
  CHECK(sink.stats().dropped_after_fork == 0);
  CHECK(redis.cli({"XLEN", "ml_events"}) == "18");
}
