// fork(): the child's copy of a RedisSink has no flusher and shares the parent's connection.
// It delivers nothing and says so: events handed to it are counted (dropped_after_fork),
// flush() and shutdown() return at once, and the parent's buffer, inherited by the child, is
// delivered once, by the parent. A real fork of this (multi-threaded) test process.

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>

#include <streamll/sinks/sharded_redis_sink.hpp>

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
  if (flushed || shut_down) return 1;  // it must say that it dropped them
  if (took > 100ms) return 2;          // and not wait for a flusher it lacks
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

TEST_CASE("a forked child's ShardedRedisSink shuts down at once and starts no threads",
          "[redis][fork]") {
  // The shards are RedisSinks, each a counted no-op in the child: shutdown() has nothing to
  // wait for there, so it starts no per-shard threads (ThreadSanitizer refuses any thread
  // started in a multi-threaded program's child, and a child may have none to spare).
  streamll::test::RedisServer redis;
  streamll::ShardedRedisSinkOptions options;
  options.sink = fast_options(redis.url());
  options.shard_count = 3;
  streamll::ShardedRedisSink sink(options);
  for (int i = 0; i < 6; ++i) sink.handle(numbered_event(1, i));
  REQUIRE(sink.flush(5s));

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    for (int i = 0; i < 4; ++i) sink.handle(numbered_event(2, i));
    if (sink.is_running()) ::_exit(1);
    const auto start = Clock::now();
    const bool clean = sink.shutdown(2s);
    if (Clock::now() - start > 100ms) ::_exit(2);
    if (clean) ::_exit(3);  // it dropped what it was handed and says so
    if (sink.stats().dropped_after_fork != 4) ::_exit(4);
    ::_exit(0);
  }
  CHECK(streamll::test::wait_process(child) == 0);

  for (int i = 6; i < 9; ++i) sink.handle(numbered_event(1, i));
  CHECK(sink.flush(5s));
  CHECK(sink.stats().delivered == 9);
  CHECK(sink.shutdown(5s));
}
