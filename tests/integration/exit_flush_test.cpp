// A program that never calls streamll::shutdown() still delivers what it emitted: the
// default instrumentor's sinks are shut down at exit (return from main, std::exit,
// std::quick_exit) within STREAMLL_EXIT_FLUSH_TIMEOUT_MS; with Redis down, exit stays within
// that bound and the loss is logged with its count. Real child processes, real redis-server.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "redis_server.hpp"
#include "subprocess.hpp"

#ifndef STREAMLL_LIFECYCLE_PROBE_PATH
#error "STREAMLL_LIFECYCLE_PROBE_PATH must name the lifecycle_probe program (tests/CMakeLists.txt)"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using streamll::test::RedisServer;

struct ProbeRun {
  int status = -1;
  std::chrono::milliseconds took{0};
  std::string output;
};

ProbeRun run_probe(const RedisServer& redis, const std::string& url, const std::string& how,
                   int spans, const std::string& exit_timeout_ms = {},
                   const std::string& option_timeout_ms = {}) {
  std::vector<std::string> args{"env"};
  // ThreadSanitizer sleeps a second at exit while another thread lives (the idle reaper):
  // not the exit bound under test.
  const char* tsan = std::getenv("TSAN_OPTIONS");
  args.push_back(std::string("TSAN_OPTIONS=") + (tsan != nullptr ? tsan : "") +
                 ":atexit_sleep_ms=0");
  if (!exit_timeout_ms.empty()) args.push_back("STREAMLL_EXIT_FLUSH_TIMEOUT_MS=" + exit_timeout_ms);
  args.insert(args.end(), {STREAMLL_LIFECYCLE_PROBE_PATH, url, how, std::to_string(spans)});
  if (!option_timeout_ms.empty()) args.push_back(option_timeout_ms);
  const std::string out = redis.dir() + "/probe.out";
  const auto start = Clock::now();
  ProbeRun run;
  run.status = streamll::test::run_bounded(args, 30, out);
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  run.output = streamll::test::read_text_file(out);
  return run;
}

// The probe against a Redis that was killed (nothing listens on its port any more).
ProbeRun run_probe_redis_down(const std::string& how, int spans,
                              const std::string& exit_timeout_ms = {},
                              const std::string& option_timeout_ms = {}) {
  RedisServer redis;
  const std::string url = redis.url();
  redis.kill9();
  return run_probe(redis, url, how, spans, exit_timeout_ms, option_timeout_ms);
}

// A sink replaced just before exit, still being shut down on the reaper thread, stopped by the
// 300 ms exit bound: loss logged, exit bounded, its threads joined (only the idle reaper left).
void check_gave_up_by_exit_bound(const ProbeRun& run) {
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(run.took < std::chrono::milliseconds(1500));
  CHECK(run.output.find("could not be delivered before the process exited (") != std::string::npos);
  CHECK(run.output.find("threads left after the exit flush: 1\n") != std::string::npos);
}

}  // namespace

TEST_CASE("a program returning from main without shutdown() delivers all its events",
          "[lifecycle][exit]") {
  RedisServer redis;
  const ProbeRun run = run_probe(redis, redis.url(), "return", 500);
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(redis.cli({"XLEN", "ml_events"}) == "1000");
}

TEST_CASE("std::exit without shutdown() delivers the events emitted before it",
          "[lifecycle][exit]") {
  RedisServer redis;
  const ProbeRun run = run_probe(redis, redis.url(), "exit", 500);
  INFO(run.output);
  REQUIRE(run.status == 0);
  // 500 spans and the start of the one open around std::exit.
  CHECK(redis.cli({"XLEN", "ml_events"}) == "1001");
}

TEST_CASE("std::quick_exit without shutdown() delivers the events emitted before it",
          "[lifecycle][exit]") {
  RedisServer redis;
  const ProbeRun run = run_probe(redis, redis.url(), "quick_exit", 500);
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(redis.cli({"XLEN", "ml_events"}) == "1000");
}

TEST_CASE("a local instrumentor without configure() delivers its events when main returns",
          "[lifecycle][exit]") {
  // Its sinks reach the reaper as main returns: the exit flush must already be registered
  // then, not later on the reaper thread, or exit races that thread and loses the events.
  RedisServer redis;
  for (int attempt = 0; attempt < 5; ++attempt) {
    redis.cli({"DEL", "ml_events"});
    const ProbeRun run = run_probe(redis, redis.url(), "local", 500);
    INFO(run.output);
    REQUIRE(run.status == 0);
    REQUIRE(redis.cli({"XLEN", "ml_events"}) == "1000");
  }
}

TEST_CASE("with Redis down exit stays within the exit flush bound and logs the loss",
          "[lifecycle][exit]") {
  const ProbeRun run = run_probe_redis_down("return", 500, "300");
  INFO(run.output);
  REQUIRE(run.status == 0);
  // 300 ms, the interruption grace of a sink stuck in I/O (200 ms), and the process's own
  // start and teardown; the default bound (2 s) or the sink's shutdown_timeout (5 s) would
  // not fit.
  CHECK(run.took < std::chrono::milliseconds(1500));
  CHECK(run.output.find("1000 event(s)") != std::string::npos);
  CHECK(run.output.find("at exit: not everything was delivered within 300 ms") !=
        std::string::npos);
}

TEST_CASE("InstrumentorOptions::exit_flush_timeout bounds exit and wins over the variable",
          "[lifecycle][exit]") {
  const ProbeRun run = run_probe_redis_down("return", 50, "5000", "300");
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(run.took < std::chrono::milliseconds(1500));
  CHECK(run.output.find("at exit: not everything was delivered within 300 ms") !=
        std::string::npos);
}

TEST_CASE("a sink released by a static destructor after the exit flush does not wait",
          "[lifecycle][exit]") {
  // Its shutdown_timeout (5 s, Redis down) would hold exit; after the flush it gets none.
  const ProbeRun run = run_probe_redis_down("late", 10, "300");
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(run.took < std::chrono::milliseconds(2000));
}

TEST_CASE("a sink released by a global destructor after spdlog's registry is gone logs safely",
          "[lifecycle][exit]") {
  // Its loss is logged during static destruction; streamll's loggers must outlive the
  // registry (AddressSanitizer reports the registry's freed map otherwise).
  const ProbeRun run = run_probe_redis_down("global", 10, "300");
  INFO(run.output);
  REQUIRE(run.status == 0);
  CHECK(run.took < std::chrono::milliseconds(2000));
  // The global instrumentor's one span: its two events, dropped as it is released.
  CHECK(run.output.find("shutdown: 2 event(s)") != std::string::npos);
}

TEST_CASE("a sink the reaper is still shutting down at exit gives up by the exit bound",
          "[lifecycle][exit]") {
  // The first RedisSink, replaced just before main returns, would wait its shutdown_timeout
  // (5 s, Redis down) on the reaper thread: it must stop by the exit bound and log its loss
  // before the process goes, not be cut off silently or run on into static destruction.
  const ProbeRun run = run_probe_redis_down("replaced", 50, "", "300");
  check_gave_up_by_exit_bound(run);
  INFO(run.output);
  CHECK(run.output.find("shutdown: 100 event(s) for stream 'ml_events' could not be delivered "
                        "before the process exited (") != std::string::npos);
  CHECK(run.output.find("ms of the 5000 ms allowed) and are dropped") != std::string::npos);
  CHECK(run.output.find("at exit: not everything was delivered within 300 ms (1 sink(s)") !=
        std::string::npos);
}

TEST_CASE("a sharded sink the reaper is still shutting down at exit gives up by the exit bound",
          "[lifecycle][exit]") {
  // Each shard shuts down on a thread of its own: those threads honour the bound too.
  check_gave_up_by_exit_bound(run_probe_redis_down("replaced_sharded", 50, "", "300"));
}

TEST_CASE("an exit flush bound of zero delivers nothing and logs the loss", "[lifecycle][exit]") {
  RedisServer redis;
  const ProbeRun run = run_probe(redis, redis.url(), "return", 50, "0");
  INFO(run.output);
  REQUIRE(run.status == 0);
  // What the sink's flusher sent before exit may be there; all 100 cannot be, or the bound
  // was not applied. Exit does not wait the default bound (2 s).
  CHECK(std::stoi(redis.cli({"XLEN", "ml_events"})) < 100);
  CHECK(run.took < std::chrono::milliseconds(1500));
  CHECK(run.output.find("event(s)") != std::string::npos);
}
