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
// An optional fifth argument sets InstrumentorOptions::exit_flush_timeout, in milliseconds.
// usage: lifecycle_probe <url> <return|exit|quick_exit|local> <spans> [exit_flush_ms]

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <streamll/sinks/redis_sink.hpp>
#include <streamll/streamll.hpp>

namespace {

std::unique_ptr<streamll::Instrumentor> late;

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
                 "usage: lifecycle_probe <url> <return|exit|quick_exit|local|late> <spans> [ms]\n");
    return 2;
  }
  streamll::RedisSinkOptions redis;
  redis.connection.url = argv[1];
  redis.stream_key = "ml_events";
  streamll::InstrumentorOptions options;
  options.sinks = {std::make_shared<streamll::RedisSink>(redis)};
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
  streamll::configure(std::move(options));

  for (int i = 0; i < spans; ++i) {
    streamll::Span span("probe");
    span.set("index", i);
  }
  leave(argv[2]);
  return 0;
}
