// A program that never calls streamll::shutdown(), for the exit-flush tests: it sends
// <spans> spans (two events each) to a RedisSink at <url>, then leaves by <how>:
//   return      returns from main
//   exit        std::exit(0) from inside a function, with a span open around it
//   quick_exit  std::quick_exit(0)
//   local       returns from main with the spans sent through a local Instrumentor, never
//               calling configure(): its sinks are released to the reaper as main returns
//   late        returns from main; an exit handler registered before configure() (so run
//               after the exit flush) releases an instrumentor's RedisSink (default
//               shutdown_timeout of 5 s)
//   global      returns from main; a global object's destructor releases an instrumentor's
//               RedisSink after spdlog's registry is gone (the sink logs its loss then)
//   replaced    configure()s a second time just before returning from main: the reaper
//               thread is still shutting the first RedisSink down (default shutdown_timeout
//               of 5 s) when the process exits. An exit handler that runs after the exit
//               flush prints how many threads streamll left running ("threads left after
//               the exit flush: N"; the idle reaper thread is one).
//   replaced_sharded  the same with a ShardedRedisSink of two shards first
// An optional fifth argument sets InstrumentorOptions::exit_flush_timeout, in milliseconds.
// usage: lifecycle_probe <url> <mode> <spans> [exit_flush_ms]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/sinks/sharded_redis_sink.hpp>
#include <streamll/streamll.hpp>

#include "eventually.hpp"

namespace {

std::unique_ptr<streamll::Instrumentor> late;
// Constant-initialized, so destroyed after every static made while the program ran, spdlog's
// registry among them.
std::unique_ptr<streamll::Instrumentor> global;

std::size_t threads_at_start = 0;

std::size_t count_threads() {
  std::size_t threads = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    (void)entry;
    ++threads;
  }
  return threads;
}

void report_threads_left() {
  // A thread that was just joined may linger in /proc for a moment after its join returned.
  std::size_t left = 0;
  streamll::testing::eventually(
      [&] {
        left = count_threads() - threads_at_start;
        return left <= 1;
      },
      std::chrono::seconds(1));
  std::fprintf(stderr, "threads left after the exit flush: %zu\n", left);
}

void leave(const std::string& how) {
  if (how == "exit") {
    streamll::Span last("exiting");  // never ends: exit does not unwind
    std::exit(0);
  }
  if (how == "quick_exit") std::quick_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr,
                 "usage: lifecycle_probe <url> "
                 "<return|exit|quick_exit|local|late|global|replaced|replaced_sharded> "
                 "<spans> [ms]\n");
    return 2;
  }
  // ThreadSanitizer starts a thread of its own with the first thread created: make it now.
  std::thread([] {}).join();
  threads_at_start = count_threads();
  // Registered before anything of streamll's, so that it runs after the exit flush.
  const std::string mode = argv[2];
  const bool replaced = mode == "replaced" || mode == "replaced_sharded";
  if (replaced) std::atexit(report_threads_left);
  streamll::RedisSinkOptions redis;
  redis.connection.url = argv[1];
  redis.stream_key = "ml_events";
  streamll::InstrumentorOptions options;
  if (mode == "replaced_sharded") {
    streamll::ShardedRedisSinkOptions sharded;
    sharded.sink = redis;
    sharded.shard_urls = {redis.connection.url, redis.connection.url};
    options.sinks = {std::make_shared<streamll::ShardedRedisSink>(sharded)};
  } else {
    options.sinks = {std::make_shared<streamll::RedisSink>(redis)};
  }
  const std::weak_ptr<streamll::Sink> first_sink = options.sinks.front();
  if (argc == 5) options.exit_flush_timeout = std::chrono::milliseconds(std::atoi(argv[4]));
  const int spans = std::atoi(argv[3]);
  if (std::string(argv[2]) == "local") {
    streamll::Instrumentor local(std::move(options));
    for (int i = 0; i < spans; ++i) {
      streamll::Span span(local, "probe");
      span.set("index", i);
    }
    return 0;
  }
  if (std::string(argv[2]) == "late") {
    streamll::InstrumentorOptions own;
    own.sinks = {std::make_shared<streamll::RedisSink>(redis)};
    late = std::make_unique<streamll::Instrumentor>(std::move(own));
    { streamll::Span span(*late, "late"); }
    // Made first, so that the logging registry outlives the handler below.
    (void)spdlog::default_logger_raw();
    std::atexit([] { late.reset(); });
  }
  if (std::string(argv[2]) == "global") {
    streamll::InstrumentorOptions own;
    own.sinks = {std::make_shared<streamll::RedisSink>(redis)};
    global = std::make_unique<streamll::Instrumentor>(std::move(own));
    { streamll::Span span(*global, "global"); }
  }
  streamll::configure(std::move(options));

  for (int i = 0; i < spans; ++i) {
    streamll::Span span("probe");
    span.set("index", i);
  }
  if (replaced) {
    streamll::InstrumentorOptions next;
    next.sinks = {std::make_shared<streamll::RedisSink>(redis)};
    if (argc == 5) next.exit_flush_timeout = std::chrono::milliseconds(std::atoi(argv[4]));
    streamll::configure(std::move(next));
    // Expired as soon as its destructor starts: the reaper thread holds it in its shutdown.
    streamll::testing::eventually([&] { return first_sink.expired(); }, std::chrono::seconds(2));
  }
  leave(argv[2]);
  return 0;
}
